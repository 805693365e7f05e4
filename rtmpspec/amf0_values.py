"""AMF value model shared by :mod:`rtmpspec.amf0` and :mod:`rtmpspec.amf3`, and their decoding plumbing.

The construct schemas in ``amf0``/``amf3`` decode to Containers that mirror the wire; the codecs turn those
into the friendlier Python values defined here (and AMF3's own classes in ``amf3``):

==================  ===============================================================
AMF0 type           Python value
==================  ===============================================================
number              ``float`` (``int`` accepted when encoding)
boolean             ``bool``
string              ``str`` (encoded as long string when the UTF-8 is > 65535 bytes)
object              ``dict`` (insertion order = wire order)
movieclip           ``MOVIECLIP``
null                ``None``
undefined           ``UNDEFINED``
reference           ``Reference(index)``
ECMA array          ``ECMAArray(dict, associative_count=...)``
strict array        ``list``
date                ``AMFDate(ms, timezone)``
long string         ``LongString(str)``
unsupported         ``UNSUPPORTED``
recordset           ``RECORDSET``
XML document        ``XMLDocument(str)``
typed object        ``TypedObject(class_name, members)``
avmplus-object      ``AVMPlus(amf3_value)``
==================  ===============================================================
"""

from __future__ import annotations

import io
import re
import sys
from dataclasses import dataclass
from typing import Any

import construct

from .errors import DecodeError, LimitExceeded, LocalProtocolError
from .jsonable import to_jsonable

DEFAULT_MAX_DEPTH = 64


class _Singleton:
    """A marker-only AMF value (no payload on the wire)."""

    __slots__ = ("_name", "_tag", "_label")

    def __init__(self, name: str, tag: str, label: str) -> None:
        self._name = name  # module-level name, for repr and pickling
        self._tag = tag
        self._label = label

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name

    def __copy__(self) -> _Singleton:
        return self

    def __deepcopy__(self, memo: dict) -> _Singleton:
        return self

    def __json__(self) -> dict:
        return {self._tag: self._label}


#: AMF0 2.8 / AMF3 3.2 undefined (one value for both encodings)
UNDEFINED = _Singleton("UNDEFINED", "$amf", "undefined")
#: AMF0 2.6 movieclip (reserved, not supported)
MOVIECLIP = _Singleton("MOVIECLIP", "$amf0", "movieclip")
#: AMF0 2.15 unsupported
UNSUPPORTED = _Singleton("UNSUPPORTED", "$amf0", "unsupported")
#: AMF0 2.16 recordset (reserved, not supported)
RECORDSET = _Singleton("RECORDSET", "$amf0", "recordset")


@dataclass(frozen=True)
class Reference:
    """AMF0 2.9: index into the table of complex objects already sent in this message."""

    index: int

    def __json__(self) -> dict:
        return {"$amf0": "reference", "index": self.index}


class ECMAArray(dict):
    """AMF0 2.10: an associative array; keeps the wire ``associative-count``.

    ``associative_count=None`` means "write ``len(self)``". Two ECMA arrays are equal when their items and their
    effective counts are equal; an ECMA array equals a plain dict with the same items.
    """

    __slots__ = ("associative_count",)

    def __init__(self, *args: Any, associative_count: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.associative_count = associative_count

    @property
    def effective_count(self) -> int:
        return len(self) if self.associative_count is None else self.associative_count

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ECMAArray):
            return dict.__eq__(self, other) and self.effective_count == other.effective_count
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ECMAArray({dict.__repr__(self)}, associative_count={self.associative_count!r})"

    def __reduce__(self) -> tuple:
        return (_make_ecma_array, (dict(self), self.associative_count))

    def copy(self) -> ECMAArray:
        return ECMAArray(self, associative_count=self.associative_count)

    def __json__(self) -> dict:
        return {
            "$amf0": "ecma-array",
            "associative_count": self.effective_count,
            "properties": {str(k): to_jsonable(v) for k, v in self.items()},
        }


def _make_ecma_array(items: dict, count: int | None) -> ECMAArray:
    return ECMAArray(items, associative_count=count)


@dataclass(frozen=True)
class AMFDate:
    """AMF0 2.13: milliseconds since 1970-01-01 UTC and the reserved S16 time-zone (should be 0)."""

    ms: float
    timezone: int = 0

    def __json__(self) -> dict:
        return {"$amf0": "date", "ms": to_jsonable(self.ms), "tz": self.timezone}


class LongString(str):
    """AMF0 2.14: a string sent with the U32 length header even if it would fit in 65535 bytes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"LongString({str.__repr__(self)})"

    def __json__(self) -> dict:
        return {"$amf0": "long-string", "value": str(self)}


class XMLDocument(str):
    """AMF0 2.17: an XML document, sent as UTF-8-long."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"XMLDocument({str.__repr__(self)})"

    def __json__(self) -> dict:
        return {"$amf0": "xml-document", "value": str(self)}


@dataclass(frozen=True)
class TypedObject:
    """AMF0 2.18: an object with a registered class name."""

    class_name: str
    members: dict

    def __json__(self) -> dict:
        return {
            "$amf0": "typed-object",
            "class_name": self.class_name,
            "members": {str(k): to_jsonable(v) for k, v in self.members.items()},
        }


@dataclass(frozen=True)
class AVMPlus:
    """AMF0 3.1: avmplus-object-marker; ``value`` is the AMF3 value that follows."""

    value: Any

    def __json__(self) -> dict:
        return {"$amf0": "avmplus", "value": to_jsonable(self.value)}


# ---------------------------------------------------------------------------------------------------------
# Decoding plumbing shared by amf0 and amf3 (error offsets, nesting headroom)
# ---------------------------------------------------------------------------------------------------------


class AMFLimitExceeded(DecodeError, LimitExceeded):
    """The AMF nesting depth limit was hit (a DecodeError and a LimitExceeded)."""


class AMFFieldError(construct.ConstructError):
    """Raised inside the schemas where a field is wrong in a way construct cannot express (AMF3 U29 form,
    reference indexes, UTF-8). Carries the byte offset of the offending field in the parsed stream."""

    def __init__(self, message: str, *, offset: int | None, section: str, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.what = message
        self.offset = offset
        self.section = section


class TrackingStream(io.BytesIO):
    """BytesIO that remembers where the last read started: the offset of the field being parsed."""

    last = 0

    def read(self, size: int | None = -1) -> bytes:
        self.last = self.tell()
        return super().read(size)


# construct path components -> a name good for DecodeError.field
_PATH_SPLIT = re.compile(r"\s*->\s*")
_TRUNCATED = re.compile(r"expected (\d+), found (\d+)")

# frames the interpreted schema uses per nesting level (measured: about 20 for AMF0, 24 for AMF3)
_FRAMES_PER_LEVEL = 32


def ensure_recursion_headroom(max_depth: int) -> None:
    """Make sure the interpreter can recurse through ``max_depth`` nested values.

    construct parses nested values recursively (about 20-25 Python frames per level), so the default limit of
    1000 frames is not enough for 64 levels. This raises the limit when needed and never lowers it.
    """
    needed = 1000 + max_depth * _FRAMES_PER_LEVEL
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


def path_names(exc: construct.ConstructError) -> list[str]:
    path = getattr(exc, "path", None) or ""
    return [p for p in _PATH_SPLIT.split(path) if p and p != "(parsing)" and p != "(building)"]


def field_name(names: list[str]) -> str | None:
    """The innermost real field of a construct path (helper slots and the generic "value" are skipped)."""
    for name in reversed(names):
        if name and not name.startswith("_") and name not in ("value", "text"):
            return name
    return names[-1].lstrip("_") if names else None


def section_for(names: list[str], sections: dict[str, str], default: str) -> str:
    for name in reversed(names):
        if name in sections:
            return sections[name]
    return default


def truncation_message(exc: construct.ConstructError, names: list[str], containers: frozenset[str]) -> str:
    """Say which field the input ended in, and inside which container (e.g. a strict array whose count is
    larger than the input can hold)."""
    what = field_name(names) or "value"
    inside = next((n for n in reversed(names) if n in containers and n != what), None)
    if inside:
        what = f"{what} of {inside}"
    m = _TRUNCATED.search(str(exc))
    if m:
        return f"input ends inside {what}: {m.group(1)} byte(s) needed, {m.group(2)} left"
    return f"input ends inside {what}"

def local_error(what: str, section: str) -> LocalProtocolError:
    """An encoding refused: the value cannot be sent under the rule of ``section``."""
    return LocalProtocolError(f"{what} [{section}]")


def parse_value(schema: construct.Construct, stream: TrackingStream, data: bytes, params: dict, max_depth: int,
                translate) -> Any:
    """Parse one value from ``stream`` with ``schema``; every failure becomes a DecodeError (via ``translate``)
    carrying the byte offset of the offending marker or field."""
    ensure_recursion_headroom(max_depth)
    try:
        return schema.parse_stream(stream, **params)
    except construct.ConstructError as exc:
        raise translate(exc, stream, data, max_depth) from exc
    except RecursionError as exc:
        raise AMFLimitExceeded("value nests too deep for the Python stack", offset=stream.last) from exc


def build_value(schema: construct.Construct, obj: Any, params: dict, max_depth: int, section: str) -> bytes:
    ensure_recursion_headroom(max_depth)
    try:
        return schema.build(obj, **params)
    except construct.ConstructError as exc:
        raise local_error(f"cannot encode: {exc}", section) from exc
