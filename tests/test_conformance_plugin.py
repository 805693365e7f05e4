"""The pytest plugin of the battery, driven through stub cases that never touch the network themselves: pytest
outcomes per verdict, --strict, the baseline gate, the four reports, xdist aggregation, marker selection, and
inertness. The plugin still runs its preflight and its health probes, against a small fake RTMP server
(tests/nonservers.py) in this process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from nonservers import FakeTarget

FAKE = textwrap.dedent('''
    from conformance.case import Case, parametrize
    from conformance.verdicts import fail, informational, unsupported

    def ok(ctx):
        """A case that passes."""
        ctx.log.add("c1", "out", "raw", "a stub wire-log entry", bytes([3]))

    def must_fail(ctx):
        """A MUST case that fails."""
        fail("the expected thing", "something else", offending=bytes([1, 2, 3]))

    def should_fail(ctx):
        """A SHOULD case that fails: non-strict."""
        fail("a SHOULD thing", "not done")

    def nope(ctx):
        """An optional feature that is absent."""
        unsupported("feature absent")

    def fyi(ctx):
        """Nothing to judge."""
        informational("just so you know")

    def known(ctx):
        """A failure the baseline knows."""
        fail("x", "known bad")

    def fixed(ctx):
        """A baseline entry that passes now."""

    CASES = [
        Case("selftest-pass", "5.2.2-s0-version", ok),
        Case("selftest-must-fail", "5.2.2-s0-version", must_fail),
        Case("selftest-should-fail", "5.4.5-peer-bandwidth-reply", should_fail),
        Case("selftest-unsupported", "5.2.3-digest-handshake", nope),
        Case("selftest-informational", "7.2.1.1-connect-twice", fyi),
        Case("selftest-known", "5.2.2-s0-version", known),
        Case("selftest-fixed", "5.2.4-s2-echo", fixed),
    ]

    @parametrize(CASES)
    def test_fake(case, conformance):
        conformance.run(case)
''')

BASELINE = {"target": "stub", "cases": {
    "selftest-known": {"verdict": "fail", "section": "RTMP 1.0 5.2.2", "reason": "known"},
    "selftest-fixed": {"verdict": "fail", "section": "RTMP 1.0 5.2.4", "reason": "was broken"},
}}


def _pytest(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args], cwd=tmp,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    (tmp_path / "test_fake.py").write_text(FAKE)
    (tmp_path / "baseline.json").write_text(json.dumps(BASELINE))
    return tmp_path


@pytest.fixture
def target():
    """--target of a fake RTMP server (answers the preflight and the health probes)."""
    with FakeTarget("rtmp") as t:
        yield f"127.0.0.1:{t.port}"


def _outcomes(out: str) -> dict[str, str]:
    res = {}
    for line in out.splitlines():
        for word in ("PASSED", "FAILED", "SKIPPED", "XFAIL"):
            if line.startswith(word) and "[selftest-" in line:
                res[line.split("[", 1)[1].split("]", 1)[0]] = word
            elif line.startswith("SKIPPED") and "unsupported" in line:
                res["selftest-unsupported"] = "SKIPPED"
    return res


def test_verdicts_reports_and_baseline(fake: Path, target: str):
    r = _pytest(fake, "test_fake.py", "--target", target, "--reports-dir", "rep", "--baseline",
                "baseline.json")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    o = _outcomes(out)
    assert o["selftest-pass"] == "PASSED"
    assert o["selftest-must-fail"] == "FAILED"
    assert o["selftest-should-fail"] == "PASSED"  # non-strict passes in lenient mode
    assert o["selftest-informational"] == "PASSED"
    assert o["selftest-known"] == "XFAIL"
    assert o["selftest-unsupported"] == "SKIPPED"
    # the failure shows requirement, expected vs actual, the offending bytes, and the wire log
    assert "[5.2.2-s0-version] RTMP 1.0 5.2.2 (MUST)" in out
    assert "expected: the expected thing" in out and "actual:   something else" in out
    assert "bytes:   010203" in out
    assert f"rtmp conformance target: rtmp://{target}/live" in out
    assert "rtmp conformance preflight: " in out and "speaks RTMP" in out

    rep = fake / "rep"
    summary = json.loads((rep / "conformance.json").read_text())
    verdicts = {c["case"]: c["verdict"] for req in summary["requirements"] for c in req["cases"]}
    assert verdicts == {"selftest-pass": "pass", "selftest-must-fail": "fail", "selftest-should-fail": "non-strict",
                        "selftest-unsupported": "unsupported", "selftest-informational": "informational",
                        "selftest-known": "fail", "selftest-fixed": "pass"}
    bl = summary["baseline"]
    assert [x["case"] for x in bl["regressions"]] == ["selftest-must-fail"]
    assert [x["case"] for x in bl["fixed"]] == ["selftest-fixed"]
    assert bl["known_failures"] == ["selftest-known"]
    by_id = {req["id"]: req for req in summary["requirements"]}
    assert by_id["5.2.2-s0-version"]["verdict"] == "fail"
    assert by_id["5.2.1-server-waits-for-c0"]["verdict"] == "not run"
    assert "7.2.2.1-play-recorded" in summary["unchecked_requirements"]
    assert summary["ledger"]["yes"]["statements"] > 300 and "statements (server side" in out
    case = next(c for c in by_id["5.2.2-s0-version"]["cases"] if c["case"] == "selftest-pass")
    assert case["wire"]["entries"][0]["summary"] == "a stub wire-log entry"
    assert "FIXED      selftest-fixed" in out and "selftest-must-fail" in out

    junit = ET.parse(rep / "junit.xml").getroot()
    cases = {tc.get("name"): tc for tc in junit.iter("testcase")}
    tc = cases["test_fake[selftest-pass]"]
    props = {p.get("name"): p.get("value") for p in tc.iter("property")}
    assert props["conformance.verdict"] == "pass" and props["conformance.level"] == "MUST"
    assert "a stub wire-log entry" in (tc.find("system-out").text or "")

    page = (rep / "conformance.html").read_text()
    assert "selftest-must-fail" in page and "<script" not in page

    results = list((rep / "allure").glob("*-result.json"))
    assert len(results) == 7
    labels = [{(lb["name"], lb["value"]) for lb in json.loads(p.read_text())["labels"]} for p in results]
    assert any(("epic", "Handshake (RTMP 5.2)") in s and ("severity", "critical") in s for s in labels)
    assert any(("feature", "RTMP 1.0 5.4.5") in s and ("severity", "normal") in s for s in labels)


def test_strict_fails_non_strict_and_clean_gate_exits_zero(fake: Path, target: str):
    r = _pytest(fake, "test_fake.py", "--target", target, "--reports-dir", "rep", "--strict")
    assert _outcomes(r.stdout)["selftest-should-fail"] == "FAILED", r.stdout
    r = _pytest(fake, "test_fake.py", "--target", target, "--reports-dir", "rep", "--baseline",
                "baseline.json", "-k", "not must")
    assert r.returncode == 0, r.stdout + r.stderr


def test_xdist_workers_report_to_the_controller(fake: Path, target: str):
    r = _pytest(fake, "test_fake.py", "--target", target, "--reports-dir", "rep", "-n", "2")
    assert r.returncode == 1
    summary = json.loads((fake / "rep" / "conformance.json").read_text())
    assert summary["totals"]["cases"] == 7
    cases = [c for req in summary["requirements"] for c in req["cases"]]
    assert all(c["wire"] is not None for c in cases)


def test_markers_select_chapters_and_levels(fake: Path, target: str):
    r = _pytest(fake, "test_fake.py", "--target", target, "--collect-only", "-q", "-m", "control")
    assert "selftest-should-fail" in r.stdout and "selftest-pass" not in r.stdout
    r = _pytest(fake, "test_fake.py", "--target", target, "--collect-only", "-q", "-m", "must")
    assert "selftest-pass" in r.stdout and "selftest-should-fail" not in r.stdout
    r = _pytest(fake, "test_fake.py", "--target", target, "--collect-only", "-q", "-k", "5.4.5")
    assert "selftest-should-fail" in r.stdout and "selftest-pass" not in r.stdout


def test_plugin_is_inert_without_conformance_cases(tmp_path: Path):
    (tmp_path / "test_plain.py").write_text("def test_one():\n    assert True\n")
    r = _pytest(tmp_path, "test_plain.py")
    assert r.returncode == 0
    assert not (tmp_path / "reports").exists()
    assert "rtmp conformance" not in r.stdout
    h = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=tmp_path, capture_output=True, text=True)
    for opt in ("--target", "--app", "--step-timeout", "--tls-insecure", "--baseline", "--reports-dir",
                "--restart-cmd"):
        assert opt in h.stdout
