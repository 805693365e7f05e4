"""CI self-test: the whole battery against our reference server (started by the plugin itself, one per xdist
worker), as ``pytest conformance -n 2`` in a subprocess. Every MUST-level case must pass, and the run must stay
well inside the 60 s budget. Also: the battery over RTMPS against the reference server with a self-signed
certificate (--tls-insecure)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.selftest import run_battery

pytestmark = pytest.mark.slow


def _must_failures(run) -> list[str]:
    out = []
    for req in run.summary["requirements"]:
        for c in req["cases"]:
            if req["level"] == "MUST" and c["verdict"] in ("fail", "error"):
                out.append(f"{c['case']}: {c['detail'][:300]}")
    return out


def test_battery_against_reference_server(tmp_path: Path):
    run = run_battery(["-n", "2"], tmp_path / "reports", timeout=300)
    assert run.summary is not None, run.tail()
    failures = _must_failures(run)
    assert not failures, "MUST-level failures of the reference server:\n" + "\n".join(failures)
    assert run.returncode == 0, run.tail()
    assert run.summary["totals"]["cases"] >= 120
    assert run.seconds < 60, f"the battery took {run.seconds:.1f} s"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
def test_battery_over_rtmps(tmp_path: Path):
    cert = tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(cert), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    cmd = f"{sys.executable} -m reference_server --tls-cert {cert} --tls-key {cert}"
    run = run_battery(["--reference-server-cmd", cmd, "-m", "handshake or commands", "-n", "2"],
                      tmp_path / "reports", timeout=300)
    assert run.summary is not None, run.tail()
    assert run.summary["target"].startswith("embedded reference server: rtmps://"), run.summary["target"]
    failures = _must_failures(run)
    assert not failures, "\n".join(failures)
    assert run.summary["totals"]["cases"] >= 40
