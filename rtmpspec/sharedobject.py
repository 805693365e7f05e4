"""RTMP 1.0 7.1.3: shared object messages (type 19, AMF0; type 16, AMF3: a format selector byte 0 first, errata 7.2).

A message names one shared object (name, current version, flags) and carries any number of events, each an event
type, a data length and data. The event data of Request Change and Change is a name-value pair (a UTF-8 name, then
one AMF value); Success, Clear, Remove and Request Remove carry a name; Send Message carries AMF values (method name
and arguments); Use, Release and Use Success carry nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from construct import (
    Bytes,
    GreedyBytes,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int32ub,
    PascalString,
    Prefixed,
    Struct,
)

from .errors import DecodeError
from .registry import register_schema

SECTION = "RTMP 1.0 7.1.3"


class EventType(IntEnum):  # RTMP 1.0 7.1.3 table
    Use = 1
    Release = 2
    RequestChange = 3
    Change = 4
    Success = 5
    SendMessage = 6
    Status = 7
    Clear = 8
    Remove = 9
    RequestRemove = 10
    UseSuccess = 11


SharedObjectEvent = Struct("eventType" / Int8ub, "eventData" / Prefixed(Int32ub, GreedyBytes))
SharedObjectMessage = Struct(
    "sharedObjectName" / PascalString(Int16ub, "utf8"),
    "currentVersion" / Int32ub,
    "flags" / Bytes(8),  # byte 0: 1 = persistent (FMS practice); the rest reserved
    "events" / GreedyRange(SharedObjectEvent),
)
NameValue = Struct("name" / PascalString(Int16ub, "utf8"), "value" / GreedyBytes)  # value: one AMF value
Name = PascalString(Int16ub, "utf8")

register_schema("sharedobject.message", SharedObjectMessage, SECTION)


@dataclass(frozen=True)
class SharedObject:
    name: str
    version: int
    flags: bytes
    events: tuple[tuple[int, bytes], ...]

    @property
    def persistent(self) -> bool:
        return bool(self.flags[:1] and self.flags[0] & 1)


def parse(payload: bytes, *, amf3: bool = False) -> SharedObject:
    """A type 19 payload (``amf3``: a type 16 payload, format selector 0 first)."""
    data = bytes(payload)
    if amf3:
        if not data or data[0] != 0:
            raise DecodeError(f"format selector {data[:1].hex() or '(none)'} is not 0", offset=0,
                              field="formatSelector", section="RTMP errata 7.2")
        data = data[1:]
    try:
        c = SharedObjectMessage.parse(data)
    except Exception as exc:
        raise DecodeError(f"shared object message does not decode: {exc}", section=SECTION) from exc
    consumed = len(SharedObjectMessage.build(c))
    if consumed != len(data):
        raise DecodeError(f"{len(data) - consumed} bytes after the last shared object event", offset=consumed,
                          section=SECTION)
    return SharedObject(c.sharedObjectName, c.currentVersion, bytes(c.flags),
                        tuple((e.eventType, bytes(e.eventData)) for e in c.events))


def build(name: str, events: list[tuple[int, bytes]], *, version: int = 0, flags: bytes = bytes(8),
          amf3: bool = False) -> bytes:
    body = SharedObjectMessage.build({"sharedObjectName": name, "currentVersion": version, "flags": flags,
                                      "events": [{"eventType": int(t), "eventData": d} for t, d in events]})
    return (bytes(1) + body) if amf3 else body
