"""The matrix page: one self-contained HTML file (inline CSS, no script, no external asset).

Two tables, servers and clients: a row per requirement (grouped by chapter), a column per implementation, a cell
per (requirement, implementation) coloured by verdict (``td.cell.v-<verdict>``) that links to the cell's cases
further down the page (``#c-<impl>--<requirement>``): each case's verdict, expected and actual, and for a case that
did not pass the start of its wire log, with a link to the implementation's full report.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from . import catalog

VERDICT_STYLE = {  # verdict -> (background, foreground, symbol)
    "pass": ("#2e9d57", "#ffffff", "✓"),
    "informational": ("#8fc7a5", "#0b3a1e", "i"),
    "non-strict": ("#f0b429", "#3d2a00", "~"),
    "unsupported": ("#c4c4cc", "#33333b", "–"),
    "fail": ("#d64545", "#ffffff", "✗"),
    "error": ("#7a0e0e", "#ffffff", "!"),
    "crash": ("#4a0072", "#ffffff", "☠"),
    "not run": ("#f2f2f4", "#8a8a8a", "·"),
    "not checked": ("#f2f2f4", "#b0b0b0", "?"),
    "n/a": ("#ffffff", "#c8c8c8", ""),
}
ORDER = ["pass", "informational", "non-strict", "unsupported", "fail", "error", "crash", "not run", "not checked"]

CSS = """
body{font:13px/1.35 -apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:18px;color:#1d1d1f}
h1{font-size:21px;margin:0 0 4px} h2{font-size:17px;margin:26px 0 6px}
.meta{color:#555} a{color:#1a56a8}
table.matrix{border-collapse:collapse;margin-top:6px}
table.matrix th,table.matrix td{border:1px solid #fff;padding:2px 4px}
th.impl{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:600;font-size:12px;background:#f3f3f6;
  vertical-align:bottom;white-space:nowrap;padding:6px 3px;max-height:220px}
tr.chapter th{background:#e6e8ef;text-align:left;font-size:13px;padding:5px 6px}
td.req{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11.5px;white-space:nowrap;max-width:330px;
  overflow:hidden;text-overflow:ellipsis;background:#fafafa}
td.lvl{font-size:11px;color:#555;background:#fafafa}
td.cell{width:26px;min-width:26px;text-align:center;font-weight:700;font-size:13px}
td.cell a{display:block;color:inherit;text-decoration:none}
tr.summary td{font-size:11px;vertical-align:top;background:#f7f7f9;white-space:nowrap}
.legend span{display:inline-block;margin:0 10px 4px 0}
.sw{display:inline-block;width:14px;height:14px;border-radius:3px;vertical-align:-2px;margin-right:3px;
  box-shadow:inset 0 0 0 1px rgba(0,0,0,.12)}
.tables{display:flex;flex-wrap:wrap;gap:10px 48px;align-items:flex-start}
section.detail{border-top:1px solid #e2e2e8;padding:6px 0}
section.detail h3{font-size:13px;margin:0 0 3px}
.case{margin:2px 0 2px 12px} .case b{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11.5px}
pre{background:#f7f7f9;border:1px solid #e5e5ea;padding:5px;font-size:10.5px;overflow-x:auto;max-height:300px}
"""


def _style(verdict: str) -> tuple[str, str, str]:
    return VERDICT_STYLE.get(verdict, ("#eeeeee", "#333333", "?"))


def anchor(impl: str, req: str) -> str:
    return "c-" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{impl}--{req}")


def _badge(verdict: str) -> str:
    bg, fg, _ = _style(verdict)
    return f'<span class="sw" style="background:{bg}"></span>{html.escape(verdict)}'


def _summary_cell(counts: dict[str, int]) -> str:
    parts = [f'<div><span class="sw" style="background:{_style(v)[0]}"></span>{counts[v]}</div>'
             for v in ORDER if counts.get(v)]
    return "".join(parts) or "-"


def _table(data: dict, kind: str, impls: list[dict]) -> str:
    rows = [r for r in data["requirements"] if r.get("who", "server") == kind]
    head = "".join(f'<th class="impl" title="{html.escape(i["label"])}"><a href="{html.escape(i.get("report") or "")}">'
                   f'{html.escape(i["id"])}</a></th>' for i in impls)
    out = [f'<table class="matrix" id="matrix-{kind}"><thead><tr><th>requirement</th><th>level</th>{head}</tr>',
           '<tr class="summary"><td>requirements per verdict</td><td></td>'
           + "".join(f'<td class="count" data-impl="{html.escape(i["id"])}">'
                     f'{_summary_cell(i.get("requirement_counts", {}))}</td>' for i in impls)
           + "</tr></thead><tbody>"]
    chapter = None
    for r in rows:
        if r["chapter"] != chapter:
            chapter = r["chapter"]
            out.append(f'<tr class="chapter"><th colspan="{2 + len(impls)}">'
                       f'{html.escape(catalog.CHAPTERS.get(chapter, chapter))}</th></tr>')
        cells = []
        for i in impls:
            cell = r["cells"].get(i["id"], {"verdict": "not run", "cases": {}})
            v = cell["verdict"]
            bg, fg, sym = _style(v)
            title = f'{i["id"]}: {v} ({len(cell["cases"])} case{"s" if len(cell["cases"]) != 1 else ""})'
            cells.append(f'<td class="cell v-{v.replace(" ", "-").replace("/", "")}" style="background:{bg};color:{fg}" '
                         f'title="{html.escape(title)}"><a href="#{anchor(i["id"], r["id"])}">{sym}</a></td>')
        text = f'{r["id"]}: {r["spec"]} {r["section"]}: {r["text"]}'
        out.append(f'<tr><td class="req" title="{html.escape(text)}">{html.escape(r["id"])}</td>'
                   f'<td class="lvl">{html.escape(r["level"])}</td>{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _details(data: dict, impls: list[dict]) -> str:
    out = []
    for r in data["requirements"]:
        for i in impls:
            cell = r["cells"].get(i["id"])
            if cell is None:
                continue
            if cell["verdict"] == "n/a":
                out.append(f'<section class="detail" id="{anchor(i["id"], r["id"])}"><h3>{html.escape(i["id"])} '
                           f'&middot; {html.escape(r["id"])}: not applicable to this kind of client</h3></section>')
                continue
            report = i.get("report") or ""
            parts = [f'<section class="detail" id="{anchor(i["id"], r["id"])}"><h3>{html.escape(i["id"])} &middot; '
                     f'{html.escape(r["id"])} &middot; {_badge(cell["verdict"])}</h3>'
                     f'<div class="meta">{html.escape(r["spec"] + " " + r["section"])} ({html.escape(r["level"])}): '
                     f'{html.escape(r["text"])} &middot; <a href="{html.escape(report)}#req-{html.escape(r["id"])}">'
                     'full report with wire logs</a></div>']
            if not cell["cases"]:
                parts.append('<div class="case meta">no case of this requirement ran for this implementation</div>')
            for cid, c in sorted(cell["cases"].items()):
                v = "crash" if c.get("crash") else c["verdict"]
                line = f'<div class="case"><b>{html.escape(cid)}</b> {_badge(v)}'
                if v != "pass":
                    for k in ("detail", "expected", "actual"):
                        if c.get(k):
                            line += f'<div class="meta">{k}: {html.escape(str(c[k])[:600])}</div>'
                    if c.get("report"):
                        line += f'<div class="meta"><a href="{html.escape(c["report"])}">report of the crash run</a></div>'
                    if c.get("wire"):
                        line += f"<details><summary>wire log (start)</summary><pre>{html.escape(c['wire'])}</pre></details>"
                parts.append(line + "</div>")
            parts.append("</section>")
            out.append("".join(parts))
    return "".join(out)


def write_page(data: dict, path: Path) -> None:
    impls = data["implementations"]
    servers = [i for i in impls if i["kind"] == "server"]
    clients = [i for i in impls if i["kind"] == "client"]
    legend = "".join(f'<span><span class="sw" style="background:{_style(v)[0]}"></span>{_style(v)[2]} {v}</span>'
                     for v in ORDER)
    runs = "".join(f'<li><b>{html.escape(i["id"])}</b>: {html.escape(i["label"])} &middot; {i.get("seconds", 0):.1f} s'
                   + (f' &middot; <span style="color:#b3261e">{html.escape(str(i["error"])[:300])}</span>'
                      if i.get("error") else "")
                   + (f' &middot; crashes: {html.escape(", ".join(i["crashes"]))}' if i.get("crashes") else "")
                   + "</li>" for i in impls)
    skipped = "".join(f"<li>{html.escape(s)}</li>" for s in data.get("skipped") or [])
    body = [f"<h1>RTMP conformance matrix</h1><p class='meta'>{html.escape(data['generated'])} &middot; "
            f"{len(servers)} servers, {len(clients)} clients &middot; {data['seconds']:.1f} s. Each cell is the worst "
            "verdict of the requirement's cases for that implementation; click it for the cases.</p>",
            f"<p class='legend'>{legend}</p>"]
    tables = []
    if servers:
        tables.append(f"<div><h2>Servers ({len(servers)})</h2>{_table(data, 'server', servers)}</div>")
    if clients:
        tables.append(f"<div><h2>Clients ({len(clients)})</h2>{_table(data, 'client', clients)}</div>")
    body.append(f'<div class="tables">{"".join(tables)}</div>')
    body.append(f"<h2>Runs</h2><ul>{runs}</ul>")
    if skipped:
        body.append(f"<h2>Skipped</h2><ul>{skipped}</ul>")
    body.append("<h2>Cells</h2>" + _details(data, impls))
    doc = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>RTMP conformance matrix</title>'
           f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
