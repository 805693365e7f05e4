"""Inputs that once broke rtmpspec (found by ``python -m fuzz inproc`` or a network campaign): each must now be
handled with documented errors only. Add one line per bug: (in-process target, params, input, what it was)."""

from __future__ import annotations

import asyncio

import pytest

from fuzz.case import Case, Conn, Part
from fuzz.inproc import classify, run_target
from fuzz.target import reference_server_available

HANDSHAKE_OVERFLOW = b"\x03" + bytes(1536) + bytes(70000)  # C0 + C1 + 70000 bytes before C2 completes... and more

REGRESSIONS = [
    # Connection.receive_data let the handshake's LimitExceeded ("more than 65536 bytes beyond the handshake")
    # escape without poisoning the connection: state stayed HANDSHAKE and data_to_send() raised the error again.
    # The reference server then leaked it from its close path ("Fatal error on transport", found by a campaign).
    ("connection", {"handshake": True}, HANDSHAKE_OVERFLOW, "handshake overflow leaves the connection unpoisoned"),
    ("connection", {"handshake": True, "pieces": [1, 1536, 1000]}, HANDSHAKE_OVERFLOW, "same, fed in pieces"),
]


@pytest.mark.parametrize("target,params,data,what", REGRESSIONS, ids=[r[3] for r in REGRESSIONS])
def test_regression_inputs_raise_documented_errors_only(target, params, data, what):
    exc = run_target(target, data, params)
    assert exc is None or classify(exc) is None, f"{what}: {classify(exc)}"


@pytest.mark.skipif(not reference_server_available(), reason="reference_server is not available")
def test_reference_server_survives_handshake_overflow_without_internal_error():
    from fuzz.oracle import Checker
    from fuzz.peers import make_preset

    t = make_preset("reference")
    t.start()
    try:
        checker = Checker(t, probe_timeout=5)
        obs = asyncio.run(checker.check(Case("regression", [Conn([Part("overflow", HANDSHAKE_OVERFLOW)])])))
    finally:
        t.stop()
    assert obs is None, obs
