"""AMF0 (Adobe "Action Message Format -- AMF 0" specification): schemas, value model and codec.

RTMP command (type 20) and data (type 18) message payloads are sequences of AMF0 values; ``decode_all`` and
``encode_all`` handle those. The schema ``ValueSchema`` (= ``value_schema(64)``) is the single parser: the codec
parses with it and converts the resulting Containers to Python values (see ``amf0_values``) in one pass.

Nesting is bounded without any state: ``value_schema(n)`` only accepts container values (object, ECMA array,
strict array, typed object) whose members come from ``value_schema(n - 1)``, and ``value_schema(0)`` accepts no
containers at all. Counts never drive allocation: arrays grow one parsed element at a time, so a U32 count larger
than the input fails as soon as the input ends.
"""

from __future__ import annotations

import functools
from typing import Any

from construct import (
    Construct,
    Container,
    Enum,
    Error,
    ExplicitError,
    Float64b,
    IfThenElse,
    Int8ub,
    Int16sb,
    Int16ub,
    Int32ub,
    LazyBound,
    PascalString,
    Pass,
    PrefixedArray,
    RepeatUntil,
    StreamError,
    Struct,
    Switch,
    obj_,
    this,
)

from . import amf3, registry
from .amf0_values import (
    DEFAULT_MAX_DEPTH,
    MOVIECLIP,
    RECORDSET,
    UNDEFINED,
    UNSUPPORTED,
    AMFDate,
    AMFFieldError,
    AMFLimitExceeded,
    AVMPlus,
    ECMAArray,
    LongString,
    Reference,
    TrackingStream,
    TypedObject,
    XMLDocument,
    build_value,
    field_name,
    local_error,
    parse_value,
    path_names,
    section_for,
    truncation_message,
)
from .errors import DecodeError

__all__ = [
    "AMFDate", "AVMPlus", "ECMAArray", "LongString", "MOVIECLIP", "RECORDSET", "Reference", "TypedObject",
    "UNDEFINED", "UNSUPPORTED", "XMLDocument", "Marker", "ValueSchema", "value_schema", "decode", "decode_all",
    "encode", "encode_all", "to_value", "to_container",
]

SECTION = "AMF0 2"

# ---------------------------------------------------------------------------------------------------------
# AMF0 2.1 Types Overview: marker = U8
# ---------------------------------------------------------------------------------------------------------

Marker = Enum(
    Int8ub,
    number=0x00, boolean=0x01, string=0x02, object=0x03, movieclip=0x04, null=0x05, undefined=0x06,
    reference=0x07, ecma_array=0x08, object_end=0x09, strict_array=0x0A, date=0x0B, long_string=0x0C,
    unsupported=0x0D, recordset=0x0E, xml_document=0x0F, typed_object=0x10, avmplus_object=0x11,
)
CONTAINER_MARKERS = frozenset({0x03, 0x08, 0x0A, 0x10})  # nest other values: count against max_depth

# AMF0 1.3.1 Strings and UTF-8: UTF-8 = U16 *(UTF8-char); UTF-8-long = U32 *(UTF8-char)
UTF8 = PascalString(Int16ub, "utf8")
UTF8Long = PascalString(Int32ub, "utf8")

# AMF0 2.13 date-type = date-marker DOUBLE time-zone
DateType = Struct(
    "date" / Float64b,      # milliseconds since 1970-01-01 UTC
    "time_zone" / Int16sb,  # reserved, should be 0x0000
)


def _properties(member: Construct) -> Construct:
    # AMF0 2.5 object-property = (UTF-8 value-type) | (UTF-8-empty object-end-marker)
    return RepeatUntil(obj_.value.marker == "object_end", Struct("name" / UTF8, "value" / member))


def _cases(remaining: int) -> dict:
    cases = {
        "number": "number" / Float64b,                        # 2.2
        "boolean": "boolean" / Int8ub,                        # 2.3: 0 is false, <> 0 is true
        "string": "string" / UTF8,                            # 2.4
        "movieclip": Pass,                                    # 2.6: reserved, not supported
        "null": Pass,                                         # 2.7
        "undefined": Pass,                                    # 2.8
        "reference": "reference" / Int16ub,                   # 2.9
        "date": "date" / DateType,                            # 2.13
        "long_string": "long_string" / UTF8Long,              # 2.14
        "unsupported": Pass,                                  # 2.15
        "recordset": Pass,                                    # 2.16: reserved, not supported
        "xml_document": "xml_document" / UTF8Long,            # 2.17
        "avmplus_object": "avmplus_object" / amf3.value_schema(remaining),  # 3.1: one AMF3 value follows
    }
    if remaining > 0:
        child = LazyBound(lambda: value_schema(remaining - 1))
        member = LazyBound(lambda: _member_schema(remaining - 1))
        cases["object"] = "object" / _properties(member)     # 2.5
        cases["ecma_array"] = "ecma_array" / Struct(          # 2.10
            "associative_count" / Int32ub,
            "properties" / _properties(member),
        )
        cases["strict_array"] = "strict_array" / PrefixedArray(Int32ub, child)  # 2.12: U32 array-count
        cases["typed_object"] = "typed_object" / Struct(      # 2.18
            "class_name" / UTF8,
            "properties" / _properties(member),
        )
    return cases


@functools.cache
def value_schema(remaining: int = DEFAULT_MAX_DEPTH) -> Construct:
    """AMF0 value-type; container values may nest ``remaining`` more levels. Unknown markers (0x12 and up) and
    a bare object-end marker hit ``Error``."""
    return Struct("marker" / Marker, "value" / Switch(this.marker, _cases(remaining), default=Error))


@functools.cache
def _member_schema(remaining: int) -> Construct:
    # an object member: any value, or (2.11) the object-end marker right after the empty name
    cases = dict(_cases(remaining), object_end=IfThenElse(this._.name == "", Pass, Error))
    return Struct("marker" / Marker, "value" / Switch(this.marker, cases, default=Error))


ValueSchema = value_schema(DEFAULT_MAX_DEPTH)

# ---------------------------------------------------------------------------------------------------------
# Containers -> values (one pass after parsing)
# ---------------------------------------------------------------------------------------------------------


def _members(properties) -> dict:
    return {p.name: to_value(p.value) for p in properties[:-1]}


_FROM = {
    "number": lambda v: v,
    "boolean": bool,
    "string": lambda v: v,
    "object": _members,
    "movieclip": lambda v: MOVIECLIP,
    "null": lambda v: None,
    "undefined": lambda v: UNDEFINED,
    "reference": Reference,
    "ecma_array": lambda v: ECMAArray(_members(v.properties), associative_count=v.associative_count),
    "strict_array": lambda v: [to_value(x) for x in v],
    "date": lambda v: AMFDate(v.date, v.time_zone),
    "long_string": LongString,
    "unsupported": lambda v: UNSUPPORTED,
    "recordset": lambda v: RECORDSET,
    "xml_document": XMLDocument,
    "typed_object": lambda v: TypedObject(v.class_name, _members(v.properties)),
    "avmplus_object": lambda v: AVMPlus(amf3.to_value(v)),
}


def to_value(c: Container) -> Any:
    """Turn one parsed AMF0 value-type Container into the Python value model."""
    return _FROM[c.marker](c.value)


# ---------------------------------------------------------------------------------------------------------
# Values -> Containers (for building)
# ---------------------------------------------------------------------------------------------------------

_U16_MAX = 0xFFFF
_END = {"name": "", "value": {"marker": "object_end", "value": None}}


def _key(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"AMF0 property names are strings, got {type(name).__name__}")
    if len(name.encode("utf-8")) > _U16_MAX:
        raise local_error("property name longer than 65535 UTF-8 bytes", "AMF0 2.5")
    return name


def _props(members: dict, depth: int) -> list:
    return [{"name": _key(k), "value": to_container(v, depth)} for k, v in members.items()] + [_END]


def _simple(marker: str, value: Any = None) -> dict:
    return {"marker": marker, "value": value}


_SINGLETONS = {id(UNDEFINED): "undefined", id(MOVIECLIP): "movieclip", id(UNSUPPORTED): "unsupported",
               id(RECORDSET): "recordset"}


def to_container(value: Any, depth: int = DEFAULT_MAX_DEPTH) -> dict:
    """Turn a Python value into the Container layout ``value_schema(depth)`` builds."""
    if value is None:
        return _simple("null")
    marker = _SINGLETONS.get(id(value))
    if marker is not None:
        return _simple(marker)
    if value is True or value is False:
        return _simple("boolean", int(value))
    if isinstance(value, (int, float)):
        try:
            return _simple("number", float(value))
        except OverflowError:
            raise local_error("integer too large for an AMF0 number (double)", "AMF0 2.2") from None
    if isinstance(value, XMLDocument):
        return _simple("xml_document", str(value))
    if isinstance(value, LongString):
        return _simple("long_string", str(value))
    if isinstance(value, str):
        if len(value) > _U16_MAX // 4 and len(value.encode("utf-8")) > _U16_MAX:  # 4 bytes max per char
            return _simple("long_string", value)
        return _simple("string", value)
    if isinstance(value, Reference):
        return _simple("reference", value.index)
    if isinstance(value, AMFDate):
        return _simple("date", {"date": float(value.ms), "time_zone": value.timezone})
    if isinstance(value, AVMPlus):
        return _simple("avmplus_object", amf3.to_container(value.value, depth))
    # containers from here on
    if depth <= 0:
        raise local_error("value nests deeper than the AMF0 depth limit", "AMF0 2")
    depth -= 1
    if isinstance(value, ECMAArray):
        return _simple("ecma_array", {"associative_count": value.effective_count,
                                      "properties": _props(value, depth)})
    if isinstance(value, dict):
        return _simple("object", _props(value, depth))
    if isinstance(value, (list, tuple)):
        return _simple("strict_array", [to_container(x, depth) for x in value])
    if isinstance(value, TypedObject):
        return _simple("typed_object", {"class_name": _key(value.class_name),
                                        "properties": _props(value.members, depth)})
    raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


# ---------------------------------------------------------------------------------------------------------
# Codec
# ---------------------------------------------------------------------------------------------------------

_SECTIONS = {
    "marker": "AMF0 2.1", "number": "AMF0 2.2", "boolean": "AMF0 2.3", "string": "AMF0 2.4", "object": "AMF0 2.5",
    "name": "AMF0 2.5", "reference": "AMF0 2.9", "ecma_array": "AMF0 2.10", "associative_count": "AMF0 2.10",
    "strict_array": "AMF0 2.12", "date": "AMF0 2.13", "time_zone": "AMF0 2.13", "long_string": "AMF0 2.14",
    "xml_document": "AMF0 2.17", "typed_object": "AMF0 2.18", "class_name": "AMF0 2.18",
}
_CONTAINERS = frozenset({"object", "ecma_array", "strict_array", "typed_object"})
_CONTAINER_SECTIONS = {0x03: "AMF0 2.5", 0x08: "AMF0 2.10", 0x0A: "AMF0 2.12", 0x10: "AMF0 2.18"}


def _translate(exc: Exception, stream: TrackingStream, data: bytes, max_depth: int) -> DecodeError:
    names = path_names(exc)
    if "avmplus_object" in names:  # the failure is inside an AMF3 value
        return amf3.translate_error(exc, stream, data, max_depth)
    fname = field_name(names)
    offset = stream.last
    section = section_for(names, _SECTIONS, SECTION)
    if isinstance(exc, AMFFieldError):
        return DecodeError(exc.what, offset=exc.offset, field=fname, section=exc.section)
    if isinstance(exc, StreamError):
        return DecodeError(truncation_message(exc, names, _CONTAINERS), offset=offset, field=fname,
                           section=section)
    if isinstance(exc, ExplicitError) and offset < len(data):
        marker = data[offset]
        if marker == 0x09:
            return DecodeError("object-end marker where a value is expected", offset=offset, field="marker",
                               section="AMF0 2.11")
        if marker in CONTAINER_MARKERS:
            return AMFLimitExceeded(f"AMF0 {Marker.decmapping[marker]} nests deeper than {max_depth} levels",
                                    offset=offset, field="marker", section=_CONTAINER_SECTIONS[marker])
        return DecodeError(f"unknown AMF0 marker 0x{marker:02x}", offset=offset, field="marker",
                           section="AMF0 2.1")
    if "cannot use encoding" in str(exc):  # StringError from PascalString: the bytes are not UTF-8
        return DecodeError("invalid UTF-8 in string", offset=offset, field=fname or "UTF-8", section="AMF0 1.3.1")
    return DecodeError(f"{type(exc).__name__}: {exc}", offset=offset, field=fname, section=section)


def _parse(stream: TrackingStream, data: bytes, params: dict, max_depth: int) -> Container:
    return parse_value(value_schema(max_depth), stream, data, params, max_depth, translate=_translate)


def decode(data: bytes, offset: int = 0, *, max_depth: int = DEFAULT_MAX_DEPTH,
           amf3_tables: amf3.ReferenceTables | None = None) -> tuple[Any, int]:
    """Decode one AMF0 value at ``offset``; return (value, bytes consumed).

    Raises DecodeError (offset = byte offset in ``data`` of the offending marker/field)."""
    data = bytes(data)
    stream = TrackingStream(data)
    stream.seek(offset)
    c = _parse(stream, data, {"_amf3": amf3_tables or amf3.ReferenceTables()}, max_depth)
    return to_value(c), stream.tell() - offset


def decode_all(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> list:
    """Decode a command/data message payload: AMF0 values until the end of ``data``.

    AMF3 values after avmplus-object-markers share one set of AMF3 reference tables (one message)."""
    data = bytes(data)
    stream = TrackingStream(data)
    params = {"_amf3": amf3.ReferenceTables()}
    out = []
    while stream.tell() < len(data):
        out.append(to_value(_parse(stream, data, params, max_depth)))
    return out


def encode(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH,
           amf3_tables: amf3.ReferenceTables | None = None) -> bytes:
    """Encode one value (see ``amf0_values`` for the mapping)."""
    return build_value(value_schema(max_depth), to_container(value, max_depth),
                            {"_amf3": amf3_tables or amf3.ReferenceTables()}, max_depth, SECTION)


def encode_all(values: list, *, max_depth: int = DEFAULT_MAX_DEPTH) -> bytes:
    tables = amf3.ReferenceTables()
    return b"".join(encode(v, max_depth=max_depth, amf3_tables=tables) for v in values)


def _parse_schema_prefix(data: bytes) -> tuple[Container, int]:
    data = bytes(data)
    stream = TrackingStream(data)
    return _parse(stream, data, {}, DEFAULT_MAX_DEPTH), stream.tell()


def _parse_schema(data: bytes) -> Container:
    return _parse_schema_prefix(data)[0]


def _build_schema(obj: Any) -> bytes:
    return build_value(ValueSchema, obj, {}, DEFAULT_MAX_DEPTH, SECTION)


registry.register(registry.Codec("amf0.value", _parse_schema, _build_schema, "AMF0 2", schema=ValueSchema,
                                 parse_prefix=_parse_schema_prefix))
registry.register(registry.Codec("amf0.values", decode_all, encode_all, "AMF0 2"))
