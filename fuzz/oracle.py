"""Detection: is the target still healthy, and if not, what happened?

:meth:`Checker.observe` combines what we can see: the process's exit (local targets), its log (tracebacks,
error records, nginx worker crashes) and a health probe (fresh connection: handshake + ``connect`` answered within
``probe_timeout``). A probe that times out is retried with ``hang_timeout``: still nothing is a *hang*, an answer
is *slow*. A refused connection or an exited process is a *crash*; an error in the log while the server stays
up is a *server-error* (the server survived an internal bug). A clean rejection of the case (the server closed
or reset the fuzzed connection) is not a finding.

:meth:`Checker.check` runs one case and observes; the triage, the minimizer and ``replay`` use it.
"""

from __future__ import annotations

import asyncio
import time

from harness.health import Health, probe

from .case import FuzzCase
from .findings import Observation
from .netio import CaseResult, run_case
from .target import LogEvent, WatchedServer

__all__ = ["Checker"]

_PRIORITY = {"traceback": 0, "node-exception": 1, "sanitizer": 2, "nginx-crash": 3, "json-error": 4, "log-alert": 5,
             "text-error": 6}


class Checker:
    def __init__(self, target: WatchedServer, *, app: str = "live", probe_timeout: float = 3.0, hang_timeout: float = 10.0,
                 slow_threshold: float = 1.5, recover_timeout: float = 30.0, linger: float = 3.0,
                 connect_timeout: float = 3.0, settle: float = 0.02) -> None:
        self.target = target
        self.app = app
        self.probe_timeout = probe_timeout
        self.hang_timeout = hang_timeout
        self.slow_threshold = slow_threshold
        self.recover_timeout = recover_timeout
        self.linger = linger
        self.connect_timeout = connect_timeout
        self.settle = settle
        self.known: set[tuple[str, str]] = set()  # (symptom, signature) already recorded: reported last
        self.probes = 0
        self.probe_failures = 0
        self.probe_latencies: list[float] = []

    async def probe(self, timeout: float | None = None) -> Health:
        """The health probe (:func:`harness.health.probe`, in a thread: the cases in flight go on meanwhile)."""
        self.probes += 1
        r = await asyncio.to_thread(probe, self.target.host, self.target.port, app=self.app,
                                    timeout=timeout or self.probe_timeout)
        if r.ok:
            if len(self.probe_latencies) < 200000:
                self.probe_latencies.append(r.seconds)
        else:
            self.probe_failures += 1
        return r

    def _log_observation(self, events: list[LogEvent]) -> Observation:
        # a problem not seen before first, then the most telling event: a stack says where, a bare "Fatal error
        # on transport" does not
        def key(e: LogEvent):
            return (("server-error", f"{e.kind}: {e.signature}") in self.known, _PRIORITY.get(e.kind, 9))

        first = sorted(events, key=key)[0]
        return Observation("server-error", f"{first.kind}: {first.signature}",
                           {"log": [e.to_json() for e in events[:10]], "log_tail": self.target.watcher.tail(40)})

    async def observe(self, *, probe_first: Health | None = None) -> Observation | None:
        t = self.target
        alive = t.alive()
        if alive is False:
            await asyncio.get_running_loop().run_in_executor(None, t.wait_logs, 1.5)  # its last words
            events = t.events()
            info = t.exit_info()
            sig = info or "process exited"
            tb = [e for e in events if e.kind in ("traceback", "node-exception", "sanitizer")]
            if tb:
                sig += f"; {tb[0].signature}"
            return Observation("crash", sig, {"exit": info, "log": [e.to_json() for e in events[:10]],
                                              "log_tail": t.watcher.tail(60)})
        r = probe_first or await self.probe()
        if not r.ok:
            if r.failure == "refused":
                await asyncio.sleep(0.2)
                if t.alive() is False:
                    return await self.observe()
                events = t.events()
                sig = "connection refused" + (f"; {events[0].signature}" if events else "")
                return Observation("crash", sig, {"probe": r.to_json(), "log": [e.to_json() for e in events[:10]],
                                                  "log_tail": t.watcher.tail(60)})
            if r.failure == "timeout":
                r2 = await self.probe(self.hang_timeout)
                events = t.events()
                if t.alive() is False:
                    return await self.observe()
                if not r2.ok:
                    return Observation("hang", f"no answer at stage {r.stage}",
                                       {"probe": r.to_json(), "probe_retry": r2.to_json(),
                                        "log": [e.to_json() for e in events[:10]], "log_tail": t.watcher.tail(40)})
                return Observation("slow", f"probe took more than {self.probe_timeout:g}s at stage {r.stage}",
                                   {"probe": r.to_json(), "probe_retry": r2.to_json(),
                                    "log": [e.to_json() for e in events[:10]]})
            # closed or a bad answer: try once more before calling it
            r2 = await self.probe()
            if r2.ok:
                events = t.events()
                if events:
                    return self._log_observation(events)
                return None
            events = t.events()
            return Observation("hang" if r2.failure == "timeout" else "crash",
                               f"probe failed at stage {r.stage}: {r.reason[:80]}",
                               {"probe": r.to_json(), "probe_retry": r2.to_json(),
                                "log": [e.to_json() for e in events[:10]], "log_tail": t.watcher.tail(40)})
        events = t.events()
        if events:
            await asyncio.sleep(0.05)  # the rest of a multi-line report (a traceback after its header line)
            events += t.events()
            return self._log_observation(events)
        if r.seconds > self.slow_threshold:
            return Observation("slow", f"probe took more than {self.slow_threshold:g}s",
                               {"probe": r.to_json()})
        return None

    async def healthy(self) -> bool:
        if self.target.alive() is False:
            return False
        r = await self.probe()
        return r.ok

    async def restore(self) -> bool:
        """Bring the target back: restart it (spawned) or wait for it (external). Pending log lines are dropped."""
        t = self.target
        if await self.healthy():
            t.events()
            return True
        if t.restartable:
            t.restart()
            await asyncio.sleep(0.05)
            ok = await self.healthy()
            t.events()
            return ok
        deadline = time.monotonic() + self.recover_timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if await self.healthy():
                t.events()
                return True
        return False

    async def run(self, case: FuzzCase) -> CaseResult:
        return await run_case(self.target.host, self.target.port, case, connect_timeout=self.connect_timeout,
                              linger=self.linger)

    async def check(self, cases: FuzzCase | list[FuzzCase], *, fresh: bool = False) -> Observation | None:
        """Run case(s) one after the other on a healthy target, then observe."""
        if fresh and self.target.restartable:
            self.target.restart()
        elif not await self.restore():
            return Observation("crash", "target does not recover", {})
        self.target.events()
        for c in cases if isinstance(cases, list) else [cases]:
            await self.run(c)
            if self.target.alive() is False:
                break
        if self.settle:
            await asyncio.sleep(self.settle)
        return await self.observe()
