"""Enhanced RTMP v2 audio and metadata through the target contract: every audio FourCC (Opus, fLaC, ac-3, ec-3, .mp3,
mp4a) with its SequenceStart / CodedFrames / SequenceEnd, MultichannelConfig (native and custom order), the empty
audio message (silence), ModEx TimestampOffsetNano in both size forms, the three multitrack types, malformed audio
handled in a controlled way, and the E-RTMP onMetaData (FourCC codec ids, track id info maps, an ECMA array)."""

from __future__ import annotations

from rtmpspec import media
from rtmpspec.amf0 import ECMAArray
from rtmpspec.messages import DataMessage

from .case import Case, parametrize
from .ertmp import (
    A_CODED,
    A_MULTICHANNEL,
    A_MULTITRACK,
    A_SEQ_START,
    audio,
    audio_config,
    audio_frame,
    audio_sequence,
    audio_tracks,
    mod_ex_nano,
    multichannel,
    video_sequence,
)
from .ertmp_relay import (
    CONTROLLED,
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
from .payloads import AUDIO, Item
from .verdicts import Verdict, observed

V = Verdict
MT = int(media.CapsExMask.Multitrack)
MODEX = int(media.CapsExMask.ModEx)


def check_fourcc(ctx, fourcc: bytes):
    """``fourcc`` audio: SequenceStart (mp4a AudioSpecificConfig, fLaC 'fLaC' + STREAMINFO, Opus ID header; AC-3,
    E-AC-3 and MP3 have none), CodedFrames, SequenceEnd: relayed byte-exact with their deltas."""
    return relay(ctx, audio_sequence(fourcc, 8, seed=140 + fourcc[1]), f"{fourcc.decode()} audio",
                 declares_fourcc(fourcc))


def check_multichannel(ctx, order: str):
    """MultichannelConfig (``order``: native 5.1 with a channel mask after an empty Opus SequenceStart, or a
    custom 3-channel map for ac-3), then CodedFrames: relayed byte-exact."""
    fourcc = b"Opus" if order == "native" else b"ac-3"
    items = []
    if fourcc == b"Opus":
        items.append(Item(AUDIO, 0, audio(A_SEQ_START, fourcc, b""), "opus-empty-seq-start"))
    items.append(Item(AUDIO, 0, audio(A_MULTICHANNEL, fourcc, multichannel=multichannel(order)), f"mc-{order}"))
    items += audio_sequence(fourcc, 6, seed=150, end=False)[1 if fourcc == b"Opus" else 0:]
    return relay(ctx, items, f"{fourcc.decode()} audio with a MultichannelConfig", declares_fourcc(fourcc))


def check_silence(ctx):
    """An Opus stream with an empty audio message (no tag header: silence) between coded frames: relayed as an
    empty audio message, or dropped; never a broken stream."""
    items = audio_sequence(b"Opus", 6, seed=160, end=False)
    silence = Item(AUDIO, 130, b"", "silence")
    sent = items[:4] + [silence] + [Item(AUDIO, i.timestamp + 40, i.payload, i.label) for i in items[4:]]
    pub, play = pair(ctx)
    pub.send_all(sent)
    got = settle(ctx, pub, play, sent)
    caps = server_caps(play.s, pub.s)
    res = judge_relay(sent, got, caps, declares_fourcc(b"Opus")(caps), "Opus audio with a silence message")
    if res.behaviour in ("partial", "altered") and not any(m.payload == b"" for m in got):
        without = [i for i in sent if i is not silence]
        if judge_relay(without, got, caps, True, "Opus audio").behaviour == "relayed":
            return observed("silence-dropped", "the empty audio message was dropped, the audio went on")
    return res


def check_modex(ctx, size: int):
    """Opus CodedFrames behind ModEx TimestampOffsetNano (``size`` bytes of data: 3 = UI8 size form, 260 = UI16):
    relayed byte-exact with the RTMP timestamps unchanged."""
    items = audio_sequence(b"Opus", 3, seed=170, end=False)
    for i, ns in enumerate((500000, 999999, 1000)):
        body = audio_frame(b"Opus", i, 160, 175 + i)
        items.append(Item(AUDIO, 60 + 20 * i, audio(A_CODED, b"Opus", body, mod_ex=[mod_ex_nano(ns, size)]),
                          f"modex-nano-{ns}"))
    return relay(ctx, items, "ModEx audio",
                 lambda caps: declares_caps(MODEX)(caps) and declares_fourcc(b"Opus")(caps))


def check_multitrack(ctx, kind: str):
    """Audio Multitrack ``kind`` (OneTrack, ManyTracks of two Opus tracks, ManyTracksManyCodecs Opus + mp4a):
    SequenceStart and CodedFrames of every track, each message with its track ids: relayed byte-exact."""
    if kind == "one-track":
        mt_type, tracks = 0, [(0, b"Opus")]
    elif kind == "many-tracks":
        mt_type, tracks = 1, [(0, b"Opus"), (1, b"Opus")]
    else:
        mt_type, tracks = 2, [(0, b"Opus"), (1, b"mp4a")]
    shared = tracks[0][1] if mt_type != 2 else None
    seq = audio_tracks(mt_type, A_SEQ_START, [(t, f, audio_config(f)) for t, f in tracks], shared)
    items = [Item(AUDIO, 0, audio(A_MULTITRACK, multitrack=seq), f"mt-{kind}-seq")]
    for i in range(6):
        body = [(t, f, audio_frame(f, i, 120, 180 + 10 * t + i)) for t, f in tracks]
        items.append(Item(AUDIO, 20 * i, audio(A_MULTITRACK, multitrack=audio_tracks(mt_type, A_CODED, body,
                                                                                        shared)), f"mt-{kind}"))
    return relay(ctx, items, "multitrack audio", declares_caps(MT))


def check_unknown(ctx, what: str):
    """Opus audio, then one message with ``what`` (unknown FourCC 'zzzz', reserved AudioPacketType 3, or a nested
    Multitrack), then more Opus: a controlled failure, another stream unharmed."""
    good = audio_sequence(b"Opus", 3, seed=190, end=False)
    after = [Item(AUDIO, 100 + 20 * i, audio(A_CODED, b"Opus", audio_frame(b"Opus", i, 140, 195 + i)), "after")
             for i in range(3)]
    body = audio_frame(b"Opus", 9, 140, 199)
    if what == "fourcc":
        bad = audio(A_CODED, b"zzzz", body)
    elif what == "packet-type":
        bad = audio(3, b"Opus", body)
    else:
        bad = audio(A_MULTITRACK, multitrack=audio_tracks(1, A_MULTITRACK, [(0, None, body), (1, None, body)],
                                                          b"Opus"))
    return controlled(ctx, good, Item(AUDIO, 80, bad, f"bad-{what}"), after, nested=what == "nested-multitrack")


# -- onMetaData (E-RTMP v1/v2 "Enhancing onMetaData") --------------------------------------------------------------

def _metadata_roundtrip(ctx, props: dict):
    pub, play = pair(ctx)
    pub.s.send_data(DataMessage(("@setDataFrame", "onMetaData", ECMAArray(props)), pub.msid, 0))
    items = video_sequence(b"av01", 2, seed=200, end=False) + audio_sequence(b"Opus", 2, seed=201, end=False)
    pub.send_all(items)
    settle(ctx, pub, play, items)
    metas = [d for d in (m.data for m in play.data()) if d and "onMetaData" in d.values]
    return metas


def observe_onmetadata(ctx, what: str):
    """onMetaData (an ECMA array) of an av01 + Opus stream with ``what``: FourCC codec ids (videocodecid 'av01' =
    1635135537, audiocodecid 'Opus' = 1332770163) or videoTrackIdInfoMap / audioTrackIdInfoMap; the player's
    onMetaData keeps them as they were (a server may leave out what it does not know, never change it)."""
    props = {"duration": 0.0, "width": 320.0, "height": 240.0}
    if what == "codec-ids":
        want = {"videocodecid": float(media.make_fourcc("av01")), "audiocodecid": float(media.make_fourcc("Opus"))}
    else:
        want = {"videoTrackIdInfoMap": {"1": {"width": 1280.0, "height": 720.0}},
                "audioTrackIdInfoMap": {"1": {"language": "fr"}}}
    props.update(want)
    metas = _metadata_roundtrip(ctx, props)
    if not metas:
        return observed("missing", "no onMetaData reached the player")
    got = metas[0].metadata or {}
    for k, v in want.items():
        if k not in got:
            return observed("left-out", f"the player's onMetaData has no {k!r}")
        if _plain(got[k]) != v:
            return observed("altered", f"{k}: published {v!r}, the player got {got[k]!r}")
    return observed("kept")


def observe_onmetadata_form(ctx):
    """onMetaData published as an ECMA array: the player's onMetaData carries a single ECMA array (E-RTMP: the
    method onMetaData with one ECMA array argument)."""
    metas = _metadata_roundtrip(ctx, {"duration": 0.0, "videocodecid": float(media.make_fourcc("av01"))})
    if not metas:
        return observed("missing", "no onMetaData reached the player")
    vals = [v for v in metas[0].values if v not in ("@setDataFrame", "onMetaData")]
    if len(vals) != 1:
        return observed("not-single", f"{len(vals)} arguments after onMetaData")
    if not isinstance(vals[0], ECMAArray):
        return observed("object", f"the argument is a {type(vals[0]).__name__}, not an ECMA array")
    return observed("ecma-array")


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


def observe_track_data(ctx):
    """On a multitrack stream, a data message about track 1 (onTrackInfo with a trackId property): relayed with
    its trackId."""
    pub, play = pair(ctx)
    items = audio_sequence(b"Opus", 2, seed=210, end=False)
    pub.send_all(items)
    pub.s.send_data(DataMessage(("onTrackInfo", {"trackId": 1.0, "language": "fr"}), pub.msid, 40))
    more = audio_sequence(b"Opus", 2, seed=211, end=False, start=60)[1:]
    pub.send_all(more)
    settle(ctx, pub, play, items + more)
    hits = [d for d in (m.data for m in play.data()) if d and d.values[:1] == ("onTrackInfo",)]
    if not hits:
        return observed("dropped", "onTrackInfo did not reach the player")
    obj = next((v for v in hits[0].values[1:] if isinstance(v, dict)), {})
    if obj.get("trackId") != 1.0:
        return observed("altered", f"onTrackInfo arrived without trackId 1: {hits[0].values!r}")
    return observed("relayed")


CASES = [Case(f"ertmp2-audio-{f.decode().replace('.', '')}-all-packet-types", "ertmp-audio-fourcc", check_fourcc,
              {"fourcc": f}, relay=True, accept=accept(f"{f.decode()} audio"),
              doc=f"{f.decode()}: " + ("SequenceStart, " if audio_config(f) is not None else "")
                  + "CodedFrames, SequenceEnd")
         for f in (b"Opus", b"fLaC", b"ac-3", b"ec-3", b".mp3", b"mp4a")]
CASES += [
    Case("ertmp2-audio-multichannel-native", "ertmp-audio-packet-types", check_multichannel, {"order": "native"},
         relay=True, accept=accept("Opus audio with a MultichannelConfig"),
         doc="empty Opus SequenceStart, MultichannelConfig native order 6 channels (mask 0x3F), CodedFrames"),
    Case("ertmp2-audio-multichannel-custom", "ertmp-audio-packet-types", check_multichannel, {"order": "custom"},
         relay=True, accept=accept("ac-3 audio with a MultichannelConfig"),
         doc="MultichannelConfig custom order (FrontLeft, FrontRight, Unused), ac-3 CodedFrames"),
    Case("ertmp2-audio-silence-empty-message", "ertmp-audio-packet-types", check_silence, relay=True,
         accept={**accept("Opus audio with a silence message"),
                 "silence-dropped": (V.INFORMATIONAL, "the empty audio message (silence) is dropped")}),
    Case("ertmp2-audio-modex-nano-size8", "ertmp-modex", check_modex, {"size": 3}, relay=True,
         accept=accept("ModEx audio")),
    Case("ertmp2-audio-modex-nano-size16", "ertmp-modex", check_modex, {"size": 260}, relay=True,
         accept=accept("ModEx audio"), doc="260 bytes of ModEx data: the 256 escape and a UI16 size"),
    Case("ertmp2-audio-multitrack-one-track", "ertmp-multitrack", check_multitrack, {"kind": "one-track"},
         relay=True, accept=accept("multitrack audio")),
    Case("ertmp2-audio-multitrack-many-tracks", "ertmp-multitrack", check_multitrack, {"kind": "many-tracks"},
         relay=True, accept=accept("multitrack audio")),
    Case("ertmp2-audio-multitrack-many-codecs", "ertmp-multitrack", check_multitrack, {"kind": "many-codecs"},
         relay=True, accept=accept("multitrack audio"), doc="Opus and mp4a tracks, a FourCC per track"),
    Case("ertmp2-audio-nested-multitrack-refused", "ertmp-multitrack-nested", check_unknown,
         {"what": "nested-multitrack"}, relay=True, accept=CONTROLLED, healthy_after=True),
    Case("ertmp2-audio-unknown-fourcc", "ertmp-unknown-media", check_unknown, {"what": "fourcc"}, relay=True,
         accept=CONTROLLED, healthy_after=True, doc="AudioFourCc 'zzzz' in the middle of an Opus stream"),
    Case("ertmp2-audio-reserved-packet-type", "ertmp-unknown-media", check_unknown, {"what": "packet-type"},
         relay=True, accept=CONTROLLED, healthy_after=True, doc="AudioPacketType 3 (reserved)"),
    Case("ertmp2-onmetadata-fourcc-codec-ids", "ertmp-onmetadata", observe_onmetadata, {"what": "codec-ids"},
         relay=True, accept={"kept": V.PASS, "left-out": (V.INFORMATIONAL, "the server rewrites onMetaData"),
                             "altered": V.FAIL, "missing": V.FAIL}),
    Case("ertmp2-onmetadata-track-id-info-maps", "ertmp-onmetadata", observe_onmetadata, {"what": "track-maps"},
         relay=True, accept={"kept": V.PASS, "left-out": (V.INFORMATIONAL, "the server rewrites onMetaData"),
                             "altered": V.FAIL, "missing": V.FAIL}),
    Case("ertmp2-onmetadata-ecma-array", "ertmp-onmetadata-ecma-array", observe_onmetadata_form, relay=True,
         accept={"ecma-array": V.PASS, "object": V.FAIL, "not-single": V.FAIL, "missing": V.FAIL}),
    Case("ertmp2-multitrack-track-data-message", "7.1.2-data-relay", observe_track_data, relay=True,
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "data messages other than metadata are dropped"),
                 "altered": V.FAIL}, doc="onTrackInfo({trackId: 1, language: 'fr'}) between Opus frames"),
]


@parametrize(CASES)
def test_ertmp_audio(case, conformance):
    conformance.run(case)


__all__ = ["CASES"]
