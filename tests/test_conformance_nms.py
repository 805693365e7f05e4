"""CI self-test: the battery against node-media-server 4 (npm, on the machine's Node) must match the committed
baseline conformance/baselines/node-media-server.json. Skipped when node/npm are missing or the package does not
install.

node-media-server crashes (the whole process exits) on a few cases; the baseline marks them ``"crash": true``. One
plain run of the whole battery, with ``--restart-cmd`` starting node-media-server again, must match the baseline
exactly: each crashing case is named once ("the server stopped serving during this case"), the run goes on after
it, and no other case is affected."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from conformance.selftest import ROOT, run_battery
from harness import peers

BASELINE = ROOT / "conformance" / "baselines" / "node-media-server.json"

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(scope="module")
def nms_app() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm are not installed")
    app = peers.nms_app(install=True)
    if app is None:
        pytest.skip("npm install node-media-server@4 failed or timed out")
    return app


def test_battery_against_node_media_server_matches_baseline(nms_app: Path, tmp_path: Path):
    baseline = json.loads(BASELINE.read_text())
    crashes = sorted(k for k, v in baseline["cases"].items() if v.get("crash"))
    assert crashes, "the baseline names the cases that crash node-media-server"
    server = peers.node_media_server(nms_app, tmp_path / "nms").start()
    # the same server again, on the same port, after a crash (the plugin stops it at the end of the run)
    restart = shlex.join(["node", str(nms_app), "-c", str(tmp_path / "nms" / "config.json")])
    try:
        run = run_battery(["--target", f"127.0.0.1:{server.port}", "--baseline", str(BASELINE), "-n", "2",
                           "--restart-cmd", restart], tmp_path / "reports", timeout=600)
    finally:
        server.stop()
    assert run.summary is not None, run.tail()
    bl = run.summary["baseline"]
    assert not bl["regressions"], bl["regressions"]
    assert not bl["changed"], f"verdicts differ from the baseline: {bl['changed']}"
    assert not bl["not_run"], f"baseline entries for cases that no longer exist: {bl['not_run']}"
    assert not bl["target_down"] and run.summary["not_run_cases"] == 0
    # every crashing case is named once, first in the summary, and the run went on after each
    assert sorted(c["case"] for c in run.summary["crashes"]) == crashes, run.summary["crashes"]
    for case in crashes:
        assert run.output.count(f"CRASH {case}:") == 1, run.tail()
        assert run.verdicts()[case] == "fail"
    assert run.summary["totals"]["cases"] >= 120
    assert run.returncode == 0, run.tail()
