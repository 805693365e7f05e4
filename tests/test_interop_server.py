"""Interop against OUR reference server (``python -m reference_server --listen 127.0.0.1:0``): ffmpeg, rtmpdump
and our client as publishers and players, ffprobe judging the files, a load test, recordings (that survive kill -9),
RTMPS, and a SIGTERM shutdown that tells players (StreamEOF + UnpublishNotify). They skip only when a real peer is
not installed.
"""

from __future__ import annotations

import asyncio
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from endpoint import AAC_SEQ, AVC_SEQ, RefServer, aac_frame, audio, avc_frame, video
from interop_helpers import (
    assert_close,
    cli,
    ffmpeg_play_cmd,
    ffmpeg_publish_cmd,
    finish,
    need,
    probe_counts,
    probe_duration,
    start,
    stop,
)
from test_server import player, publisher, wait_media

from reference_server.client import ConnectionFailed, RTMPClient, open_player, open_publisher
from rtmpspec import amf0, control, media
from rtmpspec import events as E
from rtmpspec.flv import AUDIO, SCRIPT, VIDEO, FLVReader, read_flv
from rtmpspec.messages import DataMessage

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def run(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def first_video(url: str, timeout: float = 10):
    """A player that returns once the stream's first video message arrived (the publisher is live)."""
    c = await open_player(url, timeout=timeout, retry_for=timeout)
    while True:
        ev = await c.read(timeout=timeout)
        assert ev is not None, f"stream ended before any video ({c.end_reason})"
        if isinstance(ev, E.Video):
            return c


def test_ffmpeg_publishes_ffmpeg_rtmpdump_and_our_client_play(sample_flv, tmp_path):
    need("ffmpeg", "ffprobe", "rtmpdump")
    sent = probe_counts(sample_flv)
    with RefServer(log_path=tmp_path / "server.log") as srv:
        url = f"{srv.url}/live/ff1"
        pub = start(ffmpeg_publish_cmd(sample_flv, url), tmp_path / "ffmpeg-publish.log")
        procs = [pub]
        try:
            async def ours():
                c = await first_video(url)  # also the readiness probe: the publisher is live
                ffplay = start(ffmpeg_play_cmd(url, tmp_path / "ffmpeg.flv"), tmp_path / "ffmpeg-play.log")
                dump = start(["timeout", "-s", "INT", "-k", "3", "20", "rtmpdump", "-r", url, "-v", "-m", "6",
                              "-o", str(tmp_path / "rtmpdump.flv")], tmp_path / "rtmpdump.log")
                procs.extend([ffplay, dump])
                n = 1
                while await c.read(timeout=10) is not None:
                    n += 1
                await c.close()
                return n, c.end_reason

            n, reason = run(ours(), 40)
            assert finish(pub, 20) == 0, (tmp_path / "ffmpeg-publish.log").read_text()
            assert finish(procs[1], 20) == 0, (tmp_path / "ffmpeg-play.log").read_text()
            finish(procs[2], 20)  # rtmpdump exits 2 on a live stream even on success: judge the file
        finally:
            for p in procs:
                stop(p)
    assert reason in ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop", "StreamEOF"), reason
    assert n >= sent["h264"] // 2
    for name in ("ffmpeg.flv", "rtmpdump.flv"):
        got = probe_counts(tmp_path / name)
        # late joiners (a GOP cache gives them the last key frame on): most of the stream, nothing twice
        assert set(got) >= {"h264", "aac"}, (name, got)
        assert sent["h264"] * 0.6 <= got["h264"] <= sent["h264"] + 2, (name, got, sent)
        assert sent["aac"] * 0.6 <= got["aac"] <= sent["aac"] + 2, (name, got, sent)


def test_our_client_publishes_and_plays(sample_flv, tmp_path):
    _, tags = read_flv(sample_flv)
    with RefServer(log_path=tmp_path / "server.log") as srv:
        url = f"{srv.url}/live/ours1"

        async def go():
            player = await open_player(url, timeout=5)  # before the publisher: Play.Start, then it waits
            pub = await open_publisher(url, timeout=5)
            t0 = time.monotonic()
            for tag in tags:
                delay = t0 + tag.timestamp / 4000 - time.monotonic()  # 4x real time
                if delay > 0:
                    await asyncio.sleep(delay)
                if tag.tag_type == SCRIPT:
                    await pub.send_data(["@setDataFrame", *amf0.decode_all(tag.data)], timestamp=tag.timestamp)
                elif tag.tag_type == AUDIO:
                    await pub.send_audio(tag.timestamp, tag.data)
                elif tag.tag_type == VIDEO:
                    await pub.send_video(tag.timestamp, tag.data)
            await pub.close()
            got = []
            while (ev := await player.read(timeout=10)) is not None:
                got.append(ev)
            await player.close()
            return got, player

        got, player = run(go(), 40)
    assert player.error is None
    assert player.end_reason in ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop", "StreamEOF")
    meta = [e for e in got if isinstance(e, DataMessage) and e.metadata is not None]
    assert len(meta) == 1 and meta[0].metadata == amf0.decode_all(tags[0].data)[1]
    av_sent = [(t.tag_type, t.timestamp, t.data) for t in tags if t.tag_type in (AUDIO, VIDEO)]
    av_got = [(VIDEO if isinstance(e, E.Video) else AUDIO, e.timestamp, e.payload) for e in got
              if isinstance(e, (E.Audio, E.Video))]
    assert av_got == av_sent


# -- load test -------------------------------------------------------------------------------------------------

LOAD_AVC_SEQ = bytes.fromhex("1700000000" "01640028ffe1000467640028" "01000468ee3c80")
LOAD_AAC_SEQ = bytes.fromhex("af001210")


def video_frame(key: bool, n: int, size: int = 1500) -> bytes:
    nal = bytes([0x65 if key else 0x41]) + n.to_bytes(4, "big") + bytes(size)
    return bytes([0x17 if key else 0x27, 1, 0, 0, 0]) + len(nal).to_bytes(4, "big") + nal


def audio_frame(n: int) -> bytes:
    return bytes([0xAF, 1]) + n.to_bytes(4, "big") + bytes(150)


def test_load_10_publishers_50_players(tmp_path):
    publishers, players_per, seconds, fps, gop = 10, 5, 3.0, 25, 10
    frames = int(seconds * fps)

    async def publisher(url: str, keyframes: list) -> None:
        c = await open_publisher(url, timeout=10)
        await c.send_metadata({"width": 320.0, "height": 240.0, "videocodecid": 7.0, "audiocodecid": 10.0})
        await c.send_video(0, LOAD_AVC_SEQ)
        await c.send_audio(0, LOAD_AAC_SEQ)
        t0 = time.monotonic()
        for i in range(frames):
            ts = i * 1000 // fps
            delay = t0 + ts / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            key = i % gop == 0
            if key:
                keyframes.append((time.monotonic(), ts))  # before sending: sent after anyone joined earlier
            await c.send_video(ts, video_frame(key, i))
            await c.send_audio(ts, audio_frame(i))
        await c.close()

    async def player(url: str, delay: float, out: dict) -> None:
        await asyncio.sleep(delay)
        c = await open_player(url, timeout=10)
        out["joined"] = time.monotonic()
        keys, last = [], -1
        while (ev := await c.read(timeout=10)) is not None:
            if isinstance(ev, E.Video) and media.is_keyframe(ev.payload):
                keys.append(ev.timestamp)
            if isinstance(ev, E.Video):
                assert ev.timestamp >= last, "video timestamps went backwards"
                last = ev.timestamp
        out["keys"] = keys
        out["reason"] = c.end_reason
        out["error"] = c.error
        await c.close()

    async def go(base: str):
        rng = random.Random(7)
        keyframes = {i: [] for i in range(publishers)}
        results: list[tuple[int, dict]] = []
        tasks = []
        for i in range(publishers):
            url = f"{base}/live/load{i}"
            for j in range(players_per):
                # two players wait on the key before its publisher starts, three join while it runs
                out: dict = {}
                results.append((i, out))
                tasks.append(player(url, 0.0 if j < 2 else 0.5 + rng.random() * 1.5, out))
        player_tasks = [asyncio.ensure_future(t) for t in tasks]
        await asyncio.sleep(0.3)
        await asyncio.gather(*(publisher(f"{base}/live/load{i}", keyframes[i]) for i in range(publishers)))
        await asyncio.gather(*player_tasks)
        return keyframes, results

    with RefServer(log_path=tmp_path / "server.log") as srv:
        keyframes, results = run(go(srv.url), 60)
    assert len(results) == publishers * players_per
    for i, out in results:
        assert out["error"] is None and out["reason"] is not None, out
        due = [ts for sent_at, ts in keyframes[i] if sent_at > out["joined"]]
        missing = sorted(set(due) - set(out["keys"]))
        assert not missing, f"player of load{i} joined at {out['joined']:.3f} missed key frames {missing}"
        assert len(due) >= 1


# -- recordings --------------------------------------------------------------------------------------------------

def _recordings(d) -> list:
    return sorted(d.rglob("*.flv"))


def test_recording_has_the_full_duration(sample_flv, tmp_path):
    need("ffmpeg", "ffprobe")
    rec = tmp_path / "rec"
    with RefServer("--record-dir", str(rec), log_path=tmp_path / "server.log") as srv:
        pub = start(ffmpeg_publish_cmd(sample_flv, f"{srv.url}/live/rec1"), tmp_path / "ffmpeg.log")
        try:
            assert finish(pub, 30) == 0, (tmp_path / "ffmpeg.log").read_text()
        finally:
            stop(pub)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the recorder closes (flush + fsync) after the unpublish
            files = _recordings(rec)
            if files and probe_duration(files[0]) >= 4.5:
                break
            time.sleep(0.2)
    files = _recordings(rec)
    assert len(files) == 1, files
    assert probe_duration(files[0]) >= 4.5
    assert_close(probe_counts(files[0]), probe_counts(sample_flv), lose=0.0)
    header, tags = read_flv(files[0])  # and rtmpspec's strict reader agrees
    assert header.has_video and header.has_audio and len(tags) >= len(read_flv(sample_flv)[1]) - 2


def test_publish_append_continues_the_recording(sample_flv, tmp_path):
    """RTMP 7.2.2.6: a publish of type "append" continues the key's recording; "live" starts a new file."""
    need("ffprobe")
    rec = tmp_path / "rec"
    n_tags = len(read_flv(sample_flv)[1])

    def publish(srv, kind):
        cmd = [sys.executable, "-m", "reference_server.client_cli", "publish", f"{srv.url}/live/app1", str(sample_flv),
               "--type", kind, "-q"]
        assert subprocess.run(cmd, timeout=60, capture_output=True).returncode == 0

    def settled(n_files):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            files = _recordings(rec)
            if len(files) == n_files and all(read_flv(f, lenient=True)[1] for f in files):
                return files
            time.sleep(0.2)
        return _recordings(rec)

    with RefServer("--record-dir", str(rec), log_path=tmp_path / "server.log") as srv:
        publish(srv, "live")
        [first] = settled(1)
        one = probe_duration(first)
        publish(srv, "append")
        time.sleep(1.0)  # the recorder closes (flush + fsync) after the unpublish
        files = settled(1)
        assert files == [first], files
        _, tags = read_flv(first)  # strict: one header, consistent PreviousTagSizes all along
        media_tags = [t for t in tags if t.tag_type in (AUDIO, VIDEO)]
        assert len(tags) >= 2 * n_tags - 4
        stamps = [t.timestamp for t in media_tags if t.tag_type == VIDEO]
        assert stamps[-1] > stamps[len(stamps) // 2] >= stamps[0]  # the second session comes after the first
        assert probe_duration(first) >= 1.8 * one
        publish(srv, "live")
        assert len(settled(2)) == 2


# -- RTMPS -------------------------------------------------------------------------------------------------------

def test_rtmps_publish_and_play(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True,
                   timeout=30)
    with RefServer("--tls-cert", str(cert), "--tls-key", str(key), log_path=tmp_path / "server.log") as srv:
        assert srv.url.startswith("rtmps://"), srv.url
        url = f"{srv.url}/live/tls1"

        async def go():
            with pytest.raises(ConnectionFailed):  # a self-signed certificate does not verify
                await RTMPClient(timeout=5).connect(url)
            player = await open_player(url, timeout=5, tls_insecure=True)
            pub = await open_publisher(url, timeout=5, tls_insecure=True)
            await pub.send_metadata({"width": 16.0})
            await pub.send_video(0, AVC_SEQ)
            for i in range(10):
                await pub.send_video(40 * i, video_frame(i == 0, i))
            await pub.close()
            got = [ev async for ev in player]
            await player.close()
            return got

        got = run(go(), 30)
        assert [e.timestamp for e in got if isinstance(e, E.Video)] == [0] + [40 * i for i in range(10)]

        out = tmp_path / "tls.flv"
        play = start(cli("play", url, "-o", str(out), "--tls-insecure", "--timeout", "5"), tmp_path / "play.log")
        try:
            async def publish_once():
                await asyncio.sleep(0.5)
                pub = await open_publisher(url, timeout=5, tls_insecure=True)
                await pub.send_video(0, AVC_SEQ)
                for i in range(5):
                    await pub.send_video(40 * i, video_frame(i == 0, i))
                await pub.close()

            run(publish_once(), 20)
            assert finish(play, 20) == 0, (tmp_path / "play.log").read_text()
        finally:
            stop(play)
    _, tags = read_flv(out)
    assert sum(t.tag_type == VIDEO for t in tags) == 6


# -- ffmpeg-made media, recordings, shutdown ---------------------------------------------------------------------

def ffprobe(path: str) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                          "stream=codec_name,nb_read_packets:format=duration", "-of", "json", path],
                         capture_output=True, text=True, timeout=30)
    import json

    data = json.loads(out.stdout or "{}")
    streams = {s["codec_name"]: int(s.get("nb_read_packets", 0)) for s in data.get("streams", [])}
    dur = float(data.get("format", {}).get("duration", 0) or 0)
    return {"streams": streams, "duration": dur}


def wait_event(srv: RefServer, name: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = srv.events(name)
        if ev:
            return ev[0]
        time.sleep(0.05)
    raise TimeoutError(f"no {name} in the server log")


def ffmpeg_publish(url: str, seconds: float, log) -> subprocess.Popen:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re",
           "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
           "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-f", "flv", url]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)


def test_ffmpeg_publish_ffmpeg_and_rtmpdump_play_and_recording(tmp_path):
    need("ffmpeg", "ffprobe")
    rec = tmp_path / "rec"
    with RefServer("--record-dir", str(rec), log_path=str(tmp_path / "server.log")) as srv:
        url = f"rtmp://127.0.0.1:{srv.port}/live/test"
        log = open(tmp_path / "tools.log", "ab")
        pub = ffmpeg_publish(url, 4, log)
        procs = [pub]
        try:
            wait_event(srv, "publish_start")
            procs.append(subprocess.Popen(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
                                           "-rw_timeout", "5000000", "-i", url, "-c", "copy", "-f", "flv",
                                           str(tmp_path / "ffmpeg.flv")],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log))
            if shutil.which("rtmpdump"):
                procs.append(subprocess.Popen(["rtmpdump", "-r", url, "-v", "-m", "6", "-o",
                                               str(tmp_path / "rtmpdump.flv")],
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log))
            assert pub.wait(30) == 0
            for p in procs[1:]:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGINT)
                    p.wait(5)
        finally:
            for p in procs:
                stop(p, signal.SIGTERM)
            log.close()
        wait_event(srv, "record_stop")
    [recording] = glob.glob(str(rec / "live" / "test-*.flv"))
    r = ffprobe(recording)
    assert r["streams"].get("h264") == 100 and r["streams"].get("aac", 0) >= 170, r
    assert 3.8 <= r["duration"] <= 4.3, r
    files = [tmp_path / "ffmpeg.flv"] + ([tmp_path / "rtmpdump.flv"] if shutil.which("rtmpdump") else [])
    for f in files:
        r = ffprobe(str(f))
        assert r["streams"].get("h264", 0) >= 85 and r["streams"].get("aac", 0) >= 140, (f, r)


def test_recording_survives_kill_9(tmp_path):
    need("ffmpeg", "ffprobe")
    rec = tmp_path / "rec"
    srv = RefServer("--record-dir", str(rec), log_path=str(tmp_path / "server.log"))
    log = open(tmp_path / "tools.log", "ab")
    pub = ffmpeg_publish(f"rtmp://127.0.0.1:{srv.port}/live/killed", 20, log)
    try:
        wait_event(srv, "record_start")
        time.sleep(3)
        os.kill(srv.pid, signal.SIGKILL)
        srv.wait(5)
    finally:
        stop(pub, signal.SIGTERM)
        srv.kill()
        log.close()
    [recording] = glob.glob(str(rec / "live" / "killed-*.flv"))
    r = ffprobe(recording)
    assert r["streams"].get("h264", 0) >= 40 and r["duration"] >= 1.5, r
    reader = FLVReader()
    reader.receive_data(open(recording, "rb").read())
    reader.receive_data(b"")
    tags = list(reader.events())[1:]  # every tag complete: the file ends on a tag boundary
    assert len(tags) > 50


def test_sigterm_shutdown_tells_players_and_exits_0(tmp_path):
    rec = tmp_path / "rec"
    srv = RefServer("--record-dir", str(rec), log_path=str(tmp_path / "server.log"))
    try:
        async def main():
            pub, msid = await publisher(srv, "bye")
            pl, pmsid = await player(srv, "bye")
            pub.send(video(AVC_SEQ, 0, msid), audio(AAC_SEQ, 0, msid), video(avc_frame(True, 3000), 0, msid),
                     audio(aac_frame(), 10, msid))
            await wait_media(pl, 4)
            t0 = time.monotonic()
            srv.send_signal(signal.SIGTERM)
            eof = await pl.expect(lambda e: isinstance(e, E.UserControl) and e.event_type == control.STREAM_EOF)
            assert eof.stream_id == pmsid
            await pl.status("NetStream.Play.UnpublishNotify")
            await pl.wait_closed(5)
            await pub.wait_closed(5)
            return t0

        t0 = run(main())
        assert srv.wait(5) == 0
        assert time.monotonic() - t0 < 5
    finally:
        srv.kill()
    assert srv.events("server_stopped")
    [recording] = glob.glob(str(rec / "live" / "bye-*.flv"))
    reader = FLVReader()
    reader.receive_data(open(recording, "rb").read())
    reader.receive_data(b"")
    evs = list(reader.events())
    assert [t.tag_type for t in evs[1:]] == [9, 8, 9, 8]
