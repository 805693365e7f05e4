"""Audio and video tag headers: legacy FLV (Annex E.4.2.1, E.4.3.1) and Enhanced RTMP v1/v2.

An RTMP audio (type 8) or video (type 9) message payload is exactly the data of an FLV audio or video tag, so
these schemas serve both. Enhanced RTMP (E-RTMP, veovera/enhanced-rtmp) reuses reserved values of the legacy
header: SoundFormat 9 switches audio into FourCC mode, and the top bit of the first video byte (isExVideoHeader)
switches video into FourCC mode, where the low nibble becomes a packet type. v2 adds multitrack, multichannel
configuration and the ModEx (modifier extension) packet type.

Schema shape: the first byte is a BitStruct ``header``; legacy fields follow at top level; the E-RTMP part is
``ex``, with an optional ``modEx`` list (each entry's ``next`` byte carries the following packet type), an
optional ``videoCommand`` and the ``packet`` (FourCC + data, CodedFrames with compositionTimeOffset, a
MultichannelConfig, or a Multitrack with ``tracks``). FourCCs are ``Bytes(4)`` (b"av01"). ``parse_*`` return
flat frozen dataclasses; ``describe_*`` return the dicts the dissector prints.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Any

import construct
from construct import (
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    GreedyBytes,
    GreedyRange,
    If,
    IfThenElse,
    Int8ub,
    Int16ub,
    Int24sb,
    Int24ub,
    Int32ub,
    Prefixed,
    RepeatUntil,
    Struct,
    Switch,
    obj_,
    this,
)

from . import amf0
from .errors import DecodeError
from .jsonable import to_jsonable
from .message_format import MessageType
from .registry import register_schema

SEC_AUDIO = "FLV E.4.2.1"
SEC_VIDEO = "FLV E.4.3.1"
SEC_EX_AUDIO = "E-RTMP v2 Enhanced Audio"
SEC_EX_VIDEO = "E-RTMP v2 Enhanced Video"

AUDIO, VIDEO = MessageType.AUDIO, MessageType.VIDEO  # RTMP message type ids == FLV TagType


# --- enumerations (names as in the E-RTMP v2 enums; legacy values from FLV E.4.2.1 / E.4.3.1) -----------------
# SoundFormat 9 (legacy: reserved) = ExHeader, E-RTMP FourCC mode; 12, 13 reserved; 15 = device-specific sound
SoundFormat = IntEnum("SoundFormat", {
    "LPcmPlatformEndian": 0, "AdPcm": 1, "Mp3": 2, "LPcmLittleEndian": 3, "Nellymoser16KMono": 4,
    "Nellymoser8KMono": 5, "Nellymoser": 6, "G711ALaw": 7, "G711MuLaw": 8, "ExHeader": 9, "Aac": 10, "Speex": 11,
    "Mp3_8K": 14, "Native": 15})
AudioPacketType = IntEnum("AudioPacketType", {"SequenceStart": 0, "CodedFrames": 1, "SequenceEnd": 2,
                                                "MultichannelConfig": 4, "Multitrack": 5, "ModEx": 7})
# DisposableInterFrame: H.263 only; GeneratedKeyFrame: reserved for server use; Command: video info/command frame
VideoFrameType = IntEnum("VideoFrameType", {"KeyFrame": 1, "InterFrame": 2, "DisposableInterFrame": 3,
                                            "GeneratedKeyFrame": 4, "Command": 5})
# CodecID 12 = HEVC is in no spec: the legacy HEVC id of OBS forks / Chinese CDNs (see MediaMTX issue 1621)
VideoCodecId = IntEnum("VideoCodecId", {"SorensonH263": 2, "Screen": 3, "On2VP6": 4, "On2VP6A": 5, "ScreenV2": 6,
                                        "Avc": 7, "Hevc": 12})
# CodedFramesX: CodedFrames with compositionTimeOffset implied 0; Metadata: AMF [name, value] pairs (colorInfo)
VideoPacketType = IntEnum("VideoPacketType", {"SequenceStart": 0, "CodedFrames": 1, "SequenceEnd": 2,
                                              "CodedFramesX": 3, "Metadata": 4, "MPEG2TSSequenceStart": 5,
                                              "Multitrack": 6, "ModEx": 7})
VideoCommand = IntEnum("VideoCommand", {"StartSeek": 0, "EndSeek": 1})
AvMultitrackType = IntEnum("AvMultitrackType", {"OneTrack": 0, "ManyTracks": 1, "ManyTracksManyCodecs": 2})
# TimestampOffsetNano: modExData holds a UI24 of nanoseconds (0..999999) added to the message timestamp
PacketModExType = IntEnum("PacketModExType", {"TimestampOffsetNano": 0})
AudioChannelOrder = IntEnum("AudioChannelOrder", {"Unspecified": 0, "Native": 1, "Custom": 2})
# AudioChannel: speaker of each channel (AudioChannelOrder.Custom mapping); 0..23, then Unused, Unknown
_CHANNELS = ("FrontLeft FrontRight FrontCenter LowFrequency1 BackLeft BackRight FrontLeftCenter FrontRightCenter "
             "BackCenter SideLeft SideRight TopCenter TopFrontLeft TopFrontCenter TopFrontRight TopBackLeft "
             "TopBackCenter TopBackRight LowFrequency2 TopSideLeft TopSideRight BottomFrontCenter BottomFrontLeft "
             "BottomFrontRight").split()
AudioChannel = IntEnum("AudioChannel", {**{n: i for i, n in enumerate(_CHANNELS)}, "Unused": 0xFE, "Unknown": 0xFF})
# AudioChannelMask: bit n <=> AudioChannel n (n = 0..23), e.g. FrontCenter = 0x000004
AudioChannelMask = IntFlag("AudioChannelMask", {c.name: 1 << c.value for c in AudioChannel if c.value < 24})
FourCcInfoMask = IntFlag("FourCcInfoMask", {"CanDecode": 0x01, "CanEncode": 0x02, "CanForward": 0x04})
CapsExMask = IntFlag("CapsExMask", {"Reconnect": 0x01, "Multitrack": 0x02, "ModEx": 0x04,
                                    "TimestampNanoOffset": 0x08})
# flags of the connect videoFunction property (E-RTMP Metadata Frame section)
VideoFunction = IntFlag("VideoFunction", {"SUPPORT_VID_CLIENT_SEEK": 1, "SUPPORT_VID_CLIENT_HDR": 2,
                                          "SUPPORT_VID_CLIENT_VIDEO_PACKET_TYPE_METADATA": 4,
                                          "SUPPORT_VID_CLIENT_LARGE_SCALE_TILE": 8})


VIDEO_FOURCC = {"avc1": "AVC", "hvc1": "HEVC", "av01": "AV1", "vp09": "VP9", "vp08": "VP8", "vvc1": "VVC"}
AUDIO_FOURCC = {"Opus": "Opus", "fLaC": "FLAC", "ac-3": "AC-3", "ec-3": "E-AC-3", "mp4a": "AAC", ".mp3": "MP3"}
SOUND_RATE_HZ = (5512, 11025, 22050, 44100)
LEGACY_AVC_PACKET_TYPE = {0: "SequenceHeader", 1: "NALU", 2: "EndOfSequence"}

# --- schemas --------------------------------------------------------------------------------------------------
FourCC = Bytes(4)  # FOURCC: four ASCII characters, a big-endian UI32 on the wire (E-RTMP Simple Data Types)
_AVC1, _HVC1 = b"avc1", b"hvc1"


def _mod_ex(kind: str) -> Struct:
    """One ModEx entry (E-RTMP v2 ExAudioTagHeader / ExVideoTagHeader, packet type 7)."""
    return Struct(
        "modExDataSizeMinus1" / Int8ub,  # modExDataSize = UI8 + 1 ...
        "modExDataSizeMinus1Ext" / If(this.modExDataSizeMinus1 == 255, Int16ub),  # ... if 256: UI16 + 1
        "modExData" / IfThenElse(this.modExDataSizeMinus1 == 255, Bytes(this.modExDataSizeMinus1Ext + 1),
                                 Bytes(this.modExDataSizeMinus1 + 1)),
        "next" / BitStruct(f"{kind}PacketModExType" / BitsInteger(4), f"{kind}PacketType" / BitsInteger(4)),
    )


# Audio: FLV E.4.2.1 AudioTagHeader / E-RTMP v2 ExAudioTagHeader
AudioTagHeaderByte = BitStruct(
    "SoundFormat" / BitsInteger(4),  # FLV E.4.2.1 (9 = ExHeader, E-RTMP)
    "SoundRate" / If(this.SoundFormat != 9, BitsInteger(2)),  # FLV E.4.2.1
    "SoundSize" / If(this.SoundFormat != 9, BitsInteger(1)),  # FLV E.4.2.1
    "SoundType" / If(this.SoundFormat != 9, BitsInteger(1)),  # FLV E.4.2.1
    "audioPacketType" / If(this.SoundFormat == 9, BitsInteger(4)),  # E-RTMP v2 ExAudioTagHeader
)
MultichannelConfig = Struct(  # E-RTMP v2 ExAudioTagBody, AudioPacketType.MultichannelConfig
    "audioChannelOrder" / Int8ub,
    "channelCount" / Int8ub,
    "audioChannelMapping" / If(this.audioChannelOrder == 2, Array(this.channelCount, Int8ub)),  # Custom
    "audioChannelFlags" / If(this.audioChannelOrder == 1, Int32ub),  # Native: AudioChannelMask bits
)
AudioTrackBody = Struct(
    "multichannelConfig" / If(this._._.mt.audioPacketType == 4, MultichannelConfig),
    "data" / GreedyBytes,
)
AudioTrack = Struct(  # E-RTMP v2 ExAudioTagBody, multitrack loop
    "audioFourCc" / If(this._.mt.audioMultitrackType == 2, FourCC),  # ManyTracksManyCodecs: per track
    "audioTrackId" / Int8ub,
    "body" / IfThenElse(this._.mt.audioMultitrackType == 0, AudioTrackBody,
                        Prefixed(Int24ub, AudioTrackBody)),  # sizeOfAudioTrack UI24 unless OneTrack
)
AudioMultitrack = Struct(  # AudioPacketType.Multitrack
    "mt" / BitStruct("audioMultitrackType" / BitsInteger(4), "audioPacketType" / BitsInteger(4)),
    "audioFourCc" / If(this.mt.audioMultitrackType != 2, FourCC),
    "tracks" / IfThenElse(this.mt.audioMultitrackType == 0, Array(1, AudioTrack), GreedyRange(AudioTrack)),
)
AudioSingle = Struct("audioFourCc" / FourCC, "data" / GreedyBytes)
AUDIO_PACKETS = {
    4: Struct("audioFourCc" / FourCC, "multichannelConfig" / MultichannelConfig, "data" / GreedyBytes),
    5: AudioMultitrack,
}
AudioModEx = _mod_ex("audio")
ExAudioPlain = Struct("packet" / Switch(this._.header.audioPacketType, AUDIO_PACKETS, default=AudioSingle))
ExAudioModEx = Struct(
    "modEx" / RepeatUntil(obj_.next.audioPacketType != 7, AudioModEx),
    "packet" / Switch(this.modEx[-1].next.audioPacketType, AUDIO_PACKETS, default=AudioSingle),
)
AUDIODATA = Struct(
    "header" / AudioTagHeaderByte,
    "AACPacketType" / If(this.header.SoundFormat == 10, Int8ub),  # FLV E.4.2.1: 0 seq header, 1 raw
    "ex" / If(this.header.SoundFormat == 9,
              Switch(this.header.audioPacketType, {7: ExAudioModEx}, default=ExAudioPlain)),
    "data" / If(this.header.SoundFormat != 9, GreedyBytes),  # FLV E.4.2.2 SoundData
)

# Video: FLV E.4.3.1 VideoTagHeader / E-RTMP v2 ExVideoTagHeader
VideoTagHeaderByte = BitStruct(
    "isExVideoHeader" / BitsInteger(1),  # E-RTMP; legacy FrameType UB[4] = this bit (0) + the next three
    "FrameType" / BitsInteger(3),  # FLV E.4.3.1 / E-RTMP videoFrameType
    "CodecID" / If(this.isExVideoHeader == 0, BitsInteger(4)),  # FLV E.4.3.1
    "videoPacketType" / If(this.isExVideoHeader == 1, BitsInteger(4)),  # E-RTMP v2 ExVideoTagHeader
)
_IS_AVC_FOURCC = (this.videoFourCc == _AVC1) | (this.videoFourCc == _HVC1)
VideoTrackBody = Struct(
    "compositionTimeOffset" / If((this._._.mt.videoPacketType == 1) & (
        (this._.videoFourCc == _AVC1) | (this._.videoFourCc == _HVC1)
        | (this._._.videoFourCc == _AVC1) | (this._._.videoFourCc == _HVC1)), Int24sb),
    "data" / GreedyBytes,
)
VideoTrack = Struct(  # E-RTMP v2 ExVideoTagBody, multitrack loop
    "videoFourCc" / If(this._.mt.videoMultitrackType == 2, FourCC),  # ManyTracksManyCodecs: per track
    "videoTrackId" / Int8ub,
    "body" / IfThenElse(this._.mt.videoMultitrackType == 0, VideoTrackBody,
                        Prefixed(Int24ub, VideoTrackBody)),  # sizeOfVideoTrack UI24 unless OneTrack
)
VideoMultitrack = Struct(  # VideoPacketType.Multitrack
    "mt" / BitStruct("videoMultitrackType" / BitsInteger(4), "videoPacketType" / BitsInteger(4)),
    "videoFourCc" / If(this.mt.videoMultitrackType != 2, FourCC),
    "tracks" / IfThenElse(this.mt.videoMultitrackType == 0, Array(1, VideoTrack), GreedyRange(VideoTrack)),
)
VideoSingle = Struct("videoFourCc" / FourCC, "data" / GreedyBytes)
VIDEO_PACKETS = {
    1: Struct("videoFourCc" / FourCC,  # CodedFrames: SI24 composition time for avc1/hvc1 only
              "compositionTimeOffset" / If(_IS_AVC_FOURCC, Int24sb), "data" / GreedyBytes),
    6: VideoMultitrack,
}
VideoModEx = _mod_ex("video")
# a command frame (FrameType 5) that is not Metadata carries only a UI8 videoCommand: no FourCC, no body
_CMD_PLAIN = (this._.header.FrameType == 5) & (this._.header.videoPacketType != 4)
_CMD_MODEX = (this._.header.FrameType == 5) & (this.modEx[-1].next.videoPacketType != 4)
ExVideoPlain = Struct(
    "videoCommand" / If(_CMD_PLAIN, Int8ub),
    "packet" / If(~_CMD_PLAIN, Switch(this._.header.videoPacketType, VIDEO_PACKETS, default=VideoSingle)),
)
ExVideoModEx = Struct(
    "modEx" / RepeatUntil(obj_.next.videoPacketType != 7, VideoModEx),
    "videoCommand" / If(_CMD_MODEX, Int8ub),
    "packet" / If(~_CMD_MODEX, Switch(this.modEx[-1].next.videoPacketType, VIDEO_PACKETS, default=VideoSingle)),
)
_LEGACY = this.header.isExVideoHeader == 0
_LEGACY_AVC = _LEGACY & ((this.header.CodecID == 7) | (this.header.CodecID == 12))
VIDEODATA = Struct(
    "header" / VideoTagHeaderByte,
    "AVCPacketType" / If(_LEGACY_AVC, Int8ub),  # FLV E.4.3.1, IF CodecID == 7 (and 12, HEVC)
    "CompositionTime" / If(_LEGACY_AVC, Int24sb),  # FLV E.4.3.1 SI24
    "VideoCommand" / If(_LEGACY & (this.header.FrameType == 5), Int8ub),  # FLV E.4.3.1 VIDEODATA, FrameType 5
    "ex" / If(this.header.isExVideoHeader == 1,
              Switch(this.header.videoPacketType, {7: ExVideoModEx}, default=ExVideoPlain)),
    "data" / If(_LEGACY, GreedyBytes),  # FLV E.4.3.1 VideoTagBody
)

register_schema("media.audio_tag", AUDIODATA, f"{SEC_AUDIO}; {SEC_EX_AUDIO}")
register_schema("media.video_tag", VIDEODATA, f"{SEC_VIDEO}; {SEC_EX_VIDEO}")


# --- decoded values -------------------------------------------------------------------------------------------
def fourcc_str(value: bytes | int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        value = value.to_bytes(4, "big")
    return bytes(value).decode("latin-1")


def make_fourcc(text: str) -> int:
    """A FourCC as the UI32 used in onMetaData audiocodecid/videocodecid ('Opus' == 0x4F707573)."""
    return int.from_bytes(text.encode("latin-1"), "big")


@dataclass(frozen=True)
class ModEx:
    mod_ex_type: int
    data: bytes

    @property
    def timestamp_offset_nano(self) -> int | None:
        if self.mod_ex_type == PacketModExType.TimestampOffsetNano and len(self.data) >= 3:
            return int.from_bytes(self.data[:3], "big")
        return None

    def __json__(self) -> dict:
        out = {"type": self.mod_ex_type, "data": {"$bytes": self.data.hex()}}
        if self.timestamp_offset_nano is not None:
            out["timestampOffsetNano"] = self.timestamp_offset_nano
        return out


@dataclass(frozen=True)
class Track:
    """One E-RTMP track (a non-multitrack message has one, with ``track_id`` None)."""

    track_id: int | None
    fourcc: str | None
    packet_type: int
    composition_time: int | None
    body: bytes
    multichannel_config: Any = None


@dataclass(frozen=True)
class MediaTag:
    kind: str  # "audio" | "video"
    enhanced: bool
    packet_type: int | None  # E-RTMP effective packet type (after ModEx)
    fourcc: str | None  # E-RTMP FourCC (of the first track when ManyTracksManyCodecs)
    multitrack_type: int | None
    mod_ex: tuple[ModEx, ...]
    tracks: tuple[Track, ...]
    body: bytes  # legacy: the data after the header; E-RTMP: the only track's data (b"" if several)
    fields: Any = field(repr=False, compare=False)  # the schema Container

    def __json__(self) -> dict:
        return self.describe()


@dataclass(frozen=True)
class AudioTag(MediaTag):
    sound_format: int = 0
    sound_rate: int | None = None
    sound_size: int | None = None
    sound_type: int | None = None
    aac_packet_type: int | None = None

    @property
    def is_sequence_header(self) -> bool:
        if not self.enhanced:
            return self.sound_format == SoundFormat.Aac and self.aac_packet_type == 0
        return any(t.packet_type in (AudioPacketType.SequenceStart, AudioPacketType.MultichannelConfig)
                   for t in self.tracks)

    def describe(self) -> dict:
        d: dict[str, Any] = {"format": "enhanced" if self.enhanced else "legacy", "sound_format": self.sound_format,
                             "sound_format_name": _name(SoundFormat, self.sound_format)}
        if not self.enhanced:
            d.update(codec=d["sound_format_name"], sound_rate=self.sound_rate,
                     sound_rate_hz=SOUND_RATE_HZ[self.sound_rate], sound_size_bits=8 << self.sound_size,
                     sound_type="stereo" if self.sound_type else "mono")
            if self.aac_packet_type is not None:
                d["aac_packet_type"] = self.aac_packet_type
        else:
            _describe_ex(d, self, AudioPacketType, AUDIO_FOURCC)
        d.update(is_sequence_header=self.is_sequence_header, body_length=len(self.body))
        return d


@dataclass(frozen=True)
class VideoTag(MediaTag):
    frame_type: int = 0
    codec_id: int | None = None
    avc_packet_type: int | None = None
    composition_time: int | None = None
    command: int | None = None

    @property
    def is_keyframe(self) -> bool:
        """A key frame carrying coded video (sequence headers, metadata and commands are not)."""
        if self.frame_type != VideoFrameType.KeyFrame:
            return False
        if not self.enhanced:
            return self.avc_packet_type is None or self.avc_packet_type == 1
        return any(t.packet_type in (VideoPacketType.CodedFrames, VideoPacketType.CodedFramesX)
                   for t in self.tracks)

    @property
    def is_sequence_header(self) -> bool:
        if not self.enhanced:
            return self.avc_packet_type == 0
        return any(t.packet_type in (VideoPacketType.SequenceStart, VideoPacketType.MPEG2TSSequenceStart)
                   for t in self.tracks)

    def describe(self) -> dict:
        d: dict[str, Any] = {"format": "enhanced" if self.enhanced else "legacy", "frame_type": self.frame_type,
                             "frame_type_name": _name(VideoFrameType, self.frame_type)}
        if not self.enhanced:
            d.update(codec_id=self.codec_id, codec=_name(VideoCodecId, self.codec_id))
            if self.avc_packet_type is not None:
                d.update(avc_packet_type=self.avc_packet_type,
                         avc_packet_type_name=LEGACY_AVC_PACKET_TYPE.get(self.avc_packet_type),
                         composition_time=self.composition_time)
        else:
            _describe_ex(d, self, VideoPacketType, VIDEO_FOURCC)
            if self.packet_type == VideoPacketType.Metadata and self.tracks:
                _decode_metadata(d, self.tracks[0].body)
        if self.command is not None:
            d.update(command=self.command, command_name=_name(VideoCommand, self.command))
        d.update(is_keyframe=self.is_keyframe, is_sequence_header=self.is_sequence_header,
                 body_length=len(self.body))
        return d


def _name(enum: type[IntEnum], value: int | None) -> str | None:
    try:
        return enum(value).name
    except ValueError:
        return None


def _describe_ex(d: dict, tag: MediaTag, ptypes: type[IntEnum], known: dict[str, str]) -> None:
    d.update(packet_type=tag.packet_type, packet_type_name=_name(ptypes, tag.packet_type), fourcc=tag.fourcc,
             codec=known.get(tag.fourcc or ""))
    if tag.mod_ex:
        d["mod_ex"] = [m.__json__() for m in tag.mod_ex]
    if tag.multitrack_type is not None:
        d.update(multitrack_type=tag.multitrack_type, multitrack_type_name=_name(AvMultitrackType,
                                                                                 tag.multitrack_type))
        d["tracks"] = [{"track_id": t.track_id, "fourcc": t.fourcc, "codec": known.get(t.fourcc or ""),
                        "packet_type": t.packet_type, "packet_type_name": _name(ptypes, t.packet_type),
                        "composition_time": t.composition_time, "body_length": len(t.body),
                        **({"multichannel_config": _describe_config(t.multichannel_config)}
                           if t.multichannel_config is not None else {})} for t in tag.tracks]
    elif tag.tracks:
        d["composition_time"] = tag.tracks[0].composition_time
    if len(tag.tracks) == 1 and tag.tracks[0].multichannel_config is not None:
        d["multichannel_config"] = _describe_config(tag.tracks[0].multichannel_config)


def _describe_config(c: Any) -> dict:
    return {"audio_channel_order": _name(AudioChannelOrder, c.audioChannelOrder) or c.audioChannelOrder,
            "channel_count": c.channelCount,
            "channels": None if c.audioChannelMapping is None
            else [_name(AudioChannel, x) or x for x in c.audioChannelMapping],
            "channel_flags": c.audioChannelFlags,
            "channel_mask": None if c.audioChannelFlags is None else describe_flags(AudioChannelMask, c.audioChannelFlags)}


def _decode_metadata(d: dict, body: bytes) -> None:
    """VideoPacketType.Metadata: AMF-encoded [name, value] pairs."""
    try:
        d["metadata"] = to_jsonable(amf0.decode_all(body))
    except Exception as exc:  # report, the header itself decoded
        d["metadata_error"] = str(exc)


# --- parsing --------------------------------------------------------------------------------------------------
def _parse(schema: construct.Construct, payload: bytes, what: str, section: str) -> Any:
    stream = io.BytesIO(payload)
    try:
        value = schema.parse_stream(stream)
    except construct.ConstructError as exc:
        path = (exc.path or "").replace("(parsing)", "").replace(" -> ", ".").strip(".") or None
        msg = str(exc).splitlines()[-1]
        raise DecodeError(f"{what} does not decode: {msg}", offset=stream.tell(), field=path, section=section,
                          data=payload) from exc
    if stream.tell() != len(payload):
        raise DecodeError(f"{what}: {len(payload) - stream.tell()} bytes left over (a track is cut short)",
                          offset=stream.tell(), section=section, data=payload)
    return value


def _ex_parts(ex: Any, kind: str, known: Mapping[str, str], strict: bool, section: str):
    """Flatten the E-RTMP part of a parsed tag: (packet type, fourcc, multitrack type, mod_ex, tracks)."""
    pkey, fkey = f"{kind}PacketType", f"{kind}FourCc"
    mod_ex = tuple(ModEx(m.next[f"{kind}PacketModExType"], m.modExData) for m in ex.get("modEx") or ())
    packet = ex.get("packet")
    if packet is None:  # video command frame
        return None, None, None, mod_ex, ()
    ptype = ex.modEx[-1].next[pkey] if ex.get("modEx") else None
    mt = packet.get("mt")
    if mt is None:
        fourcc = fourcc_str(packet[fkey])
        tracks = (Track(None, fourcc, -1, packet.get("compositionTimeOffset"), packet.data,
                        packet.get("multichannelConfig")),)
        mtype = None
    else:
        mtype, shared = mt[f"{kind}MultitrackType"], fourcc_str(packet.get(fkey))
        inner = mt[pkey]
        if strict and (inner in ({"audio": 5, "video": 6}[kind], 7) or mtype > 2):
            raise DecodeError(f"invalid multitrack header (type {mtype}, packet type {inner})", section=section)
        tracks = tuple(Track(t[f"{kind}TrackId"], fourcc_str(t.get(fkey)) or shared, inner,
                             t.body.get("compositionTimeOffset"), t.body.data, t.body.get("multichannelConfig"))
                       for t in packet.tracks)
        fourcc = tracks[0].fourcc if tracks else shared
    if strict:
        for t in tracks:
            if t.fourcc not in known:
                raise DecodeError(f"unrecognized {kind} FourCC {t.fourcc!r}", field=fkey, section=section)
    return ptype, fourcc, mtype, mod_ex, tracks


def parse_audio_tag(payload: bytes, *, strict: bool = False) -> AudioTag:
    """Decode an audio message / FLV audio tag. ``strict``: also reject unknown FourCCs and reserved values."""
    payload = bytes(payload)
    c = _parse(AUDIODATA, payload, "audio tag", SEC_AUDIO if payload[:1] and payload[0] >> 4 != 9
               else SEC_EX_AUDIO)
    h = c.header
    if h.SoundFormat != 9:
        if strict and h.SoundFormat in (12, 13):
            raise DecodeError(f"reserved SoundFormat {h.SoundFormat}", offset=0, field="SoundFormat",
                              section=SEC_AUDIO)
        return AudioTag("audio", False, None, None, None, (), (), c.data, c, h.SoundFormat, h.SoundRate,
                        h.SoundSize, h.SoundType, c.AACPacketType)
    ptype, fourcc, mtype, mod_ex, tracks = _ex_parts(c.ex, "audio", AUDIO_FOURCC, strict, SEC_EX_AUDIO)
    ptype = h.audioPacketType if ptype is None else ptype
    if strict and ptype not in (0, 1, 2, 4, 5):
        raise DecodeError(f"reserved AudioPacketType {ptype}", field="audioPacketType", section=SEC_EX_AUDIO)
    if mtype is None:
        tracks = tuple(Track(t.track_id, t.fourcc, ptype, None, t.body, t.multichannel_config) for t in tracks)
    body = tracks[0].body if len(tracks) == 1 else b""
    return AudioTag("audio", True, ptype, fourcc, mtype, mod_ex, tracks, body, c, 9)


def parse_video_tag(payload: bytes, *, strict: bool = False) -> VideoTag:
    """Decode a video message / FLV video tag. ``strict``: also reject unknown FourCCs and reserved values."""
    payload = bytes(payload)
    c = _parse(VIDEODATA, payload, "video tag", SEC_VIDEO if payload[:1] and payload[0] < 0x80 else SEC_EX_VIDEO)
    h = c.header
    if not h.isExVideoHeader:
        if strict and (h.FrameType not in range(1, 6) or h.CodecID not in range(2, 8) and h.CodecID != 12):
            raise DecodeError(f"reserved FrameType {h.FrameType} / CodecID {h.CodecID}", offset=0,
                              field="header", section=SEC_VIDEO)
        return VideoTag("video", False, None, None, None, (), (), c.data, c, h.FrameType, h.CodecID,
                        c.AVCPacketType, c.CompositionTime, c.VideoCommand)
    ptype, fourcc, mtype, mod_ex, tracks = _ex_parts(c.ex, "video", VIDEO_FOURCC, strict, SEC_EX_VIDEO)
    ptype = h.videoPacketType if ptype is None else ptype
    if strict and (ptype > 7 or h.FrameType == 0 or h.FrameType > 5):
        raise DecodeError(f"reserved VideoPacketType {ptype} / FrameType {h.FrameType}", offset=0,
                          field="header", section=SEC_EX_VIDEO)
    if mtype is None:
        tracks = tuple(Track(t.track_id, t.fourcc, ptype, t.composition_time, t.body) for t in tracks)
    body = tracks[0].body if len(tracks) == 1 else b""
    return VideoTag("video", True, ptype, fourcc, mtype, mod_ex, tracks, body, c, h.FrameType,
                    command=c.ex.get("videoCommand"))


def describe_audio(payload: bytes) -> dict:
    """The dissector's view of an audio payload (an empty payload is the legacy 'audio silence' message)."""
    if len(payload) == 0:
        return {"format": "silence", "is_sequence_header": False, "body_length": 0}
    return parse_audio_tag(payload).describe()


def describe_video(payload: bytes) -> dict:
    return parse_video_tag(payload).describe()


def is_keyframe(video_payload: bytes) -> bool:
    """True for a video payload with a key frame of coded video; False otherwise (also when it does not decode)."""
    try:
        return parse_video_tag(video_payload).is_keyframe
    except DecodeError:
        return False


def is_sequence_header(type_id: int, payload: bytes) -> bool:
    """AVC/HEVC/AAC sequence headers and E-RTMP SequenceStart / MPEG2TSSequenceStart / MultichannelConfig
    (any track of a multitrack message): what a relay caches and replays to new players."""
    try:
        if type_id == AUDIO:
            return len(payload) > 0 and parse_audio_tag(payload).is_sequence_header
        if type_id == VIDEO:
            return parse_video_tag(payload).is_sequence_header
    except DecodeError:
        return False
    return False


# --- connect command properties (E-RTMP v2 "Enhancing NetConnection connect Command") --------------------------
def connect_properties(video: Mapping[str, int] | None = None, audio: Mapping[str, int] | None = None,
                       caps_ex: int = CapsExMask.Reconnect | CapsExMask.Multitrack | CapsExMask.ModEx) -> dict:
    """Properties for a connect Command Object or _result Properties: fourCcList, videoFourCcInfoMap,
    audioFourCcInfoMap (FourCC -> FourCcInfoMask, '*' = any codec) and capsEx; numbers as floats (AMF0)."""
    if video is None:
        video = {f: FourCcInfoMask.CanForward for f in VIDEO_FOURCC}
    if audio is None:
        audio = {f: FourCcInfoMask.CanForward for f in AUDIO_FOURCC}
    return {"fourCcList": list(video) + list(audio),
            "videoFourCcInfoMap": {k: float(int(v)) for k, v in video.items()},
            "audioFourCcInfoMap": {k: float(int(v)) for k, v in audio.items()},
            "capsEx": float(int(caps_ex))}


@dataclass(frozen=True)
class ErtmpCaps:
    """The E-RTMP capabilities a peer declared in connect (or _result)."""

    fourcc_list: tuple[str, ...] = ()
    video: Mapping[str, int] = field(default_factory=dict)
    audio: Mapping[str, int] = field(default_factory=dict)
    caps_ex: int = 0

    @property
    def enhanced(self) -> bool:
        return bool(self.fourcc_list or self.video or self.audio or self.caps_ex)

    def supports(self, fourcc: str, mask: int = FourCcInfoMask.CanForward) -> bool:
        """Whether the peer declared ``mask`` for ``fourcc``; a '*' key overrides per-codec flags. A codec only
        in the older fourCcList counts as supported for any mask."""
        for m in (self.video, self.audio):
            if "*" in m:
                if m["*"] & mask:
                    return True
            elif fourcc in m and m[fourcc] & mask:
                return True
        return fourcc in self.fourcc_list or "*" in self.fourcc_list

    def __json__(self) -> dict:
        return {"fourCcList": list(self.fourcc_list),
                "videoFourCcInfoMap": {k: describe_flags(FourCcInfoMask, v) for k, v in self.video.items()},
                "audioFourCcInfoMap": {k: describe_flags(FourCcInfoMask, v) for k, v in self.audio.items()},
                "capsEx": describe_flags(CapsExMask, self.caps_ex)}


def describe_flags(flags: type[IntFlag], value: int) -> list[str | int]:
    """Names of the set bits (unknown bits as their integer value)."""
    out: list[str | int] = [m.name for m in flags if value & m.value]
    rest = value & ~sum(m.value for m in flags)
    return out + ([rest] if rest else [])


def parse_connect_caps(obj: Mapping[str, Any]) -> ErtmpCaps:
    """Read fourCcList / videoFourCcInfoMap / audioFourCcInfoMap / capsEx from a connect Command Object."""
    def _map(v: Any) -> dict[str, int]:
        if not isinstance(v, Mapping):
            return {}
        return {str(k): int(x) for k, x in v.items() if isinstance(x, (int, float)) and x == x}

    raw = obj.get("fourCcList")
    fl = tuple(str(x) for x in (raw.values() if isinstance(raw, Mapping) else raw or ()) if isinstance(x, str))
    caps = obj.get("capsEx")
    return ErtmpCaps(fl, _map(obj.get("videoFourCcInfoMap")), _map(obj.get("audioFourCcInfoMap")),
                     int(caps) if isinstance(caps, (int, float)) and caps == caps else 0)
