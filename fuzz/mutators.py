"""Mutations of recorded sessions: field-aware (chunk header fields, message payload lengths) and byte-level.

A :class:`Seed` is the client-to-server bytes of one connection (e.g. captured from ffmpeg). Its structure is
recovered with rtmpspec itself: the handshake is the first 3073 bytes when the first byte is a version byte, and
:class:`ChunkReader` with ``record_chunks=True`` gives every chunk's offset, fmt, csid, header fields and payload
length. Field-aware mutators rewrite one header field of one chunk (a length set to 0 / max / off by one, fmt
flipped, csid swapped, timestamps wrapped, type or stream id changed) or one length inside an AMF0 payload, and
keep every other byte as recorded. Byte-level mutators flip bits, overwrite with interesting values, truncate,
delete, duplicate, insert and splice two seeds.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass

from rtmpspec.chunkheader import MAX_CSID, build_header
from rtmpspec.chunkreader import ChunkInfo, ChunkReader
from rtmpspec.errors import RTMPError
from rtmpspec.handshake import FLIGHT_SIZE

__all__ = ["Seed", "mutate_bytes", "mutate_fields", "splice", "BYTE_MUTATORS", "FIELD_MUTATORS"]

INTERESTING8 = (0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0xFE, 0xFF, 0x09, 0x11, 0x3F, 0x40, 0xC0)
INTERESTING16 = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
INTERESTING32 = (0, 1, 0xFF, 0xFFFF, 0x10000, 0xFFFFFF, 0x1000000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE,
                 0xFFFFFFFF)
CSID_EDGES = (2, 3, 63, 64, 65, 319, 320, 321, MAX_CSID - 1, MAX_CSID)
MAX_SEED_CHUNKS = 400


@dataclass
class Seed:
    """One recorded client->server byte stream and its structure (computed once)."""

    data: bytes
    origin: str = "corpus"
    _chunks: list[ChunkInfo] | None = None
    _hs: int | None = None

    @property
    def handshake_length(self) -> int:
        if self._hs is None:
            d = self.data
            self._hs = FLIGHT_SIZE if len(d) >= FLIGHT_SIZE and d[0] in (3, 6) else 0
        return self._hs

    @property
    def chunks(self) -> list[ChunkInfo]:
        """Chunks after the handshake (offsets relative to the start of ``data``), up to MAX_SEED_CHUNKS."""
        if self._chunks is None:
            base = self.handshake_length
            r = ChunkReader(record_chunks=True, strict=False, max_chunk_streams=1024, offset=base)
            body = self.data[base:]
            try:
                r.receive_data(body)
                for _ in r:
                    if len(r.chunks) >= MAX_SEED_CHUNKS:
                        break
            except RTMPError:
                pass
            self._chunks = r.chunks[:MAX_SEED_CHUNKS]
        return self._chunks

    def first_chunks(self, k: int) -> Seed:
        """This seed cut after its first ``k`` chunks (its parsed layout kept)."""
        chunks = self.chunks[:k]
        c = chunks[-1]
        return Seed(self.data[:c.offset + len(c.header) + c.payload_length], self.origin, chunks,
                    self.handshake_length)


# -- byte level -------------------------------------------------------------------------------------------
def _pos(rng: random.Random, data: bytes | bytearray, lo: int) -> int:
    if len(data) <= lo:
        return rng.randrange(len(data)) if data else 0
    return rng.randrange(lo, len(data))


def bit_flip(rng, data: bytearray, lo: int) -> str:
    n = rng.choice((1, 1, 1, 2, 4, 8))
    for _ in range(n):
        if not data:
            break
        i = _pos(rng, data, lo)
        data[i] ^= 1 << rng.randrange(8)
    return f"flip {n} bit(s)"


def interesting(rng, data: bytearray, lo: int) -> str:
    if not data:
        return "noop"
    width = rng.choice((1, 2, 3, 4))
    i = _pos(rng, data, lo)
    if width == 1:
        data[i] = rng.choice(INTERESTING8)
    elif width == 2:
        data[i:i + 2] = struct.pack(rng.choice((">H", "<H")), rng.choice(INTERESTING16))
    elif width == 3:
        data[i:i + 3] = rng.choice(INTERESTING32).to_bytes(4, "big")[1:]
    else:
        data[i:i + 4] = struct.pack(rng.choice((">I", "<I")), rng.choice(INTERESTING32))
    return f"interesting {width}B at {i}"


def truncate(rng, data: bytearray, lo: int) -> str:
    i = _pos(rng, data, lo)
    del data[i:]
    return f"truncate at {i}"


def delete_range(rng, data: bytearray, lo: int) -> str:
    i = _pos(rng, data, lo)
    n = rng.choice((1, 2, 4, 8, 64, 512))
    del data[i:i + n]
    return f"delete {n} at {i}"


def duplicate_range(rng, data: bytearray, lo: int) -> str:
    if not data:
        return "noop"
    i = _pos(rng, data, lo)
    n = rng.choice((1, 4, 12, 64, 256, 1024))
    times = rng.choice((1, 1, 2, 8))
    data[i:i] = bytes(data[i:i + n]) * times
    return f"duplicate {n}x{times} at {i}"


def insert_random(rng, data: bytearray, lo: int) -> str:
    i = _pos(rng, data, lo)
    n = rng.choice((1, 2, 4, 16, 128))
    data[i:i] = rng.randbytes(n)
    return f"insert {n} random at {i}"


BYTE_MUTATORS: tuple[Callable, ...] = (bit_flip, bit_flip, interesting, interesting, truncate, delete_range,
                                       duplicate_range, insert_random)


def mutate_bytes(rng: random.Random, data: bytes, *, keep: int = 0, rounds: int | None = None) -> tuple[bytes, list[str]]:
    """Byte-level havoc after the first ``keep`` bytes (e.g. the handshake): 1-4 stacked mutations."""
    buf = bytearray(data)
    notes = []
    for _ in range(rounds or rng.choice((1, 1, 1, 2, 3, 4))):
        notes.append(rng.choice(BYTE_MUTATORS)(rng, buf, keep))
    return bytes(buf), notes


def splice(rng: random.Random, a: bytes, b: bytes, *, keep: int = 0) -> tuple[bytes, str]:
    """The head of ``a`` and the tail of ``b``."""
    i = _pos(rng, a, keep)
    j = _pos(rng, b, keep)
    return a[:i] + b[j:], f"splice a[:{i}] + b[{j}:]"


# -- field aware --------------------------------------------------------------------------------------------
def _header_of(c: ChunkInfo, ext_value: int | None = None) -> dict:
    """The chunk's fields as build_header arguments."""
    msg = c.header_fields.get("message", {}) if isinstance(c.header_fields, dict) else {}
    ts = msg.get("timestamp", msg.get("timestampDelta", 0)) or 0
    if ts == 0xFFFFFF and msg.get("extendedTimestamp") is not None:
        ts = msg["extendedTimestamp"]
    return {"fmt": c.fmt, "csid": c.csid, "tsfield": ts, "length": msg.get("messageLength", 0) or 0,
            "type_id": msg.get("messageTypeID", 0) or 0, "msid": msg.get("messageStreamID", 0) or 0}


def _rebuild(h: dict, c: ChunkInfo) -> bytes:
    ext = None
    if h["fmt"] == 3:
        ext = h.get("ext3")
    return build_header(h["fmt"], h["csid"], h["tsfield"] & 0xFFFFFFFF, h["length"] & 0xFFFFFF, h["type_id"] & 0xFF,
                        h["msid"] & 0xFFFFFFFF, type3_extended_value=ext)


def f_length(rng, h, c, seed) -> str:
    if h["fmt"] > 1:
        h["fmt"] = rng.choice((0, 1))
    old = h["length"]
    h["length"] = rng.choice((0, 0xFFFFFF, old + 1, max(old - 1, 0), old * 2, 1, 0x10000, c.payload_length - 1))
    return f"messageLength {old} -> {h['length']}"


def f_fmt(rng, h, c, seed) -> str:
    old = h["fmt"]
    h["fmt"] = rng.choice([f for f in (0, 1, 2, 3) if f != old])
    return f"fmt {old} -> {h['fmt']}"


def f_csid(rng, h, c, seed) -> str:
    old = h["csid"]
    others = sorted({x.csid for x in seed.chunks} - {old})
    h["csid"] = rng.choice(others + list(CSID_EDGES)) if others and rng.random() < 0.5 else rng.choice(CSID_EDGES)
    return f"csid {old} -> {h['csid']}"


def f_timestamp(rng, h, c, seed) -> str:
    old = h["tsfield"]
    if h["fmt"] == 3:
        h["fmt"] = rng.choice((0, 1, 2))
    h["tsfield"] = rng.choice((0xFFFFFE, 0xFFFFFF, 0x1000000, 0xFFFFFFFF, 0x7FFFFFFF, 0, (old - 1) & 0xFFFFFFFF,
                               (old + 0x7FFFFFFF) & 0xFFFFFFFF))
    return f"timestamp {old} -> {h['tsfield']}"


def f_type(rng, h, c, seed) -> str:
    if h["fmt"] > 1:
        h["fmt"] = rng.choice((0, 1))
    old = h["type_id"]
    h["type_id"] = rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 18, 19, 20, 22, 23, 0xFF))
    return f"type {old} -> {h['type_id']}"


def f_msid(rng, h, c, seed) -> str:
    h["fmt"] = 0
    old = h["msid"]
    h["msid"] = rng.choice((0, 1, 2, 0xFFFFFFFF, 0x01000000))
    return f"messageStreamID {old} -> {h['msid']}"


def f_type3_ext(rng, h, c, seed) -> str:
    h["fmt"] = 3
    h["ext3"] = rng.choice((0, 0xFFFFFF, 0xFFFFFFFF))
    return f"Type 3 with extended timestamp {h['ext3']}"


FIELD_MUTATORS: tuple[Callable, ...] = (f_length, f_length, f_fmt, f_csid, f_timestamp, f_timestamp, f_type,
                                        f_msid, f_type3_ext)


def _chunk_op(rng, data: bytes, chunks: list[ChunkInfo]) -> tuple[bytes, str]:
    """Whole-chunk edits: drop, duplicate or swap chunks."""
    i = rng.randrange(len(chunks))
    c = chunks[i]
    end = c.offset + len(c.header) + c.payload_length
    op = rng.choice(("drop", "dup", "swap"))
    if op == "drop":
        return data[:c.offset] + data[end:], f"drop chunk {i}"
    if op == "dup":
        return data[:end] + data[c.offset:end] * rng.choice((1, 2, 16)) + data[end:], f"duplicate chunk {i}"
    j = rng.randrange(len(chunks))
    d = chunks[j]
    if j == i:
        return data, "noop"
    a, b = (c, d) if c.offset < d.offset else (d, c)
    a_end = a.offset + len(a.header) + a.payload_length
    b_end = b.offset + len(b.header) + b.payload_length
    return (data[:a.offset] + data[b.offset:b_end] + data[a_end:b.offset] + data[a.offset:a_end] + data[b_end:],
            f"swap chunks {i} and {j}")


def _amf_length(rng, data: bytes, chunks: list[ChunkInfo]) -> tuple[bytes, str] | None:
    """Set one AMF0 string length (marker 0x02 + U16) in a command chunk to 0 / max / off by one."""
    cmd = [c for c in chunks if c.header_fields.get("message", {}).get("messageTypeID") in (18, 20)]
    if not cmd:
        return None
    c = rng.choice(cmd)
    start = c.offset + len(c.header)
    payload = data[start:start + c.payload_length]
    spots = [i for i in range(len(payload) - 2) if payload[i] == 2 and
             int.from_bytes(payload[i + 1:i + 3], "big") <= len(payload) - i - 3]
    if not spots:
        return None
    i = rng.choice(spots)
    old = int.from_bytes(payload[i + 1:i + 3], "big")
    new = rng.choice((0, 0xFFFF, old + 1, max(old - 1, 0), 0x8000))
    p = start + i + 1
    return data[:p] + new.to_bytes(2, "big") + data[p + 2:], f"AMF0 string length {old} -> {new}"


def mutate_fields(rng: random.Random, seed: Seed) -> tuple[bytes, list[str]]:
    """One or two field-aware mutations of a recorded session."""
    data = seed.data
    chunks = seed.chunks
    if not chunks:
        return mutate_bytes(rng, data, keep=seed.handshake_length)
    notes = []
    r = rng.random()
    if r < 0.15:
        out, note = _chunk_op(rng, data, chunks)
        return out, [note]
    if r < 0.3:
        res = _amf_length(rng, data, chunks)
        if res is not None:
            return res[0], [res[1]]
    # a header field: rebuild that chunk's header with build_header (the schema), keep everything else
    i = rng.randrange(len(chunks))
    c = chunks[i]
    h = _header_of(c)
    notes.append(rng.choice(FIELD_MUTATORS)(rng, h, c, seed))
    try:
        header = _rebuild(h, c)
    except Exception:  # e.g. a csid outside the range build_header accepts
        return mutate_bytes(rng, data, keep=seed.handshake_length)
    out = data[:c.offset] + header + data[c.offset + len(c.header):]
    notes[-1] = f"chunk {i} @{c.offset}: {notes[-1]}"
    return out, notes
