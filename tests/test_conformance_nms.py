"""CI self-test: the battery against node-media-server 4 (npm, on the machine's Node) must match the committed
baseline conformance/baselines/node-media-server.json. Skipped when node/npm are missing or the package does not
install.

node-media-server crashes (the whole process exits) on a few cases; those are listed under "crashes" in the
baseline. The main run deselects them, and each is then run alone against a fresh server process, where it must
give exactly its baseline verdict."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conformance.selftest import ROOT, run_battery
from fuzz.peers import free_port, wait_listening

BASELINE = ROOT / "conformance" / "baselines" / "node-media-server.json"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rtmp-conformance" / "node-media-server-4"

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(scope="module")
def nms_app() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm are not installed")
    app = CACHE / "node_modules" / "node-media-server" / "bin" / "app.js"
    if not app.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "node-media-server@4"], cwd=CACHE,
                               capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.skip("npm install node-media-server@4 timed out")
        if r.returncode != 0 or not app.exists():
            pytest.skip(f"npm install node-media-server@4 failed: {r.stderr[-500:]}")
    return app


class NMS:
    def __init__(self, app: Path, workdir: Path) -> None:
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        conf = {"bind": "127.0.0.1", "notify": {"url": ""},
                "store": {"path": str(workdir / "data"), "maxHistory": 100},
                "auth": {"play": False, "publish": False, "secret": ""}, "rtmp": {"port": self.port},
                "http": {"port": free_port()}, "webadmin": {"enable": False},
                "record": {"auto": False, "path": str(workdir / "record")}}
        (workdir / "config.json").write_text(json.dumps(conf))
        self.log = open(workdir / "nms.log", "wb")
        self.proc = subprocess.Popen(["node", str(app), "-c", str(workdir / "config.json")], cwd=workdir,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_listening(self.port, self.proc, time.monotonic() + 20, "node-media-server")
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def test_battery_against_node_media_server_matches_baseline(nms_app: Path, tmp_path: Path):
    baseline = json.loads(BASELINE.read_text())
    crashes = baseline.get("crashes", {})
    server = NMS(nms_app, tmp_path / "nms")
    try:
        args = ["--target", f"127.0.0.1:{server.port}", "--baseline", str(BASELINE), "-n", "2"]
        for nodeid in crashes.values():
            args += ["--deselect", nodeid]
        run = run_battery(args, tmp_path / "reports", timeout=600)
        alive = server.proc.poll() is None
    finally:
        server.stop()
    assert run.summary is not None, run.tail()
    assert alive, "node-media-server died during the main run: a new crash case? see nms.log"
    bl = run.summary["baseline"]
    assert not bl["regressions"], bl["regressions"]
    assert not bl["changed"], f"verdicts differ from the baseline: {bl['changed']}"
    assert sorted(bl["not_run"]) == sorted(crashes), bl["not_run"]
    assert run.returncode == 0, run.tail()

    for case, nodeid in crashes.items():
        server = NMS(nms_app, tmp_path / f"nms-{case}")
        try:
            one = run_battery(["--target", f"127.0.0.1:{server.port}"], tmp_path / f"reports-{case}",
                              timeout=120, paths=(nodeid,))
            died = server.proc.poll() is not None
        finally:
            server.stop()
        assert one.verdicts() == {case: baseline["cases"][case]["verdict"]}, one.tail()
        assert died, f"{case} no longer crashes node-media-server: update the baseline"


def test_baseline_entries_are_explained():
    data = json.loads(BASELINE.read_text())
    for case, entry in data["cases"].items():
        assert entry["verdict"] in ("fail", "non-strict", "unsupported"), case
        assert entry["section"].strip() and len(entry["reason"]) > 40 and "TODO" not in entry["reason"], case
    assert set(data.get("crashes", {})) <= set(data["cases"])
