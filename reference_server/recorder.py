"""FLV recording of a published stream (one file per publish session).

The event loop only appends FLV tags (built by :class:`rtmpspec.flv.FLVWriter`) to an in-memory buffer; every
``flush_interval`` seconds or ``flush_bytes`` bytes the buffer goes to a writer thread through a queue bounded in
bytes, so disk latency never blocks the loop. Every tag carries its PreviousTagSize, so the file is a valid FLV
up to the last flushed tag at any moment, also after ``kill -9`` of the server. ``close()`` flushes, fsyncs and
closes. A disk error (ENOSPC, EIO, EACCES, ...) or a full queue stops the recording with one log line; the live
stream is not affected.

Timestamps are rebased so that the file starts at 0 (the first media message of the session). A publish of
type ``append`` (RTMP 7.2.2.6) continues the key's newest recording instead: the file is cut back to its last
complete tag and the new session's tags follow with timestamps after the file's last one.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from collections.abc import Callable

from rtmpspec import amf0
from rtmpspec.flv import FLVWriter

from . import logs

_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def sanitize(name: str) -> str:
    s = re.sub(r"\.{2,}", "_", _SAFE.sub("_", name)).lstrip(".") or "_"
    return s[:128]


def record_path(record_dir: str, app: str, name: str, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    return os.path.join(record_dir, sanitize(app), f"{sanitize(name)}-{stamp}.flv")


def latest_recording(record_dir: str, app: str, name: str) -> str | None:
    """The newest recording of ``app/name`` (what a publish of type ``append`` continues)."""
    d = os.path.join(record_dir, sanitize(app))
    prefix = sanitize(name) + "-"
    try:
        files = [os.path.join(d, f) for f in os.listdir(d) if f.startswith(prefix) and f.endswith(".flv")]
    except OSError:
        return None
    return max(files, key=os.path.getmtime) if files else None


def flv_end(path: str) -> tuple[int, int] | None:
    """(offset after the last complete tag, last timestamp) of an FLV, read with rtmpspec's FLV reader; None if
    the file does not start as an FLV."""
    from rtmpspec.flv import FLVHeaderEvent, FLVReader, FLVTag
    from rtmpspec.sentinels import END, NEED_DATA

    r = FLVReader(lenient=True)
    end, last_ts, seen_header = 0, 0, False
    with open(path, "rb") as f:
        while True:
            data = f.read(1 << 20)
            r.receive_data(data)
            while True:
                try:
                    ev = r.next_event()
                except Exception:  # damaged tail: keep what was complete
                    return (end, last_ts) if seen_header else None
                if ev is NEED_DATA or ev is END:
                    break
                if isinstance(ev, FLVHeaderEvent):
                    seen_header = True
                    end = r.offset  # header + PreviousTagSize0
                elif isinstance(ev, FLVTag):
                    end = ev.offset + 11 + len(ev.data) + 4
                    last_ts = max(last_ts, ev.timestamp)
            if not data:
                break
    return (end, last_ts) if seen_header else None


class Recorder:
    def __init__(self, path: str, *, conn: int | None = None, peer: str | None = None,
                 flush_bytes: int = 256 * 1024, queue_bytes: int = 64 * 1024 * 1024,
                 notify: Callable[[Callable[[], None]], None] | None = None, exclusive: bool = True,
                 append: bool = False) -> None:
        """Open ``path`` (creating its directory; a name taken already gets a ``-N`` suffix). Raises OSError."""
        self.conn, self.peer = conn, peer
        self.flush_bytes = flush_bytes
        self.queue_bytes = queue_bytes
        self._notify = notify  # runs a callable on the event loop thread (loop.call_soon_threadsafe)
        self.failed: str | None = None
        self.closed = False
        self.bytes = 0
        self.tags = 0
        self._first_ts: int | None = None
        self._base_ts = 0  # appended sessions continue after the file's last timestamp
        self._flv = FLVWriter()
        self._buf = bytearray(self._flv.header(audio=True, video=True))
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._queued = 0
        self._lock = threading.Lock()
        end = flv_end(path) if append and os.path.exists(path) else None
        if end is not None and end[0] > 0:
            self.path, self._fd = path, os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
            os.ftruncate(self._fd, end[0])
            os.lseek(self._fd, end[0], os.SEEK_SET)
            self._buf.clear()  # the file has its header already
            self._base_ts = end[1] + 1
        else:
            self.path, self._fd = self._open(path, exclusive)
        self._thread = threading.Thread(target=self._run, name=f"recorder-{conn}", daemon=True)
        self._thread.start()
        self._log("info", "record_start", path=self.path)

    @staticmethod
    def _open(path: str, exclusive: bool) -> tuple[str, int]:
        d = os.path.dirname(path)
        if d:
            os.makedirs(d, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        if not exclusive:
            return path, os.open(path, flags | os.O_TRUNC, 0o644)
        base, ext = os.path.splitext(path)
        for i in range(1000):
            p = path if i == 0 else f"{base}-{i}{ext}"
            try:
                return p, os.open(p, flags | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
        raise FileExistsError(path)

    def _log(self, level: str, event: str, **kw) -> None:
        logs.get().event(level, event, conn=self.conn, peer=self.peer, **kw)

    # -- event loop side ------------------------------------------------------------------------------------
    def metadata(self, obj) -> None:
        if self.failed or self.closed:
            return
        self._append(18, 0, amf0.encode_all(["onMetaData", obj]))

    def media(self, type_id: int, timestamp: int, payload: bytes) -> None:
        if self.failed or self.closed:
            return
        if self._first_ts is None:
            self._first_ts = timestamp
        ts = (timestamp - self._first_ts) & 0xFFFFFFFF
        if ts > 0x7FFFFFFF:  # went backwards
            ts = 0
        self._append(type_id, (ts + self._base_ts) & 0x7FFFFFFF, payload)

    def _append(self, type_id: int, ts: int, payload: bytes) -> None:
        self._buf += self._flv.tag(type_id, ts, payload)
        self.tags += 1
        if len(self._buf) >= self.flush_bytes:
            self.flush()

    def flush(self) -> None:
        if not self._buf or self.failed or self.closed:
            return
        data = bytes(self._buf)
        self._buf.clear()
        with self._lock:
            if self._queued + len(data) > self.queue_bytes:
                over = True
            else:
                over = False
                self._queued += len(data)
        if over:
            self._fail(f"writer queue over {self.queue_bytes} bytes: the disk is too slow")
            return
        self._q.put(data)

    def close(self, timeout: float | None = None) -> None:
        """Flush and let the writer thread fsync and close the file; wait for it only when ``timeout`` is given
        (shutdown), so an unpublish never blocks the event loop on the disk."""
        if self.closed:
            return
        self.flush()
        self.closed = True
        self._q.put(None)
        if timeout is not None:
            self._thread.join(timeout)

    @staticmethod
    def join_all(timeout: float = 3.0) -> None:
        """Wait (at most ``timeout`` seconds in all) for every recording's writer thread to finish."""
        deadline = time.monotonic() + timeout
        for t in threading.enumerate():
            if t.name.startswith("recorder-"):
                t.join(max(0.0, deadline - time.monotonic()))

    def _fail(self, why: str) -> None:
        if self.failed:
            return
        self.failed = why
        self._buf.clear()
        self._q.put(None)
        self._log("error", "record_error", path=self.path, error=why)

    # -- writer thread --------------------------------------------------------------------------------------
    def _run(self) -> None:
        fd = self._fd
        error = None
        while True:
            item = self._q.get()
            if item is None:
                break
            with self._lock:
                self._queued -= len(item)
            if error is not None:
                continue
            try:
                view = memoryview(item)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                self.bytes += len(item)
            except OSError as exc:
                error = f"{exc.strerror or exc} (errno {exc.errno})"
                self._report(error)
        try:
            if error is None:
                os.fsync(fd)
        except OSError as exc:
            error = f"fsync: {exc.strerror or exc} (errno {exc.errno})"
            self._report(error)
        finally:
            os.close(fd)
        self._log("info", "record_stop", path=self.path, bytes=self.bytes, tags=self.tags, error=self.failed or error)

    def _report(self, why: str) -> None:
        if self._notify is not None:
            try:
                self._notify(lambda: self._fail(why))
                return
            except RuntimeError:  # loop closed
                pass
        self._fail(why)
