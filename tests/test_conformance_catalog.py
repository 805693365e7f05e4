"""The conformance battery's own unit tests: catalog, case tables, verdict mapping, baseline gate, reports.
No network: checks here never open a socket."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from conformance import catalog
from conformance.case import REGISTRY, Case, Settings, marks_for, run_case
from conformance.driver import StepTimeout, Target
from conformance.reports import Baseline, build_summary, evaluate_baseline, write_html, write_json
from conformance.target import TargetError, parse_target
from conformance.verdicts import Verdict, fail, informational, observed, unsupported

PKG = Path(catalog.__file__).resolve().parent


def _load_cases() -> dict[str, Case]:
    for mod in pkgutil.iter_modules([str(PKG)]):
        if mod.name.startswith("test_"):
            importlib.import_module(f"conformance.{mod.name}")
    return {k: v for k, v in REGISTRY.items() if not k.startswith("selftest-")}


def test_catalog_loads_and_is_consistent():
    reqs = catalog.load()
    assert len(reqs) >= 100
    for r in reqs.values():
        assert r.level in catalog.LEVELS
        assert r.chapter in catalog.CHAPTERS
        assert r.text and r.text == r.text.strip() and r.text.endswith("."), r.id
        assert r.section, r.id


def test_at_least_120_cases_each_tied_to_a_requirement():
    cases = _load_cases()
    assert len(cases) >= 120, len(cases)
    reqs = catalog.load()
    for c in cases.values():
        assert c.req in reqs, c.id
        assert c.description, f"{c.id} has no docstring/doc"
        for v in c.accept.values():
            Verdict(v[0] if isinstance(v, tuple) else v)
    checked = {c.req for c in cases.values()}
    # a few requirements are listed on purpose without a case (the report shows them as "not checked")
    unchecked = set(reqs) - checked
    assert unchecked and len(unchecked) < 10, unchecked


def test_every_chapter_has_cases_and_bug_reproductions_are_marked_interop():
    cases = _load_cases()
    chapters = {c.requirement.chapter for c in cases.values()}
    assert {"handshake", "chunking", "control", "commands", "media", "robustness"} <= chapters
    refs = [c for c in cases.values() if c.refs]
    assert len(refs) >= 15
    for c in refs:
        names = {m.name for m in marks_for(c)}
        assert "interop" in names, c.id
    cited = " ".join(r for c in refs for r in c.refs)
    for bug in ("nginx-rtmp PR 1462", "OBS PR 10097", "Node-Media-Server 25", "SRS 2409", "Node-Media-Server 629",
                "SRS 730", "nginx-rtmp 1042", "nginx-rtmp 246", "nginx-rtmp 324", "MediaMTX 4673",
                "MediaMTX PR 3302", "nginx-rtmp PR 755", "MediaMTX 1621", "MediaMTX 5105"):
        assert bug in cited, bug


def test_cases_build_bytes_from_schemas_not_literals():
    """No hand-typed byte strings in the battery: no hex escapes in bytes literals, no bytes.fromhex."""
    bad = []
    for path in PKG.glob("*.py"):
        text = path.read_text()
        for n, line in enumerate(text.splitlines(), 1):
            if "fromhex(" in line or re.search(r"""\bb(['"]).*\\x[0-9a-fA-F]{2}""", line):
                bad.append(f"{path.name}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("spec,expected", [
    ("127.0.0.1:1935", ("127.0.0.1", 1935, "live", False)),
    ("example.org", ("example.org", 1935, "live", False)),
    ("rtmp://example.org/app2", ("example.org", 1935, "app2", False)),
    ("rtmp://example.org:1936/app3", ("example.org", 1936, "app3", False)),
    ("rtmps://example.org/live", ("example.org", 443, "live", True)),
    ("rtmps://[::1]:8443", ("::1", 8443, "live", True)),
])
def test_parse_target(spec, expected):
    t = parse_target(spec)
    assert (t.host, t.port, t.app, t.tls) == expected


def test_parse_target_app_option_wins_and_errors():
    assert parse_target("rtmp://h/a", app="b").app == "b"
    for bad in ("http://h/x", "h:port", "rtmp:///x"):
        with pytest.raises(TargetError):
            parse_target(bad)


# -- verdict mapping (checks that never touch the network) -------------------------------------------------------


SETTINGS = Settings(Target("127.0.0.1", 9), step_timeout=0.1)


def _run(req: str, check, accept=None, **params):
    case = Case(f"selftest-{req}-{check.__name__}", req, check, params, accept or {})
    outcome, ctx, _ = run_case(SETTINGS, case)
    return outcome


def test_behaviours_map_to_verdicts():
    acc = {"good": Verdict.PASS, "meh": (Verdict.INFORMATIONAL, "noted"), "gone": Verdict.UNSUPPORTED,
           "bad": Verdict.FAIL}
    for behaviour, want in (("good", "pass"), ("meh", "informational"), ("gone", "unsupported"), ("bad", "fail")):
        o = _run("5.2.2-s0-version", lambda ctx, b=behaviour: observed(b, "detail"), acc)
        assert o.verdict.value == want, behaviour
    o = _run("5.2.2-s0-version", lambda ctx: observed("surprise"), acc)
    assert o.verdict is Verdict.FAIL and "surprise" in o.detail


def test_should_failures_are_non_strict_and_hard_failures_are_not_downgraded():
    def soft(ctx):
        fail("x", "y")

    def hard(ctx):
        fail("x", "y", hard=True)

    assert _run("5.4.5-peer-bandwidth-reply", soft).verdict is Verdict.NON_STRICT
    assert _run("5.4.5-peer-bandwidth-reply", hard).verdict is Verdict.FAIL
    assert _run("5.2.2-s0-version", soft).verdict is Verdict.FAIL  # MUST


def test_driver_errors_become_failures_and_helpers_end_cases():
    def times_out(ctx):
        raise StepTimeout("no _result within 0.1 s")

    o = _run("5.2.2-s0-version", times_out)
    assert o.verdict is Verdict.FAIL and "timeout" in o.actual
    assert _run("5.2.2-s0-version", lambda ctx: unsupported("nope")).verdict is Verdict.UNSUPPORTED
    assert _run("5.2.2-s0-version", lambda ctx: informational("fyi")).verdict is Verdict.INFORMATIONAL
    assert _run("5.2.2-s0-version", lambda ctx: None).verdict is Verdict.PASS


# -- baseline gate and reports ---------------------------------------------------------------------------------


def _result(case, verdict, req="5.2.2-s0-version"):
    return {"case": case, "requirement": req, "section": "RTMP 1.0 5.2.2", "level": "MUST", "verdict": verdict,
            "duration": 0.01, "detail": f"{case} {verdict}", "expected": "e", "actual": "a", "evidence": [],
            "notes": [], "wire": {"entries": [{"t": 0.0, "session": "c1", "dir": "out", "kind": "raw",
                                               "summary": "x", "length": 1, "hex": "03"}], "dropped": 0}}


def test_baseline_evaluation():
    bl = Baseline("b.json", "t", {"known": {"verdict": "fail"}, "fixed": {"verdict": "fail"},
                                  "soft": {"verdict": "non-strict"}, "gone": {"verdict": "unsupported"}})
    results = [_result("known", "fail"), _result("fixed", "pass"), _result("new", "fail"),
               _result("soft", "non-strict"), _result("gone", "pass"), _result("info", "informational"),
               _result("quiet", "non-strict")]
    ev = evaluate_baseline(bl, results, strict=False)
    assert [r["case"] for r in ev["regressions"]] == ["new"]
    assert [r["case"] for r in ev["fixed"]] == ["fixed"]
    assert {c["case"] for c in ev["changed"]} == {"fixed", "new", "gone", "quiet"}
    assert ev["known_failures"] == ["known"]
    strict = evaluate_baseline(bl, results, strict=True)
    assert {r["case"] for r in strict["regressions"]} == {"new", "quiet"}
    assert set(strict["known_failures"]) == {"known", "soft"}


def test_summary_and_html(tmp_path):
    results = [_result("a", "pass"), _result("b", "fail", "5.3.1.1-csid-two-byte"),
               _result("c", "unsupported", "ertmp-video-fourcc")]
    summary = build_summary(results, target="rtmp://x", strict=False, started=0, duration=1.5,
                            checked_requirements={"5.2.2-s0-version", "5.3.1.1-csid-two-byte", "ertmp-video-fourcc"},
                            baseline=None, options={})
    assert summary["totals"] == {"cases": 3, "pass": 1, "fail": 1, "unsupported": 1}
    by_id = {r["id"]: r for r in summary["requirements"]}
    assert by_id["5.3.1.1-csid-two-byte"]["verdict"] == "fail"
    assert "5.2.1-server-waits-for-c0" in summary["unchecked_requirements"]
    write_json(summary, tmp_path / "c.json")
    write_html(summary, tmp_path / "c.html")
    page = (tmp_path / "c.html").read_text()
    assert page.count("<h2>") >= 3
    for tag in ("<script", "<link", "src=", "@import"):
        assert tag not in page  # self-contained: no external assets
    assert "#b3261e" in page and "#1b7f3b" in page  # fail and pass colours
    assert "wire log" in page
    # the statement ledger: coverage per source and section, the uncovered statements by id
    led = summary["ledger"]
    assert led["side"] == "server" and led["yes"]["statements"] > 300
    assert {r["source"] for r in led["sources"]} >= {"rtmp", "errata", "ertmp2", "amf3"}
    assert led["sections"] and all(r["section"] for r in led["sections"])
    assert led["uncovered"] and all(u["status"] in ("uncovered", "partial") for u in led["uncovered"])
    assert "Statement coverage (server side)" in page and f"id='st-{led['uncovered'][0]['id']}'" in page


def test_case_records_name_their_statements():
    from conformance import ledger
    from conformance.plugin import statements_of

    st = statements_of("5.4.2-abort-partial-message")
    assert "errata-6-2" in st["statements"] and "rtmp-5.4.2-1" in st["statements"]
    assert statements_of("no-such-case") == {"statements": [], "statements_partial": []}
    inv = ledger.case_statements()
    assert all(c in inv for c in ledger.registered_cases())
