"""Does the target still speak RTMP? The one health probe: the battery's preflight and its check after every case,
the fuzzer's check between cases.

One new connection, a :class:`rtmpspec.connection.Connection` in the client role (spec handshake, plain C1): TCP
connect, C0+C1, S0+S1 within ``timeout`` of the start, S2 within ``timeout`` more, then (C2 only once S2 is in) C2
and ``connect`` (transaction id 1) and an answer to it (``_result`` or ``_error``) within ``timeout``; with
``connect=False`` it stops after S2. Each stage waits at most ``timeout`` seconds, so a stopped or hung server fails
at the first stage that needs it. The result names, in one line, what was seen when the target is not (or no longer)
an RTMP server: "connection refused", "accepted, then closed before S0", "no S0 within 3 s", "first byte 0x48 is
not an RTMP version", "no complete S2 within 3 s (...; its S1 is our C1: it echoes what it reads)", "no answer to
connect within 3 s", ... ``log(direction, kind, summary, data)`` gets what went over the wire (the battery keeps it
in its reports).
"""

from __future__ import annotations

import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rtmpspec import handshake as hs
from rtmpspec import messages
from rtmpspec.connection import Connection, Role
from rtmpspec.dissect import describe_message
from rtmpspec.errors import RTMPError
from rtmpspec.messages import Command
from rtmpspec.sentinels import NEED_DATA

__all__ = ["Health", "probe"]

Log = Callable[[str, str, Any, bytes], None]


@dataclass
class Health:
    ok: bool
    reason: str  # one line: what was seen
    stage: str  # "tcp", "S0", "S1", "S2", "connect", "ok"
    seconds: float = 0.0
    code: str = ""  # the answer to connect: its status code, or its name
    log: Any = None  # what the caller collected the wire log in (the battery: its WireLog)

    @property
    def failure(self) -> str:
        """What kind of failure: "refused", "timeout" (a stage waited in vain), "closed" or "bad-answer"; "" when
        the probe passed."""
        if self.ok:
            return ""
        if self.reason.startswith("connection refused"):
            return "refused"
        if " within " in self.reason:
            return "timeout"
        if "closed" in self.reason or "reset" in self.reason:
            return "closed"
        return "bad-answer"

    def to_json(self) -> dict:
        out = {"ok": self.ok, "reason": self.reason, "stage": self.stage, "seconds": round(self.seconds, 3)}
        if self.log is not None and hasattr(self.log, "to_json"):
            out["wire"] = self.log.to_json()
        return out


class _Closed(Exception):
    pass


def _printable(data: bytes) -> str:
    text = data[:40].decode("latin-1")
    if data and sum(32 <= b < 127 or b in (9, 10, 13) for b in data[:40]) >= 0.8 * min(len(data), 40):
        return f' (it sent text: "{text.splitlines()[0][:40] if text.splitlines() else text}")'
    return ""


class _Probe:
    def __init__(self, host: str, port: int, app: str, tls: bool, tls_insecure: bool, timeout: float, log: Log,
                 seed: int) -> None:
        self.host, self.port, self.app, self.tls = host, port, app, tls
        self.tls_insecure = tls_insecure
        self.timeout = timeout
        self.log = log
        self.conn = Connection(Role.CLIENT, digest=False, strict=False, rng=random.Random(seed))
        self.sock: socket.socket | None = None
        self.received = bytearray()  # the server's handshake bytes
        self.t0 = time.monotonic()

    def open(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            ctx = ssl.create_default_context()
            if self.tls_insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock
        self.log("--", "open", f"TCP{'+TLS' if self.tls else ''} connected to {self.host}:{self.port}", b"")

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def write(self, data: bytes) -> None:
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise _Closed(f"write failed: {type(exc).__name__}") from None

    def read(self, deadline: float) -> bytes:
        """Bytes that arrive before ``deadline`` (b"" when none did); _Closed at EOF or reset."""
        left = deadline - time.monotonic()
        if left <= 0:
            return b""
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 16)
        except (TimeoutError, ssl.SSLWantReadError):
            return b""
        except (ConnectionResetError, ConnectionAbortedError, OSError) as exc:
            raise _Closed(f"connection reset ({type(exc).__name__})") from None
        if not data:
            raise _Closed("the server closed the connection (EOF)")
        return data

    def handshake_bytes(self, n: int, deadline: float) -> None:
        while len(self.received) < n:
            data = self.read(deadline)
            if not data:
                return
            self.received += data

    def run(self, connect: bool) -> tuple[bool, str, str, str]:
        c0c1 = self.conn.data_to_send()
        self.log("out", "C0+C1", {"version": c0c1[0], "digest": False, "c1_length": len(c0c1) - 1}, c0c1)
        try:
            self.write(c0c1)
        except _Closed as exc:
            return False, f"accepted, then closed before S0 ({exc})", "S0", ""
        timeout = self.timeout
        # S0
        try:
            self.handshake_bytes(1, time.monotonic() + timeout)
        except _Closed:
            return False, "accepted, then closed before S0", "S0", ""
        if not self.received:
            return False, f"no S0 within {timeout:g} s", "S0", ""
        if self.received[0] != hs.RTMP_VERSION:
            try:
                self.handshake_bytes(len(self.received) + 1, time.monotonic() + 0.05)
            except _Closed:
                pass
            self.log("in", "raw", "not an RTMP handshake", bytes(self.received))
            return (False, f"first byte 0x{self.received[0]:02x} is not an RTMP version"
                           f"{_printable(bytes(self.received))}", "S0", "")
        # S1 (S0+S1 within the timeout of the start), then S2
        for need, name in ((1 + hs.PACKET_SIZE, "S1"), (hs.FLIGHT_SIZE, "S2")):
            left = timeout - (time.monotonic() - self.t0) if name == "S1" else timeout
            try:
                self.handshake_bytes(need, time.monotonic() + max(0.05, left))
            except _Closed:
                return (False, f"closed the connection after {len(self.received)} handshake bytes (no complete "
                               f"{name})", name, "")
            if len(self.received) < need:
                echo = name == "S2" and bytes(self.received[1:1 + hs.PACKET_SIZE]) == c0c1[1:]
                return (False, f"no complete {name} within {timeout:g} s ({len(self.received)} of {need} handshake "
                               f"bytes{'; its S1 is our C1: it echoes what it reads' if echo else ''})", name, "")
        flight = bytes(self.received[:hs.FLIGHT_SIZE])
        self.log("in", "S0+S1+S2", {"s0_version": flight[0], "s1_time": int.from_bytes(flight[1:5], "big"),
                                    "s2_echoes_c1": hs.echo_matches(flight[1 + hs.PACKET_SIZE:], c0c1[1:])}, flight)
        if not connect:
            return True, f"handshake after {1000 * (time.monotonic() - self.t0):.0f} ms", "ok", ""
        return self.connect()

    def connect(self) -> tuple[bool, str, str, str]:
        timeout = self.timeout
        others = 0
        try:
            self.conn.receive_data(bytes(self.received))
            while self.conn.next_event() is not NEED_DATA:
                pass
            c2 = self.conn.data_to_send()
            self.log("out", "C2", "C2 (echo of S1)", c2)
            cmd = messages.connect(self.app, f"{'rtmps' if self.tls else 'rtmp'}://{self.host}:{self.port}/{self.app}")
            out = self.conn.send(cmd)
            self.log("out", "message", describe_message(cmd.to_message()), out)
            self.write(c2 + out)
            deadline = time.monotonic() + timeout
            while True:
                data = self.read(deadline)
                if not data:
                    got = f" ({others} other messages)" if others else ""
                    return False, f"no answer to connect within {timeout:g} s{got}", "connect", ""
                self.conn.receive_data(data)
                while (ev := self.conn.next_event()) is not NEED_DATA:
                    if isinstance(ev, Command) and ev.name in ("_result", "_error") and ev.transaction_id == 1:
                        self.log("in", "message", {"command": ev.name, "code": ev.code}, b"")
                        return (True, f"{ev.name} to connect after {1000 * (time.monotonic() - self.t0):.0f} ms",
                                "ok", ev.code or ev.name)
                    others += 1
                out = self.conn.data_to_send()
                if out:
                    self.write(out)
        except RTMPError as exc:
            return False, f"after the handshake its bytes are no RTMP chunk stream: {exc}", "connect", ""
        except _Closed:
            return False, "closed the connection without answering connect", "connect", ""
        except OSError as exc:
            return False, f"connect failed: {type(exc).__name__}: {exc}", "connect", ""


def probe(host: str, port: int, *, app: str = "live", tls: bool = False, tls_insecure: bool = False,
          timeout: float = 3.0, connect: bool = True, log: Log | None = None, seed: int = 1) -> Health:
    """One new session up to the answer to ``connect`` (``connect=False``: up to S2); see the module docstring."""
    p = _Probe(host, port, app, tls, tls_insecure, timeout, log or (lambda *a: None), seed)

    def done(ok: bool, reason: str, stage: str, code: str = "") -> Health:
        p.close()
        return Health(ok, reason, stage, time.monotonic() - p.t0, code)

    try:
        p.open()
    except ConnectionRefusedError:
        return done(False, "connection refused", "tcp")
    except TimeoutError:
        return done(False, f"no TCP{'/TLS' if tls else ''} connection within {timeout:g} s", "tcp")
    except ssl.SSLError as exc:
        return done(False, f"TLS handshake failed: {exc.reason or exc}", "tcp")
    except OSError as exc:
        return done(False, f"TCP connect failed: {exc.strerror or exc}", "tcp")
    try:
        return done(*p.run(connect))
    except (OSError, _Closed) as exc:  # anything the stages did not name
        return done(False, f"{type(exc).__name__}: {exc}", "connect")
