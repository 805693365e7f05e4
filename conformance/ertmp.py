"""Enhanced RTMP v2 audio and video messages for the cases, built with :data:`rtmpspec.media.VIDEODATA` /
:data:`rtmpspec.media.AUDIODATA`: every FourCC and packet type, ModEx in both size forms, the three multitrack
types, and the malformed forms the robustness cases need (nested multitrack, unknown FourCC, reserved types).

Streams are lists of :class:`conformance.payloads.Item` (type, timestamp, payload, label).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from rtmpspec import amf0, media
from rtmpspec.amf0_values import UNDEFINED

from . import codecs
from .payloads import AUDIO, VIDEO, Item, aac_config, av1c, avc_nalu, avcc, hvcc, opus_head

VIDEO_FOURCCS = (b"avc1", b"hvc1", b"av01", b"vp08", b"vp09")
AUDIO_FOURCCS = (b"Opus", b"fLaC", b"ac-3", b"ec-3", b".mp3", b"mp4a")
_CTS = (b"avc1", b"hvc1")  # FourCCs whose CodedFrames carry an SI24 composition time
KEY, INTER, COMMAND = 1, 2, 5
SEQ_START, CODED, SEQ_END, CODED_X, METADATA, MPEG2TS_SEQ_START, MULTITRACK, MODEX = range(8)
A_SEQ_START, A_CODED, A_SEQ_END, A_MULTICHANNEL, A_MULTITRACK, A_MODEX = 0, 1, 2, 4, 5, 7
NANO = media.PacketModExType.TimestampOffsetNano


def mod_ex_nano(nanoseconds: int, size: int = 3) -> tuple[int, bytes]:
    """A TimestampOffsetNano ModEx entry: a UI24 of nanoseconds first, padded to ``size`` bytes of data (a size
    above 256 takes the UI16 size form)."""
    data = nanoseconds.to_bytes(3, "big") + bytes(max(0, size - 3))
    return (int(NANO), data)


def _mod_ex_entries(entries: Sequence[tuple[int, bytes]], final: int, kind: str) -> list[dict]:
    out = []
    for i, (typ, data) in enumerate(entries):
        n = len(data)
        nxt = final if i == len(entries) - 1 else 7
        out.append({"modExDataSizeMinus1": n - 1 if n <= 255 else 255,
                    "modExDataSizeMinus1Ext": None if n <= 255 else n - 1, "modExData": data,
                    "next": {f"{kind}PacketModExType": typ, f"{kind}PacketType": nxt}})
    return out


# -- video ---------------------------------------------------------------------------------------------------------

def video(frame_type: int, packet_type: int, fourcc: bytes | None = None, body: bytes = b"", *,
          cts: int | None = None, mod_ex: Sequence[tuple[int, bytes]] = (), command: int | None = None,
          multitrack: dict | None = None) -> bytes:
    """One ExVideoTagHeader message. ``multitrack``: the ``packet`` of a Multitrack (see :func:`video_tracks`)."""
    if multitrack is not None:
        packet: dict | None = multitrack
    elif frame_type == COMMAND and packet_type != METADATA:
        packet = None  # a command frame: one UI8 VideoCommand, no FourCC, no body
    elif packet_type == CODED:
        packet = {"videoFourCc": fourcc, "compositionTimeOffset": (cts or 0) if fourcc in _CTS else None,
                  "data": body}
    else:
        packet = {"videoFourCc": fourcc, "data": body}
    head = {"isExVideoHeader": 1, "FrameType": frame_type, "CodecID": None,
            "videoPacketType": MODEX if mod_ex else packet_type}
    if mod_ex:
        ex = {"modEx": _mod_ex_entries(mod_ex, packet_type, "video"), "videoCommand": command, "packet": packet}
    else:
        ex = {"videoCommand": command, "packet": packet}
    return media.VIDEODATA.build({"header": head, "AVCPacketType": None, "CompositionTime": None,
                                  "VideoCommand": None, "ex": ex, "data": None})


def video_tracks(multitrack_type: int, inner: int, tracks: Sequence[tuple[int, bytes | None, bytes]],
                 fourcc: bytes | None = None, cts: int = 0) -> dict:
    """The packet of a video Multitrack: ``tracks`` = [(track id, FourCC or None, body)]; ``fourcc`` for all
    tracks unless ManyTracksManyCodecs (2)."""
    out = []
    for tid, fc, body in tracks:
        own = fc if multitrack_type == 2 else None
        with_cts = inner == CODED and ((own or fourcc) in _CTS)
        out.append({"videoFourCc": own, "videoTrackId": tid,
                    "body": {"compositionTimeOffset": cts if with_cts else None, "data": body}})
    return {"mt": {"videoMultitrackType": multitrack_type, "videoPacketType": inner},
            "videoFourCc": fourcc if multitrack_type != 2 else None, "tracks": out}


def color_info(reset: bool = False) -> bytes:
    """A Metadata body: AMF ['colorInfo', Object] (E-RTMP v2 Metadata Frame; Undefined resets it)."""
    value: Any = UNDEFINED if reset else {
        "colorConfig": {"bitDepth": 10.0, "colorPrimaries": 9.0, "transferCharacteristics": 16.0,
                        "matrixCoefficients": 9.0},
        "hdrCll": {"maxFall": 400.0, "maxCLL": 1000.0},
        "hdrMdcv": {"redX": 0.708, "redY": 0.292, "greenX": 0.17, "greenY": 0.797, "blueX": 0.131,
                    "blueY": 0.046, "whitePointX": 0.3127, "whitePointY": 0.329, "maxLuminance": 1000.0,
                    "minLuminance": 0.0001}}
    return amf0.encode_all(["colorInfo", value])


def video_config(fourcc: bytes) -> bytes:
    return {b"avc1": avcc, b"hvc1": hvcc, b"av01": av1c, b"vp08": lambda: codecs.vpcc(False),
            b"vp09": codecs.vpcc}[fourcc]()


def video_frame(fourcc: bytes, key: bool, size: int, seed: int) -> bytes:
    if fourcc == b"avc1":
        return avc_nalu(key, size, seed)
    if fourcc == b"hvc1":
        return codecs.hevc_nal(key, size, seed)
    if fourcc == b"av01":
        return codecs.av1_temporal_unit(key, size, seed)
    if fourcc == b"vp08":
        return codecs.vp8_frame(key, size, seed)
    return codecs.vp9_frame(key, size, seed)


def video_sequence(fourcc: bytes, n: int = 6, *, seed: int = 30, start: int = 0, end: bool = True,
                   ctss: Sequence[int] = (0, 80, -40, 40)) -> list[Item]:
    """SequenceStart, a key CodedFrames, inter CodedFrames (composition times ``ctss`` for avc1/hvc1, negative
    ones too), CodedFramesX, and SequenceEnd when ``end``."""
    rnd = random.Random(seed)
    f = fourcc.decode()
    items = [Item(VIDEO, start, video(KEY, SEQ_START, fourcc, video_config(fourcc)), f"{f}-seq-start")]
    for i in range(n):
        key = i == 0
        body = video_frame(fourcc, key, 2500 if key else 400 + rnd.randrange(400), seed * 100 + i)
        t = start + 40 * i
        if i % 3 == 2:
            items.append(Item(VIDEO, t, video(INTER, CODED_X, fourcc, body), f"{f}-coded-x"))
        else:
            items.append(Item(VIDEO, t, video(KEY if key else INTER, CODED, fourcc, body, cts=ctss[i % len(ctss)]),
                              f"{f}-{'key' if key else 'inter'}"))
    if end:
        items.append(Item(VIDEO, start + 40 * n, video(KEY, SEQ_END, fourcc), f"{f}-seq-end"))
    return items


# -- audio ---------------------------------------------------------------------------------------------------------

def audio(packet_type: int, fourcc: bytes | None = None, body: bytes = b"", *,
          mod_ex: Sequence[tuple[int, bytes]] = (), multichannel: dict | None = None,
          multitrack: dict | None = None) -> bytes:
    """One ExAudioTagHeader message (SoundFormat 9)."""
    if multitrack is not None:
        packet: dict = multitrack
    elif packet_type == A_MULTICHANNEL:
        packet = {"audioFourCc": fourcc, "multichannelConfig": multichannel, "data": body}
    else:
        packet = {"audioFourCc": fourcc, "data": body}
    head = {"SoundFormat": 9, "SoundRate": None, "SoundSize": None, "SoundType": None,
            "audioPacketType": A_MODEX if mod_ex else packet_type}
    ex = {"modEx": _mod_ex_entries(mod_ex, packet_type, "audio"), "packet": packet} if mod_ex else {"packet": packet}
    return media.AUDIODATA.build({"header": head, "AACPacketType": None, "ex": ex, "data": None})


def audio_tracks(multitrack_type: int, inner: int, tracks: Sequence[tuple[int, bytes | None, bytes]],
                 fourcc: bytes | None = None) -> dict:
    out = [{"audioFourCc": fc if multitrack_type == 2 else None, "audioTrackId": tid,
            "body": {"multichannelConfig": None, "data": body}} for tid, fc, body in tracks]
    return {"mt": {"audioMultitrackType": multitrack_type, "audioPacketType": inner},
            "audioFourCc": fourcc if multitrack_type != 2 else None, "tracks": out}


def multichannel(order: str = "native") -> dict:
    """MultichannelConfig: native 5.1 (mask 0x3F: FL FR FC LFE BL BR) or a custom 3-channel map."""
    if order == "native":
        mask = sum(int(getattr(media.AudioChannelMask, n)) for n in ("FrontLeft", "FrontRight", "FrontCenter",
                                                                      "LowFrequency1", "BackLeft", "BackRight"))
        return {"audioChannelOrder": 1, "channelCount": 6, "audioChannelMapping": None, "audioChannelFlags": mask}
    chans = [int(media.AudioChannel.FrontLeft), int(media.AudioChannel.FrontRight), int(media.AudioChannel.Unused)]
    return {"audioChannelOrder": 2, "channelCount": 3, "audioChannelMapping": chans, "audioChannelFlags": None}


def audio_config(fourcc: bytes) -> bytes | None:
    """The SequenceStart body E-RTMP v2 defines for ``fourcc`` (None: the codec has none, e.g. AC-3, MP3)."""
    return {b"mp4a": aac_config, b"fLaC": codecs.flac_streaminfo, b"Opus": opus_head}.get(fourcc, lambda: None)()


def audio_frame(fourcc: bytes, n: int, size: int, seed: int) -> bytes:
    if fourcc == b"Opus":
        return codecs.opus_packet(size, seed)
    if fourcc == b"fLaC":
        return codecs.flac_frame(n, size, seed)
    if fourcc == b"ac-3":
        return codecs.ac3_frame(size, seed)
    if fourcc == b"ec-3":
        return codecs.eac3_frame(size, seed)
    if fourcc == b".mp3":
        return codecs.mp3_frame(size, seed)
    return random.Random(seed).randbytes(size)  # raw AAC


def audio_sequence(fourcc: bytes, n: int = 8, *, seed: int = 50, start: int = 0, end: bool = True) -> list[Item]:
    """SequenceStart (where the codec has one), CodedFrames every 20 ms, SequenceEnd when ``end``."""
    rnd = random.Random(seed)
    f = fourcc.decode()
    items = []
    config = audio_config(fourcc)
    if config is not None:
        items.append(Item(AUDIO, start, audio(A_SEQ_START, fourcc, config), f"{f}-seq-start"))
    for i in range(n):
        body = audio_frame(fourcc, i, 150 + rnd.randrange(80), seed * 100 + i)
        items.append(Item(AUDIO, start + 20 * i, audio(A_CODED, fourcc, body), f"{f}-coded"))
    if end:
        items.append(Item(AUDIO, start + 20 * n, audio(A_SEQ_END, fourcc), f"{f}-seq-end"))
    return items
