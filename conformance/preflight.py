"""Does the target speak RTMP at all? The probe the plugin runs before any case (the preflight) and after every
case (the health probe that tells a failing case from a crashed server).

One new connection: TCP connect, C0+C1, S0+S1 within the step timeout, S2, C2, then ``connect`` (transaction id 1)
and an answer to it (``_result`` or ``_error``) within the step timeout. The result names, in one line, what was
seen when the target is not an RTMP server: "connection refused", "accepted, then closed before S0", "no S0 within
3 s", "first byte 0x48 is not an RTMP version", "no answer to connect within 3 s", ...

After every case the plugin probes again, up to S2 (a new connection and handshake: a stopped or hung server fails
it). The relay contract probe (publish app/key, play app/key, any audio/video message arriving at the player)
lives in :func:`conformance.case.contract`; the plugin runs it once, right after the preflight.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass, field

from rtmpspec import handshake as hs

from .driver import Closed, DriverError, Session, StepTimeout, Target, Undecodable, WireLog, is_command


@dataclass
class Health:
    ok: bool
    reason: str  # one line: what was seen
    stage: str  # "tcp", "S0", "S1", "S2", "connect", "ok"
    seconds: float = 0.0
    log: WireLog = field(default_factory=WireLog, repr=False)

    def to_json(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, "stage": self.stage, "seconds": round(self.seconds, 3),
                "wire": self.log.to_json()}


def _printable(data: bytes) -> str:
    text = data[:40].decode("latin-1")
    if data and sum(32 <= b < 127 or b in (9, 10, 13) for b in data[:40]) >= 0.8 * min(len(data), 40):
        return f' (it sent text: "{text.splitlines()[0][:40] if text.splitlines() else text}")'
    return ""


def probe(target: Target, timeout: float = 3.0, *, label: str = "probe", log: WireLog | None = None,
          connect: bool = True) -> Health:
    """One RTMP session up to the answer to ``connect`` (``connect=False``: up to S2, the health probe after a
    case); each stage waits at most ``timeout`` seconds."""
    log = log if log is not None else WireLog()
    t0 = time.monotonic()
    s = Session(target, label=label, log=log, step_timeout=timeout, seed=1)

    def done(ok: bool, reason: str, stage: str) -> Health:
        s.close()
        return Health(ok, reason, stage, time.monotonic() - t0, log)

    try:
        s.open()
    except ConnectionRefusedError:
        return done(False, "connection refused", "tcp")
    except TimeoutError:
        return done(False, f"no TCP{'/TLS' if target.tls else ''} connection within {timeout:g} s", "tcp")
    except ssl.SSLError as exc:
        return done(False, f"TLS handshake failed: {exc.reason or exc}", "tcp")
    except OSError as exc:
        return done(False, f"TCP connect failed: {exc.strerror or exc}", "tcp")
    try:
        s.send_c0c1()
    except DriverError as exc:
        return done(False, f"accepted, then closed before S0 ({exc})", "S0")
    # S0
    try:
        s._hs_need(1, "S0", timeout)
    except Closed:
        return done(False, "accepted, then closed before S0", "S0")
    except StepTimeout:
        return done(False, f"no S0 within {timeout:g} s", "S0")
    first = s._hs_buf[0]
    if first != hs.RTMP_VERSION:
        s.pump(0.05)
        return done(False, f"first byte 0x{first:02x} is not an RTMP version{_printable(bytes(s._hs_buf))}", "S0")
    # S1 (S0+S1 within the step timeout of C0+C1), then S2
    stages = ((1 + hs.PACKET_SIZE, "S1"), (hs.FLIGHT_SIZE, "S2"))
    for need, name in stages:
        left = timeout - (time.monotonic() - t0) if name == "S1" else timeout
        try:
            s._hs_need(need, name, max(0.05, left))
        except Closed:
            return done(False, f"closed the connection after {len(s._hs_buf)} handshake bytes (no complete {name})",
                        name)
        except StepTimeout:
            return done(False, f"no complete {name} within {timeout:g} s ({len(s._hs_buf)} of {need} handshake "
                               f"bytes{'; its S1 is our C1: it echoes what it reads' if name == 'S2' and _echoes(s) else ''})", name)
    s.read_s0s1s2()
    if not connect:
        return done(True, f"handshake after {1000 * (time.monotonic() - t0):.0f} ms", "ok")
    try:
        s.send_c2()
        s.connect(expect=False)
        res = s.expect(is_command(("_result", "_error"), tid=1), "an answer to connect", timeout)
    except Undecodable as exc:
        return done(False, f"after the handshake its bytes are no RTMP chunk stream: {exc}", "connect")
    except Closed:
        return done(False, "closed the connection without answering connect", "connect")
    except StepTimeout:
        got = f" ({len(s.inbox)} other messages)" if s.inbox else ""
        return done(False, f"no answer to connect within {timeout:g} s{got}", "connect")
    except DriverError as exc:
        return done(False, f"connect failed: {exc}", "connect")
    except OSError as exc:
        return done(False, f"connect failed: {type(exc).__name__}: {exc}", "connect")
    return done(True, f"{res.name} to connect after {1000 * (time.monotonic() - t0):.0f} ms", "ok")


def _echoes(s: Session) -> bool:
    return s.c1 is not None and bytes(s._hs_buf[1:1 + hs.PACKET_SIZE]) == s.c1
