"""Sans-I/O RTMP chunk stream codec (RTMP 1.0 section 5.3, errata 4-6).

``ChunkReader``: bytes in, complete messages out. Framing first: the length of a chunk header is known from its
first byte (basic header form and fmt), from the 24-bit timestamp field (extended timestamp present?) and, for
Type 3 chunks, from the chunk stream's state; only then is exactly that slice handed to the construct schema
:data:`rtmpspec.chunk.ChunkHeader`. Parsed headers are memoised by their bytes (a header's meaning depends only on
its bytes and the Type 3 extended-timestamp flag, both part of the key), so the steady state of a live stream,
where Type 3 and repeating Type 2 headers dominate, never re-parses.

``ChunkWriter``: messages in, chunk bytes out, choosing header compression (fmt 0/1/2/3) per chunk stream.
``chunk_message`` is the stateless form (Type 0 then Type 3 chunks) whose output can be shared by every
subscriber of a relayed stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import control
from .chunk import (
    EXTENDED_TIMESTAMP_MARK,
    MAX_CSID,
    MESSAGE_HEADER_LENGTH,
    MIN_CSID,
    ChunkBasicHeaderCompiled,
    ChunkHeader,
    ChunkMessageHeaderCompiled,
    basic_header_fields,
)
from .errors import LimitExceeded, LocalProtocolError, ProtocolError

__all__ = ["Message", "ChunkReader", "ChunkWriter", "ChunkInfo", "SharedOutput", "chunk_message", "type0_header",
           "NEED_DATA"]

DEFAULT_CHUNK_SIZE = 128  # RTMP 5.4.1
MAX_CHUNK_SIZE = 0xFFFFFF  # RTMP 5.4.1: "the maximum chunk size is 16777215"
MAX_MESSAGE_LENGTH = 0xFFFFFF  # 24-bit message length (RTMP 5.3.1.2.1)
_U32 = 0xFFFFFFFF


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True, slots=True)
class Message:
    """One RTMP message (RTMP 6.1): header fields plus the payload bytes."""

    type_id: int
    payload: bytes
    timestamp: int = 0
    msid: int = 0
    csid: int = 3

    @property
    def length(self) -> int:
        return len(self.payload)


@dataclass(frozen=True, slots=True)
class ChunkInfo:
    """One chunk as it was on the wire (recorded only when ``record_chunks`` is on)."""

    offset: int
    fmt: int
    csid: int
    header: bytes
    payload_length: int
    header_fields: dict
    payload: bytes = b""
    discarded: list = None  # [True] once an Abort discarded this chunk's message (mutable flag)


class _InState:
    __slots__ = ("timestamp", "delta", "length", "type_id", "msid", "extended", "ext_value",
                 "parts", "received", "started", "first_offset")

    def __init__(self) -> None:
        self.timestamp = 0
        self.delta = 0  # timestamp field of the last Type 0/1/2 header (RTMP 5.3.1.2.4)
        self.length = 0
        self.type_id = 0
        self.msid = 0
        self.extended = False  # last Type 0/1/2 header had an extended timestamp (errata 5.1)
        self.ext_value = 0
        self.parts: list[bytes] = []
        self.received = 0
        self.started = False  # a Type 0 (or lenient Type 1) header established this chunk stream
        self.first_offset = 0


class ChunkReader:
    """Reassemble RTMP messages from the chunk stream of one direction.

    Limits (all configurable) bound memory: ``max_message_size`` (per message), ``max_chunk_streams`` (live chunk
    stream states), ``max_chunk_size`` (largest Set Chunk Size accepted) and ``max_reassembly`` (bytes held in
    partial messages across all chunk streams). Set Chunk Size and Abort are applied here, at the chunk layer
    (RTMP 5.4.1, 5.4.2), and still returned as messages. ``strict`` turns interop leniencies off.
    """

    def __init__(
        self,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_message_size: int = MAX_MESSAGE_LENGTH,
        max_chunk_streams: int = 64,
        max_chunk_size: int = 0x7FFFFFFF,
        max_reassembly: int | None = None,
        strict: bool = True,
        record_chunks: bool = False,
        offset: int = 0,
    ) -> None:
        self.chunk_size = chunk_size
        self.max_message_size = max_message_size
        self.max_chunk_streams = max_chunk_streams
        self.max_chunk_size = max_chunk_size
        self.max_reassembly = max_reassembly if max_reassembly is not None else 2 * max_message_size
        self.strict = strict
        self.record_chunks = record_chunks
        self.chunks: list[ChunkInfo] = []
        self._recorded: dict[int, list[ChunkInfo]] = {}  # chunks of partial messages (record_chunks only)
        self._buf = bytearray()
        self._pos = 0
        self._base = offset  # stream offset of _buf[0]
        self._streams: dict[int, _InState] = {}
        self._held = 0  # bytes in partial messages
        self._cache: dict[tuple[bytes, bool], tuple] = {}
        self._error: ProtocolError | None = None
        self.bytes_received = 0

    # -- input ---------------------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        if data:
            self._buf += data
            self.bytes_received += len(data)

    @property
    def offset(self) -> int:
        """Stream offset of the next unconsumed byte."""
        return self._base + self._pos

    @property
    def pending(self) -> int:
        """Bytes received but not yet consumed as complete chunks."""
        return len(self._buf) - self._pos

    def take_unconsumed(self) -> bytes:
        data = bytes(self._buf[self._pos:])
        self._base += len(self._buf)
        self._buf.clear()
        self._pos = 0
        return data

    def set_chunk_size(self, size: int, *, at: int | None = None) -> None:
        if size < 1 or size > 0x7FFFFFFF:
            self._fail(ProtocolError(f"Set Chunk Size {size} is out of range 1..2147483647",
                                     offset=at, field="chunkSize", section="RTMP 5.4.1"))
        if size > self.max_chunk_size:
            self._fail(LimitExceeded(f"Set Chunk Size {size} exceeds the limit {self.max_chunk_size}",
                                     offset=at, field="chunkSize", section="RTMP 5.4.1"))
        # RTMP 5.4.1: sizes above 16777215 are valid and all equivalent (no message is larger)
        self.chunk_size = min(size, MAX_CHUNK_SIZE)

    def abort(self, csid: int) -> None:
        """Discard the partial message on ``csid`` (RTMP 5.4.2, errata 6)."""
        st = self._streams.get(csid)
        if st is not None and st.received:
            self._held -= st.received
            st.parts = []
            st.received = 0
            for info in self._recorded.pop(csid, ()):
                info.discarded.append(True)

    # -- output --------------------------------------------------------------------------------------------
    def next_message(self):
        """Return the next complete :class:`Message`, or ``NEED_DATA``."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except ProtocolError as exc:
            self._fail(exc)

    def __iter__(self):
        while True:
            m = self.next_message()
            if m is NEED_DATA:
                return
            yield m

    def _fail(self, exc: ProtocolError):
        self._error = exc
        raise exc

    def _next(self):
        buf = self._buf
        cache = self._cache
        streams = self._streams
        while True:
            pos = self._pos
            avail = len(buf) - pos
            if avail < 1:
                self._compact()
                return NEED_DATA
            b0 = buf[pos]
            fmt = b0 >> 6
            low = b0 & 0x3F
            if low >= 2:
                bh = 1
                csid = low
            elif low == 0:
                bh = 2
                if avail < 2:
                    return self._need()
                csid = buf[pos + 1] + 64
            else:
                bh = 3
                if avail < 3:
                    return self._need()
                csid = buf[pos + 1] + (buf[pos + 2] << 8) + 64
            hl = bh + MESSAGE_HEADER_LENGTH[fmt]
            if avail < hl:
                return self._need()
            st = streams.get(csid)
            if fmt < 3:
                ext3 = False
                if buf[pos + bh] == 0xFF and buf[pos + bh + 1] == 0xFF and buf[pos + bh + 2] == 0xFF:
                    hl += 4
            else:
                ext3 = st is not None and st.extended
                if ext3:
                    hl += 4
            if avail < hl:
                return self._need()
            if fmt < 2:  # a Type 0/1 header carries the message length: it rarely repeats, memoising would churn
                parsed = self._parse_header(buf[pos:pos + hl], ext3, pos)
            else:
                key = (bytes(buf[pos:pos + hl]), ext3)
                parsed = cache.get(key)
                if parsed is None:
                    parsed = self._parse_header(key[0], ext3, pos)
                    if len(cache) >= 4096:
                        cache.clear()
                    cache[key] = parsed
            # parsed = (fmt, csid, tsfield, length, type_id, msid, ext)
            if st is None:
                if fmt != 0 and (self.strict or fmt != 1):
                    raise ProtocolError(
                        f"first chunk on chunk stream {csid} has fmt {fmt}; a new chunk stream must start "
                        f"with a Type 0 header", offset=self.offset, field="fmt", section="RTMP 5.3.1.2.1")
                if len(streams) >= self.max_chunk_streams:
                    raise LimitExceeded(
                        f"chunk stream {csid} would be chunk stream number {len(streams) + 1}; the limit is "
                        f"{self.max_chunk_streams}", offset=self.offset, field="chunkStreamID",
                        section="RTMP 5.3.1.1")
                st = _InState()
            in_progress = st.received > 0
            if fmt == 3:
                if not st.started:
                    raise ProtocolError(f"Type 3 chunk on chunk stream {csid} with no previous header",
                                        offset=self.offset, field="fmt", section="RTMP 5.3.1.2.4")
                if in_progress:
                    if ext3 and parsed[6] != st.ext_value:
                        if self.strict:
                            raise ProtocolError(
                                f"extended timestamp {parsed[6]} on a Type 3 continuation chunk differs from "
                                f"the message's {st.ext_value}", offset=self.offset + hl - 4,
                                field="extendedTimestamp", section="RTMP 5.3.1.3, errata 5.1")
                        # lenient: a peer that omits the field on continuation chunks (nginx-rtmp): the 4 bytes
                        # are payload
                        hl -= 4
                    length = st.length
                else:
                    length = st.length
            else:
                if in_progress:
                    if self.strict:
                        raise ProtocolError(
                            f"Type {fmt} header on chunk stream {csid} while {st.length - st.received} bytes of "
                            f"the previous message are outstanding", offset=self.offset, field="fmt",
                            section="RTMP 5.3.1.2")
                    self.abort(csid)
                    in_progress = False
                length = parsed[3] if fmt < 2 else st.length
                if length > self.max_message_size:
                    raise LimitExceeded(
                        f"message length {length} exceeds the limit {self.max_message_size}",
                        offset=self.offset + bh + 3, field="messageLength", section="RTMP 5.3.1.2.1")
            remaining = length - st.received if in_progress else length
            size = remaining if remaining < self.chunk_size else self.chunk_size
            if avail < hl + size:
                return self._need(hl + size)
            # -- commit this chunk ---------------------------------------------------------------------------
            if csid not in streams:
                streams[csid] = st
            offset = self.offset
            if not in_progress:
                if fmt == 0:
                    st.msid = parsed[5]
                    st.type_id = parsed[4]
                    st.length = length
                    tsf = parsed[6] if parsed[2] == EXTENDED_TIMESTAMP_MARK else parsed[2]
                    st.timestamp = tsf
                    st.delta = tsf
                    st.extended = parsed[2] == EXTENDED_TIMESTAMP_MARK
                    st.ext_value = tsf
                    st.started = True
                elif fmt == 1 or fmt == 2:
                    if fmt == 1:
                        st.type_id = parsed[4]
                        st.length = length
                        st.started = True
                    tsf = parsed[6] if parsed[2] == EXTENDED_TIMESTAMP_MARK else parsed[2]
                    st.delta = tsf
                    st.extended = parsed[2] == EXTENDED_TIMESTAMP_MARK
                    st.ext_value = tsf
                    st.timestamp = (st.timestamp + tsf) & _U32
                else:  # Type 3 starting a new message: the last delta again (RTMP 5.3.1.2.4)
                    st.timestamp = (st.timestamp + st.delta) & _U32
                st.first_offset = offset
            if self.record_chunks:
                info = ChunkInfo(offset, fmt, csid, bytes(buf[pos:pos + hl]), size,
                                 self._fields(bytes(buf[pos:pos + hl]), ext3 and hl > bh), bytes(buf[pos + hl:pos + hl + size]),
                                 [])
                self.chunks.append(info)
                self._recorded.setdefault(csid, []).append(info)
            start = pos + hl
            if not in_progress and size == length:
                self._pos = start + size
                with memoryview(buf) as view:  # one copy (a bytearray slice would copy twice)
                    payload = bytes(view[start:start + size])
            else:
                payload = self._gather(st, csid, start, size, length)
                if payload is None:
                    continue
                self._recorded.pop(csid, None)
            msg = Message(st.type_id, payload, st.timestamp, st.msid, csid)
            if self.record_chunks:
                self._recorded.pop(csid, None)
            if st.msid == 0 and st.type_id <= control.ABORT and st.type_id > 0:
                self._apply_control(msg, st.first_offset)
            return msg

    def _gather(self, st: _InState, csid: int, start: int, size: int, length: int) -> bytes | None:
        """Take the chunk payload at ``start`` (``size`` bytes) of the message in progress on ``csid`` and, while
        they follow back to back, its next chunks (one-byte Type 3 headers of the same chunk stream, no extended
        timestamp: what a publisher sends for a large frame), each exactly as ``_next`` would take it, with the
        same limit on bytes held. Returns the payload once the message is complete (copied once, from views of
        the buffer), else None with the pieces kept in ``st.parts``; anything else is left to ``_next``."""
        buf = self._buf
        with memoryview(buf) as view:
            pieces = [view[start:start + size]]
            pos = start + size
            received = st.received + size
            held = self._held + size
            limit = self.max_reassembly
            chunk_offset = self._base + self._pos
            if held <= limit and received < length and not st.extended and not self.record_chunks:
                head = build_basic_header(3, csid)
                hl = len(head)
                size_max = self.chunk_size
                end = len(buf)
                while received < length:
                    size = length - received
                    if size > size_max:
                        size = size_max
                    at = pos + hl
                    if at + size > end or view[pos:at] != head:
                        break
                    pieces.append(view[at:at + size])
                    chunk_offset = self._base + pos
                    pos = at + size
                    received += size
                    held += size
                    if held > limit:
                        break
            if held > limit:
                st.parts.extend(bytes(p) for p in pieces)
                del pieces
                st.received = received
                self._held = held
                self._pos = pos
                raise LimitExceeded(f"{held} bytes held in partial messages exceed the limit {limit}",
                                    offset=chunk_offset, section="RTMP 5.3.2")
            self._pos = pos
            if received < length:
                st.parts.extend(bytes(p) for p in pieces)
                del pieces
                st.received = received
                self._held = held
                return None
            payload = b"".join(st.parts + pieces) if st.parts else b"".join(pieces)
            del pieces
        self._held -= st.received
        st.parts = []
        st.received = 0
        return payload

    def _apply_control(self, msg: Message, offset: int) -> None:
        if msg.type_id == control.SET_CHUNK_SIZE:
            if len(msg.payload) != 4:
                raise ProtocolError(f"Set Chunk Size payload is {len(msg.payload)} bytes, expected 4",
                                    offset=offset, field="messageLength", section="RTMP 5.4.1")
            v = control._SET_CHUNK_SIZE_C.parse(msg.payload)
            # bit 31 is reserved (RTMP 1.0 5.4.1: the sender keeps it 0); errata 2: a receiver ignores reserved
            # fields, so the size is the low 31 bits
            self.set_chunk_size(v.chunkSize, at=offset)
        elif msg.type_id == control.ABORT:
            if len(msg.payload) != 4:
                raise ProtocolError(f"Abort payload is {len(msg.payload)} bytes, expected 4",
                                    offset=offset, field="messageLength", section="RTMP 5.4.2")
            self.abort(int.from_bytes(msg.payload, "big"))

    def _need(self, want: int = 18):
        # The buffer never holds more than one incomplete chunk once drained: bound it (h11 style).
        limit = 18 + min(self.chunk_size, self.max_message_size)
        if len(self._buf) - self._pos > limit:
            raise LimitExceeded(f"{len(self._buf) - self._pos} bytes buffered for one chunk exceed {limit}",
                                offset=self.offset, section="RTMP 5.3.1")
        self._compact()
        return NEED_DATA

    def _compact(self) -> None:
        if self._pos:
            del self._buf[:self._pos]
            self._base += self._pos
            self._pos = 0

    def _parse_header(self, header: bytes, ext3: bool, pos: int) -> tuple:
        """(fmt, csid, timestamp field, length, type id, msid, extended timestamp) of one framed header, by
        integer arithmetic on the fixed offsets of RTMP 5.3.1 (the memo in ``_next`` misses on every Type 0/1
        header of a live stream: their lengths change). tests/test_chunk.py proves it equals the interpreted
        ChunkHeader schema for every header the schema can express."""
        n = len(header)
        low = header[0] & 0x3F if n else 0
        bh = 1 if low >= 2 else 2 if low == 0 else 3
        fmt = header[0] >> 6 if n else 0
        mh = MESSAGE_HEADER_LENGTH[fmt]
        tsf = int.from_bytes(header[bh:bh + 3], "big") if fmt < 3 else None
        ext = (tsf == EXTENDED_TIMESTAMP_MARK) if fmt < 3 else ext3
        if n < bh + mh + (4 if ext else 0):
            raise ProtocolError(f"chunk header does not parse: {n} bytes for a Type {fmt} header",
                                offset=self._base + pos, section="RTMP 5.3.1")
        csid = low if low >= 2 else header[1] + 64 if low == 0 else header[1] + (header[2] << 8) + 64
        h = bh + mh
        ets = int.from_bytes(header[h:h + 4], "big") if ext else None
        if fmt == 0:
            return (0, csid, tsf, int.from_bytes(header[bh + 3:bh + 6], "big"), header[bh + 6],
                    int.from_bytes(header[bh + 7:bh + 11], "little"), ets)
        if fmt == 1:
            return (1, csid, tsf, int.from_bytes(header[bh + 3:bh + 6], "big"), header[bh + 6], None, ets)
        if fmt == 2:
            return (2, csid, tsf, None, None, None, ets)
        return (3, csid, None, None, None, None, ets)

    @staticmethod
    def _fields(header: bytes, ext3: bool) -> dict:
        from .jsonable import to_jsonable

        return to_jsonable(ChunkHeader.parse(header, type3_extended=ext3))


# -- writing ---------------------------------------------------------------------------------------------------

class _OutState:
    __slots__ = ("timestamp", "delta", "length", "type_id", "msid", "delta_set")

    def __init__(self, timestamp, delta, length, type_id, msid, delta_set):
        self.timestamp = timestamp
        self.delta = delta
        self.length = length
        self.type_id = type_id
        self.msid = msid
        self.delta_set = delta_set


_HEADER_BUILD_CACHE: dict[tuple, bytes] = {}
_BASIC_BUILD: dict[tuple[int, int], bytes] = {}


def build_basic_header(fmt: int, csid: int) -> bytes:
    r = _BASIC_BUILD.get((fmt, csid))
    if r is None:
        r = ChunkBasicHeaderCompiled.build(basic_header_fields(fmt, csid))
        if len(_BASIC_BUILD) >= 4096:
            _BASIC_BUILD.clear()
        _BASIC_BUILD[(fmt, csid)] = r
    return r


def build_header(fmt: int, csid: int, tsfield: int = 0, length: int = 0, type_id: int = 0, msid: int = 0,
                 type3_extended_value: int | None = None) -> bytes:
    """Bytes of one chunk header, built by the schema (and memoised)."""
    key = (fmt, csid, tsfield, length, type_id, msid, type3_extended_value)
    hb = _HEADER_BUILD_CACHE.get(key)
    if hb is not None:
        return hb
    ext = tsfield >= EXTENDED_TIMESTAMP_MARK
    f = EXTENDED_TIMESTAMP_MARK if ext else tsfield
    if fmt == 0:
        mh = {"timestamp": f, "messageLength": length, "messageTypeID": type_id, "messageStreamID": msid,
              "extendedTimestamp": tsfield if ext else None}
    elif fmt == 1:
        mh = {"timestampDelta": f, "messageLength": length, "messageTypeID": type_id,
              "extendedTimestamp": tsfield if ext else None}
    elif fmt == 2:
        mh = {"timestampDelta": f, "extendedTimestamp": tsfield if ext else None}
    else:
        mh = {"extendedTimestamp": type3_extended_value}
    hb = build_basic_header(fmt, csid) + ChunkMessageHeaderCompiled[fmt].build(
        mh, type3_extended=type3_extended_value is not None)
    if len(_HEADER_BUILD_CACHE) > 8192:
        _HEADER_BUILD_CACHE.clear()
    _HEADER_BUILD_CACHE[key] = hb
    return hb


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
        self._streams.pop(csid, None)
