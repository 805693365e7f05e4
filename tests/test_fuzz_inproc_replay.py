"""Minimizing and replaying an in-process finding (fuzz/inproc_replay.py), on a bug planted in a real parser:
a wrapper around ``amf0.decode_all`` that fails with an undocumented error when the input holds the two bytes
DE AD anywhere. The minimizer must cut a large input down to those two bytes, the stored finding must load back
and replay must reproduce it; once the bug is gone, replay must say so. And the SIGALRM watchdog every
in-process run goes through (``inproc_targets.watchdog``) turns a parser that hangs into a ``slow`` finding."""

from __future__ import annotations

import signal

import pytest

from fuzz import inproc_targets
from fuzz.findings import FindingStore, load_finding
from fuzz.inproc import InprocFuzzer
from fuzz.inproc_replay import minimize_input, replay_finding, same_signature, to_finding
from fuzz.inproc_targets import classify, run_target
from rtmpspec import amf0

PLANTED = "planted-amf0"


def _buggy(data: bytes, params: dict) -> None:
    if b"\xde\xad" in data:
        raise ZeroDivisionError("planted bug")
    amf0.decode_all(data)


@pytest.fixture
def planted(monkeypatch):
    monkeypatch.setitem(inproc_targets.TARGETS, PLANTED, _buggy)
    return PLANTED


def test_minimize_store_and_replay_a_planted_bug(planted, tmp_path, capsys):
    data = amf0.encode_all(["connect", 1.0, {"app": "live", "tcUrl": "rtmp://127.0.0.1/live"}]) + b"\xde\xad" \
        + bytes(300)
    exc = run_target(planted, data, {})
    sig = classify(exc)
    assert sig is not None and sig.startswith("ZeroDivisionError: planted bug")
    assert same_signature(planted, data, {}, sig)
    assert not same_signature(planted, bytes(10), {}, sig)  # a documented error or none is not the finding

    small, stats = minimize_input(planted, data, {"pieces": [3, 5]}, sig)
    assert small == b"\xde\xad"
    assert stats["from"] == len(data) and stats["to"] == 2 and stats["complete"]
    assert stats["params"] == {"pieces": []}  # one piece still fails, so the simpler params are kept

    f = {"target": planted, "data": small.hex(), "params": stats["params"], "signature": sig,
         "traceback": "", "count": 3}
    store = FindingStore(tmp_path / "findings")
    stored, new = store.add(to_finding(f, seed=7))
    assert new
    loaded = load_finding(store.save(stored))
    assert loaded.mode == "inproc" and loaded.seed == 7 and loaded.case.conns[0].data == b"\xde\xad"

    assert replay_finding(loaded) == 1
    assert "reproduced: planted-amf0: ZeroDivisionError" in capsys.readouterr().out


def test_replay_says_when_the_bug_is_gone(planted, monkeypatch, capsys):
    f = {"target": planted, "data": "dead", "params": {}, "signature": "ZeroDivisionError: planted bug",
         "traceback": "", "count": 1}
    finding = to_finding(f, seed=1)
    monkeypatch.setitem(inproc_targets.TARGETS, planted, lambda data, params: amf0.decode_all(data))
    assert replay_finding(finding) == 0
    assert "not reproduced: planted-amf0 raised a documented error" in capsys.readouterr().out


def test_the_watchdog_turns_a_hang_into_a_slow_finding(monkeypatch):
    """A parser that never returns: the campaign's SIGALRM watchdog stops each input after twice ``slow_seconds``
    and records one ``slow`` finding; afterwards the previous SIGALRM handler is back and no alarm is pending.
    Slow findings are not minimized (each test would take the whole timeout)."""

    def hang(data: bytes, params: dict) -> None:
        while True:
            pass

    def before(signum, frame):  # the handler that was there before the campaign
        raise AssertionError("an alarm fired after the campaign")

    monkeypatch.setitem(inproc_targets.TARGETS, "amf0", hang)
    previous = signal.signal(signal.SIGALRM, before)
    try:
        fz = InprocFuzzer(3, targets=["amf0"], slow_seconds=0.05)
        fz.run(30.0, max_inputs=2)
        handler = signal.getsignal(signal.SIGALRM)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert fz.inputs == 2
    (f,) = fz.result()["findings"].values()
    assert f["target"] == "amf0" and f["signature"] == "slow: more than 0.1s" and f["count"] == 2
    assert handler is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    data = bytes.fromhex(f["data"])
    assert minimize_input("amf0", data, {}, f["signature"]) == (data, {"tests": 0,
                                                                       "skipped": "slow inputs are not minimized"})
