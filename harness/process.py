"""A server process we start (:class:`ServerProcess`) or one we only watch (:class:`ExternalServer`).

Output: a started server's stdout and stderr go to one log file (a file, not a pipe: nothing blocks when nobody
reads, and a server that outlives the process that started it keeps logging). Its address comes from the first
``listening rtmp://HOST:PORT`` line of that log (:func:`parse_listening`, the reference server's contract) or, for a
command with ``{port}`` in it, from a free port chosen here and a TCP connect that succeeds. A thread follows the log
(and any other file named in ``follow``, e.g. nginx's error.log) and hands every line to ``on_line`` (the fuzzer's
crash detector); :meth:`ServerProcess.tail` returns the last lines. Stopping signals the process group (the server
runs in its own session), waits, then kills.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Listening", "parse_listening", "ServerStartError", "ServerProcess", "ExternalServer", "LogFollower",
           "stop_process", "rss_tree", "pid_alive", "log_tail", "free_port", "wait_listening"]

LISTENING = re.compile(r"listening\s+(rtmps?)://(\[[^\]]+\]|[^\s:/\]]+):(\d+)")


@dataclass(frozen=True)
class Listening:
    scheme: str  # "rtmp" or "rtmps"
    host: str  # without IPv6 brackets
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_listening(text: str) -> Listening | None:
    """The address in the first ``listening rtmp[s]://HOST:PORT`` of ``text`` (HOST may be ``[v6]``), or None."""
    m = LISTENING.search(text)
    if m is None:
        return None
    return Listening(m.group(1), m.group(2).strip("[]"), int(m.group(3)))


class ServerStartError(RuntimeError):
    """The server did not start: it exited, or printed no address, or did not accept connections in time."""


# -- small process and file helpers --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen | None, deadline: float, what: str = "the server",
                   host: str = "127.0.0.1") -> None:
    """Until ``deadline`` (time.monotonic()), wait for ``host:port`` to accept a TCP connection; ServerStartError if
    ``proc`` exits first or the deadline passes."""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerStartError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerStartError(f"{what} did not listen on {host}:{port}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def rss_tree(pid: int) -> int | None:
    """Resident set size in bytes of ``pid`` and its descendants (Linux /proc), None if it is gone."""
    total = 0
    seen = set()
    todo = [pid]
    found = False
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        found = True
                        break
        except OSError:
            continue
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return total if found else None


def stop_process(pid: int, proc: subprocess.Popen | None = None, timeout: float = 5.0,
                 sig: int = signal.SIGTERM) -> None:
    """Stop a process we started (in its own session: the whole process group) by its id: ``sig``, then SIGKILL
    after ``timeout`` seconds."""
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

    for s, wait in ((sig, timeout), (signal.SIGKILL, 2.0)):
        if not alive():
            return
        try:
            os.killpg(pid, s)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, s)
            except (ProcessLookupError, PermissionError):
                return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and alive():
            time.sleep(0.02)


def log_tail(path: str | os.PathLike, n: int = 20) -> list[str]:
    """The last ``n`` non-empty lines of a log file (of its last 16 KiB)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [x for x in data.splitlines() if x.strip()][-n:]


def _read_from(path: Path, offset: int, limit: int = 65536) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG), best effort."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:  # noqa: BLE001 - not Linux / no libc: atexit still stops it
        pass


class LogFollower:
    """Follows files as they grow (from their size when started, or ``offset``) and hands every complete line to
    ``on_line``, from a thread; :meth:`catch_up` reads what is left synchronously (a server's last words)."""

    def __init__(self, paths: list[Path], on_line: Callable[[str], None], *, from_start: bool = False,
                 offsets: dict[Path, int] | None = None, interval: float = 0.05) -> None:
        self.paths = [Path(p) for p in paths]
        self.on_line = on_line
        self.interval = interval
        self._pos = {p: (offsets or {}).get(p, 0 if from_start or not p.exists() else p.stat().st_size)
                     for p in self.paths}
        self._rest = {p: b"" for p in self.paths}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.catch_up()

    def catch_up(self) -> None:
        with self._lock:
            for p in self.paths:
                try:
                    size = p.stat().st_size
                except OSError:
                    continue
                pos = self._pos[p]
                if size < pos:  # truncated or rotated
                    pos = 0
                if size == pos:
                    continue
                with open(p, "rb") as f:
                    f.seek(pos)
                    data = f.read(size - pos)
                self._pos[p] = pos + len(data)
                *lines, self._rest[p] = (self._rest[p] + data).split(b"\n")
                for ln in lines:
                    self.on_line(ln.decode("utf-8", "replace"))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self.catch_up()


class ServerProcess:
    """A server we start, stop and restart.

    ``cmd`` may contain ``{port}`` (a free port is chosen at each start and the server is ready once it accepts a
    TCP connection) and ``{dir}`` (``workdir``); ``setup(port, workdir)`` runs before each start (e.g. writes a
    config file with that free port). Otherwise the address is read from the server's ``listening
    rtmp://HOST:PORT`` line (``ready="listening"``), or not waited for at all (``ready=None``). ``log``: where stdout+stderr go (default: ``server.log`` in ``workdir``,
    or a temporary file). ``on_line`` gets every line of the log and of the files in ``follow``.
    ``stop_signal``: how to ask it to stop (nginx: SIGQUIT, a graceful shutdown). ``die_with_parent``: the server
    gets SIGTERM when this process dies (Linux).
    """

    def __init__(self, cmd: list[str], *, name: str = "server", workdir: str | os.PathLike | None = None,
                 log: str | os.PathLike | None = None, env: dict | None = None, cwd: str | os.PathLike | None = None,
                 setup: Callable[[int | None, Path | None], None] | None = None, ready: str | None = "listening",
                 start_timeout: float = 20.0, on_line: Callable[[str], None] | None = None,
                 follow: list[str | os.PathLike] = (), stop_signal: int = signal.SIGTERM,
                 die_with_parent: bool = False) -> None:
        self.cmd_template = list(cmd)
        self.name = name
        self.workdir = Path(workdir) if workdir else None
        if log is None:
            log = self.workdir / "server.log" if self.workdir else tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1]
        self.log = Path(log)
        self.env = env
        self.cwd = cwd
        self.setup = setup
        # a port of our choosing (in the command or in the config setup() writes): ready when it accepts
        self.templated = any("{port}" in c for c in self.cmd_template) or setup is not None
        self.ready = "port" if self.templated else ready
        self.start_timeout = start_timeout
        self.on_line = on_line
        self.follow = [Path(p) for p in follow]
        self.stop_signal = stop_signal
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen | None = None
        self.scheme, self.host, self.port = "rtmp", "127.0.0.1", 0
        self.cmd: list[str] = []
        self.restarts = 0
        self.history: list[dict] = []  # one entry per process started
        self._follower: LogFollower | None = None
        self._atexit = False

    # -- life cycle ----------------------------------------------------------------------------------------------
    def start(self) -> ServerProcess:
        port = free_port() if self.templated else None
        if self.setup is not None:
            self.setup(port, self.workdir)
        d = str(self.workdir or ".")
        self.cmd = [c.replace("{port}", str(port)).replace("{dir}", d) for c in self.cmd_template]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            start_at = out.tell()
            try:
                self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                             cwd=self.cwd, env=self.env, start_new_session=True,
                                             preexec_fn=_die_with_parent if self.die_with_parent else None)
            except OSError as exc:
                raise ServerStartError(f"{self.name} ({' '.join(self.cmd)}) did not start: {exc}") from None
        if not self._atexit:
            atexit.register(self.stop)  # never leave a server behind
            self._atexit = True
        if self.on_line is not None:
            self._follower = LogFollower([self.log, *self.follow], self.on_line,
                                         offsets={self.log: start_at})
        deadline = time.monotonic() + self.start_timeout
        try:
            if self.ready == "port":
                self.host, self.port = "127.0.0.1", port
                wait_listening(port, self.proc, deadline, self.name)
            elif self.ready == "listening":
                self._wait_listening(start_at, deadline)
        except ServerStartError as exc:
            code = self.proc.poll()
            self.stop()
            lines = [x for x in _read_from(self.log, start_at).splitlines() if x.strip()][-8:]
            why = f"exited with status {code}" if code is not None else str(exc)
            raise ServerStartError(f"{self.name} ({' '.join(self.cmd)}) {why}; its output: "
                                   f"{' | '.join(lines) or '(none)'}") from None
        self.history.append({"pid": self.proc.pid, "port": self.port, "started": time.time()})
        return self

    def _wait_listening(self, start_at: int, deadline: float) -> None:
        while True:
            found = parse_listening(_read_from(self.log, start_at))
            if found is not None:
                self.scheme, self.host, self.port = found.scheme, found.host, found.port
                return
            if self.proc.poll() is not None:
                found = parse_listening(_read_from(self.log, start_at))
                if found is None:
                    raise ServerStartError("exited")
                continue
            if time.monotonic() > deadline:
                raise ServerStartError(f"did not print 'listening rtmp://...' within {self.start_timeout:g} s")
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        p = self.proc
        if p is not None:
            stop_process(p.pid, p, timeout, self.stop_signal)
            if p.poll() is None:
                p.wait()
            if self.history and "exit" not in self.history[-1]:
                self.history[-1]["exit"] = self.exit_info() or f"status {p.returncode}"
        if self._follower is not None:
            self._follower.stop()
            self._follower = None

    def restart(self) -> bool:
        self.stop()
        self.restarts += 1
        self.start()
        return True

    def detach(self) -> int | None:
        """Forget the process (it goes on running; stop it later with :func:`stop_process` and its id)."""
        pid = self.proc.pid if self.proc else None
        self.proc = None
        if self._follower is not None:
            self._follower.stop()
            self._follower = None
        return pid

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- state ---------------------------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def url(self) -> str:
        return Listening(self.scheme, self.host, self.port).url

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_info(self) -> str:
        if self.proc is None or self.proc.poll() is None:
            return ""
        rc = self.proc.returncode
        if rc < 0:
            try:
                return f"killed by signal {signal.Signals(-rc).name}"
            except ValueError:
                return f"killed by signal {-rc}"
        return f"exited with status {rc}"

    def rss(self) -> int | None:
        """Resident set size (bytes) of the server and its children, None when it is not running."""
        return rss_tree(self.proc.pid) if self.alive() else None

    def tail(self, n: int = 20) -> list[str]:
        return log_tail(self.log, n)

    def wait_logs(self, timeout: float = 1.0) -> None:
        """Everything the server wrote so far has been handed to ``on_line`` (call after it exited)."""
        if self._follower is not None:
            self._follower.catch_up()

    def send_signal(self, sig: int) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def describe(self) -> dict:
        return {"name": self.name, "address": f"{self.host}:{self.port}", "local": True, "command": self.cmd_template,
                "restarts": self.restarts, "pid": self.pid, "log": str(self.log)}


class ExternalServer:
    """A server someone else started: its address and, when given, its process id (alive, RSS) and a log file we
    follow (``on_line``)."""

    def __init__(self, host: str, port: int, *, pid: int | None = None, log: str | os.PathLike | None = None,
                 on_line: Callable[[str], None] | None = None, name: str | None = None) -> None:
        self.host, self.port = host, port
        self.scheme = "rtmp"
        self.pid = pid
        self.name = name or f"{host}:{port}"
        self.log = Path(log) if log else None
        self.restarts = 0
        self._follower = LogFollower([self.log], on_line) if self.log is not None and on_line is not None else None

    @property
    def url(self) -> str:
        return Listening(self.scheme, self.host, self.port).url

    def alive(self) -> bool | None:
        """False when the process exited, None when we cannot tell (no pid)."""
        return pid_alive(self.pid) if self.pid else None

    def exit_info(self) -> str:
        return ""

    def rss(self) -> int | None:
        return rss_tree(self.pid) if self.pid else None

    def tail(self, n: int = 20) -> list[str]:
        return log_tail(self.log, n) if self.log else []

    def wait_logs(self, timeout: float = 1.0) -> None:
        time.sleep(min(timeout, 0.1))
        if self._follower is not None:
            self._follower.catch_up()

    def restart(self) -> bool:
        return False

    def stop(self) -> None:
        if self._follower is not None:
            self._follower.stop()
            self._follower = None

    def describe(self) -> dict:
        return {"name": self.name, "address": f"{self.host}:{self.port}", "local": self.pid is not None,
                "pid": self.pid, "log": str(self.log) if self.log else None}
