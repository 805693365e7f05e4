"""Sans-I/O RTMP chunk stream writer (RTMP 1.0 section 5.3, errata 4-6): messages in, chunk bytes out.

``ChunkWriter`` chooses the header compression (fmt 0/1/2/3) per chunk stream. ``chunk_message`` is the stateless
form (Type 0 then Type 3 chunks) whose output can be shared by every subscriber of a relayed stream;
:class:`SharedOutput` accounts for such shared bytes in every :class:`rtmpspec.connection.Connection` they were
written to.
"""

from __future__ import annotations

from .chunkheader import (
    EXTENDED_TIMESTAMP_MARK,
    MAX_CSID,
    MIN_CSID,
    build_basic_header,
    build_header,
)
from .errors import LocalProtocolError
from .message_format import Message

__all__ = ["ChunkWriter", "SharedOutput", "chunk_message", "type0_header", "DEFAULT_CHUNK_SIZE", "MAX_CHUNK_SIZE",
           "MAX_MESSAGE_LENGTH"]

DEFAULT_CHUNK_SIZE = 128  # RTMP 5.4.1
MAX_CHUNK_SIZE = 0xFFFFFF  # RTMP 5.4.1: "the maximum chunk size is 16777215"
MAX_MESSAGE_LENGTH = 0xFFFFFF  # 24-bit message length (RTMP 5.3.1.2.1)
_U32 = 0xFFFFFFFF


class _OutState:
    __slots__ = ("timestamp", "delta", "length", "type_id", "msid", "delta_set")

    def __init__(self, timestamp, delta, length, type_id, msid, delta_set):
        self.timestamp = timestamp
        self.delta = delta
        self.length = length
        self.type_id = type_id
        self.msid = msid
        self.delta_set = delta_set


def _check(msg: Message) -> None:
    if not MIN_CSID <= msg.csid <= MAX_CSID:
        raise LocalProtocolError(f"chunk stream id {msg.csid} outside 2..65599 (RTMP 5.3.1.1)")
    if len(msg.payload) > MAX_MESSAGE_LENGTH:
        raise LocalProtocolError(f"message of {len(msg.payload)} bytes exceeds 16777215 (RTMP 5.3.1.2.1)")


def _chunks(first_header: bytes, cont_header: bytes, payload: bytes, chunk_size: int) -> bytes:
    n = len(payload)
    if n <= chunk_size:
        return first_header + payload
    with memoryview(payload) as view:  # slices of a view: the payload is copied once, by the join
        parts = [first_header, view[:chunk_size]]
        for i in range(chunk_size, n, chunk_size):
            parts.append(cont_header)
            parts.append(view[i:i + chunk_size])
        data = b"".join(parts)
        del parts
    return data


def type0_header(csid: int, timestamp: int, length: int, type_id: int, msid: int) -> bytes:
    """A Type 0 chunk header (RTMP 5.3.1.2.1, extended timestamp 5.3.1.3) by integer arithmetic: the fan-out's
    fast path, as its timestamp and length change with every message (a memo would never hit).
    tests/test_server_fanout.py proves it equal to :func:`build_header` (the schema) over every field range."""
    if timestamp >= EXTENDED_TIMESTAMP_MARK:
        return (build_basic_header(0, csid) + ((EXTENDED_TIMESTAMP_MARK << 32) | (length << 8) | type_id).to_bytes(
            7, "big") + msid.to_bytes(4, "little") + timestamp.to_bytes(4, "big"))
    return (build_basic_header(0, csid) + ((timestamp << 32) | (length << 8) | type_id).to_bytes(7, "big")
            + msid.to_bytes(4, "little"))


def chunk_message(msg: Message, chunk_size: int, *, msid: int | None = None, csid: int | None = None) -> bytes:
    """Stateless chunking: a Type 0 header, then Type 3 headers (with the extended timestamp repeated on every
    one of them while it is in use, errata 5.1). The result is valid whatever the receiver's state, so a relay
    can chunk a message once and write the same bytes to every subscriber with the same chunk size and
    message stream id (``msid`` / ``csid`` replace the message's own, so a relayed message needs no copy);
    :meth:`rtmpspec.connection.Connection.send_shared` accounts for such bytes."""
    csid = msg.csid if csid is None else csid
    msid = msg.msid if msid is None else msid
    payload = msg.payload
    n = len(payload)
    if not MIN_CSID <= csid <= MAX_CSID or n > MAX_MESSAGE_LENGTH or not 0 <= msid <= _U32:
        _check(Message(msg.type_id, payload, msg.timestamp, msid, csid))
    ts = msg.timestamp & _U32
    first = type0_header(csid, ts, n, msg.type_id, msid)
    if n <= chunk_size:
        return first + payload
    if ts < EXTENDED_TIMESTAMP_MARK:
        cont = build_basic_header(3, csid)
    else:
        cont = build_header(3, csid, type3_extended_value=ts)
    return _chunks(first, cont, payload, chunk_size)


class SharedOutput:
    """Chunks made once by :func:`chunk_message` and written to many connections (a relay's group of players):
    the bytes produced so far and the chunk streams they used. A connection attached to it
    (:meth:`rtmpspec.connection.Connection.attach_shared`) counts those bytes as its own and, before it chunks a
    message itself, restarts those chunk streams with a Type 0 header (RTMP 5.3.1.2): the producer accounts once
    per batch for every subscriber, with no call per subscriber."""

    __slots__ = ("bytes", "csids")

    def __init__(self) -> None:
        self.bytes = 0
        self.csids: set[int] = set()

    def add(self, nbytes: int, csids) -> None:
        """``nbytes`` more were written to every attached connection, on ``csids``."""
        self.bytes += nbytes
        self.csids.update(csids)


class ChunkWriter:
    """Chunk outgoing messages, compressing headers against per chunk stream state (RTMP 5.3.1.2).

    Choice of header: Type 0 for a chunk stream's first message, a new message stream id or a timestamp going
    backwards; Type 1 when length or type changes; Type 2 when only the timestamp delta changes; Type 3 when the
    delta equals the previous Type 1/2 delta (RTMP 5.3.2.1, example 1). ``type3_after_type0`` allows a Type 3
    right after a Type 0 when the delta equals that Type 0 timestamp, as RTMP 5.3.1.2.4 permits; it is off by
    default because receivers disagree on it.
    """

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE, *, compress: bool = True,
                 type3_after_type0: bool = False) -> None:
        self.chunk_size = chunk_size
        self.compress = compress
        self.type3_after_type0 = type3_after_type0
        self._streams: dict[int, _OutState] = {}
        self.bytes_written = 0

    def set_chunk_size(self, size: int) -> None:
        """Use ``size`` for chunks written from now on (send Set Chunk Size first, at the old size)."""
        if not 1 <= size <= MAX_CHUNK_SIZE:
            raise LocalProtocolError(f"chunk size {size} outside 1..16777215 (RTMP 5.4.1)")
        self.chunk_size = size

    def write(self, msg: Message, *, fmt: int | None = None) -> bytes:
        _check(msg)
        ts = msg.timestamp & _U32
        n = len(msg.payload)
        st = self._streams.get(msg.csid)
        if fmt is None:
            fmt = self._choose(st, msg, ts, n)
        elif fmt != 0 and st is None:
            raise LocalProtocolError(f"fmt {fmt} needs previous state on chunk stream {msg.csid}")
        if fmt == 0:
            tsf = ts
            self._streams[msg.csid] = _OutState(ts, ts, n, msg.type_id, msg.msid, False)
        elif fmt == 1 or fmt == 2:
            tsf = (ts - st.timestamp) & _U32
            st.timestamp, st.delta, st.length, st.type_id, st.delta_set = ts, tsf, n, msg.type_id, True
        else:
            tsf = st.delta
            st.timestamp = ts
        first = build_header(fmt, msg.csid, tsf, n, msg.type_id, msg.msid,
                             type3_extended_value=(tsf if tsf >= EXTENDED_TIMESTAMP_MARK else None)
                             if fmt == 3 else None)
        cont = build_header(3, msg.csid,
                            type3_extended_value=tsf if tsf >= EXTENDED_TIMESTAMP_MARK else None)
        data = _chunks(first, cont, msg.payload, self.chunk_size)
        self.bytes_written += len(data)
        return data

    def _choose(self, st, msg: Message, ts: int, n: int) -> int:
        if st is None or not self.compress or st.msid != msg.msid or ts < st.timestamp:
            return 0
        if st.length != n or st.type_id != msg.type_id:
            return 1
        delta = ts - st.timestamp
        if delta == st.delta and (st.delta_set or self.type3_after_type0):
            return 3
        return 2

    def write_shared(self, nbytes: int, csids) -> None:
        """Account for ``nbytes`` of chunks made elsewhere by :func:`chunk_message` (shared across subscribers)
        and written to the same peer: they count as written, and the writer forgets its state for ``csids``, so
        its next message on any of them starts with a Type 0 header (the shared chunks began with Type 0 headers
        and changed what the receiver holds for those chunk streams: RTMP 5.3.1.2)."""
        self.bytes_written += nbytes
        streams = self._streams
        if streams:
            for csid in csids:
                if csid in streams:
                    del streams[csid]

    def forget(self, csid: int) -> None:
        """The next message on ``csid`` starts with a Type 0 header (bytes written around this writer changed what
        the receiver holds for that chunk stream)."""
        self._streams.pop(csid, None)
