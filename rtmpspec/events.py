"""Events a :class:`rtmpspec.connection.Connection` returns from ``next_event()`` and accepts in ``send()``.

All are frozen dataclasses. Commands and data messages use :class:`rtmpspec.messages.Command` and
:class:`rtmpspec.messages.DataMessage`; media and anything else carry the raw :class:`Message`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .chunkstream import Message
from .messages import Command, DataMessage

__all__ = [
    "Event", "HandshakeDone", "SetChunkSize", "Abort", "Acknowledgement", "WindowAckSize", "SetPeerBandwidth",
    "UserControl", "Audio", "Video", "Aggregate", "OtherMessage", "ConnectionClosed", "Command", "DataMessage",
]


class Event:
    """Marker base class (commands and data messages are events too)."""


@dataclass(frozen=True)
class HandshakeDone(Event):
    peer_version: int
    digest: bool  # the peer's C1/S1 carried a valid digest (digest handshake)
    echo_ok: bool  # the peer's C2/S2 echoed our C1/S1 as RTMP 5.2.4 asks
    peer_time: int = 0


@dataclass(frozen=True)
class SetChunkSize(Event):  # RTMP 5.4.1
    size: int


@dataclass(frozen=True)
class Abort(Event):  # RTMP 5.4.2
    csid: int


@dataclass(frozen=True)
class Acknowledgement(Event):  # RTMP 5.4.3
    sequence: int


@dataclass(frozen=True)
class WindowAckSize(Event):  # RTMP 5.4.4
    size: int


@dataclass(frozen=True)
class SetPeerBandwidth(Event):  # RTMP 5.4.5
    size: int
    limit_type: int  # 0 hard, 1 soft, 2 dynamic


@dataclass(frozen=True)
class UserControl(Event):  # RTMP 7.1.7
    event_type: int
    stream_id: int | None = None
    buffer_length: int | None = None
    timestamp: int | None = None
    data: bytes = b""

    @property
    def name(self) -> str:
        from .control import UserControlEventType

        return str(UserControlEventType.decmapping.get(self.event_type, self.event_type))


@dataclass(frozen=True)
class Audio(Event):  # RTMP 7.1.4
    message: Message = field(repr=False)

    @property
    def timestamp(self) -> int:
        return self.message.timestamp

    @property
    def msid(self) -> int:
        return self.message.msid

    @property
    def payload(self) -> bytes:
        return self.message.payload


@dataclass(frozen=True)
class Video(Audio):  # RTMP 7.1.5
    pass


@dataclass(frozen=True)
class Aggregate(Audio):  # RTMP 7.1.6
    pass


@dataclass(frozen=True)
class OtherMessage(Audio):
    """A message of a type this library does not interpret (shared objects, unknown types)."""


@dataclass(frozen=True)
class ConnectionClosed(Event):
    clean: bool = True  # False: the peer closed in the middle of a message or the handshake
