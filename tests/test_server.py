"""Reference server: connect, commands, publish/play relay, late joiners, notifications (RTMP 7.2).

The server runs as a subprocess (``python -m reference_server --listen 127.0.0.1:0``); the test clients are
asyncio endpoints on rtmpspec's sans-I/O Connection (tests/endpoint.py).
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from endpoint import AAC_SEQ, AVC_SEQ, Endpoint, RefServer, aac_frame, audio, avc_frame, video

from rtmpspec import control
from rtmpspec import events as E
from rtmpspec import messages as M

_names = itertools.count(1)


def run(coro, timeout: float = 30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("srv")
    with RefServer("--log-level", "debug", log_path=str(d / "server.log")) as srv:
        yield srv


def key() -> str:
    return f"k{next(_names)}"


async def connected(srv, app="live", **kw) -> Endpoint:
    p = await Endpoint.open(srv.host, srv.port)
    res = await p.connect(app, **kw)
    assert res.name == "_result", res
    return p


async def publisher(srv, name) -> tuple[Endpoint, int]:
    p = await connected(srv)
    msid = await p.create_stream()
    st = await p.publish(name, msid)
    assert st.code == "NetStream.Publish.Start"
    return p, msid


async def player(srv, name, **kw) -> tuple[Endpoint, int]:
    p = await Endpoint.open(srv.host, srv.port, **kw)
    await p.connect("live")
    msid = await p.create_stream()
    st = await p.play(name, msid)
    assert st.code == "NetStream.Play.Start"
    return p, msid


async def sync(p: Endpoint) -> None:
    """A round trip on p's connection: the server has processed everything p sent before."""
    tid = p.next_tid()
    p.send(M.get_stream_length("sync", tid))
    await p.expect(lambda e: isinstance(e, M.Command) and e.name == "_result" and e.transaction_id == tid)


def media_of(p: Endpoint) -> list:
    return [e.message for e in p.events if isinstance(e, (E.Audio, E.Video))]


async def wait_media(p: Endpoint, n: int, timeout: float = 5) -> list:
    await p.expect(lambda e: len(media_of(p)) >= n, timeout, from_start=True)
    for _ in range(int(timeout * 20)):
        if len(media_of(p)) >= n:
            break
        await asyncio.sleep(0.05)
    return media_of(p)


def test_connect_control_burst_and_result(server):
    async def main():
        p = await Endpoint.open(server.host, server.port)
        res = await p.connect("live")
        before = p.events[:p.events.index(res)]
        ctl = [e for e in before if isinstance(e, (E.WindowAckSize, E.SetPeerBandwidth, E.SetChunkSize))]
        assert ctl == [E.WindowAckSize(2500000), E.SetPeerBandwidth(2500000, 2), E.SetChunkSize(4096)]
        assert res.name == "_result" and res.transaction_id == 1
        props, info = res.command_object, res.args[0]
        assert props["fmsVer"] == "FMS/3,0,1,123" and props["capabilities"] == 31 and props["mode"] == 1
        assert info["level"] == "status" and info["code"] == "NetConnection.Connect.Success"
        assert info["description"] and info["objectEncoding"] == 0
        p.close()
        p3 = await Endpoint.open(server.host, server.port)
        res3 = await p3.connect("live", object_encoding=3)
        assert res3.args[0]["objectEncoding"] == 3
        p3.close()
    run(main())


def test_connect_as_amf3_command(server):
    async def main():
        p = await Endpoint.open(server.host, server.port)
        c = M.connect("live", "rtmp://127.0.0.1/live", object_encoding=3)
        p.send(M.Command(c.name, c.transaction_id, c.command_object, (), amf3=True))
        res = await p.command(("_result", "_error"))
        assert res.name == "_result" and res.amf3 and res.args[0]["objectEncoding"] == 3
        msid = await p.create_stream()
        assert msid == 1
        p.close()
    run(main())


def test_unknown_app_is_rejected_and_closed(server):
    async def main():
        p = await Endpoint.open(server.host, server.port)
        res = await p.connect("nope")
        assert res.name == "_error" and res.code == "NetConnection.Connect.Rejected"
        await p.wait_closed(5)
    run(main())


def test_create_stream_ids_and_fms_commands(server):
    async def main():
        p = await connected(server)
        assert [await p.create_stream() for _ in range(3)] == [1, 2, 3]
        p.send(M.release_stream("x", 5), M.fc_publish("x", 6))
        fc = await p.command("onFCPublish")
        assert fc.code == "NetStream.Publish.Start"
        p.send(M.get_stream_length("x", 7))
        res = await p.expect(lambda e: isinstance(e, M.Command) and e.name == "_result" and e.transaction_id == 7)
        assert res.args == (0,)
        p.send(M.fc_unpublish("x", 8))
        assert (await p.command("onFCUnpublish")).code == "NetStream.Unpublish.Success"
        p.close()
    run(main())


def test_unknown_command_gets_error_with_same_tid(server):
    async def main():
        p = await connected(server)
        p.send(M.call("noSuchThing", 0), M.call("noSuchThing", 42, None, "arg"))
        err = await p.command("_error")
        assert err.transaction_id == 42 and err.code == "NetConnection.Call.Failed"
        assert not [e for e in p.events if isinstance(e, M.Command) and e.name == "_error" and e.transaction_id == 0]
        assert await p.create_stream() == 1  # the session goes on
        p.close()
    run(main())


def test_relay_is_byte_exact_with_timestamps(server):
    name = key()

    async def main():
        pl, pmsid = await player(server, name)  # waits for a publisher (nginx-rtmp policy)
        pub, msid = await publisher(server, name)
        assert (await pl.status("NetStream.Play.PublishNotify")).msid == pmsid
        meta = {"width": 320.0, "height": 240.0, "framerate": 25.0}
        pub.send(M.set_data_frame(meta, msid=msid))
        sent = [video(AVC_SEQ, 0, msid), audio(AAC_SEQ, 0, msid)]
        ts = [0, 40, 80, 0x00FFFFFE, 0x01000010, 0x01000050]  # crosses the extended timestamp threshold
        for i, t in enumerate(ts):
            sent.append(video(avc_frame(i == 0, 9000 + i, fill=i), t, msid))  # bigger than one chunk
            sent.append(audio(aac_frame(100 + i, fill=i), t + 1, msid))
        pub.send(*sent)
        got = await wait_media(pl, len(sent))
        assert [(m.type_id, m.timestamp, m.payload) for m in got] == [(m.type_id, m.timestamp, m.payload)
                                                                       for m in sent]
        assert all(m.msid == pmsid for m in got)
        md = await pl.expect(lambda e: isinstance(e, M.DataMessage) and e.name == "onMetaData", from_start=True)
        assert md.values[0] == "onMetaData" and md.metadata == meta
        pub.close()
        pl.close()
    run(main())


def test_late_joiner_gets_metadata_headers_and_gop(server):
    name = key()

    async def main():
        pub, msid = await publisher(server, name)
        pub.send(M.set_data_frame({"duration": 0.0, "videocodecid": 7.0}, msid=msid))
        pub.send(video(AVC_SEQ, 0, msid), audio(AAC_SEQ, 0, msid))
        t = 0
        for gop in range(2):
            for i in range(5):
                pub.send(video(avc_frame(i == 0, 500, fill=gop * 10 + i), t, msid), audio(aac_frame(50), t, msid))
                t += 40
        await sync(pub)
        pl, _ = await player(server, name)
        got = await wait_media(pl, 2 + 10)
        first = [e for e in pl.events if isinstance(e, (M.DataMessage, E.Audio, E.Video))
                 and getattr(e, "name", "") != "|RtmpSampleAccess"]
        assert isinstance(first[0], M.DataMessage) and first[0].values[0] == "onMetaData"
        assert first[0].metadata == {"duration": 0.0, "videocodecid": 7.0}
        assert {got[0].payload, got[1].payload} == {AVC_SEQ, AAC_SEQ}
        assert got[2].type_id == 9 and got[2].payload == avc_frame(True, 500, fill=10)  # the last keyframe
        assert got[2].timestamp == 200
        assert got[0].timestamp == got[1].timestamp == 200  # headers re-stamped to the GOP start
        assert len([m for m in got[2:] if m.type_id == 9]) == 5
        # and it goes on live
        pub.send(video(avc_frame(False, 10, fill=99), t, msid))
        more = await wait_media(pl, 13)
        assert more[-1].payload == avc_frame(False, 10, fill=99) and more[-1].timestamp == t
        pub.close()
        pl.close()
    run(main())


def test_duplicate_publish_gets_badname_first_unaffected(server):
    name = key()

    async def main():
        pub, msid = await publisher(server, name)
        pl, _ = await player(server, name)
        pub2 = await connected(server)
        m2 = await pub2.create_stream()
        st = await pub2.publish(name, m2)
        assert st.code == "NetStream.Publish.BadName" and st.status["level"] == "error"
        pub.send(video(AVC_SEQ, 0, msid), video(avc_frame(True, 100), 0, msid))
        got = await wait_media(pl, 2)
        assert got[1].payload == avc_frame(True, 100)
        assert await pub2.create_stream() == 2  # still connected
        for p in (pub, pub2, pl):
            p.close()
    run(main())


def test_unpublish_notifies_players_and_republish(server):
    name = key()

    async def main():
        pub, msid = await publisher(server, name)
        pl, pmsid = await player(server, name)
        pub.send(video(AVC_SEQ, 0, msid), video(avc_frame(True, 10), 0, msid))
        await wait_media(pl, 2)
        pub.close()
        eof = await pl.expect(lambda e: isinstance(e, E.UserControl) and e.event_type == control.STREAM_EOF)
        assert eof.stream_id == pmsid
        await pl.status("NetStream.Play.UnpublishNotify")
        pub2, msid2 = await publisher(server, name)
        await pl.status("NetStream.Play.PublishNotify")
        pub2.send(video(AVC_SEQ, 5000, msid2), video(avc_frame(True, 20, fill=7), 5000, msid2))
        got = await wait_media(pl, 4)
        assert got[2].payload == AVC_SEQ and got[3].payload == avc_frame(True, 20, fill=7)
        assert not pl.closed.done()
        pub2.close()
        pl.close()
    run(main())


def test_pause_seek_and_receive_flags(server):
    name = key()

    async def main():
        pub, msid = await publisher(server, name)
        pub.send(video(AVC_SEQ, 0, msid), audio(AAC_SEQ, 0, msid), video(avc_frame(True, 10), 0, msid))
        pl, pm = await player(server, name)
        await wait_media(pl, 3)
        pl.send(M.seek(1000, msid=pm))
        assert (await pl.status("NetStream.Seek.Failed")).status["level"] == "error"
        pl.send(M.receive_video(False, msid=pm))
        await sync(pl)
        await asyncio.sleep(0.1)
        n = len(media_of(pl))
        pub.send(video(avc_frame(False, 10), 40, msid), audio(aac_frame(10, fill=3), 40, msid))
        got = await wait_media(pl, n + 1)
        await asyncio.sleep(0.2)
        assert [m.type_id for m in media_of(pl)[n:]] == [8]
        pl.send(M.pause(True, 0, msid=pm))
        await pl.status("NetStream.Pause.Notify")
        pub.send(audio(aac_frame(10, fill=4), 80, msid))
        await asyncio.sleep(0.3)
        assert len(media_of(pl)) == n + 1
        pl.send(M.receive_video(True, msid=pm), M.pause(False, 0, msid=pm))
        await pl.status("NetStream.Seek.Notify")  # receiveVideo true (RTMP 7.2.2.5)
        await pl.status("NetStream.Unpause.Notify")
        # RTMP 7.2.2.8: after the unpause only newer messages: the stream goes on from its next keyframe
        pub.send(video(avc_frame(False, 10, fill=5), 120, msid), video(avc_frame(True, 10, fill=6), 160, msid))
        got = await wait_media(pl, n + 2)
        assert got[n + 1].payload == avc_frame(True, 10, fill=6)
        assert all(m.timestamp > 0 for m in got[n + 1:])
        pub.close()
        pl.close()
    run(main())


def test_play2_delete_stream_and_close_stream(server):
    name, other = key(), key()

    async def main():
        pub, msid = await publisher(server, other)
        pub.send(video(AVC_SEQ, 0, msid), video(avc_frame(True, 10, fill=5), 0, msid))
        pl, pm = await player(server, name)
        pl.send(M.play2({"streamName": other, "oldStreamName": name, "transition": "switch"}, msid=pm))
        await pl.status("NetStream.Play.Start")
        got = await wait_media(pl, 2)
        assert got[1].payload == avc_frame(True, 10, fill=5)
        pl.send(M.close_stream(pm))
        await pl.status("NetStream.Play.Stop")
        pub.send(M.delete_stream(msid))
        await sync(pub)
        pub2, m2 = await publisher(server, other)  # the key is free again
        for p in (pub, pub2, pl):
            p.close()
    run(main())


def test_many_streams_are_independent(server):
    a, b = key(), key()

    async def main():
        pa, ma = await publisher(server, a)
        pb, mb = await publisher(server, b)
        la, _ = await player(server, a)
        lb, _ = await player(server, b)
        pa.send(video(avc_frame(True, 10, fill=1), 0, ma))
        pb.send(video(avc_frame(True, 10, fill=2), 0, mb))
        assert (await wait_media(la, 1))[0].payload == avc_frame(True, 10, fill=1)
        assert (await wait_media(lb, 1))[0].payload == avc_frame(True, 10, fill=2)
        await asyncio.sleep(0.1)
        assert len(media_of(la)) == len(media_of(lb)) == 1
        for p in (pa, pb, la, lb):
            p.close()
    run(main())


def test_stream_limit_per_connection(server):
    async def main():
        p = await connected(server)
        for _ in range(256):
            p.send(M.create_stream(p.next_tid()))
        tid = p.next_tid()
        p.send(M.create_stream(tid))
        err = await p.expect(lambda e: isinstance(e, M.Command) and e.transaction_id == tid)
        assert err.name == "_error"
        p.close()
    run(main())


def test_embedded_server_thread():
    from reference_server.config import Config
    from reference_server.server import ServerThread

    with ServerThread(Config(port=0)) as srv:
        host, port = srv.address
        assert srv.url == f"rtmp://127.0.0.1:{port}"

        async def main():
            pub = await Endpoint.open(host, port)
            res = await pub.connect("live")
            assert res.name == "_result"
            pub.close()
        run(main())
