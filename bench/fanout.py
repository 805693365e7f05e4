"""Fan-out benchmark: one publisher of a real FLV -> N players, our reference server vs nginx-rtmp.

    python bench/fanout.py                         # N = 1,10,50,100, 20 s per cell, both servers
    python bench/fanout.py --players 1,100 --seconds 10 --servers ours
    python bench/fanout.py --input some.flv        # else a ~4 Mbit/s H.264/AAC FLV is made with ffmpeg

For every (server, N) cell a fresh server is started (ours: ``python -m reference_server``; nginx-rtmp:
``worker_processes 1``, ``chunk_size 4096``, own prefix) on a free loopback port, and a separate load-generator
process (this file with ``--loadgen``, uvloop when installed) runs the publisher (real-time pacing of the FLV's
tags, looping it) and the N players, all asyncio clients on rtmpspec's sans-I/O Connection. After a warm-up
the cell is measured for ``--seconds``:

- server CPU seconds per player-minute: utime+stime of the server's process tree (/proc/PID/stat) over the
  window, divided by N x minutes;
- bytes delivered per player (mean) and the stream's own rate for comparison;
- real time: a player keeps real time when, at every sample (each 0.5 s), the newest media timestamp it has
  received is within ``--tolerance`` ms of the newest one the publisher has sent; the column counts such players;
- server RSS (sum over the process tree) at the end of the window.

The ratio table divides our CPU per player-minute and RSS by nginx-rtmp's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fuzz.peers import free_port, nginx_rtmp_binary, nginx_rtmp_conf, wait_listening  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- /proc helpers ------------------------------------------------------------------------------------------
def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except OSError:
            pass
    return total / CLK_TCK


def rss_mib(pid: int) -> float:
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


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

    def __init__(self, workdir: Path, extra: list[str]) -> None:
        from reference_server.probe import ServerProcess

        self.proc = ServerProcess("--log-level", "warning", "--max-connections", "5000", *extra,
                                  log_path=str(workdir / "ours.log"))
        self.port = self.proc.port
        self.pid = self.proc.pid

    def stop(self) -> None:
        self.proc.signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.proc.kill()


class Nginx:
    name = "nginx-rtmp"

    def __init__(self, workdir: Path, extra: list[str]) -> None:
        nginx = nginx_rtmp_binary()
        if nginx is None:
            raise FileNotFoundError("nginx with the rtmp module is not installed")
        d = workdir / "nginx"
        d.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        conf = d / "nginx.conf"
        conf.write_text(nginx_rtmp_conf(d, self.port))
        self.proc = subprocess.Popen([nginx, "-p", f"{d}/", "-c", str(conf), "-e", str(d / "error.log")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(d / "stderr.log", "ab"))
        self.pid = self.proc.pid
        try:
            wait_listening(self.port, self.proc, time.monotonic() + 10, "nginx-rtmp")
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- load generator (child process) -------------------------------------------------------------------------
async def loadgen(args) -> None:
    from reference_server.probe import Probe
    from rtmpspec.chunkstream import Message
    from rtmpspec.flv import FLVReader

    reader = FLVReader()
    reader.receive_data(Path(args.input).read_bytes())
    reader.receive_data(b"")
    tags = [t for t in reader.events() if hasattr(t, "tag_type") and t.tag_type in (8, 9, 18)]
    media = [t for t in tags if t.tag_type in (8, 9)]
    t0 = media[0].timestamp
    span = media[-1].timestamp - t0 + 40
    rate = sum(len(t.data) for t in media) * 8 / (span / 1000)

    def out(**kw) -> None:
        print(json.dumps(kw), flush=True)

    host, port = "127.0.0.1", args.port
    pub = await Probe.open(host, port, keep=False)
    await pub.connect("live", tc_url=f"rtmp://{host}:{port}/live")
    msid = await pub.create_stream()
    st = await pub.publish("bench", msid)
    assert st.code == "NetStream.Publish.Start", st
    n = args.players
    last_ts = [-1] * n
    first_ts = [-1] * n
    players: list = []

    def on_media(i):
        def cb(m, i=i):
            last_ts[i] = m.timestamp
            if first_ts[i] < 0:
                first_ts[i] = m.timestamp
        return cb

    loop = asyncio.get_running_loop()
    state = {"sent_ts": 0, "stop": False}

    async def publish_loop() -> None:
        base = loop.time()
        i = 0
        rnd = 0
        meta = [t for t in tags if t.tag_type == 18][:1]
        if meta:
            from rtmpspec.messages import DataMessage, decode_values
            vals = decode_values(18, meta[0].data)
            pub.send(DataMessage(("@setDataFrame", *vals), msid))
        while not state["stop"]:
            t = media[i]
            ts = t.timestamp - t0 + rnd * span
            due = base + ts / 1000
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            batch = []
            while True:
                t = media[i]
                ts = t.timestamp - t0 + rnd * span
                if base + ts / 1000 > loop.time() + 0.001:
                    break
                batch.append(pub.conn.send_media(Message(t.tag_type, t.data, ts, msid, 4 if t.tag_type == 8 else 6)))
                state["sent_ts"] = ts
                i += 1
                if i == len(media):
                    i = 0
                    rnd += 1
            pub.transport.write(b"".join(batch))

    ptask = loop.create_task(publish_loop())
    await asyncio.sleep(0.5)
    sem = asyncio.Semaphore(20)

    async def start_player(i: int):
        async with sem:
            p = await Probe.open(host, port, keep=False, on_media=on_media(i), timeout=20)
            await p.connect("live", tc_url=f"rtmp://{host}:{port}/live", timeout=20)
            sid = await p.create_stream(timeout=20)
            await p.play("bench", sid, timeout=20)
            return p

    players = await asyncio.gather(*(start_player(i) for i in range(n)))
    await asyncio.sleep(args.warmup)
    b0 = [p.bytes_in for p in players]
    out(event="measure_start", rate_bps=rate)
    start = loop.time()
    max_lag = [0] * n
    while loop.time() - start < args.seconds:
        await asyncio.sleep(0.5)
        sent = state["sent_ts"]
        for i in range(n):
            lag = sent - last_ts[i] if last_ts[i] >= 0 else sent
            if lag > max_lag[i]:
                max_lag[i] = lag
    elapsed = loop.time() - start
    b1 = [p.bytes_in for p in players]
    out(event="measure_end", elapsed=elapsed)
    state["stop"] = True
    ptask.cancel()
    delivered = [b - a for a, b in zip(b0, b1, strict=True)]
    out(event="result", players=n, elapsed=elapsed, rate_bps=rate, bytes_per_player=sum(delivered) / n,
        min_bytes=min(delivered), realtime=sum(1 for x in max_lag if x <= args.tolerance),
        max_lag_ms=max(max_lag), closed=sum(1 for p in players if p.closed.done()))
    for p in players + [pub]:
        p.close()
    await asyncio.sleep(0.2)


def run_loadgen(args) -> None:
    try:
        import uvloop
        uvloop.run(loadgen(args))
    except ImportError:
        asyncio.run(loadgen(args))


# -- driver -------------------------------------------------------------------------------------------------
def run_cell(kind, n: int, args, workdir: Path) -> dict:
    server = kind(workdir, args.server_args.split() if args.server_args and kind is Ours else [])
    try:
        cmd = [sys.executable, __file__, "--loadgen", "--port", str(server.port), "--players", str(n),
               "--seconds", str(args.seconds), "--warmup", str(args.warmup), "--input", str(args.input),
               "--tolerance", str(args.tolerance)]
        lg = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(workdir / "loadgen.log", "ab"), text=True)
        res: dict = {}
        cpu0 = t0 = None
        deadline = time.monotonic() + args.seconds + args.warmup + 120
        for line in lg.stdout:
            ev = json.loads(line)
            if ev["event"] == "measure_start":
                cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
                lg_cpu0 = cpu_seconds(lg.pid)
            elif ev["event"] == "measure_end":
                cpu1, t1 = cpu_seconds(server.pid), time.monotonic()
                res["server_cpu"] = cpu1 - cpu0
                res["wall"] = t1 - t0
                res["rss_mib"] = rss_mib(server.pid)
                res["loadgen_cpu"] = cpu_seconds(lg.pid) - lg_cpu0
            elif ev["event"] == "result":
                res.update(ev)
            if time.monotonic() > deadline:
                break
        try:
            lg.wait(30)
        except subprocess.TimeoutExpired:
            lg.kill()
            lg.wait()
        if "server_cpu" not in res or "players" not in res:
            raise RuntimeError(f"load generator failed (see {workdir / 'loadgen.log'})")
        minutes = res["wall"] / 60
        res["cpu_per_player_min"] = res["server_cpu"] / (n * minutes)
        res["server"] = kind.name
        return res
    finally:
        server.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--players", default="1,10,50,100")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--tolerance", type=float, default=1000, help="ms behind the publisher still 'real time'")
    ap.add_argument("--servers", default="ours,nginx")
    ap.add_argument("--input", help="FLV to publish (default: made with ffmpeg, ~4 Mbit/s 720p H.264 + AAC)")
    ap.add_argument("--server-args", default="", help="extra arguments for our server")
    ap.add_argument("--json", help="write the results here too")
    ap.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.loadgen:
        args.players = int(args.players)
        run_loadgen(args)
        return 0
    if not args.input:
        args.input = str(make_input(Path(tempfile.gettempdir()) / "rtmp-fanout-input-4M.flv"))
    kinds = {"ours": Ours, "nginx": Nginx}
    servers = [kinds[s.strip()] for s in args.servers.split(",") if s.strip()]
    results = []
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        for n in [int(x) for x in args.players.split(",")]:
            for kind in servers:
                try:
                    r = run_cell(kind, n, args, Path(tmp))
                except (FileNotFoundError, RuntimeError) as exc:
                    print(f"{kind.name} N={n}: skipped ({exc})", file=sys.stderr)
                    continue
                results.append(r)
                print(f"{r['server']:>10} N={n:<4} cpu/player-min={r['cpu_per_player_min']:.3f}s "
                      f"MB/player={r['bytes_per_player'] / 1e6:.1f} realtime={r['realtime']}/{n} "
                      f"rss={r['rss_mib']:.1f}MiB max_lag={r['max_lag_ms']:.0f}ms", file=sys.stderr, flush=True)
    print_table(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def print_table(results: list[dict], args) -> None:
    if not results:
        return
    rate = results[0]["rate_bps"]
    print(f"\nfan-out: 1 publisher ({rate / 1e6:.2f} Mbit/s FLV) -> N players, {args.seconds:g} s per cell, "
          f"real time = within {args.tolerance:g} ms of the publisher")
    hdr = (f"{'server':>10} {'N':>4} {'srv CPU s':>9} {'CPU s/player-min':>16} {'MB/player':>9} "
           f"{'stream MB':>9} {'real time':>9} {'max lag ms':>10} {'RSS MiB':>8}")
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        expect = r["rate_bps"] / 8 * r["elapsed"] / 1e6
        print(f"{r['server']:>10} {r['players']:>4} {r['server_cpu']:>9.2f} {r['cpu_per_player_min']:>16.4f} "
              f"{r['bytes_per_player'] / 1e6:>9.2f} {expect:>9.2f} {str(r['realtime']) + '/' + str(r['players']):>9} "
              f"{r['max_lag_ms']:>10.0f} {r['rss_mib']:>8.1f}")
    by = {(r["server"], r["players"]): r for r in results}
    ns = sorted({r["players"] for r in results})
    rows = [(n, by.get(("ours", n)), by.get(("nginx-rtmp", n))) for n in ns]
    rows = [x for x in rows if x[1] and x[2]]
    if rows:
        print("\nratio ours / nginx-rtmp")
        print(f"{'N':>4} {'CPU per player':>14} {'RSS':>6}")
        for n, o, g in rows:
            cpu = o["cpu_per_player_min"] / g["cpu_per_player_min"] if g["cpu_per_player_min"] else float("inf")
            print(f"{n:>4} {cpu:>14.2f} {o['rss_mib'] / g['rss_mib']:>6.2f}")


if __name__ == "__main__":
    sys.exit(main())
