"""Inputs that once broke rtmpspec (found by ``python -m fuzz inproc`` or a network campaign): each must now be
handled with documented errors only. Add one line per bug: (in-process target, params, input, what it was)."""

from __future__ import annotations

import asyncio
import math

import pytest

from fuzz.case import Conn, FuzzCase, Part
from fuzz.inproc import classify, run_target
from rtmpspec import messages as msgs
from rtmpspec.chunkwriter import chunk_message

HANDSHAKE_OVERFLOW = b"\x03" + bytes(1536) + bytes(70000)  # C0 + C1 + 70000 bytes before C2 completes... and more

_NAN_CONNECT = chunk_message(msgs.Command("connect", math.nan, {"app": "live"}).to_message(), 128)

REGRESSIONS = [
    # A connect whose transaction id is NaN could never be answered: the server Connection compared ids with ==,
    # so its _result did not count as the connect result, the state stayed CONNECT_PENDING and the reference
    # server's next data message (|RtmpSampleAccess on play) raised LocalProtocolError (campaign finding).
    ("connection", {"handshake": False, "serve": True}, _NAN_CONNECT, "connect with a NaN transaction id"),
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


def _nan_session() -> bytes:
    from rtmpspec import craft

    return (b"\x03" + bytes(3072) + _NAN_CONNECT + craft.command(msgs.create_stream(2))
            + craft.command(msgs.play("k", msid=1)))


NETWORK_REGRESSIONS = [
    ("handshake overflow", HANDSHAKE_OVERFLOW),  # "Fatal error on transport" (unpoisoned Connection)
    ("NaN connect then play", _nan_session()),  # internal_error: LocalProtocolError ... CONNECT_PENDING
]


def test_reference_server_handles_former_findings_without_internal_error():
    from fuzz.oracle import Checker
    from fuzz.target import preset

    t = preset("reference").start()
    try:
        checker = Checker(t, probe_timeout=5)
        for name, data in NETWORK_REGRESSIONS:
            obs = asyncio.run(checker.check(FuzzCase("regression", [Conn([Part(name, data)])])))
            assert obs is None, (name, obs)
    finally:
        t.stop()


# Reproducers of reference-server bugs found by the 10-minute campaign (kept as the fuzzer saved them):
#  65dbe7ebaa  deleteStream with stream id +-inf: int() raised OverflowError (session.py, now math.isfinite)
#  7f0bacad6e, 456bae0e02, 8a6dd01c6e  an AMF3 data message (type 15) with a Date/Vector/ByteArray, relayed
#              to a player: re-encoding as AMF0 raised TypeError (relay.py now relays such values as AMF3)
FINDINGS_DIR = __import__("pathlib").Path(__file__).parent / "data" / "fuzz-findings"


def test_reference_server_campaign_reproducers_no_longer_reproduce():
    from fuzz.findings import load_finding
    from fuzz.oracle import Checker
    from fuzz.target import preset

    files = sorted(FINDINGS_DIR.glob("*.json"))
    assert len(files) == 4
    t = preset("reference").start()
    try:
        checker = Checker(t, probe_timeout=5)
        for path in files:
            f = load_finding(path)
            obs = asyncio.run(checker.check(f.case))
            assert obs is None, (path.name, obs)
    finally:
        t.stop()
