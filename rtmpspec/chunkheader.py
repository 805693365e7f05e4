"""RTMP 1.0 section 5.3: chunk format (basic header, message header, extended timestamp).

Field names follow the RTMP errata and addenda (zenomt), which corrects the 1.0 text:
- the 3-byte basic header carries ``chunkStreamIDMinus64`` little-endian (errata 4.1);
- the Type 0 message stream id is little-endian (errata 4.2);
- the extended timestamp is part of the chunk header, present on every Type 3 chunk while the last Type 0/1/2
  header on that chunk stream signalled it (errata 5.1).

The schemas here describe one chunk header; :func:`build_header` builds one (memoised). Framing (how many bytes
make a header) and per chunk stream state live in :mod:`rtmpspec.chunkreader` and :mod:`rtmpspec.chunkwriter`;
headers in any other form (a longer basic header, a lying length, ...) come from :mod:`rtmpspec.craft`.
"""

from __future__ import annotations

from construct import (
    BitsInteger,
    BitStruct,
    If,
    Int8ub,
    Int16ul,
    Int24ub,
    Int32ub,
    Int32ul,
    Struct,
    Switch,
    this,
)

from .registry import register_schema

EXTENDED_TIMESTAMP_MARK = 0xFFFFFF  # RTMP 5.3.1.3
MIN_CSID = 2
MAX_CSID = 65599  # 63 + 65536 (RTMP 5.3.1.1)
PROTOCOL_CONTROL_CSID = 2  # RTMP 5.4

# RTMP 5.3.1.1 Chunk Basic Header (errata 4.1)
ChunkBasicHeader = Struct(
    "head" / BitStruct(
        "fmt" / BitsInteger(2),
        "provisionalChunkStreamID" / BitsInteger(6),
    ),
    "chunkStreamIDMinus64" / Switch(this.head.provisionalChunkStreamID, {
        0: Int8ub,    # two-byte form: csid 64..319
        1: Int16ul,   # three-byte form: csid 64..65599, little-endian
    }),
)

# RTMP 5.3.1.2.1 Type 0: 11 bytes (+4 extended timestamp)
ChunkMessageHeaderType0 = Struct(
    "timestamp" / Int24ub,
    "messageLength" / Int24ub,
    "messageTypeID" / Int8ub,
    "messageStreamID" / Int32ul,  # little-endian (RTMP 5.3.1.2.1, errata 4.2)
    "extendedTimestamp" / If(this.timestamp == EXTENDED_TIMESTAMP_MARK, Int32ub),  # 5.3.1.3
)

# RTMP 5.3.1.2.2 Type 1: 7 bytes (+4)
ChunkMessageHeaderType1 = Struct(
    "timestampDelta" / Int24ub,
    "messageLength" / Int24ub,
    "messageTypeID" / Int8ub,
    "extendedTimestamp" / If(this.timestampDelta == EXTENDED_TIMESTAMP_MARK, Int32ub),
)

# RTMP 5.3.1.2.3 Type 2: 3 bytes (+4)
ChunkMessageHeaderType2 = Struct(
    "timestampDelta" / Int24ub,
    "extendedTimestamp" / If(this.timestampDelta == EXTENDED_TIMESTAMP_MARK, Int32ub),
)

# RTMP 5.3.1.2.4 Type 3: no message header; the extended timestamp is present while the chunk stream's last
# Type 0/1/2 header had one (errata 5.1). That state is outside the bytes: pass it as the parse/build parameter
# ``type3_extended``.
ChunkMessageHeaderType3 = Struct(
    "extendedTimestamp" / If(this._params.type3_extended, Int32ub),
)

# RTMP 5.3.1 Chunk Header = basic header + message header (+ extended timestamp)
ChunkHeader = Struct(
    "basic" / ChunkBasicHeader,
    "message" / Switch(this.basic.head.fmt, {
        0: ChunkMessageHeaderType0,
        1: ChunkMessageHeaderType1,
        2: ChunkMessageHeaderType2,
        3: ChunkMessageHeaderType3,
    }),
)

# The chunk reader and writer use the schema in two compiled halves: the basic header (a few distinct byte
# strings on a connection, so its parse/build is memoised) and the message header of each fmt (no BitStruct:
# 4x faster than the whole header compiled). The reader only hands them exactly-framed header slices (see
# chunkreader.py), and tests/test_chunk.py proves both agree with the interpreted ChunkHeader.
ChunkBasicHeaderCompiled = ChunkBasicHeader.compile()
ChunkMessageHeaderCompiled = (
    ChunkMessageHeaderType0.compile(),
    ChunkMessageHeaderType1.compile(),
    ChunkMessageHeaderType2.compile(),
    ChunkMessageHeaderType3.compile(),
)

MESSAGE_HEADER_LENGTH = (11, 7, 3, 0)  # RTMP 5.3.1.2, by fmt


def basic_header_fields(fmt: int, csid: int) -> dict:
    """The schema fields for a basic header of ``csid`` in its shortest form (RTMP 5.3.1.1)."""
    if not MIN_CSID <= csid <= MAX_CSID:
        raise ValueError(f"chunk stream id {csid} outside {MIN_CSID}..{MAX_CSID} (RTMP 5.3.1.1)")
    if csid <= 63:
        return {"head": {"fmt": fmt, "provisionalChunkStreamID": csid}, "chunkStreamIDMinus64": None}
    if csid <= 319:
        return {"head": {"fmt": fmt, "provisionalChunkStreamID": 0}, "chunkStreamIDMinus64": csid - 64}
    return {"head": {"fmt": fmt, "provisionalChunkStreamID": 1}, "chunkStreamIDMinus64": csid - 64}


# -- building headers (memoised: a connection writes few distinct headers) -------------------------------------
_HEADER_BUILD: dict[tuple, bytes] = {}
_BASIC_BUILD: dict[tuple[int, int], bytes] = {}


def build_basic_header(fmt: int, csid: int) -> bytes:
    """A basic header in its shortest form (RTMP 5.3.1.1), built by the schema."""
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
    hb = _HEADER_BUILD.get(key)
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
    if len(_HEADER_BUILD) > 8192:
        _HEADER_BUILD.clear()
    _HEADER_BUILD[key] = hb
    return hb


def csid_of(basic) -> int:
    """Chunk stream id from a parsed basic header."""
    p = basic["head"]["provisionalChunkStreamID"]
    if p >= 2:
        return p
    return basic["chunkStreamIDMinus64"] + 64


def basic_header_length(first_byte: int) -> int:
    """Length of the basic header, known from its first byte (RTMP 5.3.1.1)."""
    low = first_byte & 0x3F
    return 2 if low == 0 else 3 if low == 1 else 1


register_schema("chunk.basic_header", ChunkBasicHeader, "RTMP 5.3.1.1")
register_schema("chunk.header", ChunkHeader, "RTMP 5.3.1", type3_extended=False)
register_schema("chunk.header_type3_extended", ChunkHeader, "RTMP 5.3.1.3", type3_extended=True)
