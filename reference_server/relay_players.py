"""The players of the relay (:mod:`reference_server.relay`) and what it knows of a session.

:class:`Subscriber`
    is all the relay knows of the session of a publisher or a player (id, peer, conn, transport, write, close); it
    imports nothing of the session or the server.
:class:`Player`
    is one playing message stream of a subscriber: what it wants (audio, video, paused, waiting for a keyframe), how
    it is served (``fast``: with its group; else alone), its slow-player state, its flow control (RTMP 5.4.3-5.4.5:
    ``stop_at`` in its group, ``windowed`` and ``held`` when served alone) and the duration of its play (RTMP
    7.2.2.1). :meth:`Player.update` moves it in or out of its group through the stream it plays
    (:class:`PlayedStream`, what the player and the session need of :class:`reference_server.relay.Stream`).
:class:`Group`
    is the players that take every message with the same outgoing chunk size and message stream id: a batch is
    chunked once for all of them and the same bytes are written to each.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Protocol

from rtmpspec.chunkwriter import SharedOutput
from rtmpspec.connection import Connection

from .relay_kinds import IS_AUDIO, IS_VIDEO


class Subscriber(Protocol):
    """What the relay needs of a publisher's or player's session (tests/test_server_load.py has a fake one)."""

    id: int
    peer: str
    conn: Connection
    transport: Any  # asyncio.Transport: write, writelines, get_write_buffer_size, is_closing

    def write(self, data: bytes) -> None:
        """Write bytes the session's Connection made (after anything it produced itself)."""

    def close(self, event: str = "close", why: str | None = None, *, level: str = "info", **kw: Any) -> None:
        """Log ``event`` once and close the connection (the session leaves every stream first)."""


class PlayedStream(Protocol):
    """What a :class:`Player` and its session need of the stream it plays (a
    :class:`reference_server.relay.Stream`)."""

    key: str

    def place(self, p: Player) -> None:
        """Put ``p`` in its group if it takes everything, else with the players served alone."""

    def unplace(self, p: Player) -> None:
        """Take ``p`` out of its group or out of the players served alone."""

    def acknowledged(self, p: Player) -> None:
        """The player's client acknowledged (RTMP 5.4.3)."""

    def remove_player(self, p: Player) -> None:
        """``p`` stops playing the stream."""


class Player:
    """One playing message stream of a subscriber."""

    __slots__ = ("sub", "conn", "transport", "write", "shared", "msid", "stream", "name", "audio", "video",
                 "paused", "need_key", "slack", "dropped", "lagging", "lag_since", "over", "fast", "group",
                 "stop_at", "windowed", "held", "held_bytes", "duration_ms", "stop_ts", "ended")

    def __init__(self, sub: Subscriber, msid: int, name: str) -> None:
        self.sub = sub
        self.conn = sub.conn
        self.transport = sub.transport
        self.write = sub.transport.write
        self.shared = sub.conn.send_shared
        self.msid = msid
        self.name = name
        self.stream: PlayedStream | None = None
        self.audio = True
        self.video = True
        self.paused = False
        self.need_key = False
        self.slack = 0  # burst bytes allowed over the soft limit until the queue drains below it
        self.dropped = 0
        self.lagging = False
        self.lag_since = 0.0
        self.over = False  # its queue was above the soft limit (+ slack) when last looked at
        self.fast = True  # takes every message: served with its group
        self.group: Group | None = None
        # flow control (RTMP 5.4.3-5.4.5): in a group, the group's output count at which the client's window is
        # full; ``windowed``: it was, the player is served alone (``held``: what waits for its Acknowledgement)
        self.stop_at = math.inf
        self.windowed = False
        self.held: deque[tuple[bytes, int, int]] = deque()  # (chunks, kind, chunk stream id)
        self.held_bytes = 0
        self.duration_ms: int | None = None  # play's duration (RTMP 7.2.2.1): stop that long after the first media
        self.stop_ts: int | None = None
        self.ended = False

    def update(self) -> None:
        """Recompute ``fast`` after a change of what the player wants; moves it in or out of its group."""
        fast = (self.audio and self.video and not self.paused and not self.need_key and not self.over
                and not self.windowed and self.duration_ms is None)
        if fast is not self.fast:
            stream = self.stream
            if stream is not None:
                stream.unplace(self)
            self.fast = fast
            if stream is not None:
                stream.place(self)

    def budget(self) -> float:
        """RTMP 5.4.3-5.4.5: how many more bytes the client allows unacknowledged (its Set Peer Bandwidth, else
        the window we asked it to acknowledge); inf: no limit."""
        conn = self.conn
        limit = conn.output_limit or conn.our_window
        return math.inf if not limit else limit - conn.unacknowledged

    def wants(self, kind: int) -> bool:
        if self.paused:
            return False
        if IS_AUDIO[kind]:
            return self.audio
        if IS_VIDEO[kind]:
            return self.video
        return True


class Group:
    """Players that take every message, with the same outgoing chunk size and message stream id: each batch is
    chunked once for all of them and the same bytes written to each; ``out`` accounts for them in every member's
    Connection (attached to it) with no call per player."""

    __slots__ = ("key", "players", "out", "stop_min")

    def __init__(self, key: tuple[int, int]) -> None:
        self.key = key
        self.players: list[Player] = []
        self.out = SharedOutput()
        self.stop_min = math.inf  # at most the smallest stop_at of the players (lazily raised)

