"""pytest plugin of the conformance battery (entry point ``rtmp_conformance``).

    pytest conformance --target HOST:PORT            # or rtmp://host:port/app, rtmps://...
    pytest conformance                               # embedded reference server on a free loopback port
    pytest conformance -n auto --baseline conformance/baselines/nginx-rtmp.json

The plugin is inert unless conformance cases are run: it only registers its options and markers, starts no
server and writes no report for ``pytest tests``. What the controller does before the cases (the target, the
preflight) is in :mod:`conformance.controller`, what it does after them (the reports, the terminal summary) in
:mod:`conformance.summary`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from . import catalog
from .case import REGISTRY, Case, Settings, run_case
from .client import mode as client_mode
from .controller import cleanup, setup_client, setup_target
from .driver import WireLog
from .guard import Guard, SharedState, TargetDown, target_from_json
from .reports import Baseline
from .summary import finish, finish_stopped, terminal_summary
from .target import TargetError, parse_target
from .verdicts import Outcome, Verdict

PACKAGE_DIR = Path(__file__).resolve().parent
_state_key = pytest.StashKey[dict]()
_CONFIG: dict = {}
_wire_key = pytest.StashKey[dict]()
WORKERINPUT_KEY = "rtmp_conformance_shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("rtmp-conformance", "RTMP conformance battery")
    g.addoption("--target", default=None, metavar="HOST:PORT",
                help="server under test: HOST:PORT, rtmp://host:port/app or rtmps://host:port/app "
                     "(default: start the reference server on a free loopback port)")
    g.addoption("--app", default=None, help="application name for connect/publish/play (default: live, or the "
                                            "app in the --target URL)")
    # --strict itself is pytest's own flag (pytest 9: the "strict" ini option; pytest 8: alias of
    # --strict-markers); the battery reads it, and --rtmp-strict is the same switch without pytest's meaning
    g.addoption("--rtmp-strict", action="store_true", default=False,
                help="SHOULD-level failures (non-strict verdicts) fail the run (also turned on by --strict)")
    g.addoption("--step-timeout", type=float, default=3.0, metavar="SECONDS",
                help="bound on every wait for the server (default 3)")
    g.addoption("--tls-insecure", action="store_true", default=False,
                help="rtmps: do not verify the server certificate")
    g.addoption("--baseline", default=None, metavar="FILE",
                help="JSON file of known failures: only regressions fail the run")
    g.addoption("--baseline-write", default=None, metavar="FILE",
                help="write a baseline listing this run's deviations (reasons kept from --baseline)")
    g.addoption("--reports-dir", default=None, metavar="DIR",
                help="where the JUnit XML, JSON, Allure results and HTML report go (default: reports/)")
    g.addoption("--reference-server-cmd", default=None, metavar="CMD",
                help="command that starts the reference server (default: python -m reference_server; a leading "
                     "python/python3 is this interpreter); it gets --listen 127.0.0.1:0 and must print "
                     "'listening rtmp://HOST:PORT'")
    g.addoption("--restart-cmd", default=None, metavar="CMD",
                help="shell command that restarts the --target after it stopped serving (it may keep running: the "
                     "plugin stops it at the end); the case that stopped it fails, the run goes on. Without it "
                     "the cases after a crash are not run. The embedded server is always restarted")
    g.addoption("--reconnect-trigger", default=None, metavar="CMD",
                help="command that makes the target send an E-RTMP v2 reconnect request to the clients of a stream; "
                     "{app}, {key}, {redirect} (a tcUrl to send them to, or empty), {python}, {host}, {port} are "
                     "substituted per argument (the embedded reference server has one built in)")
    client_mode.add_options(g)


# -- activation ----------------------------------------------------------------------------------------------------


def _arg_paths(config: pytest.Config) -> list[Path]:
    out = []
    for a in config.args:
        p = a.split("::", 1)[0]
        path = Path(p)
        if not path.is_absolute():
            path = Path(config.invocation_params.dir) / path
        if path.exists():
            out.append(path.resolve())
        elif p.replace(".", "/").startswith("conformance"):  # --pyargs conformance[.test_x]
            out.append(PACKAGE_DIR)
    return out


def _is_active(config: pytest.Config) -> bool:
    """Conformance cases are (probably) part of this run: an argument is in or above the package dir, or an
    option that only makes sense for the battery (--target, --reports-dir, --baseline...) was given."""
    for opt in ("--target", "--reports-dir", "--baseline", "--baseline-write", "--client"):
        if config.getoption(opt):
            return True
    for p in _arg_paths(config):
        if p == PACKAGE_DIR or PACKAGE_DIR in p.parents or p in PACKAGE_DIR.parents:
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rtmp_requirement(id, section, level): the catalog requirement a "
                                       "conformance case checks")
    for chap, title in catalog.CHAPTERS.items():
        config.addinivalue_line("markers", f"{chap}: conformance cases of chapter {title}")
    for level in catalog.LEVELS:
        config.addinivalue_line("markers", f"{level.lower()}: conformance cases of {level}-level requirements")
    config.addinivalue_line("markers", "relay: conformance cases that go through the target contract (publish -> "
                                       "play), and the contract probe itself")
    client_mode.configure(config)
    if not config.pluginmanager.hasplugin("allure_pytest"):
        config.addinivalue_line("markers", "allure_label: allure label marker")
    active = _is_active(config)
    worker = hasattr(config, "workerinput")
    reports = Path(config.getoption("--reports-dir") or "reports")
    if not reports.is_absolute():
        reports = Path(config.invocation_params.dir) / reports
    state = {"active": active, "worker": worker, "reports": reports, "results": [], "started": time.time(),
             "baseline": Baseline.load(config.getoption("--baseline")), "target_label": None}
    config.stash[_state_key] = state
    _CONFIG["config"] = config
    if not active:
        return
    opt = config.option
    if not worker and not getattr(opt, "xmlpath", None) and not getattr(opt, "collectonly", False):
        opt.xmlpath = str(reports / "junit.xml")
    if hasattr(opt, "allure_report_dir") and not opt.allure_report_dir and not getattr(opt, "collectonly", False):
        allure_dir = reports / "allure"
        if not worker:  # clean once, on the controller; xdist workers write into it
            shutil.rmtree(allure_dir, ignore_errors=True)
        opt.allure_report_dir = str(allure_dir)
        opt.clean_alluredir = False
    if not worker and _runs_cases(config):
        if config.getoption("--client"):
            setup_client(config, state)
        else:
            setup_target(config, state)


def _runs_cases(config: pytest.Config) -> bool:
    o = config.option
    return not any(getattr(o, name, False) for name in ("collectonly", "help", "version", "showfixtures",
                                                          "show_fixtures_per_test", "markers"))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist: every worker gets the directory of the shared target state."""
    st = _state(node.config)
    if st.get("shared") is not None:
        node.workerinput[WORKERINPUT_KEY] = str(st["shared"].dir)


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session):
    if _state(session.config).get("stopped"):
        return True  # nothing to collect: the run stopped at the preflight
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session):
    if _state(session.config).get("stopped"):
        return True
    return None


def strict_mode(config: pytest.Config) -> bool:
    """--strict (pytest's flag, which the battery honours) or --rtmp-strict."""
    if config.getoption("--rtmp-strict"):
        return True
    try:
        if config.getini("strict") is True:
            return True
    except (ValueError, KeyError):
        pass
    return bool(getattr(config.option, "strict", False))


def _state(config: pytest.Config) -> dict:
    return config.stash[_state_key]


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    st = _state(config)
    if not st["active"]:
        return None
    spec = config.getoption("--target")
    if spec:
        try:
            t = parse_target(spec, app=config.getoption("--app"), tls_insecure=config.getoption("--tls-insecure"))
            tgt = f"{t.url} (from --target {spec})"
        except TargetError as exc:
            tgt = f"invalid --target: {exc}"
    else:
        tgt = "embedded reference server on a free loopback port (one for the run, shared by xdist workers)"
    if config.getoption("--client"):
        tgt = "none: client mode (the battery plays the server)"
    lines = [f"rtmp conformance target: {tgt}", *client_mode.header_lines(config)]
    if st.get("preflight") and config.getoption("--client"):
        lines.append(f"rtmp conformance client preflight: {st['preflight']['reason']}")
    elif st.get("preflight"):
        pf = st["preflight"]
        lines.append(f"rtmp conformance preflight: {pf['target']} speaks RTMP ({pf['reason']}); relay contract: "
                     f"{'met' if pf['contract'][0] else 'NOT met: ' + pf['contract'][1]}")
    elif st.get("stopped"):
        lines.append(f"rtmp conformance preflight FAILED: {st['stopped']['reason']}")
    lines += [
             f"rtmp conformance: {'strict' if strict_mode(config) else 'lenient'} mode, step timeout "
             f"{config.getoption('--step-timeout')} s, reports in {st['reports']}"]
    if config.getoption("--baseline"):
        lines.append(f"rtmp conformance baseline: {config.getoption('--baseline')} "
                     f"({len(st['baseline'].cases)} entries)")
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """-k matches a case's requirement id and section too (e.g. -k 5.3.1.2, -k errata-8.1.1); server mode runs
    the server cases, client mode (--client) the client cases of the client's role."""
    client_mode.select(config, items)
    for item in items:
        case = getattr(getattr(item, "callspec", None), "params", {}).get("case")
        if isinstance(case, Case):
            req = case.requirement
            item.extra_keyword_matches.update({req.id, req.section.replace(" ", "-"), req.chapter, req.level})


# -- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rtmp_settings(request: pytest.FixtureRequest):
    """The target (set up once by the controller: ``--target`` or the embedded server) and the battery's settings,
    per process, with the guard that tells a failing case from a crashed server."""
    config = request.config
    client = client_mode.spec(config)
    if client is not None:  # client mode: no server under test; the cases start the client
        settings = Settings(client_mode.settings_target(client), step_timeout=config.getoption("--step-timeout"),
                            strict=strict_mode(config))
        # the controller made the mode and ran its preflight (setup_client); an xdist worker makes its own
        settings.client = _state(config).get("client_mode") or client_mode.make_mode(
            config, client, settings.step_timeout, _state(config)["reports"])
        yield settings
        return
    st = _state(config)
    shared = st.get("shared")
    if shared is None:
        sdir = (getattr(config, "workerinput", None) or {}).get(WORKERINPUT_KEY)
        if not sdir:
            pytest.fail("rtmp conformance: the target was not set up before the cases (no preflight ran)",
                        pytrace=False)
        shared = SharedState(sdir)
    data = shared.read()
    if not data.get("target"):
        pytest.fail("rtmp conformance: the shared target state is missing", pytrace=False)
    settings = Settings(target_from_json(data["target"]), step_timeout=config.getoption("--step-timeout"),
                        strict=strict_mode(config))
    contract = data.get("contract")
    settings.contract = (bool(contract[0]), str(contract[1])) if contract else None
    settings.guard = Guard(shared, os.environ.get("PYTEST_XDIST_WORKER", "main"))
    settings.reconnect_trigger = data.get("reconnect_trigger")
    yield settings
    shared.unlock()


@pytest.fixture(scope="session")
def rtmp_target(rtmp_settings):
    """The :class:`conformance.driver.Target` under test."""
    return rtmp_settings.target


class Runner:
    def __init__(self, settings: Settings, item: pytest.Item, baseline: Baseline) -> None:
        self.settings = settings
        self.item = item
        self.baseline = baseline

    def run(self, case: Case) -> None:
        settings = self.settings
        guard: Guard | None = getattr(settings, "guard", None)
        t0 = time.monotonic()
        if guard is None:
            outcome, ctx, duration = run_case(settings, case)
            log = ctx.log
        else:
            try:
                settings.target, _ = guard.begin(case.id)
            except TargetDown as down:
                return self.report(case, down.outcome, WireLog(), time.monotonic() - t0)
            try:
                outcome, ctx, _ = run_case(settings, case)

                def rerun(target):
                    settings.target = target
                    o, c, _ = run_case(settings, case)
                    return o, c

                outcome, ctx = guard.after(case.id, outcome, ctx, settings.step_timeout, rerun)
            finally:
                guard.end()
            log = ctx.log if hasattr(ctx, "log") else WireLog()
            duration = time.monotonic() - t0
        return self.report(case, outcome, log, duration, ctx)

    def report(self, case: Case, outcome: Outcome, log: WireLog, duration: float, ctx=None) -> None:
        req = case.requirement
        v = outcome.verdict
        strict = self.settings.strict
        failing = v in (Verdict.FAIL, Verdict.ERROR) or (v is Verdict.NON_STRICT and strict)
        known = self.baseline.known_failure(case.id, v.value, outcome.crash) if failing else None
        record = {"case": case.id, "requirement": req.id, "section": req.section_label, "level": req.level,
                  "verdict": v.value, "duration": round(duration, 4), "detail": outcome.detail,
                  "expected": outcome.expected, "actual": outcome.actual, "behaviour": outcome.behaviour,
                  "evidence": outcome.evidence, "notes": outcome.notes, "known_failure": bool(known),
                  "crash": outcome.crash,
                  "target": self.settings.target.label or self.settings.target.url, "doc": case.description,
                  "refs": list(case.refs), **statements_of(case.id)}
        props = self.item.user_properties
        props.append(("conformance.case", case.id))
        props.append(("conformance.requirement", req.id))
        props.append(("conformance.section", req.section_label))
        props.append(("conformance.level", req.level))
        props.append(("conformance.verdict", v.value))
        props.append(("conformance.detail", outcome.detail[:500]))
        props.append(("conformance.record", json.dumps(record, default=str)))
        self.item.stash[_wire_key] = {"json": log.to_json()}
        # "Captured stdout ..." sections go to JUnit <system-out> and show under a failure in the terminal
        self.item.add_report_section("call", "stdout: conformance wire log", log.text() + "\n")
        _allure(case, outcome, log)
        if v is Verdict.NOT_RUN:
            pytest.skip(outcome.detail)
        if failing:
            msg = failure_message(case, outcome, strict)
            if known:
                pytest.xfail(f"known failure (baseline {self.baseline.path}): {known.get('reason', '')}")
            pytest.fail(msg, pytrace=False)
        if v is Verdict.UNSUPPORTED:
            pytest.skip(f"unsupported: {outcome.detail}")


def statements_of(case_id: str) -> dict:
    """The ledger statements a case checks (fully, in part): its record names them."""
    try:
        from .ledger import case_statements

        st = case_statements().get(case_id, {})
    except Exception:  # noqa: BLE001 - a broken ledger never breaks a case report
        st = {}
    return {"statements": list(st.get("checks", ())), "statements_partial": list(st.get("part_of", ()))}


def failure_message(case: Case, outcome, strict: bool) -> str:
    req = case.requirement
    lines = [f"[{req.id}] {req.section_label} ({req.level}): {req.text}",
             f"  case:     {case.id}" + (f" - {case.description}" if case.description else "")]
    if outcome.crash:
        lines.insert(0, "CRASH: the server stopped serving during this case")
    if outcome.verdict is Verdict.NON_STRICT and strict:
        lines.append("  verdict:  non-strict (a SHOULD not met; fails because of --strict)")
    else:
        lines.append(f"  verdict:  {outcome.verdict.value}")
    lines.append(f"  expected: {outcome.expected or req.text}")
    lines.append(f"  actual:   {outcome.actual or outcome.detail}")
    if outcome.detail and outcome.detail != outcome.actual:
        lines.append(f"  detail:   {outcome.detail}")
    for n in outcome.notes:
        lines.append(f"  note:     {n}")
    if case.refs:
        lines.append(f"  refs:     {', '.join(case.refs)}")
    for ev in outcome.evidence:
        lines.append("  offending message:")
        if "decoded" in ev:
            lines.append(f"    decoded: {json.dumps(ev['decoded'], default=str)[:1500]}")
        if "offset" in ev and ev["offset"] is not None:
            lines.append(f"    stream offset: {ev['offset']}")
        if "bytes" in ev:
            lines.append(f"    bytes:   {ev['bytes'][:1024]}")
    lines.append("  (the wire log of both directions is in the 'conformance wire log' section)")
    return "\n".join(lines)


def _allure(case: Case, outcome, log: WireLog) -> None:
    try:
        import allure
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        return
    try:
        desc = case.description
        if case.refs:
            desc += "\n\nRefs: " + ", ".join(case.refs)
        allure.dynamic.description(desc or case.requirement.text)
        allure.dynamic.parameter("verdict", outcome.verdict.value)
        allure.attach(log.text() or "(empty)", name="wire log", attachment_type=allure.attachment_type.TEXT)
        allure.attach(json.dumps(outcome.to_json(), indent=1, default=str), name="outcome",
                      attachment_type=allure.attachment_type.JSON)
    except Exception:  # noqa: BLE001 - reporting must never break a case
        pass


@pytest.fixture
def conformance(rtmp_settings, request: pytest.FixtureRequest) -> Runner:
    """Runs one case record: ``conformance.run(case)``."""
    return Runner(rtmp_settings, request.node, _state(request.config)["baseline"])


# -- reports -------------------------------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    wire = item.stash.get(_wire_key, None)
    if wire is not None and report.when == "call":
        report.conformance_wire = wire["json"]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    config = _CONFIG.get("config")
    if config is None:
        return
    st = _state(config)
    if st["worker"] or not st["active"]:
        return
    props = dict(report.user_properties or [])
    rec_json = props.get("conformance.record")
    if report.when == "call" and rec_json:
        rec = json.loads(rec_json)
        rec["nodeid"] = report.nodeid
        rec["pytest_outcome"] = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        rec["wire"] = getattr(report, "conformance_wire", None)
        st["results"].append(rec)
    elif report.failed and report.when in ("setup", "call") and "::test_" in report.nodeid and \
            "conformance" in report.nodeid:
        case_id = report.nodeid.rsplit("[", 1)[-1].rstrip("]") if "[" in report.nodeid else report.nodeid
        case = REGISTRY.get(case_id)
        if case is None:
            return
        st["results"].append({"case": case_id, "requirement": case.req, "section": case.requirement.section_label,
                              "level": case.requirement.level, "verdict": "error", "duration": report.duration,
                              "detail": str(report.longreprtext)[-2000:], "nodeid": report.nodeid,
                              "pytest_outcome": "error", "notes": [], "evidence": [], "doc": case.description})


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    st = _state(config)
    if st["active"] and not st["worker"]:
        _tune_junit(config)


def _tune_junit(config: pytest.Config) -> None:
    """JUnit XML: the wire log goes to <system-out> and the suite is named, unless the user configured them."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover
        return
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    try:
        if config.getini("junit_logging") == "no" and hasattr(xml, "logging"):
            xml.logging = "system-out"
        if config.getini("junit_suite_name") == "pytest" and hasattr(xml, "suite_name"):
            xml.suite_name = "rtmp-conformance"
    except ValueError:
        pass


@pytest.hookimpl(trylast=True)  # after junitxml wrote its file (replaced when the run stopped at the preflight)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    st = _state(config)
    if st["worker"] or not st["active"]:
        return
    try:
        if st.get("stopped"):
            finish_stopped(session, st, strict_mode(config))
        else:
            finish(session, st, strict_mode(config))
    finally:
        cleanup(st)
        shared = st.pop("shared", None)
        if shared is not None:
            shared.close()
            shutil.rmtree(shared.dir, ignore_errors=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    st = config.stash.get(_state_key, None)
    if st is not None and not st["worker"]:
        cleanup(st)  # a run that ended early (usage error, interrupt): stop what the plugin started
        shared = st.pop("shared", None)
        if shared is not None:
            shared.close()
            shutil.rmtree(shared.dir, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    st = _state(config)
    summary = st.get("summary")
    if st["worker"] or not summary:
        return
    terminal_summary(terminalreporter, config, st)


def relpath(p: str) -> str:
    try:
        return os.path.relpath(p)
    except ValueError:
        return p
