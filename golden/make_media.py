"""Write golden/media/*.bin + manifest.json (audio/video tag headers) and golden/flv/*.bin + manifest.json (FLV files).

    python golden/make_media.py                 # rebuild our vectors; keep the real ones already there
    python golden/make_media.py --refresh-real  # also remake the ffmpeg FLV (needs ffmpeg) and re-cut the E-RTMP tags

Builder vectors are encoded here by hand from the spec tables (FLV E.4.2.1 / E.4.3.1, E-RTMP v2), not by our
schemas; several carry a hand-written expectation (``checked_by_hand``). Real vectors:
- ``golden/flv/ffmpeg-h264-aac-160x120.bin``: 0.5 s made by ffmpeg 5.1 (libx264 + aac), and tags cut from it;
- tags cut from /work/shared/media/ertmp-av1-opus-*.flv (veovera/enhanced-rtmp e-rtmp-lab assets, Apache-2.0;
  see golden/media/README.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from _common import ROOT, Manifest

from rtmpspec import flv, media  # noqa: F401  (registers media.* and flv.file)
from rtmpspec.flv import FLVWriter, read_flv

SHARED = "/work/shared/media"
FFMPEG = "ffmpeg 5.1"
ERTMP_SOURCE = "veovera/enhanced-rtmp e-rtmp-lab/assets/{} (Apache-2.0)"
A, V = "media.audio_tag", "media.video_tag"
SA, SV, SXA, SXV = "FLV E.4.2.1", "FLV E.4.3.1", "E-RTMP v2 Enhanced Audio", "E-RTMP v2 Enhanced Video"
REAL_FLV = os.path.join(ROOT, "golden", "flv", "ffmpeg-h264-aac-160x120.bin")


# --- hand encoders (spec tables) --------------------------------------------------------------------------------
def si24(v: int) -> bytes:
    return (v & 0xFFFFFF).to_bytes(3, "big")


def amf0_str(s: str) -> bytes:
    return len(s).to_bytes(2, "big") + s.encode()


def amf0_num(x: float) -> bytes:
    import struct

    return b"\x00" + struct.pack(">d", x)


def amf0_obj(props: dict) -> bytes:
    out = b"\x03"
    for k, v in props.items():
        out += amf0_str(k) + (amf0_obj(v) if isinstance(v, dict) else amf0_num(v))
    return out + b"\x00\x00\x09"


COLOR_INFO = b"\x02" + amf0_str("colorInfo") + amf0_obj({"colorConfig": {
    "bitDepth": 10.0, "colorPrimaries": 9.0, "transferCharacteristics": 16.0, "matrixCoefficients": 9.0}})
ON_METADATA = b"\x02" + amf0_str("onMetaData") + b"\x08\x00\x00\x00\x01" + amf0_str("duration") + amf0_num(0.5) \
    + b"\x00\x00\x09"
AVCC = bytes.fromhex("01640015ffe1001867640015acd9414185f9700110000003001000000303c0f162d96001000668ebe3cb22c0")
NAL = bytes.fromhex("0000000565888400ff")


def ex_video(frame_type: int, ptype: int, fourcc: bytes, body: bytes, cts: int = 0, mod_ex: bytes = b"") -> bytes:
    """mod_ex: the bytes between the first byte (nibble 7) and the FourCC, final packet type included."""
    out = bytes([0x80 | frame_type << 4 | (7 if mod_ex else ptype)]) + mod_ex + fourcc
    return out + (si24(cts) if ptype == 1 and fourcc in (b"avc1", b"hvc1") else b"") + body


def nano(ns: int, next_type: int) -> bytes:  # ModEx: size 3 (UI8 2), UI24 ns, (TimestampOffsetNano << 4 | next)
    return b"\x02" + ns.to_bytes(3, "big") + bytes([next_type])


def shared_tags(name: str) -> list[tuple[int, bytes]]:
    path = os.path.join(SHARED, name)
    return [(t.tag_type, t.data) for t in read_flv(path)[1]]


# --- golden/media -------------------------------------------------------------------------------------------------
def media_vectors(m: Manifest, refresh: bool) -> None:
    legacy_audio = [("lpcm-platform-5k-8bit-mono", 0x00), ("adpcm-11k-16bit-mono", 0x16), ("mp3-44k-stereo", 0x2F),
                    ("lpcm-le-44k-16bit-stereo", 0x3F), ("nellymoser-16k-mono", 0x4A), ("nellymoser-8k-mono", 0x52),
                    ("nellymoser-11k", 0x66), ("g711-alaw", 0x72), ("g711-mulaw", 0x82), ("speex-16k", 0xB2),
                    ("mp3-8k", 0xE2), ("device-specific", 0xF2)]
    for name, b0 in legacy_audio:
        m.add(f"audio-{name}", bytes([b0]) + b"\x01\x02\x03\x04", A, SA, note=f"legacy AudioTagHeader 0x{b0:02x}")
    m.add("audio-aac-sequence-header", bytes.fromhex("af001210"), A, SA, note="AAC LC 44.1 kHz stereo ASC",
          expected_by_hand={"header": {"SoundFormat": 10, "SoundRate": 3, "SoundSize": 1, "SoundType": 1,
                                       "audioPacketType": None}, "AACPacketType": 0, "ex": None,
                            "data": {"$bytes": "1210"}})
    m.add("audio-aac-raw", bytes.fromhex("af0121100504"), A, SA,
          expected_by_hand={"AACPacketType": 1, "data": {"$bytes": "21100504"}})

    for name, b0 in [("h263-keyframe", 0x12), ("h263-disposable", 0x32), ("h263-generated-keyframe", 0x42),
                     ("screen", 0x13), ("vp6", 0x24), ("vp6a", 0x15), ("screenv2", 0x26)]:
        m.add(f"video-{name}", bytes([b0, 0x00, 0x42, 0x43]), V, SV, note=f"legacy VideoTagHeader 0x{b0:02x}")
    m.add("video-command-start-seek", b"\x52\x00", V, SV, note="FrameType 5: a UI8 VideoCommand instead of video",
          expected_by_hand={"header": {"isExVideoHeader": 0, "FrameType": 5, "CodecID": 2}, "VideoCommand": 0,
                            "data": {"$bytes": ""}})
    m.add("video-avc-sequence-header", b"\x17\x00" + si24(0) + AVCC, V, SV, note="AVCDecoderConfigurationRecord")
    m.add("video-avc-nalu-keyframe", b"\x17\x01" + si24(80) + NAL, V, SV,
          expected_by_hand={"header": {"FrameType": 1, "CodecID": 7}, "AVCPacketType": 1, "CompositionTime": 80})
    m.add("video-avc-inter-negative-cts", b"\x27\x01" + si24(-40) + NAL, V, SV, note="CompositionTime SI24 = -40",
          expected_by_hand={"header": {"FrameType": 2, "CodecID": 7}, "CompositionTime": -40})
    m.add("video-avc-end-of-sequence", bytes.fromhex("1702000000"), V, SV,
          expected_by_hand={"AVCPacketType": 2, "CompositionTime": 0, "data": {"$bytes": ""}})
    m.add("video-hevc-codecid12-sequence-header", b"\x1c\x00" + si24(0) + b"\x01\x01\x60", V, SV,
          note="CodecID 12 = HEVC: not in FLV 10.1; sent by OBS forks / Chinese CDNs (MediaMTX issue 1621)",
          expected_by_hand={"header": {"FrameType": 1, "CodecID": 12}, "AVCPacketType": 0})
    m.add("video-hevc-codecid12-nalu", b"\x2c\x01" + si24(33) + NAL, V, SV, note="CodecID 12 HEVC, inter frame")

    for fourcc in (b"hvc1", b"av01", b"vp09", b"vvc1"):
        f = fourcc.decode()
        m.add(f"ex-video-{f}-sequence-start", ex_video(1, 0, fourcc, b"\x01\x02\x03"), V, SXV)
        m.add(f"ex-video-{f}-coded-frames", ex_video(1, 1, fourcc, NAL, cts=66), V, SXV,
              note="compositionTimeOffset SI24 only for avc1/hvc1")
        m.add(f"ex-video-{f}-sequence-end", ex_video(1, 2, fourcc, b""), V, SXV)
        m.add(f"ex-video-{f}-coded-frames-x", ex_video(2, 3, fourcc, NAL), V, SXV, note="CodedFramesX: cts 0")
        m.add(f"ex-video-{f}-metadata", ex_video(5, 4, fourcc, COLOR_INFO), V, SXV,
              note="Metadata (FrameType 5 ignored): AMF0 'colorInfo' object")
        m.add(f"ex-video-{f}-mpeg2ts-sequence-start", ex_video(1, 5, fourcc, b"\x80\x04"), V, SXV)
        m.add(f"ex-video-{f}-modex-nano", ex_video(2, 1, fourcc, NAL, cts=5, mod_ex=nano(250000, 1)), V, SXV,
              note="ModEx TimestampOffsetNano 250000 ns, then CodedFrames")
    m.add("ex-video-hvc1-coded-frames-hand", b"\x91hvc1" + si24(80) + b"NAL", V, SXV, expected_by_hand={
        "header": {"isExVideoHeader": 1, "FrameType": 1, "CodecID": None, "videoPacketType": 1},
        "ex": {"videoCommand": None, "packet": {"videoFourCc": {"$bytes": "68766331"}, "compositionTimeOffset": 80,
                                                "data": {"$bytes": "4e414c"}}}, "data": None})
    m.add("ex-video-avc1-coded-frames", ex_video(2, 1, b"avc1", NAL, cts=-33), V, SXV)
    m.add("ex-video-command-frame", bytes([0xD1, 0x01]), V, SXV, note="FrameType 5, not Metadata: UI8 only",
          expected_by_hand={"ex": {"videoCommand": 1, "packet": None}})
    m.add("ex-video-modex-two-entries", bytes([0x97, 0x02]) + si24(999999) + b"\x57" + b"\xff\x01\x00" + bytes(257)
          + b"\x53" + b"av01" + b"OBU", V, SXV, note="two ModEx entries, the second 257 bytes (UI16 size escape)",
          expected_by_hand={"ex": {"modEx": [{"modExDataSizeMinus1": 2, "modExDataSizeMinus1Ext": None},
                                             {"modExDataSizeMinus1": 255, "modExDataSizeMinus1Ext": 256}]}})
    one = bytes([0x96, 0x01]) + b"av01" + b"\x00" + b"OBUS"
    m.add("ex-video-multitrack-one-track", one, V, SXV, note="Multitrack OneTrack: trackId, no size",
          expected_by_hand={"ex": {"packet": {"mt": {"videoMultitrackType": 0, "videoPacketType": 1},
                                              "tracks": [{"videoTrackId": 0, "body": {"data": {"$bytes": "4f425553"}}}]}}})
    many = bytes([0x96, 0x11]) + b"hvc1" + b"\x00" + si24(6) + si24(40) + b"N1N" + b"\x01" + si24(5) + si24(0) + b"N2"
    m.add("ex-video-multitrack-many-tracks", many, V, SXV, note="ManyTracks, hvc1 CodedFrames: cts per track")
    mtmc = bytes([0x96, 0x20]) + b"avc1\x00" + si24(len(AVCC)) + AVCC + b"av01\x01" + si24(4) + b"\x81\x00\x0c\x00"
    m.add("ex-video-multitrack-many-codecs", mtmc, V, SXV, note="ManyTracksManyCodecs SequenceStart: avc1 + av01")

    for fourcc, seq in [(b"Opus", b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), (b"fLaC", b"fLaC\x00"),
                        (b"ac-3", b""), (b"ec-3", b""), (b"mp4a", b"\x12\x10"), (b".mp3", b"")]:
        f = fourcc.decode().replace(".", "")
        m.add(f"ex-audio-{f}-sequence-start", b"\x90" + fourcc + seq, A, SXA)
        m.add(f"ex-audio-{f}-coded-frames", b"\x91" + fourcc + b"\xfc\xff\xfe", A, SXA)
    m.add("ex-audio-opus-sequence-end", b"\x92Opus", A, SXA)
    m.add("ex-audio-multichannel-native", b"\x94Opus\x01\x06\x00\x00\x00\x3f", A, SXA, note="5.1, channel flags",
          expected_by_hand={"ex": {"packet": {"multichannelConfig": {
              "audioChannelOrder": 1, "channelCount": 6, "audioChannelMapping": None, "audioChannelFlags": 63}}}})
    m.add("ex-audio-multichannel-custom", b"\x94ac-3\x02\x03\x00\x01\xfe", A, SXA, note="custom map: FL FR Unused",
          expected_by_hand={"ex": {"packet": {"multichannelConfig": {"audioChannelOrder": 2, "channelCount": 3,
                                                                    "audioChannelMapping": [0, 1, 254]}}}})
    m.add("ex-audio-multichannel-unspecified", b"\x94fLaC\x00\x02", A, SXA)
    m.add("ex-audio-multitrack-one-track", b"\x95\x01Opus\x00\xfc\xff", A, SXA)
    m.add("ex-audio-multitrack-many-tracks", b"\x95\x11mp4a\x00" + si24(2) + b"\x21\x10\x01" + si24(1) + b"\x22",
          A, SXA)
    m.add("ex-audio-multitrack-many-codecs", b"\x95\x20Opus\x00" + si24(1) + b"\xf8.mp3\x01" + si24(2) + b"\xff\xfb",
          A, SXA, note="ManyTracksManyCodecs SequenceStart")
    m.add("ex-audio-modex-nano", b"\x97\x02\x00\x00\x64\x01mp4aframe", A, SXA, note="TimestampOffsetNano 100 ns",
          expected_by_hand={"ex": {"modEx": [{"modExData": {"$bytes": "000064"},
                                              "next": {"audioPacketModExType": 0, "audioPacketType": 1}}],
                                   "packet": {"audioFourCc": {"$bytes": "6d703461"}, "data": {"$bytes": "6672616d65"}}}})

    # real: tags cut from the E-RTMP assets (small ones) and from the ffmpeg FLV
    for fname, picks in [("ertmp-av1-opus-testsrc.flv", [("av01-sequence-start", 9, 0x90), ("av01-metadata-colorinfo",
                          9, 0xD4), ("opus-sequence-start", 8, 0x90), ("opus-multichannel-config", 8, 0x94),
                          ("opus-coded-frames", 8, 0x91)]),
                         ("ertmp-av1-opus-mptestsrc.flv", [("av01-metadata-colorinfo-2", 9, 0xD4),
                                                           ("av01-coded-keyframe", 9, 0x91)])]:
        for vid, tag_type, first in picks:
            vid = f"real-ertmp-{vid}"
            path = os.path.join(m.dir, vid + ".bin")
            if refresh or not os.path.exists(path):
                if not os.path.exists(os.path.join(SHARED, fname)):
                    print(f"skip {vid}: {SHARED}/{fname} not available", file=sys.stderr)
                    continue
                data = min((d for t, d in shared_tags(fname) if t == tag_type and d[0] == first), key=len)
            else:
                data = open(path, "rb").read()
            section = SXV if tag_type == 9 else SXA
            m.add(vid, data, V if tag_type == 9 else A, section, source=ERTMP_SOURCE.format(fname),
                  note="smallest tag of its kind in the file")
    if os.path.exists(REAL_FLV):
        tags = read_flv(REAL_FLV)[1]
        for vid, tag_type, pick in [("avc-sequence-header", 9, 0), ("aac-sequence-header", 8, 0),
                                    ("avc-end-of-sequence", 9, -1)]:
            data = [t.data for t in tags if t.tag_type == tag_type][pick]
            m.add(f"real-ffmpeg-{vid}", data, V if tag_type == 9 else A, SV if tag_type == 9 else SA, source=FFMPEG,
                  note="cut from golden/flv/ffmpeg-h264-aac-160x120.bin")


# --- golden/flv ---------------------------------------------------------------------------------------------------
def make_real_flv() -> None:
    if shutil.which("ffmpeg") is None:
        print("ffmpeg not found: the real FLV is not remade", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.flv")
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
                        "-f", "lavfi", "-i", "sine=sample_rate=22050", "-t", "0.5", "-c:v", "libx264", "-g", "25",
                        "-preset", "veryfast", "-c:a", "aac", "-b:a", "32k", "-fflags", "+bitexact", "-f", "flv", out],
                       check=True)
        os.makedirs(os.path.dirname(REAL_FLV), exist_ok=True)
        shutil.copyfile(out, REAL_FLV)


def flv_vectors(m: Manifest, refresh: bool) -> None:
    w = FLVWriter()
    header = w.header(audio=True, video=True)
    m.add("header-only", header, "flv.file", "FLV E.2", note="header + PreviousTagSize0, no tags",
          expected_by_hand={"header": {"Signature": {"$bytes": "464c56"}, "Version": 1,
                                       "TypeFlags": {"TypeFlagsReserved": 0, "TypeFlagsAudio": 1,
                                                     "TypeFlagsReserved2": 0, "TypeFlagsVideo": 1},
                                       "DataOffset": 9, "HeaderExtra": {"$bytes": ""}},
                            "PreviousTagSize0": 0, "tags": []})
    w = FLVWriter()
    small = (w.header(audio=True, video=True) + w.tag(18, 0, ON_METADATA) + w.tag(9, 0, b"\x17\x00" + si24(0) + AVCC)
             + w.tag(8, 0, bytes.fromhex("af001210")) + w.tag(9, 0, b"\x17\x01" + si24(0) + NAL)
             + w.tag(8, 23, bytes.fromhex("af0121100504")) + w.tag(9, 0x01000028, b"\x27\x01" + si24(0) + NAL))
    m.add("legacy-tags", small, "flv.file", "FLV E.3", note="script, AVC/AAC headers and frames; the last tag has "
          "a timestamp over 24 bits (TimestampExtended 1)",
          expected_by_hand={"tags": [{"header": {"TagFlags": {"TagType": 18}, "DataSize": len(ON_METADATA)}},
                                     {}, {}, {}, {"header": {"Timestamp": 23}},
                                     {"header": {"Timestamp": 0x28, "TimestampExtended": 1, "StreamID": 0},
                                      "PreviousTagSize": 11 + 5 + len(NAL)}]})
    m.add("header-dataoffset-13", b"FLV\x01\x01\x00\x00\x00\x0dEXTR\x00\x00\x00\x00"
          + FLVWriter().tag(9, 0, b"\x17\x02\x00\x00\x00"), "flv.file", "FLV E.2",
          note="DataOffset 13: 4 bytes between the header and PreviousTagSize0",
          expected_by_hand={"header": {"DataOffset": 13, "HeaderExtra": {"$bytes": "45585452"}}})
    ertmp = [os.path.join(m.dir, "ertmp-tags.bin")]
    if refresh or not os.path.exists(ertmp[0]):
        src = "ertmp-av1-opus-testsrc.flv"
        if os.path.exists(os.path.join(SHARED, src)):
            tags = read_flv(os.path.join(SHARED, src))[1]
            keep = [tags[0]] + [t for t in tags if t.tag_type in (8, 9) and t.data[0] in (0x90, 0x94, 0xD4)]
            keep += [min((t for t in tags if t.tag_type == 8 and t.data[0] == 0x91), key=lambda t: len(t.data))]
            w = FLVWriter()
            open(ertmp[0], "wb").write(w.header() + b"".join(w.tag(t.tag_type, t.timestamp, t.data) for t in keep))
    if os.path.exists(ertmp[0]):
        m.add("ertmp-tags", open(ertmp[0], "rb").read(), "flv.file", "FLV E.3",
              source=ERTMP_SOURCE.format("ertmp-av1-opus-testsrc.flv"),
              note="onMetaData, av01 SequenceStart x2, Metadata, Opus SequenceStart / MultichannelConfig / one "
                   "CodedFrames, re-muxed by FLVWriter (tag bytes unchanged)")
    if refresh or not os.path.exists(REAL_FLV):
        make_real_flv()
    if os.path.exists(REAL_FLV):
        data = open(REAL_FLV, "rb").read()
        assert len(data) < 60_000, len(data)
        m.add("ffmpeg-h264-aac-160x120", data, "flv.file", "FLV E.3", source=FFMPEG,
              note="0.5 s testsrc2 160x120 libx264 + sine aac, ffmpeg -f flv")


def main() -> None:
    refresh = "--refresh-real" in sys.argv[1:]
    fm = Manifest("flv")
    flv_vectors(fm, refresh)  # first: the media vectors cut tags from the real FLV
    mm = Manifest("media")
    media_vectors(mm, refresh)
    mm.write()
    fm.write()


if __name__ == "__main__":
    main()
