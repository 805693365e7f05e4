"""One event per line on stderr, as JSON or text.

    log = logs.get()
    log.event("info", "publish_start", conn=3, peer="127.0.0.1:5000", stream="live/test")

A JSON line carries ``ts`` (ISO 8601, UTC, milliseconds), ``level``, ``conn`` (connection id or null), ``peer``
(``host:port`` or null), ``event`` and the event's details as further keys. The text line is
``ts LEVEL [conn peer] event key=value ...``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def _ts(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, bytes):
        return v[:64].hex()
    return str(v)


class EventLog:
    def __init__(self, level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
        self.level = LEVELS.get(level.lower(), 20)
        self.fmt = fmt
        self.stream = stream or sys.stderr
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()  # recorder threads log too

    def enabled(self, level: str) -> bool:
        return LEVELS.get(level, 20) >= self.level

    def event(self, level: str, event: str, *, conn: int | None = None, peer: str | None = None,
              **details: Any) -> None:
        self.counts[event] = self.counts.get(event, 0) + 1
        if LEVELS.get(level, 20) < self.level:
            return
        now = time.time()
        if self.fmt == "json":
            rec = {"ts": _ts(now), "level": level, "conn": conn, "peer": peer, "event": event}
            for k, v in details.items():
                rec[k] = _plain(v)
            line = json.dumps(rec, separators=(",", ":"), default=str)
        else:
            who = f"[{conn if conn is not None else '-'} {peer or '-'}]"
            parts = [_ts(now), level.upper(), who, event]
            for k, v in details.items():
                if v is None:
                    continue
                s = v if isinstance(v, str) else json.dumps(_plain(v), default=str)
                if isinstance(v, str) and (" " in v or "=" in v or not v):
                    s = json.dumps(v)
                parts.append(f"{k}={s}")
            line = " ".join(parts)
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass


_LOG = EventLog()


def get() -> EventLog:
    return _LOG


def setup(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> EventLog:
    global _LOG
    _LOG = EventLog(level, fmt, stream)
    return _LOG
