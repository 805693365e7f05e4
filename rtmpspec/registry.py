"""Named codecs: the golden vectors, the contract tests, the dissector and the fuzzers find schemas here.

A codec turns bytes into a decoded value and back. Schema codecs wrap one construct schema; streaming codecs
(chunk stream, FLV file, handshake) wrap a sans-I/O reader and take input in pieces.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import construct

from .errors import DecodeError


@dataclass(frozen=True)
class Codec:
    name: str
    parse: Callable[[bytes], Any]
    build: Callable[[Any], bytes]
    section: str
    schema: construct.Construct | None = None
    streaming: bool = False
    # for streaming codecs: feed pieces, get the same value as parse(whole)
    parse_pieces: Callable[[list[bytes]], Any] | None = None
    # consumed length of a parse of data with trailing bytes (schema codecs)
    parse_prefix: Callable[[bytes], tuple[Any, int]] | None = field(default=None, repr=False)
    # context parameters passed to the schema's parse and build
    params: dict = field(default_factory=dict)


CODECS: dict[str, Codec] = {}

# modules that register codecs when imported
_MODULES = (
    "rtmpspec.handshake",
    "rtmpspec.chunkheader",
    "rtmpspec.chunkreader",
    "rtmpspec.control",
    "rtmpspec.amf0",
    "rtmpspec.amf3",
    "rtmpspec.messages",
    "rtmpspec.media",
    "rtmpspec.flv",
)


def register(codec: Codec) -> Codec:
    CODECS[codec.name] = codec
    return codec


def register_schema(name: str, schema: construct.Construct, section: str, **params: Any) -> Codec:
    """Register a construct schema. ``params`` are passed as context to parse and build."""

    def parse(data: bytes) -> Any:
        try:
            return schema.parse(data, **params)
        except construct.ConstructError as exc:
            raise DecodeError(f"{name}: {exc}", section=section) from exc

    def parse_prefix(data: bytes) -> tuple[Any, int]:
        stream = io.BytesIO(data)
        try:
            value = schema.parse_stream(stream, **params)
        except construct.ConstructError as exc:
            raise DecodeError(f"{name}: {exc}", section=section) from exc
        return value, stream.tell()

    def build(value: Any) -> bytes:
        return schema.build(value, **params)

    return register(Codec(name, parse, build, section, schema=schema, parse_prefix=parse_prefix,
                          params=dict(params)))


def load_all() -> dict[str, Codec]:
    for mod in _MODULES:
        importlib.import_module(mod)
    return CODECS


def get(name: str) -> Codec:
    if name not in CODECS:
        load_all()
    return CODECS[name]
