"""Events a :class:`rtmpspec.connection.Connection` returns from ``next_event()`` and accepts in ``send()``.

One base class, :class:`Event`; every event is a direct subclass of it or of :class:`MessageEvent` (siblings,
never subclasses of one another: ``isinstance(ev, Audio)`` is never true of a :class:`Video`), so callers dispatch
with ``isinstance`` (or ``match``). Do not subclass them. Commands and data messages are events too:
:class:`rtmpspec.messages.Command` and :class:`rtmpspec.messages.DataMessage` derive from :class:`Event`. Media and
messages this library does not interpret carry the raw :class:`rtmpspec.message_format.Message`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .message_format import Message

__all__ = [
    "Event", "MessageEvent", "HandshakeDone", "SetChunkSize", "Abort", "Acknowledgement", "WindowAckSize",
    "SetPeerBandwidth", "UserControl", "Audio", "Video", "Aggregate", "OtherMessage", "ConnectionClosed", "Timeout",
]


class Event:
    """Base class of every event (commands and data messages included)."""

    __slots__ = ()


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
    data: bytes = b""  # the event data as received (sent as is when given)

    @property
    def name(self) -> str:
        from .control import UserControlEventType

        return str(UserControlEventType.decmapping.get(self.event_type, self.event_type))


@dataclass(frozen=True)
class MessageEvent(Event):
    """An event that carries one raw message: the base of :class:`Audio`, :class:`Video`, :class:`Aggregate` and
    :class:`OtherMessage` (siblings)."""

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
class Audio(MessageEvent):  # RTMP 7.1.4
    pass


@dataclass(frozen=True)
class Video(MessageEvent):  # RTMP 7.1.5
    pass


@dataclass(frozen=True)
class Aggregate(MessageEvent):  # RTMP 7.1.6
    pass


@dataclass(frozen=True)
class OtherMessage(MessageEvent):
    """A message of a type this library does not interpret (shared objects, unknown types)."""


@dataclass(frozen=True)
class ConnectionClosed(Event):
    clean: bool = True  # False: the peer closed in the middle of a message or the handshake


@dataclass(frozen=True)
class Timeout(Event):
    """A deadline of :meth:`rtmpspec.connection.Connection.handle_timer` passed: ``what`` is "handshake" (no
    handshake + connect within ``handshake_timeout``) or "idle" (nothing received for ``idle_timeout``); the
    connection is closed (state CLOSED) and the application closes the transport."""

    what: str
    seconds: float  # how long it waited
    state: str = ""  # the connection's state (rtmpspec._state.State value) when the deadline passed
