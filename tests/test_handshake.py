"""RTMP 5.2 handshake: schemas, Flash digest, sans-I/O state machines, golden vectors, real peers."""

from __future__ import annotations

import json
import random
import socket
import struct
from pathlib import Path

import pytest

from rtmpspec import registry
from rtmpspec.errors import LimitExceeded, LocalProtocolError, ProtocolError
from rtmpspec.handshake import (
    C0,
    C1,
    C2,
    CLIENT_TRANSITIONS,
    DIGEST_SIZE,
    GENUINE_FMS_KEY,
    GENUINE_FMS_KEY_PARTIAL,
    GENUINE_FP_KEY,
    GENUINE_FP_KEY_PARTIAL,
    NEED_DATA,
    PACKET_SIZE,
    PAUSED,
    SERVER_TRANSITIONS,
    C1Received,
    HandshakeClient,
    HandshakeComplete,
    HandshakeServer,
    HandshakeState,
    S1Received,
    VersionReceived,
    digest_offset,
    echo_matches,
    find_digest,
    make_challenge,
    make_digest_response,
    make_echo_response,
    validate_digest_response,
)
from rtmpspec.jsonable import to_jsonable

try:  # tests/ as a package or as a plain directory on sys.path
    from tests import peers
except ImportError:  # pragma: no cover
    import peers

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "handshake"


def drain(hs) -> list:
    events = []
    while True:
        ev = hs.next_event()
        if ev is NEED_DATA or ev is PAUSED:
            return events
        events.append(ev)


def talk(client, server, *, chunk: int | None = None, c_extra=b"", s_extra=b""):
    """Run two machines against each other, feeding ``chunk`` bytes at a time (None = whole)."""

    def feed(hs, data):
        events = []
        pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
        for piece in pieces:
            hs.receive_data(piece)
            events += drain(hs)
        return events

    c_events, s_events = [], []
    s_events += feed(server, client.data_to_send())
    c_events += feed(client, server.data_to_send() + s_extra)
    s_events += feed(server, client.data_to_send() + c_extra)
    return c_events, s_events


# --- schemas -------------------------------------------------------------------------------------------


def test_schema_round_trips():
    rng = random.Random(1)
    assert C0.parse(b"\x03").version == 3
    assert C0.build({"version": 3}) == b"\x03"
    c1 = rng.randbytes(PACKET_SIZE)
    v = C1.parse(c1)
    assert (v.time, v.zero, len(v.random)) == (
        struct.unpack(">I", c1[:4])[0],
        struct.unpack(">I", c1[4:8])[0],
        1528,
    )
    assert C1.build(v) == c1
    v2 = C2.parse(c1)
    assert v2.time2 == v.zero and v2.random_echo == v.random
    assert C2.build(v2) == c1
    assert C1.sizeof() == C2.sizeof() == PACKET_SIZE


def test_registry_codecs():
    for name in ("handshake.c0", "handshake.c1", "handshake.c2", "handshake.client", "handshake.server"):
        assert registry.get(name).name == name
    assert registry.get("handshake.client").streaming
    assert registry.get("handshake.c1").schema is C1


def test_flight_codec_round_trip_pieces_and_errors():
    client = HandshakeClient(digest=True, rng=random.Random(2))
    server = HandshakeServer(rng=random.Random(3))
    first = client.data_to_send()
    server.receive_data(first)
    drain(server)
    client.receive_data(server.data_to_send())
    drain(client)
    flight = first + client.data_to_send()
    codec = registry.get("handshake.client")
    value = codec.parse(flight)
    assert value["c0"].version == 3 and value["digest"]["scheme"] == 0
    assert codec.build(value) == flight
    assert codec.parse_pieces([flight[i : i + 1] for i in range(len(flight))]) == value
    assert value["unconsumed"] == b""
    with_chunk = codec.parse_pieces([flight[:10], flight[10:] + b"\x03\x00"])
    assert with_chunk["unconsumed"] == b"\x03\x00" and codec.build(with_chunk) == flight + b"\x03\x00"
    c0c1 = registry.get("handshake.c0c1")
    assert c0c1.parse_prefix(flight)[1] == 1 + PACKET_SIZE
    assert c0c1.parse(flight[: 1 + PACKET_SIZE])["digest"] == value["digest"]
    with pytest.raises(ProtocolError):
        c0c1.parse(flight)
    with pytest.raises(ProtocolError) as err:
        codec.parse(flight[:100])
    assert err.value.offset == 100


# --- digest --------------------------------------------------------------------------------------------


def test_keys():
    assert len(GENUINE_FP_KEY) == 62 and len(GENUINE_FP_KEY_PARTIAL) == 30
    assert len(GENUINE_FMS_KEY) == 68 and len(GENUINE_FMS_KEY_PARTIAL) == 36
    assert GENUINE_FMS_KEY_PARTIAL == b"Genuine Adobe Flash Media Server 001"


@pytest.mark.parametrize("scheme", [0, 1])
@pytest.mark.parametrize("seed", range(5))
def test_digest_made_by_us_validates(scheme, seed):
    c1 = make_challenge(
        time=seed, version=0x09007C02, key=GENUINE_FP_KEY_PARTIAL, scheme=scheme, rng=random.Random(seed)
    )
    off = digest_offset(c1, scheme)
    assert (12 if scheme == 0 else 776) <= off <= (739 if scheme == 0 else 1503)
    assert find_digest(c1, GENUINE_FP_KEY_PARTIAL) == (scheme, off)
    assert find_digest(c1, GENUINE_FMS_KEY_PARTIAL) is None  # wrong key
    assert C1.parse(c1).zero == 0x09007C02


@pytest.mark.parametrize("where", ["digest", "outside"])
def test_corrupted_digest_does_not_validate(where):
    c1 = bytearray(make_challenge(time=0, version=1, key=GENUINE_FP_KEY_PARTIAL, rng=random.Random(7)))
    off = digest_offset(c1, 0)
    pos = off + 5 if where == "digest" else (off + DIGEST_SIZE + 100 if off < 1000 else 20)
    c1[pos] ^= 0x01
    assert find_digest(bytes(c1), GENUINE_FP_KEY_PARTIAL) is None
    assert find_digest(bytes(c1[:-1]), GENUINE_FP_KEY_PARTIAL) is None


def test_plain_random_has_no_digest():
    rng = random.Random(9)
    assert all(find_digest(rng.randbytes(PACKET_SIZE), GENUINE_FP_KEY_PARTIAL) is None for _ in range(20))


def test_digest_response_and_echo():
    rng = random.Random(11)
    digest = rng.randbytes(32)
    s2 = make_digest_response(digest, GENUINE_FMS_KEY, time=5, time2=6, rng=rng)
    assert C2.parse(s2).time == 5 and C2.parse(s2).time2 == 6
    assert validate_digest_response(s2, digest, GENUINE_FMS_KEY)
    assert not validate_digest_response(s2, digest, GENUINE_FP_KEY)
    assert not validate_digest_response(s2, rng.randbytes(32), GENUINE_FMS_KEY)
    bad = s2[:100] + bytes([s2[100] ^ 1]) + s2[101:]
    assert not validate_digest_response(bad, digest, GENUINE_FMS_KEY)
    c1 = rng.randbytes(PACKET_SIZE)
    s2 = make_echo_response(c1, time2=77)
    assert echo_matches(s2, c1) and C2.parse(s2).time2 == 77
    assert not echo_matches(s2[:-1] + b"\x00" if s2[-1] else s2[:-1] + b"\x01", c1)


# --- state machines ------------------------------------------------------------------------------------


def test_transition_tables():
    assert SERVER_TRANSITIONS[(HandshakeState.WAIT_C0, "C0")] is HandshakeState.WAIT_C1
    assert SERVER_TRANSITIONS[(HandshakeState.WAIT_C2, "C2")] is HandshakeState.DONE
    assert CLIENT_TRANSITIONS[(HandshakeState.WAIT_S1, "S1")] is HandshakeState.WAIT_S2
    assert all(state is not HandshakeState.DONE for state, _ in {**SERVER_TRANSITIONS, **CLIENT_TRANSITIONS})


@pytest.mark.parametrize("chunk", [None, 1, 7, 1536])
@pytest.mark.parametrize("mode", ["auto", True, False])
def test_client_server_talk(mode, chunk):
    client = HandshakeClient(digest=mode, now_ms=1000, rng=random.Random(1))
    server = HandshakeServer(digest=mode, now_ms=2000, rng=random.Random(2))
    c_events, s_events = talk(client, server, chunk=chunk)
    digest = mode is not False
    assert [type(e) for e in s_events] == [VersionReceived, C1Received, HandshakeComplete]
    assert [type(e) for e in c_events] == [VersionReceived, S1Received, HandshakeComplete]
    c1, s1 = s_events[1], c_events[1]
    assert (c1.time, s1.time) == (1000, 2000)
    assert c1.digest is digest and s1.digest is digest
    assert c1.scheme == (0 if digest else None)
    assert c1.zero == (0x09007C02 if digest else 0) and s1.zero == (0x0D0E0A0D if digest else 0)
    for done, peer_time in ((s_events[2], 1000), (c_events[2], 2000)):
        assert done.peer_time == peer_time and done.leftover == b""
        assert done.echo_ok is (not digest)  # digest C2/S2 are signed, not echoes
        assert done.digest_ok is (True if digest else None)
    assert client.complete and server.complete
    assert client.next_event() is PAUSED and server.data_to_send() == b""


def test_server_answers_scheme_1_with_scheme_1():
    client = HandshakeClient(scheme=1, rng=random.Random(4))
    server = HandshakeServer(rng=random.Random(5))
    c_events, s_events = talk(client, server)
    assert s_events[1].scheme == 1 and c_events[1].scheme == 1
    assert s_events[2].digest_ok and c_events[2].digest_ok


def test_digest_client_against_plain_server_falls_back_to_echo():
    client = HandshakeClient(digest="auto", rng=random.Random(4))
    server = HandshakeServer(digest=False, rng=random.Random(5))
    c_events, s_events = talk(client, server)
    assert s_events[1].digest  # detected even when not used
    assert not c_events[1].digest
    assert s_events[2].echo_ok and c_events[2].echo_ok
    assert s_events[2].digest_ok is None and c_events[2].digest_ok is None


def test_plain_client_against_strict_server_is_rejected():
    server = HandshakeServer(digest=True)
    server.receive_data(HandshakeClient(digest=False).data_to_send())
    assert isinstance(server.next_event(), VersionReceived)
    with pytest.raises(ProtocolError) as err:
        server.next_event()
    assert err.value.section == "RTMP 5.2.3" and err.value.offset == 9


def test_strict_client_rejects_bad_s2_signature():
    client = HandshakeClient(digest=True, rng=random.Random(1))
    server = HandshakeServer(rng=random.Random(2))
    server.receive_data(client.data_to_send())
    drain(server)
    out = bytearray(server.data_to_send())
    out[-1] ^= 0xFF
    client.receive_data(bytes(out))
    assert [type(e) for e in (client.next_event(), client.next_event())] == [VersionReceived, S1Received]
    with pytest.raises(ProtocolError) as err:
        client.next_event()
    assert err.value.field == "random_echo"


def test_bad_c2_is_reported_not_fatal():
    client = HandshakeClient(digest=False, rng=random.Random(1))
    server = HandshakeServer(rng=random.Random(2))
    server.receive_data(client.data_to_send())
    drain(server)
    server.receive_data(bytes(PACKET_SIZE))
    (done,) = drain(server)
    assert done.echo_ok is False and done.digest_ok is None


def test_publisher_style_echo_c2_after_digest_s1():
    """ffmpeg as a publisher echoes a digest S1 instead of signing C2."""
    client = HandshakeClient(rng=random.Random(1))
    server = HandshakeServer(rng=random.Random(2))
    server.receive_data(client.data_to_send())
    drain(server)
    s1 = server.data_to_send()[1 : 1 + PACKET_SIZE]
    server.receive_data(s1)
    (done,) = drain(server)
    assert done.echo_ok is True and done.digest_ok is False


def test_leftover_bytes_are_handed_back():
    client = HandshakeClient(rng=random.Random(1))
    server = HandshakeServer(rng=random.Random(2))
    chunk = b"\x03\x00\x00\x00\x00\x00\x10\x14\x00\x00\x00\x00" + b"x" * 16
    c_events, s_events = talk(client, server, chunk=100, c_extra=chunk, s_extra=b"\x02abc")
    assert s_events[-1].leftover == chunk
    assert c_events[-1].leftover == b"\x02abc"


def test_leftover_with_c2_fed_byte_by_byte():
    client = HandshakeClient(rng=random.Random(1))
    server = HandshakeServer(rng=random.Random(2))
    server.receive_data(client.data_to_send())
    drain(server)
    client.receive_data(server.data_to_send())
    drain(client)
    c2 = client.data_to_send() + b"\x03\x04"
    for i in range(PACKET_SIZE - 1):
        server.receive_data(c2[i : i + 1])
        assert server.next_event() is NEED_DATA
    server.receive_data(c2[PACKET_SIZE - 1 :])  # the last byte of C2 and two more in one segment
    done = server.next_event()
    assert isinstance(done, HandshakeComplete) and done.leftover == b"\x03\x04" and done.digest_ok
    assert server.next_event() is PAUSED
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"\x04")


@pytest.mark.parametrize("version", [6, 8, 9, 0, 4, ord("G")])
def test_version_rejected_and_poisoned(version):
    server = HandshakeServer()
    server.receive_data(bytes([version]) + bytes(PACKET_SIZE))
    with pytest.raises(ProtocolError) as err:
        server.next_event()
    exc = err.value
    assert (exc.field, exc.offset, exc.section) == ("version", 0, "RTMP 5.2.2")
    assert server.state is HandshakeState.ERROR
    for call in (lambda: server.receive_data(b"\x03"), server.next_event, server.data_to_send):
        with pytest.raises(ProtocolError) as again:
            call()
        assert again.value is exc


def test_client_rejects_server_version():
    client = HandshakeClient()
    client.data_to_send()
    client.receive_data(b"\x06")
    with pytest.raises(ProtocolError) as err:
        client.next_event()
    assert "RTMPE" in str(err.value)
    with pytest.raises(ProtocolError):
        client.receive_data(bytes(10))


def test_eof_during_handshake():
    server = HandshakeServer()
    server.receive_data(b"\x03" + bytes(100))
    with pytest.raises(ProtocolError) as err:
        server.receive_data(b"")
    assert err.value.offset == 101
    with pytest.raises(ProtocolError):
        server.next_event()


def test_buffer_bound():
    server = HandshakeServer(max_leftover=10)
    server.receive_data(bytes([3]) + bytes(2 * PACKET_SIZE) + bytes(10))  # exactly the bound: fine
    with pytest.raises(LimitExceeded):
        server.receive_data(b"\x00")
    with pytest.raises(LimitExceeded):
        server.next_event()


def test_need_data_and_nothing_sent_before_c1():
    server = HandshakeServer()
    assert server.next_event() is NEED_DATA
    server.receive_data(b"\x03")
    assert server.next_event() == VersionReceived(3)
    assert server.data_to_send() == b""  # RTMP 5.2.1: the server may wait for C1
    server.receive_data(bytes(PACKET_SIZE - 1))
    assert server.next_event() is NEED_DATA
    server.receive_data(b"\x00")
    assert isinstance(server.next_event(), C1Received)
    assert len(server.data_to_send()) == 1 + 2 * PACKET_SIZE


def test_client_sends_c0c1_at_once_and_c2_after_s1():
    client = HandshakeClient(digest=False, now_ms=42)
    out = client.data_to_send()
    assert len(out) == 1 + PACKET_SIZE and out[0] == 3 and C1.parse(out[1:]).time == 42
    assert client.data_to_send() == b""
    server = HandshakeServer(digest=False)
    server.receive_data(out)
    drain(server)
    s = server.data_to_send()
    client.receive_data(s[: 1 + PACKET_SIZE], now_ms=50)
    drain(client)
    c2 = C2.parse(client.data_to_send())
    assert c2.time2 == 50 and c2.random_echo == C1.parse(s[1 : 1 + PACKET_SIZE]).random


def test_events_to_json():
    client = HandshakeClient(rng=random.Random(1))
    server = HandshakeServer(rng=random.Random(2))
    _, s_events = talk(client, server)
    js = to_jsonable(s_events[1])
    assert js["$type"] == "C1Received" and js["scheme"] == 0 and "random" not in js
    assert to_jsonable(s_events[2])["$type"] == "HandshakeComplete"


# --- golden vectors ------------------------------------------------------------------------------------


def _manifest():
    return json.loads((GOLDEN / "manifest.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", _manifest(), ids=lambda v: v["id"])
def test_golden(vector):
    data = (GOLDEN / vector["file"]).read_bytes()
    codec = registry.get(vector["codec"])
    value = codec.parse(data)
    assert to_jsonable(value) == vector["expected"]
    assert codec.build(value) == data


def test_golden_captured_digests():
    vectors = {v["id"]: v for v in _manifest()}
    ffmpeg = vectors["ffmpeg-c0c1"]
    assert ffmpeg["source"] == "ffmpeg 5.1"
    assert ffmpeg["expected"]["digest"]["scheme"] == 0
    assert ffmpeg["expected"]["c1"]["zero"] == 0x09007C02
    assert vectors["nginx-s0s1s2"]["expected"]["digest"]["scheme"] == 0


# --- real peers (loopback) -----------------------------------------------------------------------------


def run_over_socket(sock: socket.socket, hs, *, want_after: int = 1):
    """Drive ``hs`` over ``sock`` to completion, then read at least ``want_after`` more bytes (or EOF)."""
    sock.settimeout(15)
    received = bytearray()
    events = []
    out = hs.data_to_send()
    if out:
        sock.sendall(out)
    while not hs.complete:
        data = sock.recv(65536)
        if not data:
            raise AssertionError(f"peer closed during the handshake after {len(received)} bytes")
        received += data
        hs.receive_data(data)
        events += drain(hs)
        out = hs.data_to_send()
        if out:
            sock.sendall(out)
    after = bytearray(events[-1].leftover)
    while len(after) < want_after:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        if not data:
            break
        after += data
    return events, bytes(received), bytes(after)


def _serve_ffmpeg(tmp_path, start, hs, mangle=None):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.settimeout(30)
        proc = start(f"rtmp://127.0.0.1:{srv.getsockname()[1]}/live/x", tmp_path / "ffmpeg.log")
        try:
            conn, _ = srv.accept()
            with conn:
                if mangle is not None:
                    hs = mangle(hs)
                return run_over_socket(conn, hs)
        finally:
            peers.stop(proc)


needs_ffmpeg = pytest.mark.skipif(peers.ffmpeg_binary() is None, reason="ffmpeg is not installed")


@pytest.mark.interop
@needs_ffmpeg
def test_ffmpeg_publisher_against_our_server(tmp_path):
    events, received, after = _serve_ffmpeg(tmp_path, peers.start_ffmpeg_publish, HandshakeServer())
    c1 = events[1]
    assert isinstance(c1, C1Received) and c1.digest and c1.scheme == 0 and c1.zero == 0x09007C02
    done = events[-1]
    assert done.echo_ok  # a publishing ffmpeg echoes S1
    assert after[:1] == b"\x03", (after[:16], (tmp_path / "ffmpeg.log").read_text()[-2000:])
    assert find_digest(received[1 : 1 + PACKET_SIZE], GENUINE_FP_KEY_PARTIAL) == (0, c1.digest_offset)


@pytest.mark.interop
@needs_ffmpeg
def test_ffmpeg_player_checks_our_digest_s1_s2(tmp_path):
    """A playing ffmpeg validates S1's digest and S2's signature, and signs C2."""
    events, _, after = _serve_ffmpeg(tmp_path, peers.start_ffmpeg_play, HandshakeServer())
    log = (tmp_path / "ffmpeg.log").read_text(errors="replace")
    assert "Signature mismatch" not in log and "validating failed" not in log
    done = events[-1]
    assert done.digest_ok is True and done.echo_ok is False
    assert after[:1] == b"\x03", (after[:16], log[-2000:])


class _BadS2(HandshakeServer):
    def data_to_send(self) -> bytes:
        out = bytearray(super().data_to_send())
        if len(out) == 1 + 2 * PACKET_SIZE:
            out[-1] ^= 0xFF
        return bytes(out)


@pytest.mark.interop
@needs_ffmpeg
def test_ffmpeg_player_rejects_a_bad_s2(tmp_path):
    """Control for the test above: ffmpeg really checks, and stops before connect."""
    try:
        _, _, after = _serve_ffmpeg(tmp_path, peers.start_ffmpeg_play, _BadS2())
    except (AssertionError, ConnectionError):
        after = b""  # ffmpeg closed during the handshake (no C2)
    assert after[:1] != b"\x03"
    assert "Signature mismatch" in (tmp_path / "ffmpeg.log").read_text(errors="replace")


def _amf0_string(s: str) -> bytes:
    return struct.pack(">H", len(s)) + s.encode()


def _connect_chunk(port: int) -> bytes:
    """A hand-made AMF0 connect command in one fmt-0 chunk on chunk stream 3 (RTMP 7.2.1.1)."""
    body = b"\x02" + _amf0_string("connect") + b"\x00" + struct.pack(">d", 1.0) + b"\x03"
    body += _amf0_string("app") + b"\x02" + _amf0_string("live")
    body += _amf0_string("tcUrl") + b"\x02" + _amf0_string(f"rtmp://127.0.0.1:{port}/live")
    body += b"\x00\x00\x09"
    assert len(body) <= 128
    header = b"\x03" + b"\x00\x00\x00" + len(body).to_bytes(3, "big") + b"\x14" + b"\x00\x00\x00\x00"
    return header + body


@pytest.mark.interop
@pytest.mark.parametrize("mode,scheme", [("auto", 0), (True, 1), (False, 0)])
def test_our_client_against_nginx_rtmp(nginx_rtmp, mode, scheme):
    client = HandshakeClient(digest=mode, scheme=scheme, rng=random.Random(3))
    with socket.create_connection(("127.0.0.1", nginx_rtmp), timeout=15) as sock:
        events, received, after = run_over_socket(sock, client, want_after=0)
        assert after == b""  # nginx sends nothing before connect
        s1, done = events[1], events[-1]
        assert isinstance(s1, S1Received)
        if mode is False:  # nginx's "old style": S1 and S2 are our C1 echoed
            assert not s1.digest and done.echo_ok and done.digest_ok is None
        else:
            assert s1.digest and s1.scheme == 0 and s1.zero == 0x0D0E0A0D
            assert done.digest_ok is True
        sock.sendall(_connect_chunk(nginx_rtmp))
        reply = sock.recv(65536)
        assert reply[:1] == b"\x02"  # protocol control messages (chunk stream 2) answer the connect
