"""Summary JSON, the self-contained HTML page, and the baseline (known failures) gate."""

from __future__ import annotations

import datetime as _dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import catalog
from . import ledger as _ledger
from .verdicts import worst

FAILING = {"fail", "non-strict", "error"}  # verdicts a baseline may list as known failures
DEVIATIONS = ("fail", "non-strict", "unsupported", "error")
VERDICTS = ("fail", "non-strict", "unsupported", "informational", "pass", "error")


# -- baseline ----------------------------------------------------------------------------------------------------


@dataclass
class Baseline:
    path: str = ""
    target: str = ""
    cases: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | None) -> Baseline:
        if not path:
            return cls()
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        cases = data.get("cases", {})
        for cid, entry in cases.items():
            if entry.get("verdict") not in VERDICTS:
                raise ValueError(f"{path}: case {cid}: verdict {entry.get('verdict')!r} is not a verdict")
        return cls(str(path), data.get("target", ""), cases)

    def known_failure(self, case_id: str, verdict: str = "fail", crash: bool = False) -> dict | None:
        """The entry that makes this failing verdict a known one: a ``fail``/``non-strict`` entry covers either
        (--strict decides which fails); ``error`` needs an ``error`` entry; a crash needs ``"crash": true`` (a case
        that used to fail and now stops the server is a regression)."""
        e = self.cases.get(case_id)
        if not e or e.get("verdict") not in FAILING:
            return None
        if (verdict == "error") != (e["verdict"] == "error"):
            return None
        if crash and not e.get("crash"):
            return None
        return e

    def expected(self, case_id: str) -> str:
        e = self.cases.get(case_id)
        return e["verdict"] if e else "pass"


def _norm(v: str, expected: str) -> str:
    # informational carries no judgement: it matches a baseline "pass" unless the baseline says informational
    if v == "informational" and expected != "informational":
        return "pass"
    return v


def evaluate_baseline(baseline: Baseline, results: list[dict], strict: bool) -> dict:
    regressions, fixed, changed, known, down = [], [], [], [], []
    for r in results:
        cid, v = r["case"], r["verdict"]
        if v == "not-run":  # the target was down: nothing to compare (the run fails for it anyway)
            down.append(cid)
            continue
        crash = bool(r.get("crash"))
        if v == "error" and r.get("pytest_outcome") == "error":  # a pytest error outside the case itself
            regressions.append({"case": cid, "verdict": v, "detail": r.get("detail", "")})
            continue
        exp = baseline.expected(cid)
        entry = baseline.cases.get(cid, {})
        cur = _norm(v, exp)
        failing_now = v in ("fail", "error") or (v == "non-strict" and strict)
        if failing_now and baseline.known_failure(cid, v, crash) is None:
            regressions.append({"case": cid, "verdict": v + (" (crash)" if crash else ""), "baseline": exp,
                                "detail": r.get("detail", "")})
        elif failing_now:
            known.append(cid)
        if exp in FAILING and cur in ("pass",):
            fixed.append({"case": cid, "verdict": v, "baseline": exp})
        if cur != exp or crash != bool(entry.get("crash")):
            changed.append({"case": cid, "verdict": v + (" (crash)" if crash else ""),
                            "baseline": exp + (" (crash)" if entry.get("crash") else "")})
    ran = {r["case"] for r in results}
    missing = sorted(c for c in baseline.cases if c not in ran)
    return {"file": baseline.path, "target": baseline.target, "regressions": regressions, "fixed": fixed,
            "changed": changed, "known_failures": known, "not_run": missing, "target_down": down}


def baseline_skeleton(results: list[dict], previous: Baseline, target: str) -> dict:
    """A baseline listing every deviation of this run (reasons kept from ``previous``)."""
    cases = {}
    for r in sorted(results, key=lambda r: r["case"]):
        if r["verdict"] in DEVIATIONS:
            old = previous.cases.get(r["case"], {})
            cases[r["case"]] = {"verdict": r["verdict"], "section": r["section"],
                                "reason": old.get("reason") or f"TODO explain: {r.get('detail', '')}"}
            if r.get("crash"):
                cases[r["case"]]["crash"] = True
    return {"target": previous.target or target, "cases": cases}


# -- summary -----------------------------------------------------------------------------------------------------


def build_summary(results: list[dict], *, target: str, strict: bool, started: float, duration: float,
                  checked_requirements: set[str], baseline: dict | None, options: dict,
                  run: dict | None = None, who: str = "server") -> dict:
    """``run``: what the plugin saw of the target (preflight, crashes, down, restarts, stopped); ``who``: the
    server's statements, or the client's in client mode."""
    run = run or {}
    reqs = catalog.for_who(who)
    checked_requirements = {r for r in checked_requirements if r in reqs}
    by_req: dict[str, list[dict]] = {}
    for r in results:
        by_req.setdefault(r["requirement"], []).append(r)
    totals: dict[str, int] = {}
    for r in results:
        totals[r["verdict"]] = totals.get(r["verdict"], 0) + 1
    requirements = []
    for req in catalog.ordered(reqs.values()):
        cases = sorted(by_req.get(req.id, []), key=lambda r: r["case"])
        entry = req.to_json()
        if cases:
            entry["verdict"] = worst([c["verdict"] for c in cases])
            entry["duration"] = round(sum(c["duration"] for c in cases), 4)
            bad = [c for c in cases if c["verdict"] == entry["verdict"]]
            entry["detail"] = "; ".join(f"{c['case']}: {c['detail']}" for c in bad if c.get("detail"))[:2000]
        else:
            entry["verdict"] = "not checked" if req.id not in checked_requirements else "not run"
            entry["duration"] = 0.0
            entry["detail"] = ""
        entry["cases"] = cases
        requirements.append(entry)
    unchecked = [r.id for r in catalog.ordered(reqs.values()) if r.id not in checked_requirements]
    not_run = [e["id"] for e in requirements if e["verdict"] == "not run"]
    crash_cases = {r["case"]: r for r in results if r.get("crash")}
    crashes = []
    for c in run.get("crashes") or []:  # the guard's order (when they happened); the case records say the rest
        rec = crash_cases.pop(c["case"], None)
        crashes.append({**c, "requirement": rec["requirement"] if rec else None})
    for cid, rec in crash_cases.items():
        crashes.append({"case": cid, "detail": rec.get("actual") or rec.get("detail"), "requirement":
                        rec["requirement"]})
    return {
        "tool": "rtmp-conformance",
        "target": target,
        "who": who,
        # what matters first: the run stopped before any case, or the target crashed
        "stopped": run.get("stopped"),
        "crashes": crashes,
        "down": run.get("down"),
        "not_run_cases": sum(1 for r in results if r["verdict"] == "not-run"),
        "preflight": run.get("preflight"),
        "restarts": run.get("restarts") or [],
        "strict": strict,
        "started": _dt.datetime.fromtimestamp(started, _dt.UTC).isoformat(timespec="seconds"),
        "duration": round(duration, 3),
        "options": options,
        "totals": {"cases": len(results), **totals},
        "requirements_total": len(reqs),
        "requirements_checked": len(checked_requirements),
        "unchecked_requirements": unchecked,
        "not_run_requirements": not_run,
        "baseline": baseline,
        "ledger": _ledger_summary(who, results),
        "requirements": requirements,
    }


def _ledger_summary(who: str, results: list[dict]) -> dict | None:
    """Statement coverage (conformance/ledger): per source and section, the uncovered statements by id."""
    try:
        return _ledger.report_summary(who, ran={r["case"] for r in results})
    except _ledger.LedgerError as exc:  # a broken ledger never breaks a report
        return {"error": str(exc)}


def write_json(summary: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")


# -- HTML --------------------------------------------------------------------------------------------------------

COLORS = {
    "pass": ("#1b7f3b", "#e3f4e8"),
    "fail": ("#b3261e", "#fbe4e2"),
    "error": ("#7a0e0e", "#f6d5d2"),
    "not-run": ("#7a0e0e", "#f3eeee"),
    "non-strict": ("#9a6700", "#fff4d6"),
    "informational": ("#245c9c", "#e4eefa"),
    "unsupported": ("#5b5b66", "#ececf0"),
    "not checked": ("#8a8a8a", "#f6f6f6"),
    "not run": ("#8a8a8a", "#f6f6f6"),
}

CSS = """
body{font:14px/1.4 -apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1d1d1f}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;width:100%} td,th{padding:5px 8px;vertical-align:top;border-bottom:1px solid #eee}
th{text-align:left;font-size:12px;color:#555;background:#fafafa}
.v{font-weight:600;white-space:nowrap;border-radius:4px;padding:1px 6px;display:inline-block}
.id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:nowrap}
.meta{color:#555;font-size:13px} .totals span{margin-right:14px}
details{margin:2px 0} summary{cursor:pointer;color:#333}
pre{background:#f7f7f9;border:1px solid #e5e5ea;padding:6px;overflow-x:auto;font-size:11.5px;max-height:420px}
.case{border-left:3px solid #ddd;padding-left:8px;margin:6px 0}
.kv{font-size:12.5px} .kv b{color:#444}
"""


def _badge(v: str) -> str:
    fg, bg = COLORS.get(v, ("#333", "#eee"))
    return f'<span class="v" style="color:{fg};background:{bg}">{html.escape(v)}</span>'


def _wire_text(wire: dict | None) -> str:
    if not wire:
        return ""
    from .driver import format_summary

    lines = []
    for e in wire.get("entries", []):
        arrow = "->" if e["dir"] == "out" else "<-" if e["dir"] == "in" else "--"
        lines.append(f"{e['t']:8.4f} {e['session']:>8} {arrow} {e['kind']}: {format_summary(e['summary'])}")
        if e.get("hex"):
            lines.append(f"{'':>20}bytes[{e['length']}]: {e['hex']}")
    if wire.get("dropped"):
        lines.append(f"... {wire['dropped']} more entries not kept")
    return "\n".join(lines)


def _case_html(c: dict) -> str:
    parts = [f'<div class="case" id="case-{html.escape(c["case"])}"><span class="id">{html.escape(c["case"])}</span> '
             f'{_badge(c["verdict"])}'
             f' <span class="meta">{c["duration"]:.3f} s</span>']
    if c.get("known_failure"):
        parts.append(' <span class="meta">(known failure, baseline)</span>')
    kv = []
    for k in ("detail", "expected", "actual", "behaviour"):
        if c.get(k):
            kv.append(f"<div class='kv'><b>{k}:</b> {html.escape(str(c[k]))}</div>")
    for n in c.get("notes") or []:
        kv.append(f"<div class='kv'><b>note:</b> {html.escape(n)}</div>")
    if c.get("doc"):
        kv.append(f"<div class='kv'><b>case:</b> {html.escape(c['doc'])}</div>")
    if c.get("statements") or c.get("statements_partial"):
        st = ", ".join(c.get("statements") or []) + (
            f"; in part: {', '.join(c['statements_partial'])}" if c.get("statements_partial") else "")
        kv.append(f"<div class='kv'><b>statements:</b> <span class='id'>{html.escape(st)}</span></div>")
    parts.extend(kv)
    if c.get("evidence"):
        parts.append("<details><summary>offending message(s)</summary><pre>"
                     + html.escape(json.dumps(c["evidence"], indent=1, default=str)) + "</pre></details>")
    wire = _wire_text(c.get("wire"))
    if wire:
        parts.append(f"<details><summary>wire log</summary><pre>{html.escape(wire)}</pre></details>")
    parts.append("</div>")
    return "".join(parts)


def write_html(summary: dict, path: Path) -> None:
    rows_by_chapter: dict[str, list[str]] = {}
    for r in summary["requirements"]:
        v = r["verdict"]
        fg, bg = COLORS.get(v, ("#333", "#fff"))
        cases = r.get("cases") or []
        counts = {}
        for c in cases:
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
        count_txt = ", ".join(f"{n} {k}" for k, n in counts.items()) or "-"
        details = "".join(_case_html(c) for c in cases)
        refs = f"<div class='meta'>refs: {html.escape(', '.join(r['refs']))}</div>" if r.get("refs") else ""
        body = (f"<details><summary>{html.escape(count_txt)}</summary>{details}</details>" if cases
                else "<span class='meta'>no case checks this requirement</span>" if v == "not checked"
                else "<span class='meta'>not selected in this run</span>")
        rows_by_chapter.setdefault(r["chapter"], []).append(
            f"<tr id='req-{html.escape(r['id'])}' style='background:{bg}'><td class='id'>{html.escape(r['id'])}</td>"
            f"<td class='id'>{html.escape(r['spec'] + ' ' + r['section'])}</td><td>{html.escape(r['level'])}</td>"
            f"<td>{html.escape(r['text'])}{refs}</td><td>{_badge(v)}</td><td>{r['duration']:.2f}s</td>"
            f"<td>{body}</td></tr>")
    totals = summary["totals"]
    tot_html = "".join(f"<span>{_badge(k)} {n}</span>" for k, n in totals.items() if k != "cases")
    bl = summary.get("baseline")
    bl_html = ""
    if bl and bl.get("file"):
        bl_html = (f"<p class='meta'>baseline <code>{html.escape(bl['file'])}</code>: "
                   f"{len(bl['known_failures'])} known failures, {len(bl['regressions'])} regressions, "
                   f"{len(bl['fixed'])} fixed, {len(bl['changed'])} changed verdicts</p>")
        if bl["regressions"]:
            bl_html += "<p class='meta'>regressions: " + html.escape(
                ", ".join(x["case"] for x in bl["regressions"])) + "</p>"
        if bl["fixed"]:
            bl_html += "<p class='meta'>fixed: " + html.escape(", ".join(x["case"] for x in bl["fixed"])) + "</p>"
    sections = []
    for chap, title in catalog.CHAPTERS.items():
        rows = rows_by_chapter.get(chap)
        if not rows:
            continue
        sections.append(f"<h2>{html.escape(title)}</h2><table><tr><th>requirement</th><th>section</th>"
                        f"<th>level</th><th>text</th><th>verdict</th><th>time</th><th>cases</th></tr>"
                        + "".join(rows) + "</table>")
    unchecked = summary.get("unchecked_requirements") or []
    banner = _banner_html(summary)
    ledger_html = _ledger_html(summary.get("ledger"))
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>RTMP conformance: {html.escape(summary['target'])}</title>
<style>{CSS}</style></head><body>
<h1>RTMP conformance report</h1>
{banner}
<p class="meta">target <b>{html.escape(summary['target'])}</b> &middot; {html.escape(summary['started'])} &middot;
{summary['duration']:.1f} s &middot; {'strict' if summary['strict'] else 'lenient'} mode &middot;
{totals.get('cases', 0)} cases, {summary['requirements_checked']} of {summary['requirements_total']} requirements
checked</p>
<p class="totals">{tot_html}</p>{bl_html}
{''.join(sections)}
<h2>Requirements no case checks yet ({len(unchecked)})</h2>
<p class="meta">{html.escape(', '.join(unchecked)) or 'none'}</p>
{ledger_html}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")


def _ledger_html(led: dict | None) -> str:
    """Statement coverage (the ledger): per source, per section (collapsed), and the statements no case checks."""
    if not led:
        return ""
    if led.get("error"):
        return f"<h2>Statement coverage</h2><p class='meta'>the statement ledger does not load: " \
               f"{html.escape(led['error'])}</p>"
    head = ("<tr><th>source</th><th>section</th><th>statements</th><th>testable</th><th>covered</th><th>partly</th>"
            "<th>uncovered</th><th>covered %</th></tr>")

    def rows(items: list[dict], with_section: bool) -> str:
        out = []
        for r in items:
            out.append(f"<tr><td>{html.escape(r['title'])}</td><td class='id'>"
                       f"{html.escape(r['section'] if with_section else '')}</td><td>{r['statements']}</td>"
                       f"<td>{r['testable']}</td><td>{r['covered']}</td><td>{r['partial']}</td>"
                       f"<td>{r['uncovered']}</td><td>{r['percent']:g}%</td></tr>")
        return "".join(out)

    y = led["yes"]
    run = led.get("this_run")
    un = "".join(f"<tr id='st-{html.escape(u['id'])}'><td class='id'>{html.escape(u['id'])}</td>"
                 f"<td>{html.escape(u['keyword'])}</td><td>{html.escape(u['status'])} ({html.escape(u['testable'])})"
                 f"</td><td>{html.escape(u['text'])}"
                 + (f"<div class='meta'>{html.escape(u['why'])}</div>" if u.get("why") else "") + "</td></tr>"
                 for u in led["uncovered"])
    return (f"<h2 id='statements'>Statement coverage ({html.escape(led['side'])} side)</h2>"
            f"<p class='meta'>conformance/ledger: every normative statement of RTMP 1.0, the errata, E-RTMP v1/v2, "
            f"AMF0/AMF3 and FLV Annex E, and which cases check it. {y['covered']} of {y['statements']} fully "
            f"wire-testable statements are checked by a case ({y['percent']:g}%)"
            + (f"; the cases of this run checked {run['statements_checked']}" if run else "") + ".</p>"
            f"<table>{head}{rows(led['sources'] + [led['total']], False)}</table>"
            f"<details><summary>per section</summary><table>{head}{rows(led['sections'], True)}</table></details>"
            f"<h2>Statements no case checks, or checks only in part ({len(led['uncovered'])})</h2>"
            f"<table><tr><th>statement</th><th>keyword</th><th>status</th><th>text</th></tr>{un}</table>")


def _banner_html(summary: dict) -> str:
    """The run stopped at the preflight, or the target crashed: said first, before any requirement."""
    box = "<div class='banner' style='border:2px solid #b3261e;background:#fbe4e2;padding:8px 12px;margin:10px 0'>"
    if summary.get("stopped"):
        pf = summary.get("preflight") or {}
        wire = _wire_text(pf.get("wire"))
        return (box + f"<b>STOPPED before any case:</b> {html.escape(summary['stopped'])}<br>"
                "<span class='meta'>the preflight (TCP connect, handshake, an answer to connect) failed: no case "
                "was run</span>" + (f"<details><summary>preflight wire log</summary><pre>{html.escape(wire)}"
                                    "</pre></details>" if wire else "") + "</div>")
    parts = []
    for c in summary.get("crashes") or []:
        also = c.get("concurrent") or {}
        parts.append(f"<li><b>CRASH</b> <span class='id'>{html.escape(c['case'])}</span>: the server stopped serving "
                     f"during this case ({html.escape(str(c.get('detail', '')))})"
                     + (f"; also running: {html.escape(', '.join(also.values()))}" if also else "")
                     + ("; restarted" if c.get("restarted") else "") + "</li>")
    if summary.get("not_run_cases"):
        down = summary.get("down") or {}
        parts.append(f"<li><b>NOT RUN</b> {summary['not_run_cases']} cases: target down since case "
                     f"{html.escape(str(down.get('since', '?')))} ({html.escape(str(down.get('detail', '')))})</li>")
    return box + "<ul style='margin:0'>" + "".join(parts) + "</ul></div>" if parts else ""


def write_junit_stopped(path: Path, reason: str) -> None:
    """JUnit XML of a run that stopped at the preflight: one errored test case saying why."""
    from xml.sax.saxutils import quoteattr

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="rtmp-conformance">'
                    '<testsuite name="rtmp-conformance" errors="1" failures="0" skipped="0" tests="1">'
                    f'<testcase classname="conformance" name="preflight"><error message={quoteattr(reason)}>'
                    f'{html.escape(reason)}</error></testcase></testsuite></testsuites>\n', encoding="utf-8")


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
