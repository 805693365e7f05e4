"""The server under test: where it listens and, when we can see it, its process and its log.

- :class:`ExternalTarget`: ``--target HOST:PORT``; optionally ``--target-pid`` (exit and RSS of that process and
  its children) and ``--target-log`` (a log file tailed for crash / error lines).
- :class:`SpawnedTarget`: a server process we start and restart ourselves: the embedded reference server
  (``python -m reference_server --listen 127.0.0.1:0 --log-format json``), or any command (``--spawn``), e.g.
  the nginx-rtmp / node-media-server presets of :mod:`fuzz.peers`. Its stdout/stderr are watched line by line.

:class:`LogWatcher` turns log lines into :class:`LogEvent` s: Python tracebacks, JSON records of level error,
nginx worker crashes and alerts, Node.js uncaught exceptions, sanitizer reports. Each event has a signature
(exception type + where, digits stripped) used to deduplicate findings.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LogEvent", "LogWatcher", "Target", "ExternalTarget", "SpawnedTarget", "embedded_command", "rss_tree",
           "free_port"]

BAD_TEXT = [
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"worker process \d+ exited on signal \d+"),
    re.compile(r"\[(crit|emerg)\]"),
    re.compile(r"Segmentation fault|AddressSanitizer|core dumped|SIGSEGV|SIGABRT"),
    re.compile(r"FATAL ERROR|UnhandledPromiseRejection|Uncaught|uncaughtException"),
    re.compile(r"^\s*(?:TypeError|RangeError|ReferenceError|SyntaxError|AssertionError|Error)(?: \[\w+\])?: "),
    re.compile(r"Exception in callback|Task exception was never retrieved|Fatal error on transport"),
    re.compile(r"JavaScript heap out of memory|MemoryError|RecursionError"),
]
JSON_BAD_LEVELS = {"error", "critical", "fatal", "alert", "emerg"}
_DIGITS = re.compile(r"0x[0-9a-fA-F]+|\d+")
_QUOTED = re.compile(r"'[^']{0,200}'|\"[^\"]{0,200}\"")


def normalize(text: str, limit: int = 160) -> str:
    """A signature: numbers and quoted values replaced, so the same bug on different input maps to one key."""
    return _DIGITS.sub("N", _QUOTED.sub("'…'", text)).strip()[:limit]


@dataclass
class LogEvent:
    time: float
    kind: str  # traceback / json-error / nginx-crash / log-alert / node-exception / sanitizer / text-error
    signature: str
    lines: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"time": self.time, "kind": self.kind, "signature": self.signature, "lines": self.lines[:80]}


class LogWatcher:
    """Classifies log lines; keeps the last lines for context. Thread-safe ``feed``/``take``."""

    def __init__(self, ignore: list[str] | None = None, context: int = 400) -> None:
        self.ignore = [re.compile(p) for p in (ignore or [])]
        self.recent: deque[str] = deque(maxlen=context)
        self._events: list[LogEvent] = []
        self._lock = threading.Lock()
        self._tb: list[str] | None = None  # a Python traceback being collected
        self._chain_pending: LogEvent | None = None  # the last traceback, if a chained one may follow
        self._chain: LogEvent | None = None  # the traceback the one being collected was raised while handling
        self._node: list[str] | None = None  # a Node.js stack being collected
        self.lines = 0
        self.bad = 0
        self.notes: Counter[str] = Counter()  # noteworthy lines that are not findings (nginx alerts)

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        with self._lock:
            self.lines += 1
            self.recent.append(line)
            self._classify(line)

    def _emit(self, kind: str, signature: str, lines: list[str]) -> None:
        text = "\n".join(lines)
        if any(p.search(text) for p in self.ignore):
            return
        self.bad += 1
        self._events.append(LogEvent(time.time(), kind, signature, lines))

    def _classify(self, line: str) -> None:
        # an exception raised while handling another: the chain's last traceback names the bug, so the next
        # traceback replaces the previous event (their lines are kept together)
        if self._chain_pending is not None and line.strip():
            if line.startswith(("During handling of the above exception", "The above exception was the direct")):
                self._chain = self._chain_pending
                self._chain_pending = None
                return
            self._chain_pending = None
        # a Python traceback: collect until the exception line (first non-indented line after frames)
        if self._tb is not None:
            self._tb.append(line)
            if line and not line.startswith((" ", "\t", "Traceback")) and len(self._tb) > 1:
                frames = [x.strip() for x in self._tb if x.strip().startswith("File ")]
                where = " <- ".join(_frame(f) for f in reversed(frames[-3:]))
                lines = self._tb
                if self._chain is not None and self._chain in self._events:
                    self._events.remove(self._chain)
                    self.bad -= 1
                    lines = self._chain.lines + ["(then, while handling it:)"] + lines
                self._chain = None
                self._emit("traceback", f"{normalize(line.split(':')[0])} at {where}", lines)
                self._chain_pending = self._events[-1] if self._events else None
                self._tb = None
            elif len(self._tb) > 200:
                self._emit("traceback", "traceback (unterminated)", self._tb)
                self._tb = None
            return
        if self._node is not None:
            if line.strip().startswith("at "):
                self._node.append(line)
                if len(self._node) < 40:
                    return
            self._emit("node-exception", _node_signature(self._node), self._node)
            self._node = None
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            try:
                rec = json.loads(stripped)
            except ValueError:
                rec = None
            if isinstance(rec, dict):
                level = str(rec.get("level", "")).lower()
                if level in JSON_BAD_LEVELS:
                    detail = rec.get("where") or rec.get("traceback") or rec.get("stack") or ""
                    reason = rec.get("reason") or rec.get("error") or rec.get("what") or rec.get("detail") or ""
                    if isinstance(detail, list):
                        detail = " <- ".join(str(x) for x in detail[-3:])
                    sig = f"{rec.get('event', '?')}: {normalize(str(reason), 120)}"
                    if detail:
                        sig += f" at {normalize(str(detail), 200)}"
                    self._emit("json-error", sig, [line])
                if "Traceback (most recent call last)" in stripped:
                    self._emit("traceback", f"traceback in JSON record: {normalize(stripped[-160:])}", [line])
                return
        if "Traceback (most recent call last)" in line:
            self._tb = [line]
            return
        if "[alert]" in line or "[warn]" in line or "[error]" in line:
            if "exited on signal" not in line:  # nginx-rtmp logs protocol rejections at alert level: noted only
                self.notes[normalize(_nginx_message(line), 120)] += 1
                return
        for pat in BAD_TEXT:
            mt = pat.search(line)
            if mt is None:
                continue
            if "exited on signal" in line:
                self._emit("nginx-crash", normalize(mt.group(0)), [line])
            elif "[crit]" in line or "[emerg]" in line:
                self._emit("log-alert", normalize(_nginx_message(line), 120), [line])
            elif re.match(r"^\s*(?:TypeError|RangeError|ReferenceError|SyntaxError|AssertionError|Error)", line):
                self._node = [line]
            elif "Sanitizer" in line or "Segmentation" in line or "SIG" in line or "core dumped" in line:
                self._emit("sanitizer", normalize(line, 120), [line])
            else:
                self._emit("text-error", normalize(line, 120), [line])
            return

    def flush(self) -> None:
        """Emit a half-collected Node.js stack (called before ``take`` when the process went quiet)."""
        with self._lock:
            if self._node is not None:
                self._emit("node-exception", _node_signature(self._node), self._node)
                self._node = None

    def take(self) -> list[LogEvent]:
        with self._lock:
            ev, self._events = self._events, []
            return ev

    def tail(self, n: int = 60) -> list[str]:
        with self._lock:
            return list(self.recent)[-n:]


_NGINX_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (?:\*\d+ )?")


def _nginx_message(line: str) -> str:
    """'2024/01/01 00:00:00 [alert] 12#12: *3 too big RTMP chunk size:N, client: ..., server: ...' ->
    '[alert] too big RTMP chunk size:N'."""
    mt = _NGINX_PREFIX.match(line)
    if not mt:
        return line
    return f"[{mt.group(1)}] " + line[mt.end():].split(", client:")[0]


def _node_signature(lines: list[str]) -> str:
    """'TypeError: x' + the first three 'at fn (file:line:col)' frames -> 'TypeError: x at fn (file) <- ...'."""
    frames = []
    for x in lines[1:4]:
        x = x.strip()
        x = x[3:] if x.startswith("at ") else x
        x = re.sub(r":\d+:\d+\)?$", "", x).replace(" (", " ").replace("/node_modules/", " ")
        frames.append(x.split(" ")[0] + " " + os.path.basename(x.split(" ")[-1]) if " " in x else x)
    return f"{normalize(lines[0], 100)} at {normalize(' <- '.join(frames), 200)}"


def _frame(f: str) -> str:
    # 'File "/x/y/session.py", line 12, in handle' -> 'session.py:handle'
    mt = re.match(r'File "([^"]+)", line \d+, in (\S+)', f)
    if not mt:
        return normalize(f, 60)
    return f"{os.path.basename(mt.group(1))}:{mt.group(2)}"


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


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the fuzzer dies (Linux prctl PR_SET_PDEATHSIG), best effort."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:  # noqa: BLE001 - not Linux / no libc: atexit still stops it
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedded_command() -> list[str]:
    return [sys.executable, "-m", "reference_server", "--listen", "127.0.0.1:0", "--log-format", "json",
            "--log-level", "error"]


def reference_server_available() -> bool:
    import importlib.util

    try:
        spec = importlib.util.find_spec("reference_server.__main__")
    except (ImportError, ValueError):
        return False
    return spec is not None


class Target:
    host: str = "127.0.0.1"
    port: int = 0
    name: str = "target"
    local: bool = False  # we see the process (exit, RSS)
    restartable: bool = False

    def __init__(self) -> None:
        self.watcher = LogWatcher()
        self.restarts = 0

    def alive(self) -> bool | None:
        """False when the process exited, None when we cannot tell."""
        return None

    def wait_logs(self, timeout: float = 1.0) -> None:
        time.sleep(min(timeout, 0.1))
        self.watcher.flush()

    def exit_info(self) -> str:
        return ""

    def rss(self) -> int | None:
        return None

    def restart(self) -> bool:
        return False

    def stop(self) -> None:
        pass

    def describe(self) -> dict:
        return {"name": self.name, "address": f"{self.host}:{self.port}", "local": self.local}


class ExternalTarget(Target):
    def __init__(self, host: str, port: int, *, pid: int | None = None, log: str | None = None,
                 ignore: list[str] | None = None, name: str | None = None) -> None:
        super().__init__()
        self.host, self.port = host, port
        self.pid = pid
        self.local = pid is not None
        self.name = name or f"{host}:{port}"
        self.watcher = LogWatcher(ignore)
        self.log_path = Path(log) if log else None
        self._stop = threading.Event()
        if self.log_path is not None:
            threading.Thread(target=self._tail, name="fuzz-log-tail", daemon=True).start()

    def _tail(self) -> None:
        pos = self.log_path.stat().st_size if self.log_path.exists() else 0
        buf = b""
        while not self._stop.is_set():
            try:
                size = self.log_path.stat().st_size
                if size < pos:
                    pos = 0
                if size > pos:
                    with open(self.log_path, "rb") as f:
                        f.seek(pos)
                        data = f.read(size - pos)
                    pos = size
                    buf += data
                    *lines, buf = buf.split(b"\n")
                    for ln in lines:
                        self.watcher.feed(ln.decode("utf-8", "replace"))
            except OSError:
                pass
            self._stop.wait(0.05)

    def alive(self) -> bool | None:
        return pid_alive(self.pid) if self.pid else None

    def rss(self) -> int | None:
        return rss_tree(self.pid) if self.pid else None

    def stop(self) -> None:
        self._stop.set()

    def describe(self) -> dict:
        d = super().describe()
        d.update(pid=self.pid, log=str(self.log_path) if self.log_path else None)
        return d


_LISTEN_RE = re.compile(r"listening\s+rtmps?://([^\s:/\]]+|\[[^\]]+\]):(\d+)")


class SpawnedTarget(Target):
    """A server process we start (and restart after a crash or hang). ``cmd`` may contain ``{port}`` (a free
    port is chosen) and ``{dir}`` (``workdir``); without ``{port}`` the port is read from a ``listening
    rtmp://HOST:PORT`` line on stdout (the reference server's contract)."""

    local = True
    restartable = True

    def __init__(self, cmd: list[str], *, name: str = "spawned", workdir: str | Path | None = None,
                 env: dict | None = None, ignore: list[str] | None = None, start_timeout: float = 20.0,
                 setup=None) -> None:
        super().__init__()
        self.cmd_template = cmd
        self.name = name
        self.workdir = Path(workdir) if workdir else None
        self.env = env
        self.ignore = ignore
        self.start_timeout = start_timeout
        self.setup = setup  # callable(port, workdir) run before each start (e.g. writes a config file)
        self.proc: subprocess.Popen | None = None
        self.watcher = LogWatcher(ignore)
        self.history: list[dict] = []  # one entry per process we started
        self._threads: list[threading.Thread] = []
        self._atexit = False

    def start(self) -> None:
        port = None
        cmd = list(self.cmd_template)
        if any("{port}" in c for c in cmd) or self.setup is not None:
            port = free_port()
        if self.setup is not None:
            self.setup(port, self.workdir)
        cmd = [c.replace("{port}", str(port)).replace("{dir}", str(self.workdir or ".")) for c in cmd]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=self.workdir, env=self.env, start_new_session=True, preexec_fn=_die_with_parent)
        if not self._atexit:
            atexit.register(self.stop)  # never leave a server behind, whatever happens to the fuzzer
            self._atexit = True
        found = threading.Event()
        result: dict = {}

        def pump(stream, name):
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace")
                if name == "stdout" and not found.is_set():
                    mt = _LISTEN_RE.search(line)
                    if mt:
                        result["host"], result["port"] = mt.group(1).strip("[]"), int(mt.group(2))
                        found.set()
                        continue
                self.watcher.feed(line)
            stream.close()

        self._threads = [threading.Thread(target=pump, args=(self.proc.stdout, "stdout"), daemon=True),
                         threading.Thread(target=pump, args=(self.proc.stderr, "stderr"), daemon=True)]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + self.start_timeout
        if port is None:
            while not found.wait(0.05):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self._fail_start()
            self.host, self.port = result["host"], result["port"]
        else:
            self.host, self.port = "127.0.0.1", port
            while True:
                try:
                    with socket.create_connection((self.host, self.port), timeout=0.5):
                        break
                except OSError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self._fail_start()
                    time.sleep(0.05)
        self.history.append({"pid": self.proc.pid, "port": self.port, "started": time.time()})

    def _fail_start(self) -> None:
        tail = "\n".join(self.watcher.tail(30))
        self.stop()
        raise RuntimeError(f"{self.name} did not start ({' '.join(self.cmd_template)}):\n{tail}")

    def alive(self) -> bool | None:
        return self.proc is not None and self.proc.poll() is None

    def wait_logs(self, timeout: float = 1.0) -> None:
        """After an exit: wait until the log pumps have read everything the process wrote (its last words)."""
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self.watcher.flush()

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
        return rss_tree(self.proc.pid) if self.proc is not None and self.proc.poll() is None else None

    def restart(self) -> bool:
        self.stop()
        self.restarts += 1
        self.start()
        return True

    def stop(self) -> None:
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)  # our own process group (start_new_session)
            except OSError:
                p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    p.kill()
                p.wait()
        for t in self._threads:
            t.join(timeout=2)
        if self.history:
            self.history[-1]["exit"] = self.exit_info() or f"status {p.returncode}"
        self.watcher.flush()

    def describe(self) -> dict:
        d = super().describe()
        d.update(command=self.cmd_template, restarts=self.restarts, pid=self.proc.pid if self.proc else None)
        return d
