"""RTMP 1.0 sections 6 and 7: message types and typed views of commands and data messages.

Message payloads of types 15/17/18/20 are sequences of AMF values (errata 7.2: types 15 and 17 start with a
format selector byte 0, then AMF0 values where 0x11 switches one value to AMF3). The typed views here are plain
frozen dataclasses with ``to_message`` / ``from_message``; the bytes always come from the AMF schemas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from construct import Bytes, GreedyRange, Int8ub, Int24ub, Int32ub, Struct, this

from . import amf0
from .amf0_values import AVMPlus
from .amf3_values import AMF3Array, AMF3Object
from .errors import DecodeError
from .events import Event
from .message_format import (  # noqa: F401  (the one table, importable here too)
    COMMAND_TYPES,
    CSID_AUDIO,
    CSID_COMMAND,
    CSID_CONTROL,
    CSID_DATA,
    CSID_VIDEO,
    DATA_TYPES,
    Message,
    MessageType,
)
from .registry import Codec, register, register_schema

# RTMP 7.1.6 Aggregate message: a sequence of sub-messages, each an FLV-like tag with a back pointer
AggregateSubMessage = Struct(
    "messageType" / Int8ub,
    "payloadLength" / Int24ub,
    "timestamp" / Int24ub,
    "timestampExtended" / Int8ub,  # upper 8 bits of the 32-bit timestamp
    "streamID" / Int24ub,
    "payload" / Bytes(this.payloadLength),
    "backPointer" / Int32ub,  # size of this sub-message, header included (11 + payloadLength)
)
AggregateMessage = GreedyRange(AggregateSubMessage)


def decode_values(type_id: int, payload: bytes) -> list:
    """The AMF values of a command or data message (types 15, 17, 18, 20)."""
    data = payload
    if type_id in (MessageType.COMMAND_AMF3, MessageType.DATA_AMF3):
        if not payload:
            raise DecodeError("empty AMF3-format message: no format selector", offset=0,
                              field="formatSelector", section="RTMP errata 7.2")
        if payload[0] != 0:
            raise DecodeError(f"format selector {payload[0]} is not 0", offset=0, field="formatSelector",
                              section="RTMP errata 7.2")
        data = payload[1:]
        values = amf0.decode_all(data)
        return values
    return amf0.decode_all(data)


def encode_values(type_id: int, values: list) -> bytes:
    body = amf0.encode_all(values)
    if type_id in (MessageType.COMMAND_AMF3, MessageType.DATA_AMF3):
        return b"\x00" + body
    return body


@dataclass(frozen=True)
class Command(Event):
    """A command message (RTMP 7.1.1, 7.2): name, transaction id, command object, further arguments."""

    name: str
    transaction_id: float = 0.0
    command_object: Any = None
    args: tuple = ()
    msid: int = 0
    timestamp: int = 0
    amf3: bool = False

    def values(self) -> list:
        return [self.name, float(self.transaction_id), self.command_object, *self.args]

    def to_message(self, csid: int = CSID_COMMAND) -> Message:
        t = MessageType.COMMAND_AMF3 if self.amf3 else MessageType.COMMAND_AMF0
        return Message(int(t), encode_values(t, self.values()), self.timestamp, self.msid, csid)

    @classmethod
    def from_message(cls, msg: Message) -> Command:
        values = decode_values(msg.type_id, msg.payload)
        if values and isinstance(values[0], AVMPlus):  # errata 7.2: any value may be AMF3 behind 0x11
            values[0] = plain(values[0])
        if not values or not isinstance(values[0], str):
            raise DecodeError("command message does not start with a command name string", offset=0,
                              field="commandName", section="RTMP 7.1.1")
        tid = plain(values[1]) if len(values) > 1 else None
        if len(values) > 1 and not isinstance(tid, (int, float)):
            raise DecodeError(f"transaction id of {values[0]!r} is not a number", field="transactionID",
                              section="RTMP 7.1.1")
        return cls(values[0], float(tid) if tid is not None else 0.0,
                   values[2] if len(values) > 2 else None, tuple(values[3:]), msg.msid, msg.timestamp,
                   msg.type_id == MessageType.COMMAND_AMF3)

    @property
    def status(self) -> dict | None:
        """The info object of an onStatus / _result / _error (first object argument)."""
        for v in self.args:
            if isinstance(v, dict):
                return v
        return self.command_object if isinstance(self.command_object, dict) else None

    @property
    def code(self) -> str | None:
        s = self.status
        return s.get("code") if s else None


def plain(value: Any) -> Any:
    """An AMF3 value behind an avmplus marker (errata 7.2) as the plain str/dict/list it stands for, so AMF0 and
    AMF3 commands and data messages read alike."""
    if isinstance(value, AVMPlus):
        value = value.value
    if isinstance(value, AMF3Object):
        return {**value.sealed, **(value.dynamic or {})}
    if isinstance(value, AMF3Array):  # decoded only when it has an associative part
        return dict(value.assoc) if value.assoc else list(value.dense)
    if isinstance(value, str):
        return str(value)
    return value


@dataclass(frozen=True)
class DataMessage(Event):
    """A data message (RTMP 7.1.2): e.g. ``@setDataFrame onMetaData {...}`` or ``onMetaData {...}``."""

    values: tuple = ()
    msid: int = 0
    timestamp: int = 0
    amf3: bool = False

    @property
    def name(self) -> str | None:
        return self.values[0] if self.values and isinstance(self.values[0], str) else None

    @property
    def metadata(self) -> dict | None:
        """The onMetaData object whether or not it came wrapped in @setDataFrame (nginx-rtmp PR 755)."""
        vals = [plain(v) for v in self.values]
        if vals and vals[0] == "@setDataFrame":
            vals = vals[1:]
        if len(vals) >= 2 and vals[0] == "onMetaData" and isinstance(vals[1], dict):
            return vals[1]
        return None

    def to_message(self, csid: int = CSID_DATA) -> Message:
        t = MessageType.DATA_AMF3 if self.amf3 else MessageType.DATA_AMF0
        return Message(int(t), encode_values(t, list(self.values)), self.timestamp, self.msid, csid)

    @classmethod
    def from_message(cls, msg: Message) -> DataMessage:
        return cls(tuple(decode_values(msg.type_id, msg.payload)), msg.msid, msg.timestamp,
                   msg.type_id == MessageType.DATA_AMF3)


# -- command builders (RTMP 7.2) --------------------------------------------------------------------------

def connect(app: str, tc_url: str, *, transaction_id: float = 1, flash_ver: str = "FMLE/3.0 (compatible; rtmpspec)",
            object_encoding: float | None = 0, extra: dict | None = None, args: tuple = ()) -> Command:
    obj = {"app": app, "type": "nonprivate", "flashVer": flash_ver, "tcUrl": tc_url}
    if object_encoding is not None:
        obj["objectEncoding"] = float(object_encoding)
    if extra:
        obj.update(extra)
    return Command("connect", transaction_id, obj, args)


def result(transaction_id: float, properties: Any = None, information: Any = None, *, msid: int = 0,
           name: str = "_result", amf3: bool = False) -> Command:
    return Command(name, transaction_id, properties, (information,) if information is not None else (), msid,
                   amf3=amf3)


def error(transaction_id: float, code: str, description: str = "", *, msid: int = 0, level: str = "error",
          amf3: bool = False) -> Command:
    """``_error`` (RTMP 7.2.1.1): a null command object, then the information object (level, code, description);
    ``amf3``: in a type 17 message, as the answer to an AMF3 command."""
    return Command("_error", transaction_id, None, ({"level": level, "code": code, "description": description},),
                   msid, amf3=amf3)


def on_status(code: str, description: str = "", *, level: str = "status", msid: int = 1,
              details: str | None = None, extra: dict | None = None) -> Command:
    info = {"level": level, "code": code, "description": description}
    if details is not None:
        info["details"] = details
    if extra:
        info.update(extra)
    return Command("onStatus", 0, None, (info,), msid)


def create_stream(transaction_id: float) -> Command:
    return Command("createStream", transaction_id, None)


def delete_stream(stream_id: int, transaction_id: float = 0) -> Command:
    return Command("deleteStream", transaction_id, None, (float(stream_id),))  # errata 8.3: on msid 0


def close_stream(msid: int) -> Command:
    return Command("closeStream", 0, None, (), msid)


def publish(name: str, kind: str = "live", *, msid: int = 1, transaction_id: float = 0) -> Command:
    return Command("publish", transaction_id, None, (name, kind), msid)


def play(name: str, start: float = -2, duration: float = -1, reset: bool | None = None, *, msid: int = 1,
         transaction_id: float = 0) -> Command:
    args: tuple = (name, float(start), float(duration))
    if reset is not None:
        args += (reset,)
    return Command("play", transaction_id, None, args, msid)


def play2(parameters: dict, *, msid: int = 1) -> Command:
    return Command("play2", 0, None, (parameters,), msid)


def seek(ms: float, *, msid: int = 1) -> Command:
    return Command("seek", 0, None, (float(ms),), msid)


def pause(flag: bool, ms: float, *, msid: int = 1) -> Command:
    return Command("pause", 0, None, (flag, float(ms)), msid)


def receive_audio(flag: bool, *, msid: int = 1) -> Command:
    return Command("receiveAudio", 0, None, (flag,), msid)


def receive_video(flag: bool, *, msid: int = 1) -> Command:
    return Command("receiveVideo", 0, None, (flag,), msid)


def call(name: str, transaction_id: float, command_object: Any = None, *args: Any) -> Command:
    """A remote procedure call (RTMP 7.2.1.2; errata 8.2: the name is the procedure's, not "call")."""
    return Command(name, transaction_id, command_object, args)


def close() -> Command:
    return Command("close", 0, None)


# what real encoders send (ffmpeg, OBS): not in RTMP 1.0, de-facto standard
def release_stream(name: str, transaction_id: float) -> Command:
    return Command("releaseStream", transaction_id, None, (name,))


def fc_publish(name: str, transaction_id: float) -> Command:
    return Command("FCPublish", transaction_id, None, (name,))


def fc_unpublish(name: str, transaction_id: float) -> Command:
    return Command("FCUnpublish", transaction_id, None, (name,))


def get_stream_length(name: str, transaction_id: float, msid: int = 0) -> Command:
    return Command("getStreamLength", transaction_id, None, (name,), msid)


def set_data_frame(metadata: dict, *, msid: int = 1, wrapped: bool = True) -> DataMessage:
    vals = ("@setDataFrame", "onMetaData", metadata) if wrapped else ("onMetaData", metadata)
    return DataMessage(vals, msid)


# -- aggregate (RTMP 7.1.6) -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubMessage:
    type_id: int
    timestamp: int
    stream_id: int
    payload: bytes = field(repr=False)


def split_aggregate(msg: Message) -> list[Message]:
    """Split an aggregate message into its sub-messages. Timestamps are rebased so that the first sub-message
    has the aggregate's timestamp (RTMP 7.1.6); the message stream id is the aggregate's."""
    try:
        subs = AggregateMessage.parse(msg.payload)
    except Exception as exc:
        raise DecodeError(f"aggregate message does not parse: {exc}", section="RTMP 7.1.6") from exc
    consumed = sum(11 + s.payloadLength + 4 for s in subs)
    if consumed != len(msg.payload):
        raise DecodeError(f"aggregate message has {len(msg.payload) - consumed} trailing bytes",
                          offset=consumed, section="RTMP 7.1.6")
    out = []
    base = None
    for s in subs:
        ts = (s.timestampExtended << 24) | s.timestamp
        if s.backPointer != 11 + s.payloadLength:
            raise DecodeError(f"aggregate back pointer {s.backPointer} != {11 + s.payloadLength}",
                              field="backPointer", section="RTMP 7.1.6")
        if base is None:
            base = ts
        out.append(Message(s.messageType, s.payload, (msg.timestamp + ts - base) & 0xFFFFFFFF, msg.msid, msg.csid))
    return out


def build_aggregate(subs: list[SubMessage]) -> bytes:
    return AggregateMessage.build([
        {"messageType": s.type_id, "payloadLength": len(s.payload), "timestamp": s.timestamp & 0xFFFFFF,
         "timestampExtended": (s.timestamp >> 24) & 0xFF, "streamID": s.stream_id, "payload": s.payload,
         "backPointer": 11 + len(s.payload)} for s in subs])


register_schema("messages.aggregate", AggregateMessage, "RTMP 7.1.6")


def _parse_command(data: bytes):
    return amf0.decode_all(data)


register(Codec("messages.command_amf0", _parse_command, amf0.encode_all, "RTMP 7.1.1"))
