"""AMF3: U29, reference tables, every marker, the value model, limits and errors."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpspec import amf3, registry
from rtmpspec.amf0_values import UNDEFINED, AMFLimitExceeded
from rtmpspec.amf3 import (
    AMF3XML,
    U29,
    AMF3Array,
    AMF3Date,
    AMF3Dictionary,
    AMF3Externalizable,
    AMF3Object,
    AMF3Reference,
    AMF3StringRef,
    AMF3Vector,
    AMF3XMLDocument,
    ReferenceTables,
    ValueSchema,
)
from rtmpspec.errors import DecodeError, LocalProtocolError
from rtmpspec.jsonable import to_jsonable


def vr(text: str) -> bytes:
    """UTF-8-vr, inline (hand-assembled for lengths < 64)."""
    data = text.encode()
    assert len(data) < 64
    return bytes((len(data) << 1 | 1,)) + data


# --- AMF3 1.3.1 U29 ------------------------------------------------------------------------------------

U29_CASES = [(0, "00"), (0x7F, "7f"), (0x80, "8100"), (0x3FFF, "ff7f"), (0x4000, "818000"),
             (0x1FFFFF, "ffff7f"), (0x200000, "80c08000"), (0x1FFFFFFF, "ffffffff")]


@pytest.mark.parametrize(("value", "hexbytes"), U29_CASES)
def test_u29_boundaries(value: int, hexbytes: str):
    assert U29().build(value) == bytes.fromhex(hexbytes)
    assert U29().parse(bytes.fromhex(hexbytes)) == value


@pytest.mark.parametrize(("value", "hexbytes"), [(0, "0400"), (-1, "04ffffffff"), (2**28 - 1, "04bfffffff"),
                                                 (-(2**28), "04c0808000"), (300, "04822c")])
def test_integer_is_signed_29_bit(value: int, hexbytes: str):
    assert amf3.encode(value) == bytes.fromhex(hexbytes)
    assert amf3.decode(bytes.fromhex(hexbytes)) == (value, len(hexbytes) // 2)


def test_integers_outside_29_bits_become_doubles():
    assert amf3.encode(2**28) == b"\x05" + struct.pack(">d", 2**28)
    assert amf3.encode(-(2**28) - 1)[0] == 0x05


@pytest.mark.parametrize("hexbytes", ["048001", "04808001", "0480808001", "06800f"])
def test_over_long_u29_is_rejected(hexbytes: str):
    with pytest.raises(DecodeError) as e:
        amf3.decode(bytes.fromhex(hexbytes))
    assert e.value.offset == 1 and e.value.section == "AMF3 1.3.1"


def test_u29_build_range():
    with pytest.raises(Exception):  # noqa: B017 - construct's IntegerError
        U29().build(1 << 29)
    with pytest.raises(LocalProtocolError):
        amf3.encode(AMF3Vector("int", [2**31]))


# --- simple markers ------------------------------------------------------------------------------------

SIMPLE_CASES = [
    ("00", UNDEFINED), ("01", None), ("02", False), ("03", True),
    ("05" + struct.pack(">d", 0.5).hex(), 0.5),
    ("0601", ""), ("0607616263", "abc"),
    ("07093c612f3e", AMF3XMLDocument("<a/>")),
    ("08013ff0000000000000", AMF3Date(1.0)),
    ("0b093c622f3e", AMF3XML("<b/>")),
    ("0c0700ff10", b"\x00\xff\x10"),
    ("0d050000000001fffffffe", AMF3Vector("int", [1, -2])),
    ("0e0501ffffffff00000000", AMF3Vector("uint", [2**32 - 1, 0], fixed=True)),
    ("0f0300" + struct.pack(">d", -1.5).hex(), AMF3Vector("double", [-1.5])),
    ("1005000f636f6d2e466f6f010401", AMF3Vector("object", [None, 1], type_name="com.Foo")),
    ("11030006036b0401", AMF3Dictionary([("k", 1)])),
    ("090701040104020403", [1, 2, 3]),
    ("0905036b04010104010402", AMF3Array({"k": 1}, [1, 2])),
]


@pytest.mark.parametrize(("hexbytes", "value"), SIMPLE_CASES, ids=[h for h, _ in SIMPLE_CASES])
def test_every_marker(hexbytes: str, value):
    data = bytes.fromhex(hexbytes)
    decoded, consumed = amf3.decode(data)
    assert consumed == len(data)
    assert decoded == value and type(decoded) is type(value)
    assert amf3.encode(decoded) == data
    assert ValueSchema.build(ValueSchema.parse(data)) == data


def test_markers_cover_0x00_to_0x11():
    seen = {bytes.fromhex(h)[0] for h, _ in SIMPLE_CASES} | {0x04, 0x0A}
    assert seen == set(range(0x12))


# --- AMF3 2.2 reference tables -------------------------------------------------------------------------


def test_string_references():
    # ["abc", "", "abc"(ref 0), ""] - the empty string is never sent by reference nor remembered
    data = bytes.fromhex("0909" "01" "0607616263" "0601" "0600" "0601")
    value, _ = amf3.decode(data)
    assert value == ["abc", "", "abc", ""]
    assert isinstance(value[2], AMF3StringRef) and value[2].index == 0
    assert not isinstance(value[0], AMF3StringRef)
    assert amf3.encode(value) == data
    assert to_jsonable(value[2]) == {"$amf3": "string-ref", "index": 0, "value": "abc"}


def test_string_reference_out_of_range():
    with pytest.raises(DecodeError) as e:
        amf3.decode(bytes.fromhex("090501" "0601" "0600"))  # "" is not in the table
    assert e.value.offset == 6 and e.value.section == "AMF3 1.3.2"
    with pytest.raises(LocalProtocolError):
        amf3.encode(AMF3StringRef("x", 0))


def test_sealed_object_hand_checked():
    # AMF3 3.12: 0x2B = U29O-traits: inline, not externalizable, dynamic, 2 sealed members
    data = bytes.fromhex("0a2b01") + vr("ui") + vr("param") + b"\x06" + vr("button_press") + b"\x04\x05\x01"
    value, _ = amf3.decode(data)
    assert value == AMF3Object("", {"ui": "button_press", "param": 5}, {})
    assert amf3.encode(value) == data


def test_traits_reference_decides_sealed_count():
    # [Point{x:1,y:2}, Point{x:3,y:4} via traits ref 0, class-name string ref]
    first = b"\x0a\x23" + vr("Point") + vr("x") + vr("y") + b"\x04\x01\x04\x02"
    second = b"\x0a\x01" + b"\x04\x03\x04\x04"
    data = b"\x09\x05\x01" + first + second
    value, _ = amf3.decode(data)
    assert value == [AMF3Object("Point", {"x": 1, "y": 2}), AMF3Object("Point", {"x": 3, "y": 4}, traits_ref=0)]
    assert amf3.encode(value) == data
    with pytest.raises(DecodeError) as e:  # traits reference 1 does not exist
        amf3.decode(b"\x09\x05\x01" + first + b"\x0a\x05\x04\x03\x04\x04")
    assert e.value.offset == len(first) + 4 and e.value.section == "AMF3 3.12"
    with pytest.raises(LocalProtocolError):
        amf3.encode(AMF3Object("Point", {"x": 1}, traits_ref=0))


def test_object_references_and_self_reference():
    # {self: <ref 0>}: the object is remembered before its members are read
    data = b"\x0a\x0b\x01" + vr("self") + b"\x0a\x00\x01"
    assert amf3.decode(data) == ({"self": AMF3Reference("object", 0)}, len(data))
    assert amf3.encode(amf3.decode(data)[0]) == data
    # a date sent twice: the second time by reference
    data = b"\x09\x05\x01" + b"\x08\x01" + struct.pack(">d", 5.0) + b"\x08\x02"
    value, _ = amf3.decode(data)
    assert value == [AMF3Date(5.0), AMF3Reference("date", 1)]
    assert amf3.encode(value) == data
    with pytest.raises(DecodeError) as e:
        amf3.decode(b"\x0a\x02")  # reference to object 1, none seen
    assert e.value.offset == 1 and e.value.section == "AMF3 2.2"


def test_tables_shared_across_calls():
    tables = ReferenceTables()
    first = amf3.encode("hello", tables=tables)
    second = amf3.encode(AMF3StringRef("hello", 0), tables=tables)
    assert second == b"\x06\x00"
    assert amf3.decode_all(first + second) == ["hello", "hello"]
    dec = ReferenceTables()
    amf3.decode(first, tables=dec)
    assert amf3.decode(second, tables=dec)[0].index == 0


def test_externalizable_known_and_unknown():
    value = AMF3Externalizable("flex.messaging.io.ArrayCollection", [1, "a"])
    data = amf3.encode(value)
    assert data == b"\x0a\x07" + vr("flex.messaging.io.ArrayCollection") + b"\x09\x05\x01\x04\x01\x06\x03a"
    assert amf3.decode(data)[0] == value
    unknown = b"\x0a\x07" + vr("com.example.Secret") + b"\xde\xad"
    with pytest.raises(DecodeError) as e:
        amf3.decode(unknown)
    assert "com.example.Secret" in e.value.what and e.value.offset == 2 and e.value.section == "AMF3 3.12"


def test_anonymous_objects_are_dicts_and_json():
    assert amf3.decode(amf3.encode({"a": {"b": [1]}}))[0] == {"a": {"b": [1]}}
    assert to_jsonable(AMF3Object("C", {"x": 1}, {"y": 2}, traits_ref=3)) == {
        "$amf3": "object", "class_name": "C", "sealed": {"x": 1}, "dynamic": {"y": 2}, "traits_ref": 3}
    assert to_jsonable([AMF3Date(1.0), AMF3XML("<x/>"), AMF3XMLDocument("<y/>"), AMF3Reference("array", 2),
                        AMF3Array({"k": 1}), AMF3Vector("int", [1]), AMF3Dictionary([(1, 2)], weak_keys=True)]) == [
        {"$amf3": "date", "ms": 1.0}, {"$amf3": "xml", "value": "<x/>"},
        {"$amf3": "xml-document", "value": "<y/>"}, {"$amf3": "reference", "marker": "array", "index": 2},
        {"$amf3": "array", "assoc": {"k": 1}, "dense": []},
        {"$amf3": "vector-int", "fixed": False, "items": [1]},
        {"$amf3": "dictionary", "weak_keys": True, "entries": [[1, 2]]}]


def test_nan_double_round_trips_bit_exact():
    for bits in (0x7FF8000000000000, 0x7FF8000000000001, 0x7FF0000000000001):
        data = b"\x05" + bits.to_bytes(8, "big")
        value, _ = amf3.decode(data)
        assert math.isnan(value) and amf3.encode(value) == data


# --- errors and limits ---------------------------------------------------------------------------------


def test_unknown_marker():
    with pytest.raises(DecodeError) as e:
        amf3.decode(b"\x09\x03\x01\x12")
    assert e.value.offset == 3 and "0x12" in e.value.what and e.value.section == "AMF3 3.1"


TRUNCATION_VECTORS = [
    b"\x0a\x2b\x01" + vr("ui") + vr("param") + b"\x06" + vr("button_press") + b"\x04\x05\x01",
    bytes.fromhex("0905036b04010104010402"), bytes.fromhex("1005000f636f6d2e466f6f010401"),
    bytes.fromhex("11030006036b0401"), bytes.fromhex("08013ff0000000000000"), bytes.fromhex("04ffffffff"),
    amf3.encode(AMF3Externalizable("flex.messaging.io.ObjectProxy", {"a": 1})),
]


@pytest.mark.parametrize("data", TRUNCATION_VECTORS, ids=range(len(TRUNCATION_VECTORS)))
def test_truncated_at_every_byte(data: bytes):
    for cut in range(len(data)):
        with pytest.raises(DecodeError) as e:
            amf3.decode(data[:cut])
        assert e.value.offset is not None and 0 <= e.value.offset <= cut
        assert e.value.section.startswith("AMF3")


def test_depth_limit():
    def arrays(n: int) -> bytes:
        return b"\x09\x03\x01" * n + b"\x01"

    assert amf3.decode(arrays(64))[1] == 64 * 3 + 1
    with pytest.raises(AMFLimitExceeded) as e:
        amf3.decode(arrays(65))
    assert e.value.offset == 64 * 3
    with pytest.raises(AMFLimitExceeded):
        amf3.decode(arrays(3), max_depth=2)
    deep: list = [1]
    for _ in range(64):
        deep = [deep]
    with pytest.raises(LocalProtocolError):
        amf3.encode(deep)


def test_absurd_counts_fail_fast():
    for data in (b"\x09\xff\xff\xff\xff\x01\x01", b"\x0c\xff\xff\xff\xff", b"\x0f\xff\xff\xff\xff\x00",
                 b"\x11\xff\xff\xff\xff\x00", b"\x0a\xff\xff\xff\xf3\x01"):
        with pytest.raises(DecodeError) as e:
            amf3.decode(data)
        assert "input ends" in e.value.what


def test_encode_errors():
    with pytest.raises(TypeError):
        amf3.encode(object())
    with pytest.raises(LocalProtocolError):
        amf3.encode({"": 1})  # an empty dynamic member name would end the member list
    with pytest.raises(LocalProtocolError):
        amf3.encode(AMF3Reference("object", 0))
    with pytest.raises(LocalProtocolError):
        amf3.encode(AMF3Reference("string", 0))


def test_registered_codecs():
    codec = registry.get("amf3.value")
    assert codec.schema is ValueSchema
    parsed = codec.parse(b"\x06\x07abc")
    assert to_jsonable(parsed) == {"marker": "string", "value": {"header": 7, "data": {"$bytes": "616263"},
                                                                 "text": "abc"}}
    assert codec.build(parsed) == b"\x06\x07abc"
    assert codec.parse_prefix(b"\x06\x07abcXYZ")[1] == 5
    values = registry.get("amf3.values")
    data = b"\x06\x07abc\x06\x00"
    assert values.parse(data) == ["abc", "abc"] and values.build(values.parse(data)) == data


# --- property-based round trips ------------------------------------------------------------------------

names = st.text(min_size=1, max_size=6)
ints = st.integers(-(2**28), 2**28 - 1)
amf3_scalars = st.one_of(
    st.none(), st.just(UNDEFINED), st.booleans(), ints, st.floats(allow_nan=False), st.text(max_size=12),
    st.binary(max_size=8), st.builds(AMF3Date, st.floats(allow_nan=False)),
    st.builds(AMF3XML, st.text(max_size=6)), st.builds(AMF3XMLDocument, st.text(max_size=6)),
    st.builds(AMF3Vector, st.just("int"), st.lists(st.integers(-(2**31), 2**31 - 1), max_size=3), st.booleans()),
    st.builds(AMF3Vector, st.just("uint"), st.lists(st.integers(0, 2**32 - 1), max_size=3), st.booleans()),
    st.builds(AMF3Vector, st.just("double"), st.lists(st.floats(allow_nan=False), max_size=3), st.booleans()),
)


def _containers(children):
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(names, children, max_size=4),
        st.builds(AMF3Array, st.dictionaries(names, children, min_size=1, max_size=3),
                  st.lists(children, max_size=3)),
        st.builds(AMF3Object, st.text(max_size=6), st.dictionaries(st.text(max_size=4), children, max_size=3),
                  st.none() | st.dictionaries(names, children, max_size=3)).filter(
            lambda o: o.class_name or o.sealed or o.dynamic is None),
        st.builds(AMF3Externalizable, st.sampled_from(sorted(amf3.EXTERNALIZABLE_ONE_VALUE)), children),
        st.builds(AMF3Vector, st.just("object"), st.lists(children, max_size=3), st.booleans(),
                  st.text(max_size=6)),
        st.builds(AMF3Dictionary, st.lists(st.tuples(children, children), max_size=3), st.booleans()),
    )


amf3_values = st.deferred(lambda: st.recursive(amf3_scalars, _containers, max_leaves=16))  # deferred: short repr


@settings(max_examples=300, deadline=None)
@given(amf3_values)
def test_round_trip_values(value):
    data = amf3.encode(value)
    decoded, consumed = amf3.decode(data)
    assert consumed == len(data)
    assert decoded == value
    assert amf3.encode(decoded) == data
    assert ValueSchema.build(ValueSchema.parse(data)) == data
    to_jsonable(decoded)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_garbage_never_escapes_as_another_exception(data: bytes):
    try:
        _, n = amf3.decode(data)
    except DecodeError as e:
        assert e.offset is not None and 0 <= e.offset <= len(data)
    else:
        assert 0 < n <= len(data)


def test_deepest_layouts_fit_the_stack():
    # dynamic object members and associative array members are the most frame-hungry layouts
    for make in (lambda v: {"k": v}, lambda v: AMF3Array({"k": v}), lambda v: AMF3Dictionary([(1, v)])):
        value = None
        for _ in range(64):
            value = make(value)
        data = amf3.encode(value)
        assert amf3.decode(data) == (value, len(data))


def test_golden_manifest_matches_parser():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "golden" / "amf3"
    if not (root / "manifest.json").exists():
        pytest.skip("golden/amf3 not generated")
    for vector in json.loads((root / "manifest.json").read_text())["vectors"]:
        codec = registry.get(vector["codec"])
        data = (root / vector["file"]).read_bytes()
        assert to_jsonable(codec.parse(data)) == vector["expected"], vector["id"]
        assert codec.build(codec.parse(data)) == data, vector["id"]
