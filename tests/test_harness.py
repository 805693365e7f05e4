"""The server harness (harness.process, harness.health) on a real process: the toy server of the fuzzer's tests."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness.health import probe
from harness.process import ServerProcess, ServerStartError, parse_listening

TOY = [sys.executable, str(Path(__file__).with_name("toyserver.py"))]


@pytest.mark.parametrize("line,want", [
    ("listening rtmp://127.0.0.1:1935", ("rtmp", "127.0.0.1", 1935)),
    ("2024 info listening  rtmps://example.org:443/ more", ("rtmps", "example.org", 443)),
    ("listening rtmp://[::1]:19350", ("rtmp", "::1", 19350)),
    ("nothing here", None),
])
def test_one_listening_line_parser(line, want):
    got = parse_listening(line)
    assert (None if got is None else (got.scheme, got.host, got.port)) == want
    if got is not None:  # the URL it gives back, printed as the server prints it, parses the same
        assert parse_listening(f"listening {got.url}") == got


def test_start_follow_restart_and_stop(tmp_path):
    lines: list[str] = []
    srv = ServerProcess(TOY, name="toy", log=tmp_path / "toy.log", on_line=lines.append)
    srv.start()
    try:
        assert srv.alive() and srv.port > 0 and srv.url == f"rtmp://127.0.0.1:{srv.port}"
        assert (srv.rss() or 0) > 1 << 20
        h = probe(srv.host, srv.port, timeout=3)
        assert h.ok and h.stage == "ok" and h.code, h
        first = srv.pid
        srv.restart()
        assert srv.pid != first and srv.restarts == 1 and srv.alive()
        assert probe(srv.host, srv.port, connect=False).ok
        srv.wait_logs()
        assert sum("listening rtmp://" in x for x in lines) == 2  # both processes' lines were followed
        assert any("listening" in x for x in srv.tail())
    finally:
        srv.stop()
    assert not srv.alive() and srv.exit_info().startswith(("exited", "killed"))
    assert [h.get("exit") for h in srv.history] == [srv.history[0]["exit"], srv.history[1]["exit"]]
    gone = probe("127.0.0.1", srv.port, timeout=1)
    assert not gone.ok and gone.failure == "refused" and gone.reason == "connection refused"


def test_a_server_that_exits_is_a_start_error_with_its_output(tmp_path):
    srv = ServerProcess([sys.executable, "-c", "print('boom: no config'); raise SystemExit(3)"], name="bad",
                        log=tmp_path / "bad.log", start_timeout=10)
    t0 = time.monotonic()
    with pytest.raises(ServerStartError, match=r"exited with status 3.*boom: no config"):
        srv.start()
    assert time.monotonic() - t0 < 10


def test_a_silent_listener_fails_the_probe_at_s0(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        h = probe("127.0.0.1", s.getsockname()[1], timeout=0.3)
    assert not h.ok and h.stage == "S0" and h.failure == "timeout" and "no S0 within 0.3 s" in h.reason
