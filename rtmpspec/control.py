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

from .registry import register_schema

# RTMP 5.4 / 6.2 message type ids of the control layer
SET_CHUNK_SIZE = 1
ABORT = 2
ACKNOWLEDGEMENT = 3
USER_CONTROL = 4
WINDOW_ACK_SIZE = 5
SET_PEER_BANDWIDTH = 6

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
    SET_CHUNK_SIZE: SetChunkSize,
    ABORT: Abort,
    ACKNOWLEDGEMENT: Acknowledgement,
    USER_CONTROL: UserControlMessage,
    WINDOW_ACK_SIZE: WindowAcknowledgementSize,
    SET_PEER_BANDWIDTH: SetPeerBandwidth,
}

CONTROL_SECTIONS = {
    SET_CHUNK_SIZE: "RTMP 5.4.1",
    ABORT: "RTMP 5.4.2",
    ACKNOWLEDGEMENT: "RTMP 5.4.3",
    USER_CONTROL: "RTMP 7.1.7",
    WINDOW_ACK_SIZE: "RTMP 5.4.4",
    SET_PEER_BANDWIDTH: "RTMP 5.4.5",
}

CONTROL_LENGTHS = {  # exact payload lengths; user control varies by event
    SET_CHUNK_SIZE: 4,
    ABORT: 4,
    ACKNOWLEDGEMENT: 4,
    WINDOW_ACK_SIZE: 4,
    SET_PEER_BANDWIDTH: 5,
}

# compiled parsers for the fixed-size ones are used on every message; tests prove equivalence
_SET_CHUNK_SIZE_C = SetChunkSize.compile()


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


def build_user_control(event_type: int | str, **data) -> bytes:
    return UserControlMessage.build({"eventType": event_type, "eventData": data})


register_schema("control.set_chunk_size", SetChunkSize, "RTMP 5.4.1")
register_schema("control.abort", Abort, "RTMP 5.4.2")
register_schema("control.acknowledgement", Acknowledgement, "RTMP 5.4.3")
register_schema("control.window_ack_size", WindowAcknowledgementSize, "RTMP 5.4.4")
register_schema("control.set_peer_bandwidth", SetPeerBandwidth, "RTMP 5.4.5")
register_schema("control.user_control", UserControlMessage, "RTMP 7.1.7")
