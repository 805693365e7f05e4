"""Parse ``--target``; the embedded reference server when there is none and ``--restart-cmd``, as
:class:`harness.process.ServerProcess` es (the battery starts the reference server as a process, never imports it)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from urllib.parse import urlsplit

from harness.process import ServerProcess, ServerStartError

from .driver import Target

DEFAULT_PORT = 1935
DEFAULT_TLS_PORT = 443


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


def embedded_server(command: str | None = None, *, log: Path | None = None, start_timeout: float = 20.0,
                    control: str | None = None) -> ServerProcess:
    """The reference server (or ``--reference-server-cmd``) as a child process on a free loopback port
    (``--listen 127.0.0.1:0``), not started. Its output goes to ``log`` (a file, not a pipe: a server restarted by
    one xdist worker keeps running, and logging, after that worker is done; the controller stops every server the
    run started by its process id)."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    argv = [*server_command(command), "--listen", "127.0.0.1:0"]
    if control:  # --control-socket: the built-in --reconnect-trigger
        argv += ["--control-socket", control]
    return ServerProcess(argv, name="the embedded reference server", log=log, env=env, start_timeout=start_timeout)


def embedded_reconnect_trigger(control: str) -> str:
    """The --reconnect-trigger of the embedded reference server: a request on its control socket."""
    return shlex.join(["{python}", "-m", "reference_server.control", "--socket", control, "reconnect", "--app",
                       "{app}", "--key", "{key}", "--redirect", "{redirect}"])


def start_embedded(server: ServerProcess) -> tuple[str, int]:
    """Start it; TargetError (one line: why, and its last output) when it does not."""
    try:
        server.start()
    except ServerStartError as exc:
        raise TargetError(str(exc)) from None
    return server.host, server.port


def restart_command(command: str, *, log: Path) -> ServerProcess:
    """``--restart-cmd CMD``: a shell command that (re)starts the target after it stopped serving. It may run in the
    foreground (the plugin keeps its process id and stops it, by its process group, at the end of the run) or return
    at once (``systemctl restart ...``); either way the target must then pass the preflight probe."""
    with open(log, "ab") as out:
        out.write(f"--- restart: {command}\n".encode())
    return ServerProcess(["/bin/sh", "-c", command], name="--restart-cmd", log=log, ready=None)
