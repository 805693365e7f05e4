"""In-process fuzzing of the rtmpspec parsers: many inputs per second, any undocumented exception is a finding.

Targets (each ``fn(data, params)``; ``params`` are drawn per input and stored with a finding, so a finding
replays exactly):

=================  =============================================================================================
chunkreader        ``ChunkReader`` (strict or lenient, a chunk size, input fed in pieces), every message read
connection         server ``Connection`` (handshake on or off, strict or not) fed in pieces, events drained, EOF
client             client ``Connection`` fed a server's bytes (S0/S1/S2 + chunk stream)
handshake          ``HandshakeServer`` fed C0/C1/C2 flights
amf0 / amf3        ``amf0.decode_all`` / ``amf3.decode_all``
command            ``Command.from_message`` / ``DataMessage.from_message`` (types 15, 17, 18, 20)
media              ``parse_audio_tag`` / ``parse_video_tag`` (strict or not) and ``describe_*``
aggregate          ``split_aggregate``
flv                ``FLVReader`` (lenient or not) fed in pieces, then end of file
codecs             every registered codec's ``parse`` (schema codecs also round-trip: a drawn value's bytes
                   must parse: a DecodeError there is a finding too)
=================  =============================================================================================

Documented errors are :class:`rtmpspec.errors.RTMPError` and subclasses (ProtocolError, DecodeError,
LimitExceeded, ...). Anything else, an input that takes longer than ``slow_seconds``, a reader that holds more
than its configured bounds, or memory growth past ``memory_limit_mb`` is a finding. Findings are minimized by
delta debugging (bounded) and saved like network findings (``mode: inproc``); ``python -m fuzz replay FILE``
re-runs one. Seeds: schema draws (``fuzz.draw``), the golden vectors, the corpus sessions.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtmpspec import craft, registry

from .draw import DrawBudget, Drawer, DrawFailed, FieldCounter, Pool, source
from .findings import FindingStore
from .inproc_replay import minimize_input, replay_finding, to_finding
from .inproc_targets import (
    MAX_INPUT,
    SCHEDULED,
    SLOW_SECONDS,
    TARGETS,
    WEIGHTS,
    InputTimeout,
    classify,
    run_target,
    watchdog,
)
from .mutators import Seed, mutate_bytes, mutate_fields, splice
from .report import DEFAULT_DIR, write_reports

__all__ = ["TARGETS", "run_target", "classify", "InprocFuzzer", "main", "replay_finding"]

GOLDEN = Path(__file__).resolve().parent.parent / "golden"

# -- seeds --------------------------------------------------------------------------------------------------------
_GOLDEN_TARGET = {"chunk.stream": "chunkreader", "amf0.values": "amf0", "amf0.value": "amf0", "amf3.values": "amf3",
                  "amf3.value": "amf3", "media.video_tag": "media", "media.audio_tag": "media", "flv.file": "flv",
                  "messages.aggregate": "aggregate", "handshake.client": "handshake", "handshake.c0c1": "handshake",
                  "handshake.server": "client"}
_POOL_TARGET = {"amf0.value": "amf0", "amf3.value": "amf3", "media.video_tag": "media", "media.audio_tag": "media",
                "messages.aggregate": "aggregate", "chunk.header": "chunkreader"}


def golden_seeds() -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for man in sorted(GOLDEN.glob("*/manifest.json")):
        try:
            vectors = json.loads(man.read_text())["vectors"]
        except (OSError, ValueError, KeyError):
            continue
        for v in vectors:
            try:
                data = (man.parent / v["file"]).read_bytes()
            except OSError:
                continue
            if len(data) > MAX_INPUT:
                data = data[:MAX_INPUT]
            codec = v.get("codec", "")
            out.setdefault(f"codec:{codec}", []).append(data)
            t = _GOLDEN_TARGET.get(codec)
            if t:
                out.setdefault(t, []).append(data)
            if codec == "chunk.stream":
                out.setdefault("connection-nohs", []).append(data)
    return out


class InprocFuzzer:
    def __init__(self, seed: int, *, targets: list[str] | None = None, slow_seconds: float = SLOW_SECONDS,
                 corpus_dir: str | None = None, draw_budget: float = 0.04) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.drawer = Drawer(self.rng)
        self.fields = FieldCounter()
        self.budget = DrawBudget(draw_budget, initial=1.0)
        self.slow_seconds = slow_seconds
        names = targets or list(SCHEDULED)
        self.targets = [t for t in names if t in TARGETS]
        self.weights = [WEIGHTS.get(t, 1) for t in self.targets]
        self.cost = {t: 1e-4 for t in self.targets}  # seconds per input (moving average)
        self._reschedule()
        self.pools: dict[str, Pool] = {}
        registry.load_all()
        for name in registry.CODECS:
            src = source(name)
            if src is not None:
                self.pools[name] = Pool(src, self.drawer, self.fields, size=128, min_size=2, fresh=0.02,
                                        budget=self.budget)
                self.pools[name].on_new = self._roundtrip
        self.seeds = golden_seeds()
        from .corpus import Corpus

        corpus = Corpus(corpus_dir, "live", random.Random(seed))
        self.sessions = [s for s in corpus.seeds]
        # parsed once: chunk layouts of the session bodies (after the handshake) and of the whole sessions
        self.bodies = [Seed(s.data[s.handshake_length:], s.origin) for s in self.sessions]
        self.bodies += [Seed(d, "golden") for d in self.seeds.get("chunkreader", [])]
        for b in self.bodies + self.sessions:
            b.chunks  # noqa: B018 - computed and cached now
        self.codecs = sorted(registry.CODECS)
        self._s1 = bytes(1536)
        self.stats: dict[str, Counter] = {t: Counter() for t in TARGETS}
        self.findings: dict[str, dict] = {}
        self.inputs = 0
        self.recent: deque = deque(maxlen=200)
        self.exc_types: Counter = Counter()

    def _roundtrip(self, codec: str, value: Any, data: bytes) -> None:
        """Every fresh schema draw: its built bytes must parse (round-trip target, counted as one input)."""
        self._record("roundtrip", data, {"codec": codec}, run_target("roundtrip", data, {"codec": codec}), 0.0)

    # -- inputs ------------------------------------------------------------------------------------------------
    def _pieces(self, n: int) -> list[int]:
        r = self.rng.random()
        if r < 0.5:
            return []
        if r < 0.8:
            return [self.rng.randint(1, max(1, n)) for _ in range(self.rng.randint(1, 4))]
        return [self.rng.choice((1, 2, 3, 7, 64))] * min(64, n)

    def _pool_bytes(self, codec: str) -> bytes | None:
        p = self.pools.get(codec)
        if p is None:
            return None
        try:
            return p.get_bytes(self.rng)
        except DrawFailed:
            return None

    def _prefix(self, seed: Seed) -> Seed:
        """The seed cut after its first k chunks (k small most of the time): short inputs, parsed layout kept."""
        chunks = seed.chunks
        if not chunks:
            return Seed(seed.data[:4096], seed.origin)
        return seed.first_chunks(min(len(chunks), int(self.rng.expovariate(1 / 3)) + 1))

    def _session_input(self, seed: Seed) -> bytes:
        s = self._prefix(seed)
        r = self.rng.random()
        if r < 0.45:
            return mutate_fields(self.rng, s)[0]
        if r < 0.9:
            return mutate_bytes(self.rng, s.data, keep=s.handshake_length if self.rng.random() < 0.8 else 0)[0]
        return s.data

    def _havoc(self, data: bytes) -> bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.1:
            return data
        if r < 0.85:
            return mutate_bytes(rng, data)[0][:MAX_INPUT]
        other = self._any_seed()
        return splice(rng, data, other)[0][:MAX_INPUT]

    def _any_seed(self) -> bytes:
        key = self.rng.choice(list(self.seeds)) if self.seeds else None
        if key and self.seeds[key]:
            return self.rng.choice(self.seeds[key])
        return self.rng.randbytes(32)

    def make_input(self, target: str) -> tuple[bytes, dict]:
        rng = self.rng
        p: dict[str, Any] = {}
        if target == "chunkreader":
            p = {"strict": rng.random() < 0.6,
                 "chunk_size": 1 if rng.random() < 0.04 else rng.choice((128, 128, 128, 4096, 65536, 60)),
                 "record": rng.random() < 0.05}
            r = rng.random()
            if r < 0.75 and self.bodies:
                data = self._session_input(rng.choice(self.bodies))
            else:
                hdr = self._pool_bytes("chunk.header") or b"\x03"
                data = self._havoc(hdr + rng.randbytes(rng.choice((0, 8, 128, 300))))
            data = data[:MAX_INPUT]
            p["pieces"] = self._pieces(len(data))
        elif target in ("connection", "client"):
            p = {"strict": rng.random() < 0.5, "handshake": rng.random() < 0.4, "serve": rng.random() < 0.4}
            if target == "client":  # a server's answer: S0+S1+S2, then a chunk stream (server side captures)
                body = self._session_input(rng.choice(self.bodies)) if self.bodies else b""
                data = b"\x03" + self._s1 + self._s1 + body
            elif p["handshake"] and self.sessions:
                data = self._session_input(rng.choice(self.sessions))
            else:
                data = self._session_input(rng.choice(self.bodies)) if self.bodies else b""
            if rng.random() < 0.01:  # past the handshake's and the reader's buffer bounds
                data += bytes(rng.choice((65537, 70000, 140000)))
            p["pieces"] = self._pieces(len(data))
        elif target == "handshake":
            c1 = self._pool_bytes("handshake.c1") or bytes(1536)
            c2 = self._pool_bytes("handshake.c2") or bytes(1536)
            base = bytes([rng.choice((3, 3, 3, 6, 0, 255))]) + c1 + c2
            if rng.random() < 0.3:
                base = craft.c0() + craft.c1_random_digest(rng) + c2
            data = self._havoc(base) if rng.random() < 0.6 else base
            p = {"digest": rng.choice(("auto", True, False)), "pieces": self._pieces(len(data))}
        elif target in ("amf0", "amf3"):
            r = rng.random()
            codec = f"{target}.value"
            if r < 0.35:
                data = self._pool_bytes(codec) or b""
                if rng.random() < 0.5:
                    data = self._havoc(data)
            elif r < 0.6 and self.seeds.get(target):
                data = self._havoc(rng.choice(self.seeds[target]))
            elif target == "amf0":
                from . import hostile

                data = hostile.hostile_amf0(rng, max_depth=rng.choice((70, 70, 130, 300, 1000)))[1]
                if rng.random() < 0.3:
                    data = self._havoc(data)
            else:
                from . import hostile

                data = hostile.amf3_hostile(rng)[1][1:]
                if rng.random() < 0.3:
                    data = self._havoc(data)
        elif target == "command":
            t = rng.choice((20, 20, 17, 18, 15))
            v = self._pool_bytes("amf0.value") or b"\x05"
            from . import hostile

            body = rng.choice((b"\x02\x00\x07connect\x00\x3f\xf0\x00\x00\x00\x00\x00\x00", b"\x02\x00\x01x", b""))
            body += v if rng.random() < 0.7 else hostile.hostile_amf0(rng, max_depth=300)[1]
            if t in (15, 17):
                body = rng.choice((b"\x00", b"\x00", b"\x01", b"")) + body
            data = self._havoc(body) if rng.random() < 0.5 else body
            p = {"type": t}
        elif target == "media":
            kind = rng.choice(("video", "audio"))
            r = rng.random()
            if r < 0.4:
                data = self._pool_bytes(f"media.{kind}_tag") or b""
            elif r < 0.7 and self.seeds.get("media"):
                data = rng.choice(self.seeds["media"])
                kind = "video" if data[:1] and (data[0] & 0x0F) in (2, 3, 4, 5, 6, 7, 12) or data[:1] >= b"\x80" \
                    else kind
            else:
                data = rng.randbytes(rng.randint(0, 40))
            if rng.random() < 0.6:
                data = self._havoc(data)
            p = {"kind": kind, "strict": rng.random() < 0.3}
        elif target == "aggregate":
            data = self._pool_bytes("messages.aggregate") or b""
            if rng.random() < 0.7:
                data = self._havoc(data)
            p = {"ts": rng.choice((0, 1000, 0xFFFFFFFF))}
        elif target == "flv":
            base = rng.choice(self.seeds.get("flv", [b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"]))
            data = self._havoc(base[:MAX_INPUT])
            p = {"lenient": rng.random() < 0.5, "pieces": self._pieces(len(data))}
        elif target == "codecs":
            codec = rng.choice(self.codecs)
            seeds = self.seeds.get(f"codec:{codec}")
            data = rng.choice(seeds) if seeds and rng.random() < 0.6 else (self._pool_bytes(codec) or rng.randbytes(16))
            data = self._havoc(data)
            p = {"codec": codec}
            if registry.CODECS[codec].streaming:
                p["pieces"] = self._pieces(len(data))
        elif target == "control":
            t = rng.choice((1, 2, 3, 4, 5, 6))
            name = {1: "control.set_chunk_size", 2: "control.abort", 3: "control.acknowledgement",
                    4: "control.user_control", 5: "control.window_ack_size", 6: "control.set_peer_bandwidth"}[t]
            data = self._pool_bytes(name) or b""
            if rng.random() < 0.6:
                data = self._havoc(data)[:128]
            p = {"type": rng.choice((t, t, t, 1, 4)), "strict": rng.random() < 0.5, "msid": rng.choice((0, 0, 0, 1))}
        elif target == "dissect":
            t = rng.choice((1, 2, 3, 4, 5, 6, 8, 9, 15, 17, 18, 20, 22, 7, 0))
            src = {8: "media.audio_tag", 9: "media.video_tag", 22: "messages.aggregate", 4: "control.user_control",
                   6: "control.set_peer_bandwidth"}.get(t, "amf0.value")
            data = self._pool_bytes(src) or b""
            if t in (15, 17):
                data = b"\x00" + data
            if rng.random() < 0.6:
                data = self._havoc(data)
            p = {"type": t}
        elif target == "roundtrip":
            codec = rng.choice([c for c in self.codecs if c in self.pools])
            data = self._pool_bytes(codec) or b""
            p = {"codec": codec}
        else:
            raise ValueError(target)
        return bytes(data), p

    # -- loop --------------------------------------------------------------------------------------------------
    def _reschedule(self) -> None:
        """Time-balanced scheduling: each target gets CPU time in proportion to its weight, so fast parsers see
        many more inputs than slow ones (costs are measured: generation + run, moving average)."""
        w = [self.weights[i] / max(self.cost[t], 1e-6) for i, t in enumerate(self.targets)]
        total = 0.0
        self._cum = []
        for x in w:
            total += x
            self._cum.append(total)
        self._total = total

    def _pick(self) -> str:
        x = self.rng.random() * self._total
        for t, c in zip(self.targets, self._cum, strict=True):
            if x < c:
                return t
        return self.targets[-1]

    def step(self) -> None:
        target = self._pick()
        g0 = time.perf_counter()
        data, params = self.make_input(target)
        t0 = time.perf_counter()
        exc = run_target(target, data, params, timeout=self.slow_seconds * 2)
        dt = time.perf_counter() - t0
        self.cost[target] = 0.98 * self.cost[target] + 0.02 * (dt + t0 - g0)
        if not self.inputs & 1023:
            self._reschedule()
        self._record(target, data, params, exc, dt)

    def _record(self, target: str, data: bytes, params: dict, exc: BaseException | None, dt: float) -> None:
        self.inputs += 1
        st = self.stats[target]
        st["inputs"] += 1
        self.recent.append((target, data, params))
        if exc is None:
            st["accepted"] += 1
            sig = None
        elif isinstance(exc, InputTimeout):
            sig = f"slow: more than {self.slow_seconds * 2:g}s"
        else:
            sig = classify(exc)
            if sig is None:
                st["rejected"] += 1
                self.exc_types[type(exc).__name__] += 1
        if sig is None and dt > self.slow_seconds:
            sig = f"slow: {dt:.1f}s for {len(data)} bytes"
        if sig is not None:
            st["findings"] += 1
            key = f"{target}|{sig}"
            f = self.findings.get(key)
            if f is None:
                tb = "".join(traceback.format_exception(exc)) if exc is not None else ""
                self.findings[key] = {"target": target, "signature": sig, "data": data.hex(), "params": params,
                                      "traceback": tb[-6000:], "count": 1, "seconds": round(dt, 3)}
            else:
                f["count"] += 1
                if len(data) * 2 < len(f["data"]):
                    f["data"], f["params"] = data.hex(), params

    def run(self, duration: float, max_inputs: int = 10**12, progress: Callable[[int], None] | None = None) -> None:
        deadline = time.monotonic() + duration
        next_check = 0
        with watchdog():
            while self.inputs < max_inputs:
                self.step()
                if self.inputs >= next_check:
                    next_check = self.inputs + 256
                    if time.monotonic() >= deadline:
                        break
                    if progress is not None:
                        progress(self.inputs)

    def result(self) -> dict:
        return {"inputs": self.inputs, "stats": {k: dict(v) for k, v in self.stats.items()},
                "findings": self.findings, "fields": dict(self.fields.counts), "draws": self.drawer.draws,
                "exc_types": dict(self.exc_types)}


# -- parallel campaign ----------------------------------------------------------------------------------------------
def _worker(job: int, seed: int, end: float, targets, counter, out_q, memory_limit_mb: float,
            corpus_dir) -> None:
    try:
        import resource

        if memory_limit_mb:
            soft = int(memory_limit_mb * 1024 * 1024)
            resource.setrlimit(resource.RLIMIT_AS, (soft, resource.RLIM_INFINITY))
    except (ImportError, ValueError, OSError):
        pass
    fz = InprocFuzzer(seed * 1000 + job, targets=targets, corpus_dir=corpus_dir)
    last = [0]

    def progress(n):
        with counter.get_lock():
            counter.value += n - last[0]
        last[0] = n

    fz.run(max(0.0, end - time.monotonic()), progress=progress)  # the same end for every worker (monotonic clock)
    progress(fz.inputs)
    out_q.put(fz.result())


def run_parallel(seed: int, duration: float, jobs: int, *, targets=None, memory_limit_mb: float = 4096,
                 corpus_dir=None, quiet: bool = False, progress_interval: float | None = None,
                 started: float | None = None) -> dict:
    """Workers fuzz until ``started + duration`` (minus a margin for collecting results and the report), so the
    campaign's wall time is ``duration`` from the command's start."""
    t0 = time.monotonic()
    started = t0 if started is None else started
    end = started + duration - min(1.0, 0.03 * duration)
    ctx = mp.get_context("fork")
    counter = ctx.Value("q", 0)
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(j, seed, end, targets, counter, q, memory_limit_mb, corpus_dir),
                         daemon=True) for j in range(jobs)]
    for p in procs:
        p.start()
    results = []
    interval = progress_interval or (0.5 if sys.stderr.isatty() else 10.0)
    last = 0.0
    deadline = end + 5.0  # workers stop at `end` (one input takes at most 2 s: the watchdog); then they are killed
    while len(results) < jobs and time.monotonic() < deadline:
        try:
            results.append(q.get(timeout=0.2))
        except Exception:  # queue.Empty
            pass
        now = time.monotonic()
        if not quiet and now - last >= interval:
            last = now
            n = counter.value
            sys.stderr.write(f"{chr(13) if sys.stderr.isatty() else ''}[inproc {now - t0:6.1f}s/{duration:g}s] "
                             f"inputs {n} ({n / max(now - t0, 1e-6):.0f}/s){'' if sys.stderr.isatty() else chr(10)}")
            sys.stderr.flush()
        if all(not p.is_alive() for p in procs) and q.empty():
            break
    elapsed = time.monotonic() - t0
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
    crashed = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    merged: dict[str, Any] = {"inputs": 0, "stats": {}, "findings": {}, "fields": Counter(), "draws": 0,
                              "exc_types": Counter(), "elapsed": elapsed, "worker_exits": crashed}
    for r in results:
        merged["inputs"] += r["inputs"]
        merged["draws"] += r["draws"]
        merged["fields"].update(r["fields"])
        merged["exc_types"].update(r["exc_types"])
        for t, st in r["stats"].items():
            agg = merged["stats"].setdefault(t, Counter())
            agg.update(st)
        for k, f in r["findings"].items():
            old = merged["findings"].get(k)
            if old is None:
                merged["findings"][k] = f
            else:
                old["count"] += f["count"]
                if len(f["data"]) < len(old["data"]):
                    old["data"], old["params"] = f["data"], f["params"]
    return merged


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    p = argparse.ArgumentParser(prog="python -m fuzz inproc", description="In-process fuzzing of the rtmpspec parsers.")
    p.add_argument("--duration", type=float, default=60.0,
                   help="wall-time bound of the campaign in seconds (minimizing findings comes after: at most 20 s "
                        "each)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--targets", help=f"comma-separated subset of: {', '.join(TARGETS)}")
    p.add_argument("--corpus", help="extra seed sessions (*.bin)")
    p.add_argument("--reports-dir", "--report-dir", dest="reports_dir", default=str(DEFAULT_DIR), metavar="DIR",
                   help=f"where the findings and the summary go (default: {DEFAULT_DIR})")
    p.add_argument("--memory-limit-mb", type=float, default=4096, help="address-space limit per worker")
    p.add_argument("--no-minimize", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--progress-interval", type=float, default=None)
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    targets = [t.strip() for t in args.targets.split(",")] if args.targets else None
    if targets:
        bad = [t for t in targets if t not in TARGETS]
        if bad:
            print(f"unknown target(s) {bad}; one of {list(TARGETS)}", file=sys.stderr)
            return 2
    res = run_parallel(seed, args.duration, max(1, args.jobs), targets=targets, memory_limit_mb=args.memory_limit_mb,
                       corpus_dir=args.corpus, quiet=args.quiet, progress_interval=args.progress_interval,
                       started=started)
    if res["findings"] and not args.no_minimize and not args.quiet:
        sys.stderr.write(f"\ninproc: minimizing {len(res['findings'])} finding(s), at most 20 s each\n")
    report_dir = Path(args.reports_dir)
    store = FindingStore(report_dir / "findings")
    for f in res["findings"].values():
        data = bytes.fromhex(f["data"])
        minimized = None
        if not args.no_minimize:
            small, stats = minimize_input(f["target"], data, f["params"], f["signature"])
            f["data"], minimized = small.hex(), stats
            f["params"] = stats.get("params", f["params"])
        fd = to_finding(f, seed)
        fd.minimized = minimized
        fd.original_size = len(data)
        store.add(fd)
    fields = FieldCounter()
    fields.merge(dict(res["fields"]))
    summary = {
        "mode": "inproc", "seed": seed, "jobs": args.jobs, "elapsed": round(res["elapsed"], 2),
        "duration_requested": args.duration, "inputs": res["inputs"],
        "inputs_per_second": round(res["inputs"] / max(args.duration, 1e-6), 1),
        "targets": {k: {"inputs": v.get("inputs", 0), "rejected": v.get("rejected", 0),
                        "accepted": v.get("accepted", 0), "findings": v.get("findings", 0)}
                    for k, v in sorted(res["stats"].items())},
        "documented_errors": dict(res["exc_types"]), "schema_draws": res["draws"],
        "fields_exercised": len(fields), "fields_by_codec": fields.by_codec(), "fields": sorted(fields.counts),
        "worker_exits": res["worker_exits"],
        "findings": [{"id": f.id, "symptom": f.symptom, "signature": f.signature, "count": f.count,
                      "reproduced": f.reproduced, "size": f.case.size(), "minimized": f.minimized,
                      "file": str(store.path(f)), "description": f.case.describe()[:300]} for f in store.all()],
    }
    jp, hp = write_reports(summary, report_dir, name="inproc-summary")
    if not args.quiet:
        sys.stderr.write(f"\ninproc: {res['inputs']} inputs ({summary['inputs_per_second']}/s over {args.jobs} "
                         f"job(s)), {len(store)} finding(s); report {jp} {hp}\n")
        for f in store.all():
            sys.stderr.write(f"  {f.signature} (x{f.count}) {store.path(f)}\n")
    if res["worker_exits"]:
        sys.stderr.write(f"inproc: worker(s) died with exit codes {res['worker_exits']}\n")
    return 1 if len(store) or res["worker_exits"] else 0
