"""RTMP 1.0 sections 5.4 (protocol control messages, types 1, 2, 3, 5, 6) and 6.2 / 7.1.7 (user control
messages, type 4).

Protocol control messages travel on chunk stream 2, message stream 0 (RTMP 5.4).
"""

from __future__ import annotations

from construct import (
    BitsInteger,
    BitStruct,
    Enum,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Int32ub,
    Struct,
    Switch,
    this,
)

from .errors import ProtocolError
from .message_format import MessageType
from .registry import register_schema

T = MessageType
# the message type ids of the control layer (RTMP 5.4, 6.2), by their names in the one table
SET_CHUNK_SIZE, ABORT, ACKNOWLEDGEMENT, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = (
    T.SET_CHUNK_SIZE, T.ABORT, T.ACKNOWLEDGEMENT, T.USER_CONTROL, T.WINDOW_ACK_SIZE, T.SET_PEER_BANDWIDTH)

# RTMP 5.4.1 Set Chunk Size: bit 0 (the most significant) MUST be zero; 31-bit chunk size
SetChunkSize = BitStruct(
    "reserved" / BitsInteger(1),
    "chunkSize" / BitsInteger(31),
)

# RTMP 5.4.2 Abort Message
Abort = Struct("chunkStreamID" / Int32ub)

# RTMP 5.4.3 Acknowledgement
Acknowledgement = Struct("sequenceNumber" / Int32ub)

# RTMP 5.4.4 Window Acknowledgement Size
WindowAcknowledgementSize = Struct("acknowledgementWindowSize" / Int32ub)

# RTMP 5.4.5 Set Peer Bandwidth
LimitType = Enum(Int8ub, Hard=0, Soft=1, Dynamic=2)
SetPeerBandwidth = Struct(
    "acknowledgementWindowSize" / Int32ub,
    "limitType" / LimitType,
)

# RTMP 7.1.7 User Control Message Events (type 4): Event Type (16 bits) + Event Data
STREAM_BEGIN = 0
STREAM_EOF = 1
STREAM_DRY = 2
SET_BUFFER_LENGTH = 3
STREAM_IS_RECORDED = 4
PING_REQUEST = 6
PING_RESPONSE = 7
# Not in RTMP 1.0 but sent by real servers (FMS/Wowza/nginx-rtmp SWF verification): tolerated.
SWF_VERIFY_REQUEST = 26
SWF_VERIFY_RESPONSE = 27
BUFFER_EMPTY = 31
BUFFER_READY = 32

UserControlEventType = Enum(
    Int16ub,
    StreamBegin=STREAM_BEGIN,
    StreamEOF=STREAM_EOF,
    StreamDry=STREAM_DRY,
    SetBufferLength=SET_BUFFER_LENGTH,
    StreamIsRecorded=STREAM_IS_RECORDED,
    PingRequest=PING_REQUEST,
    PingResponse=PING_RESPONSE,
    SWFVerifyRequest=SWF_VERIFY_REQUEST,
    SWFVerifyResponse=SWF_VERIFY_RESPONSE,
    BufferEmpty=BUFFER_EMPTY,
    BufferReady=BUFFER_READY,
)

_StreamIdEvent = Struct("streamID" / Int32ub)

UserControlMessage = Struct(
    "eventType" / UserControlEventType,  # RTMP 7.1.7
    "eventData" / Switch(this.eventType, {
        "StreamBegin": _StreamIdEvent,
        "StreamEOF": _StreamIdEvent,
        "StreamDry": _StreamIdEvent,
        "SetBufferLength": Struct("streamID" / Int32ub, "bufferLength" / Int32ub),
        "StreamIsRecorded": _StreamIdEvent,
        "PingRequest": Struct("timestamp" / Int32ub),
        "PingResponse": Struct("timestamp" / Int32ub),
        "BufferEmpty": _StreamIdEvent,
        "BufferReady": _StreamIdEvent,
        "SWFVerifyRequest": Struct(),
        "SWFVerifyResponse": Struct("data" / GreedyBytes),
    }, default=Struct("data" / GreedyBytes)),
)

CONTROL_SCHEMAS = {
    T.SET_CHUNK_SIZE: SetChunkSize,
    T.ABORT: Abort,
    T.ACKNOWLEDGEMENT: Acknowledgement,
    T.USER_CONTROL: UserControlMessage,
    T.WINDOW_ACK_SIZE: WindowAcknowledgementSize,
    T.SET_PEER_BANDWIDTH: SetPeerBandwidth,
}

# The same schemas compiled by construct (Python source generated from them) for the receive path, about 4x faster:
# parse_control / parse_user_control hand them only payloads already framed to the length the type needs.
# tests/test_control_compiled.py proves them equal to the interpreted schemas on every such payload.
CONTROL_COMPILED = {t: schema.compile() for t, schema in CONTROL_SCHEMAS.items()}
UserControlMessageCompiled = CONTROL_COMPILED[T.USER_CONTROL]

CONTROL_SECTIONS = {
    T.SET_CHUNK_SIZE: "RTMP 5.4.1",
    T.ABORT: "RTMP 5.4.2",
    T.ACKNOWLEDGEMENT: "RTMP 5.4.3",
    T.USER_CONTROL: "RTMP 7.1.7",
    T.WINDOW_ACK_SIZE: "RTMP 5.4.4",
    T.SET_PEER_BANDWIDTH: "RTMP 5.4.5",
}

CONTROL_LENGTHS = {  # exact payload lengths; user control varies by event (USER_CONTROL_DATA)
    T.SET_CHUNK_SIZE: 4,
    T.ABORT: 4,
    T.ACKNOWLEDGEMENT: 4,
    T.WINDOW_ACK_SIZE: 4,
    T.SET_PEER_BANDWIDTH: 5,
}

# RTMP 7.1.7: the event data each event type needs (framing before parsing): bytes and the first field
USER_CONTROL_DATA = {
    STREAM_BEGIN: (4, "streamID"),
    STREAM_EOF: (4, "streamID"),
    STREAM_DRY: (4, "streamID"),
    STREAM_IS_RECORDED: (4, "streamID"),
    BUFFER_EMPTY: (4, "streamID"),
    BUFFER_READY: (4, "streamID"),
    SET_BUFFER_LENGTH: (8, "bufferLength"),
    PING_REQUEST: (4, "timestamp"),
    PING_RESPONSE: (4, "timestamp"),
}
del T


def parse_control(type_id: int, payload: bytes, *, offset: int | None = None):
    """A protocol control message's fields (RTMP 5.4) by its schema, after its length was checked against
    :data:`CONTROL_LENGTHS`; ProtocolError (field messageLength) when the length is wrong."""
    want = CONTROL_LENGTHS.get(type_id)
    if want is not None and len(payload) != want:
        raise ProtocolError(f"control message type {type_id} has {len(payload)} payload bytes, expected {want}",
                            offset=offset, field="messageLength", section=CONTROL_SECTIONS[type_id])
    return CONTROL_COMPILED[type_id].parse(payload)


def parse_user_control(payload: bytes, *, offset: int | None = None):
    """A user control message (RTMP 7.1.7): ``(event type, event data fields)`` by the schema, after the event
    data's length was checked (:data:`USER_CONTROL_DATA`; longer data is allowed, as deployed peers send it)."""
    if len(payload) < 2:
        raise ProtocolError("user control message shorter than its 2-byte event type", offset=offset,
                            field="eventType", section="RTMP 7.1.7")
    etype = (payload[0] << 8) | payload[1]
    need = USER_CONTROL_DATA.get(etype)
    if need is not None and len(payload) - 2 < need[0]:
        raise ProtocolError(f"user control event data is {len(payload) - 2} bytes, needs {need[0]}",
                            offset=offset, field=need[1], section="RTMP 7.1.7")
    if need is not None:
        payload = payload[:2 + need[0]]  # the schema's fields; what follows is kept by the caller as raw data
    return etype, UserControlMessageCompiled.parse(payload).eventData


def build_set_chunk_size(size: int) -> bytes:
    return SetChunkSize.build({"reserved": 0, "chunkSize": size})


def build_abort(csid: int) -> bytes:
    return Abort.build({"chunkStreamID": csid})


def build_ack(sequence: int) -> bytes:
    return Acknowledgement.build({"sequenceNumber": sequence & 0xFFFFFFFF})


def build_window_ack_size(size: int) -> bytes:
    return WindowAcknowledgementSize.build({"acknowledgementWindowSize": size})


def build_set_peer_bandwidth(size: int, limit_type: int | str) -> bytes:
    return SetPeerBandwidth.build({"acknowledgementWindowSize": size, "limitType": limit_type})


def build_user_control(event_type: int | str, *, data: bytes | None = None, **fields) -> bytes:
    """A user control message (RTMP 7.1.7) from its event data fields (``streamID``, ``bufferLength``,
    ``timestamp``); ``data``: raw event data after the schema-built event type (echoed or deliberately odd)."""
    if data is not None:
        return UserControlEventType.build(event_type) + data
    if isinstance(event_type, int):  # the Switch on the event data is keyed by the event type's name
        event_type = UserControlEventType.decmapping.get(event_type, event_type)
    return UserControlMessage.build({"eventType": event_type, "eventData": fields})


register_schema("control.set_chunk_size", SetChunkSize, "RTMP 5.4.1")
register_schema("control.abort", Abort, "RTMP 5.4.2")
register_schema("control.acknowledgement", Acknowledgement, "RTMP 5.4.3")
register_schema("control.window_ack_size", WindowAcknowledgementSize, "RTMP 5.4.4")
register_schema("control.set_peer_bandwidth", SetPeerBandwidth, "RTMP 5.4.5")
register_schema("control.user_control", UserControlMessage, "RTMP 7.1.7")
