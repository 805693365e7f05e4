"""Parse ``--target`` and start the embedded reference server when there is none."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from .driver import Target

DEFAULT_PORT = 1935
DEFAULT_TLS_PORT = 443
LISTENING = re.compile(r"listening\s+(rtmps?)://([^:/\s]+):(\d+)")


class TargetError(ValueError):
    pass


def parse_target(spec: str, *, app: str | None = None, tls_insecure: bool = False) -> Target:
    """``HOST:PORT``, ``HOST``, ``rtmp://host[:port][/app]`` or ``rtmps://host[:port][/app]``."""
    spec = spec.strip()
    if "://" in spec:
        u = urlsplit(spec)
        if u.scheme not in ("rtmp", "rtmps"):
            raise TargetError(f"--target {spec!r}: scheme must be rtmp or rtmps")
        tls = u.scheme == "rtmps"
        host = u.hostname
        if not host:
            raise TargetError(f"--target {spec!r}: no host")
        try:
            port = u.port or (DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
        except ValueError as exc:
            raise TargetError(f"--target {spec!r}: {exc}") from None
        path_app = u.path.strip("/")
        return Target(host, port, app or path_app or "live", tls, tls_insecure, label=spec)
    host, sep, port = spec.rpartition(":")
    if not sep:
        host, port = spec, str(DEFAULT_PORT)
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise TargetError(f"--target {spec!r}: expected HOST:PORT, rtmp://host:port/app or rtmps://...")
    return Target(host, int(port), app or "live", False, tls_insecure, label=spec)


def server_command(command: str | None) -> list[str]:
    """The argv of ``--reference-server-cmd`` (default ``python -m reference_server``). A leading bare ``python``
    or ``python3`` means this interpreter (``sys.executable``, which has the project installed), never whatever
    ``python`` comes first on PATH: on a fresh machine that one lacks the project's packages."""
    if not command:
        return [sys.executable, "-m", "reference_server"]
    argv = shlex.split(command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


class EmbeddedServer:
    """The reference server as a child process on a free loopback port (``--listen 127.0.0.1:0``)."""

    def __init__(self, command: str | None = None, *, start_timeout: float = 20.0) -> None:
        self.command = server_command(command)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.tail: deque[str] = deque(maxlen=50)
        self.host = "127.0.0.1"
        self.port = 0
        self.scheme = "rtmp"

    def start(self) -> tuple[str, int]:
        cmd = [*self.command, "--listen", "127.0.0.1:0"]
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, env=env)
        found: list[tuple[str, str, int]] = []
        ready = threading.Event()

        def reader() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.tail.append(line.rstrip("\n"))
                if not found:
                    m = LISTENING.search(line)
                    if m:
                        found.append((m.group(1), m.group(2), int(m.group(3))))
                        ready.set()
            ready.set()

        threading.Thread(target=reader, name="reference-server-stdout", daemon=True).start()
        deadline = time.monotonic() + self.start_timeout
        while not ready.wait(0.05):
            if time.monotonic() > deadline:
                break
        if not found:
            self.stop()
            raise TargetError(f"the reference server ({' '.join(cmd)}) did not print 'listening rtmp://...' within "
                              f"{self.start_timeout} s; its output: {' | '.join(self.tail) or '(none)'}")
        self.scheme, self.host, self.port = found[0]
        return self.host, self.port

    def stop(self) -> None:
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
