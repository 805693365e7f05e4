"""Media payloads for the cases, built from schemas (never typed-in byte strings).

Tag headers come from :data:`rtmpspec.media.VIDEODATA` / :data:`rtmpspec.media.AUDIODATA` (FLV E.4.2.1, E.4.3.1,
E-RTMP v2). Codec configuration records (avcC, AudioSpecificConfig, hvcC, av1C, OpusHead) are small construct
schemas here; the H.264 SPS/PPS are real bitstreams written with an exp-Golomb writer so that a server that parses
them (nginx-rtmp's codec module does) finds a 320x240 picture. Frame bodies are deterministic pseudo-random bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from construct import (
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Int16ul,
    Int32ub,
    Int32ul,
    Prefixed,
    PrefixedArray,
    Struct,
    this,
)

from rtmpspec import media, messages, sharedobject
from rtmpspec.amf0 import ECMAArray
from rtmpspec.messages import Command, DataMessage

AUDIO, VIDEO = 8, 9

# -- codec configuration records ------------------------------------------------------------------------------

# ISO/IEC 14496-15 5.2.4.1 AVCDecoderConfigurationRecord (the body of an AVC sequence header, FLV E.4.3.1)
AVCDecoderConfigurationRecord = Struct(
    "configurationVersion" / Const(1, Int8ub),
    "AVCProfileIndication" / Int8ub,
    "profile_compatibility" / Int8ub,
    "AVCLevelIndication" / Int8ub,
    "lengthSize" / BitStruct("reserved" / Const(0b111111, BitsInteger(6)), "lengthSizeMinusOne" / BitsInteger(2)),
    "sps" / BitStruct("reserved" / Const(0b111, BitsInteger(3)), "count" / BitsInteger(5)),
    "sequenceParameterSets" / Array(this.sps.count, Prefixed(Int16ub, GreedyBytes)),
    "pictureParameterSets" / PrefixedArray(Int8ub, Prefixed(Int16ub, GreedyBytes)),
)

# ISO/IEC 14496-3 1.6.2.1 AudioSpecificConfig (AAC sequence header body, FLV E.4.2.2)
AudioSpecificConfig = BitStruct(
    "audioObjectType" / BitsInteger(5),
    "samplingFrequencyIndex" / BitsInteger(4),
    "channelConfiguration" / BitsInteger(4),
    "frameLengthFlag" / BitsInteger(1),
    "dependsOnCoreCoder" / BitsInteger(1),
    "extensionFlag" / BitsInteger(1),
)

# ISO/IEC 14496-15 8.3.3.1 HEVCDecoderConfigurationRecord (first 23 bytes, no arrays)
HEVCDecoderConfigurationRecord = Struct(
    "configurationVersion" / Const(1, Int8ub),
    "profile" / BitStruct("general_profile_space" / BitsInteger(2), "general_tier_flag" / BitsInteger(1),
                          "general_profile_idc" / BitsInteger(5)),
    "general_profile_compatibility_flags" / Int32ub,
    "general_constraint_indicator_flags" / Bytes(6),
    "general_level_idc" / Int8ub,
    "min_spatial_segmentation" / Int16ub,  # 4 reserved bits (1111) + 12 bits
    "parallelismType" / Int8ub,
    "chromaFormat" / Int8ub,
    "bitDepthLumaMinus8" / Int8ub,
    "bitDepthChromaMinus8" / Int8ub,
    "avgFrameRate" / Int16ub,
    "flags" / Int8ub,  # constantFrameRate(2) numTemporalLayers(3) temporalIdNested(1) lengthSizeMinusOne(2)
    "arrays" / PrefixedArray(Int8ub, Struct("type" / Int8ub, "nalus" / PrefixedArray(Int16ub, Prefixed(Int16ub, GreedyBytes)))),
)

# AV1 Codec ISOBMFF binding 2.3.3 AV1CodecConfigurationRecord
AV1CodecConfigurationRecord = BitStruct(
    "marker" / Const(1, BitsInteger(1)),
    "version" / Const(1, BitsInteger(7)),
    "seq_profile" / BitsInteger(3),
    "seq_level_idx_0" / BitsInteger(5),
    "seq_tier_0" / BitsInteger(1),
    "high_bitdepth" / BitsInteger(1),
    "twelve_bit" / BitsInteger(1),
    "monochrome" / BitsInteger(1),
    "chroma_subsampling_x" / BitsInteger(1),
    "chroma_subsampling_y" / BitsInteger(1),
    "chroma_sample_position" / BitsInteger(2),
    "reserved" / Const(0, BitsInteger(3)),
    "initial_presentation_delay_present" / BitsInteger(1),
    "initial_presentation_delay_minus_one" / BitsInteger(4),
)

# RFC 7845 5.1 Identification Header (the Opus sequence start body in E-RTMP)
OpusHead = Struct(
    "magic" / Const(b"OpusHead"),
    "version" / Int8ub,
    "channelCount" / Int8ub,
    "preSkip" / Int16ul,
    "inputSampleRate" / Int32ul,
    "outputGain" / Int16ul,
    "channelMappingFamily" / Int8ub,
)


def shared_object_use(name: str) -> bytes:
    """A shared object message (RTMP 1.0 7.1.3) with one 'Use' event: the client announces a named shared object."""
    return sharedobject.build(name, [(sharedobject.EventType.Use, b"")])


class BitWriter:
    """MSB-first bit writer with exp-Golomb codes (H.264 7.2)."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> BitWriter:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]
        return self

    def ue(self, value: int) -> BitWriter:
        v = value + 1
        n = v.bit_length()
        return self.u(n - 1, 0).u(n, v)

    def se(self, value: int) -> BitWriter:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def trailing(self) -> bytes:
        self.bits.append(1)
        while len(self.bits) % 8:
            self.bits.append(0)
        return bytes(int("".join(map(str, self.bits[i:i + 8])), 2) for i in range(0, len(self.bits), 8))


def h264_sps(width: int = 320, height: int = 240) -> bytes:
    """A Baseline profile SPS (H.264 7.3.2.1.1) for ``width`` x ``height`` (multiples of 16)."""
    w = BitWriter()
    w.u(8, 0x67)  # forbidden_zero_bit, nal_ref_idc 3, nal_unit_type 7
    w.u(8, 66).u(8, 0xC0).u(8, 30)  # profile_idc Baseline, constraint_set0/1, level_idc 3.0
    w.ue(0).ue(0).ue(2).ue(1).u(1, 0)  # sps id, log2_max_frame_num-4, poc type 2, max refs 1, gaps 0
    w.ue(width // 16 - 1).ue(height // 16 - 1)  # pic_width_in_mbs_minus1, pic_height_in_map_units_minus1
    w.u(1, 1).u(1, 1).u(1, 0).u(1, 0)  # frame_mbs_only, direct_8x8, frame_cropping, vui
    return w.trailing()


def h264_pps() -> bytes:
    w = BitWriter()
    w.u(8, 0x68)  # nal_unit_type 8
    w.ue(0).ue(0).u(1, 0).u(1, 0).ue(0).ue(0).ue(0).u(1, 0).u(2, 0).se(0).se(0).se(0).u(1, 1).u(1, 0).u(1, 0)
    return w.trailing()


def avcc(width: int = 320, height: int = 240) -> bytes:
    return AVCDecoderConfigurationRecord.build({
        "AVCProfileIndication": 66, "profile_compatibility": 0xC0, "AVCLevelIndication": 30,
        "lengthSize": {"lengthSizeMinusOne": 3}, "sps": {"count": 1},
        "sequenceParameterSets": [h264_sps(width, height)], "pictureParameterSets": [h264_pps()]})


def aac_config() -> bytes:
    """AAC LC, 44.1 kHz, stereo."""
    return AudioSpecificConfig.build({"audioObjectType": 2, "samplingFrequencyIndex": 4, "channelConfiguration": 2,
                                      "frameLengthFlag": 0, "dependsOnCoreCoder": 0, "extensionFlag": 0})


def hvcc() -> bytes:
    return HEVCDecoderConfigurationRecord.build({
        "profile": {"general_profile_space": 0, "general_tier_flag": 0, "general_profile_idc": 1},
        "general_profile_compatibility_flags": 0x60000000, "general_constraint_indicator_flags": bytes(6),
        "general_level_idc": 90, "min_spatial_segmentation": 0xF000, "parallelismType": 0xFC, "chromaFormat": 0xFD,
        "bitDepthLumaMinus8": 0xF8, "bitDepthChromaMinus8": 0xF8, "avgFrameRate": 0, "flags": 0x0F,
        "arrays": [{"type": 0x20, "nalus": [random.Random(32).randbytes(20)]},
                   {"type": 0x21, "nalus": [random.Random(33).randbytes(30)]},
                   {"type": 0x22, "nalus": [random.Random(34).randbytes(6)]}]})


def av1c() -> bytes:
    return AV1CodecConfigurationRecord.build({
        "seq_profile": 0, "seq_level_idx_0": 8, "seq_tier_0": 0, "high_bitdepth": 0, "twelve_bit": 0,
        "monochrome": 0, "chroma_subsampling_x": 1, "chroma_subsampling_y": 1, "chroma_sample_position": 0,
        "initial_presentation_delay_present": 0, "initial_presentation_delay_minus_one": 0})


def opus_head() -> bytes:
    return OpusHead.build({"version": 1, "channelCount": 2, "preSkip": 312, "inputSampleRate": 48000,
                           "outputGain": 0, "channelMappingFamily": 0})


# -- tags ---------------------------------------------------------------------------------------------------

_VNONE = {"AVCPacketType": None, "CompositionTime": None, "VideoCommand": None, "ex": None, "data": None}
_ANONE = {"AACPacketType": None, "ex": None, "data": None}


def legacy_video(frame_type: int, codec_id: int, body: bytes, *, avc_packet_type: int | None = None,
                 cts: int = 0) -> bytes:
    """FLV E.4.3.1 VIDEODATA (CodecID 7 = AVC; 12 = the legacy HEVC id)."""
    avc = codec_id in (7, 12)
    return media.VIDEODATA.build({**_VNONE, "header": {"isExVideoHeader": 0, "FrameType": frame_type,
                                                        "CodecID": codec_id, "videoPacketType": None},
                                  "AVCPacketType": avc_packet_type if avc else None,
                                  "CompositionTime": cts if avc else None, "data": body})


def ex_video(frame_type: int, packet_type: int, fourcc: bytes, body: bytes, cts: int | None = None) -> bytes:
    """E-RTMP v2 ExVideoTagHeader with a FourCC (SequenceStart 0, CodedFrames 1, CodedFramesX 3, ...)."""
    packet: dict = {"videoFourCc": fourcc, "data": body}
    if packet_type == 1:
        packet["compositionTimeOffset"] = (cts or 0) if fourcc in (b"avc1", b"hvc1") else None
    return media.VIDEODATA.build({**_VNONE, "header": {"isExVideoHeader": 1, "FrameType": frame_type,
                                                        "CodecID": None, "videoPacketType": packet_type},
                                  "ex": {"videoCommand": None, "packet": packet}})


def aac(packet_type: int, body: bytes) -> bytes:
    """FLV E.4.2.1 AUDIODATA: AAC 44 kHz 16-bit stereo (SoundFormat 10)."""
    return media.AUDIODATA.build({**_ANONE, "header": {"SoundFormat": 10, "SoundRate": 3, "SoundSize": 1,
                                                        "SoundType": 1, "audioPacketType": None},
                                  "AACPacketType": packet_type, "data": body})


def legacy_audio(sound_format: int, body: bytes) -> bytes:
    return media.AUDIODATA.build({**_ANONE, "header": {"SoundFormat": sound_format, "SoundRate": 3,
                                                        "SoundSize": 1, "SoundType": 1, "audioPacketType": None},
                                  "AACPacketType": 0 if sound_format == 10 else None, "data": body})


def ex_audio(packet_type: int, fourcc: bytes, body: bytes) -> bytes:
    return media.AUDIODATA.build({**_ANONE, "header": {"SoundFormat": 9, "SoundRate": None, "SoundSize": None,
                                                        "SoundType": None, "audioPacketType": packet_type},
                                  "ex": {"packet": {"audioFourCc": fourcc, "data": body}}})


def avc_nalu(keyframe: bool, size: int, seed: int) -> bytes:
    """One AVCC-framed NAL unit (4-byte length prefix): IDR slice (type 5) or non-IDR slice (type 1)."""
    nal_header = BitWriter().u(1, 0).u(2, 3 if keyframe else 2).u(5, 5 if keyframe else 1).bits
    head = int("".join(map(str, nal_header)), 2).to_bytes(1, "big")
    return Prefixed(Int32ub, GreedyBytes).build(head + random.Random(seed).randbytes(max(0, size - 5)))


# -- streams of messages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One media/data message a publisher sends: type, timestamp, payload."""

    type_id: int
    timestamp: int
    payload: bytes
    label: str = ""

    @property
    def is_video(self) -> bool:
        return self.type_id == VIDEO


def metadata(kind: str = "ecma", wrapped: bool = True, *, extra: dict | None = None, msid: int = 1,
             timestamp: int = 0) -> DataMessage:
    """onMetaData as an ECMA array (what ffmpeg/OBS send) or an object, with or without @setDataFrame."""
    props = {"duration": 0.0, "width": 320.0, "height": 240.0, "videodatarate": 500.0, "framerate": 25.0,
             "videocodecid": 7.0, "audiodatarate": 128.0, "audiosamplerate": 44100.0, "audiosamplesize": 16.0,
             "stereo": True, "audiocodecid": 10.0, "encoder": "rtmp-conformance"}
    if extra:
        props.update(extra)
    value = ECMAArray(props) if kind == "ecma" else dict(props)
    dm = messages.set_data_frame(value, msid=msid, wrapped=wrapped)
    return DataMessage(dm.values, msid, timestamp)


def av_sequence(n_video: int = 10, *, seed: int = 1, gop: int = 5, start: int = 0, video_sizes=(900, 260, 5200),
                audio_size: int = 180, with_audio: bool = True, with_video: bool = True,
                headers: bool = True) -> list[Item]:
    """AVC+AAC: sequence headers, then ``n_video`` frames at 25 fps (keyframe every ``gop``) with AAC frames
    every 23 ms in between, sizes varying so that many messages span several chunks."""
    rnd = random.Random(seed)
    items: list[Item] = []
    if headers:
        if with_video:
            items.append(Item(VIDEO, start, legacy_video(1, 7, avcc(), avc_packet_type=0), "avc-seq"))
        if with_audio:
            items.append(Item(AUDIO, start, aac(0, aac_config()), "aac-seq"))
    audio_t = start
    for i in range(n_video):
        t = start + i * 40
        if with_audio:
            while audio_t <= t:
                items.append(Item(AUDIO, audio_t, aac(1, rnd.randbytes(audio_size + rnd.randrange(40))), "aac"))
                audio_t += 23
        if with_video:
            key = i % gop == 0
            size = video_sizes[2] if key else video_sizes[i % 2]
            body = avc_nalu(key, size + rnd.randrange(200), seed * 1000 + i)
            items.append(Item(VIDEO, t, legacy_video(1 if key else 2, 7, body, avc_packet_type=1, cts=0),
                              "key" if key else "inter"))
    return items


def ex_sequence(fourcc: bytes, n: int = 6, *, seed: int = 7, start: int = 0) -> list[Item]:
    """E-RTMP video: SequenceStart then CodedFrames (keyframe first), FourCC ``hvc1``/``av01``/``vp09``."""
    config = {b"hvc1": hvcc, b"av01": av1c}.get(fourcc, lambda: random.Random(seed).randbytes(12))()
    rnd = random.Random(seed)
    items = [Item(VIDEO, start, ex_video(1, 0, fourcc, config), f"{fourcc.decode()}-seq")]
    for i in range(n):
        key = i == 0
        body = rnd.randbytes(3000 if key else 700 + rnd.randrange(300))
        items.append(Item(VIDEO, start + i * 40, ex_video(1 if key else 2, 1, fourcc, body, cts=0),
                          "key" if key else "inter"))
    return items


def opus_sequence(n: int = 8, *, seed: int = 9, start: int = 0) -> list[Item]:
    rnd = random.Random(seed)
    items = [Item(AUDIO, start, ex_audio(0, b"Opus", opus_head()), "opus-seq")]
    for i in range(n):
        items.append(Item(AUDIO, start + i * 20, ex_audio(1, b"Opus", rnd.randbytes(120 + rnd.randrange(60))),
                          "opus"))
    return items


def hevc_codecid12_sequence(n: int = 6, *, seed: int = 12, start: int = 0) -> list[Item]:
    """Legacy FLV header with CodecID 12 (HEVC as OBS forks and Chinese CDNs send it; not in FLV 10.1)."""
    rnd = random.Random(seed)
    items = [Item(VIDEO, start, legacy_video(1, 12, hvcc(), avc_packet_type=0), "hevc12-seq")]
    for i in range(n):
        key = i == 0
        body = Prefixed(Int32ub, GreedyBytes).build(rnd.randbytes(2500 if key else 600))
        items.append(Item(VIDEO, start + i * 40, legacy_video(1 if key else 2, 12, body, avc_packet_type=1),
                          "key" if key else "inter"))
    return items


def ex_video_multitrack(frame_type: int, packet_type: int, fourcc: bytes, bodies: list[bytes]) -> bytes:
    """E-RTMP v2 Multitrack (ManyTracks, one FourCC): one track per body, track ids 0, 1, ..."""
    tracks = [{"videoFourCc": None, "videoTrackId": i,
               "body": {"compositionTimeOffset": 0 if packet_type == 1 and fourcc in (b"avc1", b"hvc1") else None,
                        "data": b}} for i, b in enumerate(bodies)]
    return media.VIDEODATA.build({**_VNONE, "header": {"isExVideoHeader": 1, "FrameType": frame_type,
                                                        "CodecID": None, "videoPacketType": 6},
                                  "ex": {"videoCommand": None, "packet": {
                                      "mt": {"videoMultitrackType": 1, "videoPacketType": packet_type},
                                      "videoFourCc": fourcc, "tracks": tracks}}})


def multitrack_sequence(n: int = 4, *, seed: int = 15, start: int = 0) -> list[Item]:
    rnd = random.Random(seed)
    items = [Item(VIDEO, start, ex_video_multitrack(1, 0, b"av01", [av1c(), av1c()]), "mt-seq")]
    for i in range(n):
        key = i == 0
        bodies = [rnd.randbytes(1500 if key else 400), rnd.randbytes(900 if key else 250)]
        items.append(Item(VIDEO, start + 40 * i, ex_video_multitrack(1 if key else 2, 1, b"av01", bodies),
                          "mt-key" if key else "mt-inter"))
    return items


def padded_create_stream(tid: float, length: int) -> bytes:
    """A createStream command payload of ``length`` bytes (a padding string argument): a message of a chosen size
    whose answer proves the server read all of it."""
    base = len(Command("createStream", tid, None, ("",)).to_message().payload)
    return Command("createStream", tid, None, ("x" * max(0, length - base),)).to_message().payload
