"""CI self-tests of client mode with real clients: our rtmp-client passes every case; every preset (ffmpeg, rtmpdump,
flvstreamer, GStreamer rtmp2sink/rtmp2src/rtmpsink) matches its committed baseline exactly (no regression, no
unexpected pass, no other changed verdict) with exit status 0; every baseline entry is explained."""

from __future__ import annotations

import json

import pytest

from conformance.case import REGISTRY
from conformance.client.presets import PRESETS
from conformance.selftest import ROOT, run_battery

BASELINES = ROOT / "conformance" / "baselines" / "clients"
OURS = ("rtmp-client-publish", "rtmp-client-play")

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _need(preset: str) -> None:
    missing = PRESETS[preset].missing()
    if missing:
        pytest.skip(f"{preset}: not installed: {', '.join(missing)} (.ci/run installs them)")


@pytest.mark.parametrize("preset", OURS)
def test_our_client_passes_every_case(preset, tmp_path):
    run = run_battery(["--client", preset], tmp_path / "reports", timeout=300)
    assert run.summary is not None, run.tail()
    verdicts = run.verdicts()
    assert len(verdicts) >= 30
    assert {c: v for c, v in verdicts.items() if v != "pass"} == {}, run.tail()
    assert run.returncode == 0, run.tail()


@pytest.mark.parametrize("preset", sorted(p for p in PRESETS if p not in OURS))
def test_preset_matches_its_baseline(preset, tmp_path):
    _need(preset)
    baseline = BASELINES / f"{preset}.json"
    run = run_battery(["--client", preset, "--baseline", str(baseline)], tmp_path / "reports", timeout=300)
    assert run.summary is not None, run.tail()
    assert run.summary["who"] == "client"
    bl = run.summary["baseline"]
    assert not bl["regressions"], f"regressions against {baseline.name}: {bl['regressions']}"
    assert not bl["changed"], f"verdicts differ from {baseline.name} (update it with the reason): {bl['changed']}"
    assert not bl["not_run"], f"baseline entries for cases that did not run: {bl['not_run']}"
    assert run.returncode == 0, run.tail()


def test_baseline_entries_are_explained():
    import conformance.test_client_play  # noqa: F401
    import conformance.test_client_publish  # noqa: F401

    for preset in PRESETS:
        data = json.loads((BASELINES / f"{preset}.json").read_text())
        assert data["target"], preset
        for case, entry in data["cases"].items():
            assert case in REGISTRY and REGISTRY[case].id.startswith("client-"), (preset, case)
            assert entry["verdict"] in ("fail", "non-strict", "unsupported"), (preset, case)
            assert entry["section"].strip(), (preset, case)
            assert len(entry["reason"]) > 40 and "TODO" not in entry["reason"], (preset, case)
    assert json.loads((BASELINES / "rtmp-client-publish.json").read_text())["cases"] == {}
    assert json.loads((BASELINES / "rtmp-client-play.json").read_text())["cases"] == {}
