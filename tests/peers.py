"""Real RTMP peers for interop tests: nginx-rtmp as a server, ffmpeg as a client. Loopback only.

Use the ``nginx_rtmp`` fixture (tests/conftest.py) or ``start_nginx_rtmp`` directly::

    port, stop = start_nginx_rtmp(tmp_path)
    try: ...
    finally: stop()

Servers are started by :mod:`harness.peers` (the same nginx-rtmp the fuzzer, the matrix and the benchmark start).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

from harness import peers
from harness.process import ServerStartError, stop_process


def nginx_binary() -> str | None:
    """Path of nginx if it and the rtmp module are installed."""
    return peers.nginx_rtmp_binary()


def ffmpeg_binary() -> str | None:
    return shutil.which("ffmpeg")


def start_nginx_rtmp(tmpdir: str | os.PathLike, *, timeout: float = 10.0) -> tuple[int, Callable[[], None]]:
    """Start a standalone nginx-rtmp (own prefix dir, ``application live``) on a free loopback port.

    Returns ``(port, stop)``; ``stop()`` sends SIGQUIT (graceful) and kills it if it lingers. The error log
    (level info, handshake messages included) is ``tmpdir/error.log``.
    """
    last_error: Exception | None = None
    for _ in range(3):  # a free port can be taken between choosing it and nginx's bind()
        server = peers.nginx_rtmp(tmpdir, log_level="info", connections=64, start_timeout=timeout)
        try:
            server.start()
        except ServerStartError as exc:
            last_error = exc
            continue
        return server.port, server.stop
    raise RuntimeError(f"could not start nginx-rtmp: {last_error}")


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


def stop(proc: subprocess.Popen, timeout: float = 5) -> None:
    """Stop a process we started (by its own handle: SIGTERM, then SIGKILL) and reap it."""
    stop_process(proc.pid, proc, timeout)
