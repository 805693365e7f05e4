"""Chunk stream schemas and the sans-I/O chunk reader/writer (RTMP 5.3, errata 4-6)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpspec.chunkheader import ChunkHeader, basic_header_fields, build_header, csid_of
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.chunkwriter import ChunkWriter, chunk_message
from rtmpspec.errors import LimitExceeded, ProtocolError
from rtmpspec.message_format import Message
from rtmpspec.sentinels import NEED_DATA
from rtmpspec.strategies import from_schema


def read_all(data: bytes, **kw) -> list[Message]:
    r = ChunkReader(**kw)
    r.receive_data(data)
    return list(r)


def read_bytewise(data: bytes, **kw) -> list[Message]:
    r = ChunkReader(**kw)
    out = []
    for i in range(len(data)):
        r.receive_data(data[i:i + 1])
        out.extend(r)
    return out


# -- basic header forms (RTMP 5.3.1.1, errata 4.1) -------------------------------------------------------

@pytest.mark.parametrize("csid,expected", [
    (2, "02"), (63, "3f"), (64, "0000"), (319, "00ff"), (320, "010001"), (65599, "01ffff"), (1000, "01a803"),
])
def test_basic_header_forms(csid, expected):
    from rtmpspec.chunkheader import ChunkBasicHeader

    b = ChunkBasicHeader.build(basic_header_fields(0, csid))
    assert b.hex() == expected
    assert csid_of(ChunkBasicHeader.parse(b)) == csid


def test_three_byte_csid_is_little_endian():
    # errata 4.1: 0x01, then (csid - 64) little-endian: 64 + 0x0201 = 577
    from rtmpspec.chunkheader import ChunkBasicHeader

    assert csid_of(ChunkBasicHeader.parse(bytes([0x01, 0x01, 0x02]))) == 64 + 0x0201


def test_type0_message_stream_id_little_endian():
    h = build_header(0, 3, 0, 5, 20, 1)
    assert h[-4:] == b"\x01\x00\x00\x00"


# -- the reader's compiled hot path agrees with the interpreted schema (see also the tests at the end) ----------

@settings(max_examples=400)
@given(st.binary(min_size=1, max_size=20), st.booleans())
def test_compiled_parser_on_arbitrary_framed_bytes(b, ext3):
    """On any slice the framing could hand it, the reader's compiled path gives the interpreted result."""
    try:
        want = ChunkHeader.parse(b, type3_extended=ext3)
    except Exception:
        want = None
    if want is None:
        return  # the reader only hands complete headers; the interpreted schema is the judge of those
    ext = ext3 and want.basic.head.fmt == 3
    assert ChunkReader()._parse_header(b, ext, 0) == _interpreted_tuple(want)


# -- reader / writer round trips ----------------------------------------------------------------------

message_st = st.builds(
    Message,
    type_id=st.sampled_from([8, 9, 18, 20, 15, 17, 22, 4]),
    payload=st.binary(max_size=700),
    timestamp=st.one_of(st.integers(0, 0xFFFFFFFF), st.integers(0xFFFFF0, 0x1000010)),
    msid=st.integers(0, 5),
    csid=st.one_of(st.integers(3, 10), st.sampled_from([63, 64, 319, 320, 65599])),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(message_st, max_size=12), st.sampled_from([1, 2, 128, 129, 4096]), st.booleans())
def test_writer_reader_round_trip(msgs, chunk_size, compress):
    # timestamps must not go backwards within one chunk stream for delta headers to be used; the writer
    # falls back to Type 0 when they do, so any sequence is valid
    w = ChunkWriter(chunk_size, compress=compress)
    data = b"".join(w.write(m) for m in msgs)
    kw = {"chunk_size": chunk_size, "max_chunk_streams": 100}
    assert read_all(data, **kw) == msgs
    # one byte at a time gives the same messages
    assert read_bytewise(data, **kw) == msgs
    # trailing bytes of a next chunk are left for later
    r = ChunkReader(**kw)
    r.receive_data(data + b"\x03\x00")
    assert list(r) == msgs and r.pending == 2


@settings(max_examples=100, deadline=None)
@given(st.lists(message_st, max_size=8), st.sampled_from([1, 128, 4096]))
def test_stateless_chunking_matches(msgs, chunk_size):
    data = b"".join(chunk_message(m, chunk_size) for m in msgs)
    assert read_all(data, chunk_size=chunk_size, max_chunk_streams=100) == msgs


def test_header_compression_choices():
    w = ChunkWriter(128)
    fmts = []
    for t, n in ([(0, 10), (20, 10), (40, 10), (60, 10), (70, 12), (80, 12), (75, 12)]):
        data = w.write(Message(8, b"x" * n, t, 1, 4))
        fmts.append(data[0] >> 6)
    # first Type 0; delta 20 -> Type 2; same delta -> Type 3; again Type 3; size change -> Type 1;
    # delta 10 again (same as the Type 1's) -> Type 3; backwards -> Type 0
    assert fmts == [0, 2, 3, 3, 1, 3, 0]


def test_type3_new_message_adds_previous_delta():
    # RTMP 5.3.1.2.4: Type 3 starting a message reuses the last delta; after a Type 0, the delta is the
    # Type 0's timestamp
    data = build_header(0, 4, 100, 2, 8, 1) + b"ab" + build_header(3, 4) + b"cd" + build_header(3, 4) + b"ef"
    msgs = read_all(data)
    assert [m.timestamp for m in msgs] == [100, 200, 300]
    data = (build_header(0, 4, 100, 2, 8, 1) + b"ab" + build_header(2, 4, 33) + b"cd" + build_header(3, 4)
            + b"ef")
    assert [m.timestamp for m in read_all(data)] == [100, 133, 166]


def test_extended_timestamp_repeated_on_type3_chunks():
    m = Message(9, bytes(300), 0x01000000, 1, 6)
    data = chunk_message(m, 128)
    # fmt0 header 1+11+4, then two type 3 headers each 1 + 4 bytes of extended timestamp (errata 5.1)
    assert len(data) == 16 + 300 + 2 * 5
    assert data[16 + 128:16 + 128 + 5] == b"\xc6\x01\x00\x00\x00"
    assert read_all(data) == [m]


def test_extended_timestamp_missing_on_continuation_strict_vs_lenient():
    # nginx-rtmp's writer omits the field on continuation chunks (nginx-rtmp PR 1462)
    payload = bytes(range(200))
    data = build_header(0, 6, 0x01000000, 200, 9, 1) + payload[:128] + b"\xc6" + payload[128:]
    with pytest.raises(ProtocolError) as ei:
        read_all(data)
    assert ei.value.field == "extendedTimestamp"
    assert read_all(data, strict=False) == [Message(9, payload, 0x01000000, 1, 6)]


def test_timestamp_wraps_at_32_bits():
    data = build_header(0, 4, 0xFFFFFFF0, 1, 8, 1) + b"a" + build_header(2, 4, 0x20) + b"b"
    assert [m.timestamp for m in read_all(data)] == [0xFFFFFFF0, 0x10]


def test_interleaved_chunk_streams():
    a = Message(9, bytes([1]) * 300, 0, 1, 6)
    b = Message(8, bytes([2]) * 300, 0, 1, 4)
    ca, cb = chunk_message(a, 128), chunk_message(b, 128)
    # split each into chunks by their known layout: 12+128, 1+128, 1+44
    pa = [ca[:140], ca[140:269], ca[269:]]
    pb = [cb[:140], cb[140:269], cb[269:]]
    data = pa[0] + pb[0] + pa[1] + pb[1] + pb[2] + pa[2]
    assert read_all(data) == [b, a]


def test_set_chunk_size_applies_to_following_chunks():
    w = ChunkWriter(128)
    data = w.write(Message(1, (4096).to_bytes(4, "big"), 0, 0, 2))
    w.set_chunk_size(4096)
    big = Message(9, bytes(5000), 0, 1, 6)
    data += w.write(big)
    msgs = read_all(data)
    assert msgs[1] == big


def test_bad_set_chunk_size():
    data = build_header(0, 2, 0, 4, 1, 0) + (0).to_bytes(4, "big")
    with pytest.raises(ProtocolError) as ei:
        read_all(data)
    assert "out of range" in str(ei.value) and ei.value.section == "RTMP 5.4.1" and ei.value.offset == 0


def test_set_chunk_size_reserved_bit_is_ignored():
    """Errata 2: a receiver ignores reserved fields: 0x80001000 sets the chunk size to 4096."""
    data = build_header(0, 2, 0, 4, 1, 0) + (0x80001000).to_bytes(4, "big")
    data += build_header(0, 3, 0, 3000, 20, 0) + bytes(3000)  # one 4096-byte chunk
    msgs = read_all(data)
    assert [m.type_id for m in msgs] == [1, 20] and len(msgs[1].payload) == 3000


def test_abort_discards_partial_message():
    part = build_header(0, 6, 0, 300, 9, 1) + bytes(128)
    abort = build_header(0, 2, 0, 4, 2, 0) + (6).to_bytes(4, "big")
    fresh = build_header(0, 6, 10, 3, 9, 1) + b"new"
    msgs = read_all(part + abort + fresh)
    assert [m.type_id for m in msgs] == [2, 9] and msgs[1].payload == b"new"


def test_first_chunk_must_be_type0():
    for fmt in (1, 2, 3):
        data = build_header(0, 3, 0, 1, 20, 0) + b"x"  # csid 3 is known; csid 5 is not
        data += bytes([fmt << 6 | 5]) + bytes([0, 0, 0, 0, 0, 1, 20][: (7, 3, 0)[fmt - 1]])
        with pytest.raises(ProtocolError) as ei:
            read_all(data)
        assert ei.value.offset == 13 and ei.value.field == "fmt"


def test_limits():
    with pytest.raises(LimitExceeded) as ei:
        read_all(build_header(0, 3, 0, 2000, 9, 1), max_message_size=1000)
    assert ei.value.field == "messageLength" and ei.value.offset == 4
    many = b"".join(build_header(0, c, 0, 1, 8, 1) + b"x" for c in range(3, 20))
    with pytest.raises(LimitExceeded):
        read_all(many, max_chunk_streams=8)
    with pytest.raises(LimitExceeded):
        read_all(build_header(0, 2, 0, 4, 1, 0) + (1 << 20).to_bytes(4, "big"), max_chunk_size=65536)


def test_error_poisons_reader():
    r = ChunkReader()
    r.receive_data(b"\x45")  # fmt 1 on unknown csid 5
    r.receive_data(bytes(7))
    with pytest.raises(ProtocolError):
        r.next_message()
    with pytest.raises(ProtocolError):
        r.next_message()
    with pytest.raises(ProtocolError):
        r.receive_data(b"more")


def test_buffer_is_bounded():
    r = ChunkReader(chunk_size=128)
    r.receive_data(build_header(0, 3, 0, 100, 20, 0))
    assert r.next_message() is NEED_DATA
    r.receive_data(bytes(99))
    assert r.next_message() is NEED_DATA
    r.receive_data(bytes(1))
    assert r.next_message().length == 100


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_raises_only_protocol_errors(data):
    r = ChunkReader(max_message_size=4096, max_chunk_streams=8, max_chunk_size=65536)
    r.receive_data(data)
    try:
        list(r)
    except ProtocolError:
        pass


def test_chunk_sizes_above_16777215_are_valid_and_equivalent():
    # RTMP 5.4.1: valid sizes are 1..2147483647; above 16777215 all are equivalent
    data = build_header(0, 2, 0, 4, 1, 0) + (0x7FFFFFFF).to_bytes(4, "big") + chunk_message(
        Message(9, bytes(70000), 0, 1, 6), 0xFFFFFF)
    r = ChunkReader()
    r.receive_data(data)
    msgs = list(r)
    assert r.chunk_size == 0xFFFFFF and len(msgs[1].payload) == 70000


def _interpreted_tuple(h) -> tuple:
    p = h.basic.head.provisionalChunkStreamID
    csid = p if p >= 2 else h.basic.chunkStreamIDMinus64 + 64
    m, fmt = h.message, h.basic.head.fmt
    ts = m.get("timestamp", m.get("timestampDelta"))
    return (fmt, csid, ts, m.get("messageLength"), m.get("messageTypeID"), m.get("messageStreamID"),
            m.extendedTimestamp)


@settings(max_examples=500)
@given(st.booleans(), st.data())
def test_hot_path_header_parse_equals_the_interpreted_schema(ext3, data):
    """The reader's split path (memoised compiled basic header + compiled message header of the fmt) gives
    exactly what the interpreted ChunkHeader schema gives, for every header the schema can express."""
    value = data.draw(from_schema(ChunkHeader, params={"type3_extended": ext3}))
    b = ChunkHeader.build(value, type3_extended=ext3)
    ext = ext3 and value.basic.head.fmt == 3
    assert ChunkReader()._parse_header(b, ext, 0) == _interpreted_tuple(ChunkHeader.parse(b, type3_extended=ext))


@settings(max_examples=500)
@given(st.integers(0, 3), st.one_of(st.integers(2, 400), st.integers(2, 65599)), st.integers(0, 0xFFFFFFFF),
       st.integers(0, 0xFFFFFF), st.integers(0, 255), st.integers(0, 0xFFFFFFFF), st.booleans())
def test_hot_path_header_build_equals_the_interpreted_schema(fmt, csid, ts, length, type_id, msid, ext3):
    ext = ts >= 0xFFFFFF
    mark = 0xFFFFFF if ext else ts
    e = ts if ext else None
    mh = [{"timestamp": mark, "messageLength": length, "messageTypeID": type_id, "messageStreamID": msid,
           "extendedTimestamp": e},
          {"timestampDelta": mark, "messageLength": length, "messageTypeID": type_id, "extendedTimestamp": e},
          {"timestampDelta": mark, "extendedTimestamp": e},
          {"extendedTimestamp": ts if ext3 else None}][fmt]
    want = ChunkHeader.build({"basic": basic_header_fields(fmt, csid), "message": mh},
                             type3_extended=fmt == 3 and ext3)
    got = build_header(fmt, csid, ts, length, type_id, msid, type3_extended_value=ts if (fmt == 3 and ext3) else None)
    assert got == want
