"""Hostile AMF that schema draws rarely reach: deep nesting, lengths that lie, markers that do not exist.

Each function returns (label, bytes) of one AMF0 value (or value-like bytes). They are spliced into command and
data message payloads by the generators, after valid schema-drawn values or instead of them.
"""

from __future__ import annotations

import random
import struct

__all__ = ["deep_nesting", "huge_length", "bad_marker", "hostile_amf0", "amf3_hostile", "NESTING_DEPTHS"]

NESTING_DEPTHS = (8, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 1000, 5000, 20000)


def _u16(n: int) -> bytes:
    return struct.pack(">H", n & 0xFFFF)


def _u32(n: int) -> bytes:
    return struct.pack(">I", n & 0xFFFFFFFF)


_UNIFORM = {
    "object": (b"\x03\x00\x01a", b"\x00\x00\x09"),
    "ecma_array": (b"\x08\x00\x00\x00\x01\x00\x01a", b"\x00\x00\x09"),
    "typed_object": (b"\x10\x00\x01C\x00\x01a", b"\x00\x00\x09"),
    "strict_array": (b"\x0a\x00\x00\x00\x01", b""),
}


def deep_nesting(rng: random.Random, depth: int | None = None, *, max_depth: int = 1 << 30) -> tuple[str, bytes]:
    """Objects / ECMA arrays / strict arrays / typed objects nested ``depth`` levels (closed or not)."""
    if depth is None:
        depth = min(rng.choice(NESTING_DEPTHS), max_depth)
    kind = rng.choice(("object", "strict_array", "ecma_array", "typed_object", "mixed", "avmplus"))
    closed = rng.random() < 0.7
    if kind in _UNIFORM:  # one level repeated: built by multiplication, fast at any depth
        op, cl = _UNIFORM[kind]
        body = op * depth + b"\x05" + (cl * depth if closed else b"")
        return f"AMF0 {kind} nested {depth} levels{'' if closed else ' (unclosed)'}", body
    if kind == "mixed":
        depth = min(depth, 1000)
    opens, closes = [], []
    for i in range(depth):
        k = kind if kind != "mixed" else rng.choice(("object", "strict_array", "ecma_array", "typed_object"))
        if k == "object":
            opens.append(b"\x03" + _u16(1) + b"a")
            closes.append(b"\x00\x00\x09")
        elif k == "ecma_array":
            opens.append(b"\x08" + _u32(1) + _u16(1) + b"a")
            closes.append(b"\x00\x00\x09")
        elif k == "typed_object":
            opens.append(b"\x10" + _u16(1) + b"C" + _u16(1) + b"a")
            closes.append(b"\x00\x00\x09")
        elif k == "strict_array":
            opens.append(b"\x0a" + _u32(1))
            closes.append(b"")
        else:  # AMF3 arrays inside one avmplus switch: 0x09 U29A=3 (1 dense), empty assoc name
            if i == 0:
                opens.append(b"\x11\x09\x03\x01")
            else:
                opens.append(b"\x09\x03\x01")
            closes.append(b"")
    leaf = b"\x01" if kind == "avmplus" else b"\x05"  # AMF3 null / AMF0 null
    body = b"".join(opens) + leaf + (b"".join(reversed(closes)) if closed else b"")
    return f"AMF0 {kind} nested {depth} levels{'' if closed else ' (unclosed)'}", body


def huge_length(rng: random.Random) -> tuple[str, bytes]:
    """A length or count field at an edge, with much less data than it announces (or exactly 0)."""
    n16 = rng.choice((0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF))
    n32 = rng.choice((0, 1, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF))
    tail = rng.randbytes(rng.choice((0, 1, 7, 64)))
    choices = (
        ("string length", b"\x02" + _u16(n16) + tail),
        ("long string length", b"\x0c" + _u32(n32) + tail),
        ("xml document length", b"\x0f" + _u32(n32) + tail),
        ("strict array count", b"\x0a" + _u32(n32) + b"\x05" * rng.choice((0, 1, 3))),
        ("ecma array count", b"\x08" + _u32(n32) + _u16(1) + b"a\x05\x00\x00\x09"),
        ("object property name length", b"\x03" + _u16(n16) + tail),
        ("typed object class name length", b"\x10" + _u16(n16) + tail),
        ("reference index", b"\x07" + _u16(n16)),
        ("date", b"\x0b" + rng.choice((b"\x7f\xf8\x00\x00\x00\x00\x00\x00", b"\xff\xf0" + b"\x00" * 6,
                                        b"\x7f\xef\xff\xff\xff\xff\xff\xff")) + _u16(n16)),
        ("number NaN payload", b"\x00\x7f\xf8\x00\x00\x00\x00\x00\x01"),
        ("truncated number", b"\x00" + tail[:3]),
    )
    label, data = rng.choice(choices)
    return f"AMF0 {label} {n16 if 'string length' == label or 'name' in label else n32}", data


def bad_marker(rng: random.Random) -> tuple[str, bytes]:
    marker = rng.choice((0x04, 0x09, 0x0D, 0x0E, 0x12, 0x13, 0x20, 0x7F, 0x80, 0xFE, 0xFF))
    return f"AMF0 marker 0x{marker:02x}", bytes([marker]) + rng.randbytes(rng.choice((0, 1, 4, 9)))


def _u29(n: int) -> bytes:
    n &= 0x1FFFFFFF
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return bytes([(n >> 7) | 0x80, n & 0x7F])
    if n < 0x200000:
        return bytes([(n >> 14) | 0x80, ((n >> 7) & 0x7F) | 0x80, n & 0x7F])
    return bytes([(n >> 22) | 0x80, ((n >> 15) & 0x7F) | 0x80, ((n >> 8) & 0x7F) | 0x80, n & 0xFF])


def amf3_hostile(rng: random.Random) -> tuple[str, bytes]:
    """One AMF3 value after the AMF0 avmplus-object marker 0x11."""
    big = rng.choice((0x0FFFFFFF, 0x1FFFFFFF, 0x10000, 0x3FFF))
    ref = rng.choice((0, 1, 2, 100, 0x0FFFFFFF))
    choices = (
        ("string length", b"\x06" + _u29((big << 1) | 1) + b"ab"),
        ("string reference", b"\x06" + _u29(ref << 1)),
        ("byte array length", b"\x0c" + _u29((big << 1) | 1) + b"\x00"),
        ("dense array count", b"\x09" + _u29((big << 1) | 1) + b"\x01" + b"\x01" * 3),
        ("object traits count", b"\x0a" + _u29((big << 4) | 0x03) + b"\x01"),
        ("traits reference", b"\x0a" + _u29((ref << 2) | 0x01)),
        ("object reference", b"\x0a" + _u29(ref << 1)),
        ("vector int count", b"\x0d" + _u29((big << 1) | 1) + b"\x00"),
        ("vector object count", b"\x10" + _u29((big << 1) | 1) + b"\x00\x01"),
        ("dictionary count", b"\x11" + _u29((big << 1) | 1) + b"\x00"),
        ("xml length", b"\x0b" + _u29((big << 1) | 1)),
        ("date reference", b"\x08" + _u29(ref << 1)),
        ("externalizable traits", b"\x0a\x07\x07ABC"),
        ("bad marker", bytes([rng.choice((0x12, 0x13, 0x7F, 0xFF))])),
        ("U29 all ones", b"\x04\xff\xff\xff\xff"),
        ("truncated U29", b"\x04\xff\xff"),
    )
    label, data = rng.choice(choices)
    return f"AMF3 {label}", b"\x11" + data


def hostile_amf0(rng: random.Random, *, max_depth: int = 1 << 30) -> tuple[str, bytes]:
    r = rng.random()
    if r < 0.3:
        return deep_nesting(rng, max_depth=max_depth)
    if r < 0.6:
        return huge_length(rng)
    if r < 0.8:
        return bad_marker(rng)
    return amf3_hostile(rng)
