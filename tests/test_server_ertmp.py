"""Reference server, Enhanced RTMP v2 beyond the relay the battery checks: multitrack and ModEx media recorded
byte-exact, the reconnect request (control socket, graceful shutdown drain) and the reference client following one
to another server; shared objects."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from endpoint import Endpoint, RefServer

from conformance import ertmp
from reference_server.control import RECONNECT_REQUEST
from rtmpspec import amf0, sharedobject
from rtmpspec import messages as M
from rtmpspec.flv import read_flv
from rtmpspec.message_format import Message
from rtmpspec.sharedobject import EventType as E

_names = itertools.count(1)


def run(coro, timeout: float = 30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def key() -> str:
    return f"ertmp{next(_names)}"


def _items() -> list:
    mt = ertmp.video_tracks(2, ertmp.SEQ_START, [(0, b"av01", ertmp.video_config(b"av01")),
                                                 (1, b"hvc1", ertmp.video_config(b"hvc1"))])
    items = [(9, 0, ertmp.video(ertmp.KEY, ertmp.MULTITRACK, multitrack=mt))]
    for i in range(4):
        body = [(0, b"av01", ertmp.video_frame(b"av01", i == 0, 400, i)),
                (1, b"hvc1", ertmp.video_frame(b"hvc1", i == 0, 300, 10 + i))]
        items.append((9, 40 * i, ertmp.video(ertmp.KEY if i == 0 else ertmp.INTER, ertmp.MULTITRACK,
                                             multitrack=ertmp.video_tracks(2, ertmp.CODED, body, cts=40))))
        items.append((8, 40 * i + 5, ertmp.audio(ertmp.A_CODED, b"Opus", ertmp.audio_frame(b"Opus", i, 120, 20 + i),
                                                 mod_ex=[ertmp.mod_ex_nano(250000 * i, 3 if i % 2 else 300)])))
    return items


def test_multitrack_and_modex_are_recorded_byte_exact(tmp_path: Path):
    rec = tmp_path / "rec"

    async def main(srv):
        p = await Endpoint.open(srv.host, srv.port)
        assert (await p.connect("live")).name == "_result"
        msid = await p.create_stream()
        name = key()
        assert (await p.publish(name, msid, "record")).code == "NetStream.Publish.Start"
        for t, ts, payload in _items():
            p.send(Message(t, payload, ts, msid, 6 if t == 9 else 4))
        tid = p.next_tid()
        p.send(M.create_stream(tid))
        await p.expect(lambda e: isinstance(e, M.Command) and e.transaction_id == tid)
        p.close()
        return name

    with RefServer("--record-dir", str(rec), log_path=str(tmp_path / "s.log")) as srv:
        name = run(main(srv))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not srv.events("record_close"):
            time.sleep(0.05)
    files = list((rec / "live").glob(f"{name}-*.flv"))
    assert len(files) == 1, list(rec.rglob("*"))
    _, tags = read_flv(str(files[0]))
    got = [(t.tag_type, bytes(t.data)) for t in tags if t.tag_type in (8, 9)]
    assert got == [(t, payload) for t, _, payload in _items()]


def _control(sock: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reference_server.control", "--socket", str(sock), "reconnect",
                           *args], capture_output=True, text=True, timeout=10)


def test_reconnect_request_on_the_control_socket_and_on_shutdown(tmp_path: Path):
    sock = tmp_path / "ctl.sock"

    async def main(srv):
        a = await Endpoint.open(srv.host, srv.port)
        await a.connect("live")
        msid = await a.create_stream()
        name = key()
        await a.publish(name, msid)
        b = await Endpoint.open(srv.host, srv.port)  # connected, no stream
        await b.connect("live")
        r = await asyncio.to_thread(_control, sock, "--app", "live", "--key", name, "--redirect", "rtmp://x/live")
        assert r.returncode == 0, r.stderr
        st = await a.status(RECONNECT_REQUEST)
        assert st.msid == 0 and st.transaction_id == 0 and st.command_object is None
        assert st.status["level"] == "status" and st.status["tcUrl"] == "rtmp://x/live"
        assert not any(isinstance(e, M.Command) and e.code == RECONNECT_REQUEST for e in b.events)
        r = await asyncio.to_thread(_control, sock, "--app", "live", "--key", "nobody")
        assert r.returncode == 1  # nobody publishes or plays that key
        # graceful shutdown: every client is asked to reconnect, and served while it leaves
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        for p in (a, b):
            st = await p.status(RECONNECT_REQUEST)
            assert "tcUrl" not in st.status
        tid = b.next_tid()
        b.send(M.create_stream(tid))  # the old connection still answers
        await b.expect(lambda e: isinstance(e, M.Command) and e.name == "_result" and e.transaction_id == tid)
        a.close()
        b.close()
        await asyncio.to_thread(srv.wait, 10)
        return time.monotonic() - t0

    with RefServer("--control-socket", str(sock), "--drain-timeout", "5", log_path=str(tmp_path / "s.log")) as srv:
        took = run(main(srv))
        assert took < 4, f"the drain did not end when the clients left ({took:.1f} s)"
        assert srv.events("drained")


def test_reference_client_follows_a_reconnect_request(tmp_path: Path):
    """rtmp-client publishing to server A is asked (control socket) to go to server B: it publishes the same key on B,
    where a player gets the stream from the next keyframe on."""
    sock = tmp_path / "a.sock"
    flv = Path(__file__).resolve().parents[1] / "conformance" / "data" / "av.flv"
    with RefServer("--control-socket", str(sock), log_path=str(tmp_path / "a.log")) as a, \
            RefServer(log_path=str(tmp_path / "b.log")) as b:
        name = key()
        client = subprocess.Popen([sys.executable, "-m", "reference_server.client_cli", "publish",
                                   f"{a.url}/live/{name}", str(flv), "--realtime"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not a.events("publish_start"):
                time.sleep(0.05)
            r = _control(sock, "--app", "live", "--key", name, "--redirect", f"{b.url}/live")
            assert r.returncode == 0, r.stderr
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not b.events("publish_start"):
                time.sleep(0.05)
            assert [e["stream"] for e in b.events("publish_start")] == [f"live/{name}"]
        finally:
            client.send_signal(signal.SIGINT)
            try:
                client.wait(5)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait()


def test_shared_objects_sync_between_clients(tmp_path: Path):
    def so(name, events, amf3=False):
        return Message(16 if amf3 else 19, sharedobject.build(name, events, amf3=amf3), 0, 0, 3)

    def so_events(p, name):
        out = []
        for e in p.events:
            m = getattr(e, "message", None)
            if m is not None and m.type_id in (16, 19):
                s = sharedobject.parse(m.payload, amf3=m.type_id == 16)
                if s.name == name:
                    out += list(s.events)
        return out

    async def main(srv):
        a, b = await Endpoint.open(srv.host, srv.port), await Endpoint.open(srv.host, srv.port)
        for p in (a, b):
            await p.connect("live")
        a.send(so("chat", [(E.Use, b"")]))
        await a.expect(lambda e: any(t == E.UseSuccess for t, _ in so_events(a, "chat")), from_start=True)
        change = sharedobject.NameValue.build({"name": "x", "value": amf0.encode(1.0)})
        b.send(so("chat", [(E.Use, b""), (E.RequestChange, change)]))
        await b.expect(lambda e: any(t == E.Success for t, _ in so_events(b, "chat")), from_start=True)
        await a.expect(lambda e: any(t == E.Change for t, _ in so_events(a, "chat")), from_start=True)
        a.send(so("chat", [(E.SendMessage, amf0.encode_all(["hi", 1.0]))]))
        for p in (a, b):
            await p.expect(lambda e, p=p: any(t == E.SendMessage for t, _ in so_events(p, "chat")), from_start=True)
        b.close()
        a.close()

    with RefServer(log_path=str(tmp_path / "s.log")) as srv:
        run(main(srv))


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])


def test_client_and_server_negotiate_ertmp_both_ways(tmp_path: Path):
    """E-RTMP v2 connect, both directions: the reference client declares its FourCCs and capsEx, the reference
    server answers with its own in the _result, and the client reads them."""
    from reference_server.client import RTMPClient
    from rtmpspec import media

    async def main(srv):
        c = RTMPClient(enhanced=True, handshake="plain")
        await c.connect(f"{srv.url}/live")
        caps = c.server_caps
        await c.close()
        return caps

    with RefServer(log_path=str(tmp_path / "s.log")) as srv:
        caps = run(main(srv))
    assert caps.caps_ex & media.CapsExMask.Multitrack and caps.caps_ex & media.CapsExMask.ModEx
    assert caps.supports("av01") and caps.supports("Opus") and caps.supports("hvc1")
