"""In-process fuzz targets: each ``fn(data, params)`` feeds one rtmpspec parser (see :mod:`fuzz.inproc` for the
table), plus ``classify`` (documented error or finding) and ``run_target`` (one input, bounded in time)."""

from __future__ import annotations

import os
import random
import signal
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rtmpspec import amf0, amf3, registry
from rtmpspec import messages as msgs
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.errors import DecodeError, RTMPError
from rtmpspec.message_format import Message
from rtmpspec.sentinels import NEED_DATA

MAX_INPUT = 1 << 16
SLOW_SECONDS = 2.0


class InputTimeout(BaseException):
    """Raised by the SIGALRM watchdog inside a target that runs too long (BaseException: no target catches it)."""


# -- targets ----------------------------------------------------------------------------------------------------
def _pieces(data: bytes, sizes: list[int]):
    pos = 0
    for s in sizes:
        if pos >= len(data):
            return
        yield data[pos:pos + s]
        pos += s
    if pos < len(data):
        yield data[pos:]


def t_chunkreader(data: bytes, p: dict) -> None:
    r = ChunkReader(strict=p.get("strict", True), chunk_size=p.get("chunk_size", 128),
                    max_message_size=p.get("max_message", 0xFFFFFF), record_chunks=p.get("record", False))
    for piece in _pieces(data, p.get("pieces", [])):
        r.receive_data(piece)
        for _ in range(100000):
            if r.next_message() is NEED_DATA:
                break
        _check_reader(r)


def _check_reader(r: ChunkReader) -> None:
    """The reader's documented bounds (the part of 'unbounded memory' we can check per input)."""
    if r.held > r.max_reassembly:
        raise AssertionError(f"ChunkReader holds {r.held} bytes of partial messages, limit {r.max_reassembly}")
    if r.chunk_streams > r.max_chunk_streams:
        raise AssertionError(f"ChunkReader keeps {r.chunk_streams} chunk streams, limit {r.max_chunk_streams}")
    limit = 18 + min(r.chunk_size, r.max_message_size)
    if r.pending > limit + 65536 * 4:
        raise AssertionError(f"ChunkReader buffers {r.pending} unconsumed bytes (one chunk is at most {limit})")


def _drain(conn, serve: bool = False) -> None:
    for _ in range(100000):
        ev = conn.next_event()
        if ev is NEED_DATA:
            return
        conn.data_to_send()
        if serve and isinstance(ev, msgs.Command) and ev is conn.connect_command:
            _accept(conn, ev)


def _accept(conn, cmd) -> None:
    """Answer ``connect`` as a server does: ``_result`` with the same transaction id must be allowed and must
    establish the NetConnection (whatever the id is: NaN, inf, -0.0, ...)."""
    from rtmpspec.connection import State
    from rtmpspec.errors import LocalProtocolError

    if conn.state is not State.CONNECT_PENDING:
        return
    try:
        conn.send(msgs.result(cmd.transaction_id, {"fmsVer": "FMS/3,0,1,123"},
                              {"level": "status", "code": "NetConnection.Connect.Success"}))
    except LocalProtocolError as exc:
        raise AssertionError(f"_result for connect (transaction id {cmd.transaction_id!r}) refused: {exc}") from exc
    if conn.state is not State.CONNECTED:
        raise AssertionError(f"connect answered with _result (transaction id {cmd.transaction_id!r}) but the "
                             f"connection is in state {conn.state.value}")


def _poisoned(conn, exc: RTMPError) -> None:
    """The h11 contract: after a ProtocolError the connection is in state ERROR and every later call raises the
    same error (what a server relies on when it decides whether to flush ``data_to_send()`` before closing)."""
    from rtmpspec.connection import State
    from rtmpspec.errors import ProtocolError

    if not isinstance(exc, ProtocolError):
        return
    if conn.state is not State.ERROR:
        raise AssertionError(f"connection in state {conn.state.value} after {type(exc).__name__}, not ERROR")
    try:
        conn.receive_data(b"x", 2.0)
    except ProtocolError:
        pass
    else:
        raise AssertionError("receive_data after a ProtocolError did not raise")


def t_connection(data: bytes, p: dict) -> None:
    from rtmpspec.connection import Connection, Role

    conn = Connection(Role.SERVER, strict=p.get("strict", True), handshake=p.get("handshake", True),
                      rng=random.Random(0))
    serve = p.get("serve", False)
    try:
        for piece in _pieces(data, p.get("pieces", [])):
            conn.receive_data(piece, 0.0)
            _drain(conn, serve)
            _check_reader(conn.reader)
        conn.receive_data(b"", 1.0)
        _drain(conn, serve)
    except RTMPError as exc:
        _poisoned(conn, exc)
        raise


def t_client(data: bytes, p: dict) -> None:
    from rtmpspec.connection import Connection, Role

    conn = Connection(Role.CLIENT, strict=p.get("strict", False), digest=p.get("digest", False),
                      rng=random.Random(0))
    conn.data_to_send()
    try:
        for piece in _pieces(data, p.get("pieces", [])):
            conn.receive_data(piece, 0.0)
            _drain(conn)
            if conn.handshake_info is not None and p.get("connect", True) and conn.state.value == "READY":
                conn.send(msgs.connect("live", "rtmp://127.0.0.1/live"))
        conn.receive_data(b"", 1.0)
        _drain(conn)
    except RTMPError as exc:
        _poisoned(conn, exc)
        raise


def t_handshake(data: bytes, p: dict) -> None:
    from rtmpspec import handshake as hs

    h = hs.HandshakeServer(digest=p.get("digest", "auto"), rng=random.Random(0))
    for piece in _pieces(data, p.get("pieces", [])):
        if h.complete:  # later bytes belong to the chunk stream
            break
        h.receive_data(piece)
        for _ in range(10):
            ev = h.next_event()
            h.data_to_send()
            if ev is hs.NEED_DATA or ev is hs.PAUSED:
                break


def t_amf0(data: bytes, p: dict) -> None:
    amf0.decode_all(data)


def t_amf3(data: bytes, p: dict) -> None:
    amf3.decode_all(data)


def t_command(data: bytes, p: dict) -> None:
    t = p.get("type", 20)
    m = Message(t, data, 0, 0, 3)
    if t in (20, 17):
        msgs.Command.from_message(m)
    else:
        msgs.DataMessage.from_message(m)


def t_media(data: bytes, p: dict) -> None:
    from rtmpspec import media

    if p.get("kind", "video") == "video":
        tag = media.parse_video_tag(data, strict=p.get("strict", False))
        tag.describe()
        media.is_keyframe(data)
        media.is_sequence_header(9, data)
    else:
        tag = media.parse_audio_tag(data, strict=p.get("strict", False))
        tag.describe()
        media.is_sequence_header(8, data)


def t_aggregate(data: bytes, p: dict) -> None:
    msgs.split_aggregate(Message(22, data, p.get("ts", 0), 1, 4))


def t_flv(data: bytes, p: dict) -> None:
    from rtmpspec import flv

    r = flv.FLVReader(lenient=p.get("lenient", False))
    for piece in _pieces(data, p.get("pieces", [])):
        r.receive_data(piece)
        for _ in r.events():
            pass
    r.receive_data(b"")
    for ev in r.events():
        flv.describe_tag(ev) if isinstance(ev, flv.FLVTag) else None


def t_codecs(data: bytes, p: dict) -> None:
    codec = registry.get(p["codec"])
    if codec.streaming and codec.parse_pieces is not None and p.get("pieces"):
        codec.parse_pieces(list(_pieces(data, p["pieces"])))
    else:
        codec.parse(data)


def t_roundtrip(data: bytes, p: dict) -> None:
    """``data`` was built from a schema draw: parsing it must not fail (no documented error either)."""
    codec = registry.get(p["codec"])
    try:
        codec.parse(data)
    except DecodeError as exc:
        raise AssertionError(f"{p['codec']}: bytes built from a drawn value do not parse: {exc}") from exc


def t_control(data: bytes, p: dict) -> None:
    """One protocol / user control message (type 1..6) through a server Connection after the handshake."""
    from rtmpspec.chunkheader import build_header
    from rtmpspec.connection import Connection, Role

    conn = Connection(Role.SERVER, strict=p.get("strict", True), handshake=False)
    t = p.get("type", 4)
    conn.receive_data(build_header(0, 2, 0, len(data) & 0xFFFFFF, t, p.get("msid", 0)) + data[:128], 0.0)
    _drain(conn)


def t_dissect(data: bytes, p: dict) -> None:
    from rtmpspec import dissect

    dissect.describe_message(Message(p.get("type", 20), data, 0, 0, 3))


TARGETS: dict[str, Callable[[bytes, dict], None]] = {
    "chunkreader": t_chunkreader, "connection": t_connection, "client": t_client, "handshake": t_handshake,
    "amf0": t_amf0, "amf3": t_amf3, "command": t_command, "media": t_media, "aggregate": t_aggregate,
    "flv": t_flv, "codecs": t_codecs, "control": t_control, "dissect": t_dissect, "roundtrip": t_roundtrip,
}
SCHEDULED = tuple(t for t in TARGETS if t != "roundtrip")  # round trips are checked on every fresh schema draw
# share of CPU time per target (inputs per second then follow each parser's speed)
WEIGHTS = {"chunkreader": 14, "connection": 7, "client": 3, "handshake": 4, "amf0": 10, "amf3": 10,
           "command": 5, "media": 10, "aggregate": 6, "flv": 12, "codecs": 16, "control": 8, "dissect": 10}


def classify(exc: BaseException) -> str | None:
    """None for a documented error; else the finding's signature: type + message shape + innermost frames."""
    if isinstance(exc, RTMPError) and not isinstance(exc, AssertionError):
        return None
    from .target import normalize

    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/rtmpspec/" in f.filename] or [f for f in frames if "/construct/" in f.filename] \
        or frames[-1:]
    where = " <- ".join(f"{os.path.basename(f.filename)}:{f.name}" for f in reversed(ours[-3:]))
    if isinstance(exc, RecursionError):
        msg = "maximum recursion depth exceeded"
    else:
        msg = normalize(str(exc), 80)
    return f"{type(exc).__name__}: {msg} at {where}"


def run_target(name: str, data: bytes, params: dict, *, timeout: float | None = None) -> BaseException | None:
    """Run one input; return the exception it raised (documented or not), or None."""
    fn = TARGETS[name]
    if timeout:
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        fn(data, params)
    except InputTimeout as exc:
        return exc
    except RecursionError as exc:
        return exc
    except BaseException as exc:  # noqa: BLE001 - any exception is data here
        if isinstance(exc, KeyboardInterrupt):
            raise
        return exc
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return None


def on_alarm(signum, frame):
    raise InputTimeout("input took too long")


@contextmanager
def watchdog() -> Iterator[None]:
    """While inside, ``run_target(..., timeout=...)`` turns an input that runs too long into :class:`InputTimeout`
    (the SIGALRM handler); afterwards any pending alarm is cancelled and the previous handler is back."""
    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
