"""AMF3 value model: the Python values :mod:`rtmpspec.amf3` decodes to and encodes from.

- undefined -> ``UNDEFINED``; null -> ``None``; false/true -> ``bool``; integer -> ``int``; double -> ``float``
- string -> ``str``, or ``AMF3StringRef`` (a ``str``) when the wire used a string reference
- XMLDocument -> ``AMF3XMLDocument``; XML -> ``AMF3XML``; date -> ``AMF3Date(ms)``; ByteArray -> ``bytes``
- array -> ``list`` (dense part only) or ``AMF3Array(assoc, dense)``
- object -> ``dict`` (anonymous dynamic object with inline traits and no sealed members), else ``AMF3Object``;
  known externalizable classes -> ``AMF3Externalizable``
- Vector.<int/uint/Number/Object> -> ``AMF3Vector``; Dictionary -> ``AMF3Dictionary``
- an object reference -> ``AMF3Reference(marker, index)``, kept as is so that encode(decode(b)) == b

Encoding sends plain ``str`` inline, always; string, object and traits references are only sent where the value
says so (``AMF3StringRef``, ``AMF3Reference``, ``traits_ref``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from construct import Container

from .amf0_values import DEFAULT_MAX_DEPTH, UNDEFINED, local_error
from .jsonable import to_jsonable


class AMF3StringRef(str):
    """A string the wire sent as a reference into the string table (AMF3 1.3.2); equal to the plain string."""

    def __new__(cls, value: str, index: int) -> AMF3StringRef:
        self = super().__new__(cls, value)
        self.index = index
        return self

    def __reduce__(self) -> tuple:
        return (AMF3StringRef, (str(self), self.index))

    def __repr__(self) -> str:
        return f"AMF3StringRef({str.__repr__(self)}, index={self.index})"

    def __json__(self) -> dict:
        return {"$amf3": "string-ref", "index": self.index, "value": str(self)}


class AMF3XMLDocument(str):
    """AMF3 3.9 legacy flash.xml.XMLDocument."""

    __slots__ = ()

    def __json__(self) -> dict:
        return {"$amf3": "xml-document", "value": str(self)}


class AMF3XML(str):
    """AMF3 3.13 E4X XML."""

    __slots__ = ()

    def __json__(self) -> dict:
        return {"$amf3": "xml", "value": str(self)}


@dataclass(frozen=True)
class AMF3Date:
    """AMF3 3.10: milliseconds since 1970-01-01 UTC (no time zone)."""

    ms: float

    def __json__(self) -> dict:
        return {"$amf3": "date", "ms": to_jsonable(self.ms)}


@dataclass(frozen=True)
class AMF3Reference:
    """A reference to the ``index``-th complex value of this message (AMF3 2.2), under ``marker``."""

    marker: str
    index: int

    def __json__(self) -> dict:
        return {"$amf3": "reference", "marker": self.marker, "index": self.index}


@dataclass(frozen=True)
class AMF3Array:
    """AMF3 3.11 array with an associative part (an array without one decodes to ``list``)."""

    assoc: dict
    dense: list = field(default_factory=list)

    def __json__(self) -> dict:
        return {"$amf3": "array", "assoc": to_jsonable(self.assoc), "dense": to_jsonable(self.dense)}


@dataclass(frozen=True)
class AMF3Object:
    """AMF3 3.12 object. ``dynamic is None`` means not dynamic. ``traits_ref`` is the traits-table index when
    the wire referenced earlier traits (then ``class_name`` and the sealed names come from that entry)."""

    class_name: str = ""
    sealed: dict = field(default_factory=dict)
    dynamic: dict | None = None
    traits_ref: int | None = None

    def __json__(self) -> dict:
        out = {"$amf3": "object", "class_name": str(self.class_name), "sealed": to_jsonable(self.sealed),
               "dynamic": to_jsonable(self.dynamic)}
        if self.traits_ref is not None:
            out["traits_ref"] = self.traits_ref
        return out


@dataclass(frozen=True)
class AMF3Externalizable:
    """AMF3 3.12 externalizable object of a known class whose body is one AMF3 value."""

    class_name: str
    value: Any
    traits_ref: int | None = None

    def __json__(self) -> dict:
        out = {"$amf3": "externalizable", "class_name": str(self.class_name), "value": to_jsonable(self.value)}
        if self.traits_ref is not None:
            out["traits_ref"] = self.traits_ref
        return out


VECTOR_KINDS = ("int", "uint", "double", "object")


@dataclass(frozen=True)
class AMF3Vector:
    """AMF3 3.15 Vector.<int> / Vector.<uint> / Vector.<Number> / Vector.<Object> (``kind``)."""

    kind: str
    items: list
    fixed: bool = False
    type_name: str = ""  # object vectors only

    def __json__(self) -> dict:
        out = {"$amf3": f"vector-{self.kind}", "fixed": self.fixed, "items": to_jsonable(self.items)}
        if self.kind == "object":
            out["type_name"] = str(self.type_name)
        return out


@dataclass(frozen=True)
class AMF3Dictionary:
    """AMF3 3.16 Dictionary: ``entries`` is a list of (key, value) pairs (keys may be any value)."""

    entries: list
    weak_keys: bool = False

    def __json__(self) -> dict:
        return {"$amf3": "dictionary", "weak_keys": self.weak_keys,
                "entries": [[to_jsonable(k), to_jsonable(v)] for k, v in self.entries]}


# ---------------------------------------------------------------------------------------------------------
# Containers -> values (one pass after parsing)
# ---------------------------------------------------------------------------------------------------------


def _text(c: Container) -> str:
    return c.text if c.header & 1 else AMF3StringRef(c.text, c.header >> 1)


def _members(pairs) -> dict:
    return {_text(p.name): to_value(p.value) for p in pairs[:-1]}


def _object(v: Container) -> Any:
    traits = v._traits
    header = v.header
    inline = bool(header & 2)
    class_name = _text(v.class_name) if inline else traits.class_name
    traits_ref = None if inline else header >> 2
    if traits.externalizable:
        return AMF3Externalizable(class_name, to_value(v.external), traits_ref)
    names = [_text(n) for n in v.sealed_names] if inline else traits.members
    sealed = dict(zip(names, (to_value(x) for x in v.sealed or ()), strict=True))
    dynamic = _members(v.dynamic) if traits.dynamic else None
    if header == 0x0B and v.class_name.header == 1:  # anonymous dynamic Object, inline traits, no sealed
        return dynamic
    return AMF3Object(class_name, sealed, dynamic, traits_ref)


def _array(v: Container) -> Any:
    dense = [to_value(x) for x in v.dense]
    if len(v.assoc) == 1:
        return dense
    return AMF3Array(_members(v.assoc), dense)


_FROM = {
    "undefined": lambda v: UNDEFINED,
    "null": lambda v: None,
    "false": lambda v: False,
    "true": lambda v: True,
    "integer": lambda v: v,
    "double": lambda v: v,
    "string": _text,
    "xml_doc": lambda v: AMF3XMLDocument(v.text),
    "date": lambda v: AMF3Date(v.date),
    "array": _array,
    "object": _object,
    "xml": lambda v: AMF3XML(v.text),
    "byte_array": lambda v: bytes(v.data),
    "vector_int": lambda v: AMF3Vector("int", list(v.elements), bool(v.fixed)),
    "vector_uint": lambda v: AMF3Vector("uint", list(v.elements), bool(v.fixed)),
    "vector_double": lambda v: AMF3Vector("double", list(v.elements), bool(v.fixed)),
    "vector_object": lambda v: AMF3Vector("object", [to_value(x) for x in v.elements], bool(v.fixed),
                                          _text(v.type_name)),
    "dictionary": lambda v: AMF3Dictionary([(to_value(e.key), to_value(e.value)) for e in v.entries],
                                           bool(v.weak_keys)),
}
_SCALARS = frozenset({"undefined", "null", "false", "true", "integer", "double", "string"})


def to_value(c: Container) -> Any:
    """Turn one parsed AMF3 value-type Container into the Python value model."""
    marker = c.marker
    v = c.value
    if marker not in _SCALARS and not v.header & 1:
        return AMF3Reference(str(marker), v.header >> 1)
    return _FROM[marker](v)


# ---------------------------------------------------------------------------------------------------------
# Values -> Containers (for building)
# ---------------------------------------------------------------------------------------------------------


def _str_c(s: str) -> dict:
    if isinstance(s, AMF3StringRef):
        return {"header": s.index << 1, "data": None}
    if not isinstance(s, str):
        raise TypeError(f"AMF3 string expected, got {type(s).__name__}")
    data = s.encode("utf-8")
    if len(data) >= 1 << 28:
        raise local_error(f"string of {len(data)} UTF-8 bytes does not fit a U29 length", "AMF3 1.3.2")
    return {"header": len(data) << 1 | 1, "data": data}


def _inline(length: int, **fields: Any) -> dict:
    if length >= 1 << 28:
        raise local_error(f"length {length} does not fit a U29", "AMF3 1.3.1")
    return {"header": length << 1 | 1, **fields}


def _pairs(members: dict, depth: int) -> list:
    out = [{"name": _str_c(k), "value": to_container(v, depth)} for k, v in members.items()]
    for p in out:
        if p["name"]["header"] == 1:
            raise local_error("an empty member name would end the member list", "AMF3 3.12")
    out.append({"name": {"header": 1, "data": b""}, "value": None})
    return out


def _object_c(class_name: str, sealed: dict, dynamic: dict | None, traits_ref: int | None, depth: int) -> dict:
    if traits_ref is not None:
        header = traits_ref << 2 | 1
        if header >= 1 << 29:
            raise local_error(f"traits reference {traits_ref} too large", "AMF3 3.12")
        cn, names = None, None
    else:
        if len(sealed) >= 1 << 25:
            raise local_error("too many sealed members", "AMF3 3.12")
        header = len(sealed) << 4 | (8 if dynamic is not None else 0) | 3
        cn, names = _str_c(class_name), [_str_c(k) for k in sealed]
    return {"header": header, "class_name": cn, "sealed_names": names,
            "sealed": [to_container(v, depth) for v in sealed.values()] or None,
            "dynamic": None if dynamic is None else _pairs(dynamic, depth), "external": None}


def _vector_c(v: AMF3Vector, depth: int) -> dict:
    if v.kind not in VECTOR_KINDS:
        raise local_error(f"unknown vector kind {v.kind!r}", "AMF3 3.15")
    fields: dict[str, Any] = {"fixed": int(bool(v.fixed))}
    if v.kind == "object":
        fields["type_name"] = _str_c(v.type_name)
        fields["elements"] = [to_container(x, depth) for x in v.items]
    elif v.kind == "double":
        fields["elements"] = [float(x) for x in v.items]
    else:
        fields["elements"] = list(v.items)
    return {"marker": "vector_" + v.kind, "value": _inline(len(v.items), **fields)}


_REF_FIELDS = {
    "xml_doc": ("data",), "xml": ("data",), "date": ("date",), "byte_array": ("data",),
    "array": ("assoc", "dense"), "object": ("class_name", "sealed_names", "sealed", "dynamic", "external"),
    "vector_int": ("fixed", "elements"), "vector_uint": ("fixed", "elements"), "vector_double": ("fixed", "elements"),
    "vector_object": ("fixed", "type_name", "elements"), "dictionary": ("weak_keys", "entries"),
}


def to_container(value: Any, depth: int = DEFAULT_MAX_DEPTH) -> dict:
    """Turn a Python value into the Container layout ``value_schema`` builds (``depth`` levels may nest)."""
    if value is None:
        return {"marker": "null", "value": None}
    if value is UNDEFINED:
        return {"marker": "undefined", "value": None}
    if value is True or value is False:
        return {"marker": "true" if value else "false", "value": None}
    if isinstance(value, int):
        if -(1 << 28) <= value < 1 << 28:
            return {"marker": "integer", "value": int(value)}
        return {"marker": "double", "value": float(value)}
    if isinstance(value, float):
        return {"marker": "double", "value": value}
    if isinstance(value, (AMF3XMLDocument, AMF3XML)):
        data = value.encode("utf-8")
        marker = "xml_doc" if isinstance(value, AMF3XMLDocument) else "xml"
        return {"marker": marker, "value": _inline(len(data), data=data)}
    if isinstance(value, str):
        return {"marker": "string", "value": _str_c(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return {"marker": "byte_array", "value": _inline(len(data), data=data)}
    if isinstance(value, AMF3Date):
        return {"marker": "date", "value": {"header": 1, "date": float(value.ms)}}
    if isinstance(value, AMF3Reference):
        if value.marker not in _REF_FIELDS:
            raise local_error(f"{value.marker!r} values cannot be sent by reference", "AMF3 2.2")
        return {"marker": value.marker, "value": {"header": value.index << 1, **dict.fromkeys(_REF_FIELDS[value.marker])}}
    if isinstance(value, AMF3Vector) and value.kind != "object":
        return _vector_c(value, depth)
    # containers from here on
    if depth <= 0:
        raise local_error("value nests deeper than the AMF3 depth limit", "AMF3 3")
    depth -= 1
    if isinstance(value, dict):
        return {"marker": "object", "value": _object_c("", {}, value, None, depth)}
    if isinstance(value, (list, tuple)):
        return {"marker": "array", "value": _inline(len(value), assoc=_pairs({}, depth),
                                                    dense=[to_container(x, depth) for x in value])}
    if isinstance(value, AMF3Array):
        return {"marker": "array", "value": _inline(len(value.dense), assoc=_pairs(value.assoc, depth),
                                                    dense=[to_container(x, depth) for x in value.dense])}
    if isinstance(value, AMF3Object):
        return {"marker": "object",
                "value": _object_c(value.class_name, value.sealed, value.dynamic, value.traits_ref, depth)}
    if isinstance(value, AMF3Externalizable):
        c = _object_c(value.class_name, {}, None, value.traits_ref, depth)
        if value.traits_ref is None:
            c["header"] = 0x07
            c["sealed_names"] = None
        c["external"] = to_container(value.value, depth)
        return {"marker": "object", "value": c}
    if isinstance(value, AMF3Vector):
        return _vector_c(value, depth)
    if isinstance(value, AMF3Dictionary):
        entries = [{"key": to_container(k, depth), "value": to_container(v, depth)} for k, v in value.entries]
        return {"marker": "dictionary", "value": _inline(len(entries), weak_keys=int(bool(value.weak_keys)),
                                                         entries=entries)}
    raise TypeError(f"cannot encode {type(value).__name__} as AMF3")

