"""Sans-I/O RTMP chunk stream reader (RTMP 1.0 section 5.3, errata 4-6): bytes in, complete messages out.

Framing first: the length of a chunk header is known from its first byte (basic header form and fmt), from the
24-bit timestamp field (extended timestamp present?) and, for Type 3 chunks, from the chunk stream's state; only
then is exactly that slice handed to the construct schema :data:`rtmpspec.chunkheader.ChunkHeader` (by arithmetic
proven equal to it). Parsed headers are memoised by their bytes (a header's meaning depends only on its bytes and
the Type 3 extended-timestamp flag, both part of the key), so the steady state of a live stream, where Type 3 and
repeating Type 2 headers dominate, never re-parses.

The codec ``chunk.stream`` (golden vectors, the dissector) is registered here: bytes <-> every chunk header as on
the wire plus the reassembled messages, with exact round trips. Writing is :mod:`rtmpspec.chunkwriter`.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import control
from .chunkheader import (
    EXTENDED_TIMESTAMP_MARK,
    MESSAGE_HEADER_LENGTH,
    ChunkHeader,
    build_basic_header,
)
from .errors import LimitExceeded, ProtocolError
from .message_format import Message, MessageType
from .receivebuffer import ReceiveBuffer
from .registry import Codec, register
from .sentinels import NEED_DATA, NeedData

__all__ = ["ChunkReader", "ChunkInfo", "DEFAULT_CHUNK_SIZE", "MAX_MESSAGE_LENGTH"]

DEFAULT_CHUNK_SIZE = 128  # RTMP 5.4.1
MAX_CHUNK_SIZE = 0xFFFFFF  # RTMP 5.4.1: "the maximum chunk size is 16777215"
MAX_MESSAGE_LENGTH = 0xFFFFFF  # 24-bit message length (RTMP 5.3.1.2.1)
_U32 = 0xFFFFFFFF
_ABORT = int(MessageType.ABORT)  # types 1 (Set Chunk Size) and 2 (Abort) act at the chunk layer


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
        self._in = ReceiveBuffer(offset)
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
            self._in.append(data)
            self.bytes_received += len(data)

    @property
    def offset(self) -> int:
        """Stream offset of the next unconsumed byte."""
        rb = self._in
        return rb.base + rb.pos

    @property
    def pending(self) -> int:
        """Bytes received but not yet consumed as complete chunks."""
        return len(self._in)

    def unconsumed(self, limit: int | None = None) -> bytes:
        """The bytes received but not consumed (the first ``limit`` of them): what a failing chunk looked like."""
        return self._in.peek(limit)

    @property
    def held(self) -> int:
        """Bytes held in partial messages (0: every message that started has arrived whole)."""
        return self._held

    @property
    def chunk_streams(self) -> int:
        """Chunk streams with state (bounded by ``max_chunk_streams``)."""
        return len(self._streams)

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
    def next_message(self) -> Message | NeedData:
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
        rb = self._in
        buf = rb.data
        cache = self._cache
        streams = self._streams
        while True:
            pos = rb.pos
            avail = len(buf) - pos
            if avail < 1:
                rb.compact()
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
            offset = rb.base + pos
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
                rb.pos = start + size
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
            if st.msid == 0 and st.type_id <= _ABORT and st.type_id > 0:
                self._apply_control(msg, st.first_offset)
            return msg

    def _gather(self, st: _InState, csid: int, start: int, size: int, length: int) -> bytes | None:
        """Take the chunk payload at ``start`` (``size`` bytes) of the message in progress on ``csid`` and, while
        they follow back to back, its next chunks (one-byte Type 3 headers of the same chunk stream, no extended
        timestamp: what a publisher sends for a large frame), each exactly as ``_next`` would take it, with the
        same limit on bytes held. Returns the payload once the message is complete (copied once, from views of
        the buffer), else None with the pieces kept in ``st.parts``; anything else is left to ``_next``."""
        rb = self._in
        buf = rb.data
        with memoryview(buf) as view:
            pieces = [view[start:start + size]]
            pos = start + size
            received = st.received + size
            held = self._held + size
            limit = self.max_reassembly
            chunk_offset = rb.base + rb.pos
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
                    chunk_offset = rb.base + pos
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
                rb.pos = pos
                raise LimitExceeded(f"{held} bytes held in partial messages exceed the limit {limit}",
                                    offset=chunk_offset, section="RTMP 5.3.2")
            rb.pos = pos
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
        if msg.type_id == MessageType.SET_CHUNK_SIZE:
            if len(msg.payload) != 4:
                raise ProtocolError(f"Set Chunk Size payload is {len(msg.payload)} bytes, expected 4",
                                    offset=offset, field="messageLength", section="RTMP 5.4.1")
            v = control.SetChunkSize.parse(msg.payload)
            # bit 31 is reserved (RTMP 1.0 5.4.1: the sender keeps it 0); errata 2: a receiver ignores reserved
            # fields, so the size is the low 31 bits
            self.set_chunk_size(v.chunkSize, at=offset)
        elif msg.type_id == MessageType.ABORT:
            if len(msg.payload) != 4:
                raise ProtocolError(f"Abort payload is {len(msg.payload)} bytes, expected 4",
                                    offset=offset, field="messageLength", section="RTMP 5.4.2")
            self.abort(int.from_bytes(msg.payload, "big"))

    def _need(self, want: int = 18):
        # The buffer never holds more than one incomplete chunk once drained: bound it (h11 style).
        limit = 18 + min(self.chunk_size, self.max_message_size)
        rb = self._in
        if len(rb.data) - rb.pos > limit:
            raise LimitExceeded(f"{len(rb)} bytes buffered for one chunk exceed {limit}",
                                offset=self.offset, section="RTMP 5.3.1")
        rb.compact()
        return NEED_DATA

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
                                offset=self._in.base + pos, section="RTMP 5.3.1")
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


# -- registry: the chunk stream as a streaming codec ------------------------------------------------------

def _parse_stream(data: bytes) -> dict:
    return _parse_pieces([data])


def _parse_pieces(pieces) -> dict:
    r = ChunkReader(record_chunks=True, max_chunk_streams=65600)
    msgs = []
    for p in pieces:
        r.receive_data(p)
        msgs.extend(r)
    return {
        "chunks": [dict({"offset": c.offset, "fmt": c.fmt, "csid": c.csid, "header": c.header_fields,
                         "payload_length": c.payload_length},
                        **({"discarded_payload": c.payload} if c.discarded else {}))
                   for c in r.chunks],
        "messages": [{"csid": m.csid, "msid": m.msid, "timestamp": m.timestamp, "type": m.type_id,
                      "payload": m.payload} for m in msgs],
        "unconsumed": r.pending,
    }


def _build_stream(value: dict) -> bytes:
    """Rebuild the exact bytes from the recorded chunk headers and the message payloads."""
    out = bytearray()
    # payload bytes per csid, consumed in order
    queues: dict[int, list[bytes]] = {}
    for m in value["messages"]:
        p = m["payload"]
        if isinstance(p, dict):
            p = bytes.fromhex(p["$bytes"])
        queues.setdefault(m["csid"], []).append(p)
    cursor: dict[int, int] = {}
    ext3: dict[int, bool] = {}
    for c in value["chunks"]:
        h = c["header"]
        fmt = c["fmt"]
        built = ChunkHeader.build(h, type3_extended=h["message"].get("extendedTimestamp") is not None
                                  if fmt == 3 else False)
        if fmt < 3:
            ext3[c["csid"]] = h["message"].get("extendedTimestamp") is not None
        out += built
        if "discarded_payload" in c:  # a chunk of a message that an Abort discarded
            p = c["discarded_payload"]
            out += bytes.fromhex(p["$bytes"]) if isinstance(p, dict) else p
            continue
        q = queues[c["csid"]]
        pos = cursor.get(c["csid"], 0)
        cur = q[0]
        out += cur[pos:pos + c["payload_length"]]
        pos += c["payload_length"]
        if pos >= len(cur):
            q.pop(0)
            pos = 0
        cursor[c["csid"]] = pos
    return bytes(out)


register(Codec("chunk.stream", _parse_stream, _build_stream, "RTMP 5.3", streaming=True,
               parse_pieces=_parse_pieces))
