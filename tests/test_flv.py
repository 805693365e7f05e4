"""FLV files (FLV E.2, E.3, E.4.1): schemas, the sans-I/O reader, the writer, describe_flv and the flv.file codec,
checked against files made by ffmpeg and against ffprobe's reading of them and of our writer's output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmpspec import flv, media
from rtmpspec.errors import DecodeError, LimitExceeded, LocalProtocolError
from rtmpspec.flv import (
    END,
    NEED_DATA,
    FLVHeader,
    FLVHeaderEvent,
    FLVReader,
    FLVTag,
    FLVTagHeader,
    FLVWriter,
    describe_flv,
    read_flv,
)
from rtmpspec.jsonable import to_jsonable
from rtmpspec.registry import get

SHARED = "/work/shared/media"
HAVE_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe not installed")


def sample_file() -> bytes:
    w = FLVWriter()
    return (w.header(audio=True, video=True) + w.tag(18, 0, b"\x02\x00\x0aonMetaData\x05")
            + w.tag(9, 0, bytes.fromhex("1700000000") + b"avcC") + w.tag(8, 0, bytes.fromhex("af001210"))
            + w.tag(9, 40, bytes.fromhex("1701000000") + b"frame") + w.tag(8, 0x01234567, b"\xaf\x01zz"))


def all_events(reader: FLVReader) -> list:
    out = []
    while True:
        ev = reader.next_event()
        if ev is NEED_DATA or ev is END:
            return out
        out.append(ev)


# --- schemas and writer --------------------------------------------------------------------------------------------
def test_header_schema_and_writer():
    w = FLVWriter()
    h = w.header(audio=True, video=False)
    assert h == bytes.fromhex("464c5601040000000900000000") and w.offset == 13
    value = FLVHeader.parse(h[:9])
    assert to_jsonable(value) == {"Signature": {"$bytes": "464c56"}, "Version": 1,
                                  "TypeFlags": {"TypeFlagsReserved": 0, "TypeFlagsAudio": 1,
                                                "TypeFlagsReserved2": 0, "TypeFlagsVideo": 0},
                                  "DataOffset": 9, "HeaderExtra": {"$bytes": ""}}
    assert FLVHeader.build(value) == h[:9]
    assert w.header(audio=False, video=True)[4] == 1


def test_writer_tag_matches_schema():
    w = FLVWriter()
    for tag_type, ts, data in [(9, 0, b""), (8, 0xFFFFFF, b"a"), (18, 0x1000000, b"xyz"), (9, 0xFFFFFFFF, bytes(300))]:
        out = w.tag(tag_type, ts, data)
        expected = flv.FLVTAG.build({"header": {"TagFlags": {"Reserved": 0, "Filter": 0, "TagType": tag_type},
                                                "DataSize": len(data), "Timestamp": ts & 0xFFFFFF,
                                                "TimestampExtended": ts >> 24, "StreamID": 0},
                                     "Data": data, "PreviousTagSize": 11 + len(data)})
        assert out == expected
    with pytest.raises(LocalProtocolError):
        w.tag(9, -1, b"")
    with pytest.raises(LocalProtocolError):
        w.tag(9, 1 << 32, b"")
    with pytest.raises(LocalProtocolError):
        w.tag(32, 0, b"")


# --- reader ----------------------------------------------------------------------------------------------------------
def test_reader_events():
    data = sample_file()
    r = FLVReader()
    r.receive_data(data)
    evs = all_events(r)
    assert isinstance(evs[0], FLVHeaderEvent) and evs[0].has_audio and evs[0].has_video
    tags = evs[1:]
    assert [t.tag_type for t in tags] == [18, 9, 8, 9, 8]
    assert [t.timestamp for t in tags] == [0, 0, 0, 40, 0x01234567]  # TimestampExtended is the upper 8 bits
    assert tags[0].offset == 13 and all(t.previous_tag_size == 11 + len(t.data) for t in tags)
    r.receive_data(b"")
    assert r.next_event() is END
    # the hand-unpacked tag header agrees with the FLVTagHeader schema
    for t in tags:
        h = FLVTagHeader.parse(data[t.offset:t.offset + 11])
        assert (h.TagFlags.TagType, h.DataSize, h.Timestamp | h.TimestampExtended << 24, h.StreamID) == (
            t.tag_type, len(t.data), t.timestamp, t.stream_id)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.integers(1, 50), max_size=30))
def test_reader_any_split(cuts):
    data = sample_file()
    whole = FLVReader()
    whole.receive_data(data)
    expected = all_events(whole)
    r, got, pos = FLVReader(), [], 0
    for n in cuts + [len(data)]:
        r.receive_data(data[pos:pos + n])
        pos += n
        got += all_events(r)
        if pos >= len(data):
            break
    assert got == expected


def test_bad_signature():
    r = FLVReader()
    r.receive_data(b"FLX\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
    with pytest.raises(DecodeError) as info:
        r.next_event()
    assert info.value.offset == 0 and info.value.field == "Signature" and info.value.section == "FLV E.2"
    with pytest.raises(DecodeError):  # poisoned
        r.next_event()
    r = FLVReader()
    r.receive_data(b"GIF")  # before the whole header arrived
    with pytest.raises(DecodeError):
        r.next_event()


def test_data_offset_and_extra_header_bytes():
    data = b"FLV\x01\x05\x00\x00\x00\x0dabcd" + b"\x00\x00\x00\x00" + FLVWriter().tag(9, 0, b"\x17\x02\x00\x00\x00")
    h, tags = read_flv(data)
    assert h.data_offset == 13 and h.fields.HeaderExtra == b"abcd" and len(tags) == 1 and tags[0].offset == 17
    with pytest.raises(DecodeError, match="DataOffset"):
        read_flv(b"FLV\x01\x05\x00\x00\x00\x05" + bytes(8))


def test_data_size_limit():
    data = FLVWriter().header() + FLVWriter().tag(9, 0, bytes(1000))
    r = FLVReader(max_data_size=999)
    r.receive_data(data[:13 + 11])  # the limit is checked as soon as the tag header is there
    assert isinstance(r.next_event(), FLVHeaderEvent)
    with pytest.raises(LimitExceeded) as info:
        r.next_event()
    assert (info.value.offset, info.value.field, info.value.section) == (13 + 1, "DataSize", "FLV E.4.1")
    assert len(read_flv(data, max_data_size=1000)[1]) == 1


def test_previous_tag_size_mismatch():
    data = bytearray(sample_file())
    h, tags = read_flv(bytes(data))
    bad = tags[2].offset + 11 + len(tags[2].data)
    data[bad + 3] ^= 0x01
    with pytest.raises(DecodeError) as info:
        read_flv(bytes(data))
    assert (info.value.offset, info.value.field, info.value.section) == (bad, "PreviousTagSize", "FLV E.3")
    r = FLVReader(lenient=True)
    r.receive_data(bytes(data) + b"")
    evs = all_events(r)
    assert len(evs) == 6 and len(r.issues) == 1 and r.issues[0].offset == bad
    assert evs[3].previous_tag_size == (11 + len(tags[2].data)) ^ 1
    data = bytearray(sample_file())
    data[12] = 7  # PreviousTagSize0
    with pytest.raises(DecodeError, match="PreviousTagSize0"):
        read_flv(bytes(data))


def test_stream_id_not_zero():
    data = bytearray(sample_file())
    data[13 + 10] = 1
    with pytest.raises(DecodeError, match="StreamID") as info:
        read_flv(bytes(data))
    assert info.value.offset == 13 + 8
    h, tags = read_flv(bytes(data), lenient=True)
    assert tags[0].stream_id == 1


def test_truncated_end():
    data = sample_file()
    last = read_flv(data)[1][-1]
    for cut in (len(data) - 1, len(data) - 4, last.offset + 5, 10):
        with pytest.raises(DecodeError, match="ends inside"):
            read_flv(data[:cut])
    # lenient: a last tag without its PreviousTagSize is still returned; a partial one is reported and dropped
    r = FLVReader(lenient=True)
    r.receive_data(data[:-4])
    r.receive_data(b"")
    evs = all_events(r)
    assert len(evs) == 6 and evs[-1].previous_tag_size is None and len(r.issues) == 1
    r = FLVReader(lenient=True)
    r.receive_data(data[:last.offset + 5])
    r.receive_data(b"")
    assert len(all_events(r)) == 5 and "ends inside the tag" in r.issues[0].what
    with pytest.raises(LocalProtocolError):
        r.receive_data(b"more")


def test_describe_flv_and_codec():
    data = sample_file()
    items = list(describe_flv(data))
    assert items[0] == {"kind": "header", "version": 1, "audio": True, "video": True, "data_offset": 9,
                        "previous_tag_size0": 0}
    assert [i["type_name"] for i in items[1:]] == ["script", "video", "audio", "video", "audio"]
    assert items[2]["video"]["is_sequence_header"] and items[4]["video"]["is_keyframe"]
    assert items[3]["audio"]["aac_packet_type"] == 0 and items[5]["timestamp"] == 0x01234567
    json.dumps(items)
    codec = get("flv.file")
    value = codec.parse(data)
    assert codec.build(value) == data and len(value["tags"]) == 5 and "unconsumed" not in value
    assert to_jsonable(codec.parse_pieces([data[i:i + 7] for i in range(0, len(data), 7)])) == to_jsonable(value)
    partial = codec.parse_pieces([data, b"\x09\x00"])
    assert partial["unconsumed"] == b"\x09\x00" and codec.build(partial) == data + b"\x09\x00"
    with pytest.raises(DecodeError):
        codec.parse(data[:10])
    assert to_jsonable(value)["tags"][0]["Data"] == {"$bytes": "02000a6f6e4d657461446174610" + "5"}
    big = flv.TagData(bytes(65))
    assert set(big.__json__()) == {"$len", "$sha256"}


def test_describe_flv_lenient_issues():
    data = bytearray(sample_file())
    data[13 + 10] = 1
    items = list(describe_flv(bytes(data), lenient=True))
    assert items[2]["kind"] == "issue" and items[2]["field"] == "StreamID"


def test_describe_flv_reports_undecodable_tags():
    data = FLVWriter().header() + FLVWriter().tag(9, 0, b"\x90av")
    items = list(describe_flv(data))
    assert items[1]["error"]["error"] == "DecodeError"


# --- real files made by ffmpeg, checked against ffprobe ---------------------------------------------------------
FFMPEG_FILES = {
    "h264-aac": ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine", "-t", "2",
                 "-c:v", "libx264", "-g", "25", "-c:a", "aac"],
    "h264-mp3": ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine", "-t", "2",
                 "-c:v", "libx264", "-g", "25", "-c:a", "libmp3lame"],
    "audio-only": ["-f", "lavfi", "-i", "sine", "-t", "2", "-c:a", "aac"],
    "video-only": ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-c:v", "libx264", "-g", "10",
                   "-bf", "2"],
}


@pytest.fixture(scope="module")
def ffmpeg_files(tmp_path_factory):
    if not HAVE_FFMPEG:
        pytest.skip("ffmpeg/ffprobe not installed")
    d = tmp_path_factory.mktemp("flv")
    out = {}
    for name, args in FFMPEG_FILES.items():
        path = d / f"{name}.flv"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args, "-f", "flv", str(path)], check=True)
        out[name] = path
    return out


def ffprobe_packets(path) -> list[dict]:
    res = subprocess.run(["ffprobe", "-v", "error", "-show_packets", "-of", "json", str(path)], check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout).get("packets", [])


def expected_packets(tags: list[FLVTag]) -> list[tuple]:
    """What ffprobe lists: media tags minus sequence headers and empty ones (AVC end of sequence)."""
    out = []
    for t in tags:
        if t.tag_type == 9:
            v = media.parse_video_tag(t.data)
            if v.is_sequence_header or not v.body:
                continue
            out.append(("video", t.timestamp, t.timestamp + (v.composition_time or 0), v.is_keyframe))
        elif t.tag_type == 8:
            a = media.parse_audio_tag(t.data)
            if a.is_sequence_header or not a.body:
                continue
            out.append(("audio", t.timestamp, t.timestamp, None))
    return out


def probe_view(packets: list[dict]) -> list[tuple]:
    return [(p["codec_type"], p["dts"], p["pts"], "K" in p["flags"] if p["codec_type"] == "video" else None)
            for p in packets]


@pytest.mark.interop
@needs_ffmpeg
@pytest.mark.parametrize("name", list(FFMPEG_FILES))
def test_reader_against_ffprobe(ffmpeg_files, name):
    path = ffmpeg_files[name]
    header, tags = read_flv(path)
    assert header.has_audio == (name != "video-only") and header.has_video == (name != "audio-only")
    kinds = {t.tag_type for t in tags}
    assert kinds == {18} | ({8} if name != "video-only" else set()) | ({9} if name != "audio-only" else set())
    expected = expected_packets(tags)
    assert probe_view(ffprobe_packets(path)) == expected
    assert len(expected) > 40
    if name == "h264-mp3":
        assert media.parse_audio_tag(tags[-2].data if tags[-2].tag_type == 8 else tags[-1].data).sound_format == 2
    for item in describe_flv(path):  # every tag header decodes
        assert "error" not in item


@pytest.mark.interop
@needs_ffmpeg
def test_writer_output_read_by_ffprobe(ffmpeg_files, tmp_path):
    src = ffmpeg_files["h264-aac"]
    original = src.read_bytes()
    header, tags = read_flv(src)
    w = FLVWriter()
    out = w.header(audio=header.has_audio, video=header.has_video)
    pieces = [out]
    for t in tags:
        pieces.append(w.tag(t.tag_type, t.timestamp, t.data))
    rewritten = b"".join(pieces)
    assert rewritten == original  # ffmpeg's FLV muxer and ours agree byte for byte
    path = tmp_path / "rewritten.flv"
    path.write_bytes(rewritten)
    assert probe_view(ffprobe_packets(path)) == expected_packets(tags)
    codec = get("flv.file")
    assert codec.build(codec.parse(original)) == original
    # a recording cut in the middle of a tag: ffprobe still reads every complete tag before the cut (and then
    # the cut tag's remains, as a packet it flags corrupt)
    cut_tag = len(tags) // 2
    cut = tags[cut_tag].offset + 11 + len(tags[cut_tag].data) // 2
    path.write_bytes(rewritten[:cut])
    probed, complete = ffprobe_packets(path), expected_packets(tags[:cut_tag])
    assert probe_view(probed[:len(complete)]) == complete and len(probed) - len(complete) <= 1
    assert all(int(p["size"]) < len(tags[cut_tag].data) for p in probed[len(complete):])
    # ... and a cut right after a complete tag: the file is a valid FLV of those tags
    end = tags[cut_tag].offset + 15 + len(tags[cut_tag].data)
    path.write_bytes(rewritten[:end])
    assert probe_view(ffprobe_packets(path)) == expected_packets(tags[:cut_tag + 1])
    assert len(read_flv(rewritten[:end])[1]) == cut_tag + 1


@pytest.mark.parametrize("name", ["ertmp-av1-opus-testsrc.flv", "ertmp-av1-opus-mptestsrc.flv"])
def test_real_ertmp_files(name):
    path = os.path.join(SHARED, name)
    if not os.path.exists(path):
        pytest.skip("shared media not available")
    data = open(path, "rb").read()
    header, tags = read_flv(path)
    assert [t.tag_type for t in tags].count(9) in (303, 345) and [t.tag_type for t in tags].count(8) == 503
    items = list(describe_flv(path))
    assert all("error" not in i for i in items)
    assert sum(1 for i in items[1:] if i.get("video", {}).get("is_keyframe")) >= 1
    w = FLVWriter()
    assert w.header() + b"".join(w.tag(t.tag_type, t.timestamp, t.data) for t in tags) == data
    codec = get("flv.file")
    assert codec.build(codec.parse(data)) == data
