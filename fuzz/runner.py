"""The network campaign: concurrent cases, health checks, triage of suspects, minimization, report.

Loop (everything bounded by ``max_cases`` and by ``duration``, which is the campaign's wall time from ``started``:
fuzzing, triage and the final check all fit in it, with ``end_margin`` left for stopping the target and writing
the report; minimization comes after it, with its own bound):

- ``concurrency`` workers each take the next case from the :class:`Generator` and run it (connect, send, wait for
  the server to close);
- the monitor checks the target every ``check_interval`` seconds: process exit, new bad log lines, a health probe,
  RSS. Every case is followed by such a check before it counts as passed (cases that finished before a clean
  check started are cleared);
- on a problem the workers pause; the suspects (cases finished since the last clean check, and those in flight)
  are replayed on a healthy target in halves (binary search, each group followed by a check) until one case
  reproduces the problem alone. The finding is stored (deduplicated by symptom + signature) and the campaign
  resumes on a restored target (restarted when we started it);
- cases that made the server answer in a new way (outcome, answer size class, status codes) go to the corpus;
- at the end every new finding is minimized (bounded) and the JSON + HTML summary is written.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from .case import FuzzCase
from .findings import MAX_VARIANTS, Finding, FindingStore, Observation, locationless
from .generators import Generator
from .minimize import Budget, minimize_case, same_problem
from .netio import CaseResult, response_shape, run_case
from .oracle import Checker
from .target import WatchedServer

__all__ = ["Options", "Campaign"]


@dataclass
class Options:
    duration: float = 60.0
    max_cases: int = 10**9
    seed: int = 0
    concurrency: int = 48
    check_interval: float = 0.1
    probe_timeout: float = 3.0
    hang_timeout: float = 10.0
    slow_threshold: float = 1.5
    linger: float = 3.0
    app: str = "live"
    progress_interval: float | None = None  # None: 0.5 s on a terminal, 10 s otherwise
    minimize: bool = True
    minimize_tests: int = 400
    minimize_seconds: float = 60.0
    minimize_total_seconds: float = 300.0
    max_suspects: int = 400
    triage_seconds: float = 120.0
    rss_limit_mb: float = 256.0  # growth over the baseline that is a memory finding
    max_findings: int = 50  # stop triaging new problems after this many distinct findings
    stop_on_finding: bool = False
    weights: dict[str, float] | None = None
    quiet: bool = False
    wall_limit: float | None = None  # an earlier cap than ``duration`` (the old option; ``duration`` is the bound)
    started: float | None = None  # time.monotonic() when the command started (default: when run() starts)
    end_margin: float | None = None  # seconds left after the campaign to stop the target and write the report


@dataclass
class _Stats:
    cases: int = 0
    conns: int = 0
    bytes_sent: int = 0
    outcomes: Counter = field(default_factory=Counter)
    by_kind: dict = field(default_factory=dict)
    problems: int = 0
    triage_seconds: float = 0.0
    rss: list = field(default_factory=list)  # (t, bytes)
    timeline: list = field(default_factory=list)  # (t, cases, findings)


class Campaign:
    def __init__(self, target: WatchedServer, gen: Generator, store: FindingStore, opts: Options) -> None:
        self.target = target
        self.gen = gen
        self.store = store
        self.opts = opts
        self.checker = Checker(target, app=opts.app, probe_timeout=opts.probe_timeout,
                               hang_timeout=opts.hang_timeout, slow_threshold=opts.slow_threshold, linger=opts.linger)
        self.stats = _Stats()
        self.recent: deque[CaseResult] = deque(maxlen=20000)  # finished cases not yet cleared by a clean check
        self.inflight: dict[int, FuzzCase] = {}
        self.shapes: set = set()
        self.new_findings: list[Finding] = []
        self._next = 0
        self._seq = 0
        self._stop = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()
        self._t0 = 0.0
        self._deadline = 0.0  # no new case after this
        self._hard = 0.0  # the campaign (fuzzing, triage, final check) ends here, whatever happens
        self._triage_ctx: tuple | None = None  # (observation, suspects) of the triage in progress
        self.final_check = ""
        self._rss_base: int | None = None
        self._rss_t = 0.0  # when the current target process started (RSS baseline after 3 s)
        self._rss_flagged = False
        self.aborted = ""

    # -- workers ------------------------------------------------------------------------------------------------
    async def _worker(self) -> None:
        host_port = None
        while not self._stop.is_set():
            if not self._running.is_set():
                await self._running.wait()
                continue
            if self._next >= self.opts.max_cases or time.monotonic() >= self._deadline:
                self._stop.set()
                break
            idx = self._next
            self._next += 1
            try:
                case = self.gen.case(idx)
            except Exception as exc:  # a generator bug must not end the campaign silently
                self.gen.errors[f"exception:{type(exc).__name__}"] = self.gen.errors.get(
                    f"exception:{type(exc).__name__}", 0) + 1
                continue
            self.inflight[idx] = case
            host_port = (self.target.host, self.target.port)
            try:
                res = await run_case(*host_port, case, linger=self.opts.linger)
            except Exception as exc:
                res = None
                self.gen.errors[f"run:{type(exc).__name__}"] = self.gen.errors.get(f"run:{type(exc).__name__}", 0) + 1
            self.inflight.pop(idx, None)
            if res is None:
                continue
            self._seq += 1
            res.seq = self._seq
            self._account(res)

    def _account(self, res: CaseResult) -> None:
        s = self.stats
        c = res.case
        s.cases += 1
        s.conns += len(res.conns)
        s.bytes_sent += c.size()
        k = s.by_kind.setdefault(c.kind, {"cases": 0, "outcomes": Counter()})
        k["cases"] += 1
        for r in res.conns:
            s.outcomes[r.outcome] += 1
            k["outcomes"][r.outcome] += 1
        self.recent.append(res)
        if len(self.shapes) < 50000:
            shape = (c.kind,) + response_shape(res)
            if shape not in self.shapes:
                self.shapes.add(shape)
                if len(c.conns) == 1 and not res.refused:
                    self.gen.corpus.add_interesting(c.conns[0].data, {"kind": c.kind, "note": c.note,
                                                                      "shape": repr(shape)})

    # -- monitor ------------------------------------------------------------------------------------------------
    async def _monitor(self) -> None:
        last_progress = 0.0
        interval = self.opts.progress_interval
        if interval is None:
            interval = 0.5 if sys.stderr.isatty() else 10.0
        last_rss = 0.0
        last_timeline = 0.0
        while not self._stop.is_set():
            await asyncio.sleep(self.opts.check_interval)
            now = time.monotonic()
            if now - last_rss >= 1.0:
                last_rss = now
                self._sample_rss(now)
            if now - last_timeline >= 1.0:
                last_timeline = now
                self.stats.timeline.append((round(now - self._t0, 2), self.stats.cases, len(self.store)))
            check_start = time.monotonic()
            obs = await self.checker.observe()
            if obs is None and self._rss_exceeded():
                obs = Observation("memory", "RSS grows with every replay",
                                  {"rss_baseline": self._rss_base,
                                   "rss": self.stats.rss[-1][1] if self.stats.rss else None})
                self._rss_flagged = True
            if obs is None:
                # every case finished before this clean check started has passed
                cutoff = check_start - 0.2
                while self.recent and self.recent[0].finished < cutoff:
                    self.recent.popleft()
            else:
                await self._bounded_triage(obs)
            if not self.opts.quiet and now - last_progress >= interval:
                last_progress = now
                self._progress()
        if not self.opts.quiet:
            self._progress(final=True)

    def _sample_rss(self, now: float) -> None:
        rss = self.target.rss()
        if rss is None:
            return
        self.stats.rss.append((round(now - self._t0, 2), rss))
        if self._rss_base is None and now - max(self._t0, self._rss_t) > 3.0:
            self._rss_base = rss

    def _rss_exceeded(self) -> bool:
        if self._rss_flagged or self._rss_base is None or not self.stats.rss:
            return False
        return self.stats.rss[-1][1] - self._rss_base > self.opts.rss_limit_mb * 1024 * 1024

    def _progress(self, final: bool = False) -> None:
        s = self.stats
        el = max(time.monotonic() - self._t0, 1e-6)
        rss = f" rss {s.rss[-1][1] / 1e6:.0f}MB" if s.rss else ""
        line = (f"[fuzz {el:6.1f}s/{self.opts.duration:g}s] cases {s.cases} ({s.cases / el:.0f}/s) "
                f"probes {self.checker.probes} findings {len(self.store)} ({self.store.events} events) "
                f"fields {len(self.gen.fields)} shapes {len(self.shapes)}{rss}")
        if sys.stderr.isatty() and not final:
            sys.stderr.write("\r" + line + " " * 4)
        else:
            sys.stderr.write(("\r" if sys.stderr.isatty() else "") + line + "\n")
        sys.stderr.flush()

    # -- triage -------------------------------------------------------------------------------------------------
    async def _pause(self) -> None:
        self._running.clear()
        deadline = time.monotonic() + self.opts.linger + 5
        while self.inflight and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _bounded_triage(self, obs: Observation) -> None:
        """Triage within the campaign's time: when it runs out, the problem is recorded with its suspects (not
        reproduced alone) and the campaign ends."""
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(self._triage(obs), timeout=max(0.0, self._hard - t0))
        except TimeoutError:
            ctx, self._triage_ctx = self._triage_ctx, None
            if ctx is not None:
                o, suspects = ctx
                o.detail = dict(o.detail, note="the campaign's time (--duration) ran out during the triage")
                self._record(o, suspects[-20:], reproduced=False)
            self.stats.triage_seconds += time.monotonic() - t0
            self._stop.set()
            self._running.set()

    async def _triage(self, obs: Observation) -> None:
        t0 = time.monotonic()
        self.stats.problems += 1
        self._triage_ctx = (obs, [r.case for r in self.recent])
        await self._pause()
        suspects = [r.case for r in self.recent]
        self._triage_ctx = (obs, suspects)
        self.recent.clear()
        if len(suspects) > self.opts.max_suspects:
            suspects = suspects[-self.opts.max_suspects:]
        known = self.store.findings.get(obs.key())
        enough = known is not None and (
            (known.reproduced and (not locationless(obs.symptom, obs.signature)
                                   or len(known.variants) >= MAX_VARIANTS or known.count >= 4 * MAX_VARIANTS))
            or (not known.reproduced and known.count >= 5))
        if not self.opts.quiet and not enough:
            sys.stderr.write(f"\n[fuzz] {obs.symptom}: {obs.signature} -- {len(suspects)} suspect case(s)\n")
        restarts = self.target.restarts
        restored = await self.checker.restore()
        if not restored:
            self.aborted = f"target did not recover after {obs.symptom}: {obs.signature}"
            self._triage_ctx = None
            self._record(obs, suspects, reproduced=False)
            self._stop.set()
            self._running.set()
            return
        if len(self.store) >= self.opts.max_findings or enough:
            self._triage_ctx = None
            if known:
                self.store.findings[obs.key()].count += 1
                self.store.events += 1
            culprit, seen, reproduced = None, obs, False
        else:
            if obs.symptom == "memory":
                culprit, seen = await self._bisect_memory(suspects, obs, deadline=t0 + self.opts.triage_seconds)
            else:
                culprit, seen = await self._bisect(suspects, obs, deadline=t0 + self.opts.triage_seconds)
            reproduced = culprit is not None
            if reproduced:
                self._record(seen, [culprit], reproduced=True)
            else:
                self._record(obs, suspects[-20:], reproduced=False)
        self._triage_ctx = None
        await self.checker.restore()
        if self.target.restarts != restarts:  # a new process: a new RSS baseline
            self._rss_base = None
            self._rss_t = time.monotonic()
        self.stats.triage_seconds += time.monotonic() - t0
        if self.opts.stop_on_finding:
            self._stop.set()
        # triage counts against --duration: the deadline stays where it is
        self._running.set()

    async def _bisect(self, suspects: list[FuzzCase], obs: Observation, *, deadline: float
                      ) -> tuple[FuzzCase | None, Observation]:
        """Find one case that shows the problem alone (most recent suspects first)."""
        group = list(suspects)
        seen = obs
        # first: the whole group again (is it reproducible at all?), then halves
        while group and time.monotonic() < deadline:
            if len(group) == 1:
                o = await self.checker.check(group[0])
                if same_problem(o, obs) or (o is not None and o.symptom == obs.symptom):
                    return group[0], o
                return None, seen
            mid = len(group) // 2
            late, early = group[mid:], group[:mid]
            o = await self.checker.check(late)
            if o is not None and (same_problem(o, obs) or o.symptom == obs.symptom):
                group, seen = late, o
                continue
            o = await self.checker.check(early)
            if o is not None and (same_problem(o, obs) or o.symptom == obs.symptom):
                group, seen = early, o
                continue
            # neither half alone: try each recent case alone, a few of them
            for c in reversed(group[-8:]):
                if time.monotonic() > deadline:
                    break
                o = await self.checker.check(c)
                if o is not None and o.symptom == obs.symptom:
                    return c, o
            # then the cases' connections all at once, as the campaign ran them (an interplay between cases,
            # e.g. a player of one case and a publisher of another on the same stream); the minimizer then
            # drops the connections that do not matter
            if time.monotonic() < deadline:
                merged = _merge(group[-40:])
                o = await self.checker.check(merged)
                if o is not None and (same_problem(o, obs) or o.symptom == obs.symptom):
                    return merged, o
            return None, seen
        return None, seen

    async def _growth(self, cases: list[FuzzCase], repeat: int) -> int:
        """RSS growth of the target (bytes) over ``repeat`` replays of ``cases``."""
        await asyncio.sleep(0.2)
        r0 = self.target.rss() or 0
        for _ in range(repeat):
            for c in cases:
                await self.checker.run(c)
            if self.target.alive() is False:
                break
        await asyncio.sleep(0.2)
        r1 = self.target.rss() or 0
        return r1 - r0

    async def _bisect_memory(self, suspects: list[FuzzCase], obs: Observation, *, deadline: float
                             ) -> tuple[FuzzCase | None, Observation]:
        """The suspect whose replays grow the target's RSS most (halves compared, then the winner confirmed)."""
        if self.target.rss() is None:
            return None, obs
        if self.target.restartable:
            self.target.restart()
        group = list(suspects)
        while len(group) > 1 and time.monotonic() < deadline:
            mid = len(group) // 2
            a, b = group[:mid], group[mid:]
            ga, gb = await self._growth(a, 3), await self._growth(b, 3)
            group = a if ga >= gb else b
        if not group:
            return None, obs
        repeat = 20
        g = await self._growth(group, repeat)
        per = g / repeat
        if per < 256 * 1024:  # less than 256 KiB kept per replay: not a leak we can pin on one case
            return None, obs
        return group[0], Observation("memory", "RSS grows with every replay",
                                     dict(obs.detail, growth_per_replay=int(per), replays=repeat))

    def _record(self, obs: Observation, cases: list[FuzzCase], *, reproduced: bool) -> None:
        case = cases[0] if len(cases) == 1 else _merge(cases)  # not reproduced: the suspects, all at once
        f = Finding(obs.symptom, obs.signature, case, self.target.describe(), obs.detail, reproduced,
                    seed=self.gen.seed)
        stored, new = self.store.add(f)
        self.checker.known.add((stored.symptom, stored.signature))
        if new:
            self.new_findings.append(stored)
        if not self.opts.quiet:
            sys.stderr.write(f"[fuzz] {'new' if new else 'known'} finding {stored.id} "
                             f"({'reproduced alone' if reproduced else 'not reproduced alone'}): "
                             f"{self.store.path(stored)}\n")

    # -- minimization -------------------------------------------------------------------------------------------
    async def minimize_findings(self) -> None:
        total = Budget(max_tests=10**9, max_seconds=self.opts.minimize_total_seconds)
        for f in self.new_findings:
            if total.spent() or not f.reproduced or f.symptom == "memory":
                continue
            want = Observation(f.symptom, f.signature, {})
            budget = Budget(self.opts.minimize_tests, min(self.opts.minimize_seconds,
                                                           total.max_seconds - (time.monotonic() - total.started)))
            if not self.opts.quiet:
                sys.stderr.write(f"[fuzz] minimizing {f.id} ({f.case.size()} bytes)...\n")
            small, stats = await minimize_case(f.case, self.checker.check, want, budget)
            f.minimized = stats
            if small.size() <= f.case.size():
                f.case = small
            self.store.save(f)
            await self.checker.restore()

    # -- main ---------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """The campaign, within ``duration`` of ``started`` (minus ``end_margin``): no case starts after the
        deadline, cases still in flight then are cancelled, triage is cut short at the end (the problem is then
        recorded with its suspects), and the final health check gets what is left. Minimization is separate
        (:meth:`minimize_findings`, its own bound: ``minimize_total_seconds``), after it."""
        self._t0 = time.monotonic()
        origin = self.opts.started if self.opts.started is not None else self._t0
        duration = self.opts.duration
        if self.opts.wall_limit is not None:
            duration = min(duration, self.opts.wall_limit)
        margin = self.opts.end_margin if self.opts.end_margin is not None else min(2.0, 0.02 * duration)
        self._hard = origin + duration - margin
        # room for the final health check: a healthy target answers in milliseconds
        reserve = min(self.opts.probe_timeout, 0.05 * duration) + 0.2
        self._deadline = max(self._t0, self._hard - reserve)
        try:
            restored = await asyncio.wait_for(self.checker.restore(), timeout=max(0.1, self._hard - self._t0))
        except TimeoutError:
            restored = False
        if not restored:
            self.aborted = "target is not healthy at the start (health probe failed)"
            self.elapsed = time.monotonic() - self._t0
            return
        workers = [asyncio.create_task(self._worker()) for _ in range(self.opts.concurrency)]
        monitor = asyncio.create_task(self._monitor())
        try:
            _, pending = await asyncio.wait(workers, timeout=max(0.0, self._deadline - time.monotonic()))
            for w in pending:  # cases in flight at the deadline: cancelled, not counted
                w.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            self._stop.set()
            self._running.set()
            try:
                await asyncio.wait_for(monitor, timeout=max(0.0, self._hard - time.monotonic()))
            except TimeoutError:
                pass
        # a last check: the cases of the final interval must pass too
        left = self._hard - time.monotonic()
        try:
            obs = await asyncio.wait_for(self.checker.observe(), timeout=max(0.0, left))
        except TimeoutError:
            obs = None
            self.final_check = ("the final health check did not finish within the campaign's time: the cases of "
                                "the last check interval were not checked")
        if obs is not None:
            self._stop.clear()
            await self._bounded_triage(obs)
            self._stop.set()
        self.elapsed = time.monotonic() - self._t0
        if self.opts.minimize and self.new_findings:
            t0 = time.monotonic()
            await self.minimize_findings()
            self.minimize_elapsed = time.monotonic() - t0

    def summary(self) -> dict:
        s = self.stats
        el = getattr(self, "elapsed", time.monotonic() - self._t0)
        fuzz_time = max(el - s.triage_seconds, 1e-6)
        lat = sorted(self.checker.probe_latencies)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 4) if lat else None

        return {
            "mode": "network",
            "target": self.target.describe(),
            "seed": self.gen.seed,
            "duration_requested": self.opts.duration,
            "elapsed": round(el, 2),
            "final_check": self.final_check,
            "minimize_seconds": round(getattr(self, "minimize_elapsed", 0.0), 2),
            "minimize_bound": self.opts.minimize_total_seconds if self.opts.minimize else 0,
            "triage_seconds": round(s.triage_seconds, 2),
            "cases": s.cases,
            "cases_per_second": round(s.cases / fuzz_time, 1),
            "connections": s.conns,
            "bytes_sent": s.bytes_sent,
            "outcomes": dict(s.outcomes),
            "generators": {k: {"cases": v["cases"], "outcomes": dict(v["outcomes"])}
                           for k, v in sorted(s.by_kind.items())},
            "generator_errors": dict(self.gen.errors),
            "draw_failures": dict(self.gen.drawer.failures),
            "schema_draws": self.gen.drawer.draws,
            "fields_exercised": len(self.gen.fields),
            "fields_by_codec": self.gen.fields.by_codec(),
            "fields": sorted(self.gen.fields.counts),
            "response_shapes": len(self.shapes),
            "corpus": {"seeds": len(self.gen.corpus.seeds), "saved": self.gen.corpus.saved,
                       "dir": str(self.gen.corpus.dir) if self.gen.corpus.dir else None},
            "probes": {"count": self.checker.probes, "failures": self.checker.probe_failures, "p50": pct(0.5),
                       "p99": pct(0.99), "max": lat[-1] if lat else None},
            "problems": s.problems,
            "restarts": self.target.restarts,
            "rss": s.rss[-600:],
            "rss_baseline": self._rss_base,
            "timeline": s.timeline[-600:],
            "aborted": self.aborted,
            "log_notes": dict(self.target.watcher.notes.most_common(40)),
            "log_lines": self.target.watcher.lines,
            "findings": [{"id": f.id, "symptom": f.symptom, "signature": f.signature, "count": f.count,
                          "reproduced": f.reproduced, "size": f.case.size(), "minimized": f.minimized,
                          "file": str(self.store.path(f)), "description": f.case.describe()[:500]}
                         for f in self.store.all()],
            "pid": os.getpid(),
        }


def _merge(cases: list[FuzzCase]) -> FuzzCase:
    """One case with every connection of ``cases``, run concurrently (each keeps its own start delay)."""
    conns = [c for case in cases for c in case.conns]
    return FuzzCase("group", conns, -1, f"{len(cases)} cases' connections at once: "
                + ", ".join(f"{c.kind}#{c.index}" for c in cases[:40]))
