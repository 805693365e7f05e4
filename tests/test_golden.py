"""Every golden vector, three ways (whole, one byte at a time, with trailing bytes), and build(parse(b)) == b.

Vectors live in golden/<chapter>/ with a manifest.json (see docs/design.md). ``expected`` is the decoded value
in its JSON spelling; vectors with ``checked_by_hand`` were also compared with a hand-written expectation when
they were made, and vectors whose ``source`` is not ``builder`` came from real tools (ffmpeg, nginx-rtmp).
"""

from __future__ import annotations

import glob
import json
import os

import pytest

from rtmpspec import registry
from rtmpspec.jsonable import to_jsonable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAILER = b"\xde\xad\xbe\xef\x00\x01"
STREAM_TRAILER = b"\x03\x00"  # the start of a next unit (a chunk basic header) that is not complete yet


def _vectors():
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "golden", "*", "manifest.json"))):
        with open(path) as f:
            manifest = json.load(f)
        for v in manifest["vectors"]:
            out.append(pytest.param(os.path.dirname(path), v, id=f"{os.path.basename(os.path.dirname(path))}/{v['id']}"))
    return out


VECTORS = _vectors()


def _load(d, v) -> bytes:
    with open(os.path.join(d, v["file"]), "rb") as f:
        return f.read()


def _strip_unconsumed(x):
    if isinstance(x, dict):
        return {k: val for k, val in x.items() if k != "unconsumed"}
    return x


def test_there_are_vectors_for_every_chapter():
    chapters = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "golden", "*")) if os.path.isdir(p)}
    assert {"chunk", "control"} <= chapters


@pytest.mark.parametrize("d,v", VECTORS)
def test_whole(d, v):
    codec = registry.get(v["codec"])
    data = _load(d, v)
    assert to_jsonable(codec.parse(data)) == v["expected"]


@pytest.mark.parametrize("d,v", VECTORS)
def test_build_parse_round_trip(d, v):
    codec = registry.get(v["codec"])
    data = _load(d, v)
    assert codec.build(codec.parse(data)) == data


@pytest.mark.parametrize("d,v", VECTORS)
def test_byte_at_a_time(d, v):
    codec = registry.get(v["codec"])
    data = _load(d, v)
    if codec.streaming:
        assert to_jsonable(codec.parse_pieces([data[i:i + 1] for i in range(len(data))])) == v["expected"]
        return
    # a schema codec: no strict prefix decodes to the same value (truncation never goes unnoticed)
    for n in range(len(data)):
        try:
            got = to_jsonable(codec.parse(data[:n]))
        except Exception:
            continue
        assert got != v["expected"], f"prefix of {n} bytes decodes to the full value"


@pytest.mark.parametrize("d,v", VECTORS)
def test_with_trailing_bytes(d, v):
    codec = registry.get(v["codec"])
    data = _load(d, v)
    if codec.streaming:
        got = to_jsonable(codec.parse_pieces([data, STREAM_TRAILER]))
        assert _strip_unconsumed(got) == _strip_unconsumed(v["expected"])
        return
    if codec.parse_prefix is None:
        # a sequence codec (e.g. amf0.values): trailing bytes are more input; garbage must not go unnoticed
        try:
            got = to_jsonable(codec.parse(data + TRAILER))
        except Exception:
            return
        assert got != v["expected"]
        return
    value, consumed = codec.parse_prefix(data + TRAILER)
    if consumed == len(data) + len(TRAILER):
        # the schema ends with a greedy field (a media payload): trailing bytes belong to the value by
        # definition; they must then survive a round trip and change the value
        assert codec.build(value) == data + TRAILER
        assert to_jsonable(value) != v["expected"]
        return
    assert consumed == len(data)
    assert to_jsonable(value) == v["expected"]
