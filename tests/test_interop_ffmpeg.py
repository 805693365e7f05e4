"""Interop: our client against ffmpeg's one-shot RTMP server (``-listen 1``), both directions.

ffmpeg -listen accepts exactly one connection, so there is no readiness probe: the client retries its TCP
connect (``--retry-for``) until ffmpeg listens. ffmpeg's server answers with a plain (non-digest) S1, which our
default digest handshake accepts like ffmpeg's own client does.
"""

from __future__ import annotations

import asyncio

import pytest
from interop_helpers import (
    assert_close,
    cli,
    finish,
    need,
    probe_counts,
    start,
    stop,
)

from harness.process import free_port
from reference_server.client import open_player
from rtmpspec import events as E

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _need_ffmpeg():
    need("ffmpeg", "ffprobe")


def test_ffmpeg_listen_receives_our_publish(sample_flv, tmp_path):
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/key"
    out = tmp_path / "received.flv"
    ff = start(["timeout", "-s", "INT", "-k", "3", "30", "ffmpeg", "-nostdin", "-hide_banner", "-loglevel",
                "warning", "-listen", "1", "-i", url, "-c", "copy", "-y", str(out)], tmp_path / "ffmpeg.log")
    try:
        pub = start(cli("publish", url, str(sample_flv), "--retry-for", "10", "--timeout", "5"),
                    tmp_path / "publish.log")
        assert finish(pub, 30) == 0, (tmp_path / "publish.log").read_text()
        finish(ff, 20)  # it reports an I/O error when the connection ends; judge the file
    finally:
        stop(ff)
    assert_close(probe_counts(out), probe_counts(sample_flv), lose=0.0, extra=0)


def test_ffmpeg_listen_serves_our_play(sample_flv, tmp_path):
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/key"
    out = tmp_path / "played.flv"
    ff = start(["timeout", "-s", "INT", "-k", "3", "30", "ffmpeg", "-nostdin", "-hide_banner", "-loglevel",
                "warning", "-re", "-i", str(sample_flv), "-c", "copy", "-f", "flv", "-listen", "1", url],
               tmp_path / "ffmpeg.log")
    try:
        play = start(cli("play", url, "-o", str(out), "--retry-for", "10", "--timeout", "5"),
                     tmp_path / "play.log")
        assert finish(play, 30) == 0, (tmp_path / "play.log").read_text()
        assert finish(ff, 10) == 0, (tmp_path / "ffmpeg.log").read_text()
    finally:
        stop(ff)
    assert "stream ended (closed)" in (tmp_path / "play.log").read_text()  # ffmpeg closes at the end
    assert_close(probe_counts(out), probe_counts(sample_flv), lose=0.0, extra=0)


def test_library_player_against_ffmpeg_listen(sample_flv, tmp_path):
    """The library sees ffmpeg's media on message stream 0 (not the createStream id) and takes it."""
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/key"
    ff = start(["timeout", "-s", "INT", "-k", "3", "30", "ffmpeg", "-nostdin", "-hide_banner", "-loglevel",
                "warning", "-i", str(sample_flv), "-t", "1", "-c", "copy", "-f", "flv", "-listen", "1", url],
               tmp_path / "ffmpeg.log")

    async def go():
        c = await open_player(url, timeout=5, retry_for=10)
        kinds = {"video": 0, "audio": 0, "meta": 0}
        msids = set()
        async for ev in c:
            if isinstance(ev, E.Video):
                kinds["video"] += 1
            elif isinstance(ev, E.Audio):
                kinds["audio"] += 1
            elif ev.metadata is not None:
                kinds["meta"] += 1
            msids.add(ev.msid)
        await c.close()
        return kinds, msids, c

    try:
        kinds, msids, c = asyncio.run(asyncio.wait_for(go(), 30))
        finish(ff, 10)
    finally:
        stop(ff)
    assert kinds["meta"] == 1 and kinds["video"] >= 20 and kinds["audio"] >= 30, kinds
    assert c.end_reason == "closed" and c.error is None
    assert c.handshake_info is not None and c.handshake_info.digest is False  # ffmpeg's plain S1
