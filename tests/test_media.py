"""Audio/video tag headers (FLV E.4.2.1, E.4.3.1; Enhanced RTMP v1/v2): every header form, round trips,
truncation, an independent encoder driven by hypothesis, and the real E-RTMP files in /work/shared/media."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmpspec import media
from rtmpspec.errors import DecodeError
from rtmpspec.jsonable import to_jsonable
from rtmpspec.media import (
    AUDIODATA,
    VIDEODATA,
    CapsExMask,
    FourCcInfoMask,
    connect_properties,
    describe_audio,
    describe_video,
    is_keyframe,
    is_sequence_header,
    parse_audio_tag,
    parse_connect_caps,
    parse_video_tag,
)
from rtmpspec.registry import get

SHARED = "/work/shared/media"
VIDEO_FOURCCS = [b"avc1", b"hvc1", b"av01", b"vp09", b"vp08", b"vvc1"]
AUDIO_FOURCCS = [b"Opus", b"fLaC", b"ac-3", b"ec-3", b"mp4a", b".mp3"]


# --- an encoder written from the spec text, independent of the schemas ------------------------------------------
def si24(v: int) -> bytes:
    return (v & 0xFFFFFF).to_bytes(3, "big")


def mod_ex_bytes(entries: list[tuple[int, bytes]], final_type: int) -> bytes:
    """ModEx chain after a first-byte nibble of 7: size (UI8+1, or 0xFF + UI16+1), data, (type << 4 | next)."""
    out = b""
    for i, (mtype, data) in enumerate(entries):
        n = len(data)
        out += bytes([n - 1]) if n < 256 else b"\xff" + (n - 1).to_bytes(2, "big")
        nxt = 7 if i + 1 < len(entries) else final_type
        out += data + bytes([mtype << 4 | nxt])
    return out


def ex_video(frame_type: int, ptype: int, fourcc: bytes, body: bytes = b"", cts: int = 0,
             mod_ex: list | None = None) -> bytes:
    first = 0x80 | frame_type << 4 | (7 if mod_ex else ptype)
    out = bytes([first]) + (mod_ex_bytes(mod_ex, ptype) if mod_ex else b"") + fourcc
    if ptype == 1 and fourcc in (b"avc1", b"hvc1"):
        out += si24(cts)
    return out + body


def ex_video_multitrack(frame_type: int, mtype: int, ptype: int, tracks: list[tuple[bytes, int, bytes, int]],
                        shared_fourcc: bytes = b"av01") -> bytes:
    """tracks: (fourcc, track id, body, cts); fourcc used only for ManyTracksManyCodecs."""
    out = bytes([0x80 | frame_type << 4 | 6, mtype << 4 | ptype]) + (shared_fourcc if mtype != 2 else b"")
    for fourcc, tid, body, cts in tracks:
        cc = fourcc if mtype == 2 else shared_fourcc
        payload = (si24(cts) if ptype == 1 and cc in (b"avc1", b"hvc1") else b"") + body
        out += (fourcc if mtype == 2 else b"") + bytes([tid])
        out += payload if mtype == 0 else len(payload).to_bytes(3, "big") + payload
    return out


def ex_audio(ptype: int, fourcc: bytes, body: bytes = b"", mod_ex: list | None = None) -> bytes:
    return bytes([0x90 | (7 if mod_ex else ptype)]) + (mod_ex_bytes(mod_ex, ptype) if mod_ex else b"") + fourcc + body


def mc_config(order: int, count: int, mapping: list[int] | None = None, flags: int | None = None) -> bytes:
    out = bytes([order, count])
    if order == 2:
        out += bytes(mapping)
    if order == 1:
        out += flags.to_bytes(4, "big")
    return out


# --- vectors: (payload, expected attributes) -------------------------------------------------------------------
LEGACY_AUDIO = [
    (bytes([f << 4 | r << 2 | s << 1 | t]) + b"\x01\x02\x03", f, r, s, t)
    for f in (0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 14, 15) for r in (0, 3) for s in (0, 1) for t in (0, 1)
]


@pytest.mark.parametrize("payload,fmt,rate,size,typ", LEGACY_AUDIO)
def test_legacy_audio_header(payload, fmt, rate, size, typ):
    tag = parse_audio_tag(payload)
    assert (tag.sound_format, tag.sound_rate, tag.sound_size, tag.sound_type) == (fmt, rate, size, typ)
    assert not tag.enhanced and tag.body == b"\x01\x02\x03" and tag.aac_packet_type is None
    assert AUDIODATA.build(tag.fields) == payload
    assert not is_sequence_header(8, payload)


def test_legacy_aac():
    seq = bytes.fromhex("af001210")  # AAC LC 44.1 kHz stereo AudioSpecificConfig
    tag = parse_audio_tag(seq)
    assert (tag.sound_format, tag.aac_packet_type, tag.body) == (10, 0, b"\x12\x10")
    assert is_sequence_header(8, seq) and tag.is_sequence_header
    d = describe_audio(seq)
    assert d["sound_rate_hz"] == 44100 and d["sound_type"] == "stereo" and d["sound_size_bits"] == 16
    raw = bytes.fromhex("af01") + b"x" * 10
    assert not is_sequence_header(8, raw) and parse_audio_tag(raw).aac_packet_type == 1
    # hand-written: the schema value of the sequence header
    assert to_jsonable(AUDIODATA.parse(seq)) == {
        "header": {"SoundFormat": 10, "SoundRate": 3, "SoundSize": 1, "SoundType": 1, "audioPacketType": None},
        "AACPacketType": 0, "ex": None, "data": {"$bytes": "1210"}}


@pytest.mark.parametrize("frame_type", [1, 2, 3, 4])
@pytest.mark.parametrize("codec_id", [2, 3, 4, 5, 6])
def test_legacy_video_other_codecs(frame_type, codec_id):
    payload = bytes([frame_type << 4 | codec_id]) + b"\x00\x11\x22"
    tag = parse_video_tag(payload)
    assert (tag.frame_type, tag.codec_id, tag.avc_packet_type, tag.body) == (frame_type, codec_id, None,
                                                                             b"\x00\x11\x22")
    assert tag.is_keyframe == (frame_type == 1) and not tag.is_sequence_header
    assert VIDEODATA.build(tag.fields) == payload


@pytest.mark.parametrize("codec_id", [7, 12])
@pytest.mark.parametrize("frame_type,ptype,cts", [(1, 0, 0), (1, 1, 80), (2, 1, -40), (2, 1, 0x7FFFFF),
                                                  (3, 1, -0x800000), (1, 2, 0)])
def test_legacy_avc_hevc(codec_id, frame_type, ptype, cts):
    payload = bytes([frame_type << 4 | codec_id, ptype]) + si24(cts) + b"\x00\x00\x00\x05abcde"
    tag = parse_video_tag(payload)
    assert (tag.codec_id, tag.avc_packet_type, tag.composition_time) == (codec_id, ptype, cts)
    assert tag.body == b"\x00\x00\x00\x05abcde"
    assert is_sequence_header(9, payload) == (ptype == 0)
    assert is_keyframe(payload) == (frame_type == 1 and ptype == 1)
    assert VIDEODATA.build(tag.fields) == payload
    d = describe_video(payload)
    assert d["codec"] == ("Avc" if codec_id == 7 else "Hevc") and d["composition_time"] == cts


def test_legacy_command_frame():
    tag = parse_video_tag(b"\x52\x01")  # FrameType 5, Sorenson H.263, EndSeek
    assert (tag.frame_type, tag.command, tag.body) == (5, 1, b"")
    assert describe_video(b"\x52\x01")["command_name"] == "EndSeek"
    assert not is_keyframe(b"\x52\x01")
    # AVC: the AVCPacketType and CompositionTime of the header come first (FLV E.4.3.1), then the UI8
    tag = parse_video_tag(b"\x57\x01\x00\x00\x00\x00")
    assert (tag.avc_packet_type, tag.command) == (1, 0)


@pytest.mark.parametrize("fourcc", VIDEO_FOURCCS)
@pytest.mark.parametrize("ptype", [0, 1, 2, 3, 4, 5])
def test_ex_video_packet_types(fourcc, ptype):
    frame_type = 5 if ptype == 4 else 1
    payload = ex_video(frame_type, ptype, fourcc, b"BODY", cts=-33)
    tag = parse_video_tag(payload)
    assert tag.enhanced and (tag.packet_type, tag.fourcc, tag.body) == (ptype, fourcc.decode(), b"BODY")
    has_cts = ptype == 1 and fourcc in (b"avc1", b"hvc1")
    assert tag.tracks[0].composition_time == (-33 if has_cts else None)
    assert tag.is_sequence_header == (ptype in (0, 5)) == is_sequence_header(9, payload)
    assert tag.is_keyframe == (ptype in (1, 3)) == is_keyframe(payload)
    assert VIDEODATA.build(tag.fields) == payload
    d = describe_video(payload)
    assert d["fourcc"] == fourcc.decode() and d["codec"] == media.VIDEO_FOURCC[fourcc.decode()]
    assert d["packet_type_name"] == media.VideoPacketType(ptype).name
    assert parse_video_tag(payload, strict=True).fourcc == fourcc.decode()


def test_ex_video_hand_written():
    payload = bytes.fromhex("91") + b"hvc1" + bytes.fromhex("000050") + b"NAL"
    assert to_jsonable(VIDEODATA.parse(payload)) == {
        "header": {"isExVideoHeader": 1, "FrameType": 1, "CodecID": None, "videoPacketType": 1},
        "AVCPacketType": None, "CompositionTime": None, "VideoCommand": None,
        "ex": {"videoCommand": None, "packet": {"videoFourCc": {"$bytes": "68766331"},
                                                "compositionTimeOffset": 80, "data": {"$bytes": "4e414c"}}},
        "data": None}


def test_ex_video_command_frame():
    payload = bytes([0x80 | 5 << 4 | 1, 0])  # command frame: no FourCC, a UI8 VideoCommand
    tag = parse_video_tag(payload)
    assert (tag.frame_type, tag.command, tag.fourcc, tag.tracks) == (5, 0, None, ())
    assert VIDEODATA.build(tag.fields) == payload
    assert describe_video(payload)["command_name"] == "StartSeek"


def test_ex_video_mod_ex():
    nano = (123456).to_bytes(3, "big")
    payload = ex_video(1, 1, b"avc1", b"NAL", cts=7, mod_ex=[(0, nano)])
    assert payload[:6] == bytes([0x97, 2]) + nano + b"\x01"  # ModEx size 3, data, (TimestampOffsetNano, CodedFrames)
    tag = parse_video_tag(payload)
    assert tag.packet_type == 1 and tag.mod_ex[0].timestamp_offset_nano == 123456
    assert tag.tracks[0].composition_time == 7 and tag.is_keyframe
    assert VIDEODATA.build(tag.fields) == payload
    # two entries, the second with the 16-bit size escape (300 bytes)
    payload = ex_video(2, 3, b"hvc1", b"x", mod_ex=[(0, nano), (5, bytes(300))])
    tag = parse_video_tag(payload)
    assert [m.mod_ex_type for m in tag.mod_ex] == [0, 5] and len(tag.mod_ex[1].data) == 300
    assert (tag.packet_type, tag.body) == (3, b"x") and VIDEODATA.build(tag.fields) == payload
    assert describe_video(payload)["mod_ex"][0]["timestampOffsetNano"] == 123456
    # exactly 256 bytes needs the escape too (UI8 + 1 reaches 256 only as the escape marker)
    payload = ex_video(2, 1, b"av01", b"y", mod_ex=[(0, bytes(256))])
    assert payload[1:4] == b"\xff\x00\xff" and len(parse_video_tag(payload).mod_ex[0].data) == 256


@pytest.mark.parametrize("mtype", [0, 1, 2])
@pytest.mark.parametrize("ptype", [0, 1, 3])
def test_ex_video_multitrack(mtype, ptype):
    tracks = [(b"avc1", 0, b"first", 40)] if mtype == 0 else [(b"avc1", 0, b"first", 40), (b"hvc1", 1, b"2nd", -5),
                                                              (b"av01", 2, b"", 0)]
    payload = ex_video_multitrack(1, mtype, ptype, tracks, shared_fourcc=b"avc1")
    tag = parse_video_tag(payload)
    assert tag.packet_type == 6 and tag.multitrack_type == mtype and len(tag.tracks) == len(tracks)
    for t, (fourcc, tid, body, cts) in zip(tag.tracks, tracks, strict=True):
        cc = fourcc if mtype == 2 else b"avc1"
        assert (t.track_id, t.fourcc, t.packet_type, t.body) == (tid, cc.decode(), ptype, body)
        assert t.composition_time == (cts if ptype == 1 and cc in (b"avc1", b"hvc1") else None)
    assert tag.is_sequence_header == (ptype == 0) == is_sequence_header(9, payload)
    assert tag.is_keyframe == (ptype in (1, 3))
    assert VIDEODATA.build(tag.fields) == payload
    assert len(describe_video(payload).get("tracks", [])) == len(tracks)


@pytest.mark.parametrize("fourcc", AUDIO_FOURCCS)
@pytest.mark.parametrize("ptype", [0, 1, 2])
def test_ex_audio(fourcc, ptype):
    payload = ex_audio(ptype, fourcc, b"DATA")
    tag = parse_audio_tag(payload)
    assert tag.enhanced and (tag.packet_type, tag.fourcc, tag.body) == (ptype, fourcc.decode(), b"DATA")
    assert tag.is_sequence_header == (ptype == 0) == is_sequence_header(8, payload)
    assert AUDIODATA.build(tag.fields) == payload
    d = describe_audio(payload)
    assert d["codec"] == media.AUDIO_FOURCC[fourcc.decode()] and d["packet_type"] == ptype


@pytest.mark.parametrize("order,count,mapping,flags", [(0, 2, None, None), (1, 6, None, 0x3F),
                                                       (2, 3, [0, 1, 0xFE], None), (2, 0, [], None)])
def test_ex_audio_multichannel_config(order, count, mapping, flags):
    payload = ex_audio(4, b"Opus", mc_config(order, count, mapping, flags))
    tag = parse_audio_tag(payload)
    c = tag.tracks[0].multichannel_config
    assert (c.audioChannelOrder, c.channelCount, c.audioChannelFlags) == (order, count, flags)
    assert (list(c.audioChannelMapping) if c.audioChannelMapping is not None else None) == mapping
    assert tag.is_sequence_header and AUDIODATA.build(tag.fields) == payload
    d = describe_audio(payload)["multichannel_config"]
    if order == 1:
        assert d["channel_mask"] == ["FrontLeft", "FrontRight", "FrontCenter", "LowFrequency1", "BackLeft",
                                     "BackRight"]
    if order == 2:
        assert d["channels"] == [media.AudioChannel(x).name for x in mapping]


@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_ex_audio_multitrack(mtype):
    n = 1 if mtype == 0 else 2
    head = bytes([0x95, mtype << 4 | 4]) + (b"Opus" if mtype != 2 else b"")
    body = b""
    for tid in range(n):
        cfg = mc_config(1, 2, flags=3)
        body += (b"Opus" if mtype == 2 else b"") + bytes([tid])
        body += cfg if mtype == 0 else len(cfg).to_bytes(3, "big") + cfg
    payload = head + body
    tag = parse_audio_tag(payload)
    assert tag.multitrack_type == mtype and [t.track_id for t in tag.tracks] == list(range(n))
    assert all(t.multichannel_config.audioChannelFlags == 3 and t.packet_type == 4 for t in tag.tracks)
    assert tag.is_sequence_header and AUDIODATA.build(tag.fields) == payload
    assert describe_audio(payload)["tracks"][0]["multichannel_config"]["channel_mask"] == ["FrontLeft",
                                                                                           "FrontRight"]


def test_ex_audio_mod_ex():
    payload = ex_audio(1, b"mp4a", b"frame", mod_ex=[(0, b"\x00\x00\x64")])
    assert payload[:6] == bytes([0x97, 2, 0, 0, 0x64, 0x01])
    tag = parse_audio_tag(payload)
    assert (tag.packet_type, tag.fourcc, tag.body) == (1, "mp4a", b"frame")
    assert tag.mod_ex[0].timestamp_offset_nano == 100 and AUDIODATA.build(tag.fields) == payload


def test_audio_silence_and_empty():
    assert describe_audio(b"")["format"] == "silence"
    assert not is_sequence_header(8, b"") and not is_keyframe(b"")
    with pytest.raises(DecodeError):
        parse_audio_tag(b"")


def test_other_type_ids_are_not_sequence_headers():
    assert not is_sequence_header(18, bytes.fromhex("af00"))


# --- truncation: every cut inside the header raises DecodeError --------------------------------------------------
TRUNCATION_CASES = [
    ("audio", bytes.fromhex("af001210")),
    ("audio", ex_audio(0, b"Opus", b"OpusHead")),
    ("audio", ex_audio(4, b"Opus", mc_config(2, 3, [0, 1, 2]))),
    ("audio", ex_audio(1, b"mp4a", b"f", mod_ex=[(0, b"\x00\x00\x64")])),
    ("video", bytes.fromhex("1701000050") + b"nal"),
    ("video", bytes.fromhex("1c00000000") + b"hvcC"),
    ("video", ex_video(1, 1, b"avc1", b"nal", cts=3)),
    ("video", ex_video(1, 0, b"av01", b"av1C")),
    ("video", ex_video(2, 1, b"hvc1", b"n", mod_ex=[(0, b"\x01\x02\x03"), (1, bytes(260))])),
    ("video", bytes([0xD1, 0])),
]


@pytest.mark.parametrize("kind,payload", TRUNCATION_CASES)
def test_truncation_raises(kind, payload):
    parse = parse_audio_tag if kind == "audio" else parse_video_tag
    tag = parse(payload)
    header_len = len(payload) - len(tag.body)
    for n in range(header_len):
        with pytest.raises(DecodeError) as info:
            parse(payload[:n])
        assert info.value.section and info.value.offset is not None and info.value.offset <= n


def test_multitrack_cut_inside_a_track_raises():
    payload = ex_video_multitrack(1, 1, 1, [(b"", 0, b"abcdef", 1), (b"", 1, b"ghij", 2)], shared_fourcc=b"avc1")
    tag = parse_video_tag(payload)
    first_end = 1 + 1 + 4 + 1 + 3 + 3 + 6
    for n in range(first_end + 1, len(payload)):  # inside the second track
        with pytest.raises(DecodeError, match="left over|does not decode"):
            parse_video_tag(payload[:n])
    assert len(parse_video_tag(payload[:first_end]).tracks) == 1  # a cut at a track boundary is a valid message
    assert VIDEODATA.build(tag.fields) == payload


def test_decode_error_fields():
    with pytest.raises(DecodeError) as info:
        parse_video_tag(b"\x90av0")
    e = info.value
    assert e.section == "E-RTMP v2 Enhanced Video" and e.offset == 4 and "videoFourCc" in (e.field or "")
    with pytest.raises(DecodeError) as info:
        parse_audio_tag(b"\xaf")
    assert info.value.section == "FLV E.4.2.1" and info.value.field == "AACPacketType"


def test_strict_mode():
    with pytest.raises(DecodeError, match="FourCC"):
        parse_video_tag(ex_video(1, 0, b"zzzz"), strict=True)
    with pytest.raises(DecodeError, match="FourCC"):
        parse_audio_tag(ex_audio(0, b"abcd"), strict=True)
    with pytest.raises(DecodeError, match="reserved"):
        parse_video_tag(ex_video(1, 9, b"av01"), strict=True)
    with pytest.raises(DecodeError, match="reserved"):
        parse_audio_tag(b"\xc2\x00", strict=True)
    assert parse_video_tag(ex_video(1, 0, b"zzzz")).fourcc == "zzzz"  # lenient by default (a relay forwards it)


# --- hypothesis ---------------------------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(min_size=0, max_size=40), st.sampled_from([0x2F, 0xAF, 0x90, 0x91, 0x94, 0x95, 0x97, 0x17, 0x27,
                                                             0x1C, 0x52, 0x80, 0x91, 0x96, 0x97, 0xD1, 0xD4, 0xA3]))
def test_random_bytes_round_trip(rest, first):
    payload = bytes([first]) + rest
    for parse, schema in ((parse_audio_tag, AUDIODATA), (parse_video_tag, VIDEODATA)):
        try:
            tag = parse(payload)
        except DecodeError:
            continue
        assert schema.build(tag.fields) == payload
        to_jsonable(tag)


mod_ex_st = st.lists(st.tuples(st.integers(0, 15), st.binary(min_size=1, max_size=300)), max_size=3)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(1, 4), st.sampled_from([0, 1, 2, 3, 4, 5]), st.sampled_from(VIDEO_FOURCCS),
       st.binary(max_size=50), st.integers(-(1 << 23), (1 << 23) - 1), mod_ex_st)
def test_encoder_video_round_trip(frame_type, ptype, fourcc, body, cts, mod_ex):
    payload = ex_video(frame_type, ptype, fourcc, body, cts, mod_ex or None)
    tag = parse_video_tag(payload)
    assert (tag.frame_type, tag.packet_type, tag.fourcc, tag.body) == (frame_type, ptype, fourcc.decode(), body)
    assert [(m.mod_ex_type, m.data) for m in tag.mod_ex] == list(mod_ex)
    assert VIDEODATA.build(tag.fields) == payload
    assert get("media.video_tag").build(get("media.video_tag").parse(payload)) == payload


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2), st.sampled_from([0, 1, 2]), st.lists(st.tuples(st.sampled_from(VIDEO_FOURCCS),
       st.integers(0, 255), st.binary(max_size=20), st.integers(-1000, 1000)), min_size=1, max_size=4))
def test_encoder_video_multitrack_round_trip(mtype, ptype, tracks):
    tracks = tracks[:1] if mtype == 0 else tracks
    payload = ex_video_multitrack(2, mtype, ptype, tracks, shared_fourcc=b"hvc1")
    tag = parse_video_tag(payload)
    assert [(t.track_id, t.body) for t in tag.tracks] == [(tid, body) for _, tid, body, _ in tracks]
    assert VIDEODATA.build(tag.fields) == payload


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from([0, 1, 2]), st.sampled_from(AUDIO_FOURCCS), st.binary(max_size=50), mod_ex_st)
def test_encoder_audio_round_trip(ptype, fourcc, body, mod_ex):
    payload = ex_audio(ptype, fourcc, body, mod_ex or None)
    tag = parse_audio_tag(payload)
    assert (tag.packet_type, tag.fourcc, tag.body) == (ptype, fourcc.decode(), body)
    assert AUDIODATA.build(tag.fields) == payload


@pytest.mark.parametrize("schema", [AUDIODATA, VIDEODATA], ids=["audio", "video"])
def test_generic_strategy_round_trip(schema):
    """The contract test's generic strategy (rtmpspec.strategies) reaches our schemas: build/parse round trip."""
    strategies = pytest.importorskip("rtmpspec.strategies")

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategies.from_schema(schema))
    def check(x):
        b = schema.build(x)
        y = schema.parse(b)
        assert schema.build(y) == b

    check()


# --- real Enhanced RTMP files (veovera/enhanced-rtmp e-rtmp-lab assets, Apache-2.0) ------------------------------
def _tags(path: str):
    data = open(path, "rb").read()
    off = 13
    while off + 11 <= len(data):
        size = int.from_bytes(data[off + 1:off + 4], "big")
        yield data[off] & 0x1F, data[off + 11:off + 11 + size]
        off += 15 + size


@pytest.mark.parametrize("name,coded", [("ertmp-av1-opus-testsrc.flv", 300), ("ertmp-av1-opus-mptestsrc.flv", 342)])
def test_real_ertmp_files(name, coded):
    path = os.path.join(SHARED, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} not available")
    counts: dict = {}
    for tag_type, data in _tags(path):
        if tag_type == 8:
            tag = parse_audio_tag(data, strict=True)
            assert AUDIODATA.build(tag.fields) == data and tag.fourcc == "Opus"
            key = ("audio", tag.packet_type)
        elif tag_type == 9:
            tag = parse_video_tag(data, strict=True)
            assert VIDEODATA.build(tag.fields) == data and tag.fourcc == "av01"
            key = ("video", tag.packet_type)
            if tag.packet_type == 4:
                assert tag.frame_type == 5 and b"colorInfo" in tag.body
                d = describe_video(data)
                if "metadata" in d:
                    assert d["metadata"][0] == "colorInfo"
        else:
            continue
        counts[key] = counts.get(key, 0) + 1
        to_jsonable(tag)
    # the README's table: SequenceStart x2, CodedFrames, Metadata x1; Opus SequenceStart, MultichannelConfig,
    # CodedFrames (503 audio tags)
    assert counts[("video", 0)] == 2 and counts[("video", 1)] == coded and counts[("video", 4)] == 1
    assert counts[("audio", 0)] == 1 and counts[("audio", 4)] == 1
    assert sum(v for k, v in counts.items() if k[0] == "audio") == 503


def test_real_multichannel_config():
    path = os.path.join(SHARED, "ertmp-av1-opus-testsrc.flv")
    if not os.path.exists(path):
        pytest.skip("shared media not available")
    data = next(d for t, d in _tags(path) if t == 8 and d[0] == 0x94)
    c = describe_audio(data)["multichannel_config"]
    assert c == {"audio_channel_order": "Native", "channel_count": 1, "channels": None, "channel_flags": 4,
                 "channel_mask": ["FrontCenter"]}


# --- connect properties ------------------------------------------------------------------------------------------
def test_connect_properties_and_caps():
    props = connect_properties()
    assert props["capsEx"] == float(CapsExMask.Reconnect | CapsExMask.Multitrack | CapsExMask.ModEx) == 7.0
    assert set(props["fourCcList"]) == set(media.VIDEO_FOURCC) | set(media.AUDIO_FOURCC)
    assert props["videoFourCcInfoMap"]["av01"] == 4.0
    caps = parse_connect_caps({"fourCcList": ["av01", "hvc1"], "videoFourCcInfoMap": {"*": 4.0, "vp09": 3.0},
                               "audioFourCcInfoMap": {"Opus": 1.0}, "capsEx": 3.0})
    assert caps.enhanced and caps.caps_ex == 3
    assert caps.supports("vp09") and caps.supports("avc1")  # '*' CanForward overrides per-codec flags
    assert caps.supports("Opus", FourCcInfoMask.CanDecode) and not caps.supports("fLaC", FourCcInfoMask.CanDecode)
    assert to_jsonable(caps)["capsEx"] == ["Reconnect", "Multitrack"]
    legacy = parse_connect_caps({"fourCcList": ["hvc1"]})
    assert legacy.supports("hvc1") and not legacy.supports("av01")
    assert not parse_connect_caps({"app": "live"}).enhanced
    assert media.describe_flags(CapsExMask, 0x19) == ["Reconnect", "TimestampNanoOffset", 16]
    assert media.make_fourcc("Opus") == 0x4F707573 == 1332770163 and media.fourcc_str(1635135537) == "av01"
