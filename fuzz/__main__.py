"""``python -m fuzz`` / ``rtmp-fuzz``: fuzzing campaigns against RTMP servers.

    python -m fuzz --target 127.0.0.1:1935 --duration 60 --seed 1 --corpus fuzz-corpus/
    python -m fuzz --duration 600                          # embedded reference server (started and restarted here)
    python -m fuzz --preset nginx-rtmp --duration 120      # a server the fuzzer starts (nginx-rtmp, node-media-server)
    python -m fuzz replay reports/fuzz/findings/<id>.json --target 127.0.0.1:1935
    python -m fuzz minimize reports/fuzz/findings/<id>.json --target 127.0.0.1:1935
    python -m fuzz inproc --duration 60 --jobs 2           # the rtmpspec parsers, in process
    python -m fuzz capture --out fuzz/seeds/                # record ffmpeg sessions into seeds

Exit status: 0 no finding, 1 findings, 2 usage error or unusable target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path

from .report import DEFAULT_DIR

SUBCOMMANDS = ("run", "replay", "minimize", "inproc", "capture")


def _add_target_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("target (default: the embedded reference server)")
    g.add_argument("--target", metavar="HOST:PORT", help="a running server (loopback only)")
    g.add_argument("--target-pid", type=int, help="its process id: exit and RSS are watched")
    g.add_argument("--target-log", help="its log file: tailed for crashes and errors")
    g.add_argument("--preset", choices=("reference", "nginx-rtmp", "node-media-server"),
                   help="start this server ourselves on a free loopback port (restarted after a crash)")
    g.add_argument("--spawn", metavar="CMD", help="start this command ourselves ({port} and {dir} substituted; "
                   "without {port} it must print 'listening rtmp://HOST:PORT')")
    g.add_argument("--workdir", help="directory for a spawned server's files")
    g.add_argument("--nms-dir", help="npm install directory of node-media-server (preset node-media-server)")
    g.add_argument("--log-ignore", action="append", default=[], metavar="REGEX",
                   help="log lines matching this are not findings (repeatable)")
    g.add_argument("--app", default="live", help="application name used by sessions and the probe")
    g.add_argument("--probe-timeout", type=float, default=3.0)
    g.add_argument("--hang-timeout", type=float, default=10.0)
    g.add_argument("--slow-threshold", type=float, default=1.5,
                   help="a probe slower than this (seconds) is a 'slow' finding")


def _make_target(args):
    from .netio import check_loopback, hostport
    from .target import external, preset, spawned

    if args.target:
        host, port = hostport(args.target)
        check_loopback(host)
        return external(host, port, pid=args.target_pid, log=args.target_log, ignore=args.log_ignore)
    if args.spawn:
        import shlex

        t = spawned(shlex.split(args.spawn), name=args.spawn.split()[0], workdir=args.workdir,
                    ignore=args.log_ignore)
    else:
        t = preset(args.preset or "reference", workdir=args.workdir, nms_dir=args.nms_dir, ignore=args.log_ignore)
    t.start()
    check_loopback(t.host)
    return t


def _weights(text: str | None) -> dict | None:
    if not text:
        return None
    from .generators import DEFAULT_WEIGHTS

    w = {k: 0.0 for k in DEFAULT_WEIGHTS}
    for item in text.split(","):
        name, _, val = item.partition("=")
        if name.strip() not in w:
            raise SystemExit(f"unknown generator {name!r} (one of {', '.join(DEFAULT_WEIGHTS)})")
        w[name.strip()] = float(val or DEFAULT_WEIGHTS[name.strip()])
    return w


# -- run ---------------------------------------------------------------------------------------------------------
def add_reports_dir(p: argparse.ArgumentParser) -> None:
    """``--reports-dir``, as in the conformance battery (``--report-dir`` still works)."""
    p.add_argument("--reports-dir", "--report-dir", dest="reports_dir", default=str(DEFAULT_DIR), metavar="DIR",
                   help=f"where the findings and the JSON/HTML summary go (default: {DEFAULT_DIR})")


def cmd_run(argv: list[str]) -> int:
    started = time.monotonic()
    p = argparse.ArgumentParser(prog="python -m fuzz", description="Fuzzing campaign against an RTMP server.")
    _add_target_args(p)
    p.add_argument("--duration", type=float, default=60.0,
                   help="wall-time bound of the campaign, in seconds: starting the target, fuzzing, triage of what "
                        "it finds, the final check and the report all fit in it; minimizing new findings comes "
                        "after, bounded by --minimize-total-seconds")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    p.add_argument("--corpus", help="seed corpus directory (read; new interesting cases are added)")
    p.add_argument("--max-cases", type=int, default=10**9)
    p.add_argument("--concurrency", type=int, default=48, help="cases in flight")
    p.add_argument("--check-interval", type=float, default=0.1, help="seconds between health checks")
    p.add_argument("--generators", help="weights, e.g. amf=3,session=1 (others 0)")
    p.add_argument("--fresh", type=float, default=0.25, help="probability of a fresh schema draw per pool use")
    add_reports_dir(p)
    p.add_argument("--no-minimize", action="store_true")
    p.add_argument("--minimize-seconds", type=float, default=60.0, help="per finding")
    p.add_argument("--minimize-total-seconds", type=float, default=300.0,
                   help="bound on minimizing the new findings, after the campaign (default 300)")
    p.add_argument("--rss-limit-mb", type=float, default=256.0, help="RSS growth over baseline that is a finding")
    p.add_argument("--stop-on-finding", action="store_true")
    p.add_argument("--wall-limit", type=float, default=None, help=argparse.SUPPRESS)  # old: --duration bounds it
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--progress-interval", type=float, default=None)
    args = p.parse_args(argv)

    from .findings import FindingStore
    from .generators import Generator
    from .report import write_reports
    from .runner import Campaign, Options

    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    try:
        target = _make_target(args)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"fuzz: {exc}", file=sys.stderr)
        return 2
    report_dir = Path(args.reports_dir)
    store = FindingStore(report_dir / "findings")
    try:
        gen = Generator(seed, app=args.app, corpus_dir=args.corpus, weights=_weights(args.generators),
                        fresh=args.fresh)
        opts = Options(duration=args.duration, max_cases=args.max_cases, seed=seed, concurrency=args.concurrency,
                       check_interval=args.check_interval, probe_timeout=args.probe_timeout,
                       hang_timeout=args.hang_timeout, slow_threshold=args.slow_threshold, app=args.app,
                       minimize=not args.no_minimize,
                       minimize_seconds=args.minimize_seconds, minimize_total_seconds=args.minimize_total_seconds,
                       rss_limit_mb=args.rss_limit_mb, stop_on_finding=args.stop_on_finding,
                       wall_limit=args.wall_limit, quiet=args.quiet, progress_interval=args.progress_interval,
                       started=started)
        if not args.quiet:
            bound = "" if args.no_minimize else (f"; then minimizing new findings: at most "
                                                 f"{args.minimize_total_seconds:g}s more")
            print(f"fuzz: target {target.name} at {target.host}:{target.port}, seed {seed}, "
                  f"{len(gen.corpus.seeds)} corpus seeds; the campaign ends within {args.duration:g}s of its start "
                  f"(fuzzing, triage, report){bound}", file=sys.stderr)
        campaign = Campaign(target, gen, store, opts)
        _run_loop(campaign.run())
        summary = campaign.summary()
    finally:
        target.stop()
    summary["restarts"] = target.restarts
    jp, hp = write_reports(summary, report_dir)
    if not args.quiet:
        print(f"fuzz: {summary['cases']} cases ({summary['cases_per_second']}/s), {len(store)} finding(s); "
              f"campaign {summary['elapsed']:g}s (--duration {args.duration:g}s), minimization "
              f"{summary['minimize_seconds']:g}s (at most {summary['minimize_bound']:g}s); report {jp} {hp}",
              file=sys.stderr)
        if summary.get("final_check"):
            print(f"fuzz: {summary['final_check']}", file=sys.stderr)
        for f in store.all():
            print(f"  {f.symptom}: {f.signature} [{'reproduced' if f.reproduced else 'not reproduced alone'}, "
                  f"{f.case.size()} bytes] {store.path(f)}", file=sys.stderr)
    if campaign.aborted and not len(store):
        print(f"fuzz: aborted: {campaign.aborted}", file=sys.stderr)
        return 2
    return 1 if len(store) else 0


def _run_loop(coro):
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# -- replay / minimize --------------------------------------------------------------------------------------------
def cmd_replay(argv: list[str], *, minimize: bool = False) -> int:
    p = argparse.ArgumentParser(prog=f"python -m fuzz {'minimize' if minimize else 'replay'}",
                                description="Replay a reproducer (finding JSON or .bin) and check the target.")
    p.add_argument("file")
    _add_target_args(p)
    p.add_argument("--repeat", type=int, default=1, help="replay this many times")
    p.add_argument("--minimize-seconds", type=float, default=120.0)
    p.add_argument("--minimize-tests", type=int, default=500)
    p.add_argument("--out", help="where to write the minimized reproducer (default: next to FILE)")
    args = p.parse_args(argv)

    from .findings import Finding, Observation, load_finding

    f = load_finding(args.file)
    if f.mode == "inproc":
        from .inproc import replay_finding

        return replay_finding(f)
    try:
        target = _make_target(args)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"fuzz: {exc}", file=sys.stderr)
        return 2
    from .minimize import Budget, minimize_case, same_problem
    from .oracle import Checker

    checker = Checker(target, app=args.app, probe_timeout=args.probe_timeout, hang_timeout=args.hang_timeout,
                      slow_threshold=args.slow_threshold)
    result: dict = {"file": args.file, "symptom": f.symptom, "signature": f.signature, "runs": []}

    async def go() -> int:
        if not await checker.restore():
            print("fuzz: the target is not healthy before the replay", file=sys.stderr)
            return 2
        seen = None
        for _ in range(max(1, args.repeat)):
            target.events()
            res = await checker.run(f.case)
            await asyncio.sleep(0.05)
            obs = await checker.observe()
            result["runs"].append({"connections": [c.to_json() for c in res.conns],
                                   "observation": None if obs is None else
                                   {"symptom": obs.symptom, "signature": obs.signature}})
            if obs is not None:
                seen = obs
                break
        if seen is None:
            print(f"not reproduced: the target stayed healthy ({len(result['runs'])} run(s))")
            return 0
        same = f.symptom == "unknown" or same_problem(seen, Observation(f.symptom, f.signature))
        print(f"reproduced: {seen.symptom}: {seen.signature}" + ("" if same else
                                                                   f" (the reproducer recorded {f.symptom}: {f.signature})"))
        if minimize:
            await checker.restore()
            small, stats = await minimize_case(f.case, checker.check, seen,
                                               Budget(args.minimize_tests, args.minimize_seconds))
            out = Finding(seen.symptom, seen.signature, small, target.describe(), seen.detail, True,
                          minimized=stats, original_size=f.case.size())
            path = Path(args.out) if args.out else Path(args.file).with_suffix(".min.json")
            d = out.to_json()
            d["replay"] = d["replay"].replace("{path}", str(path))
            path.write_text(json.dumps(d, indent=1, default=str))
            print(f"minimized {stats['from']} -> {stats['to']} bytes in {stats['tests']} tests: {path}")
        return 1

    try:
        return _run_loop(go())
    finally:
        target.stop()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = argv[0] if argv and argv[0] in SUBCOMMANDS else "run"
    if argv and argv[0] in SUBCOMMANDS:
        argv = argv[1:]
    with contextlib.suppress(BrokenPipeError):
        if cmd == "run":
            return cmd_run(argv)
        if cmd == "replay":
            return cmd_replay(argv)
        if cmd == "minimize":
            return cmd_replay(argv, minimize=True)
        if cmd == "inproc":
            from .inproc import main as inproc_main

            return inproc_main(argv)
        if cmd == "capture":
            from .capture import main as capture_main

            return capture_main(argv)
    return 2


if __name__ == "__main__":
    sys.exit(main())
