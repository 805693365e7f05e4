"""The interop matrix: the battery against several servers and clients, one HTML page + one JSON file.

    python -m conformance.matrix                                   # reference server, nginx-rtmp, node-media-server
                                                                   # and every client preset that is installed
    python -m conformance.matrix --servers reference,nginx-rtmp --clients ffmpeg-publish,rtmpdump-play
    python -m conformance.matrix --target mysrv=rtmp://127.0.0.1:1935/live --out reports/matrix -j 3

Each implementation is one battery run (``python -m pytest conformance ...``, in a subprocess, its reports in
``OUT/<id>/``); runs go in parallel (``--jobs``, default: CPUs + 1), each single-process. Servers we start
ourselves (nginx-rtmp, node-media-server) get a fresh instance and ``--restart-cmd`` that starts it again: the
battery names each case that stops the server as a crash (once) and goes on. The page (``OUT/matrix.html``) has one table for servers and one for clients: rows = requirements
grouped by chapter, columns = implementations, cells coloured by verdict (the worst of the requirement's cases)
and linking to the cell's cases below (expected/actual, the start of the wire log of failing cases) and to the
implementation's full report. ``OUT/matrix.json`` has the same data.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import catalog
from .client.presets import PRESETS
from .matrix_html import write_page
from .verdicts import worst

ROOT = Path(__file__).resolve().parent.parent
BASELINES = Path(__file__).resolve().parent / "baselines"
SERVERS = ("reference", "nginx-rtmp", "node-media-server")
RUN_TIMEOUT = 240.0


@dataclass
class Impl:
    id: str
    kind: str  # server | client
    label: str
    args: list[str] = field(default_factory=list)  # battery arguments (--target / --client ...)
    start: str | None = None  # a server preset we start ourselves (nginx-rtmp, node-media-server)
    result: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "label": self.label, "args": self.args, **self.result}


# -- servers we start ---------------------------------------------------------------------------------------------


def start_server(name: str, workdir: Path):
    """A fresh nginx-rtmp / node-media-server on a free loopback port (:mod:`harness.peers`)."""
    from harness import peers

    if name == "node-media-server":
        app = peers.nms_app(install=True)
        if app is None:
            raise RuntimeError("node-media-server 4 is not installed and npm could not install it")
        return peers.node_media_server(app, workdir).start()
    return peers.preset(name, workdir=workdir).start()


def server_available(name: str) -> str | None:
    """None when the server can be run here, else why not."""
    if name == "reference":
        return None
    from harness import peers

    if name == "nginx-rtmp":
        return None if peers.nginx_rtmp_binary() else "nginx with libnginx-mod-rtmp is not installed"
    if name == "node-media-server":
        return None if peers.nms_app(install=True) else \
            "node-media-server 4 is not installed (npm install node-media-server@4)"
    return f"unknown server {name!r}"


# -- one battery run ----------------------------------------------------------------------------------------------


def battery(args: list[str], reports: Path, *, paths: tuple[str, ...] = ("conformance",),
            timeout: float = RUN_TIMEOUT) -> tuple[int, str, dict | None, float]:
    cmd = [sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider", "-q",
           "--reports-dir", str(reports), *args]
    env = dict(os.environ)
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
        rc, out = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out = -1, f"timed out after {timeout:g} s\n{exc.stdout or ''}"
    path = reports / "conformance.json"
    summary = json.loads(path.read_text()) if path.exists() else None
    return rc, out, summary, time.monotonic() - t0


def run_impl(impl: Impl, out: Path) -> Impl:
    reports = out / impl.id
    shutil.rmtree(reports, ignore_errors=True)
    reports.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    server = None
    args = list(impl.args)
    try:
        if impl.start:
            server = start_server(impl.start, Path(tempfile.mkdtemp(prefix=f"matrix-{impl.id}-")))
            # the battery's crash attribution: after a case that stops the server, the same server (same
            # config, same port) is started again and the run goes on, so every crashing case is named once
            restart = shlex.join(c.replace("{dir}", str(server.workdir)) for c in server.cmd_template)
            args = ["--target", f"127.0.0.1:{server.port}", "--restart-cmd", restart, *args]
        rc, text, summary, _ = battery(args, reports)
    except RuntimeError as exc:
        impl.result = {"error": str(exc), "seconds": round(time.monotonic() - t0, 2), "cases": {}}
        return impl
    finally:
        if server is not None:
            server.stop()
    cases = _cases(summary)
    crashed = [c["case"] for c in (summary or {}).get("crashes") or [] if c.get("case")]
    for case in crashed:
        if case in cases:
            cases[case] = {**cases[case], "crash": True}
    notes = [f"restarted {len(summary['restarts'])} time(s)"] if summary and summary.get("restarts") else []
    impl.result = {
        "returncode": rc, "seconds": round(time.monotonic() - t0, 2), "cases": cases, "crashes": crashed,
        "target": (summary or {}).get("target"), "who": (summary or {}).get("who"), "notes": notes,
        "error": None if summary else f"no report (exit {rc}): {text[-800:]}",
        "report": f"{impl.id}/conformance.html",
    }
    return impl


def _cases(summary: dict | None) -> dict[str, dict]:
    out = {}
    for r in (summary or {}).get("requirements", []):
        for c in r.get("cases", []):
            wire = (c.get("wire") or {}).get("entries") or []
            out[c["case"]] = {"requirement": c["requirement"], "verdict": c["verdict"], "detail": c.get("detail", ""),
                              "expected": c.get("expected"), "actual": c.get("actual"),
                              "wire": _wire_head(wire) if c["verdict"] not in ("pass", "informational") else ""}
    return out


def _wire_head(entries: list[dict], limit: int = 40) -> str:
    from .wire import format_summary

    lines = []
    for e in entries[:limit]:
        arrow = "->" if e["dir"] == "out" else "<-" if e["dir"] == "in" else "--"
        lines.append(f"{e['t']:8.4f} {e['session']:>8} {arrow} {e['kind']}: {format_summary(e['summary'])[:200]}")
    if len(entries) > limit:
        lines.append(f"... {len(entries) - limit} more entries in the full report")
    return "\n".join(lines)


# -- the matrix ---------------------------------------------------------------------------------------------------


def _checked_by_role() -> dict[str, set[str]]:
    """Requirement ids with a case, for servers and for publishing / playing clients."""
    from . import ledger, test_client_play, test_client_publish

    ledger.registered_cases()  # imports every case module: REGISTRY is complete
    from .case import REGISTRY

    play = {c.req for c in test_client_play.CASES}
    publish = {c.req for c in test_client_publish.CASES}
    server = {c.req for c in REGISTRY.values() if not c.id.startswith("client-")}
    return {"server": server, "publish": publish, "play": play}


def build(impls: list[Impl], started: float) -> dict:
    reqs = catalog.load()
    checked = _checked_by_role()
    rows = []
    for req in catalog.ordered(reqs.values()):
        cells = {}
        for impl in impls:
            if impl.kind != req.who:
                continue
            role = "server" if impl.kind == "server" else PRESETS[impl.id].role if impl.id in PRESETS else "publish"
            cases = {k: v for k, v in impl.result.get("cases", {}).items() if v["requirement"] == req.id}
            if impl.result.get("error"):
                verdict = "error"
            elif not cases and req.id not in checked["server"] | checked["publish"] | checked["play"]:
                verdict = "not checked"  # no case checks this requirement yet
            elif not cases and req.id not in checked[role]:
                verdict = "n/a"  # a statement about the other kind of client
            elif not cases:
                verdict = "not run"
            else:
                verdict = worst([c["verdict"] for c in cases.values()]) or "not run"
            crash = any(c.get("crash") for c in cases.values())
            cells[impl.id] = {"verdict": "crash" if crash else verdict, "cases": cases}
        rows.append({**req.to_json(), "cells": cells})
    for impl in impls:
        counts: dict[str, int] = {}
        for row in rows:
            cell = row["cells"].get(impl.id)
            if cell is not None and cell["verdict"] != "n/a":
                counts[cell["verdict"]] = counts.get(cell["verdict"], 0) + 1
        case_counts: dict[str, int] = {}
        for c in impl.result.get("cases", {}).values():
            v = "crash" if c.get("crash") else c["verdict"]
            case_counts[v] = case_counts.get(v, 0) + 1
        impl.result["requirement_counts"] = counts
        impl.result["case_counts"] = case_counts
    return {"tool": "rtmp-conformance matrix", "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
            "seconds": round(time.time() - started, 1), "implementations": [i.to_json() for i in impls],
            "requirements": rows}


def plan(servers: list[str], clients: list[str], targets: list[str]) -> tuple[list[Impl], list[str]]:
    impls, skipped = [], []
    for s in servers:
        why = server_available(s)
        if why:
            skipped.append(f"{s}: {why}")
            continue
        if s == "reference":
            impls.append(Impl("reference", "server", "reference server (this project)", []))
        else:
            label = {"nginx-rtmp": "nginx-rtmp 1.2.2 (nginx 1.22)", "node-media-server": "node-media-server 4"}[s]
            impls.append(Impl(s, "server", label, [], start=s))
    for t in targets:
        name, sep, url = t.partition("=")
        if not sep:
            name, url = t.replace(":", "-").replace("/", "-"), t
        impls.append(Impl(name, "server", f"{name} ({url})", ["--target", url]))
    for c in clients:
        preset = PRESETS.get(c)
        if preset is None:
            skipped.append(f"{c}: not a client preset ({', '.join(PRESETS)})")
            continue
        missing = preset.missing()
        if missing:
            skipped.append(f"{c}: not installed: {', '.join(missing)}")
            continue
        impls.append(Impl(c, "client", preset.implementation, ["--client", c]))
    return impls, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.matrix", description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help=f"comma-separated servers we start ({', '.join(SERVERS)}); '' for none")
    ap.add_argument("--target", action="append", default=[], metavar="NAME=URL",
                    help="another server already running (repeatable), e.g. srs=rtmp://127.0.0.1:1936/live")
    ap.add_argument("--clients", default="all", help="comma-separated client presets, 'all' or '' (default all)")
    ap.add_argument("--out", default="reports/matrix", help="output directory (default reports/matrix)")
    ap.add_argument("-j", "--jobs", type=int, default=(os.cpu_count() or 2) + 1,
                    help="battery runs at the same time (default: CPUs + 1)")
    args = ap.parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    clients = list(PRESETS) if args.clients == "all" else [c for c in args.clients.split(",") if c]
    out = Path(args.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    out.mkdir(parents=True, exist_ok=True)
    impls, skipped = plan(servers, clients, args.target)
    for s in skipped:
        print(f"matrix: skipped {s}", file=sys.stderr)
    if not impls:
        print("matrix: nothing to run", file=sys.stderr)
        return 2
    started = time.time()
    # the slowest first, so that the pool ends together
    order = sorted(impls, key=lambda i: (i.kind != "server", i.id))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_impl, i, out): i for i in order}
        for f in concurrent.futures.as_completed(futures):
            i = f.result()
            counts = ", ".join(f"{k} {v}" for k, v in sorted(_case_counts(i).items()))
            print(f"matrix: {i.id:<24} {i.result.get('seconds', 0):6.1f} s  {i.result.get('error') or counts}",
                  file=sys.stderr)
    data = build(impls, started)
    data["skipped"] = skipped
    (out / "matrix.json").write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    write_page(data, out / "matrix.html")
    print(f"matrix: {len(impls)} implementations in {data['seconds']:.1f} s: {out / 'matrix.html'}, "
          f"{out / 'matrix.json'}")
    for impl in data["implementations"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(impl.get("requirement_counts", {}).items()))
        print(f"  {impl['id']:<24} requirements: {counts}")
    return 0 if all(not i.result.get("error") for i in impls) else 1


def _case_counts(impl: Impl) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in impl.result.get("cases", {}).values():
        v = "crash" if c.get("crash") else c["verdict"]
        out[v] = out.get(v, 0) + 1
    return out


if __name__ == "__main__":
    sys.exit(main())
