"""Does the target speak RTMP at all? The probe the plugin runs before any case (the preflight) and after every
case (the health probe that tells a failing case from a crashed server).

It is the one health probe of the project (:func:`harness.health.probe`: TCP connect, C0+C1, S0+S1 within the step
timeout, S2, C2, then ``connect`` and an answer to it within the step timeout; one line says what was seen when the
target is not an RTMP server), with what went over the wire kept in the case's kind of wire log.

After every case the plugin probes again, up to S2 (a new connection and handshake: a stopped or hung server fails
it). The relay contract probe (publish app/key, play app/key, any audio/video message arriving at the player)
lives in :func:`conformance.case.contract`; the plugin runs it once, right after the preflight.
"""

from __future__ import annotations

from harness import health
from harness.health import Health

from .driver import Target, WireLog

__all__ = ["Health", "probe"]


def probe(target: Target, timeout: float = 3.0, *, label: str = "probe", log: WireLog | None = None,
          connect: bool = True) -> Health:
    """One RTMP session up to the answer to ``connect`` (``connect=False``: up to S2, the health probe after a
    case); each stage waits at most ``timeout`` seconds. What went over the wire is in ``health.log``."""
    log = log if log is not None else WireLog()
    h = health.probe(target.host, target.port, app=target.app, tls=target.tls, tls_insecure=target.tls_insecure,
                     timeout=timeout, connect=connect,
                     log=lambda direction, kind, summary, data: log.add(label, direction, kind, summary, data))
    h.log = log
    return h
