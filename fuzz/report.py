"""JSON and HTML summaries of a campaign (``reports/fuzz/``)."""

from __future__ import annotations

import html
import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["write_reports", "DEFAULT_DIR"]

DEFAULT_DIR = Path("reports") / "fuzz"

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top} th{background:#f4f4f4} .ok{color:#080;font-weight:bold} .bad{color:#b00;font-weight:bold}
code,pre{font:12px ui-monospace,monospace;background:#f7f7f7} pre{padding:6px;overflow-x:auto;max-height:20em}
.num{text-align:right}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _table(rows: list[tuple], head: tuple | None = None) -> str:
    out = ["<table>"]
    if head:
        out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else _e(c)}</td>" for c in r) + "</tr>")
    out.append("</table>")
    return "".join(out)


class _Raw(str):
    pass


def _sparkline(points: list, width: int = 600, height: int = 80, label: str = "") -> str:
    if len(points) < 2:
        return ""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs) or 1
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y1 = y0 + 1
    pts = " ".join(f"{(x - x0) / max(x1 - x0, 1e-9) * width:.1f},{height - (y - y0) / (y1 - y0) * height:.1f}"
                   for x, y in zip(xs, ys, strict=True))
    return (f'<svg width="{width}" height="{height + 14}" style="border:1px solid #eee">'
            f'<polyline fill="none" stroke="#36c" stroke-width="1.5" points="{pts}"/>'
            f'<text x="2" y="{height + 12}" font-size="10">{_e(label)} min {y0:,} max {y1:,}</text></svg>')


def render_html(summary: dict) -> str:
    s = summary
    mode = s.get("mode", "network")
    findings = s.get("findings", [])
    verdict = ('<span class="ok">no findings</span>' if not findings
               else f'<span class="bad">{len(findings)} finding(s)</span>')
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>RTMP fuzz report ({_e(mode)})</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>RTMP fuzzing campaign ({_e(mode)}): {verdict}</h1>"]
    rows = [("generated", time.strftime("%Y-%m-%d %H:%M:%S")), ("seed", s.get("seed"))]
    if mode == "network":
        t = s.get("target", {})
        rows += [("target", f"{t.get('name')} {t.get('address')}"), ("elapsed (s)", s.get("elapsed")),
                 ("triage (s)", s.get("triage_seconds")), ("cases", s.get("cases")),
                 ("cases/s (fuzzing time)", s.get("cases_per_second")), ("connections", s.get("connections")),
                 ("bytes sent", f"{s.get('bytes_sent', 0):,}"), ("probes", json.dumps(s.get("probes"))),
                 ("problems seen", s.get("problems")), ("target restarts", s.get("restarts")),
                 ("schema draws", s.get("schema_draws")), ("schema fields exercised", s.get("fields_exercised")),
                 ("response shapes", s.get("response_shapes")), ("corpus", json.dumps(s.get("corpus")))]
        if s.get("aborted"):
            rows.append(("aborted", _Raw(f'<span class="bad">{_e(s["aborted"])}</span>')))
    else:
        rows += [("elapsed (s)", s.get("elapsed")), ("jobs", s.get("jobs")), ("inputs", s.get("inputs")),
                 ("inputs/s", s.get("inputs_per_second")), ("schema draws", s.get("schema_draws")),
                 ("schema fields exercised", s.get("fields_exercised"))]
    parts.append("<h2>Summary</h2>" + _table(rows))
    parts.append("<h2>Findings</h2>")
    if findings:
        frows = []
        for f in findings:
            link = os.path.relpath(f["file"], s.get("report_dir", ".")) if f.get("file") else ""
            frows.append((f["symptom"], f["signature"], f.get("count"), "yes" if f.get("reproduced") else "no",
                          f.get("size"), json.dumps(f.get("minimized")) if f.get("minimized") else "",
                          _Raw(f'<a href="{_e(link)}">{_e(f["id"])}</a>'), f.get("description", "")[:300]))
        parts.append(_table(frows, ("symptom", "signature", "seen", "reproduced alone", "bytes", "minimized",
                                    "reproducer", "case")))
    else:
        parts.append("<p class='ok'>None.</p>")
    if mode == "network":
        g = s.get("generators", {})
        parts.append("<h2>Generators</h2>" + _table(
            [(k, v["cases"], ", ".join(f"{o} {n}" for o, n in sorted(v["outcomes"].items()))) for k, v in g.items()],
            ("generator", "cases", "connection outcomes")))
        parts.append("<h2>Outcomes</h2>" + _table(sorted(s.get("outcomes", {}).items()), ("outcome", "connections")))
        if s.get("rss"):
            parts.append("<h2>Target RSS</h2>" + _sparkline(s["rss"], label="bytes"))
        if s.get("timeline"):
            parts.append("<h2>Cases over time</h2>" + _sparkline([(t, c) for t, c, _ in s["timeline"]], label="cases"))
    else:
        parts.append("<h2>Targets</h2>" + _table(
            [(k, v.get("inputs"), v.get("rejected"), v.get("accepted"), v.get("findings", 0))
             for k, v in sorted(s.get("targets", {}).items())], ("target", "inputs", "rejected (documented errors)",
                                                                  "accepted", "findings")))
    parts.append("<h2>Schema fields exercised, by codec</h2>" + _table(sorted(s.get("fields_by_codec", {}).items()),
                                                                       ("codec", "distinct field paths")))
    fields = s.get("fields", [])
    if fields:
        parts.append(f"<details><summary>{len(fields)} field paths</summary><pre>"
                     + _e("\n".join(fields)) + "</pre></details>")
    if s.get("generator_errors") or s.get("draw_failures"):
        parts.append("<h2>Generator diagnostics</h2><pre>" + _e(json.dumps(
            {"errors": s.get("generator_errors"), "draw_failures": s.get("draw_failures")}, indent=1)) + "</pre>")
    parts.append("</body></html>")
    return "".join(parts)


def write_reports(summary: dict, directory: str | Path = DEFAULT_DIR, *, name: str = "summary") -> tuple[Path, Path]:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    summary = dict(summary)
    summary["report_dir"] = str(d)
    jp = d / f"{name}.json"
    hp = d / f"{name}.html"
    jp.write_text(json.dumps(summary, indent=1, default=str))
    hp.write_text(render_html(summary))
    return jp, hp
