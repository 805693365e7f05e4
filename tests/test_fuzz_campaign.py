"""CI's fuzzing campaign: 60 seconds against the embedded reference server, no finding allowed.

Marked ``slow`` (select it with ``pytest -m slow tests/test_fuzz_campaign.py``, leave it out with
``-m "not slow"``). Bounded: the campaign (fuzzing, triage, report) ends within its 60 s (--duration bounds the wall
time), minimization has its own bound, and the subprocess is killed after 6 minutes whatever happens. Thresholds for "slow" are generous because CI runs
it next to other tests on 2 cores. The report (JSON + HTML) stays in ``reports/fuzz/ci-campaign/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "fuzz" / "ci-campaign"


@pytest.mark.slow
def test_fuzz_campaign_60s_reference_server_has_no_findings():
    cmd = [sys.executable, "-m", "fuzz", "--duration", "60", "--seed", "20240501", "--reports-dir", str(REPORT),
           "--progress-interval", "15", "--probe-timeout", "10", "--hang-timeout", "20", "--slow-threshold", "8",
           "--minimize-total-seconds", "60"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=360, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - the bounds above should make this impossible
        pytest.fail(f"fuzz campaign did not stop within 6 minutes: {exc}")
    summary = json.loads((REPORT / "summary.json").read_text())
    findings = summary["findings"]
    detail = "\n".join(f"{f['symptom']}: {f['signature']} -> {f['file']}" for f in findings)
    assert out.returncode == 0 and not findings, f"fuzzing found problems:\n{detail}\n{out.stderr[-3000:]}"
    assert summary["cases"] > 3000, summary  # it did fuzz (a few hundred cases per second even on a busy CI box)
    assert not summary["aborted"]
    assert summary["elapsed"] <= 60 * 1.05, summary["elapsed"]  # --duration bounds the campaign's wall time
