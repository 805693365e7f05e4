"""Real RTMP peers for interop tests: nginx-rtmp as a server, ffmpeg as a client. Loopback only.

Use the ``nginx_rtmp`` fixture (import it into the test module) or ``start_nginx_rtmp`` directly::

    port, stop = start_nginx_rtmp(tmp_path)
    try: ...
    finally: stop()
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# one set of peer helpers (free port, readiness, nginx-rtmp config) for tests, bench and fuzzer
from fuzz.peers import free_port, nginx_rtmp_binary, nginx_rtmp_conf, wait_listening  # noqa: F401


def nginx_binary() -> str | None:
    """Path of nginx if it and the rtmp module are installed."""
    return nginx_rtmp_binary()


def ffmpeg_binary() -> str | None:
    return shutil.which("ffmpeg")


def start_nginx_rtmp(tmpdir: str | os.PathLike, *, timeout: float = 10.0) -> tuple[int, Callable[[], None]]:
    """Start a standalone nginx-rtmp (own prefix dir, ``application live``) on a free loopback port.

    Returns ``(port, stop)``; ``stop()`` sends SIGQUIT (graceful) and kills it if it lingers. The error log
    (level info, handshake messages included) is ``tmpdir/error.log``.
    """
    nginx = nginx_binary()
    if nginx is None:
        raise FileNotFoundError("nginx with ngx_rtmp_module is not installed")
    base = Path(tmpdir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for _ in range(3):  # a free port can be taken between free_port() and bind()
        port = free_port()
        conf = base / "nginx.conf"
        conf.write_text(nginx_rtmp_conf(base, port, log_level="info", connections=64))
        with open(base / "stderr.log", "ab") as err:
            proc = subprocess.Popen(
                [nginx, "-p", f"{base}/", "-c", str(conf), "-e", str(base / "error.log")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

        def stop(proc: subprocess.Popen = proc) -> None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

        try:
            wait_listening(port, proc, time.monotonic() + timeout, "nginx-rtmp")
        except RuntimeError as exc:
            stop()
            last_error = exc
            continue
        return port, stop
    raise RuntimeError(f"could not start nginx-rtmp: {last_error}")


@pytest.fixture
def nginx_rtmp(tmp_path: Path) -> Iterator[int]:
    """Port of a fresh nginx-rtmp on 127.0.0.1 (skips if nginx or its rtmp module is missing)."""
    if nginx_binary() is None:
        pytest.skip("nginx with ngx_rtmp_module is not installed")
    port, stop = start_nginx_rtmp(tmp_path / "nginx")
    try:
        yield port
    finally:
        stop()


def start_ffmpeg_publish(url: str, log: str | os.PathLike, *, seconds: float = 2) -> subprocess.Popen:
    """ffmpeg publishing a small test pattern (H.264, FLV) to ``url``; stderr goes to ``log``."""
    ffmpeg = ffmpeg_binary()
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg is not installed")
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "info", "-re", "-f", "lavfi"]
    cmd += ["-i", "testsrc2=size=160x120:rate=10", "-t", str(seconds), "-c:v", "libx264", "-f", "flv", url]
    with open(log, "ab") as err:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)


def start_ffmpeg_play(url: str, log: str | os.PathLike, *, seconds: float = 2) -> subprocess.Popen:
    """ffmpeg playing ``url`` into the null muxer (as a player it checks the digest handshake)."""
    ffmpeg = ffmpeg_binary()
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg is not installed")
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "debug", "-i", url, "-t", str(seconds)]
    cmd += ["-f", "null", "-"]
    with open(log, "ab") as err:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)


def stop_process(proc: subprocess.Popen, timeout: float = 5) -> None:
    """Terminate a process we started (by its own handle) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
