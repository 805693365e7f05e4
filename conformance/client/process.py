"""The client under test as a child process: a command template, started once per scenario, always bounded.

A template is a shell-like string with placeholders, split with :func:`shlex.split` first and substituted per
argument (so paths with spaces stay one argument):

- ``{url}``: ``rtmp://127.0.0.1:PORT/APP/KEY`` of the battery's listener;
- ``{input}``: the FLV file a publishing client sends (H.264 + AAC, see :mod:`conformance.client.inputs`);
- ``{output}``: the FLV file a playing client writes (the battery reads it back and compares it with what it sent);
- ``{python}``: the Python running the battery (``sys.executable``).

The process runs in its own session (process group): :meth:`ClientProcess.stop` sends SIGINT to that group (a
player such as ffmpeg then finishes its file), then SIGKILL after a grace period. Its stdout and stderr go to a file
of which the tail is kept as evidence.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLACEHOLDERS = ("{url}", "{input}", "{output}", "{python}")


class ClientCommandError(ValueError):
    pass


def render(template: str, **values: str) -> list[str]:
    """``template`` split like a shell would, each placeholder replaced; unknown placeholders are an error."""
    try:
        argv = shlex.split(template)
    except ValueError as exc:
        raise ClientCommandError(f"--client {template!r}: {exc}") from None
    if not argv:
        raise ClientCommandError("--client: empty command")
    values = {"python": sys.executable, **values}
    out = []
    for arg in argv:
        try:
            out.append(arg.format_map(_Strict(values)))
        except (KeyError, IndexError, ValueError) as exc:
            raise ClientCommandError(f"--client {template!r}: placeholder {exc} is not one of "
                                     f"{', '.join(PLACEHOLDERS)} (double braces for a literal brace)") from None
    return out


class _Strict(dict):
    def __missing__(self, key: str) -> str:
        raise KeyError("{" + key + "}")


class ClientProcess:
    """One run of the client under test."""

    def __init__(self, argv: list[str], *, workdir: Path, name: str = "client") -> None:
        self.argv = argv
        self.workdir = workdir
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.ended: float | None = None
        self.killed = False  # we had to stop it
        self.start_error: str | None = None

    def start(self) -> bool:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.pop("PYTEST_XDIST_WORKER", None)
        try:
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             env=env, start_new_session=True)  # cwd: the battery's own
        except OSError as exc:
            self.start_error = f"cannot start {self.argv[0]!r}: {exc}"
            return False
        self.started = time.monotonic()
        return True

    def alive(self) -> bool:
        if self.proc is None:
            return False
        if self.proc.poll() is None:
            return True
        if self.ended is None:
            self.ended = time.monotonic()
        return False

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait(self, timeout: float) -> bool:
        """True when the process ended within ``timeout`` seconds (without any signal from us)."""
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return False
        self.alive()
        return True

    def stop(self, grace: float = 2.0) -> None:
        """SIGINT to the client's process group, SIGKILL after ``grace`` seconds."""
        p = self.proc
        if p is None or p.poll() is not None:
            self.alive()
            return
        self.killed = True
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(p.pid, sig)  # the group this process leads (start_new_session)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.alive()

    def tail(self, limit: int = 1500) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        text = data[-limit:].decode("utf-8", "replace").strip()
        return ("..." if len(data) > limit else "") + text

    def describe(self) -> str:
        rc = self.returncode
        if self.start_error:
            return self.start_error
        if rc is None:
            return "still running"
        how = " (stopped by the battery)" if self.killed else ""
        return f"exited with status {rc}{how}"


def workdir_for(base: Path | None, label: str) -> Path:
    root = base or Path(tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=root))
