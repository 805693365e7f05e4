"""AMF0: every marker, the value model, wire examples, limits and errors."""

from __future__ import annotations

import math
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpspec import amf0, registry
from rtmpspec.amf0 import (
    MOVIECLIP,
    RECORDSET,
    UNDEFINED,
    UNSUPPORTED,
    AMFDate,
    AVMPlus,
    ECMAArray,
    LongString,
    Reference,
    TypedObject,
    ValueSchema,
    XMLDocument,
)
from rtmpspec.amf0_values import AMFLimitExceeded
from rtmpspec.amf3_values import AMF3Date, AMF3Object, AMF3StringRef
from rtmpspec.errors import DecodeError, LimitExceeded, LocalProtocolError
from rtmpspec.jsonable import to_jsonable

# --- hand-assembled wire pieces (AMF0 spec layouts, not our encoder) ------------------------------------


def num(x: float) -> bytes:
    return b"\x00" + struct.pack(">d", x)


def utf8(x: str) -> bytes:
    b = x.encode()
    return struct.pack(">H", len(b)) + b


def string(x: str) -> bytes:
    return b"\x02" + utf8(x)


def boolean(x: bool) -> bytes:
    return b"\x01" + bytes((int(x),))


END = b"\x00\x00\x09"


def obj(*pairs: tuple[str, bytes]) -> bytes:
    return b"\x03" + b"".join(utf8(k) + v for k, v in pairs) + END


def ecma(count: int, *pairs: tuple[str, bytes]) -> bytes:
    return b"\x08" + struct.pack(">I", count) + b"".join(utf8(k) + v for k, v in pairs) + END


# --- every marker --------------------------------------------------------------------------------------

MARKER_CASES = [
    (num(1.5), 1.5),                                                         # 0x00 number
    (b"\x01\x00", False),                                                    # 0x01 boolean
    (b"\x01\x01", True),
    (string("héllo"), "héllo"),                                              # 0x02 string
    (obj(("a", num(1.0))), {"a": 1.0}),                                      # 0x03 object
    (b"\x04", MOVIECLIP),                                                    # 0x04 movieclip
    (b"\x05", None),                                                         # 0x05 null
    (b"\x06", UNDEFINED),                                                    # 0x06 undefined
    (b"\x07\x00\x02", Reference(2)),                                         # 0x07 reference
    (ecma(1, ("k", string("v"))), ECMAArray({"k": "v"}, associative_count=1)),  # 0x08 ECMA array
    (b"\x0a\x00\x00\x00\x02" + num(1.0) + b"\x05", [1.0, None]),             # 0x0A strict array
    (b"\x0b" + struct.pack(">dh", 1.2e12, 0), AMFDate(1.2e12)),              # 0x0B date
    (b"\x0c\x00\x00\x00\x02hi", LongString("hi")),                           # 0x0C long string
    (b"\x0d", UNSUPPORTED),                                                  # 0x0D unsupported
    (b"\x0e", RECORDSET),                                                    # 0x0E recordset
    (b"\x0f\x00\x00\x00\x04<a/>", XMLDocument("<a/>")),                      # 0x0F XML document
    (b"\x10" + utf8("com.Foo") + utf8("x") + num(2.0) + END, TypedObject("com.Foo", {"x": 2.0})),  # 0x10
    (b"\x11\x04\x05", AVMPlus(5)),                                           # 0x11 avmplus -> AMF3 integer 5
]


@pytest.mark.parametrize(("data", "value"), MARKER_CASES, ids=lambda x: x.hex() if isinstance(x, bytes) else None)
def test_every_marker_decodes_and_encodes_exactly(data: bytes, value):
    decoded, consumed = amf0.decode(data)
    assert consumed == len(data)
    assert decoded == value
    assert type(decoded) is type(value)
    assert amf0.encode(decoded) == data
    assert ValueSchema.build(ValueSchema.parse(data)) == data


def test_markers_cover_0x00_to_0x11():
    seen = {data[0] for data, _ in MARKER_CASES} | {0x09}  # object-end appears inside objects
    assert seen == set(range(0x12))


def test_object_end_inside_object_only():
    with pytest.raises(DecodeError) as e:
        amf0.decode(b"\x09")
    assert e.value.offset == 0 and e.value.section == "AMF0 2.11"
    # a non-empty name followed by 0x09 is not an object end
    with pytest.raises(DecodeError) as e:
        amf0.decode(b"\x03" + utf8("a") + b"\x09")
    assert e.value.offset == 4


def test_empty_name_with_a_value_is_a_property():
    data = b"\x03" + utf8("") + num(1.0) + END
    assert amf0.decode(data) == ({"": 1.0}, len(data))
    assert amf0.encode({"": 1.0}) == data


def test_nonzero_boolean_is_true_and_schema_keeps_the_byte():
    assert amf0.decode(b"\x01\x02") == (True, 2)
    assert ValueSchema.build(ValueSchema.parse(b"\x01\x02")) == b"\x01\x02"


# --- containers, dates, strings ------------------------------------------------------------------------


def test_nested_objects_keep_order():
    data = obj(("z", obj(("inner", obj(("deep", string("x")))))), ("a", b"\x0a\x00\x00\x00\x01" + obj()))
    value, _ = amf0.decode(data)
    assert value == {"z": {"inner": {"deep": "x"}}, "a": [{}]}
    assert list(value) == ["z", "a"]
    assert amf0.encode(value) == data


@pytest.mark.parametrize("count", [0, 2, 7])
def test_ecma_array_keeps_wire_count(count: int):
    data = ecma(count, ("a", num(1.0)), ("b", boolean(True)))
    value, _ = amf0.decode(data)
    assert isinstance(value, ECMAArray)
    assert value.associative_count == count
    assert value == {"a": 1.0, "b": True}
    assert amf0.encode(value) == data
    assert to_jsonable(value) == {"$amf0": "ecma-array", "associative_count": count,
                                  "properties": {"a": 1.0, "b": True}}


def test_ecma_array_default_count_is_len():
    assert amf0.encode(ECMAArray({"a": None})) == ecma(1, ("a", b"\x05"))
    assert ECMAArray({"a": None}) == ECMAArray({"a": None}, associative_count=1)
    assert ECMAArray({"a": None}, associative_count=0) != ECMAArray({"a": None}, associative_count=1)


def test_dates():
    data = b"\x0b" + struct.pack(">dh", 1_700_000_000_000.0, -60)
    value, _ = amf0.decode(data)
    assert value == AMFDate(1_700_000_000_000.0, -60)
    assert amf0.encode(value) == data
    assert to_jsonable(value) == {"$amf0": "date", "ms": 1_700_000_000_000.0, "tz": -60}


def test_long_strings_are_automatic_above_65535_utf8_bytes():
    assert amf0.encode("é" * 32767)[0] == 0x02  # 65534 bytes
    for text in ("a" * 65536, "é" * 40000, "\U0001f600" * 16384):
        data = amf0.encode(text)
        assert data[0] == 0x0C and struct.unpack(">I", data[1:5])[0] == len(text.encode())
        value, n = amf0.decode(data)
        assert value == text and isinstance(value, LongString) and n == len(data)
    assert amf0.encode(LongString("short")) == b"\x0c\x00\x00\x00\x05short"


def test_typed_object_and_json():
    value = TypedObject("org.example.Point", {"x": 1.0, "y": 2.0})
    data = amf0.encode(value)
    assert data == b"\x10" + utf8("org.example.Point") + utf8("x") + num(1.0) + utf8("y") + num(2.0) + END
    assert amf0.decode(data)[0] == value
    assert to_jsonable(value) == {"$amf0": "typed-object", "class_name": "org.example.Point",
                                  "members": {"x": 1.0, "y": 2.0}}


def test_avmplus_switch_carries_one_amf3_value():
    # 0x11 then AMF3 object: anonymous dynamic {a: "b"} then an AMF0 number after it
    data = b"\x11\x0a\x0b\x01\x03a\x06\x03b\x01" + num(3.0)
    assert amf0.decode_all(data) == [AVMPlus({"a": "b"}), 3.0]
    assert amf0.encode_all([AVMPlus({"a": "b"}), 3.0]) == data
    assert to_jsonable(AVMPlus(AMF3Object("C", {"x": 1}))) == {
        "$amf0": "avmplus",
        "value": {"$amf3": "object", "class_name": "C", "sealed": {"x": 1}, "dynamic": None}}


def test_avmplus_values_share_amf3_tables_within_a_message():
    # second 0x11 value refers to the string "abc" sent by the first one (string table index 0)
    data = b"\x11\x06\x07abc" + b"\x11\x06\x00"
    values = amf0.decode_all(data)
    assert values == [AVMPlus("abc"), AVMPlus("abc")]
    assert isinstance(values[1].value, AMF3StringRef) and values[1].value.index == 0
    assert amf0.encode_all(values) == data
    with pytest.raises(DecodeError) as e:  # a single value has fresh tables
        amf0.decode(data, 6)
    assert e.value.offset == 8 and e.value.section == "AMF3 1.3.2"
    with pytest.raises(LocalProtocolError):
        amf0.encode(AVMPlus(AMF3StringRef("abc", 0)))


def test_json_of_singletons_and_reference():
    assert to_jsonable([UNDEFINED, MOVIECLIP, UNSUPPORTED, RECORDSET, Reference(3), XMLDocument("<x/>"),
                        LongString("l")]) == [
        {"$amf": "undefined"}, {"$amf0": "movieclip"}, {"$amf0": "unsupported"}, {"$amf0": "recordset"},
        {"$amf0": "reference", "index": 3}, {"$amf0": "xml-document", "value": "<x/>"},
        {"$amf0": "long-string", "value": "l"}]


@pytest.mark.parametrize("bits", [0x7FF8000000000000, 0x7FF8000000000001, 0xFFF8000000000000, 0x7FF0000000000001])
def test_nan_round_trips_bit_exact(bits: int):
    data = b"\x00" + bits.to_bytes(8, "big")
    value, _ = amf0.decode(data)
    assert math.isnan(value)
    assert amf0.encode(value) == data
    assert ValueSchema.build(ValueSchema.parse(data)) == data


def test_decode_at_offset():
    data = b"junk" + string("x") + num(2.0)
    assert amf0.decode(data, 4) == ("x", 4)
    assert amf0.decode(data, 8) == (2.0, 9)


# --- real bytes seen on the wire -----------------------------------------------------------------------

# ffmpeg libavformat/rtmpproto.c gen_connect() when publishing: "connect", ++nb_invokes, then an object with
# app, type "nonprivate", flashVer "FMLE/3.0 (compatible; <LIBAVFORMAT_IDENT>)", tcUrl.
FFMPEG_CONNECT = bytes.fromhex(
    "020007636f6e6e656374"                      # "connect"
    "003ff0000000000000"                        # 1.0
    "03"                                        # object
    "0003617070" "0200046c697665"               # app: "live"
    "000474797065" "02000a6e6f6e70726976617465"  # type: "nonprivate"
    "0008666c617368566572"                      # flashVer:
    "020023464d4c452f332e302028636f6d70617469626c653b204c61766636312e312e31303029"
    "0005746355726c"                            # tcUrl:
    "02001572746d703a2f2f6c6f63616c686f73742f6c697665"
    "000009"                                    # end of object
)


def test_ffmpeg_connect_command():
    values = amf0.decode_all(FFMPEG_CONNECT)
    assert values == ["connect", 1.0, {"app": "live", "type": "nonprivate",
                                       "flashVer": "FMLE/3.0 (compatible; Lavf61.1.100)",
                                       "tcUrl": "rtmp://localhost/live"}]
    assert amf0.encode_all(values) == FFMPEG_CONNECT


def set_data_frame_payload() -> bytes:
    """ffmpeg flvenc onMetaData (ECMA array, count = number of entries) behind rtmpproto's @setDataFrame."""
    entries = [("duration", num(0.0)), ("width", num(1280.0)), ("height", num(720.0)),
               ("videodatarate", num(2441.40625)), ("framerate", num(30.0)), ("videocodecid", num(7.0)),
               ("audiodatarate", num(125.0)), ("audiosamplerate", num(44100.0)), ("audiosamplesize", num(16.0)),
               ("stereo", boolean(True)), ("audiocodecid", num(10.0)), ("encoder", string("Lavf61.1.100")),
               ("filesize", num(0.0))]
    return string("@setDataFrame") + string("onMetaData") + ecma(len(entries), *entries)


def test_set_data_frame_on_metadata_with_ecma_array():
    data = set_data_frame_payload()
    name, event, meta = amf0.decode_all(data)
    assert (name, event) == ("@setDataFrame", "onMetaData")
    assert isinstance(meta, ECMAArray) and meta.associative_count == 13 == len(meta)
    assert meta["width"] == 1280.0 and meta["stereo"] is True and meta["encoder"] == "Lavf61.1.100"
    assert amf0.encode_all([name, event, meta]) == data
    # the same metadata as an anonymous object (some encoders send 0x03) is a plain dict
    as_object = b"\x03" + data[data.index(b"\x08") + 5:]
    assert amf0.decode(as_object)[0] == dict(meta)


# --- registry ------------------------------------------------------------------------------------------


def test_registered_codecs():
    value_codec = registry.get("amf0.value")
    values_codec = registry.get("amf0.values")
    assert value_codec.schema is ValueSchema
    c = value_codec.parse(FFMPEG_CONNECT)
    assert c.marker == "string" and c.value == "connect"
    assert value_codec.parse_prefix(FFMPEG_CONNECT)[1] == 10
    assert value_codec.build(value_codec.parse(num(2.0))) == num(2.0)
    assert values_codec.build(values_codec.parse(FFMPEG_CONNECT)) == FFMPEG_CONNECT
    with pytest.raises(DecodeError):
        value_codec.parse(b"\x02\x00")


# --- errors and limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("marker", range(0x12, 0x100, 7))
def test_unknown_marker(marker: int):
    data = obj(("k", bytes((marker,))))
    with pytest.raises(DecodeError) as e:
        amf0.decode(data)
    assert e.value.offset == 4
    assert f"0x{marker:02x}" in e.value.what and e.value.section == "AMF0 2.1"


TRUNCATION_VECTORS = [FFMPEG_CONNECT, set_data_frame_payload(), b"\x0b" + struct.pack(">dh", 1.0, 0),
                      b"\x10" + utf8("C") + utf8("x") + num(2.0) + END, b"\x0c\x00\x00\x00\x02hi",
                      b"\x11\x0a\x0b\x01\x03a\x06\x03b\x01"]


@pytest.mark.parametrize("data", TRUNCATION_VECTORS, ids=range(len(TRUNCATION_VECTORS)))
def test_truncated_at_every_byte(data: bytes):
    n = amf0.decode(data)[1]  # length of the first value
    for cut in range(n):
        with pytest.raises(DecodeError) as e:
            amf0.decode(data[:cut])
        assert e.value.offset is not None and 0 <= e.value.offset <= cut
        assert e.value.section and e.value.section.startswith("AMF")


def test_absurd_counts_fail_fast():
    cases = [b"\x0a\xff\xff\xff\xff" + b"\x05" * 5,          # strict array of 4 billion nulls
             b"\x0c\xff\xff\xff\xff" + b"x" * 5,             # long string of 4 GB
             b"\x0f\xff\xff\xff\xff",                        # XML document
             b"\x11\x09\xff\xff\xff\xff\x01",                # AMF3 array with 2^28-1 dense items
             b"\x11\x0d\xff\xff\xff\xff\x00"]                # AMF3 Vector.<int>
    for data in cases:
        start = time.perf_counter()
        with pytest.raises(DecodeError) as e:
            amf0.decode(data)
        assert time.perf_counter() - start < 0.5
        assert "input ends" in e.value.what
    with pytest.raises(DecodeError) as e:
        amf0.decode(cases[0])
    assert "strict_array" in e.value.what and e.value.offset == 10


def nested(depth: int, leaf: bytes = b"\x05") -> bytes:
    return b"\x0a\x00\x00\x00\x01" * depth + leaf


def test_depth_limit():
    assert amf0.decode(nested(64))[1] == 64 * 5 + 1
    with pytest.raises(AMFLimitExceeded) as e:
        amf0.decode(nested(65))
    assert e.value.offset == 64 * 5 and isinstance(e.value, LimitExceeded)
    with pytest.raises(DecodeError):
        amf0.decode(nested(4, obj()), max_depth=4)
    assert amf0.decode(nested(3, obj()), max_depth=4)[0] == [[[{}]]]
    # AMF3 nesting behind 0x11 counts too
    with pytest.raises(AMFLimitExceeded):
        amf0.decode(nested(60, b"\x11" + b"\x09\x03\x01" * 5 + b"\x01"))
    assert amf0.decode(nested(60, b"\x11" + b"\x09\x03\x01" * 4 + b"\x01"))[1] == 60 * 5 + 14
    value: list = []
    for _ in range(65):
        value = [value]
    with pytest.raises(LocalProtocolError):
        amf0.encode(value)
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(LocalProtocolError):
        amf0.encode(loop)


def test_deep_nesting_does_not_hit_python_recursion_limit():
    # objects inside objects: the deepest layout per level
    data = (b"\x03" + utf8("k")) * 64 + b"\x05" + END * 64
    assert amf0.decode(data)[1] == len(data)
    assert amf0.encode(amf0.decode(data)[0]) == data


def test_bad_utf8():
    with pytest.raises(DecodeError) as e:
        amf0.decode(b"\x02\x00\x02\xc3\x28")
    assert e.value.offset == 3 and e.value.section == "AMF0 1.3.1"


def test_encode_rejects_unknown_types_and_out_of_range():
    with pytest.raises(TypeError):
        amf0.encode(object())
    with pytest.raises(TypeError):
        amf0.encode({1: 2})
    with pytest.raises(LocalProtocolError):
        amf0.encode(Reference(70000))
    with pytest.raises(LocalProtocolError):
        amf0.encode(AMFDate(0.0, 40000))
    with pytest.raises(LocalProtocolError):
        amf0.encode({"k" * 70000: 1})


# --- property-based round trips ------------------------------------------------------------------------

keys = st.text(max_size=8)
# AMF3 values behind 0x11 (test_amf3 covers the full AMF3 model)
amf3_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**28), 2**28 - 1), st.floats(allow_nan=False),
              st.text(max_size=8), st.builds(AMF3Date, st.floats(allow_nan=False))),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(min_size=1, max_size=5), children, max_size=3),
        st.builds(AMF3Object, st.text(min_size=1, max_size=5), st.dictionaries(keys, children, max_size=3)),
    ),
    max_leaves=6,
)
amf0_scalars = st.one_of(
    st.floats(allow_nan=False), st.integers(-(2**53), 2**53), st.booleans(), st.text(max_size=20), st.none(),
    st.sampled_from([UNDEFINED, MOVIECLIP, UNSUPPORTED, RECORDSET]),
    st.builds(Reference, st.integers(0, 0xFFFF)),
    st.builds(AMFDate, st.floats(allow_nan=False), st.integers(-0x8000, 0x7FFF)),
    st.builds(LongString, st.text(max_size=8)), st.builds(XMLDocument, st.text(max_size=8)),
    st.builds(AVMPlus, amf3_values),
)
amf0_values = st.recursive(
    amf0_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
        st.builds(lambda d, c: ECMAArray(d, associative_count=c), st.dictionaries(keys, children, max_size=4),
                  st.none() | st.integers(0, 2**32 - 1)),
        st.builds(TypedObject, st.text(max_size=8), st.dictionaries(keys, children, max_size=3)),
    ),
    max_leaves=16,
)


@settings(max_examples=300, deadline=None)
@given(amf0_values)
def test_round_trip_values(value):
    data = amf0.encode(value)
    decoded, consumed = amf0.decode(data)
    assert consumed == len(data)
    assert decoded == value
    assert amf0.encode(decoded) == data
    assert ValueSchema.build(ValueSchema.parse(data)) == data
    to_jsonable(decoded)  # every decoded value has a JSON spelling


@settings(max_examples=100, deadline=None)
@given(st.lists(amf0_values, max_size=4))
def test_round_trip_sequences(values):
    data = amf0.encode_all(values)
    assert amf0.decode_all(data) == values
    assert registry.get("amf0.values").build(registry.get("amf0.values").parse(data)) == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_garbage_never_escapes_as_another_exception(data: bytes):
    try:
        value, n = amf0.decode(data)
    except DecodeError as e:
        assert e.offset is not None and 0 <= e.offset <= len(data)
    else:
        assert 0 < n <= len(data)


def test_golden_manifest_matches_parser():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "golden" / "amf0"
    if not (root / "manifest.json").exists():
        pytest.skip("golden/amf0 not generated")
    ids = set()
    for vector in json.loads((root / "manifest.json").read_text())["vectors"]:
        codec = registry.get(vector["codec"])
        data = (root / vector["file"]).read_bytes()
        assert to_jsonable(codec.parse(data)) == vector["expected"], vector["id"]
        assert codec.build(codec.parse(data)) == data, vector["id"]
        ids.add(vector["id"])
    assert {"amf0-ffmpeg-connect", "amf0-setdataframe-onmetadata-ecma", "amf0-all-markers"} <= ids
