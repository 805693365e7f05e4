"""AMF3 (Adobe "AMF 3 Specification", January 2013): schemas and codec.

AMF3 values reach RTMP inside AMF0 payloads after the avmplus-object-marker 0x11 (AMF0 3.1), in command and
data messages of types 17 and 15. The schema is stateless except for the three reference tables of AMF3 2.2
(strings, objects, traits): they live in the parse/build context (``_params._amf3``, one ``ReferenceTables`` per
message) and are kept by zero-width helper constructs, because a traits reference decides how many sealed
member values follow, which plain construct cannot express.

The Python value model and the Container <-> value conversions live in ``amf3_values``.
"""

from __future__ import annotations

import functools
from typing import Any

from construct import (
    Array,
    Bytes,
    Construct,
    ConstructError,
    Container,
    Enum,
    Error,
    ExplicitError,
    Float64b,
    If,
    Int8ub,
    Int32sb,
    Int32ub,
    IntegerError,
    LazyBound,
    Pass,
    RepeatUntil,
    SizeofError,
    StreamError,
    Struct,
    Switch,
    obj_,
    stream_read,
    stream_write,
    this,
)

from . import registry
from .amf0_values import (
    DEFAULT_MAX_DEPTH,
    UNDEFINED,
    AMFFieldError,
    AMFLimitExceeded,
    TrackingStream,
    build_value,
    field_name,
    parse_value,
    path_names,
    section_for,
    truncation_message,
)
from .amf3_values import (
    AMF3XML,
    VECTOR_KINDS,
    AMF3Array,
    AMF3Date,
    AMF3Dictionary,
    AMF3Externalizable,
    AMF3Object,
    AMF3Reference,
    AMF3StringRef,
    AMF3Vector,
    AMF3XMLDocument,
    to_container,
    to_value,
)
from .errors import DecodeError

__all__ = [
    "AMF3Array", "AMF3Date", "AMF3Dictionary", "AMF3Externalizable", "AMF3Object", "AMF3Reference",
    "AMF3StringRef", "AMF3Vector", "AMF3XML", "AMF3XMLDocument", "UNDEFINED", "VECTOR_KINDS", "Marker",
    "ReferenceTables", "U29", "ValueSchema", "value_schema", "decode", "decode_all", "encode", "encode_all",
    "to_container", "to_value",
]

SECTION = "AMF3 3"

# ---------------------------------------------------------------------------------------------------------
# AMF3 1.3.1 Variable Length Unsigned 29-bit Integer Encoding
# ---------------------------------------------------------------------------------------------------------

_U29_FLOOR = {2: 0x80, 3: 0x4000, 4: 0x200000}  # smallest value that needs n bytes


def u29_bytes(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    if value < 0x4000:
        return bytes((0x80 | value >> 7, value & 0x7F))
    if value < 0x200000:
        return bytes((0x80 | value >> 14, 0x80 | (value >> 7) & 0x7F, value & 0x7F))
    return bytes((0x80 | value >> 22, 0x80 | (value >> 15) & 0x7F, 0x80 | (value >> 8) & 0x7F, value & 0xFF))


def u29_size(value: int) -> int:
    return 1 if value < 0x80 else 2 if value < 0x4000 else 3 if value < 0x200000 else 4


class U29(Construct):
    """U29: 1 to 4 bytes; the first three carry 7 bits each with the high bit as "more follows", the fourth
    carries 8 bits. ``signed=True`` reads the 29 bits as two's complement (AMF3 3.6 integer). Over-long forms
    (a value sent in more bytes than needed) are rejected, so that build(parse(b)) == b."""

    def __init__(self, signed: bool = False) -> None:
        super().__init__()
        self.signed = signed

    def _parse(self, stream, context, path):
        start = stream.tell()
        value = size = 0
        while True:
            byte = stream_read(stream, 1, path)[0]
            size += 1
            if size == 4:  # the fourth byte carries 8 bits
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        if size > 1 and value < _U29_FLOOR[size]:
            raise AMFFieldError(f"over-long U29: {value} sent in {size} bytes", offset=start, section="AMF3 1.3.1",
                                path=path)
        if self.signed and value >= 1 << 28:
            value -= 1 << 29
        return value

    def _build(self, obj, stream, context, path):
        if not isinstance(obj, int) or isinstance(obj, bool):
            raise IntegerError(f"U29 needs an int, got {obj!r}", path=path)
        lo, hi = (-(1 << 28), 1 << 28) if self.signed else (0, 1 << 29)
        if not lo <= obj < hi:
            raise IntegerError(f"{obj} does not fit in a {'signed ' if self.signed else ''}U29", path=path)
        data = u29_bytes(obj & 0x1FFFFFFF)
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context, path):
        raise SizeofError("U29 is variable length", path=path)

    def hypothesis_strategy(self):
        """For rtmpspec.strategies: every U29 size class, small values most often."""
        from hypothesis import strategies as st

        if self.signed:
            return st.one_of(st.integers(-64, 63), st.integers(-(1 << 28), (1 << 28) - 1))
        return st.one_of(st.integers(0, 127), st.integers(0, 0x3FFF), st.integers(0, (1 << 29) - 1))


# ---------------------------------------------------------------------------------------------------------
# AMF3 2.2 reference tables (strings, complex objects, traits), one set per message
# ---------------------------------------------------------------------------------------------------------


class ReferenceTables:
    """The three AMF3 reference tables. Pass one instance to several decode/encode calls to share them."""

    __slots__ = ("strings", "objects", "traits")

    def __init__(self) -> None:
        self.strings: list[str] = []
        self.objects = 0  # only the count matters for parsing
        self.traits: list[Container] = []


def _tables(context) -> ReferenceTables:
    params = context._params
    tables = params.get("_amf3")
    if tables is None:
        tables = params["_amf3"] = ReferenceTables()
    return tables


#: externalizable classes whose body is exactly one AMF3 value (Flex collections and proxies)
EXTERNALIZABLE_ONE_VALUE = frozenset({
    "flex.messaging.io.ArrayCollection",
    "flex.messaging.io.ArrayList",
    "flex.messaging.io.ObjectProxy",
})

_NO_TRAITS = Container(class_name=None, members=[], count=0, dynamic=False, externalizable=False)


class _Slot(Construct):
    """Zero-width helper: reads no bytes; parse and build both run ``_run`` against the reference tables."""

    def __init__(self) -> None:
        super().__init__()
        self.flagbuildnone = True

    def _parse(self, stream, context, path):
        return self._run(stream, context, path)

    def _build(self, obj, stream, context, path):
        return self._run(stream, context, path)

    def _sizeof(self, context, path):
        return 0


class StringSlot(_Slot):
    """AMF3 1.3.2: decode an inline UTF-8-vr (remember it if non-empty) or resolve a string reference."""

    def __init__(self, remember: bool = True) -> None:
        super().__init__()
        self.remember = remember

    def _run(self, stream, context, path):
        header = context.header
        if header & 1:
            data = context.data
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise AMFFieldError(f"invalid UTF-8 ({exc.reason})", offset=stream.tell() - len(data) + exc.start,
                                    section="AMF3 1.3.2", path=path) from None
            if self.remember and data:
                _tables(context).strings.append(text)
            return text
        if not self.remember:
            return None  # an object reference (XML), resolved by ObjectSlot
        strings = _tables(context).strings
        index = header >> 1
        if index >= len(strings):
            raise AMFFieldError(f"string reference {index} but only {len(strings)} strings so far",
                                offset=stream.tell() - u29_size(header), section="AMF3 1.3.2", path=path)
        return strings[index]


class ObjectSlot(_Slot):
    """AMF3 2.2: give an inline complex value the next object index, or check an object reference."""

    def _run(self, stream, context, path):
        header = context.header
        tables = _tables(context)
        if header & 1:
            tables.objects += 1
            return tables.objects - 1
        index = header >> 1
        if index >= tables.objects:
            raise AMFFieldError(f"object reference {index} but only {tables.objects} objects so far",
                                offset=stream.tell() - u29_size(header), section="AMF3 2.2", path=path)
        return index


class TraitsSlot(_Slot):
    """AMF3 3.12: the object's traits - inline (remembered) or from a traits reference."""

    def _run(self, stream, context, path):
        header = context.header
        if not header & 1:
            return _NO_TRAITS
        tables = _tables(context)
        if not header & 2:  # U29O-traits-ref
            index = header >> 2
            if index >= len(tables.traits):
                raise AMFFieldError(f"traits reference {index} but only {len(tables.traits)} traits so far",
                                    offset=stream.tell() - u29_size(header), section="AMF3 3.12", path=path)
            return tables.traits[index]
        class_name = context.class_name.text
        if header & 4:  # U29O-traits-ext
            if class_name not in EXTERNALIZABLE_ONE_VALUE:
                cn = context.class_name
                raise AMFFieldError(
                    f"externalizable class {class_name!r} has a private body format (known: "
                    f"{', '.join(sorted(EXTERNALIZABLE_ONE_VALUE))})",
                    offset=stream.tell() - u29_size(cn.header) - len(cn.data or b""), section="AMF3 3.12", path=path)
            traits = Container(class_name=class_name, members=[], count=0, dynamic=False, externalizable=True)
        else:  # U29O-traits
            traits = Container(class_name=class_name, members=[m.text for m in context.sealed_names],
                               count=header >> 4, dynamic=bool(header & 8), externalizable=False)
        tables.traits.append(traits)
        return traits


# ---------------------------------------------------------------------------------------------------------
# AMF3 3.1 Overview: markers and the value-type
# ---------------------------------------------------------------------------------------------------------

Marker = Enum(
    Int8ub,
    undefined=0x00, null=0x01, false=0x02, true=0x03, integer=0x04, double=0x05, string=0x06, xml_doc=0x07,
    date=0x08, array=0x09, object=0x0A, xml=0x0B, byte_array=0x0C, vector_int=0x0D, vector_uint=0x0E,
    vector_double=0x0F, vector_object=0x10, dictionary=0x11,
)
CONTAINER_MARKERS = frozenset({0x09, 0x0A, 0x10, 0x11})  # nest other values: count against max_depth

# AMF3 1.3.2 UTF-8-vr = U29S-ref | (U29S-value *(UTF8-char)): low bit 1 = inline, length = header >> 1
UTF8vr = Struct(
    "header" / U29(),
    "data" / If(this.header & 1, Bytes(this.header >> 1)),
    "text" / StringSlot(),
)


def _inline_text() -> Struct:  # 3.9 XMLDocument / 3.13 XML: U29O-ref | (U29X-value *(UTF8-char))
    return Struct(
        "header" / U29(),
        "_index" / ObjectSlot(),
        "data" / If(this.header & 1, Bytes(this.header >> 1)),
        "text" / StringSlot(remember=False),
    )


XMLDocType = _inline_text()
XMLType = _inline_text()

DateType = Struct(  # 3.10: U29O-ref | (U29D-value DOUBLE); U29D-value low bit 1, other bits unused
    "header" / U29(),
    "_index" / ObjectSlot(),
    "date" / If(this.header & 1, Float64b),
)

ByteArrayType = Struct(  # 3.14: U29O-ref | (U29B-value *(U8))
    "header" / U29(),
    "_index" / ObjectSlot(),
    "data" / If(this.header & 1, Bytes(this.header >> 1)),
)


def _vector(item) -> Struct:  # 3.15: U29O-ref | (U29V-value fixed-vector *(item))
    return Struct(
        "header" / U29(),
        "_index" / ObjectSlot(),
        "fixed" / If(this.header & 1, Int8ub),
        "elements" / If(this.header & 1, Array(this.header >> 1, item)),
    )


def _member(child) -> Struct:  # assoc-value / dynamic-member = UTF-8-vr value-type; ends with UTF-8-empty
    return Struct("name" / UTF8vr, "value" / If(this.name.header != 1, child))


_EMPTY_NAME = obj_.name.header == 1  # UTF-8-empty (0x01) closes associative and dynamic member lists


@functools.cache
def value_schema(remaining: int = DEFAULT_MAX_DEPTH) -> Construct:
    """AMF3 value-type; containers may nest ``remaining`` more levels."""
    cases = {
        "undefined": Pass, "null": Pass, "false": Pass, "true": Pass,   # 3.2 - 3.5
        "integer": "integer" / U29(signed=True),                      # 3.6
        "double": "double" / Float64b,                                # 3.7
        "string": "string" / UTF8vr,                                  # 3.8
        "xml_doc": "xml_doc" / XMLDocType,                            # 3.9
        "date": "date" / DateType,                                    # 3.10
        "xml": "xml" / XMLType,                                       # 3.13
        "byte_array": "byte_array" / ByteArrayType,                   # 3.14
        "vector_int": "vector_int" / _vector(Int32sb),                # 3.15
        "vector_uint": "vector_uint" / _vector(Int32ub),
        "vector_double": "vector_double" / _vector(Float64b),
    }
    if remaining > 0:
        child = LazyBound(lambda: value_schema(remaining - 1))
        cases["array"] = "array" / Struct(                            # 3.11
            "header" / U29(),          # U29O-ref | U29A-value (dense count << 1 | 1)
            "_index" / ObjectSlot(),
            "assoc" / If(this.header & 1, RepeatUntil(_EMPTY_NAME, _member(child))),
            "dense" / If(this.header & 1, Array(this.header >> 1, child)),
        )
        cases["object"] = "object" / Struct(                          # 3.12
            "header" / U29(),          # U29O-ref | U29O-traits-ref | U29O-traits-ext | U29O-traits
            "_index" / ObjectSlot(),
            "class_name" / If((this.header & 3) == 3, UTF8vr),
            "sealed_names" / If((this.header & 7) == 3, Array(this.header >> 4, UTF8vr)),
            "_traits" / TraitsSlot(),
            "sealed" / If(this._traits.count > 0, Array(this._traits.count, child)),
            "dynamic" / If(this._traits.dynamic, RepeatUntil(_EMPTY_NAME, _member(child))),
            "external" / If(this._traits.externalizable, child),
        )
        cases["vector_object"] = "vector_object" / Struct(            # 3.15
            "header" / U29(),
            "_index" / ObjectSlot(),
            "fixed" / If(this.header & 1, Int8ub),
            "type_name" / If(this.header & 1, UTF8vr),
            "elements" / If(this.header & 1, Array(this.header >> 1, child)),
        )
        cases["dictionary"] = "dictionary" / Struct(                  # 3.16
            "header" / U29(),
            "_index" / ObjectSlot(),
            "weak_keys" / If(this.header & 1, Int8ub),
            "entries" / If(this.header & 1, Array(this.header >> 1, Struct("key" / child, "value" / child))),
        )
    return Struct("marker" / Marker, "value" / Switch(this.marker, cases, default=Error))


ValueSchema = value_schema(DEFAULT_MAX_DEPTH)

# ---------------------------------------------------------------------------------------------------------
# Codec
# ---------------------------------------------------------------------------------------------------------

_SECTIONS = {
    "marker": "AMF3 3.1", "integer": "AMF3 3.6", "double": "AMF3 3.7", "string": "AMF3 3.8", "name": "AMF3 1.3.2",
    "xml_doc": "AMF3 3.9", "date": "AMF3 3.10", "array": "AMF3 3.11", "object": "AMF3 3.12", "xml": "AMF3 3.13",
    "byte_array": "AMF3 3.14", "vector_int": "AMF3 3.15", "vector_uint": "AMF3 3.15", "vector_double": "AMF3 3.15",
    "vector_object": "AMF3 3.15", "dictionary": "AMF3 3.16",
}


_CONTAINERS = frozenset({"array", "object", "vector_int", "vector_uint", "vector_double", "vector_object",
                         "dictionary", "xml_doc", "xml", "byte_array", "date"})


def marker_error(marker: int, offset: int, max_depth: int) -> DecodeError:
    """The schema hit ``Error`` on an AMF3 marker byte: unknown marker or nesting limit."""
    if marker in CONTAINER_MARKERS:
        return AMFLimitExceeded(f"AMF3 {Marker.decmapping[marker]} nests deeper than {max_depth} levels",
                                offset=offset, field="marker", section=_SECTIONS[Marker.decmapping[marker]])
    return DecodeError(f"unknown AMF3 marker 0x{marker:02x}", offset=offset, field="marker", section="AMF3 3.1")


def translate_error(exc: Exception, stream: TrackingStream, data: bytes, max_depth: int,
                    sections: dict[str, str] = _SECTIONS, default: str = SECTION) -> DecodeError:
    """Turn a construct error raised while parsing ``data`` into a DecodeError with the byte offset."""
    names = path_names(exc) if isinstance(exc, ConstructError) else []
    fname = field_name(names)
    if isinstance(exc, AMFFieldError):
        return DecodeError(exc.what, offset=exc.offset, field=fname, section=exc.section)
    offset = stream.last
    section = section_for(names, sections, default)
    if isinstance(exc, StreamError):
        return DecodeError(truncation_message(exc, names, _CONTAINERS), offset=offset, field=fname,
                           section=section)
    if isinstance(exc, ExplicitError) and offset < len(data):
        return marker_error(data[offset], offset, max_depth)
    return DecodeError(f"{type(exc).__name__}: {exc}", offset=offset, field=fname, section=section)


def decode(data: bytes, offset: int = 0, *, max_depth: int = DEFAULT_MAX_DEPTH,
           tables: ReferenceTables | None = None) -> tuple[Any, int]:
    """Decode one AMF3 value at ``offset``; return (value, bytes consumed)."""
    data = bytes(data)
    stream = TrackingStream(data)
    stream.seek(offset)
    c = parse_value(value_schema(max_depth), stream, data, {"_amf3": tables or ReferenceTables()}, max_depth,
                    translate_error)
    return to_value(c), stream.tell() - offset


def decode_all(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> list:
    """Decode a sequence of AMF3 values sharing one set of reference tables."""
    data = bytes(data)
    stream = TrackingStream(data)
    params = {"_amf3": ReferenceTables()}
    schema = value_schema(max_depth)
    out = []
    while stream.tell() < len(data):
        out.append(to_value(parse_value(schema, stream, data, params, max_depth, translate_error)))
    return out


def encode(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH, tables: ReferenceTables | None = None) -> bytes:
    """Encode one value. Plain ``str`` is always sent inline; ``AMF3StringRef``/``AMF3Reference``/``traits_ref``
    are sent as the references they name (checked against the tables)."""
    return build_value(value_schema(max_depth), to_container(value, max_depth),
                       {"_amf3": tables or ReferenceTables()}, max_depth, SECTION)


def encode_all(values: list, *, max_depth: int = DEFAULT_MAX_DEPTH) -> bytes:
    tables = ReferenceTables()
    return b"".join(encode(v, max_depth=max_depth, tables=tables) for v in values)


def _parse_schema(data: bytes) -> Container:
    return _parse_schema_prefix(data)[0]


def _parse_schema_prefix(data: bytes) -> tuple[Container, int]:
    data = bytes(data)
    stream = TrackingStream(data)
    c = parse_value(ValueSchema, stream, data, {}, DEFAULT_MAX_DEPTH, translate_error)
    return c, stream.tell()


def _build_schema(obj: Any) -> bytes:
    return build_value(ValueSchema, obj, {}, DEFAULT_MAX_DEPTH, SECTION)


registry.register(registry.Codec("amf3.value", _parse_schema, _build_schema, SECTION, schema=ValueSchema,
                                 parse_prefix=_parse_schema_prefix))
registry.register(registry.Codec("amf3.values", decode_all, encode_all, SECTION))
