"""Tests of the fuzzing package (fuzz/): generation, mutation, detection, triage, minimization, reproducers.

The end-to-end tests run the fuzzer against ``tests/toyserver.py`` (a server that crashes, hangs or logs a traceback
on purpose), so they do not depend on the reference server's state.
"""

from __future__ import annotations

import asyncio
import json
import random
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import case as parts
from fuzz import hostile
from fuzz.case import Conn, FuzzCase, Part
from fuzz.draw import DrawBudget, Drawer, FieldCounter, Pool, source
from fuzz.findings import Finding, FindingStore, Observation, load_finding
from fuzz.generators import GENERATORS, Generator
from fuzz.minimize import Budget, ddmin, ddmin_sync, minimize_case
from fuzz.mutators import Seed, mutate_bytes, mutate_fields, splice
from fuzz.session import ACTIONS, build, sessions
from fuzz.target import LogWatcher, WatchedServer, spawned
from rtmpspec import amf0, craft
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.errors import RTMPError
from rtmpspec.handshake import FLIGHT_SIZE
from rtmpspec.sentinels import NEED_DATA

ROOT = Path(__file__).resolve().parent.parent


def _run(coro):
    return asyncio.run(coro)


# -- drawing from the schemas -------------------------------------------------------------------------------------
def test_drawer_is_deterministic_and_counts_fields():
    src = source("chunk.header")
    a = [src.sample(Drawer(7))[1] for _ in range(1)]
    d1, d2 = Drawer(11), Drawer(11)
    f = FieldCounter()
    seq1 = [src.sample(d1, f)[1] for _ in range(20)]
    seq2 = [src.sample(d2)[1] for _ in range(20)]
    assert seq1 == seq2 and a
    assert any(k.startswith("chunk.header:basic.head.fmt") for k in f.counts)
    assert len(f) >= 5


def test_pool_respects_budget():
    src = source("control.window_ack_size")
    budget = DrawBudget(0.0, initial=0.0)
    pool = Pool(src, Drawer(1), FieldCounter(), min_size=3, fresh=1.0, budget=budget)
    rng = random.Random(1)
    for _ in range(50):
        pool.get(rng)
    assert pool.fresh_draws == 3  # the minimum fill only: no budget for more


@pytest.mark.parametrize("kind", GENERATORS)
def test_every_generator_makes_cases(kind):
    g = Generator(3)
    for i in range(15):
        c = g.case(i, kind)
        assert c.kind == kind and c.conns and c.size() > 0
        for conn in c.conns:
            assert all(isinstance(p.data, bytes) for p in conn.parts)
    assert len(g.fields) > 0


def test_generator_sequence_is_deterministic_without_time_budget():
    a = Generator(5, draw_budget=None)
    b = Generator(5, draw_budget=None)
    assert [a.case(i).digest() for i in range(40)] == [b.case(i).digest() for i in range(40)]


def test_session_prefix_parses_as_a_valid_session():
    data = b"".join(p.data for p in parts.prefix("publishing", random.Random(1), key="k"))
    r = ChunkReader()
    r.receive_data(data[FLIGHT_SIZE:])
    names = [amf0.decode_all(m.payload)[0] for m in r]
    assert names == ["connect", "createStream", "publish"]


# -- session state machine ----------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(sessions(max_steps=10))
def test_session_steps_build_to_one_message_each(steps):
    parts = build(steps)
    assert len(parts) <= len(steps)
    assert all(s.action in ACTIONS for s in steps)
    if not any(s.action == "setChunkSize" for s in steps):  # chunk size changes would need the reader to follow
        r = ChunkReader(strict=True, max_chunk_streams=64)
        r.receive_data(b"".join(p.data for p in parts))
        msgs = []
        while (m := r.next_message()) is not NEED_DATA:
            msgs.append(m)
        assert len(msgs) == len(parts)


def test_sessions_reach_publish_and_go_out_of_order():
    d = Drawer(2)
    strat = sessions(max_steps=14)
    seen_valid, seen_bad = set(), set()
    for _ in range(80):
        for s in d.draw(strat):
            (seen_valid if s.valid else seen_bad).add(s.action)
    assert {"connect", "createStream", "publish", "media"} <= seen_valid
    assert seen_bad  # some steps out of order


# -- mutators ------------------------------------------------------------------------------------------------------
def test_field_mutations_keep_the_handshake_and_change_a_header():
    g = Generator(1)
    seed = next(s for s in g.corpus.seeds if s.origin == "synth-publish")
    assert seed.handshake_length == FLIGHT_SIZE and len(seed.chunks) > 10
    rng = random.Random(4)
    changed = 0
    for _ in range(200):
        out, notes = mutate_fields(rng, seed)
        assert notes
        if out != seed.data:
            changed += 1
            assert out[:FLIGHT_SIZE] == seed.data[:FLIGHT_SIZE]
    assert changed > 150


def test_byte_mutations_and_splice():
    rng = random.Random(3)
    data = bytes(range(256)) * 4
    for _ in range(200):
        out, notes = mutate_bytes(rng, data, keep=100)
        assert out[:100] == data[:100] and notes
    s, note = splice(rng, b"a" * 50, b"b" * 50)
    assert set(s) <= {ord("a"), ord("b")} and "splice" in note


def test_seed_structure_from_capture():
    p = ROOT / "fuzz" / "seeds" / "ffmpeg-publish.bin"
    if not p.exists():
        pytest.skip("no captured seed")
    seed = Seed(p.read_bytes())
    assert seed.handshake_length == FLIGHT_SIZE
    assert len(seed.chunks) > 5


# -- hostile AMF ----------------------------------------------------------------------------------------------------
def test_hostile_amf_is_rejected_with_documented_errors_only():
    rng = random.Random(9)
    for _ in range(300):
        _, data = hostile.hostile_amf0(rng, max_depth=400)
        try:
            amf0.decode_all(data)
        except RTMPError:
            pass


# -- log watcher ----------------------------------------------------------------------------------------------------
def test_log_watcher_classifies_crashes():
    w = LogWatcher()
    for line in ["Traceback (most recent call last):", '  File "/x/session.py", line 3, in handle', "    foo()",
                 "KeyError: 'x'",
                 "2024/01/01 00:00:00 [alert] 1#1: worker process 77 exited on signal 11",
                 "2024/01/01 00:00:00 [alert] 1#1: *5 too big RTMP chunk size:9, client: 1.2.3.4, server: x",
                 '{"ts":"x","level":"error","event":"internal_error","reason":"ValueError: bad 12"}',
                 '{"ts":"x","level":"warning","event":"protocol_error"}',
                 "TypeError: Cannot read properties of undefined (reading 'x')",
                 "    at f (/a/b.js:1:2)", "    at g (/a/c.js:3:4)", "done"]:
        w.feed(line)
    kinds = [e.kind for e in w.take()]
    assert kinds == ["traceback", "nginx-crash", "json-error", "node-exception"]
    assert sum(w.notes.values()) == 1  # the nginx alert for a rejected client is noted, not a finding


# -- minimization ---------------------------------------------------------------------------------------------------
def test_ddmin_finds_the_essential_bytes():
    data = bytes(range(200))

    def test(b):
        return 17 in b and 150 in b

    out = ddmin_sync(data, test, Budget(1000, 10))
    assert bytes(out) == bytes([17, 150])


def test_minimize_case_drops_parts_and_bytes():
    case = FuzzCase("t", [Conn([Part("a", b"x" * 100), Part("b", b"..BOOM.."), Part("c", b"y" * 50)]),
                      Conn([Part("z", b"zzz")])])
    want = Observation("crash", "boom")

    async def check(c):
        return want if any(b"BOOM" in conn.data for conn in c.conns) else None

    small, stats = _run(minimize_case(case, check, want, Budget(500, 10)))
    assert [conn.data for conn in small.conns] == [b"BOOM"]
    assert stats["to"] == 4


def test_ddmin_respects_budget():
    calls = []

    async def test(b):
        calls.append(1)
        return False

    _run(ddmin(bytes(1000), test, Budget(max_tests=7, max_seconds=10)))
    assert len(calls) <= 7


# -- findings -------------------------------------------------------------------------------------------------------
def test_finding_store_dedupes_and_round_trips(tmp_path):
    store = FindingStore(tmp_path)
    c1 = FuzzCase("amf", [Conn([Part("hs", b"\x03" + bytes(10)), Part("cmd", b"abc")])], 4, "n")
    f, new = store.add(Finding("crash", "sig", c1, {"name": "t"}, {"x": 1}, True))
    assert new
    c2 = FuzzCase("amf", [Conn([Part("cmd", b"ab")])], 5, "n")
    g, new2 = store.add(Finding("crash", "sig", c2, {"name": "t"}, {}, True))
    assert not new2 and g.count == 2 and g.case.size() == 2  # the smaller reproducer is kept
    path = store.path(g)
    back = load_finding(path)
    assert back.case.conns[0].data == b"ab" and back.symptom == "crash"
    assert (tmp_path / g.id / "conn0.bin").read_bytes() == b"ab"
    assert json.loads(path.read_text())["replay"].startswith("python -m fuzz replay ")


# -- end to end against the toy server -----------------------------------------------------------------------------
TOY = shlex.join([sys.executable, str(Path(__file__).with_name("toyserver.py"))])


def _toy() -> WatchedServer:
    return spawned(shlex.split(TOY), name="toy").start()


def _cmd_case(name: str) -> FuzzCase:
    from rtmpspec import messages as m

    return FuzzCase("test", [Conn([parts.handshake(random.Random(0), digest=False), parts.connect(),
                               Part("noise", craft.command(m.call("call", 9.0, None, "x" * 300))),
                               Part(name, craft.command(m.call(name, 5.0)))])], note=name)


@pytest.mark.parametrize("name,symptom", [("crashme", "crash"), ("oopsme", "server-error"), ("hangme", "hang")])
def test_checker_tells_crash_hang_and_logged_error(name, symptom):
    from fuzz.oracle import Checker

    t = _toy()
    try:
        checker = Checker(t, probe_timeout=1.0, hang_timeout=2.0)

        async def go():
            assert await checker.check(_cmd_case("harmless")) is None
            return await checker.check(_cmd_case(name))

        obs = _run(go())
        assert obs is not None and obs.symptom == symptom, obs
        if symptom == "crash":
            assert "status 3" in obs.signature and "RuntimeError" in obs.signature
        if symptom == "server-error":
            assert "ValueError" in obs.signature
    finally:
        t.stop()


def test_campaign_triage_finds_and_minimizes_the_culprit(tmp_path):
    """A campaign whose generator slips a 'crashme' command into 1 case in 40: the triage must single out that
    case, the minimizer must cut it down to the handshake and that command, and replay must reproduce it."""
    from fuzz.findings import FindingStore
    from fuzz.runner import Campaign, Options

    class Salted(Generator):
        def case(self, index, kind=None):
            if index % 40 == 39:
                c = _cmd_case("crashme")
                c.index = index
                return c
            return super().case(index, "mutate")

    t = _toy()
    try:
        store = FindingStore(tmp_path / "findings")
        camp = Campaign(t, Salted(1), store, Options(duration=30, quiet=True, concurrency=8, probe_timeout=2,
                                                     minimize_seconds=30, max_cases=200))
        _run(camp.run())
        summary = camp.summary()
    finally:
        t.stop()
    crashes = [f for f in store.all() if f.symptom == "crash"]
    assert crashes, summary
    f = crashes[0]
    assert f.reproduced
    assert b"crashme" in f.case.conns[0].data
    assert f.case.size() < FLIGHT_SIZE + 100, f.minimized
    # replay from the saved file, against a fresh toy server
    out = subprocess.run([sys.executable, "-m", "fuzz", "replay", str(store.path(f)), "--spawn", TOY], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 1 and "reproduced: crash" in out.stdout, out.stdout + out.stderr


def test_campaign_pins_memory_growth_on_the_leaking_case(tmp_path):
    from fuzz.findings import FindingStore
    from fuzz.runner import Campaign, Options

    class Leaky(Generator):
        def case(self, index, kind=None):
            if index % 10 == 9:
                c = _cmd_case("leakme")
                c.index = index
                return c
            return super().case(index, "control")

    t = _toy()
    try:
        store = FindingStore(tmp_path / "findings")
        # --duration bounds the triage too: room for it; the campaign ends once the leak is pinned
        camp = Campaign(t, Leaky(2), store, Options(duration=60, quiet=True, concurrency=4, rss_limit_mb=40,
                                                    minimize=False, stop_on_finding=True))
        _run(camp.run())
    finally:
        t.stop()
    mem = [f for f in store.all() if f.symptom == "memory"]
    assert mem and mem[0].reproduced, [f.to_json()["signature"] for f in store.all()]
    assert b"leakme" in mem[0].case.conns[0].data
    assert mem[0].detail["growth_per_replay"] > 4 << 20


def test_cli_replay_of_harmless_case_is_not_reproduced(tmp_path):
    store = FindingStore(tmp_path)
    f, _ = store.add(Finding("crash", "x", _cmd_case("harmless"), {}))
    out = subprocess.run([sys.executable, "-m", "fuzz", "replay", str(store.path(f)), "--spawn", TOY], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 0 and "not reproduced" in out.stdout, out.stdout + out.stderr


def test_hypothesis_stateful_session_against_toy_server():
    from hypothesis.stateful import run_state_machine_as_test

    from fuzz.session import RTMPSessionMachine

    t = _toy()
    try:
        class Machine(RTMPSessionMachine):
            TARGET = (t.host, t.port)

        run_state_machine_as_test(Machine, settings=settings(max_examples=5, stateful_step_count=8, deadline=None,
                                                             suppress_health_check=list(HealthCheck)))
    finally:
        t.stop()


def test_inproc_short_run_and_report(tmp_path):
    out = subprocess.run([sys.executable, "-m", "fuzz", "inproc", "--duration", "3", "--jobs", "1", "--seed", "1",
                          "--reports-dir", str(tmp_path), "--quiet"], capture_output=True, text=True, timeout=180,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    s = json.loads((tmp_path / "inproc-summary.json").read_text())
    assert s["inputs"] > 1000 and s["findings"] == []
    assert (tmp_path / "inproc-summary.html").exists()


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_inproc_targets_raise_only_documented_errors_on_random_bytes(data):
    from fuzz.inproc import SCHEDULED, classify, run_target

    for name in SCHEDULED:
        params = {"codec": "amf0.value"} if name == "codecs" else {}
        exc = run_target(name, data, params)
        assert exc is None or classify(exc) is None, (name, classify(exc))
