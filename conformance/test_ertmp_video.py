"""Enhanced RTMP v2 video through the target contract: every FourCC with every packet type, MPEG-2 TS sequence start,
HDR metadata frames kept ahead of the video they affect, command frames, ModEx TimestampOffsetNano in both size
forms, the three multitrack types, and malformed video (nested multitrack, unknown FourCC, reserved types) handled
in a controlled way. Real media: the AV1 + Opus E-RTMP file of the veovera E-RTMP lab (conformance/data)."""

from __future__ import annotations

from pathlib import Path

from rtmpspec import media
from rtmpspec.flv import read_flv
from rtmpspec.messages import DataMessage, MessageType

from .case import Case, compare_relay, parametrize
from .ertmp import (
    CODED,
    CODED_X,
    COMMAND,
    INTER,
    KEY,
    METADATA,
    MPEG2TS_SEQ_START,
    MULTITRACK,
    SEQ_START,
    color_info,
    mod_ex_nano,
    video,
    video_config,
    video_frame,
    video_sequence,
    video_tracks,
)
from .ertmp_relay import (
    CONTROLLED,
    E_CONNECT,
    accept,
    controlled,
    declares_caps,
    declares_fourcc,
    pair,
    relay,
    server_caps,
    settle,
)
from .ertmp_relay import judge as judge_relay
from .payloads import AUDIO, VIDEO, Item
from .verdicts import Verdict, fail, observed

V = Verdict
REAL_MEDIA = Path(__file__).with_name("data") / "ertmp-av1-opus.flv"
MT = int(media.CapsExMask.Multitrack)
MODEX = int(media.CapsExMask.ModEx)


def check_fourcc(ctx, fourcc: bytes):
    """SequenceStart, CodedFrames (key, inter; avc1/hvc1 with composition times 80, -40, 40), CodedFramesX and
    SequenceEnd of ``fourcc``: relayed byte-exact, in order, with their timestamp deltas."""
    return relay(ctx, video_sequence(fourcc, 7, seed=31 + fourcc[0]), f"{fourcc.decode()} video",
                 declares_fourcc(fourcc))


def check_mpeg2ts_sequence_start(ctx):
    """av01 started with MPEG2TSSequenceStart (an AV1 video descriptor) instead of SequenceStart: relayed
    byte-exact, and a late player gets it before its first coded frame."""
    from .codecs import av1_mpeg2ts_descriptor

    seq = Item(VIDEO, 0, video(KEY, MPEG2TS_SEQ_START, b"av01", av1_mpeg2ts_descriptor()), "av01-mpeg2ts-seq")
    frames = video_sequence(b"av01", 8, seed=41, end=False)[1:]
    items = [seq] + frames
    pub, play = pair(ctx)
    pub.send_all(items[:5])
    late = ctx.player(pub.key, label="late", **E_CONNECT)
    pub.send_all(items[5:])
    got = settle(ctx, pub, play, items)
    caps = server_caps(play.s, pub.s)
    res = judge_relay(items, got, caps, declares_fourcc(b"av01")(caps), "av01 video")
    if res.behaviour != "relayed":
        return res
    late.wait_payload(items[-1].payload, timeout=min(1.5, ctx.step_timeout))
    vids = [m for m in late.media() if m.type_id == VIDEO]
    coded = [i for i, m in enumerate(vids) if not media.is_sequence_header(VIDEO, m.payload)]
    if coded and not any(m.payload == seq.payload for m in vids[:coded[0]]):
        return observed("late-without-sequence-start", "the late player's first coded frame came without the "
                        "MPEG2TSSequenceStart before it", offending=vids[coded[0]])
    return res


def check_metadata_order(ctx):
    """colorInfo Metadata before the keyframe it affects, then a reset (Undefined) before a later keyframe: the
    player gets each Metadata frame ahead of that keyframe, and a late player gets the colorInfo in force ahead of
    its first coded frame."""
    f = b"hvc1"
    seq = Item(VIDEO, 0, video(KEY, SEQ_START, f, video_config(f)), "seq-start")
    meta1 = Item(VIDEO, 0, video(COMMAND, METADATA, f, color_info()), "colorInfo")
    k1 = Item(VIDEO, 0, video(KEY, CODED, f, video_frame(f, True, 2000, 51)), "key1")
    inter = [Item(VIDEO, 40 * i, video(INTER, CODED, f, video_frame(f, False, 300, 51 + i)), "inter")
             for i in range(1, 4)]
    meta2 = Item(VIDEO, 160, video(COMMAND, METADATA, f, color_info(reset=True)), "colorInfo-reset")
    k2 = Item(VIDEO, 160, video(KEY, CODED, f, video_frame(f, True, 2000, 59)), "key2")
    tail = Item(VIDEO, 200, video(INTER, CODED, f, video_frame(f, False, 300, 60)), "inter")
    before, after = [seq, meta1, k1] + inter, [meta2, k2, tail]
    pub, play = pair(ctx)
    pub.send_all(before)
    late = ctx.player(pub.key, label="late", **E_CONNECT)
    pub.send_all(after)
    items = before + after
    got = settle(ctx, pub, play, items)
    caps = server_caps(play.s, pub.s)
    res = judge_relay(items, got, caps, declares_fourcc(f)(caps), "hvc1 video with Metadata frames")
    if res.behaviour != "relayed":
        return res
    late.wait_payload(tail.payload, timeout=min(1.5, ctx.step_timeout))
    vids = [m for m in late.media() if m.type_id == VIDEO]
    first = next((i for i, m in enumerate(vids) if media.is_keyframe(m.payload)), None)
    if first is None:
        return observed("late-nothing", "the late player got no keyframe")
    in_force = meta1 if vids[first].payload == k1.payload else meta2
    if not any(m.payload == in_force.payload for m in vids[:first]):
        return observed("late-metadata-missing", f"the late player's first keyframe ({vids[first].timestamp} ms) "
                        f"came without the {in_force.label} Metadata frame in force before it",
                        offending=vids[first])
    return res


def check_metadata_frame_type(ctx):
    """A Metadata frame with the key frame bits set (ignored for Metadata) in the middle of a GOP: a late player's
    first coded frame is still a real keyframe (the Metadata frame does not start a GOP)."""
    f = b"av01"
    items = video_sequence(f, 9, seed=61, end=False)
    meta = Item(VIDEO, 130, video(KEY, METADATA, f, color_info()), "colorInfo-keybits")
    before, after = items[:5] + [meta] + items[5:7], items[7:]
    pub, play = pair(ctx)
    pub.send_all(before)
    late = ctx.player(pub.key, label="late", **E_CONNECT)
    pub.send_all(after)
    sent = before + after
    got = settle(ctx, pub, play, sent)
    caps = server_caps(play.s, pub.s)
    res = judge_relay(sent, got, caps, declares_fourcc(f)(caps), "av01 video with a Metadata frame")
    if res.behaviour != "relayed":
        return res
    late.wait_payload(after[-1].payload, timeout=min(1.5, ctx.step_timeout))
    coded = [m for m in late.media() if m.type_id == VIDEO and not media.is_sequence_header(VIDEO, m.payload)
             and m.payload != meta.payload]
    if coded and not media.is_keyframe(coded[0].payload):
        return observed("gop-from-metadata", "the late player's first coded frame is an inter frame: the Metadata "
                        "frame with key frame bits was taken for a keyframe", offending=coded[0])
    return res


def check_command_frames(ctx):
    """hvc1 with video command frames (frame type 5: StartSeek, then EndSeek): relayed byte-exact, or dropped;
    never a broken stream."""
    f = b"hvc1"
    items = video_sequence(f, 4, seed=71, end=False)
    cmds = [Item(VIDEO, 160, video(COMMAND, CODED, command=0), "start-seek"),
            Item(VIDEO, 160, video(COMMAND, CODED, command=1), "end-seek")]
    rest = [Item(VIDEO, 160, video(KEY, CODED, f, video_frame(f, True, 1500, 79)), "key")]
    sent = items + cmds + rest
    pub, play = pair(ctx)
    pub.send_all(sent)
    got = settle(ctx, pub, play, sent)
    caps = server_caps(play.s, pub.s)
    res = judge_relay(sent, got, caps, declares_fourcc(f)(caps), "hvc1 video with command frames")
    commands = {c.payload for c in cmds}
    if res.behaviour in ("partial", "altered") and not any(m.payload in commands for m in got) \
            and compare_relay(items + rest, got) is None:
        return observed("commands-dropped", "the command frames were dropped, the video went on")
    return res


def check_modex(ctx, size: int):
    """CodedFrames behind a ModEx TimestampOffsetNano (``size`` bytes of ModEx data: 3 is the UI8 size form, 300
    the UI16 form): relayed byte-exact, the RTMP timestamps unchanged by the nanosecond offset."""
    f = b"av01"
    items = video_sequence(f, 4, seed=81, end=False)
    for i, ns in enumerate((250000, 999999, 1)):
        body = video_frame(f, False, 500, 85 + i)
        items.append(Item(VIDEO, 160 + 40 * i, video(INTER, CODED, f, body, mod_ex=[mod_ex_nano(ns, size)]),
                          f"modex-nano-{ns}"))
    return relay(ctx, items, "ModEx video", lambda caps: declares_caps(MODEX)(caps)
                 and declares_fourcc(f)(caps))


def check_multitrack(ctx, kind: str):
    """Video Multitrack ``kind`` (OneTrack, ManyTracks of one codec, ManyTracksManyCodecs av01 + hvc1):
    SequenceStart and CodedFrames of every track, each message carrying its track ids: relayed byte-exact."""
    items = []
    if kind == "one-track":
        mt_type, tracks = 0, [(0, b"av01")]
    elif kind == "many-tracks":
        mt_type, tracks = 1, [(0, b"av01"), (1, b"av01"), (2, b"av01")]
    else:
        mt_type, tracks = 2, [(0, b"av01"), (1, b"hvc1")]
    shared = tracks[0][1] if mt_type != 2 else None
    seq = video_tracks(mt_type, SEQ_START, [(t, f, video_config(f)) for t, f in tracks], shared)
    items.append(Item(VIDEO, 0, video(KEY, MULTITRACK, multitrack=seq), f"mt-{kind}-seq"))
    for i in range(5):
        key = i == 0
        body = [(t, f, video_frame(f, key, 1200 if key else 300, 90 + 10 * t + i)) for t, f in tracks]
        pkt = video_tracks(mt_type, CODED, body, shared, cts=40 if i % 2 else 0)
        items.append(Item(VIDEO, 40 * i, video(KEY if key else INTER, MULTITRACK, multitrack=pkt), f"mt-{kind}"))
    return relay(ctx, items, "multitrack video", declares_caps(MT))


def _hvc1_good(seed: int) -> list[Item]:
    return video_sequence(b"hvc1", 3, seed=seed, end=False)


def _hvc1_after(seed: int) -> list[Item]:
    f = b"hvc1"
    return [Item(VIDEO, 200 + 40 * i, video(INTER, CODED, f, video_frame(f, False, 300, seed + i)), "after")
            for i in range(3)]


def check_unknown(ctx, what: str):
    """hvc1 media, then one message with ``what`` (unknown FourCC 'zzzz', reserved VideoPacketType 8, reserved
    frame type 6, or a nested Multitrack), then more hvc1: a controlled failure, another stream unharmed."""
    f = b"hvc1"
    body = video_frame(f, False, 300, 101)
    if what == "fourcc":
        bad = video(INTER, CODED, b"zzzz", body)
    elif what == "packet-type":
        bad = video(INTER, 8, f, body)
    elif what == "frame-type":
        bad = video(6, CODED, f, body, cts=0)
    else:  # nested multitrack: the per-track packet type is Multitrack again
        bad = video(INTER, MULTITRACK, multitrack=video_tracks(1, MULTITRACK, [(0, None, body), (1, None, body)], f))
    return controlled(ctx, _hvc1_good(100), Item(VIDEO, 160, bad, f"bad-{what}"), _hvc1_after(110),
                      nested=what == "nested-multitrack")


def check_metadata_amf3(ctx):
    """A publisher at objectEncoding 3 sends a colorInfo Metadata frame whose value is AMF3 (0x11 switch): the
    player gets it byte-exact (the metadata's AMF version follows the negotiated encoding)."""
    from rtmpspec import amf0
    from rtmpspec.amf0_values import AVMPlus

    f = b"av01"
    value = {"colorConfig": {"bitDepth": 10, "colorPrimaries": 9, "transferCharacteristics": 16,
                             "matrixCoefficients": 9}}
    meta = Item(VIDEO, 0, video(COMMAND, METADATA, f, amf0.encode_all(["colorInfo", AVMPlus(value)])),
                "colorInfo-amf3")
    items = video_sequence(f, 4, seed=121, end=False)
    items.insert(1, meta)
    kw = {"extra": E_CONNECT["extra"], "object_encoding": 3}
    pub = ctx.publisher(**kw)
    play = ctx.player(pub.key, **kw)
    pub.send_all(items)
    got = settle(ctx, pub, play, items)
    caps = server_caps(play.s, pub.s)
    return judge_relay(items, got, caps, declares_fourcc(f)(caps), "av01 video with an AMF3 Metadata frame")


def check_real_media(ctx):
    """The first second of a real E-RTMP file (veovera E-RTMP lab, AV1 + Opus: SequenceStart, MultichannelConfig,
    colorInfo Metadata, CodedFrames) published tag by tag: the player gets every audio and video tag byte-exact."""
    if not REAL_MEDIA.exists():
        fail(f"the battery's real media file {REAL_MEDIA.name}", "missing from the installed package")
    _, tags = read_flv(str(REAL_MEDIA))
    items, meta = [], None
    for t in tags:
        if t.tag_type in (AUDIO, VIDEO):
            items.append(Item(t.tag_type, t.timestamp, bytes(t.data), "real"))
        elif t.tag_type == MessageType.DATA_AMF0 and meta is None:
            meta = DataMessage.from_message(_message(t))
    pub, play = pair(ctx)
    if meta is not None:
        pub.s.send_data(DataMessage(("@setDataFrame",) + tuple(meta.values), pub.msid, 0))
    pub.send_all(items)
    got = settle(ctx, pub, play, items)
    caps = server_caps(play.s, pub.s)
    return judge_relay(items, got, caps, declares_fourcc(b"av01")(caps) and declares_fourcc(b"Opus")(caps),
                       "AV1 + Opus E-RTMP media")


def _message(tag):
    from rtmpspec.message_format import Message

    return Message(tag.tag_type, bytes(tag.data), tag.timestamp, 1, 5)


_LATE = {"late-without-sequence-start": (V.FAIL, "a late player got coded av01 frames without their sequence "
                                                 "start")}
_META = {"late-metadata-missing": (V.FAIL, "HDR metadata not kept ahead of the video it affects (MUST)"),
         "late-nothing": (V.FAIL, "the late player got no keyframe")}

CASES = [Case(f"ertmp2-video-{f.decode()}-all-packet-types", "ertmp-video-fourcc", check_fourcc, {"fourcc": f},
              relay=True, accept=accept(f"{f.decode()} video"),
              doc=f"{f.decode()}: SequenceStart, CodedFrames, CodedFramesX, SequenceEnd"
                  + (" (composition times 80, -40, 40)" if f in (b"avc1", b"hvc1") else ""))
         for f in (b"avc1", b"hvc1", b"av01", b"vp08", b"vp09")]
CASES += [
    Case("ertmp2-video-real-av1-opus-file", "ertmp-video-fourcc", check_real_media, relay=True,
         accept=accept("AV1 + Opus E-RTMP media"),
         doc="1 s of a real E-RTMP FLV (veovera e-rtmp-lab assets, Apache-2.0), tag by tag"),
    Case("ertmp2-video-av01-mpeg2ts-sequence-start", "ertmp-video-packet-types", check_mpeg2ts_sequence_start,
         relay=True, accept={**accept("av01 video"), **_LATE}),
    Case("ertmp2-video-metadata-colorinfo-ahead", "ertmp-metadata-frame-order", check_metadata_order, relay=True,
         accept={**accept("hvc1 video with Metadata frames"), **_META}),
    Case("ertmp2-video-metadata-frame-type-ignored", "ertmp-video-packet-types", check_metadata_frame_type,
         relay=True, accept={**accept("av01 video with a Metadata frame"),
                             "gop-from-metadata": (V.FAIL, "a Metadata frame taken for a keyframe")}),
    Case("ertmp2-video-command-frames", "ertmp-video-packet-types", check_command_frames, relay=True,
         accept={**accept("hvc1 video with command frames"),
                 "commands-dropped": (V.INFORMATIONAL, "video command frames are dropped, the video goes on")}),
    Case("ertmp2-video-metadata-amf3", "ertmp-video-packet-types", check_metadata_amf3, relay=True,
         accept=accept("av01 video with an AMF3 Metadata frame"),
         doc="objectEncoding 3 on both sides: a colorInfo Metadata frame whose value is AMF3"),
    Case("ertmp2-video-modex-nano-size8", "ertmp-modex", check_modex, {"size": 3}, relay=True,
         accept=accept("ModEx video"), doc="TimestampOffsetNano with a 3-byte ModEx data (UI8 size form)"),
    Case("ertmp2-video-modex-nano-size16", "ertmp-modex", check_modex, {"size": 300}, relay=True,
         accept=accept("ModEx video"), doc="TimestampOffsetNano with 300 bytes of ModEx data (UI16 size form)"),
    Case("ertmp2-video-multitrack-one-track", "ertmp-multitrack", check_multitrack, {"kind": "one-track"},
         relay=True, accept=accept("multitrack video")),
    Case("ertmp2-video-multitrack-many-tracks", "ertmp-multitrack", check_multitrack, {"kind": "many-tracks"},
         relay=True, accept=accept("multitrack video"), doc="three av01 tracks in every message"),
    Case("ertmp2-video-multitrack-many-codecs", "ertmp-multitrack", check_multitrack, {"kind": "many-codecs"},
         relay=True, accept=accept("multitrack video"), doc="av01 and hvc1 tracks, a FourCC per track"),
    Case("ertmp2-video-nested-multitrack-refused", "ertmp-multitrack-nested", check_unknown,
         {"what": "nested-multitrack"}, relay=True, accept=CONTROLLED, healthy_after=True),
    Case("ertmp2-video-unknown-fourcc", "ertmp-unknown-media", check_unknown, {"what": "fourcc"}, relay=True,
         accept=CONTROLLED, healthy_after=True, doc="VideoFourCc 'zzzz' in the middle of an hvc1 stream"),
    Case("ertmp2-video-reserved-packet-type", "ertmp-unknown-media", check_unknown, {"what": "packet-type"},
         relay=True, accept=CONTROLLED, healthy_after=True, doc="VideoPacketType 8 (reserved)"),
    Case("ertmp2-video-reserved-frame-type", "ertmp-unknown-media", check_unknown, {"what": "frame-type"},
         relay=True, accept=CONTROLLED, healthy_after=True, doc="VideoFrameType 6 (reserved)"),
]


@parametrize(CASES)
def test_ertmp_video(case, conformance):
    conformance.run(case)


__all__ = ["CASES", "CODED_X", "fail"]
