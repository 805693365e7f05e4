"""Input batching for publishers: wake up for a publisher's socket once per ``flush_interval`` of its stream.

A Python server pays most per wakeup, not per byte: a publisher of a 4 Mbit/s stream writes every 15-25 ms (each
video frame, each audio frame), and each read costs the event loop turn, the read syscall and the Python path of
a message with cold caches. The relay writes to players about once per ``flush_interval``; reading the publisher
at the same pace adds about as much latency. So while a session publishes, its socket's receive low
water mark (SO_RCVLOWAT) is set to about ``flush_interval`` seconds of its input rate (measured at each server
tick): the kernel wakes the event loop only when that much has arrived. A backstop timer, re-armed at each read,
lowers the mark to 1 byte when nothing was read for 1.5 ``flush_interval`` (the stream slowed down or paused), so
no byte waits longer than that; the read that follows puts the mark back. Below 4 KiB per interval (audio-only,
slides) and when the session stops publishing the mark is 1 byte, as for every other socket. With the relay's
rule, a message waits at most about 2.5 intervals (125 ms at the default 0.05 s), typically one.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

MIN_BATCH = 4096  # bytes per interval below which batching is not worth the latency
MAX_BATCH = 65536


class InputBatcher:
    def __init__(self, transport: asyncio.BaseTransport, interval: float, clock: Callable[[], float]) -> None:
        self.interval = interval
        self.clock = clock
        self.lowat = 1  # the socket's mark now
        self.target = 1  # the mark for the measured rate
        self._sock = transport.get_extra_info("socket") if interval > 0 else None
        self._mark_bytes = 0
        self._mark_time = clock()
        self._backstop: asyncio.TimerHandle | None = None

    def tune(self, bytes_received: int, publishing: bool) -> None:
        """At each server tick: the mark for the input rate since the previous tick (an interval's bytes)."""
        now = self.clock()
        rate = (bytes_received - self._mark_bytes) / max(now - self._mark_time, 1e-3)
        self._mark_bytes, self._mark_time = bytes_received, now
        target = int(rate * self.interval) if publishing else 1
        self.target = 1 if target < MIN_BATCH else min(target, MAX_BATCH)
        self._set(self.target)

    def after_read(self) -> None:
        """After each read of a publisher: the mark back (after a backstop), and a new backstop: no byte waits
        for the mark longer than 1.5 intervals."""
        if self.lowat != self.target:
            self._set(self.target)
        if self.target > 1:
            if self._backstop is not None:
                self._backstop.cancel()
            self._backstop = asyncio.get_running_loop().call_later(1.5 * self.interval, self._set, 1)

    def stop(self) -> None:
        self.target = 1
        self._set(1)
        if self._backstop is not None:
            self._backstop.cancel()
            self._backstop = None

    def _set(self, lowat: int) -> None:
        if lowat == self.lowat or self._sock is None:
            return
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, lowat)
        except (OSError, AttributeError, ValueError, RuntimeError):  # closed, or not a real socket
            self._sock = None
            return
        self.lowat = lowat  # lowering it signals readable at once if bytes wait (tcp_set_rcvlowat)
