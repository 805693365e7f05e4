"""Parse ``--target``; start the embedded reference server when there is none; run ``--restart-cmd``."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
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
    """The reference server as a child process on a free loopback port (``--listen 127.0.0.1:0``).

    Its output goes to ``log`` (a file, not a pipe: a server restarted by one xdist worker keeps running, and
    logging, after that worker is done; the controller stops every server the run started by its process id)."""

    def __init__(self, command: str | None = None, *, start_timeout: float = 20.0, log: Path | None = None,
                 control: str | None = None) -> None:
        self.command = server_command(command)
        self.control = control  # --control-socket: the built-in --reconnect-trigger
        self.start_timeout = start_timeout
        self.log = Path(log) if log else Path(tempfile.mkstemp(prefix="rtmp-reference-server-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.scheme = "rtmp"

    def tail(self, n: int = 20) -> list[str]:
        return log_tail(self.log, n)

    def start(self) -> tuple[str, int]:
        cmd = [*self.command, "--listen", "127.0.0.1:0"]
        if self.control:
            cmd += ["--control-socket", self.control]
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            start_at = out.tell()
            try:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                             env=env, start_new_session=True)
            except OSError as exc:
                raise TargetError(f"the reference server ({' '.join(cmd)}) did not start: {exc}") from None
        deadline = time.monotonic() + self.start_timeout
        found = None
        while time.monotonic() < deadline:
            text = _read_from(self.log, start_at)
            m = LISTENING.search(text)
            if m:
                found = (m.group(1), m.group(2), int(m.group(3)))
                break
            if self.proc.poll() is not None:
                text = _read_from(self.log, start_at)
                m = LISTENING.search(text)
                if m:
                    found = (m.group(1), m.group(2), int(m.group(3)))
                break
            time.sleep(0.02)
        if not found:
            code = self.proc.poll()
            self.stop()
            lines = [x for x in _read_from(self.log, start_at).splitlines() if x.strip()][-8:]
            why = f"exited with status {code}" if code is not None else \
                f"did not print 'listening rtmp://...' within {self.start_timeout:g} s"
            raise TargetError(f"the embedded reference server ({' '.join(cmd)}) {why}; its output: "
                              f"{' | '.join(lines) or '(none)'}")
        self.scheme, self.host, self.port = found
        return self.host, self.port

    def stop(self) -> None:
        p = self.proc
        if p is None:
            return
        stop_process(p.pid, p)
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def embedded_reconnect_trigger(control: str) -> str:
    """The --reconnect-trigger of the embedded reference server: a request on its control socket."""
    return shlex.join(["{python}", "-m", "reference_server.control", "--socket", control, "reconnect", "--app",
                       "{app}", "--key", "{key}", "--redirect", "{redirect}"])


class RestartCommand:
    """``--restart-cmd CMD``: a shell command that (re)starts the target after it stopped serving. It may run in the
    foreground (the plugin keeps it and stops it, by its process group, at the end of the run) or return at once
    (``systemctl restart ...``); either way the target must then pass the preflight probe within ``timeout``."""

    def __init__(self, command: str, *, log: Path, timeout: float = 30.0) -> None:
        self.command = command
        self.log = Path(log)
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"--- restart: {self.command}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(["/bin/sh", "-c", self.command], stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self.proc


def stop_process(pid: int, proc: subprocess.Popen | None = None, timeout: float = 5.0) -> None:
    """Stop a process this run started (its own session: the whole process group), by its id."""
    def alive() -> bool:
        if proc is not None:
            return proc.poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:  # our child? reap it
            done, _ = os.waitpid(pid, os.WNOHANG)
            return done == 0
        except ChildProcessError:
            return True

    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        if not alive():
            return
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and alive():
            time.sleep(0.02)


def log_tail(path: Path, n: int = 20) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [x for x in data.splitlines() if x.strip()][-n:]


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(65536).decode("utf-8", "replace")
    except OSError:
        return ""
