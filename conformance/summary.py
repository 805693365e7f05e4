"""The controller's end of a battery run (called from :mod:`conformance.plugin`): the summary of every case's
record (:func:`conformance.reports.build_summary`) written as ``conformance.json`` and ``conformance.html``, the
JUnit file of a run stopped at the preflight, ``--baseline-write``, the target's logs after a crash or a restart, the
exit status, and the "rtmp conformance" section of the terminal summary."""

from __future__ import annotations

import importlib
import json
import pkgutil
import shutil
import time
from pathlib import Path

import pytest

from .case import REGISTRY
from .client import mode as client_mode
from .guard import SharedState
from .reports import (
    baseline_skeleton,
    build_summary,
    evaluate_baseline,
    write_html,
    write_json,
    write_junit_stopped,
)

PACKAGE_DIR = Path(__file__).resolve().parent
STOPPED_EXIT_STATUS = 2  # the run stopped before any case (the preflight failed)


def checked_requirements() -> set[str]:
    """Requirement ids of every case defined in the battery (imports the case modules if needed)."""
    for mod in pkgutil.iter_modules([str(PACKAGE_DIR)]):
        if mod.name.startswith("test_"):
            try:
                importlib.import_module(f"conformance.{mod.name}")
            except Exception:  # noqa: BLE001 - a broken module shows up as a collection error anyway
                pass
    return {c.req for c in REGISTRY.values()}


def run_options(config: pytest.Config, strict: bool) -> dict:
    """The options of the run, as the summary records them."""
    return {"app": config.getoption("--app"), "step_timeout": config.getoption("--step-timeout"),
            "strict": strict, "baseline": config.getoption("--baseline"),
            "restart_cmd": config.getoption("--restart-cmd"),
            "xdist_workers": getattr(config.option, "numprocesses", None)}


def finish_stopped(session: pytest.Session, st: dict, strict: bool) -> None:
    """The run stopped at the preflight: the reports say why, the exit status is STOPPED_EXIT_STATUS."""
    config = session.config
    stopped = st["stopped"]
    spec = config.getoption("--target")
    target = spec or stopped.get("target") or "embedded reference server"
    summary = build_summary([], target=target, strict=strict, started=st["started"],
                            duration=time.time() - st["started"], checked_requirements=checked_requirements(),
                            baseline=None, options=run_options(config, strict),
                            run={"preflight": stopped, "stopped": stopped["reason"]}, who=client_mode.who(config))
    reports: Path = st["reports"]
    write_json(summary, reports / "conformance.json")
    write_html(summary, reports / "conformance.html")
    if config.option.xmlpath:
        write_junit_stopped(Path(config.option.xmlpath), stopped["reason"])
    st["summary"] = summary
    session.exitstatus = STOPPED_EXIT_STATUS


def finish(session: pytest.Session, st: dict, strict: bool) -> None:
    """The cases ran: the reports of their records (none when no case ran)."""
    config = session.config
    results = st["results"]
    shared: SharedState | None = st.get("shared")
    data = shared.read() if shared is not None else {}
    if not results:
        return
    baseline = st["baseline"]
    bl = evaluate_baseline(baseline, results, strict) if baseline.path else None
    st["baseline_eval"] = bl
    targets = sorted({r.get("target") or "" for r in results} - {""})
    spec = config.getoption("--target")
    target = spec if spec else ("embedded reference server: " + ", ".join(targets) if targets else
                                "embedded reference server")
    if config.getoption("--client"):
        target = targets[0] if targets else f"client {config.getoption('--client')}"
    st["target_label"] = target
    run = {"preflight": st.get("preflight"), "crashes": data.get("crashes", []), "down": data.get("down"),
           "restarts": data.get("restarts", [])}
    reports: Path = st["reports"]
    if (run["restarts"] or run["crashes"]) and shared is not None:
        logs = reports / "target-logs"  # the target's output (embedded server, --restart-cmd) outlives the run
        logs.mkdir(parents=True, exist_ok=True)
        for f in shared.dir.glob("*.log"):
            shutil.copy(f, logs / f.name)
        for r in run["restarts"]:
            if r.get("log"):
                r["log"] = str(logs / Path(r["log"]).name)
    summary = build_summary(results, target=target, strict=strict, started=st["started"],
                            duration=time.time() - st["started"], checked_requirements=checked_requirements(),
                            baseline=bl, options=run_options(config, strict), run=run,
                            who=client_mode.who(config))
    write_json(summary, reports / "conformance.json")
    write_html(summary, reports / "conformance.html")
    st["summary"] = summary
    out = config.getoption("--baseline-write")
    if out:
        Path(out).write_text(json.dumps(baseline_skeleton(results, baseline, target), indent=1) + "\n",
                             encoding="utf-8")
    if summary["not_run_cases"] and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a gate that did not run its cases cannot pass


def terminal_summary(tr, config: pytest.Config, st: dict) -> None:
    """The "rtmp conformance" section of the terminal summary, from the run's summary (``st["summary"]``)."""
    summary = st["summary"]
    tr.section("rtmp conformance")
    if summary.get("stopped"):
        tr.write_line(f"STOPPED before any case: {summary['stopped']}", red=True, bold=True)
        tr.write_line(f"reports: {st['reports'] / 'conformance.html'}, {st['reports'] / 'conformance.json'}, "
                      f"{config.option.xmlpath or '-'}")
        return
    for c in summary.get("crashes", []):
        where = f" (also running: {', '.join(c['concurrent'].values())})" if c.get("concurrent") else ""
        tr.write_line(f"CRASH {c['case']}: the server stopped serving during this case ({c['detail']}){where}"
                      + ("; restarted" if c.get("restarted") else ""), red=True, bold=True)
    if summary.get("not_run_cases"):
        down = summary.get("down") or {}
        tr.write_line(f"NOT RUN {summary['not_run_cases']} cases: target down since case {down.get('since', '?')} "
                      f"({down.get('detail', '')})", red=True)
    totals = summary["totals"]
    tr.write_line(f"target: {summary['target']}")
    tr.write_line("verdicts: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    tr.write_line(f"requirements: {summary['requirements_checked']} of {summary['requirements_total']} checked by "
                  f"a case; unchecked: {', '.join(summary['unchecked_requirements']) or 'none'}")
    _terminal_ledger(tr, summary.get("ledger"))
    bl = summary.get("baseline")
    if bl:
        tr.write_line(f"baseline {bl['file']}: {len(bl['known_failures'])} known failures, "
                      f"{len(bl['regressions'])} regressions, {len(bl['fixed'])} fixed, "
                      f"{len(bl['changed'])} changed")
        for x in bl["regressions"]:
            tr.write_line(f"  REGRESSION {x['case']}: {x['verdict']} (baseline {x.get('baseline', '-')})")
        for x in bl["fixed"]:
            tr.write_line(f"  FIXED      {x['case']}: now {x['verdict']} (baseline {x['baseline']})")
        for x in bl["changed"]:
            if x not in bl["fixed"] and not any(r["case"] == x["case"] for r in bl["regressions"]):
                tr.write_line(f"  CHANGED    {x['case']}: now {x['verdict']} (baseline {x['baseline']})")
    reports = st["reports"]
    tr.write_line(f"reports: {reports / 'conformance.html'}, {reports / 'conformance.json'}, "
                  f"{config.option.xmlpath or '-'}, {getattr(config.option, 'allure_report_dir', None) or '-'}")


def _terminal_ledger(tr, led: dict | None) -> None:
    """Statement coverage per source, and the statements no case checks (by id)."""
    if not led or led.get("error"):
        if led:
            tr.write_line(f"statement ledger: {led['error']}", red=True)
        return
    y = led["yes"]
    tr.write_line(f"statements ({led['side']} side, conformance/ledger): {y['covered']} of {y['statements']} fully "
                  f"wire-testable ones checked by a case ({y['percent']:g}%)"
                  + (f"; this run checked {led['this_run']['statements_checked']}" if led.get("this_run") else ""))
    for r in led["sources"]:
        tr.write_line(f"  {r['title']:<28} {r['statements']:>4} statements {r['testable']:>4} testable "
                      f"{r['covered']:>4} covered {r['partial']:>3} partly {r['uncovered']:>3} not")
    un = [u["id"] for u in led["uncovered"] if u["status"] == "uncovered"]
    part = [u["id"] for u in led["uncovered"] if u["status"] == "partial"]
    tr.write_line(f"  uncovered: {', '.join(un) or 'none'}")
    if part:
        tr.write_line(f"  partly covered: {', '.join(part)}")

