"""Interop: our client (CLI and library) against nginx-rtmp, with ffmpeg on the other side of the relay."""

from __future__ import annotations

import asyncio

import pytest
from interop_helpers import (
    assert_close,
    cli,
    ffmpeg_play_cmd,
    ffmpeg_publish_cmd,
    finish,
    need,
    probe_counts,
    start,
    stop,
    wait_for_text,
)

from reference_server.client import ConnectionLost, RTMPClient, StatusError, open_player, open_publisher
from rtmpspec import events as E

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.fixture
def nginx(nginx_rtmp, tmp_path):
    need("ffmpeg", "ffprobe")
    return nginx_rtmp, tmp_path / "nginx" / "error.log"


def test_our_publish_ffmpeg_plays(nginx, sample_flv, tmp_path):
    port, errlog = nginx
    url = f"rtmp://127.0.0.1:{port}/live/pub1"
    out = tmp_path / "ffplay.flv"
    player = start(ffmpeg_play_cmd(url, out), tmp_path / "ffmpeg-play.log")
    try:
        # nginx-rtmp has no GOP cache: publish only once ffmpeg's play has reached it (info log line)
        wait_for_text(errlog, "play: name='pub1'", 10, player)
        pub = start(cli("publish", url, str(sample_flv), "--realtime", "--timeout", "5"),
                    tmp_path / "publish.log")
        assert finish(pub, 30) == 0, (tmp_path / "publish.log").read_text()
        assert finish(player, 20) == 0, (tmp_path / "ffmpeg-play.log").read_text()
    finally:
        stop(player)
    assert_close(probe_counts(out), probe_counts(sample_flv))


def test_our_play_from_ffmpeg_publish(nginx, sample_flv, tmp_path):
    port, errlog = nginx
    url = f"rtmp://127.0.0.1:{port}/live/play1"
    out = tmp_path / "ours.flv"
    player = start(cli("play", url, "-o", str(out), "--timeout", "10"), tmp_path / "play.log")
    try:
        wait_for_text(errlog, "play: name='play1'", 10, player)
        pub = start(ffmpeg_publish_cmd(sample_flv, url), tmp_path / "ffmpeg-publish.log")
        assert finish(pub, 30) == 0, (tmp_path / "ffmpeg-publish.log").read_text()
        # nginx tells players only User Control Stream EOF when the publisher leaves: our player stops on it
        assert finish(player, 15) == 0, (tmp_path / "play.log").read_text()
    finally:
        stop(player)
    assert "StreamEOF" in (tmp_path / "play.log").read_text()
    assert_close(probe_counts(out), probe_counts(sample_flv))


def test_second_publisher_gets_badname(nginx):
    port, _ = nginx
    url = f"rtmp://127.0.0.1:{port}/live/dup"

    async def go():
        first = RTMPClient(timeout=5)
        second = RTMPClient(timeout=5)
        try:
            await first.connect(url)
            await first.publish()
            await second.connect(url)
            with pytest.raises(StatusError) as ei:
                await second.publish()
            assert ei.value.code == "NetStream.Publish.BadName"
            await first.send_metadata({"width": 1.0})  # the first one is unaffected
            assert first.error is None
        finally:
            await second.close()
            await first.close()

    asyncio.run(asyncio.wait_for(go(), 30))


def test_unknown_app_is_a_connection_failure(nginx):
    port, _ = nginx

    async def go():
        c = RTMPClient(timeout=5)
        with pytest.raises(Exception) as ei:
            await c.connect(f"rtmp://127.0.0.1:{port}/nosuchapp/k")
        await c.close()
        return ei.value

    assert isinstance(asyncio.run(asyncio.wait_for(go(), 30)), ConnectionLost)


def test_strict_reader_accepts_nginx_relay(nginx):
    """nginx-rtmp 1.2.2 passes the strict chunk reader: extended timestamps over continuation chunks, players that
    join mid-stream (the leniency of strict=False is for other servers)."""
    port, _ = nginx
    url = f"rtmp://127.0.0.1:{port}/live/strict"
    avc_seq = bytes.fromhex("1700000000" "01640028ffe1000467640028" "01000468ee3c80")
    base = 0xFFFFFF - 200  # crosses into extended timestamps

    def frame(i: int) -> bytes:  # 10 kB: three chunks at nginx's chunk size 4096
        return bytes([0x17 if i % 10 == 0 else 0x27, 1, 0, 0, 0]) + bytes([i & 0xFF]) * 10000

    async def go():
        early = await open_player(url, timeout=5, strict=True)
        pub = await open_publisher(url, timeout=5)
        await pub.send_video(base, avc_seq)
        late = None
        for i in range(30):
            await pub.send_video(base + 40 * i, frame(i))
            await asyncio.sleep(0.01)
            if i == 12:
                late = await open_player(url, timeout=5, strict=True)
        await pub.close()
        out = []
        for p in (early, late):
            got = [(ev.timestamp, ev.payload) async for ev in p if isinstance(ev, E.Video)]
            assert p.error is None and p.end_reason == "StreamEOF"
            await p.close()
            out.append(got)
        return out

    early, late = asyncio.run(asyncio.wait_for(go(), 30))
    assert early == [(base, avc_seq)] + [(base + 40 * i, frame(i)) for i in range(30)]
    assert late and late[-1] == (base + 40 * 29, frame(29))
