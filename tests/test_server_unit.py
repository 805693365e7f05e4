"""Reference server pieces in-process: configuration, name rules, the recorder (disk errors), log lines."""

from __future__ import annotations

import asyncio
import io
import json
import os

import pytest
from endpoint import AVC_SEQ, RefServer, avc_frame, video
from test_server import player, publisher, run, wait_media

from reference_server import config, logs
from reference_server.recorder import Recorder, record_path, sanitize
from rtmpspec.flv import FLVReader


@pytest.mark.parametrize("text,expected", [
    ("127.0.0.1:1935", ("127.0.0.1", 1935)),
    ("rtmp://0.0.0.0:2000", ("0.0.0.0", 2000)),
    ("rtmp://localhost", ("localhost", 1935)),
    ("rtmps://h:443/app", ("h", 443)),
    ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("5000", ("127.0.0.1", 5000)),
    ("[::1]:99", ("::1", 99)),
])
def test_parse_listen(text, expected):
    assert config.parse_listen(text) == expected


def test_config_file_and_flags(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('listen = "rtmp://127.0.0.1:7000"\nchunk-size = 128\napps = ["a", "b"]\n'
                 '[server]\nidle_timeout = 5\n')
    cfg = config.load(["--config", str(f), "--chunk-size", "8192"])
    assert (cfg.host, cfg.port, cfg.chunk_size, cfg.apps, cfg.idle_timeout) == ("127.0.0.1", 7000, 8192,
                                                                                ["a", "b"], 5)
    cfg = config.load(["--apps", "live,other", "--max-message-size", "1000"])
    assert cfg.apps == ["live", "other"] and cfg.max_message_size == 1000
    assert config.Config().window_ack_size == 2500000 and config.Config().max_message_size == 8 * 1024 * 1024


@pytest.mark.parametrize("name,ok", [("test", True), ("a-b_c.1", True), ("../x", False), ("a/b", False),
                                     ("a\x00", False), ("", False), (".x", False), ("x" * 128, True),
                                     ("x" * 129, False), ("é", False)])
def test_valid_name(name, ok):
    assert config.valid_name(name) is ok


def test_record_path_is_sanitized():
    p = record_path("/r", "live", "../../etc/x y")
    base = p[len("/r/live/"):]
    assert p.startswith("/r/live/") and ".." not in base and "/" not in base and " " not in base
    assert sanitize("../a/b\x00") == "__a_b_" and sanitize("...") == "_"


def test_recorder_writes_valid_flv(tmp_path):
    r = Recorder(str(tmp_path / "a" / "s.flv"), flush_bytes=100)
    r.metadata({"width": 320.0})
    for i in range(50):
        r.media(9, 1000 + i * 40, avc_frame(i % 10 == 0, 300))
    r.flush()
    r.close(3)
    rd = FLVReader()
    rd.receive_data((tmp_path / "a" / "s.flv").read_bytes())
    rd.receive_data(b"")
    evs = list(rd.events())
    assert len(evs) == 1 + 1 + 50 and evs[2].timestamp == 0 and evs[-1].timestamp == 49 * 40
    r2 = Recorder(str(tmp_path / "a" / "s.flv"))  # taken: a -1 suffix
    assert r2.path.endswith("s-1.flv")
    r2.close(3)


def test_recorder_disk_error_is_logged_and_stops(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    buf = io.StringIO()
    logs.setup("info", "json", buf)
    try:
        async def main():
            loop = asyncio.get_running_loop()
            r = Recorder("/dev/full", exclusive=False, notify=loop.call_soon_threadsafe, flush_bytes=10)
            r.media(9, 0, avc_frame(True, 1000))
            for _ in range(100):
                await asyncio.sleep(0.01)
                if r.failed:
                    break
            assert r.failed and "errno 28" in r.failed
            r.media(9, 40, avc_frame(False, 1000))  # ignored from now on
            r.close(3)
        run(main())
    finally:
        logs.setup()
    recs = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert [x["event"] for x in recs if x["event"] == "record_error"] == ["record_error"]


def test_unusable_record_dir_does_not_stop_the_live_stream(tmp_path):
    bad = tmp_path / "file"
    bad.write_text("not a directory")
    with RefServer("--record-dir", str(bad), log_path=str(tmp_path / "server.log")) as srv:
        async def main():
            pub, msid = await publisher(srv, "s")
            pl, _ = await player(srv, "s")
            pub.send(video(AVC_SEQ, 0, msid), video(avc_frame(True, 10), 0, msid))
            got = await wait_media(pl, 2)
            assert got[1].payload == avc_frame(True, 10)
            pub.close()
            pl.close()
        run(main())
        assert srv.events("record_error")


def test_log_formats():
    buf = io.StringIO()
    log = logs.EventLog("info", "json", buf)
    log.event("warning", "protocol_error", conn=3, peer="1.2.3.4:5", what="x", offset=7, field="fmt")
    log.event("debug", "hidden")
    rec = json.loads(buf.getvalue())
    assert {k: rec[k] for k in ("level", "conn", "peer", "event", "offset", "field")} == {
        "level": "warning", "conn": 3, "peer": "1.2.3.4:5", "event": "protocol_error", "offset": 7, "field": "fmt"}
    assert "ts" in rec and len(buf.getvalue().splitlines()) == 1
    buf = io.StringIO()
    logs.EventLog("info", "text", buf).event("info", "connect", conn=1, peer="p", app="live", what="a b")
    assert buf.getvalue().split(" ", 1)[1] == 'INFO [1 p] connect app=live what="a b"\n'


def test_rtmps(tmp_path):
    import shutil
    import ssl
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("no openssl")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    with RefServer("--tls-cert", str(cert), "--tls-key", str(key), log_path=str(tmp_path / "s.log")) as srv:
        assert srv.url.startswith("rtmps://127.0.0.1:")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

        async def main():
            from endpoint import Endpoint

            pub = await Endpoint.open(srv.host, srv.port, ssl=ctx)
            await pub.connect("live")
            msid = await pub.create_stream()
            assert (await pub.publish("tls", msid)).code == "NetStream.Publish.Start"
            pl = await Endpoint.open(srv.host, srv.port, ssl=ctx)
            await pl.connect("live")
            await pl.play("tls", await pl.create_stream())
            pub.send(video(AVC_SEQ, 0, msid), video(avc_frame(True, 20000), 0, msid))
            got = await wait_media(pl, 2)
            assert got[1].payload == avc_frame(True, 20000)
            pub.close()
            pl.close()
        run(main())
