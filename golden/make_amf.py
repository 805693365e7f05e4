"""(Re)create the AMF0 and AMF3 golden vectors: golden/amf0/*.bin, golden/amf3/*.bin and their manifest.json.

Run from the repository root: ``python golden/make_amf.py``.

Every vector is either
- hand-checked: bytes written out from the spec's layout AND the expected JSON written by hand here; the script
  refuses to write anything if our parser disagrees (so the vectors are not circular), or
- built: bytes made with our encoder from a documented real-world layout (ffmpeg's connect, onMetaData, ...);
  expected = to_jsonable(codec.parse(bytes)).
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rtmpspec import amf0, amf3, registry  # noqa: E402
from rtmpspec.amf0_values import AVMPlus, ECMAArray, LongString  # noqa: E402
from rtmpspec.amf3_values import (  # noqa: E402
    AMF3Dictionary,
    AMF3Externalizable,
    AMF3Object,
    AMF3StringRef,
    AMF3Vector,
)
from rtmpspec.jsonable import to_jsonable  # noqa: E402

HAND = object()  # marker: expected JSON given by hand


def d(x: float) -> str:
    return struct.pack(">d", x).hex()


def u16s(text: str) -> str:
    b = text.encode()
    return struct.pack(">H", len(b)).hex() + b.hex()


# (id, codec, section, data, expected-or-None, note)
AMF0_VECTORS: list[tuple] = [
    ("number", "amf0.values", "AMF0 2.2", "00" + d(1.5), [1.5], "hand-checked: number-marker DOUBLE"),
    ("number-nan", "amf0.values", "AMF0 2.2", "007ff8000000000000", [{"$float": "nan"}],
     "hand-checked: canonical quiet NaN; must rebuild bit-exact"),
    ("boolean", "amf0.values", "AMF0 2.3", "0101" "0100", [True, False], "hand-checked: true then false"),
    ("string", "amf0.values", "AMF0 2.4", "020005" + b"hello".hex(), ["hello"], "hand-checked"),
    ("object-nested", "amf0.values", "AMF0 2.5", "03" "0001" "61" "03" "0001" "62" "05" "000009" "000009",
     [{"a": {"b": None}}], "hand-checked: {a: {b: null}}; properties end with UTF-8-empty + object-end"),
    ("movieclip", "amf0.values", "AMF0 2.6", "04", [{"$amf0": "movieclip"}], "hand-checked: reserved marker"),
    ("null-undefined", "amf0.values", "AMF0 2.7", "05" "06", [None, {"$amf": "undefined"}], "hand-checked"),
    ("reference", "amf0.values", "AMF0 2.9", "070001", [{"$amf0": "reference", "index": 1}], "hand-checked"),
    ("ecma-array-count-0", "amf0.values", "AMF0 2.10", "08" "00000000" "0001" "61" "00" + d(1.0) + "000009",
     [{"$amf0": "ecma-array", "associative_count": 0, "properties": {"a": 1.0}}],
     "hand-checked: associative-count 0 with one property (allowed; the count is a hint)"),
    ("strict-array", "amf0.values", "AMF0 2.12", "0a" "00000002" "00" + d(1.0) + "05", [[1.0, None]],
     "hand-checked"),
    ("date", "amf0.values", "AMF0 2.13", "0b" + d(1e12) + "0000",
     [{"$amf0": "date", "ms": 1e12, "tz": 0}], "hand-checked: 2001-09-09T01:46:40Z, time-zone 0"),
    ("long-string-short", "amf0.values", "AMF0 2.14", "0c" "00000003" + b"abc".hex(),
     [{"$amf0": "long-string", "value": "abc"}], "hand-checked: long-string marker with a short string"),
    ("unsupported-recordset", "amf0.values", "AMF0 2.15", "0d" "0e",
     [{"$amf0": "unsupported"}, {"$amf0": "recordset"}], "hand-checked"),
    ("xml-document", "amf0.values", "AMF0 2.17", "0f" "00000004" + b"<a/>".hex(),
     [{"$amf0": "xml-document", "value": "<a/>"}], "hand-checked"),
    ("typed-object", "amf0.values", "AMF0 2.18", "10" + u16s("Pt") + u16s("x") + "00" + d(2.0) + "000009",
     [{"$amf0": "typed-object", "class_name": "Pt", "members": {"x": 2.0}}], "hand-checked"),
    ("avmplus-integer", "amf0.values", "AMF0 3.1", "11" "0405", [{"$amf0": "avmplus", "value": 5}],
     "hand-checked: avmplus-object-marker then AMF3 integer 5"),
    ("schema-object", "amf0.value", "AMF0 2.5", "03" "0001" "61" "05" "000009",
     {"marker": "object", "value": [{"name": "a", "value": {"marker": "null", "value": None}},
                                    {"name": "", "value": {"marker": "object_end", "value": None}}]},
     "hand-checked: schema-level Containers of {a: null}"),
]

AMF3_VECTORS: list[tuple] = [
    ("constants", "amf3.values", "AMF3 3.2", "00010203", [{"$amf": "undefined"}, None, False, True],
     "hand-checked: undefined, null, false, true"),
    ("integers", "amf3.values", "AMF3 3.6", "0400" "047f" "048100" "04ffffffff" "04bfffffff",
     [0, 127, 128, -1, 268435455], "hand-checked: U29 1/2/4-byte forms, signed 29-bit"),
    ("double", "amf3.values", "AMF3 3.7", "05" + d(1.5), [1.5], "hand-checked"),
    ("strings-with-reference", "amf3.values", "AMF3 3.8", "0607616263" "0601" "0600",
     ["abc", "", {"$amf3": "string-ref", "index": 0, "value": "abc"}],
     "hand-checked: the empty string is not remembered; 0x00 refers to string 0"),
    ("xml-document", "amf3.values", "AMF3 3.9", "07093c612f3e", [{"$amf3": "xml-document", "value": "<a/>"}],
     "hand-checked"),
    ("date", "amf3.values", "AMF3 3.10", "0801" + d(1e12), [{"$amf3": "date", "ms": 1e12}], "hand-checked"),
    ("array-mixed", "amf3.values", "AMF3 3.11", "0905036b04010104010402",
     [{"$amf3": "array", "assoc": {"k": 1}, "dense": [1, 2]}], "hand-checked: 2 dense items, assoc k=1"),
    ("object-sealed", "amf3.values", "AMF3 3.12",
     "0a2b01" "057569" "0b706172616d" "0619" + b"button_press".hex() + "0405" "01",
     [{"$amf3": "object", "class_name": "", "sealed": {"ui": "button_press", "param": 5}, "dynamic": {}}],
     "hand-checked: 0x2B = inline traits, dynamic, 2 sealed members"),
    ("xml", "amf3.values", "AMF3 3.13", "0b093c622f3e", [{"$amf3": "xml", "value": "<b/>"}], "hand-checked"),
    ("byte-array", "amf3.values", "AMF3 3.14", "0c0700ff10", [{"$bytes": "00ff10"}], "hand-checked"),
    ("vector-int", "amf3.values", "AMF3 3.15", "0d050000000001fffffffe",
     [{"$amf3": "vector-int", "fixed": False, "items": [1, -2]}], "hand-checked"),
    ("schema-string", "amf3.value", "AMF3 3.8", "0607616263",
     {"marker": "string", "value": {"header": 7, "data": {"$bytes": "616263"}, "text": "abc"}},
     "hand-checked: schema-level Container of \"abc\""),
]


def set_data_frame() -> list:
    """ffmpeg: rtmpproto prepends "@setDataFrame" to flvenc's onMetaData (an ECMA array, count = entries)."""
    meta = ECMAArray({"duration": 0.0, "width": 1280.0, "height": 720.0, "videodatarate": 2441.40625,
                      "framerate": 30.0, "videocodecid": 7.0, "audiodatarate": 125.0, "audiosamplerate": 44100.0,
                      "audiosamplesize": 16.0, "stereo": True, "audiocodecid": 10.0, "encoder": "Lavf61.1.100",
                      "filesize": 0.0})
    return ["@setDataFrame", "onMetaData", meta]


BUILT_AMF0 = [
    ("ffmpeg-connect", "AMF0 2.5",
     ["connect", 1.0, {"app": "live", "type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; Lavf61.1.100)",
                       "tcUrl": "rtmp://localhost/live"}],
     "layout of ffmpeg rtmpproto.c gen_connect() when publishing"),
    ("connect-result", "AMF0 2.5",
     ["_result", 1.0, {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
      {"level": "status", "code": "NetConnection.Connect.Success", "description": "Connection succeeded.",
       "objectEncoding": 0.0}],
     "layout of ffmpeg rtmpproto.c read_connect() _result reply"),
    ("setdataframe-onmetadata-ecma", "AMF0 2.10", set_data_frame(),
     "@setDataFrame onMetaData with an ECMA array (count 13), as ffmpeg publishes it"),
    ("onmetadata-object", "AMF0 2.5", ["onMetaData", dict(set_data_frame()[2])],
     "the same metadata as an anonymous object (0x03), as some encoders send it"),
    ("ecma-array-count-mismatch", "AMF0 2.10", [ECMAArray({"a": 1.0, "b": 2.0}, associative_count=5)],
     "associative-count 5 with 2 properties: decoders must go by the object-end marker"),
    ("long-string-65536", "AMF0 2.14", ["x" * 65536], "first length that needs the long-string marker"),
    ("avmplus-object", "AMF0 3.1", ["onStatus", 0.0, None, AVMPlus({"level": "status", "n": 3})],
     "command with an AMF3 object after the avmplus-object-marker"),
    ("all-markers", "AMF0 2.1", [1.0, True, "s", {"o": None}, amf0.MOVIECLIP, None, amf0.UNDEFINED,
                                 amf0.Reference(0), ECMAArray({"e": 1.0}), [1.0], amf0.AMFDate(0.0),
                                 LongString("l"), amf0.UNSUPPORTED, amf0.RECORDSET, amf0.XMLDocument("<x/>"),
                                 amf0.TypedObject("T", {"t": 1.0}), AVMPlus(1)],
     "one value of every marker 0x00-0x11 (object-end inside objects)"),
]

BUILT_AMF3 = [
    ("traits-reference", "AMF3 3.12",
     [[AMF3Object("Point", {"x": 1, "y": 2}), AMF3Object("Point", {"x": 3, "y": 4}, traits_ref=0)]],
     "second object refers to the first one's traits"),
    ("object-dynamic-and-refs", "AMF3 3.12",
     [{"name": "a", "again": AMF3StringRef("a", 1), "list": [1, 2.5, None]}],
     "anonymous dynamic object; the value 'a' sent by string reference"),
    ("externalizable-arraycollection", "AMF3 3.12",
     [AMF3Externalizable("flex.messaging.io.ArrayCollection", ["x", "y"])],
     "Flex ArrayCollection: the body is one AMF3 array"),
    ("vectors", "AMF3 3.15",
     [AMF3Vector("int", [1, -1]), AMF3Vector("uint", [4294967295], True), AMF3Vector("double", [0.5]),
      AMF3Vector("object", [{"a": 1}, None], False, "Object")], "Vector.<int/uint/Number/Object>"),
    ("dictionary", "AMF3 3.16", [AMF3Dictionary([("k", 1), (2, "v"), ({"o": 1}, True)], weak_keys=True)],
     "weak-keyed Dictionary with string, integer and object keys"),
]


def _entry(out: Path, vid: str, codec_name: str, section: str, data: bytes, expected, note: str) -> dict:
    codec = registry.get(codec_name)
    parsed = codec.parse(data)
    got = to_jsonable(parsed)
    if expected is not None and got != expected:
        raise SystemExit(f"{vid}: parser disagrees with the hand-checked JSON\n got      {got}\n expected {expected}")
    if codec.build(parsed) != data:
        raise SystemExit(f"{vid}: build(parse(b)) != b")
    name = f"{vid}.bin"
    (out / name).write_bytes(data)
    return {"id": f"{out.name}-{vid}", "file": name, "codec": codec_name, "section": section, "source": "builder",
            "expected": got, "note": note}


def main() -> None:
    for chapter, hand, built, encode_all, codec_name in (
        ("amf0", AMF0_VECTORS, BUILT_AMF0, amf0.encode_all, "amf0.values"),
        ("amf3", AMF3_VECTORS, BUILT_AMF3, amf3.encode_all, "amf3.values"),
    ):
        out = ROOT / "golden" / chapter
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.bin"):
            old.unlink()
        vectors = [_entry(out, vid, codec, section, bytes.fromhex(hexdata), expected, note)
                   for vid, codec, section, hexdata, expected, note in hand]
        vectors += [_entry(out, vid, codec_name, section, encode_all(values), None, note)
                    for vid, section, values, note in built]
        (out / "manifest.json").write_text(json.dumps({"vectors": vectors}, indent=1, ensure_ascii=False) + "\n")
        print(f"golden/{chapter}: {len(vectors)} vectors")


if __name__ == "__main__":
    main()
