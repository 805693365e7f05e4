"""Verdicts a CI gate can trust, through the real plugin in a subprocess:

- the preflight: against a closed port and the four non-servers (close at once, silent, garbage, echo) the run
  stops before any case, with and without xdist: exit status 2, no case passed, one line saying what was seen, the
  reports written with that reason, no INTERNALERROR, within 10 s;
- crash attribution: stub cases against a fake RTMP server (a process) that exits on a command. Without a restart
  the case that stopped it fails ("the server stopped serving during this case") and every later case is reported
  once as not run; with --restart-cmd the run goes on and names every crashing case once, also under xdist.

The whole battery's cases against non-servers, without the plugin, are in test_conformance_evidence.py."""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from nonservers import FakeTarget

from conformance.selftest import run_battery

NONSERVERS = Path(__file__).with_name("nonservers.py")

EXPECTED = {
    "refused": "connection refused",
    "close": "accepted, then closed before S0",
    "silent": "no S0 within 3 s",
    "garbage": "is not an RTMP version",
    "echo": "no complete S2 within 3 s",
}


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("kind,xdist", [(k, False) for k in EXPECTED] + [(k, True) for k in ("silent", "echo")])
def test_preflight_stops_the_run_against_a_non_server(kind: str, xdist: bool, tmp_path: Path):
    fake = None if kind == "refused" else FakeTarget(kind).start()
    port = _closed_port() if fake is None else fake.port
    try:
        run = run_battery(["--target", f"127.0.0.1:{port}"] + (["-n", "auto"] if xdist else []),
                          tmp_path / "reports", timeout=60)
    finally:
        if fake is not None:
            fake.stop()
    out = run.output
    assert run.returncode == 2, out
    assert "INTERNALERROR" not in out and "Traceback" not in out, out
    assert run.seconds <= 10, f"{run.seconds:.1f} s"
    assert "no tests ran" in out and " passed" not in out, out
    line = [x for x in out.splitlines() if x.startswith("STOPPED before any case:")]
    assert len(line) == 1 and EXPECTED[kind] in line[0], out
    assert run.summary is not None and run.summary["totals"] == {"cases": 0}
    assert EXPECTED[kind] in run.summary["stopped"] and run.summary["preflight"]["ok"] is False
    junit = ET.parse(tmp_path / "reports" / "junit.xml").getroot()
    err = junit.find(".//testcase[@name='preflight']/error")
    assert err is not None and EXPECTED[kind] in err.get("message")
    page = (tmp_path / "reports" / "conformance.html").read_text()
    assert "STOPPED before any case" in page and EXPECTED[kind] in page


# -- crash attribution -------------------------------------------------------------------------------------------

STUBS = textwrap.dedent('''
    from rtmpspec.messages import Command

    from conformance.case import Case, parametrize
    from conformance.verdicts import fail

    def ok(ctx):
        """A session with a createStream round trip: passes while the server serves."""
        s = ctx.connected()
        ctx.ready(s)

    def crash(ctx):
        """A command that makes the fake server exit (the case itself sees nothing wrong)."""
        s = ctx.connected()
        ctx.ready(s)
        s.send_cmd(Command("cfCrash", 0, None))
        s.wait_closed(1.0)

    def bad(ctx):
        """A plain failure: the server keeps serving, so no crash."""
        ctx.ready(ctx.connected())
        fail("something", "something else")

    CASES = [Case("selftest-ok-1", "5.2.2-s0-version", ok), Case("selftest-ok-2", "5.2.2-s0-version", ok),
             Case("selftest-crash-a", "7.2-unknown-command", crash), Case("selftest-ok-3", "5.2.2-s0-version", ok),
             Case("selftest-bad", "5.2.4-s2-echo", bad), Case("selftest-ok-4", "5.2.2-s0-version", ok),
             Case("selftest-crash-b", "robust-malformed-amf", crash)]
    CASES += [Case(f"selftest-ok-{i}", "5.2.2-s0-version", ok) for i in range(5, 13)]

    @parametrize(CASES)
    def test_stub(case, conformance):
        conformance.run(case)
''')


def _start_fake(port: int = 0) -> tuple[subprocess.Popen, int]:
    p = subprocess.Popen([sys.executable, str(NONSERVERS), "rtmp", "--port", str(port), "--crash-on", "cfCrash"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = p.stdout.readline()
    assert line.startswith("listening rtmp://127.0.0.1:"), line
    return p, int(line.rsplit(":", 1)[1])


def _stub_run(tmp_path: Path, *extra: str, restart: bool) -> tuple:
    (tmp_path / "test_stubs.py").write_text(STUBS)
    proc, port = _start_fake()
    args = ["--target", f"127.0.0.1:{port}", *extra]
    if restart:
        args += ["--restart-cmd", shlex.join([sys.executable, str(NONSERVERS), "rtmp", "--port", str(port),
                                              "--crash-on", "cfCrash"])]
    try:
        run = run_battery(args, tmp_path / "reports", timeout=120, cwd=tmp_path, paths=("test_stubs.py",))
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)
    assert run.summary is not None, run.output
    return run, port


def _section(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, x in enumerate(lines) if "rtmp conformance" in x and x.startswith("="))
    return lines[start + 1:]


def test_a_crash_without_restart_is_named_once_and_later_cases_are_not_run(tmp_path: Path):
    run, _ = _stub_run(tmp_path, restart=False)
    v = run.verdicts()
    assert v["selftest-ok-1"] == v["selftest-ok-2"] == "pass"
    assert v["selftest-crash-a"] == "fail"
    later = [c for c in v if c not in ("selftest-ok-1", "selftest-ok-2", "selftest-crash-a")]
    assert later and all(v[c] == "not-run" for c in later), v
    crash = next(c for c in run.cases() if c["case"] == "selftest-crash-a")
    assert crash["crash"] and crash["detail"] == "the server stopped serving during this case"
    assert "connection refused" in crash["actual"]
    assert any("cfCrash" in json.dumps(e["summary"]) for e in crash["wire"]["entries"])  # its wire log
    # first in every report, and said once
    assert [c["case"] for c in run.summary["crashes"]] == ["selftest-crash-a"]
    assert run.summary["down"]["since"] == "selftest-crash-a" and run.summary["not_run_cases"] == len(later)
    section = _section(run.output)
    assert section[0].startswith("CRASH selftest-crash-a: the server stopped serving during this case")
    assert section[1].startswith(f"NOT RUN {len(later)} cases: target down since case selftest-crash-a")
    page = (tmp_path / "reports" / "conformance.html").read_text()
    assert page.index("CRASH") < page.index("<h2>")
    # one failure (the crash), the later cases skipped as not run, not failures of their own
    assert run.output.splitlines()[-1].startswith(f"1 failed, 2 passed, {len(later)} skipped"), run.tail()
    assert run.returncode == 1


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_with_restart_every_crashing_case_is_named_once(xdist: bool, tmp_path: Path):
    run, port = _stub_run(tmp_path, *(["-n", "2"] if xdist else []), restart=True)
    v = run.verdicts()
    crashes = sorted(c["case"] for c in run.summary["crashes"])
    assert crashes == ["selftest-crash-a", "selftest-crash-b"], (crashes, run.tail())
    for cid in crashes:
        assert v[cid] == "fail" and run.output.count(f"CRASH {cid}:") == 1
    assert v["selftest-bad"] == "fail"
    assert not next(c for c in run.cases() if c["case"] == "selftest-bad")["crash"]
    oks = [c for c in v if c.startswith("selftest-ok-")]
    assert len(oks) == 12 and all(v[c] == "pass" for c in oks), v
    assert run.summary["not_run_cases"] == 0 and run.summary["down"] is None
    assert len([r for r in run.summary["restarts"] if r["ok"]]) >= 2
    assert run.returncode == 1
    # the plugin stopped the servers it started
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
