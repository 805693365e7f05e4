"""Media for client mode: what publishing clients send and what the battery serves to playing clients.

``conformance/data/av.flv`` (55 KB, committed) is 2 s of H.264 (main profile, 2 B-frames, a keyframe every 25
frames, keyframes of 5.5 KB so that they span several chunks at chunk size 4096) and AAC (44.1 kHz mono), made by

    ffmpeg -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=frequency=440:sample_rate=44100 -t 2
      -c:v libx264 -preset veryfast -profile:v main -bf 2 -g 25 -x264-params scenecut=0:ipratio=4:qp=36
      -threads 1 -pix_fmt yuv420p -c:a aac -ac 1 -b:a 32k -map_metadata -1 -fflags +bitexact
      -flags:v +bitexact -flags:a +bitexact -f flv av.flv

Variants are derived from it here, with the :mod:`rtmpspec.flv` reader and writer (no ffmpeg at run time):

- ``av``: the file as is;
- ``ext-ts``: sequence headers and metadata at 0, every other tag 2**24 ms later (16777216 + t): a client's first
  coded frame then needs an extended timestamp (absolute, or a delta >= 0xFFFFFF) on its Type 0/1 header and on
  every Type 3 chunk of that message (RTMP 5.3.1.3, errata 5.1);
- ``wrap``: every timestamp moved to 2**32 - 1000 + t, modulo 2**32: the stream crosses the 32-bit wrap after one
  second (RTMP 5.3.1.2: timestamps are modulo 2**32; errata 5.2).
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from rtmpspec import amf0, media
from rtmpspec.flv import AUDIO, SCRIPT, VIDEO, FLVTag, FLVWriter, read_flv

from ..payloads import Item, ex_sequence, legacy_audio, opus_sequence

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BASE_FLV = DATA_DIR / "av.flv"
U32 = 0xFFFFFFFF
EXT_SHIFT = 1 << 24
WRAP_START = (1 << 32) - 1000
VARIANTS = ("av", "ext-ts", "wrap")


@functools.cache
def base_tags() -> tuple[FLVTag, ...]:
    _, tags = read_flv(BASE_FLV)
    return tuple(tags)


def _is_config(tag: FLVTag) -> bool:
    return tag.tag_type in (AUDIO, VIDEO) and media.is_sequence_header(tag.tag_type, tag.data)


def variant_tags(name: str) -> list[tuple[int, int, bytes]]:
    """(tag type, timestamp, data) of every tag of a variant, in file order."""
    out = []
    for t in base_tags():
        ts = t.timestamp
        if name == "ext-ts":
            if t.tag_type != SCRIPT and not _is_config(t):
                ts = ts + EXT_SHIFT
        elif name == "wrap":
            ts = (WRAP_START + ts) & U32
        elif name != "av":
            raise ValueError(f"unknown input variant {name!r} (one of {', '.join(VARIANTS)})")
        out.append((t.tag_type, ts, t.data))
    return out


def write_variant(name: str, directory: Path) -> Path:
    """The variant as an FLV file in ``directory`` (written once per directory)."""
    path = directory / f"input-{name}.flv"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    w = FLVWriter()
    parts = [w.header(audio=True, video=True)]
    for tag_type, ts, data in variant_tags(name):
        parts.append(w.tag(tag_type, ts, data))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(b"".join(parts))
    tmp.replace(path)
    return path


def media_items(name: str) -> list[Item]:
    """The audio/video tags of a variant as :class:`Item` (what a publisher of it should send, in order)."""
    return [Item(tt, ts, data) for tt, ts, data in variant_tags(name) if tt in (AUDIO, VIDEO)]


def metadata_values(name: str = "av") -> list:
    for tt, _, data in variant_tags(name):
        if tt == SCRIPT:
            return amf0.decode_all(data)
    return []


# -- streams the battery serves to playing clients ---------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """One message of a served stream: media (8/9) or data (18) with its timestamp."""

    type_id: int
    timestamp: int
    payload: bytes
    label: str = ""


def av_stream(shift: int = 0, *, end_of_sequence: bool = False) -> list[Served]:
    """The committed file's media as served messages (timestamps + ``shift``, modulo 2**32), sorted by timestamp.
    ``end_of_sequence``: keep the file's last video message, an AVC end of sequence (AVCPacketType 2, 5 bytes),
    which some players drop: only the basic play scenario sends it, so that its loss shows in one case."""
    items = [Served(i.type_id, (i.timestamp + shift) & U32, i.payload, "media") for i in media_items("av")
             if end_of_sequence or not _is_avc_end_of_sequence(i)]
    items.sort(key=lambda i: (i.timestamp - shift) & U32)
    return items


def _is_avc_end_of_sequence(item: Item) -> bool:
    return item.type_id == VIDEO and len(item.payload) >= 2 and item.payload[0] & 0x0F == 7 and item.payload[1] == 2


def pcm_frames(n: int = 60, *, start: int = 0, frame_ms: int = 20) -> list[Served]:
    """Linear PCM, little endian, 44.1 kHz 16-bit mono (SoundFormat 3): every frame has the same length and the
    same timestamp delta, so a chunk writer sends them as a chain of Type 3 headers (RTMP 5.3.1.2.4)."""
    samples = 44100 * frame_ms // 1000
    out = []
    for k in range(n):
        pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * (k * samples + s) / 44100)))
                       for s in range(samples))
        out.append(Served(AUDIO, start + k * frame_ms, pcm_audio(pcm), "pcm"))
    return out


def pcm_audio(body: bytes) -> bytes:
    """FLV E.4.2.1 AUDIODATA, SoundFormat 3 (linear PCM, little endian), 44 kHz, 16-bit, mono."""
    return media.AUDIODATA.build({"header": {"SoundFormat": 3, "SoundRate": 3, "SoundSize": 1, "SoundType": 0,
                                             "audioPacketType": None},
                                  "AACPacketType": None, "ex": None, "data": body})


def fourcc_stream() -> list[Served]:
    """E-RTMP v2: HEVC video (ExVideoTagHeader FourCC hvc1) and Opus audio (ExAudioTagHeader FourCC Opus),
    interleaved by timestamp."""
    items = ex_sequence(b"hvc1", 25, seed=21) + opus_sequence(50, seed=22)
    items.sort(key=lambda i: (i.timestamp, i.type_id != VIDEO))
    return [Served(i.type_id, i.timestamp, i.payload, i.label) for i in items]


__all__ = ["BASE_FLV", "VARIANTS", "Served", "av_stream", "fourcc_stream", "legacy_audio", "media_items",
           "metadata_values", "pcm_frames", "variant_tags", "write_variant"]
