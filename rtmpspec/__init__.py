"""rtmpspec: declarative schemas for every RTMP wire format and sans-I/O codecs over them (no sockets, no clocks).

The session layer, h11 style::

    from rtmpspec import NEED_DATA, Connection, Role, events

    conn = Connection(Role.SERVER, now=now)
    conn.receive_data(data, now)
    while (ev := conn.next_event()) is not NEED_DATA:
        if isinstance(ev, events.Video): ...

The names below are the public API; the schemas live in one module per spec chapter (:mod:`rtmpspec.handshake`,
:mod:`rtmpspec.chunkheader`, :mod:`rtmpspec.control`, :mod:`rtmpspec.amf0`, :mod:`rtmpspec.amf3`,
:mod:`rtmpspec.messages`, :mod:`rtmpspec.media`, :mod:`rtmpspec.flv`), deliberately odd bytes come from
:mod:`rtmpspec.craft`.
"""

from __future__ import annotations

from . import events
from ._state import Role, State
from .chunkreader import ChunkInfo, ChunkReader
from .chunkwriter import ChunkWriter, SharedOutput, chunk_message
from .connection import AckWindow, Connection, control_message
from .errors import DecodeError, LimitExceeded, LocalProtocolError, ProtocolError, RTMPError
from .events import (
    Abort,
    Acknowledgement,
    Aggregate,
    Audio,
    ConnectionClosed,
    Event,
    HandshakeDone,
    MessageEvent,
    OtherMessage,
    SetChunkSize,
    SetPeerBandwidth,
    Timeout,
    UserControl,
    Video,
    WindowAckSize,
)
from .flv import FLVReader, FLVWriter
from .message_format import Message, MessageType
from .messages import Command, DataMessage
from .sentinels import END, NEED_DATA, PAUSED, NeedData

__all__ = [
    # session layer
    "Connection", "Role", "State", "AckWindow", "control_message", "NEED_DATA", "NeedData", "PAUSED", "END",
    # events
    "events", "Event", "MessageEvent", "HandshakeDone", "SetChunkSize", "Abort", "Acknowledgement", "WindowAckSize",
    "SetPeerBandwidth", "UserControl", "Audio", "Video", "Aggregate", "OtherMessage", "ConnectionClosed", "Timeout",
    "Command", "DataMessage",
    # messages and the chunk stream
    "Message", "MessageType", "ChunkReader", "ChunkInfo", "ChunkWriter", "SharedOutput", "chunk_message",
    # FLV files
    "FLVReader", "FLVWriter",
    # errors
    "RTMPError", "ProtocolError", "LocalProtocolError", "DecodeError", "LimitExceeded",
]
