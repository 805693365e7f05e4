"""The server under test: where it listens and, when we can see it, its process and its log.

- :func:`external`: ``--target HOST:PORT``; optionally ``--target-pid`` (exit and RSS of that process and its
  children) and ``--target-log`` (a log file followed for crash / error lines);
- :func:`spawned` / :func:`preset`: a server process we start and restart ourselves (:mod:`harness`): the reference
  server (``python -m reference_server --listen 127.0.0.1:0 --log-format json``), the nginx-rtmp /
  node-media-server presets of :mod:`harness.peers`, or any command (``--spawn``). Its output is watched line by
  line.

Either is a :class:`WatchedServer`: the server (start, stop, restart, RSS, exit) and its :class:`LogWatcher`.

:class:`LogWatcher` turns log lines into :class:`LogEvent` s: Python tracebacks, JSON records of level error,
nginx worker crashes and alerts, Node.js uncaught exceptions, sanitizer reports. Each event has a signature
(exception type + where, digits stripped) used to deduplicate findings.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from harness import peers
from harness.process import ExternalServer, ServerProcess, ServerStartError

__all__ = ["LogEvent", "LogWatcher", "WatchedServer", "spawned", "external", "preset", "normalize"]

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


class WatchedServer:
    """The server under fuzzing: a :class:`harness.process.ServerProcess` we start and restart, or a
    :class:`harness.process.ExternalServer` we only watch, and the :class:`LogWatcher` its log lines go to."""

    def __init__(self, server: ServerProcess | ExternalServer, watcher: LogWatcher) -> None:
        self.server = server
        self.watcher = watcher
        self.local = isinstance(server, ServerProcess) or server.pid is not None  # we see the process (exit, RSS)
        self.restartable = isinstance(server, ServerProcess)

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def restarts(self) -> int:
        return self.server.restarts

    def start(self) -> WatchedServer:
        if isinstance(self.server, ServerProcess):
            try:
                self.server.start()
            except ServerStartError as exc:
                raise RuntimeError(f"{exc}\n" + "\n".join(self.watcher.tail(30))) from None
        return self

    def alive(self) -> bool | None:
        """False when the process exited, None when we cannot tell."""
        return self.server.alive()

    def events(self) -> list[LogEvent]:
        """The log events so far (the watcher first reads the log up to what the server has written)."""
        self.server.wait_logs(0)
        return self.watcher.take()

    def wait_logs(self, timeout: float = 1.0) -> None:
        """After an exit: the watcher has every line the server wrote (its last words)."""
        self.server.wait_logs(timeout)
        self.watcher.flush()

    def exit_info(self) -> str:
        return self.server.exit_info()

    def rss(self) -> int | None:
        return self.server.rss()

    def restart(self) -> bool:
        return self.server.restart()

    def stop(self) -> None:
        self.server.stop()
        self.watcher.flush()

    def describe(self) -> dict:
        return self.server.describe()


def spawned(cmd: list[str], *, name: str = "spawned", workdir: str | None = None,
            ignore: list[str] | None = None) -> WatchedServer:
    """``--spawn CMD``: any command; ``{port}`` (a free port) and ``{dir}`` (``workdir``) are filled in, otherwise
    the port comes from its ``listening rtmp://HOST:PORT`` line."""
    watcher = LogWatcher(ignore)
    return WatchedServer(ServerProcess(cmd, name=name, workdir=workdir, on_line=watcher.feed, die_with_parent=True),
                         watcher)


def external(host: str, port: int, *, pid: int | None = None, log: str | None = None,
             ignore: list[str] | None = None) -> WatchedServer:
    """``--target HOST:PORT`` (with ``--target-pid``: exit and RSS; ``--target-log``: a log file followed)."""
    watcher = LogWatcher(ignore)
    return WatchedServer(ExternalServer(host, port, pid=pid, log=log, on_line=watcher.feed), watcher)


def preset(name: str, *, workdir: str | None = None, nms_dir: str | None = None,
           ignore: list[str] | None = None) -> WatchedServer:
    """One of :data:`harness.peers.PRESETS`; the reference server logs JSON at level error (findings)."""
    watcher = LogWatcher(ignore)
    kw = {"on_line": watcher.feed, "die_with_parent": True}
    if name == "reference":
        server = peers.reference_server("--log-format", "json", "--log-level", "error", **kw)
    else:
        server = peers.preset(name, workdir=workdir or tempfile.mkdtemp(prefix=f"fuzz-{name}-"), nms_dir=nms_dir,
                              **kw)
    return WatchedServer(server, watcher)
