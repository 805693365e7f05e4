"""The interop matrix page as a person sees it: a real (small) matrix run, then the page opened in headless
Chromium (Debian's ``chromium``): the DOM after rendering has one coloured cell per (requirement, implementation)
of each table, a summary per column and a details section per cell; the screenshot is a real picture with the
verdict colours in it. A second test renders a synthetic matrix with every verdict (crash included)."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from conformance import catalog
from conformance.matrix_html import VERDICT_STYLE, write_page
from conformance.selftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")]


def chromium(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}", *args, page.as_uri()],
                          capture_output=True, timeout=120)


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 4 if ctype == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytes(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = bytes(line)
    return width, height, [b"".join(r[i:i + 3] for i in range(0, len(r), bpp)) for r in rows]


def colour_pixels(rows: list[bytes], hex_colour: str) -> int:
    want = bytes.fromhex(hex_colour.lstrip("#"))  # a CSS colour of the page, not protocol bytes
    return sum(row.count(want) for row in rows)  # approximate (may straddle pixels), enough to see colour


def check_page(page: Path, tmp: Path, data: dict) -> str:
    """Render ``page``; assert DOM cell counts and a screenshot with the verdict colours. Returns the DOM."""
    dom = chromium(page, tmp, "--dump-dom").stdout.decode("utf-8", "replace")
    impls = data["implementations"]
    expected = 0
    for kind in ("server", "client"):
        cols = [i for i in impls if i["kind"] == kind]
        rows = [r for r in data["requirements"] if r["who"] == kind]
        if cols:
            table = re.search(rf'<table class="matrix" id="matrix-{kind}">(.*?)</table>', dom, re.S)
            assert table, f"no {kind} table in the rendered DOM"
            cells = re.findall(r'<td class="cell v-([a-z-]+)"', table.group(1))
            assert len(cells) == len(rows) * len(cols), (kind, len(cells), len(rows), len(cols))
            assert len(re.findall(r'<td class="count"', table.group(1))) == len(cols)
            expected += len(rows) * len(cols)
            # every cell's verdict is the one in the JSON
            want = [r["cells"][i["id"]]["verdict"].replace(" ", "-").replace("/", "") for r in rows for i in cols]
            assert cells == want
    assert len(re.findall(r'<section class="detail" id="c-', dom)) == expected
    shot = tmp / "shot.png"
    r = chromium(page, tmp, f"--screenshot={shot}", "--window-size=1400,1000", "--hide-scrollbars")
    assert shot.exists(), r.stderr[-2000:]
    width, height, rows = read_png(shot)
    assert (width, height) == (1400, 1000)
    assert colour_pixels(rows, VERDICT_STYLE["pass"][0]) > 500, "no pass-green cell on the screenshot"
    return dom


def test_matrix_of_a_real_run_renders_in_chromium(tmp_path):
    out = tmp_path / "matrix"
    r = subprocess.run([sys.executable, "-m", "conformance.matrix", "--servers", "reference", "--clients",
                        "rtmp-client-publish,rtmp-client-play", "--out", str(out), "-j", "3"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    data = json.loads((out / "matrix.json").read_text())
    assert [i["id"] for i in data["implementations"]] == ["reference", "rtmp-client-publish", "rtmp-client-play"]
    for impl in data["implementations"]:
        assert not impl["error"] and impl["case_counts"].get("pass", 0) > 25, impl
        assert (out / impl["report"]).exists()
    # our server and our client pass: every cell of ours is pass or informational
    for row in data["requirements"]:
        for cell in row["cells"].values():
            assert cell["verdict"] in ("pass", "informational", "n/a", "not checked"), (row["id"], cell["verdict"])
    check_page(out / "matrix.html", tmp_path, data)
    assert "requirements:" in r.stdout


def test_every_verdict_is_drawn_and_crashes_are_marked(tmp_path):
    reqs = catalog.load()
    server_reqs = [r for r in catalog.ordered(reqs.values()) if r.who == "server"][:10]
    client_reqs = [r for r in catalog.ordered(reqs.values()) if r.who == "client"][:10]
    verdicts = ["pass", "fail", "non-strict", "unsupported", "informational", "error", "crash", "not run",
                "not checked", "n/a"]
    impls = [{"id": "srv-a", "kind": "server", "label": "A", "report": "srv-a/conformance.html", "seconds": 1.0,
              "requirement_counts": {"pass": 4, "crash": 1}, "crashes": ["x"]},
             {"id": "cli-b", "kind": "client", "label": "B", "report": "cli-b/conformance.html", "seconds": 2.0,
              "requirement_counts": {"fail": 2}}]
    rows = []
    for k, r in enumerate(server_reqs + client_reqs):
        impl = "srv-a" if r.who == "server" else "cli-b"
        v = verdicts[k % len(verdicts)]
        case = {"requirement": r.id, "verdict": "fail" if v == "crash" else v, "detail": "d", "crash": v == "crash",
                "wire": "0.0 conn1 <- message" if v != "pass" else ""}
        empty = v in ("not run", "not checked", "n/a")
        rows.append({**r.to_json(), "cells": {impl: {"verdict": v, "cases": {} if empty else {"c": case}}}})
    data = {"generated": "now", "seconds": 3.0, "implementations": impls, "requirements": rows}
    page = tmp_path / "m.html"
    write_page(data, page)
    text = page.read_text()
    assert "<script" not in text and "http://" not in text and "https://" not in text  # self-contained
    dom = check_page(page, tmp_path, data)
    for v in verdicts:
        assert f'class="cell v-{v.replace(" ", "-").replace("/", "")}"' in dom, v
    assert "☠" in dom and "crashes: x" in dom
