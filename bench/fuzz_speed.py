"""Fuzzing speed: network cases per second against the local reference server, inputs per second in process.

    python bench/fuzz_speed.py                        # both, 20 s each
    python bench/fuzz_speed.py --network-seconds 60 --inproc-seconds 60 --jobs 2
    python bench/fuzz_speed.py --preset nginx-rtmp    # the network half against another server

Targets (issue 5): >= 500 network cases/s against the local reference server on 2 cores, >= 20,000 inputs/s in
process. "steady" excludes the first seconds (server start, schema pools filling). Results also go to
``reports/fuzz/bench.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fuzz.findings import FindingStore  # noqa: E402
from fuzz.generators import Generator  # noqa: E402
from fuzz.inproc import run_parallel  # noqa: E402
from fuzz.runner import Campaign, Options  # noqa: E402
from fuzz.target import preset as target_preset  # noqa: E402

NETWORK_TARGET = 500.0
INPROC_TARGET = 20000.0


def _steady(timeline: list, skip: float) -> float | None:
    pts = [p for p in timeline if p[0] >= skip]
    if len(pts) < 2:
        return None
    (t0, c0, _), (t1, c1, _) = pts[0], pts[-1]
    return (c1 - c0) / max(t1 - t0, 1e-6)


def bench_network(seconds: float, preset: str, concurrency: int, tmp: Path) -> dict:
    target = target_preset(preset).start()
    try:
        gen = Generator(1)
        camp = Campaign(target, gen, FindingStore(tmp / "findings"),
                        Options(duration=seconds, quiet=True, concurrency=concurrency, minimize=False,
                                max_findings=0))  # speed only: problems are restored from, not triaged
        try:
            import uvloop

            uvloop.run(camp.run())
        except ImportError:
            asyncio.run(camp.run())
        s = camp.summary()
    finally:
        target.stop()
    return {"target": preset, "seconds": seconds, "concurrency": concurrency, "cases": s["cases"],
            "cases_per_second": s["cases_per_second"], "steady_cases_per_second": _steady(s["timeline"], 3.0),
            "probes": s["probes"]["count"], "problems": s["problems"], "outcomes": s["outcomes"]}


def bench_inproc(seconds: float, jobs: int) -> dict:
    t0 = time.monotonic()
    res = run_parallel(1, seconds, jobs, quiet=True)
    return {"seconds": seconds, "jobs": jobs, "inputs": res["inputs"],
            "inputs_per_second": round(res["inputs"] / seconds, 1),
            "wall_seconds": round(time.monotonic() - t0, 1),
            "by_target": {k: v.get("inputs", 0) for k, v in sorted(res["stats"].items())},
            "findings": len(res["findings"])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--network-seconds", type=float, default=20.0)
    p.add_argument("--inproc-seconds", type=float, default=20.0)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    p.add_argument("--concurrency", type=int, default=48)
    p.add_argument("--preset", default="reference")
    p.add_argument("--skip-network", action="store_true")
    p.add_argument("--skip-inproc", action="store_true")
    p.add_argument("--out", default=str(ROOT / "reports" / "fuzz" / "bench.json"))
    args = p.parse_args(argv)
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="fuzz-bench-"))
    out: dict = {"cpus": os.cpu_count(), "load_before": os.getloadavg()}
    if not args.skip_network:
        out["network"] = n = bench_network(args.network_seconds, args.preset, args.concurrency, tmp)
        ok = n["cases_per_second"] >= NETWORK_TARGET
        print(f"network  {n['target']}: {n['cases_per_second']:.0f} cases/s (steady {n['steady_cases_per_second'] or 0:.0f}),"
              f" {n['cases']} cases in {n['seconds']:g}s, concurrency {n['concurrency']}"
              f"  [target >= {NETWORK_TARGET:.0f}: {'ok' if ok else 'BELOW'}]")
    if not args.skip_inproc:
        out["inproc"] = i = bench_inproc(args.inproc_seconds, args.jobs)
        ok = i["inputs_per_second"] >= INPROC_TARGET
        print(f"inproc   {i['inputs_per_second']:.0f} inputs/s over {i['jobs']} process(es), {i['inputs']} inputs in "
              f"{i['seconds']:g}s  [target >= {INPROC_TARGET:.0f}: {'ok' if ok else 'BELOW'}]")
    out["load_after"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"load average before/after: {out['load_before'][0]:.2f} / {out['load_after'][0]:.2f} ({out['cpus']} cpus); "
          f"{args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
