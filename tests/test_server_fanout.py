"""The relay's fan-out hot path: chunk once per group, one write per player per batch, shared bytes accounted by
``Connection.send_shared``, flushes rate-limited by ``flush_interval``, the amortised slow-player check; the fast
paths it uses are proven equal to the schemas; the server's modules import each other without a circle; the
fan-out benchmark's players read timestamps exactly as rtmpspec's reader does."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import random
from pathlib import Path

import pytest
from endpoint import AAC_SEQ, AVC_SEQ, aac_frame, audio, avc_frame, video
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_server.config import Config
from reference_server.relay import Relay
from reference_server.relay_players import Player
from rtmpspec._state import TABLE, Input, Role, State
from rtmpspec.chunkheader import build_header
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.chunkwriter import ChunkWriter, SharedOutput, chunk_message, type0_header
from rtmpspec.connection import Connection
from rtmpspec.message_format import Message

ROOT = Path(__file__).resolve().parent.parent


# -- fast paths equal the schemas ----------------------------------------------------------------------------

@settings(max_examples=500)
@given(st.one_of(st.integers(2, 400), st.integers(2, 65599)), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFF),
       st.integers(0, 255), st.integers(0, 0xFFFFFFFF))
def test_type0_header_equals_the_schema(csid, ts, length, type_id, msid):
    assert type0_header(csid, ts, length, type_id, msid) == build_header(0, csid, ts, length, type_id, msid)


@settings(max_examples=200)
@given(st.sampled_from([8, 9, 18, 20]), st.binary(max_size=3000), st.integers(0, 0xFFFFFFFF),
       st.integers(0, 9), st.sampled_from([3, 4, 6, 63, 64, 319, 320, 65599]), st.sampled_from([1, 128, 4096]))
def test_chunk_message_with_replaced_ids_equals_chunking_the_replaced_message(t, payload, ts, msid, csid, size):
    relayed = Message(t, payload, ts, 7, 9)  # as published: other msid and csid
    assert (chunk_message(relayed, size, msid=msid, csid=csid)
            == chunk_message(Message(t, payload, ts, msid, csid), size))
    got = list(_read(chunk_message(relayed, size, msid=msid, csid=csid), size))
    assert got == [Message(t, payload, ts, msid, csid)]


def test_media_is_allowed_in_connected_only_and_keeps_it():
    """Connection's media fast path skips the table lookup in CONNECTED: the table must agree (media is taken in
    CONNECTED, which it keeps; after close it is discarded; anywhere else it is a protocol error)."""
    for role in Role:
        allowed = {s for s in State if (role, s, Input.RECV_MEDIA) in TABLE}
        assert allowed == {State.CONNECTED, State.CLOSED}
        assert TABLE[(role, State.CONNECTED, Input.RECV_MEDIA)] is State.CONNECTED
        assert TABLE[(role, State.CLOSED, Input.RECV_MEDIA)] is State.CLOSED


def _read(data: bytes, chunk_size: int = 128):
    r = ChunkReader(chunk_size=chunk_size)
    r.receive_data(data)
    return r


# -- Connection.send_shared keeps the writer right ----------------------------------------------------------

def test_send_shared_counts_bytes_and_restarts_the_shared_chunk_streams_with_type0():
    conn = Connection(Role.SERVER, handshake=False)
    conn.state = State.CONNECTED
    conn.writer.set_chunk_size(4096)
    out = [conn.send_media(Message(9, b"a" * 50, 100, 1, 6)), conn.send_media(Message(9, b"b" * 50, 140, 1, 6))]
    assert out[1][0] >> 6 != 0  # compressed against the first
    shared = chunk_message(Message(9, b"c" * 9000, 5000, 1, 6), 4096)
    before = conn.bytes_sent
    conn.send_shared(len(shared), {6})
    assert conn.bytes_sent == before + len(shared)
    own = conn.send_media(Message(9, b"d" * 50, 5040, 1, 6))
    assert own[0] >> 6 == 0  # Type 0: the writer's state for csid 6 was replaced by the shared chunks
    audio_own = conn.send_media(Message(8, b"e" * 10, 5040, 1, 4))
    msgs = list(_read(b"".join(out) + shared + own + audio_own, 4096))
    assert [(m.payload[:1], m.timestamp) for m in msgs] == [(b"a", 100), (b"b", 140), (b"c", 5000), (b"d", 5040),
                                                           (b"e", 5040)]


@settings(max_examples=100)
@given(st.lists(st.tuples(st.sampled_from(["own", "shared", "group"]), st.sampled_from([4, 5, 6]),
                          st.integers(0, 3000), st.integers(0, 100)), min_size=1, max_size=30),
       st.booleans())
def test_any_mix_of_own_and_shared_messages_reads_back(plan, detach_midway):
    """Own messages (header compression), per-batch ``send_shared`` and group bytes accounted through an attached
    ``SharedOutput`` interleave freely: the peer reads every message, and ``bytes_sent`` is what was written."""
    conn = Connection(Role.SERVER, handshake=False)
    conn.state = State.CONNECTED
    group = SharedOutput()
    conn.attach_shared(group)
    attached = True
    ts = {4: 0, 5: 0, 6: 0}
    wire, want = [], []
    for i, (how, csid, n, dt) in enumerate(plan):
        if detach_midway and i == len(plan) // 2:
            conn.detach_shared()
            attached = False  # the group's bytes from now on are not written to this peer
        ts[csid] += dt
        m = Message({4: 8, 5: 18, 6: 9}[csid], bytes([n % 251]) * n, ts[csid], 1, csid)
        if how == "own":
            b = conn.send_media(m)
        else:
            b = chunk_message(m, conn.our_chunk_size)
            if how == "shared":
                conn.send_shared(len(b), (csid,))
            else:
                group.add(len(b), (csid,))
                if not attached:
                    continue
        wire.append(b)
        want.append(m)
    assert list(_read(b"".join(wire))) == want
    assert conn.bytes_sent == sum(map(len, wire))


# -- the relay ----------------------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Transport:
    def __init__(self) -> None:
        self.data = bytearray()
        self.writes = 0
        self.queued = 0
        self.closing = False

    def write(self, b: bytes) -> None:
        self.writes += 1
        self.data += b

    def writelines(self, bufs) -> None:
        self.writes += 1
        for b in bufs:
            self.data += b

    def get_write_buffer_size(self) -> int:
        return self.queued

    def is_closing(self) -> bool:
        return self.closing


class Sub:
    """A subscriber (reference_server.relay_players.Subscriber) with a fake transport."""

    def __init__(self, n: int, chunk_size: int = 4096) -> None:
        self.id, self.peer = n, f"fake:{n}"
        self.transport = Transport()
        self.conn = Connection(Role.SERVER, handshake=False)
        self.conn.state = State.CONNECTED
        self.conn.writer.set_chunk_size(chunk_size)
        self.closed = None
        self.player: Player | None = None

    def write(self, b: bytes) -> None:
        self.transport.write(b)

    def close(self, event="close", why=None, **kw) -> None:
        self.closed = (event, why)
        if self.player is not None and self.player.stream is not None:
            self.player.stream.remove_player(self.player)

    def media(self) -> list[Message]:
        r = ChunkReader(chunk_size=self.conn.our_chunk_size)
        r.receive_data(bytes(self.transport.data))
        return [m for m in r if m.type_id in (8, 9)]


def _stream(clock=None, **cfg):
    relay = Relay(Config(**cfg), clock or Clock())
    s = relay.get("live", "x")
    s.start_publish(Sub(0), 1)
    return relay, s


def _join(s, n, msid=1, chunk_size=4096) -> Sub:
    sub = Sub(n, chunk_size)
    sub.player = Player(sub, msid, "x")
    s.add_player(sub.player)
    return sub


def test_one_write_per_player_per_batch_byte_exact_for_every_group():
    async def main():
        relay, s = _stream()
        subs = [_join(s, i, msid=1 + i % 2, chunk_size=(128, 4096)[i % 3 == 0]) for i in range(12)]
        s.on_media(video(AVC_SEQ, 0))
        s.on_media(audio(AAC_SEQ, 0))
        s.on_media(video(avc_frame(True, 3000), 0))
        s.flush()
        assert len(s.groups) == 4 and not s.alone  # (chunk size, msid) pairs, from the keyframe on
        writes0 = [x.transport.writes for x in subs]
        sent = []
        for i in range(1, 21):
            batch = [video(avc_frame(i % 10 == 0, 5000 + i, fill=i), i * 40), audio(aac_frame(300, fill=i), i * 40)]
            for m in batch:
                s.on_media(m)
            s.flush()
            sent += batch
        for x, w0 in zip(subs, writes0, strict=True):
            assert x.transport.writes - w0 == 20  # one write per batch of two messages
            got = x.media()[3:]
            assert [(m.type_id, m.timestamp, m.payload, m.msid) for m in got] == \
                [(m.type_id, m.timestamp, m.payload, x.player.msid) for m in sent]
            assert x.conn.bytes_sent == len(x.transport.data)
    asyncio.run(main())


def test_flushes_ride_on_reads_at_most_every_half_interval():
    async def main():
        clock = Clock()
        relay, s = _stream(clock, flush_interval=0.05)
        sub = _join(s, 1)
        s.on_media(video(AVC_SEQ, 0))
        s.end_of_input()  # quiet before: out at once
        w = sub.transport.writes
        assert len(sub.media()) == 1
        clock.t += 0.01
        s.on_media(video(avc_frame(True, 100), 10))
        s.end_of_input()
        clock.t += 0.01
        s.on_media(audio(aac_frame(), 20))
        s.end_of_input()
        assert sub.transport.writes == w and s.flush_scheduled  # 20 ms: held back
        await asyncio.sleep(0.06)  # no read came: the timer flushes both, an interval after the last flush
        assert sub.transport.writes == w + 1 and len(sub.media()) == 3
        clock.t += 0.03
        s.on_media(audio(aac_frame(), 50))
        s.end_of_input()  # 30 ms since the last flush: the read takes the batch along
        assert sub.transport.writes == w + 2 and not s.flush_scheduled and len(sub.media()) == 4
        clock.t += 0.01
        s.on_media(audio(aac_frame(), 60))
        s.end_of_input()
        clock.t += 0.02
        s.on_media(audio(aac_frame(), 80))
        s.end_of_input()
        assert sub.transport.writes == w + 3 and not s.flush_scheduled and len(sub.media()) == 6
    asyncio.run(main())


def test_slow_player_check_is_amortised_and_keyframe_safe():
    async def main():
        clock = Clock()
        relay, s = _stream(clock, player_soft_limit=1000, player_hard_limit=10**6, player_check_interval=0.1)
        fast, slow = _join(s, 1), _join(s, 2)
        s.on_media(video(AVC_SEQ, 0))
        s.flush()
        t = 0
        for i in range(40):
            if i == 5:
                slow.transport.queued = 5000  # over the soft limit: noticed at the next check, not at once
            if i == 25:
                slow.transport.queued = 0
            s.on_media(video(avc_frame(i % 10 == 0, 100, fill=i), t))
            s.flush()
            clock.t += 0.04
            t += 40
        assert len(fast.media()) == 41
        got = [m.payload[5] for m in slow.media() if m.payload != AVC_SEQ]
        # checks at t = 0, 0.12, 0.24 (i = 6): frame 5 still goes out, from 6 on the slow player is served alone
        # and dropped to; drained at i = 25, it waits for the keyframe at i = 30 and is back in its group
        assert got == list(range(0, 6)) + list(range(30, 40)), got
        assert slow.player in s.groups[(4096, 1)].players and slow.player.dropped == 24
    asyncio.run(main())


def test_a_grouped_player_that_does_not_acknowledge_is_held_at_its_window_and_released_by_its_ack():
    """Flow control (RTMP 5.4.3-5.4.5) without a per-player test in the group's hot path: a player whose window
    the next batch would overfill leaves its group, gets at most one message past the window, the rest when it
    acknowledges, in order, and then goes back to its group; the other player never waits."""
    async def main():
        relay, s = _stream()
        ok, win = _join(s, 1), _join(s, 2)
        for x in (ok, win):
            x.conn.our_window = 20000  # as if the server had sent Window Acknowledgement Size 20000
        s.on_media(video(AVC_SEQ, 0))
        s.on_media(video(avc_frame(True, 3000), 0))
        s.flush()
        for x in (ok, win):  # both acknowledge what they have and are back in the group with a fresh window
            x.conn.last_ack_received = x.conn.bytes_sent
            s.acknowledged(x.player)
        assert ok.player.group is win.player.group is not None
        sent = []
        for i in range(1, 13):
            m = video(avc_frame(False, 3000, fill=i), i * 40)
            s.on_media(m)
            s.flush()
            sent.append(m)
            ok.conn.last_ack_received = ok.conn.bytes_sent  # this one acknowledges at once
            s.acknowledged(ok.player)
        assert len(ok.media()) == 2 + 12
        got = len(win.media()) - 2
        assert win.player.windowed and win.player.group is None and win.player.held
        assert 0 < got < 12 and win.conn.unacknowledged <= 20000 + 3100  # one message past the window at most
        win.conn.last_ack_received = win.conn.bytes_sent
        s.acknowledged(win.player)
        assert [m.payload for m in win.media()[2:]] == [m.payload for m in sent][:len(win.media()) - 2]
        while win.player.held:
            win.conn.last_ack_received = win.conn.bytes_sent
            s.acknowledged(win.player)
        assert [m.payload for m in win.media()[2:]] == [m.payload for m in sent]
        win.conn.last_ack_received = win.conn.bytes_sent  # nothing waits and the window has room: back in the group
        s.acknowledged(win.player)
        assert not win.player.windowed and win.player.group is ok.player.group
    asyncio.run(main())


@pytest.mark.parametrize("seed", range(10))
def test_every_player_has_exactly_one_place_through_any_changes(seed):
    """Players move between their group and the players served alone one by one (no rebuilds): whatever happens,
    each is in exactly one place, attached to its group's SharedOutput iff grouped, and every one gets every
    message it wants."""
    rng = random.Random(seed)

    async def main():
        clock = Clock()
        relay, s = _stream(clock, player_soft_limit=1000, player_check_interval=0)
        subs = [_join(s, i, msid=1 + i % 2, chunk_size=(128, 4096)[i % 2]) for i in range(8)]
        t = 0
        for step in range(60):
            x = rng.choice(subs)
            op = rng.random()
            if x.player.stream is None:
                pass
            elif op < 0.15:
                x.player.paused = not x.player.paused
                x.player.update()
            elif op < 0.3:
                x.player.video = not x.player.video
                if x.player.video:
                    x.player.need_key = True
                x.player.update()
            elif op < 0.4:
                x.transport.queued = rng.choice([0, 5000])
            elif op < 0.45:
                s.remove_player(x.player)
            s.on_media(video(avc_frame(step % 5 == 0, 200, fill=step), t))
            s.on_media(audio(aac_frame(20, fill=step), t))
            s.flush()
            t += 40
            placed = [p for g in s.groups.values() for p in g.players] + s.alone
            assert sorted(map(id, placed)) == sorted(map(id, s.players))
            for key, g in s.groups.items():
                assert g.players and g.key == key
                for p in g.players:
                    assert p.fast and p.group is g and (p.conn.our_chunk_size, p.msid) == key
            for p in s.alone:
                assert not p.fast and p.group is None
        for x in subs:  # whatever it got is readable and counted
            assert x.conn.bytes_sent == len(x.transport.data)
            x.media()
    asyncio.run(main())


def test_a_player_whose_connection_closed_is_dropped_at_the_check():
    async def main():
        relay, s = _stream(player_check_interval=0)
        a, b = _join(s, 1), _join(s, 2)
        b.transport.closing = True
        s.on_media(video(AVC_SEQ, 0))
        s.flush()
        assert b.player not in s.players and a.player in s.players and b.closed is None
        assert len(a.media()) == 1
    asyncio.run(main())


def test_a_failing_write_closes_only_that_player():
    async def main():
        relay, s = _stream()
        a, b = _join(s, 1), _join(s, 2)
        s.on_media(video(avc_frame(True, 100), 0))
        s.flush()
        assert b.player.fast

        def boom(data):
            raise RuntimeError("transport gone")
        b.player.write = boom
        s.on_media(video(avc_frame(False, 100), 40))
        s.flush()
        assert b.closed[0] == "internal_error" and b.player not in s.players
        assert len(a.media()) == 2
    asyncio.run(main())


# -- the server's modules: no import circle (relay <- session <- server) ---------------------------------------

def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out.add(node.module.split(".")[0] if node.module else "")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reference_server."):
            out.add(node.module.split(".")[1])
    return out


def test_server_modules_import_without_a_circle():
    pkg = ROOT / "reference_server"
    graph = {p.stem: _imports(p) for p in pkg.glob("*.py")}
    assert "session" not in graph["relay"] and "server" not in graph["relay"]
    assert "server" not in graph["session"]
    seen: dict[str, int] = {}

    def visit(m: str, stack: tuple) -> None:
        assert m not in stack, f"import circle: {' -> '.join(stack + (m,))}"
        if seen.get(m):
            return
        for n in graph.get(m, ()):
            visit(n, stack + (m,))
        seen[m] = 1

    for m in graph:
        visit(m, ())


# -- the benchmark's players ----------------------------------------------------------------------------------

def _load_bench():
    spec = importlib.util.spec_from_file_location("fanout_load", ROOT / "bench" / "fanout_load.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_BENCH = _load_bench()


def _walker(kind: str):
    if kind == "python":
        return _BENCH.Walker
    if _BENCH.CWalker.lib is None:
        _BENCH.CWalker.lib = _BENCH.c_walker_library()
    if _BENCH.CWalker.lib is None:
        pytest.skip("no C compiler for bench/walker.c")
    return _BENCH.CWalker


@pytest.mark.parametrize("kind", ["python", "c"])
@pytest.mark.parametrize("seed", range(20))
def test_bench_walker_tracks_what_the_reader_reads(seed, kind):
    """The fan-out benchmark judges real time by the walker's timestamps: they must be the reader's, in Python
    and in C."""
    rng = random.Random(seed)
    walker_cls = _walker(kind)
    w = ChunkWriter()
    data, want_ctl, want_ts = b"", [], -1
    ts = {8: 0, 9: 0}
    for _ in range(80):
        r = rng.random()
        if r < 0.05:
            size = rng.choice([1, 7, 128, 4096, 60000])
            data += w.write(Message(1, size.to_bytes(4, "big"), 0, 0, 2))
            w.set_chunk_size(size)
            want_ctl.append((1, size.to_bytes(4, "big")))
        elif r < 0.15:
            p = rng.randbytes(rng.randrange(300))
            data += w.write(Message(20, p, 0, rng.choice([0, 1]), 3))
            want_ctl.append((20, p))
        else:
            t = rng.choice([8, 9])
            ts[t] += rng.choice([0, 23, 40]) + (0xFFFFFF if seed % 3 == 0 and rng.random() < 0.2 else 0)
            data += w.write(Message(t, bytes(rng.randrange(1, 5000)), ts[t], 1, 4 if t == 8 else 6))
            want_ts = max(want_ts, ts[t])
    got = []
    walker = walker_cls(lambda t, p, msid: got.append((t, p)))
    pos = 0
    while pos < len(data):
        k = rng.choice([1, 2, 3, 5, 17, 100, 4000, 100000])
        piece = data[pos:pos + k]
        if kind == "c" and rng.random() < 0.5:  # the load generator's path: a view of its shared read buffer
            _BENCH._BUF[:len(piece)] = piece
            walker.feed(_BENCH._VIEW[:len(piece)])
        else:
            walker.feed(piece if kind == "c" else memoryview(data)[pos:pos + k])
        pos += k
    assert got == want_ctl and walker.last_ts == want_ts


# -- input batching for publishers --------------------------------------------------------------------------

def test_input_batcher_sets_the_mark_from_the_rate_and_a_backstop_lowers_it():
    import socket

    from reference_server.ingest import MIN_BATCH, InputBatcher

    class T:
        def __init__(self, sock):
            self.sock = sock

        def get_extra_info(self, name):
            return self.sock if name == "socket" else None

    async def main():
        lsock = socket.create_server(("127.0.0.1", 0))
        a = socket.create_connection(lsock.getsockname())
        b, _ = lsock.accept()
        lsock.close()
        try:
            clock = Clock()
            batcher = InputBatcher(T(b), 0.05, clock)
            lowat = lambda: b.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)  # noqa: E731
            clock.t += 0.5
            batcher.tune(1000, True)  # 2 kB/s: not worth batching
            assert batcher.target == 1 and lowat() == 1
            clock.t += 0.5
            batcher.tune(1000 + 250_000, True)  # 500 kB/s: 50 ms = 25000 bytes
            assert batcher.target == 25000 == lowat() and batcher.target > MIN_BATCH
            batcher.after_read()  # arms the backstop
            await asyncio.sleep(0.1)  # nothing read for 1.5 intervals: the mark drops so waiting bytes are read
            assert lowat() == 1 and batcher.target == 25000
            batcher.after_read()  # the read that followed: the mark is back
            assert lowat() == 25000
            batcher.stop()
            assert lowat() == 1 and batcher.target == 1
            clock.t += 0.5
            batcher.tune(10**9, False)  # not publishing: no batching whatever the rate
            assert lowat() == 1
        finally:
            a.close()
            b.close()
    asyncio.run(main())
