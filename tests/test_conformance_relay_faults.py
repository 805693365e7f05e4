"""The relay contract means only "publish on app/key reaches play of app/key at all"; whether the media arrives
intact is what the relay cases judge. Three faulty relays (tests/faulty_relay.py, a proxy in front of our
reference server that rewrites the media on the way to the players) must each make the run fail on the relay cases
that see the fault, while the contract probe passes: no relay case is skipped as "unsupported". The same proxy
without a fault is the control: every relay case passes through it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from faulty_relay import FaultyRelay

from conformance.selftest import run_battery
from harness.peers import reference_server

pytestmark = pytest.mark.slow

# fault -> cases that must fail, with what their detail must say
MUST_FAIL = {
    "alter-video": {"7.1.5-video-only-relay": r"payload altered: 1 of \d+ bytes differ",
                    "7.1-av-interleaved-relay": r"payload altered", "7.1-three-players": r"payload altered",
                    "ertmp-hvc1-relay": r"payload altered", "7.2.2.2-play2-switch": r"altered on the way",
                    "7.1-large-message-900k": r"payload altered"},
    "zero-timestamps": {"7.1.4-audio-only-relay": r"timestamp 0, expected 23",
                        "7.1.5-video-only-relay": r"timestamp 0, expected 40",
                        "5.3.1.2-deltas-type2-type3": r"timestamp 0, expected",
                        "5.3.1.3-extended-type1-delta": r"timestamp 0, expected 16777232"},
    "drop-tenth": {"7.1-av-interleaved-relay": r"is missing: in its place the player got message",
                   "7.1.4-audio-only-relay": r"is missing", "7.1.5-video-only-relay": r"is missing",
                   "7.1-three-players": r"is missing"},
}


@pytest.mark.parametrize("fault", ["none", *MUST_FAIL])
def test_a_faulty_relay_fails_the_relay_cases_not_the_probe(fault: str, tmp_path: Path):
    server = reference_server(log=tmp_path / "server.log").start()
    port = server.port
    try:
        with FaultyRelay(port, fault) as relay:
            # a dropped message costs each case that misses it a step timeout: the media chapter is enough there
            marker = "relay and media" if fault == "drop-tenth" else "relay"
            run = run_battery(["--target", f"127.0.0.1:{relay.port}", "-m", marker, "--step-timeout", "1"],
                              tmp_path / "reports", timeout=180)
            changed = relay.changed
    finally:
        server.stop()
    assert run.summary is not None, run.output
    v = run.verdicts()
    assert len(v) >= (25 if fault == "drop-tenth" else 50)
    # the probe: media arrives, so the contract is met and no relay case is "unsupported" for it
    assert v["contract-publish-play-relay"] == "pass", run.tail()
    contract = [c["case"] for c in run.cases() if "relay contract" in (c["detail"] or "")]
    assert not contract, contract
    failing = {c["case"]: c["detail"] for c in run.cases() if c["verdict"] in ("fail", "non-strict", "error")}
    if fault == "none":
        assert changed == 0 and not failing, failing
        assert run.returncode == 0, run.tail()
        return
    assert changed > 0
    for case, pattern in MUST_FAIL[fault].items():
        assert v[case] == "fail", (case, v[case], failing.get(case))
        assert re.search(pattern, failing[case]), (case, failing[case])
    assert run.returncode == 1, run.tail()
