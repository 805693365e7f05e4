"""Bad input closes only the offending connection, with ONE log line (conn id, peer, what, offset, field,
section); the server and every other session go on. Also: handshake/idle timeouts and max connections."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from endpoint import AVC_SEQ, Endpoint, RefServer, avc_frame, video
from test_server import connected, media_of, player, publisher, run, wait_media

from rtmpspec import messages as M
from rtmpspec.chunkwriter import chunk_message
from rtmpspec.message_format import Message


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    with RefServer(log_path=str(d / "server.log")) as srv:
        yield srv


def peer_of(p: Endpoint) -> str:
    host, port = p.transport.get_extra_info("sockname")[:2]
    return f"{host}:{port}"


def lines_for(srv, peer: str, events=("protocol_error", "bad_name")) -> list[dict]:
    """Log records of the newest connection from ``peer`` (the kernel may reuse an ephemeral port that an
    earlier test's connection had, so the peer address alone is not unique on a module-scoped server)."""
    recs = [r for r in srv.events() if r.get("peer") == peer and r.get("event") in events]
    if not recs:
        return recs
    newest = max(r.get("conn", 0) for r in recs)
    return [r for r in recs if r.get("conn", 0) == newest]


async def healthy_pair(srv, name):
    pub, msid = await publisher(srv, name)
    pl, _ = await player(srv, name)
    pub.send(video(AVC_SEQ, 0, msid), video(avc_frame(True, 100), 0, msid))
    await wait_media(pl, 2)
    return pub, msid, pl


async def still_healthy(pub, msid, pl, n: int) -> None:
    before = len(media_of(pl))
    pub.send(video(avc_frame(False, 50, fill=n), 40 * n, msid))
    got = await wait_media(pl, before + 1)
    assert got[-1].payload == avc_frame(False, 50, fill=n)


def fresh_csid_fmt1() -> bytes:
    return bytes([0x40 | 10]) + (3).to_bytes(3, "big") + (3).to_bytes(3, "big") + b"\x14" + b"abc"


def oversized() -> bytes:
    return b"\x03" + bytes(3) + (9 * 1024 * 1024).to_bytes(3, "big") + b"\x14" + bytes(4) + bytes(4096)


def set_chunk_size(v: int) -> bytes:
    return chunk_message(Message(1, v.to_bytes(4, "big"), 0, 0, 2), 4096)


def garbage_amf() -> bytes:
    return chunk_message(Message(20, b"\x02\x00\x05hel", 0, 0, 3), 4096)


def garbage_amf_nested() -> bytes:
    return chunk_message(Message(20, b"\x02\x00\x07publish\x00\x40\x00\x00\x00\x00\x00\x00\x00\x03\x00\x01a\x42",
                                 0, 0, 3), 4096)


CASES = {
    "fmt1_first_chunk": (fresh_csid_fmt1, "fmt"),
    "oversized_message": (oversized, "messageLength"),
    "set_chunk_size_0": (lambda: set_chunk_size(0), "chunkSize"),
    # errata 2: the reserved bit 31 is ignored, so 0x80000000 is a chunk size of 0
    "set_chunk_size_bit31_size_0": (lambda: set_chunk_size(0x80000000), "chunkSize"),
    "garbage_amf": (garbage_amf, None),
    "garbage_amf_nested": (garbage_amf_nested, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_chunk_stream_closes_only_that_connection(server, case):
    build, field = CASES[case]

    async def main():
        pub, msid, pl = await healthy_pair(server, f"bad-{case}")
        bad = await connected(server)
        peer = peer_of(bad)
        bad.send_raw(build())
        await bad.wait_closed(5)
        await still_healthy(pub, msid, pl, 1)
        await asyncio.sleep(0.2)
        recs = lines_for(server, peer)
        assert len(recs) == 1, recs
        rec = recs[0]
        assert rec["event"] == "protocol_error" and rec["conn"] and rec["what"]
        assert "offset" in rec and "field" in rec and rec["section"]
        assert rec["offset"] is not None
        if field:
            assert rec["field"] == field
        for p in (pub, pl):
            p.close()
    run(main())


def test_malformed_handshake(server):
    async def main():
        pub, msid, pl = await healthy_pair(server, "bad-hs")
        r, w = await asyncio.open_connection(server.host, server.port)
        host, port = w.get_extra_info("sockname")[:2]
        peer = f"{host}:{port}"
        w.write(b"\x06" + bytes(1536))  # RTMPE version / not RTMP 3
        await w.drain()
        assert await asyncio.wait_for(r.read(), 5) == b""
        w.close()
        # not even a C0: an HTTP request
        r2, w2 = await asyncio.open_connection(server.host, server.port)
        w2.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(3000))
        await asyncio.wait_for(r2.read(), 5)
        w2.close()
        await still_healthy(pub, msid, pl, 2)
        await asyncio.sleep(0.2)
        recs = lines_for(server, peer)
        assert len(recs) == 1 and recs[0]["offset"] is not None and recs[0]["section"], recs
        for p in (pub, pl):
            p.close()
    run(main())


def test_publish_before_connect(server):
    async def main():
        pub, msid, pl = await healthy_pair(server, "bad-order")
        p = await Endpoint.open(server.host, server.port)
        peer = peer_of(p)
        p.send_raw(chunk_message(M.publish("x", msid=1).to_message(), 128))
        await p.wait_closed(5)
        await still_healthy(pub, msid, pl, 3)
        await asyncio.sleep(0.2)
        [rec] = lines_for(server, peer)
        assert "not allowed" in rec["what"] and rec["state"] == "AWAIT_CONNECT"
        for q in (pub, pl):
            q.close()
    run(main())


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "a\x00b", "x" * 300, "", ".hidden", "a b"])
@pytest.mark.parametrize("mode", ["play", "publish"])
def test_bad_stream_names(server, mode, name):
    async def main():
        pub, msid, pl = await healthy_pair(server, f"bad-name-{mode}")
        p = await connected(server)
        peer = peer_of(p)
        sid = await p.create_stream()
        if mode == "play":
            st = await p.play(name, sid)
            assert st.code == "NetStream.Play.StreamNotFound"
        else:
            st = await p.publish(name, sid)
            assert st.code == "NetStream.Publish.BadName"
        assert st.status["level"] == "error"
        await p.wait_closed(5)
        await still_healthy(pub, msid, pl, 4)
        await asyncio.sleep(0.2)
        recs = lines_for(server, peer)
        assert len(recs) == 1 and recs[0]["event"] == "bad_name"
        for q in (pub, pl):
            q.close()
    run(main())


def test_timeouts_and_max_connections(tmp_path):
    with RefServer("--handshake-timeout", "1", "--idle-timeout", "2", "--max-connections", "3",
                       log_path=str(tmp_path / "server.log")) as srv:
        async def main():
            # handshake timeout: connect and say nothing
            t0 = time.monotonic()
            r, w = await asyncio.open_connection(srv.host, srv.port)
            assert await asyncio.wait_for(r.read(), 5) == b""
            assert time.monotonic() - t0 < 3.5
            w.close()
            # idle timeout: a connected client that does not answer pings
            p = await connected(srv)
            p.conn.auto_pong = False
            t0 = time.monotonic()
            await p.wait_closed(6)
            assert 1.5 < time.monotonic() - t0 < 5
            assert any(type(e).__name__ == "UserControl" and e.event_type == 6 for e in p.events)  # PingRequest
            # max connections: the 4th is closed at once
            keep = [await connected(srv) for _ in range(3)]
            r4, w4 = await asyncio.open_connection(srv.host, srv.port)
            w4.write(b"\x03" + bytes(1536))
            try:
                data = await asyncio.wait_for(r4.read(), 3)
            except ConnectionResetError:
                data = b""
            assert data == b""
            w4.close()
            assert await keep[0].create_stream() == 1  # the others go on
            for k in keep:
                k.close()
        run(main())
        ev = {r["event"] for r in srv.events()}
        assert {"handshake_timeout", "idle_timeout", "connection_refused"} <= ev


def test_abrupt_disconnects_do_not_disturb_others(server):
    async def main():
        pub, msid, pl = await healthy_pair(server, "bad-abrupt")
        for cut in (1, 700, 1537, 3073):
            s = socket.create_connection((server.host, server.port))
            s.sendall((b"\x03" + bytes(3072))[:cut])
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()  # RST
        p = await connected(server)
        p.send_raw(b"\x03\x00\x00")  # half a chunk header, then gone
        p.transport.abort()
        await asyncio.sleep(0.2)
        await still_healthy(pub, msid, pl, 5)
        for q in (pub, pl):
            q.close()
    run(main())
