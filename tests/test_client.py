"""The RTMP client (reference_server.client) and its CLI against an in-process fake server.

The fake server is built from ``rtmpspec.Connection(Role.SERVER)`` (no mocks of rtmpspec): it runs in a thread
with its own event loop, answers like nginx-rtmp / ffmpeg do, records everything the client sent, and can be told
to misbehave (reject, stay silent, close, use wire quirks) to exercise errors and timeouts.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.process import free_port
from reference_server import client_cli
from reference_server.client import (
    PLAY_FLASH_VER,
    PUBLISH_FLASH_VER,
    ConnectionFailed,
    ConnectionLost,
    RTMPClient,
    RTMPTimeout,
    StatusError,
    open_player,
    open_publisher,
    parse_url,
)
from rtmpspec import control
from rtmpspec import events as E
from rtmpspec import messages as M
from rtmpspec.chunkheader import build_header
from rtmpspec.connection import Connection, Role
from rtmpspec.errors import ProtocolError
from rtmpspec.flv import AUDIO, SCRIPT, VIDEO, FLVWriter, read_flv
from rtmpspec.message_format import Message
from rtmpspec.sentinels import NEED_DATA

# -- media used by the fake server and the CLI tests ---------------------------------------------------------
AVC_SEQ = bytes.fromhex("1700000000") + bytes.fromhex("01640028ffe1000467640028010004 68ee3c80".replace(" ", ""))
AAC_SEQ = bytes.fromhex("af001210")


def avc(key: bool, n: int = 300, fill: int = 1) -> bytes:
    return bytes([0x17 if key else 0x27, 1, 0, 0, 0]) + bytes([fill & 0xFF]) * n


def aac(n: int = 100, fill: int = 2) -> bytes:
    return bytes([0xAF, 1]) + bytes([fill & 0xFF]) * n


def stream_script(frames: int = 10) -> list[tuple[str, int, Any]]:
    """What the fake server sends to a player: (kind, timestamp, payload/values)."""
    out: list[tuple[str, int, Any]] = [("data", 0, ("|RtmpSampleAccess", False, False)),
                                       ("data", 0, ("@setDataFrame", "onMetaData",
                                                    {"width": 320.0, "videocodecid": 7.0, "audiocodecid": 10.0})),
                                       ("video", 0, AVC_SEQ), ("audio", 0, AAC_SEQ)]
    for i in range(frames):
        out.append(("video", 1000 + 40 * i, avc(i % 5 == 0, 300 + i, i)))
        out.append(("audio", 1000 + 23 * i, aac(100 + i, i)))
    return out


# -- the fake server -----------------------------------------------------------------------------------------

@dataclass
class FakeSession:
    events: list = field(default_factory=list)  # everything the server's Connection returned
    connect: Any = None
    closed: threading.Event = field(default_factory=threading.Event)

    def commands(self) -> list[M.Command]:
        return [e for e in self.events if isinstance(e, M.Command)]

    def names(self) -> list[str]:
        return [c.name for c in self.commands()]

    def media(self) -> list[Any]:
        return [e for e in self.events if isinstance(e, (E.Audio, E.Video, M.DataMessage))]


class FakeServer:
    """``connect_mode``: ok | reject | close | silent. Keys: ``taken*`` -> Publish.BadName, ``missing*`` ->
    Play.StreamNotFound, ``silent*`` -> no answer, ``empty*`` -> Play.Start and nothing else. ``play_end``: eof | unpublish | close | none.
    ``quirk_fmt1``: the first video chunk to a player has a Type 1 header (nginx-rtmp style leniency test)."""

    def __init__(self, *, connect_mode: str = "ok", play_end: str = "eof", digest: Any = "auto",
                 window: int = 2500000, frames: int = 10, quirk_fmt1: bool = False, aggregate: bool = False,
                 port: int = 0, ping: bool = True) -> None:
        self.connect_mode = connect_mode
        self.play_end = play_end
        self.digest = digest
        self.window = window
        self.frames = frames
        self.quirk_fmt1 = quirk_fmt1
        self.aggregate = aggregate
        self.ping = ping
        self.sessions: list[FakeSession] = []
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    # lifecycle
    def __enter__(self) -> FakeServer:
        self._thread.start()
        assert self._ready.wait(5), "fake server did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live"

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        self._server.close()
        for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
            task.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        s = FakeSession()
        self.sessions.append(s)
        conn = Connection(Role.SERVER, digest=self.digest)
        writer.write(conn.data_to_send())
        try:
            while True:
                data = await reader.read(65536)
                conn.receive_data(data)
                while (ev := conn.next_event()) is not NEED_DATA:
                    s.events.append(ev)
                    if await self._on_event(conn, writer, ev, s) is False:
                        return
                writer.write(conn.data_to_send())
                if not data:
                    return
        except (ProtocolError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            s.closed.set()
            writer.close()

    async def _on_event(self, conn: Connection, w: asyncio.StreamWriter, ev: Any, s: FakeSession) -> bool | None:
        if not isinstance(ev, M.Command):
            return None
        if ev.name == "connect":
            s.connect = ev
            if self.connect_mode == "close":
                return False
            if self.connect_mode == "silent":
                return None
            if self.connect_mode == "reject":
                w.write(conn.send(M.error(ev.transaction_id, "NetConnection.Connect.Rejected", "go away")))
                return None
            w.write(conn.send(E.WindowAckSize(self.window)) + conn.send(E.SetPeerBandwidth(self.window, 2))
                    + conn.send(E.SetChunkSize(4096)))
            w.write(conn.send(M.result(ev.transaction_id, {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
                                       {"level": "status", "code": "NetConnection.Connect.Success",
                                        "description": "Connection succeeded.", "objectEncoding": 0.0})))
            w.write(conn.send(M.Command("onBWDone", 0, None, (8192.0,))))
        elif ev.name == "releaseStream":  # servers differ here: some say _error, nginx-rtmp says nothing
            w.write(conn.send(M.error(ev.transaction_id, "NetConnection.Call.Failed", "no releaseStream")))
        elif ev.name == "FCPublish":
            w.write(conn.send(M.Command("onFCPublish", 0, None, ({"code": "NetStream.Publish.Start"},))))
        elif ev.name == "createStream":
            w.write(conn.send(M.result(ev.transaction_id, None, 1.0)))
        elif ev.name == "publish":
            key = ev.args[0]
            if key.startswith("silent"):
                return None
            if key.startswith("taken"):
                w.write(conn.send(M.on_status("NetStream.Publish.BadName", f"{key} is already published",
                                              level="error", msid=ev.msid)))
                return None
            w.write(conn.send(E.UserControl(control.STREAM_BEGIN, stream_id=ev.msid)))
            w.write(conn.send(M.on_status("NetStream.Publish.Start", f"{key} is now published", msid=ev.msid)))
        elif ev.name == "play":
            key = ev.args[0]
            if key.startswith("silent"):
                return None
            if key.startswith("missing"):
                w.write(conn.send(M.on_status("NetStream.Play.StreamNotFound", f"no {key}", level="error",
                                              msid=ev.msid)))
                return None
            msid = ev.msid
            w.write(conn.send(E.UserControl(control.STREAM_BEGIN, stream_id=msid)))
            w.write(conn.send(M.on_status("NetStream.Play.Reset", "reset", msid=msid)))
            w.write(conn.send(M.on_status("NetStream.Play.Start", f"playing {key}", msid=msid)))
            if self.ping:
                w.write(conn.send(E.UserControl(control.PING_REQUEST, timestamp=1234)))
            await w.drain()
            if not key.startswith("empty"):
                await self._play(conn, w, msid)
        return None

    async def _play(self, conn: Connection, w: asyncio.StreamWriter, msid: int) -> None:
        script = stream_script(self.frames)
        first_video = True
        if self.aggregate:  # the last two frames as one aggregate message (RTMP 7.1.6)
            tail = script[-2:]
            script = script[:-2]
        for kind, ts, body in script:
            if kind == "data":
                w.write(conn.send(M.DataMessage(body, msid, ts)))
                continue
            t = MessageType_AUDIO if kind == "audio" else MessageType_VIDEO
            csid = 4 if kind == "audio" else 6
            msg = Message(t, body, ts, msid, csid)
            if kind == "video" and first_video and self.quirk_fmt1:
                # Type 1 header as the first chunk of chunk stream 6 (no Type 0 before it)
                # (the server's writer has no state for csid 6 yet, so its next video message is a Type 0)
                w.write(build_header(1, csid, ts, len(body), t) + body)
            else:
                w.write(conn.send(msg))
            if kind == "video":
                first_video = False
            await w.drain()
        if self.aggregate:
            subs = [M.SubMessage(MessageType_AUDIO if k == "audio" else MessageType_VIDEO, ts, 0, b)
                    for k, ts, b in tail]
            w.write(conn.send(Message(22, M.build_aggregate(subs), tail[0][1], msid, 6)))
        await asyncio.sleep(0.05)
        if self.play_end == "eof":
            w.write(conn.send(E.UserControl(control.STREAM_EOF, stream_id=msid)))
        elif self.play_end == "unpublish":
            w.write(conn.send(M.on_status("NetStream.Play.UnpublishNotify", "gone", msid=msid)))
        elif self.play_end == "close":
            await w.drain()
            w.close()
        await w.drain()


MessageType_AUDIO = int(M.MessageType.AUDIO)
MessageType_VIDEO = int(M.MessageType.VIDEO)


def run(coro, timeout: float = 20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def wait_closed(s: FakeSession, timeout: float = 5) -> None:
    assert s.closed.wait(timeout), "server session did not end"


# -- URL parsing ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, app, playpath, port, tc_url", [
    ("rtmp://h/live/key", "live", "key", 1935, "rtmp://h:1935/live"),
    ("rtmp://h:1936/live", "live", "", 1936, "rtmp://h:1936/live"),
    ("rtmp://h/app/inst/key", "app/inst", "key", 1935, "rtmp://h:1935/app/inst"),
    ("rtmp://h/app/inst/a/b", "app/inst", "a/b", 1935, "rtmp://h:1935/app/inst"),
    ("rtmp://h/vod/mp4:dir/file.mp4", "vod", "mp4:dir/file.mp4", 1935, "rtmp://h:1935/vod"),
    ("rtmp://h/vod/file.mp4", "vod", "mp4:file.mp4", 1935, "rtmp://h:1935/vod"),
    ("rtmp://h/vod/file.f4v", "vod", "mp4:file.f4v", 1935, "rtmp://h:1935/vod"),
    ("rtmp://h/live/key.flv", "live", "key", 1935, "rtmp://h:1935/live"),
    ("rtmp://h/live/key?token=1", "live", "key?token=1", 1935, "rtmp://h:1935/live"),
    ("rtmps://h/live/key", "live", "key", 443, "rtmps://h:443/live"),
    ("RTMP://H.example:99/live/k", "live", "k", 99, "rtmp://h.example:99/live"),
    ("rtmp://[::1]:1935/live/k", "live", "k", 1935, "rtmp://[::1]:1935/live"),
    ("rtmp://h/ondemand/a/b", "ondemand", "a/b", 1935, "rtmp://h:1935/ondemand"),
    ("rtmp://h/app?slist=stream&x=1", "app", "stream", 1935, "rtmp://h:1935/app"),
    ("rtmp://user:pw@h/live/k", "live", "k", 1935, "rtmp://h:1935/live"),
])
def test_parse_url_follows_ffmpeg(url, app, playpath, port, tc_url):
    u = parse_url(url)
    assert (u.app, u.playpath, u.port, u.tc_url) == (app, playpath, port, tc_url)
    assert u.tls is url.lower().startswith("rtmps")


@pytest.mark.parametrize("url", ["http://h/live/k", "rtmp:///live/k", "rtmp://h/", "rtmp://h", "rtmp://h:99999/l",
                                 "rtmpe://h/live/k", "not a url"])
def test_parse_url_rejects(url):
    with pytest.raises(ValueError):
        parse_url(url)


# -- publish / play flows ------------------------------------------------------------------------------------

def test_publish_flow_matches_ffmpeg():
    async def go(srv):
        c = RTMPClient(timeout=5)
        res = await c.connect(srv.url + "/key1")
        assert res.code == "NetConnection.Connect.Success"
        sid = await c.publish()
        assert sid == 1 and c.publishing == "key1"
        await c.send_metadata({"width": 320.0})
        await c.send_video(0, AVC_SEQ)
        await c.send_audio(0, AAC_SEQ)
        for i in range(5):
            await c.send_video(40 * i, avc(i == 0, 5000))  # several chunks at 4096
            await c.send_audio(23 * i, aac())
        await c.close()
        assert c.statuses[-1]["code"] == "NetStream.Publish.Start"

    with FakeServer() as srv:
        run(go(srv))
        s = srv.sessions[0]
        wait_closed(s)
    obj = s.connect.command_object
    assert obj["app"] == "live" and obj["tcUrl"] == f"rtmp://127.0.0.1:{srv.port}/live"
    assert obj["flashVer"] == PUBLISH_FLASH_VER and obj["type"] == "nonprivate"
    assert s.names() == ["connect", "releaseStream", "FCPublish", "createStream", "publish", "FCUnpublish",
                         "deleteStream"]
    pub = s.commands()[4]
    assert pub.args == ("key1", "live") and pub.msid == 1
    assert s.commands()[6].args == (1.0,)
    # control: Set Chunk Size 4096 after connect; the server's first Set Peer Bandwidth is Dynamic, which RTMP 5.4.5
    # says to ignore (no Hard limit before it): no Window Acknowledgement Size answers it
    ctl = [e for e in s.events if isinstance(e, (E.SetChunkSize, E.WindowAckSize))]
    assert E.SetChunkSize(4096) in ctl and not any(isinstance(e, E.WindowAckSize) for e in ctl)
    media = s.media()
    assert media[0].values == ("@setDataFrame", "onMetaData", {"width": 320.0}) and media[0].msid == 1
    videos = [m for m in media if type(m) is E.Video]
    assert [v.timestamp for v in videos] == [0, 0, 40, 80, 120, 160]
    assert videos[1].payload == avc(True, 5000) and all(v.msid == 1 for v in videos)
    assert [a.timestamp for a in media if type(a) is E.Audio] == [0, 0, 23, 46, 69, 92]
    assert isinstance(s.events[-1], E.ConnectionClosed) and s.events[-1].clean


@pytest.mark.parametrize("end, reason", [("eof", "StreamEOF"), ("unpublish", "NetStream.Play.UnpublishNotify"),
                                         ("close", "closed")])
def test_play_flow_and_stream_end(end, reason):
    async def go(srv):
        c = RTMPClient(timeout=5, buffer_ms=1500)
        await c.connect(srv.url + "/key2", purpose="play")
        assert await c.play() == 1
        got = [ev async for ev in c]
        await c.close()
        return c, got

    with FakeServer(play_end=end) as srv:
        c, got = run(go(srv))
        s = srv.sessions[0]
        wait_closed(s)
    assert c.end_reason == reason and c.error is None
    obj = s.connect.command_object
    assert obj["flashVer"] == PLAY_FLASH_VER and "type" not in obj
    assert obj["fpad"] is False and obj["capabilities"] == 15.0 and obj["videoFunction"] == 1.0
    cmds = s.commands()
    assert [x.name for x in cmds][:3] == ["connect", "createStream", "play"]
    assert cmds[2].args == ("key2", -2.0, -1.0) and cmds[2].msid == 1
    ucs = [e for e in s.events if isinstance(e, E.UserControl)]
    if end != "close":  # (the server stops reading when it closes)
        assert any(u.event_type == control.SET_BUFFER_LENGTH and u.stream_id == 1 and u.buffer_length == 1500
                   for u in ucs)
        assert any(u.event_type == control.PING_RESPONSE and u.timestamp == 1234 for u in ucs)
    expected = stream_script()
    assert len(got) == len(expected)
    for ev, (kind, ts, body) in zip(got, expected, strict=True):
        if kind == "data":
            assert isinstance(ev, M.DataMessage) and ev.values == body
        else:
            assert isinstance(ev, E.Video if kind == "video" else E.Audio)
            assert (ev.timestamp, ev.payload) == (ts, body)
    assert got[1].metadata == {"width": 320.0, "videocodecid": 7.0, "audiocodecid": 10.0}
    if end != "close":
        assert "deleteStream" in s.names()


def test_aggregate_messages_are_split():
    async def go(srv):
        c = await open_player(srv.url + "/agg", timeout=5)
        got = [ev async for ev in c]
        await c.close()
        return got

    with FakeServer(aggregate=True) as srv:
        got = run(go(srv))
    expected = stream_script()
    assert [(type(e).__name__, e.timestamp) for e in got[-2:]] == [
        ("Video" if k == "video" else "Audio", ts) for k, ts, _ in expected[-2:]]
    assert [e.payload for e in got[-2:]] == [b for _, _, b in expected[-2:]]


def test_acknowledgements_are_sent_for_the_servers_window():
    async def go(srv):
        c = await open_player(srv.url + "/ack", timeout=5)
        async for _ in c:
            pass
        await c.close()

    with FakeServer(window=2000, frames=30) as srv:
        run(go(srv))
        wait_closed(srv.sessions[0])
    acks = [e.sequence for e in srv.sessions[0].events if isinstance(e, E.Acknowledgement)]
    assert acks and acks == sorted(acks) and acks[-1] > 10000  # (one per read that crosses the window)


def test_open_publisher_and_enhanced_connect():
    async def go(srv):
        c = await open_publisher(srv.url + "/e", timeout=5, enhanced=True, connect_extra={"x": 1.0})
        await c.close()

    with FakeServer() as srv:
        run(go(srv))
    obj = srv.sessions[0].connect.command_object
    assert "fourCcList" in obj and "capsEx" in obj and obj["x"] == 1.0


# -- errors ---------------------------------------------------------------------------------------------------

def test_publish_badname_raises_status_error():
    async def go(srv):
        c = RTMPClient(timeout=5)
        await c.connect(srv.url + "/taken1")
        with pytest.raises(StatusError) as ei:
            await c.publish()
        await c.close()
        return ei.value

    with FakeServer() as srv:
        err = run(go(srv))
    assert err.code == "NetStream.Publish.BadName" and "already published" in err.description
    assert "BadName" in str(err)


def test_play_stream_not_found_raises_status_error():
    async def go(srv):
        with pytest.raises(StatusError) as ei:
            await open_player(srv.url + "/missing1", timeout=5)
        return ei.value

    with FakeServer() as srv:
        assert run(go(srv)).code == "NetStream.Play.StreamNotFound"


def test_connect_rejected():
    async def go(srv):
        c = RTMPClient(timeout=5)
        with pytest.raises(StatusError) as ei:
            await c.connect(srv.url + "/k")
        await c.close()
        return ei.value

    with FakeServer(connect_mode="reject") as srv:
        err = run(go(srv))
    assert err.code == "NetConnection.Connect.Rejected" and err.description == "go away"


def test_server_closing_on_connect_is_connection_lost():
    async def go(srv):
        c = RTMPClient(timeout=5)
        with pytest.raises(ConnectionLost):
            await c.connect(srv.url + "/k")
        await c.close()

    with FakeServer(connect_mode="close") as srv:
        run(go(srv))


@pytest.mark.parametrize("step", ["connect", "publish", "play"])
def test_every_wait_times_out(step):
    async def go(srv):
        c = RTMPClient(timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(RTMPTimeout):
            await c.connect(srv.url + "/silent1", purpose="play" if step == "play" else "publish")
            if step == "publish":
                await c.publish()
            else:
                await c.play()
        assert time.monotonic() - t0 < 2
        await c.close()

    with FakeServer(connect_mode="silent" if step == "connect" else "ok") as srv:
        run(go(srv))


def test_read_timeout_when_no_media():
    async def go(srv):
        c = await open_player(srv.url + "/k", timeout=5)
        n = 0
        with pytest.raises(RTMPTimeout):
            while True:
                ev = await c.read(timeout=0.3)
                assert ev is not None
                n += 1
        await c.close()
        return n

    with FakeServer(play_end="none", frames=2) as srv:
        assert run(go(srv)) == len(stream_script(2))


def test_connection_refused_and_retry():
    port = free_port()

    async def refused():
        with pytest.raises(ConnectionFailed):
            await RTMPClient(timeout=1).connect(f"rtmp://127.0.0.1:{port}/live/k")

    run(refused())

    async def retried(srv_holder):
        c = RTMPClient(timeout=5)
        timer = threading.Timer(0.3, lambda: srv_holder.append(FakeServer(port=port).__enter__()))
        timer.start()
        await c.connect(f"rtmp://127.0.0.1:{port}/live/k", retry_for=5)
        await c.publish()
        await c.close()

    holder: list[FakeServer] = []
    try:
        run(retried(holder))
    finally:
        for srv in holder:
            srv.__exit__(None, None, None)


@pytest.mark.parametrize("server_digest, mode, ok", [
    ("auto", "digest", True), (False, "digest", True), ("auto", "plain", True), (False, "plain", True),
    ("auto", "digest-strict", True), (False, "digest-strict", False),
])
def test_handshake_modes(server_digest, mode, ok):
    async def go(srv):
        c = RTMPClient(timeout=3, handshake=mode)
        try:
            await c.connect(srv.url + "/k")
            return c.handshake_info
        finally:
            await c.close()

    with FakeServer(digest=server_digest) as srv:
        if ok:
            info = run(go(srv))
            assert info.digest is (server_digest == "auto" and mode != "plain")
        else:
            with pytest.raises(ProtocolError):
                run(go(srv))


@pytest.mark.parametrize("strict", [False, True])
def test_lenient_reader_accepts_type1_first_chunk(strict):
    async def go(srv):
        c = await open_player(srv.url + "/q", timeout=5, strict=strict)
        got = []
        try:
            async for ev in c:
                got.append(ev)
        finally:
            await c.close()
        return got

    with FakeServer(quirk_fmt1=True) as srv:
        if strict:
            with pytest.raises(ProtocolError) as ei:
                run(go(srv))
            assert ei.value.section == "RTMP 5.3.1.2.1"
        else:
            got = run(go(srv))
            assert len([e for e in got if isinstance(e, E.Video)]) == 11


def test_api_misuse():
    async def go():
        c = RTMPClient()
        with pytest.raises(Exception, match="not connected"):
            await c.publish("k")
        with pytest.raises(Exception, match="not publishing"):
            await c.send_audio(0, b"x")
        await c.close()

    run(go())
    with pytest.raises(ValueError):
        RTMPClient(handshake="fancy")


# -- the CLI ---------------------------------------------------------------------------------------------------

def make_flv(path, frames: int = 12) -> list[tuple[int, int, bytes]]:
    w = FLVWriter()
    tags = [(SCRIPT, 0, M.encode_values(18, ["onMetaData", {"duration": 0.5, "videocodecid": 7.0}])),
            (VIDEO, 0, AVC_SEQ), (AUDIO, 0, AAC_SEQ)]
    for i in range(frames):
        tags.append((VIDEO, 40 * i, avc(i % 4 == 0, 200, i)))
        tags.append((AUDIO, 40 * i + 10, aac(50, i)))
    with open(path, "wb") as f:
        f.write(w.header())
        for t, ts, data in tags:
            f.write(w.tag(t, ts, data))
    return tags


def test_cli_publish_sends_the_file(tmp_path):
    tags = make_flv(tmp_path / "in.flv")
    with FakeServer() as srv:
        rc = client_cli.main(["publish", srv.url + "/clikey", str(tmp_path / "in.flv"), "--loop", "2", "-q"])
        wait_closed(srv.sessions[0])
    assert rc == 0
    s = srv.sessions[0]
    media = s.media()
    assert media[0].values == ("@setDataFrame", "onMetaData", {"duration": 0.5, "videocodecid": 7.0})
    av = [m for m in media if type(m) in (E.Audio, E.Video)]
    once = [(t, ts, d) for t, ts, d in tags if t != SCRIPT]
    assert len(av) == 2 * len(once)
    assert [(VIDEO if type(m) is E.Video else AUDIO, m.timestamp, m.payload) for m in av[:len(once)]] == once
    # the second pass continues the timeline: span of the file (450 ms) + one video frame (40 ms)
    assert [m.timestamp for m in av[len(once):]] == [ts + 490 for _, ts, _ in once]
    assert s.names()[-2:] == ["FCUnpublish", "deleteStream"]


def test_cli_publish_realtime_paces(tmp_path):
    make_flv(tmp_path / "in.flv", frames=12)  # 450 ms of media
    with FakeServer() as srv:
        t0 = time.monotonic()
        rc = client_cli.main(["publish", srv.url + "/rt", str(tmp_path / "in.flv"), "--realtime", "-q"])
        took = time.monotonic() - t0
    assert rc == 0 and 0.4 < took < 3


def test_cli_play_writes_an_flv(tmp_path):
    out = tmp_path / "out.flv"
    with FakeServer() as srv:
        rc = client_cli.main(["play", srv.url + "/p", "-o", str(out), "-q"])
    assert rc == 0
    header, tags = read_flv(out)
    assert header.has_audio and header.has_video
    expected = [x for x in stream_script() if not (x[0] == "data" and x[2][0].startswith("|"))]
    assert len(tags) == len(expected)
    assert tags[0].tag_type == SCRIPT and M.decode_values(18, tags[0].data) == [
        "onMetaData", {"width": 320.0, "videocodecid": 7.0, "audiocodecid": 10.0}]
    for tag, (kind, ts, body) in zip(tags[1:], expected[1:], strict=True):
        assert tag.tag_type == (VIDEO if kind == "video" else AUDIO)
        assert tag.timestamp == ts and tag.data == body  # first media timestamp is 0 already


def test_cli_play_stops_after_duration(tmp_path):
    out = tmp_path / "out.flv"
    with FakeServer(frames=40, play_end="none") as srv:
        t0 = time.monotonic()
        rc = client_cli.main(["play", srv.url + "/d", "-o", str(out), "--duration", "0.5", "-q"])
        took = time.monotonic() - t0
    assert rc == 0 and took < 3
    _, tags = read_flv(out)
    media = [t for t in tags if t.tag_type in (AUDIO, VIDEO)]
    assert media and max(t.timestamp for t in media) <= 1500


def test_cli_play_keep_timestamps(tmp_path):
    out = tmp_path / "out.flv"
    with FakeServer(frames=3) as srv:
        assert client_cli.main(["play", srv.url + "/kt", "-o", str(out), "--keep-timestamps", "-q"]) == 0
    _, tags = read_flv(out)
    assert [t.timestamp for t in tags if t.tag_type == VIDEO] == [0, 1000, 1040, 1080]


def test_cli_exit_codes(tmp_path, capsys):
    make_flv(tmp_path / "in.flv")
    flv = str(tmp_path / "in.flv")
    (tmp_path / "bad.flv").write_bytes(b"not an flv at all")
    with FakeServer() as srv:
        assert client_cli.main(["publish", srv.url + "/taken9", flv]) == 1
        assert "NetStream.Publish.BadName" in capsys.readouterr().err
        assert client_cli.main(["play", srv.url + "/missing9", "-o", str(tmp_path / "o.flv")]) == 1
        assert "NetStream.Play.StreamNotFound" in capsys.readouterr().err
        assert client_cli.main(["publish", srv.url + "/silent9", flv, "--timeout", "0.3"]) == 3
        assert client_cli.main(["play", srv.url + "/k", "-o", str(tmp_path / "o.flv"), "--timeout", "5",
                                "--idle-timeout", "0.3"]) == 0
    assert client_cli.main(["publish", f"rtmp://127.0.0.1:{free_port()}/live/k", flv, "--timeout", "1"]) == 3
    assert client_cli.main(["publish", "http://127.0.0.1/live/k", flv]) == 2
    assert client_cli.main(["publish", "rtmp://127.0.0.1/live/k", str(tmp_path / "nope.flv")]) == 2
    assert client_cli.main(["publish", "rtmp://127.0.0.1/live/k", str(tmp_path / "bad.flv")]) == 2
    assert client_cli.main(["publish"]) == 2
    assert client_cli.main(["frobnicate", "x"]) == 2
    with FakeServer() as srv:
        # nothing but Play.Start: idle timeout with no media at all is a timeout (3)
        assert client_cli.main(["play", srv.url + "/empty", "-o", str(tmp_path / "o.flv"),
                                "--idle-timeout", "0.3"]) == 3
