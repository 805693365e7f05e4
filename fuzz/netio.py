"""Running cases and health probes over TCP (asyncio; loopback targets only).

``run_case`` opens every connection of a case, writes its parts (honouring delays), half-closes it when the
case says so and reads until the server closes, then records how each connection ended:

- ``closed``: the server closed (after our EOF, or earlier: a clean rejection);
- ``reset``: the server reset the connection (also a rejection);
- ``lingering``: the server neither closed nor reset within ``linger`` seconds after our EOF;
- ``held``: a connection the case keeps open (a player) that we closed ourselves;
- ``refused`` / ``connect-timeout``: no connection at all (the target is down or not accepting).

We close with RST when we close first, so a fast campaign leaves no TIME_WAIT sockets behind.

The health probe is :func:`harness.health.probe` (the battery's too).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import struct
import time
from dataclasses import dataclass

from .case import Conn, FuzzCase

__all__ = ["ConnResult", "CaseResult", "run_case", "check_loopback", "hostport", "response_shape"]

KEEP_RESPONSE = 16384  # bytes of each response kept for the shape / report
_CODE_RE = re.compile(rb"(?:NetStream|NetConnection)\.[A-Za-z.]{3,40}")
_LINGER0 = struct.pack("ii", 1, 0)


def hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``rtmp://host:port/...`` (port 1935 when absent)."""
    s = text.strip()
    if "://" in s:
        s = s.split("://", 1)[1].split("/", 1)[0]
    host, sep, port = s.rpartition(":")
    if not sep:
        return s, 1935
    return host.strip("[]") or "127.0.0.1", int(port)


def check_loopback(host: str) -> None:
    """Campaigns run against loopback only."""
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve {host}: {exc}") from exc
    for a in addrs:
        if not ipaddress.ip_address(a).is_loopback:
            raise ValueError(f"target {host} ({a}) is not a loopback address: fuzzing runs against 127.0.0.1 only")


@dataclass
class ConnResult:
    outcome: str
    received: int = 0  # bytes the server sent
    head: bytes = b""  # the first KEEP_RESPONSE of them
    elapsed: float = 0.0
    error: str = ""

    def to_json(self) -> dict:
        return {"outcome": self.outcome, "received": self.received, "elapsed": round(self.elapsed, 4),
                "error": self.error}


@dataclass
class CaseResult:
    case: FuzzCase
    conns: list[ConnResult]
    started: float
    finished: float
    seq: int = 0  # completion order

    @property
    def refused(self) -> bool:
        return any(c.outcome in ("refused", "connect-timeout") for c in self.conns)


class _CaseProtocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.received = 0
        self.closed = loop.create_future()
        self.server_eof = False
        self.error = ""

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if len(self.head) < KEEP_RESPONSE:
            self.head += data[:KEEP_RESPONSE - len(self.head)]

    def eof_received(self):
        self.server_eof = True
        return False  # close our side too

    def connection_lost(self, exc) -> None:
        if exc is not None:
            self.error = type(exc).__name__
        if not self.closed.done():
            self.closed.set_result(True)

    def abort(self) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        sock = t.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)
            except OSError:
                pass
        t.abort()


async def run_conn(host: str, port: int, conn: Conn, *, connect_timeout: float, linger: float,
                   hold: float, hold_until: asyncio.Event | None = None) -> ConnResult:
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()
    if conn.start_delay:
        await asyncio.sleep(conn.start_delay)
    proto = _CaseProtocol(loop)
    try:
        await asyncio.wait_for(loop.create_connection(lambda: proto, host, port), connect_timeout)
    except ConnectionRefusedError:
        return ConnResult("refused", elapsed=time.monotonic() - t0)
    except TimeoutError:
        return ConnResult("connect-timeout", elapsed=time.monotonic() - t0)
    except OSError as exc:
        return ConnResult("refused", elapsed=time.monotonic() - t0, error=f"{type(exc).__name__}: {exc}")
    transport = proto.transport
    try:
        pending = b""
        for part in conn.parts:
            if part.delay:
                if pending:
                    transport.write(pending)
                    pending = b""
                await asyncio.sleep(part.delay)
                if transport.is_closing():
                    break
            pending += part.data
        if pending and not transport.is_closing():
            transport.write(pending)
        if conn.half_close:
            if not transport.is_closing() and transport.can_write_eof():
                try:
                    transport.write_eof()
                except OSError:
                    pass
            try:
                await asyncio.wait_for(asyncio.shield(proto.closed), linger)
            except TimeoutError:
                proto.abort()
                return ConnResult("lingering", proto.received, bytes(proto.head), time.monotonic() - t0)
        else:
            if hold_until is not None:
                try:
                    await asyncio.wait_for(hold_until.wait(), linger)
                except TimeoutError:
                    pass
            # keep reading while the server keeps sending, up to ``hold`` seconds more
            deadline = time.monotonic() + hold
            last = -1
            while not proto.closed.done() and time.monotonic() < deadline and proto.received != last:
                last = proto.received
                try:
                    await asyncio.wait_for(asyncio.shield(proto.closed), 0.05)
                except TimeoutError:
                    pass
            if not proto.closed.done():
                proto.abort()
                return ConnResult("held", proto.received, bytes(proto.head), time.monotonic() - t0)
    finally:
        if not proto.closed.done() and transport is not None and not conn.half_close:
            proto.abort()
    outcome = "reset" if proto.error in ("ConnectionResetError", "BrokenPipeError") else "closed"
    return ConnResult(outcome, proto.received, bytes(proto.head), time.monotonic() - t0, proto.error)


async def run_case(host: str, port: int, case: FuzzCase, *, connect_timeout: float = 3.0, linger: float = 3.0,
                   hold: float = 0.3) -> CaseResult:
    t0 = time.monotonic()
    if len(case.conns) == 1:
        results = [await run_conn(host, port, case.conns[0], connect_timeout=connect_timeout, linger=linger,
                                  hold=hold)]
    else:
        # connections that stay open (players) are held until every half-closing one has finished
        done = asyncio.Event()
        closers = any(c.half_close for c in case.conns)
        tasks = [asyncio.ensure_future(run_conn(host, port, c, connect_timeout=connect_timeout, linger=linger,
                                                hold=hold, hold_until=done if closers and not c.half_close else None))
                 for c in case.conns]
        closing = [t for t, c in zip(tasks, case.conns, strict=True) if c.half_close]
        if closing:
            await asyncio.wait(closing)
        done.set()
        results = list(await asyncio.gather(*tasks))
    return CaseResult(case, results, t0, time.monotonic())


def response_shape(result: CaseResult) -> tuple:
    """A cheap signature of how the server answered: per connection the outcome, the size class of the answer
    and the NetStream/NetConnection status codes it contained."""
    out = []
    for r in result.conns:
        codes = tuple(sorted(set(_CODE_RE.findall(r.head))))
        size = r.received.bit_length()
        out.append((r.outcome, size, codes))
    return tuple(out)
