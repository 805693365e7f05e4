"""CI self-test: the battery against nginx-rtmp (Debian's libnginx-mod-rtmp on a loopback port) must match the
committed baseline conformance/baselines/nginx-rtmp.json exactly: no regression, no unexpected pass, no other
changed verdict, and every deviation in the baseline explained with its spec section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from peers import nginx_binary, start_nginx_rtmp

from conformance.selftest import ROOT, run_battery

BASELINE = ROOT / "conformance" / "baselines" / "nginx-rtmp.json"

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def test_baseline_entries_are_explained():
    data = json.loads(BASELINE.read_text())
    assert data["cases"]
    for case, entry in data["cases"].items():
        assert entry["verdict"] in ("fail", "non-strict", "unsupported"), case
        assert entry["section"].strip(), case
        assert len(entry["reason"]) > 40 and "TODO" not in entry["reason"], case


@pytest.mark.skipif(nginx_binary() is None, reason="nginx with ngx_rtmp_module is not installed")
def test_battery_against_nginx_rtmp_matches_baseline(tmp_path: Path):
    port, stop = start_nginx_rtmp(tmp_path / "nginx")
    try:
        run = run_battery(["--target", f"127.0.0.1:{port}", "--baseline", str(BASELINE), "-n", "2"],
                          tmp_path / "reports", timeout=600)
    finally:
        stop()
    assert run.summary is not None, run.tail()
    bl = run.summary["baseline"]
    assert not bl["regressions"], f"regressions against the nginx-rtmp baseline: {bl['regressions']}"
    assert not bl["changed"], f"verdicts differ from the baseline (update it with the reason): {bl['changed']}"
    assert not bl["not_run"], f"baseline entries for cases that no longer exist: {bl['not_run']}"
    assert run.returncode == 0, run.tail()
