"""Codec bitstream pieces for the Enhanced RTMP cases, as small construct schemas (never typed-in bytes).

E-RTMP v2 names the body of each packet type by codec: configuration records for SequenceStart (VP8/VP9
VPCodecConfigurationRecord, FLAC's 'fLaC' + STREAMINFO), the AV1 MPEG-2 TS video descriptor for
MPEG2TSSequenceStart, and coded frames (AV1 OBUs, VP8/VP9 frames, AC-3 / E-AC-3 syncframes, MP3 frames, Opus
packets, FLAC frames). A relay never decodes these; they are written so that a server that peeks at them (to find a
keyframe, a sample rate) sees plausible values. The rest of each frame is deterministic pseudo-random bytes.
"""

from __future__ import annotations

import random

from construct import (
    BitsInteger,
    BitStruct,
    Const,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Int16ul,
    Int32ub,
    Prefixed,
    Struct,
    VarInt,
)

# VP Codec ISO-BMFF binding 2.2: VPCodecConfigurationRecord (vpcC version 1), the vp08/vp09 SequenceStart body
VPCodecConfigurationRecord = Struct(
    "profile" / Int8ub,
    "level" / Int8ub,
    "bits" / BitStruct("bitDepth" / BitsInteger(4), "chromaSubsampling" / BitsInteger(3),
                       "videoFullRangeFlag" / BitsInteger(1)),
    "colourPrimaries" / Int8ub,
    "transferCharacteristics" / Int8ub,
    "matrixCoefficients" / Int8ub,
    "codecInitializationData" / Prefixed(Int16ub, GreedyBytes),
)

# RFC 6386 9.1: VP8 frame tag (3 bytes; the bit fields of its first byte from the top) + key frame start code
VP8FrameTag = BitStruct("firstPartSizeLow" / BitsInteger(3), "showFrame" / BitsInteger(1), "version" / BitsInteger(3),
                        "keyFrame" / BitsInteger(1),  # 0 = key frame
                        "firstPartSizeHigh" / BitsInteger(16))
VP8KeyFrameHeader = Struct(
    "frameTag" / VP8FrameTag,
    "startCode1" / Const(0x9D, Int8ub), "startCode2" / Const(0x01, Int8ub), "startCode3" / Const(0x2A, Int8ub),
    "width" / Int16ul,
    "height" / Int16ul,
)

# VP9 bitstream 6.2: the start of uncompressed_header() of a profile 0 key frame
VP9KeyFrameHeader = BitStruct(
    "frame_marker" / Const(2, BitsInteger(2)),
    "profile_low_bit" / BitsInteger(1),
    "profile_high_bit" / BitsInteger(1),
    "show_existing_frame" / BitsInteger(1),
    "frame_type" / BitsInteger(1),  # 0 = KEY_FRAME
    "show_frame" / BitsInteger(1),
    "error_resilient_mode" / BitsInteger(1),
    "frame_sync_code" / Const(0x498342, BitsInteger(24)),
)

# AV1 bitstream 5.3: OBU header + leb128 size (obu_has_size_field = 1)
AV1Obu = Struct(
    "header" / BitStruct("obu_forbidden_bit" / Const(0, BitsInteger(1)), "obu_type" / BitsInteger(4),
                         "obu_extension_flag" / Const(0, BitsInteger(1)), "obu_has_size_field" / Const(1, BitsInteger(1)),
                         "obu_reserved_1bit" / Const(0, BitsInteger(1))),
    "obu_payload" / Prefixed(VarInt, GreedyBytes),  # leb128(obu_size)
)
OBU_TEMPORAL_DELIMITER, OBU_FRAME = 2, 6

# AOM "Carriage of AV1 in MPEG-2 TS" 2.2: av1_video_descriptor (the MPEG2TSSequenceStart body, E-RTMP v2)
AV1VideoDescriptor = Struct(
    "descriptor_tag" / Const(0x80, Int8ub),
    "descriptor_length" / Const(4, Int8ub),
    "fields" / BitStruct(
        "marker" / Const(1, BitsInteger(1)), "version" / Const(1, BitsInteger(7)),
        "seq_profile" / BitsInteger(3), "seq_level_idx_0" / BitsInteger(5),
        "seq_tier_0" / BitsInteger(1), "high_bitdepth" / BitsInteger(1), "twelve_bit" / BitsInteger(1),
        "monochrome" / BitsInteger(1), "chroma_subsampling_x" / BitsInteger(1),
        "chroma_subsampling_y" / BitsInteger(1), "chroma_sample_position" / BitsInteger(2),
        "hdr_wcg_idc" / BitsInteger(2), "reserved_zeros" / Const(0, BitsInteger(1)),
        "initial_presentation_delay_present" / BitsInteger(1), "reserved" / Const(0xF, BitsInteger(4))),
)

# FLAC format: 'fLaC', METADATA_BLOCK_HEADER, METADATA_BLOCK_STREAMINFO (the fLaC SequenceStart body, E-RTMP v2)
FlacStreamInfoBlock = Struct(
    "marker" / Const(b"fLaC"),
    "header" / BitStruct("last_metadata_block" / BitsInteger(1), "block_type" / Const(0, BitsInteger(7)),
                         "length" / Const(34, BitsInteger(24))),
    "streaminfo" / BitStruct(
        "min_block_size" / BitsInteger(16), "max_block_size" / BitsInteger(16),
        "min_frame_size" / BitsInteger(24), "max_frame_size" / BitsInteger(24),
        "sample_rate" / BitsInteger(20), "channels_minus_1" / BitsInteger(3),
        "bits_per_sample_minus_1" / BitsInteger(5), "total_samples" / BitsInteger(36),
        "md5" / BitsInteger(128)),
)

# FLAC format: FRAME_HEADER up to the (one-byte) UTF-8 coded frame number
FlacFrameHeader = BitStruct(
    "sync" / Const(0x3FFE, BitsInteger(14)), "reserved" / Const(0, BitsInteger(1)),
    "blocking_strategy" / BitsInteger(1), "block_size" / BitsInteger(4), "sample_rate" / BitsInteger(4),
    "channel_assignment" / BitsInteger(4), "sample_size" / BitsInteger(3), "reserved2" / Const(0, BitsInteger(1)),
    "frame_number" / BitsInteger(8),
)

# ATSC A/52 5.3.1 syncinfo + the start of bsi (AC-3)
AC3SyncFrameHeader = BitStruct(
    "syncword" / Const(0x0B77, BitsInteger(16)), "crc1" / BitsInteger(16),
    "fscod" / BitsInteger(2), "frmsizecod" / BitsInteger(6),
    "bsid" / Const(8, BitsInteger(5)), "bsmod" / BitsInteger(3), "acmod" / BitsInteger(3),
    "bsi_rest" / BitsInteger(5),  # cmixlev/surmixlev/dsurmod and lfeon, as acmod makes them present
)

# ATSC A/52 E.1.2: E-AC-3 syncinfo + the start of bsi
EAC3SyncFrameHeader = BitStruct(
    "syncword" / Const(0x0B77, BitsInteger(16)), "strmtyp" / BitsInteger(2), "substreamid" / BitsInteger(3),
    "frmsiz" / BitsInteger(11), "fscod" / BitsInteger(2), "numblkscod" / BitsInteger(2), "acmod" / BitsInteger(3),
    "lfeon" / BitsInteger(1), "bsid" / Const(16, BitsInteger(5)), "dialnorm" / BitsInteger(5),
    "compre" / Const(0, BitsInteger(1)), "bsi_rest" / BitsInteger(5),
)

# ISO/IEC 11172-3 2.4.1.3: MPEG audio frame header (MP3: layer III)
MP3FrameHeader = BitStruct(
    "syncword" / Const(0x7FF, BitsInteger(11)), "version" / BitsInteger(2), "layer" / BitsInteger(2),
    "protection_absent" / BitsInteger(1), "bitrate_index" / BitsInteger(4), "sampling_frequency" / BitsInteger(2),
    "padding" / BitsInteger(1), "private" / BitsInteger(1), "mode" / BitsInteger(2),
    "mode_extension" / BitsInteger(2), "copyright" / BitsInteger(1), "original" / BitsInteger(1),
    "emphasis" / BitsInteger(2),
)

# RFC 6716 3.1: Opus TOC byte
OpusToc = BitStruct("config" / BitsInteger(5), "s" / BitsInteger(1), "c" / BitsInteger(2))

# ISO/IEC 14496-15: a NAL unit with a 4-byte length prefix (lengthSizeMinusOne = 3), as in avc1/hvc1 frames
LengthPrefixedNal = Prefixed(Int32ub, GreedyBytes)

# H.265 7.3.1.2: nal_unit_header
HevcNalHeader = BitStruct("forbidden_zero_bit" / Const(0, BitsInteger(1)), "nal_unit_type" / BitsInteger(6),
                          "nuh_layer_id" / BitsInteger(6), "nuh_temporal_id_plus1" / BitsInteger(3))


def _rnd(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(max(0, n))


# -- configuration records ------------------------------------------------------------------------------------

def vpcc(vp9: bool = True) -> bytes:
    return VPCodecConfigurationRecord.build({
        "profile": 0, "level": 31 if vp9 else 10, "bits": {"bitDepth": 8, "chromaSubsampling": 1,
                                                             "videoFullRangeFlag": 0},
        "colourPrimaries": 1, "transferCharacteristics": 1, "matrixCoefficients": 1,
        "codecInitializationData": b""})


def av1_mpeg2ts_descriptor() -> bytes:
    return AV1VideoDescriptor.build({"fields": {
        "seq_profile": 0, "seq_level_idx_0": 8, "seq_tier_0": 0, "high_bitdepth": 0, "twelve_bit": 0,
        "monochrome": 0, "chroma_subsampling_x": 1, "chroma_subsampling_y": 1, "chroma_sample_position": 0,
        "hdr_wcg_idc": 0, "initial_presentation_delay_present": 0}})


def flac_streaminfo() -> bytes:
    """'fLaC' then STREAMINFO as the last metadata block (the fLaC SequenceStart: STREAMINFO MUST come first)."""
    return FlacStreamInfoBlock.build({"header": {"last_metadata_block": 1}, "streaminfo": {
        "min_block_size": 4096, "max_block_size": 4096, "min_frame_size": 14, "max_frame_size": 9000,
        "sample_rate": 48000, "channels_minus_1": 1, "bits_per_sample_minus_1": 15, "total_samples": 0,
        "md5": 0}})


# -- coded frames -----------------------------------------------------------------------------------------------

def av1_temporal_unit(key: bool, size: int, seed: int) -> bytes:
    """A temporal delimiter OBU and one frame OBU (E-RTMP v2: the OBUs of one temporal unit)."""
    td = AV1Obu.build({"header": {"obu_type": OBU_TEMPORAL_DELIMITER}, "obu_payload": b""})
    frame = AV1Obu.build({"header": {"obu_type": OBU_FRAME}, "obu_payload": _rnd(seed, size)})
    return td + frame


def vp8_frame(key: bool, size: int, seed: int) -> bytes:
    if not key:
        return VP8FrameTag.build({"firstPartSizeLow": 0, "showFrame": 1, "version": 0, "keyFrame": 1,
                                  "firstPartSizeHigh": 8}) + _rnd(seed, size)
    head = VP8KeyFrameHeader.build({"frameTag": {"firstPartSizeLow": 0, "showFrame": 1, "version": 0, "keyFrame": 0,
                                                 "firstPartSizeHigh": 16}, "width": 320, "height": 240})
    return head + _rnd(seed, size)


def vp9_frame(key: bool, size: int, seed: int) -> bytes:
    head = VP9KeyFrameHeader.build({"profile_low_bit": 0, "profile_high_bit": 0, "show_existing_frame": 0,
                                    "frame_type": 0 if key else 1, "show_frame": 1, "error_resilient_mode": 0})
    return head + _rnd(seed, size)


def hevc_nal(key: bool, size: int, seed: int) -> bytes:
    """One length-prefixed HEVC NAL unit: an IDR_W_RADL (19) or TRAIL_R (1) slice, then data."""
    head = HevcNalHeader.build({"nal_unit_type": 19 if key else 1, "nuh_layer_id": 0, "nuh_temporal_id_plus1": 1})
    return LengthPrefixedNal.build(head + _rnd(seed, size))


def opus_packet(size: int, seed: int) -> bytes:
    """An Opus packet: TOC (CELT fullband 20 ms, stereo, one frame) + data."""
    return OpusToc.build({"config": 31, "s": 1, "c": 0}) + _rnd(seed, size)


def flac_frame(n: int, size: int, seed: int) -> bytes:
    return FlacFrameHeader.build({"blocking_strategy": 0, "block_size": 12, "sample_rate": 10,
                                  "channel_assignment": 1, "sample_size": 4, "frame_number": n & 0x7F}) \
        + _rnd(seed, size)


def ac3_frame(size: int, seed: int) -> bytes:
    return AC3SyncFrameHeader.build({"crc1": seed & 0xFFFF, "fscod": 0, "frmsizecod": 28, "bsmod": 0,
                                     "acmod": 2, "bsi_rest": 0}) + _rnd(seed, size)


def eac3_frame(size: int, seed: int) -> bytes:
    return EAC3SyncFrameHeader.build({"strmtyp": 0, "substreamid": 0, "frmsiz": 383, "fscod": 0, "numblkscod": 3,
                                      "acmod": 7, "lfeon": 1, "dialnorm": 27, "bsi_rest": 0}) + _rnd(seed, size)


def mp3_frame(size: int, seed: int) -> bytes:
    return MP3FrameHeader.build({"version": 3, "layer": 1, "protection_absent": 1, "bitrate_index": 9,
                                 "sampling_frequency": 0, "padding": 0, "private": 0, "mode": 1,
                                 "mode_extension": 0, "copyright": 0, "original": 1, "emphasis": 0}) \
        + _rnd(seed, size)
