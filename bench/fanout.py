"""Fan-out benchmark: one publisher of a real FLV -> N players, our reference server vs nginx-rtmp side by side.

    ./dev bench fanout                                  # N = 1,10,100,300,500, 3 runs at 1/100/500, ceilings
    ./dev bench fanout --players 1,100 --seconds 8 --repeat 1 --no-ceiling
    ./dev bench fanout --servers ours --players 100     # one server only (no ratios)

For every cell (server, N, run) a fresh server is started on a free loopback port and a load generator process
(``bench/fanout_load.py``) runs the publisher (the FLV's tags sent when due, looped: media time = wall time) and N
cheap players that step over chunk headers without parsing payloads. With two or more cores the server is pinned
to one core and the load generator to another (``taskset``), so the server gets one core to itself and the
players do not steal it. The servers of one N run back to back, alternating, so their ratio is taken under the
same machine load. Once playing, a player is woken only when ``--read-batch`` seconds of the stream are queued
(SO_RCVLOWAT): on loopback the sender pays for waking the receiver, which a server does not pay for remote
players, and which would charge a server that writes per message (nginx-rtmp) for the load generator's wakeups;
``--read-batch 0`` wakes players at every segment, as a naive local client would be.

Per cell, over ``--seconds`` after ``--warmup``:

- **CPU-ms per player-second**: CPU time of the server's processes and threads over the window (the scheduler's
  account in /proc/PID/task/TID/schedstat, ns; utime/stime are tick-sampled) / (N x seconds);
- **RSS** (sum over the server's processes) at the end of the window;
- **real time**: players whose newest received media timestamp never lags the wall clock by more than
  ``--tolerance`` ms (1 s) during the window;
- **publisher stalled**: a send more than 0.5 s late or more than 1 MiB queued on the publisher's socket;
- the load generator's own CPU share: above 85 % the cell is marked ``loadgen_saturated`` and says nothing about
  the server (the load generator's event-loop lag is reported too).

Key points (``--repeat-at``) run ``--repeat`` times; the table shows medians and the ratio is the median of the
per-run ratios. The **single-core ceiling** is the largest N at which every player keeps real time: the search
starts from a guess (80 % of a core at the CPU per player of the table's largest passing N), steps by x1.25 to a
pass and a failure, then bisects to ``--ceiling-step`` (or 10 %). Results go to ``reports/bench/fanout.json``,
``fanout.md`` (the table) and ``fanout.png`` (CPU per player-second vs N, both servers; needs matplotlib: the
``bench`` extra). A whole run (defaults) takes about 45 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import peers  # noqa: E402
from harness.process import rss_tree  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
LOADGEN = Path(__file__).resolve().parent / "fanout_load.py"


# -- /proc helpers ------------------------------------------------------------------------------------------
def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` and its descendants."""
    user = system = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11])  # utime, stime (stat fields 14, 15)
            system += int(fields[12])
        except (OSError, IndexError):
            pass
    return user / CLK_TCK, system / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants, all threads, from the scheduler's own run-time account
    (/proc/PID/task/TID/schedstat, nanoseconds). utime/stime are sampled at the kernel tick (4 ms at HZ=250),
    too coarse for a server that is idle 98 % of the time."""
    total = 0
    for p in _tree(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tids:
            try:
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    if total == 0:  # no schedstat (CONFIG_SCHED_INFO off): the tick-sampled times
        return sum(cpu_times(pid))
    return total / 1e9


def rss_mib(pid: int) -> float:
    return (rss_tree(pid) or 0) / (1 << 20)


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None and shutil.which("taskset") else cmd


# -- input --------------------------------------------------------------------------------------------------
def make_input(path: Path, seconds: int = 30) -> Path:
    if path.exists():
        return path
    if not shutil.which("ffmpeg"):
        raise SystemExit("ffmpeg is needed to make the input FLV (or pass --input)")
    tmp = path.with_suffix(".tmp.flv")
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25,noise=alls=12:allf=t", "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds),
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-b:v", "4M", "-maxrate", "4M",
           "-bufsize", "2M", "-x264-params", "nal-hrd=cbr", "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(tmp)]
    subprocess.run(cmd, check=True, timeout=600)
    tmp.rename(path)
    return path


# -- servers ------------------------------------------------------------------------------------------------
class Ours:
    name = "ours"

    def __init__(self, workdir: Path, cpu: int | None, extra: list[str]) -> None:
        self.server = peers.reference_server("--log-level", "warning", "--max-connections", "20000", *extra,
                                             log=workdir / "ours.log", cwd=ROOT)
        self.server.cmd_template = pinned(self.server.cmd_template, cpu)
        self.server.start()  # ServerStartError (see ours.log) when it does not
        self.pid, self.port = self.server.pid, self.server.port

    def stop(self) -> None:
        self.server.stop(timeout=10)


class Nginx:
    name = "nginx-rtmp"

    def __init__(self, workdir: Path, cpu: int | None, extra: list[str]) -> None:
        prefix = pinned([], cpu)
        self.server = peers.nginx_rtmp(workdir / "nginx", connections=16384, prefix=prefix, start_timeout=10)
        self.server.start()
        self.pid, self.port = self.server.pid, self.server.port

    def stop(self) -> None:
        self.server.stop(timeout=10)


KINDS = {"ours": Ours, "nginx": Nginx}


# -- one cell -----------------------------------------------------------------------------------------------
def run_cell(kind, n: int, args, workdir: Path) -> dict:
    server = kind(workdir, args.server_cpu, args.server_args.split() if args.server_args and kind is Ours else [])
    try:
        cmd = [sys.executable, str(LOADGEN), "--port", str(server.port), "--players", str(n),
               "--seconds", str(args.seconds), "--warmup", str(args.warmup), "--input", str(args.input),
               "--tolerance", str(args.tolerance), "--read-batch", str(args.read_batch)]
        lg = subprocess.Popen(pinned(cmd, args.loadgen_cpu), stdout=subprocess.PIPE, text=True,
                              stderr=open(workdir / "loadgen.log", "ab"))
        res: dict = {}
        cpu0 = (0.0, 0.0)
        t0 = lg0 = srv0 = 0.0
        for line in lg.stdout:
            ev = json.loads(line)
            if ev["event"] == "measure_start":
                cpu0, t0, lg0 = cpu_times(server.pid), time.monotonic(), cpu_seconds(lg.pid)
                srv0 = cpu_seconds(server.pid)
            elif ev["event"] == "measure_end":
                srv1, cpu1, t1 = cpu_seconds(server.pid), cpu_times(server.pid), time.monotonic()
                res.update(server_cpu_s=srv1 - srv0, server_user_s=cpu1[0] - cpu0[0],
                           server_sys_s=cpu1[1] - cpu0[1], wall=t1 - t0, rss_mib=rss_mib(server.pid),
                           loadgen_cpu_s=cpu_seconds(lg.pid) - lg0)
            elif ev["event"] == "result":
                res.update(ev)
        try:
            lg.wait(30)
        except subprocess.TimeoutExpired:
            lg.kill()
            lg.wait()
        if "server_cpu_s" not in res or "players" not in res:
            raise RuntimeError(f"load generator failed (see {workdir / 'loadgen.log'})")
        res.pop("event", None)
        res["server"] = kind.name
        res["cpu_ms_per_player_s"] = res["server_cpu_s"] * 1000 / (n * res["wall"])
        res["loadgen_cpu_share"] = res["loadgen_cpu_s"] / res["wall"]
        # its own core nearly full: the players may lag for the load generator's sake, not the server's (its event
        # loop lag is reported too, but an overloaded server's bursts cause that as well)
        res["loadgen_saturated"] = res["loadgen_cpu_share"] > 0.85
        res["all_realtime"] = res["realtime"] == n and res["closed"] == 0 and not res["publisher_stalled"]
        return res
    finally:
        server.stop()


def show(r: dict) -> None:
    print(f"{r['server']:>10} N={r['players']:<4} cpu={r['cpu_ms_per_player_s']:6.3f} ms/player-s "
          f"(user {r['server_user_s'] / (r['server_user_s'] + r['server_sys_s'] or 1):.0%}) "
          f"realtime={r['realtime']}/{r['players']} max_lag={r['max_lag_ms']:.0f}ms rss={r['rss_mib']:.1f}MiB "
          f"pub_late={r['publisher_late_s']:.2f}s loadgen={r['loadgen_cpu_share']:.0%}"
          f"{' SATURATED' if r['loadgen_saturated'] else ''}", file=sys.stderr, flush=True)


def cells(kinds, n: int, runs: int, args, workdir: Path) -> list[dict]:
    out = []
    for rep in range(runs):
        for kind in (kinds if rep % 2 == 0 else kinds[::-1]):  # alternate who goes first
            try:
                r = run_cell(kind, n, args, workdir)
            except (FileNotFoundError, RuntimeError) as exc:
                print(f"{kind.name} N={n}: skipped ({exc})", file=sys.stderr)
                continue
            r["run"] = rep
            out.append(r)
            show(r)
    return out


# -- summary ------------------------------------------------------------------------------------------------
def summarize(results: list[dict]) -> list[dict]:
    """One row per N: medians per server, the median of the per-run CPU ratios, every-run real time."""
    rows = []
    for n in sorted({r["players"] for r in results}):
        row: dict = {"players": n}
        for name in ("ours", "nginx-rtmp"):
            rs = [r for r in results if r["players"] == n and r["server"] == name]
            if rs:
                row[name] = {
                    "runs": len(rs),
                    "cpu_ms_per_player_s": statistics.median(r["cpu_ms_per_player_s"] for r in rs),
                    "rss_mib": statistics.median(r["rss_mib"] for r in rs),
                    "realtime": min(r["realtime"] for r in rs),
                    "all_realtime": all(r["all_realtime"] for r in rs),
                    "publisher_stalled": any(r["publisher_stalled"] for r in rs),
                    "loadgen_saturated": any(r["loadgen_saturated"] for r in rs),
                }
        ours = {r["run"]: r for r in results if r["players"] == n and r["server"] == "ours"}
        ngx = {r["run"]: r for r in results if r["players"] == n and r["server"] == "nginx-rtmp"}
        ratios = [ours[k]["cpu_ms_per_player_s"] / ngx[k]["cpu_ms_per_player_s"] for k in ours
                  if k in ngx and ngx[k]["cpu_ms_per_player_s"] > 0]
        if ratios:
            row["cpu_ratio"] = statistics.median(ratios)
            row["cpu_ratios"] = ratios
            row["rss_ratio"] = row["ours"]["rss_mib"] / row["nginx-rtmp"]["rss_mib"]
        rows.append(row)
    return rows


def table(rows: list[dict], ceilings: dict, meta: dict) -> str:
    lines = [f"1 publisher ({meta['rate_mbps']:.2f} Mbit/s H.264 + AAC FLV) -> N players, {meta['seconds']:g} s "
             f"per cell, median of {meta['repeat']} runs at N = {meta['repeat_at']}; server pinned to one core: "
             f"{meta['pinned']}", "",
             "| N | ours CPU-ms / player-s | nginx-rtmp CPU-ms / player-s | ratio | ours RSS MiB | nginx RSS MiB "
             "| real time ours | real time nginx |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def rt(c):
        if c is None:
            return "-"
        flag = "" if c["all_realtime"] else " (stall)" if c["publisher_stalled"] else ""
        return f"{c['realtime']}/{n}{flag}{' (loadgen saturated)' if c['loadgen_saturated'] else ''}"

    for row in rows:
        n = row["players"]
        o, g = row.get("ours"), row.get("nginx-rtmp")
        ratio = f"{row['cpu_ratio']:.2f}x" if "cpu_ratio" in row else "-"
        lines.append(f"| {n} | {o['cpu_ms_per_player_s']:.3f} |" if o else f"| {n} | - |")
        lines[-1] += f" {g['cpu_ms_per_player_s']:.3f} |" if g else " - |"
        lines[-1] += (f" {ratio} | {o['rss_mib']:.1f} |" if o else f" {ratio} | - |")
        lines[-1] += f" {g['rss_mib']:.1f} |" if g else " - |"
        lines[-1] += f" {rt(o)} | {rt(g)} |"
    if ceilings:
        lines.append("")
        for name, c in ceilings.items():
            lines.append(f"single-core ceiling {name}: {c['text']}")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, meta: dict) -> bool:
    try:
        import matplotlib
        import matplotlib.ticker
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install matplotlib)", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, style in (("ours", "o-"), ("nginx-rtmp", "s--")):
        pts = [(r["players"], r[name]["cpu_ms_per_player_s"]) for r in rows if name in r]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("players (N)")
    ax.set_ylabel("server CPU-ms per player-second (log)")
    ax.set_title(f"fan-out, {meta['rate_mbps']:.1f} Mbit/s stream, server on one core")
    ax.grid(True, which="both", alpha=0.3)
    for i, (name, c) in enumerate(meta.get("ceilings", {}).items()):
        ax.annotate(f"single-core ceiling {name}: {c['text']}", (0.02, 0.04 + 0.06 * i), xycoords="axes fraction",
                    fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# -- ceiling ------------------------------------------------------------------------------------------------
def ceiling(kind, results: list[dict], args, workdir: Path) -> dict:
    """Largest N with every player in real time: a first guess from the CPU per player at the largest passing
    N (80 % of one core), then steps of x1.25 up to a failure, then bisection. A cell where the load generator
    saturated its own core says nothing about the server: it caps the search instead of failing it."""
    tried: dict[int, bool] = {}
    for r in results:
        if r["server"] == kind.name and not r["loadgen_saturated"]:
            tried[r["players"]] = tried.get(r["players"], True) and r["all_realtime"]
    cap = args.ceiling_max + 1  # lowest N where the load generator saturated (exclusive upper bound)

    def probe(n: int) -> bool | None:
        nonlocal cap
        r = run_cell(kind, n, args, workdir)
        r["run"] = "ceiling"
        results.append(r)
        show(r)
        if r["loadgen_saturated"]:
            cap = min(cap, n)
            return None
        tried[n] = r["all_realtime"]
        return tried[n]

    ok = max((n for n, v in tried.items() if v), default=0)
    bad = min((n for n, v in tried.items() if not v and n > ok), default=None)
    at_ok = [r["cpu_ms_per_player_s"] for r in results if r["server"] == kind.name and r["players"] == ok]
    n = min(args.ceiling_max, int(0.8 * 1000 / min(at_ok))) if at_ok and bad is None else ok
    while bad is None and n > ok and cap - ok > max(args.ceiling_step, ok // 10):
        v = probe(n)
        if v:
            ok = n
            n = min(args.ceiling_max, cap - 1, int(n * 1.25))
        elif v is False:
            bad = n
        else:  # saturated: look below it
            n = (ok + n) // 2
    while bad is not None and bad - ok > max(args.ceiling_step, ok // 10):
        n = (ok + bad) // 2
        v = probe(n)
        if v:
            ok = n
        elif v is False:
            bad = n
        else:  # cannot tell above here: stop at the last pass
            bad = None
            break
    if bad is not None:
        text = f"{ok} players (fails at {bad})"
    elif cap <= args.ceiling_max:
        text = f">= {ok} players (the load generator saturated its core at N={cap})"
    else:
        text = f">= {ok} players (search limit)"
    return {"players": ok, "fails_at": bad, "loadgen_saturated_at": cap if cap <= args.ceiling_max else None,
            "text": text}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--players", default="1,10,100,300,500")
    ap.add_argument("--repeat", type=int, default=3, help="runs per key point (median)")
    ap.add_argument("--repeat-at", default="1,100,500", help="key points run --repeat times")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--warmup", type=float, default=4)
    ap.add_argument("--tolerance", type=float, default=1000, help="ms behind the wall clock still 'real time'")
    ap.add_argument("--servers", default="ours,nginx")
    ap.add_argument("--read-batch", type=float, default=0.04,
                    help="players are woken per this many seconds of stream (SO_RCVLOWAT); 0: at every segment")
    ap.add_argument("--input", help="FLV to publish (default: made with ffmpeg, ~4 Mbit/s 720p H.264 + AAC)")
    ap.add_argument("--server-args", default="", help="extra arguments for our server")
    ap.add_argument("--server-cpu", type=int, default=0, help="core the server is pinned to (-1: no pinning)")
    ap.add_argument("--loadgen-cpu", type=int, default=1, help="core the load generator is pinned to (-1: none)")
    ap.add_argument("--no-ceiling", dest="ceiling", action="store_false")
    ap.add_argument("--ceiling-max", type=int, default=6000)
    ap.add_argument("--ceiling-step", type=int, default=50)
    ap.add_argument("--out", default=str(ROOT / "reports" / "bench"), help="directory for fanout.json/.png")
    args = ap.parse_args(argv)
    if (os.cpu_count() or 1) < 2 or args.server_cpu < 0 or args.loadgen_cpu < 0:
        args.server_cpu = args.loadgen_cpu = None
    if not args.input:
        args.input = str(make_input(Path(tempfile.gettempdir()) / "rtmp-fanout-input-4M.flv"))
    kinds = [KINDS[s.strip()] for s in args.servers.split(",") if s.strip()]
    key = {int(x) for x in args.repeat_at.split(",") if x.strip()}
    results: list[dict] = []
    ceilings: dict = {}
    started = time.time()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        for n in [int(x) for x in args.players.split(",")]:
            results += cells(kinds, n, args.repeat if n in key else 1, args, Path(tmp))
        if args.ceiling:
            for kind in kinds:
                ceilings[kind.name] = ceiling(kind, results, args, Path(tmp))
    if not results:
        return 1
    rows = summarize([r for r in results if r["run"] != "ceiling"])
    meta = {"rate_mbps": results[0]["rate_bps"] / 1e6, "seconds": args.seconds, "warmup": args.warmup,
            "repeat": args.repeat, "repeat_at": args.repeat_at, "tolerance_ms": args.tolerance,
            "read_batch_s": args.read_batch, "server_args": args.server_args,
            "pinned": f"server cpu {args.server_cpu}, load generator cpu {args.loadgen_cpu}"
            if args.server_cpu is not None else "no", "started": time.strftime("%Y-%m-%d %H:%M:%S",
                                                                               time.localtime(started)),
            "loadavg_before": load0, "loadavg_after": os.getloadavg(), "cpus": os.cpu_count(),
            "python": sys.version.split()[0]}
    meta["ceilings"] = ceilings
    text = table(rows, ceilings, meta)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fanout.json").write_text(json.dumps({"meta": meta, "summary": rows, "ceilings": ceilings,
                                                 "cells": results}, indent=1))
    (out / "fanout.md").write_text(text + "\n")
    if plot(rows, out / "fanout.png", meta):
        print(f"\nwrote {out / 'fanout.json'}, {out / 'fanout.md'}, {out / 'fanout.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
