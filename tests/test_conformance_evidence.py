"""No pass without evidence, case by case: every case of the battery run directly (``run_case``, no plugin: no
preflight, no health probe after the case) against targets that are no RTMP server, or that answer the handshake
and ``connect`` and then misbehave. The preflight stops real runs against such targets before any case
(tests/test_conformance_trust.py); these tests make sure the cases' own rules hold without it:

- against the four non-servers (close at once, silent, garbage, echo) no case passes, is informational or
  non-strict (a SHOULD "not met" judged on a session that never worked), and "unsupported" comes only from the
  unmet relay contract;
- against fake servers that answer the handshake and the first ``connect`` of a connection and then go silent,
  close, send garbage or echo, a case may pass (or be informational / non-strict) only if the only command it sent
  was ``connect``: everything else it needed is what the fake does not do, so it must end in fail or error;
- against a fake that answers connect, createStream, publish and play but relays nothing, the relay contract is
  not met and every relay case is unsupported.

Each target gets every case at once on a thread pool with a 0.3 s step timeout: bounded, a few seconds each. A
short timeout only makes cases fail sooner; the few checks that something *does* pass (so that the rules above are
not vacuous) run those cases again, alone, with the default 3 s."""

from __future__ import annotations

import importlib
import pkgutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nonservers import FakeTarget

from conformance import case as case_mod
from conformance.case import REGISTRY, Case, Settings, probe_contract, run_case
from conformance.driver import Target
from conformance.verdicts import Verdict

STEP = 0.3
PKG = Path(case_mod.__file__).resolve().parent
NOT_SERVERS = ("close", "silent", "garbage", "echo")
JUDGEMENTS = (Verdict.PASS, Verdict.INFORMATIONAL, Verdict.NON_STRICT)


def _cases() -> list[Case]:
    for mod in pkgutil.iter_modules([str(PKG)]):
        if mod.name.startswith("test_"):
            importlib.import_module(f"conformance.{mod.name}")
    # the server cases (client-mode cases judge a client the battery plays server to: tests/test_conformance_client*)
    return [c for k, c in sorted(REGISTRY.items())
            if not k.startswith("selftest-") and c.requirement.who == "server"]


def _battery(port: int, *, contract_timeout: float = STEP) -> dict[str, tuple]:
    settings = Settings(Target("127.0.0.1", port), step_timeout=STEP)
    settings.contract = probe_contract(settings.target, contract_timeout)
    cases = _cases()
    with ThreadPoolExecutor(48) as pool:
        runs = list(pool.map(lambda c: run_case(settings, c), cases))
    return {c.id: (c, outcome, ctx) for c, (outcome, ctx, _) in zip(cases, runs, strict=True)}


def _commands_sent(ctx) -> list[str]:
    """Names of every command the case sent (from its wire log: chunked by the writer or crafted and decoded)."""
    names = []
    for e in ctx.log.entries:
        v = e["summary"].get("values") if e["dir"] == "out" and isinstance(e["summary"], dict) else None
        if isinstance(v, list) and v and isinstance(v[0], str):
            names.append(v[0])
    return names


def _contract_unsupported(outcome) -> bool:
    return outcome.verdict is Verdict.UNSUPPORTED and "relay contract" in outcome.detail


@pytest.mark.parametrize("kind", NOT_SERVERS)
def test_no_case_passes_against_a_non_server(kind: str):
    with FakeTarget(kind) as t:
        results = _battery(t.port)
    assert len(results) >= 120
    bad = [f"{cid}: {o.verdict.value}: {o.detail[:160]}" for cid, (c, o, ctx) in results.items()
           if o.verdict in JUDGEMENTS or (o.verdict is Verdict.UNSUPPORTED and not _contract_unsupported(o))]
    assert not bad, f"verdicts without evidence against a {kind!r} non-server:\n" + "\n".join(bad)
    errors = [cid for cid, (c, o, ctx) in results.items() if o.verdict is Verdict.ERROR]
    assert errors and all(results[cid][1].detail.startswith("setup: ") for cid in errors)


@pytest.mark.parametrize("after", ("silent", "close", "garbage", "echo"))
def test_after_connect_only_connect_cases_can_pass(after: str):
    with FakeTarget("rtmp", after_connect=after) as t:
        results = _battery(t.port)
    bad, passed = [], []
    for cid, (_c, o, ctx) in results.items():
        if o.verdict in JUDGEMENTS or (o.verdict is Verdict.UNSUPPORTED and not _contract_unsupported(o)):
            others = sorted(set(_commands_sent(ctx)) - {"connect"})
            if others:
                bad.append(f"{cid}: {o.verdict.value} although it sent {others}: {o.detail[:160]}")
            else:
                passed.append(cid)
    assert not bad, (f"a fake that answers connect and then goes {after!r}: verdicts on commands it never "
                     "answered:\n" + "\n".join(bad))
    # not vacuous: what the fake does answer (the handshake, connect) is judged, and passes
    with FakeTarget("rtmp", after_connect=after) as t:
        again = _alone(t.port, ["5.2.2-s0-version-3", "7.2.1.1-connect-result", "7.2.1.1-connect-window-ack-size"])
        again += _alone(t.port, ["7.2.2.6-publish-live-start"], step=1.0)  # it waits for what never comes
    assert [o.verdict for o in again[:3]] == [Verdict.PASS] * 3, [o.detail for o in again]
    assert again[3].verdict is Verdict.ERROR and again[3].detail.startswith("setup: createStream"), again[3].detail


def _alone(port: int, ids: list[str], step: float = 3.0) -> list:
    settings = Settings(Target("127.0.0.1", port), step_timeout=step)
    return [run_case(settings, REGISTRY[cid])[0] for cid in ids]


def test_a_server_that_relays_nothing_gets_no_relay_verdict():
    with FakeTarget("rtmp", relay=False) as t:
        results = _battery(t.port, contract_timeout=3.0)
        again = _alone(t.port, ["7.2.2.6-publish-live-start"])
    relay = {cid: o for cid, (c, o, ctx) in results.items() if c.relay}
    assert len(relay) >= 40
    bad = [f"{cid}: {o.verdict.value}: {o.detail[:120]}" for cid, o in relay.items() if not _contract_unsupported(o)]
    assert not bad, "\n".join(bad)
    assert results["contract-publish-play-relay"][1].verdict is Verdict.UNSUPPORTED
    assert again[0].verdict is Verdict.PASS, again[0].detail  # what it does answer is judged
