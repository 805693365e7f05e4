"""Media relay cases (RTMP 1.0 7.1, FLV 10.1 Annex E, Enhanced RTMP v1/v2) through the target contract:
publish on app/key, play the same key, compare what the player receives with what was sent."""

from __future__ import annotations

import random

from rtmpspec import control, media, messages
from rtmpspec.message_format import Message
from rtmpspec.messages import DataMessage, MessageType, SubMessage, build_aggregate, split_aggregate

from .case import Case, compare_relay, contract, parametrize
from .driver import DriverError, StepTimeout
from .payloads import (
    AUDIO,
    VIDEO,
    Item,
    aac,
    aac_config,
    av_sequence,
    avc_nalu,
    avcc,
    ex_sequence,
    hevc_codecid12_sequence,
    legacy_video,
    metadata,
    multitrack_sequence,
    opus_sequence,
)
from .verdicts import SetupError, Verdict, fail, informational, observed, passed, unsupported

V = Verdict


def check_contract(ctx):
    ok, detail = contract(ctx.settings)
    if ok is None:
        raise SetupError("the relay contract probe", detail)
    if not ok:
        unsupported(detail)
    passed(detail)


def _relay(ctx, items, *, players: int = 1, chunk_size: int | None = None, exact: bool = False):
    pub = ctx.publisher()
    plays = [ctx.player(pub.key, label=f"play{i + 1}") for i in range(players)]
    if chunk_size:
        pub.s.set_chunk_size(chunk_size)
    pub.send_all(items)
    for p in plays:
        got = p.wait_media(len(items))
        problem = compare_relay(items, got, exact_timestamps=exact)
        if problem:
            fail(f"{p.s.label} receives every message byte-exact with the sender's timestamp deltas", problem[0],
                 offending=problem[1])
    return pub, plays


def check_relay(ctx, kind: str):
    """Publish ``kind`` media (video-only, audio-only, interleaved A/V); the player must get it byte-exact with its deltas."""
    if kind == "video-only":
        items = av_sequence(12, seed=61, with_audio=False)
    elif kind == "audio-only":
        items = av_sequence(12, seed=62, with_video=False)
    elif kind == "av":
        items = av_sequence(25, seed=63)
    else:
        raise ValueError(kind)
    _relay(ctx, items)


def check_several_players(ctx, n: int):
    """``n`` players of one stream all get every message byte-exact."""
    _relay(ctx, av_sequence(10, seed=64), players=n)


def check_large(ctx, size: int):
    """A ``size``-byte video keyframe (chunk size 4096) reaches the player intact."""
    items = av_sequence(1, seed=65, with_audio=False)
    items.append(Item(VIDEO, 40, legacy_video(1, 7, avc_nalu(True, size, 66), avc_packet_type=1), "huge-key"))
    items.append(Item(VIDEO, 80, legacy_video(2, 7, avc_nalu(False, 800, 67), avc_packet_type=1), "inter"))
    _relay(ctx, items, chunk_size=4096)


def observe_play_msid(ctx):
    """Media for a player on stream N: does it arrive on message stream N?"""
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    items = av_sequence(2, seed=68)
    pub.send_all(items)
    got = play.wait_media(len(items))
    if not got:
        fail("media on the play stream", "no media arrived")
    wrong = [m for m in got if m.msid != play.msid]
    if wrong:
        return observed("other", f"media on message stream {wrong[0].msid}, play stream is {play.msid}",
                        offending=wrong[0])
    return observed("same")


def _late_joiner(ctx, items_before, items_after):
    pub = ctx.publisher()
    pub.metadata(metadata())
    pub.send_all(items_before)
    late = ctx.player(pub.key, label="late")
    pub.send_all(items_after)
    late.wait_payload(items_after[-1].payload)
    bad = late.foreign(items_before + items_after)
    if bad is not None:
        fail("the late player gets the publisher's messages intact (cached or live)",
             "a message the publisher never sent (altered on the way)", offending=bad)
    return pub, late


def _gops():
    items = av_sequence(11, seed=69, gop=5)
    before = [i for i in items if i.timestamp < 200]
    after = [i for i in items if i.timestamp >= 200]
    # the late player joins mid-GOP: the first video after joining is an inter frame
    return before, after


def check_late_config(ctx):
    """A player joins mid-GOP: onMetaData before any coded frame, each sequence header before its track's first frame."""
    before, after = _gops()
    pub, late = _late_joiner(ctx, before, after)
    seen = [m for m in late.s.inbox if m.type_id in (AUDIO, VIDEO, MessageType.DATA_AMF0, MessageType.DATA_AMF3)]

    def first_coded(t=None):
        return next((i for i, m in enumerate(seen) if m.type_id in ((t,) if t else (AUDIO, VIDEO))
                     and not media.is_sequence_header(m.type_id, m.payload)), None)

    first = first_coded()
    if first is None:
        fail("coded frames for the late player", "none arrived")
    if not any(m.data and "onMetaData" in m.data.values for m in seen[:first]):
        fail("onMetaData before the first coded frame", "no onMetaData before the first coded frame",
             offending=seen[first])
    for t, name in ((VIDEO, "AVC"), (AUDIO, "AAC")):
        i = first_coded(t)
        if i is None:
            fail(f"coded {name} frames for the late player", "none arrived")
        if not any(m.type_id == t and media.is_sequence_header(t, m.payload) for m in seen[:i]):
            fail(f"the {name} sequence header before the first coded {name} frame",
                 f"a coded {name} frame without a sequence header before it", offending=seen[i])


def check_late_keyframe(ctx):
    """A player joins mid-GOP: its first coded video frame must be a keyframe."""
    before, after = _gops()
    pub, late = _late_joiner(ctx, before, after)
    vids = [m for m in late.media() if m.type_id == VIDEO and not media.is_sequence_header(VIDEO, m.payload)]
    if not vids:
        fail("video for the late player", "none arrived")
    if not media.is_keyframe(vids[0].payload):
        fail("the first coded video frame is a keyframe", "an inter frame", offending=vids[0])


def check_stream_begin(ctx):
    """A player gets User Control StreamBegin for its stream id before the first media message."""
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    items = av_sequence(2, seed=70)
    pub.send_all(items)
    play.wait_media(len(items))
    inbox = play.s.inbox
    first_media = next((i for i, m in enumerate(inbox) if m.type_id in (AUDIO, VIDEO)), len(inbox))
    begins = [m for m in inbox[:first_media] if m.user_control and m.user_control[0] == control.STREAM_BEGIN]
    if not begins:
        fail(f"User Control StreamBegin {play.msid} before the media", "no StreamBegin before the first media message")
    if not any(m.user_control[1] == play.msid for m in begins):
        fail(f"StreamBegin for stream {play.msid}", f"StreamBegin for {[m.user_control[1] for m in begins]}",
             offending=begins[0])


def observe_stream_end(ctx, how: str):
    """The publisher stops (``how``: deleteStream, or the TCP connection closes): is the player told?"""
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    items = av_sequence(2, seed=71)
    pub.send_all(items)
    play.wait_media(len(items))
    mark = len(play.s.inbox)
    if how == "delete-stream":
        pub.s.send_cmd(messages.fc_unpublish(pub.key, pub.s.next_tid()))
        pub.s.send_cmd(messages.delete_stream(pub.msid))
    else:
        pub.s.close()

    def told():
        for m in play.s.inbox[mark:]:
            if m.user_control and m.user_control[0] == control.STREAM_EOF:
                return "eof" if m.user_control[1] == play.msid else "eof-other"
            if m.name == "onStatus" and m.code in ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop",
                                                   "NetStream.Play.Complete"):
                return "status"
        return None

    try:
        play.s.wait_until(lambda: told() is not None or play.s.closed, "StreamEOF or UnpublishNotify")
    except StepTimeout:
        return observed("silent", f"nothing within {ctx.step_timeout} s after the publisher stopped ({how})")
    if told() == "eof-other":
        bad = next(m for m in play.s.inbox[mark:] if m.user_control and m.user_control[0] == control.STREAM_EOF)
        return observed("wrong-stream", f"Stream EOF for stream {bad.user_control[1]}, the player's is {play.msid}",
                        offending=bad)
    if told():
        return observed("told", told())
    return observed("closed", "the player's connection was closed instead")


def observe_metadata(ctx, kind: str, wrapped: bool):
    """onMetaData as ``kind`` (ECMA array / object), ``wrapped`` in @setDataFrame or not: the player gets onMetaData."""
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    dm = metadata(kind, wrapped, extra={"x-conformance": "kept?"})
    pub.metadata(dm)
    items = av_sequence(2, seed=72)
    pub.send_all(items)
    play.wait_media(len(items))
    play.s.drain(0.05)
    data = [m.data for m in play.data() if m.data]
    metas = [d for d in data if "onMetaData" in d.values]
    if not metas:
        return observed("missing", f"data messages received: {[d.values[:1] for d in data]}")
    d = metas[0]
    if d.values and d.values[0] == "@setDataFrame":
        return observed("wrapped", "the player got '@setDataFrame' 'onMetaData' (the publisher's wrapper)")
    obj = d.metadata or {}
    if obj.get("width") != 320.0 or obj.get("height") != 240.0:
        return observed("values-lost", f"onMetaData without our width/height: {dict(obj)!r}")
    if obj.get("x-conformance") != "kept?":
        ctx.note("the server rewrote the metadata (our custom property is gone)")
    return observed("relayed")


def observe_data(ctx):
    """An onTextData data message between media: does it reach the player? The relay keeps the publisher's order
    (RTMP 7.1), so once the media sent after it have arrived, a data message that has not is dropped; if those
    media do not arrive either, the relay is broken and nothing can be said of data messages."""
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    head = av_sequence(1, seed=73)
    pub.send_all(head)
    pub.s.send_data(DataMessage(("onTextData", {"text": "conformance", "lang": "en"}), pub.msid, 40))
    items = av_sequence(2, seed=74, headers=False, start=80)
    pub.send_all(items)
    if not play.wait_payload(items[-1].payload):
        return observed("media-lost", f"{len(play.media())} of {len(head) + len(items)} media messages arrived; "
                                      "the last one, sent after the data message, did not")
    play.s.drain(0.05)
    if any(m.data and m.data.values[:1] == ("onTextData",) for m in play.data()):
        return observed("relayed")
    return observed("dropped", "the media sent after it arrived, the data message did not")


def observe_aggregate(ctx):
    """An aggregate message (audio, video, audio sub-messages, timestamp offset +1000): relayed with normalised timestamps?"""
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    head = av_sequence(1, seed=75, with_audio=False)
    pub.send_all(head)
    rnd = random.Random(76)
    subs = [SubMessage(AUDIO, 100, 0, aac(1, rnd.randbytes(200))),
            SubMessage(VIDEO, 120, 0, legacy_video(2, 7, avc_nalu(False, 700, 77), avc_packet_type=1)),
            SubMessage(AUDIO, 123, 0, aac(1, rnd.randbytes(210)))]
    body = build_aggregate(subs)
    pub.s.send(Message(MessageType.AGGREGATE, body, 1100, pub.msid, 6))  # offset +1000 (RTMP 7.1.6)
    expected = head + [Item(s.type_id, s.timestamp + 1000, s.payload, "sub") for s in subs]
    got = play.wait_media(len(expected), timeout=min(1.5, ctx.step_timeout))
    if len(got) <= len(head):
        return observed("dropped", "no sub-message reached the player")
    problem = compare_relay(expected, got)
    if problem:
        return observed("wrong", problem[0], offending=problem[1])
    return observed("relayed")


def observe_aggregate_extended(ctx):
    """An aggregate (timestamp 0x01000010 + 1000) whose sub-messages sit past 2^24 (0x01000010, 0x01000038,
    0x01000051; the high byte in the FLV-layout extended byte) and carry message stream id 77: the player gets
    them on its own play stream at 0x010003F8, 0x01000420, 0x01000439 (relayed split or as an aggregate whose
    back pointers are each 11 + the sub-message's size)."""
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    rnd = random.Random(79)
    base = 0x01000010
    head = [Item(VIDEO, base + 900, legacy_video(1, 7, avcc(), avc_packet_type=0), "avc-seq"),
            Item(AUDIO, base + 900, aac(0, aac_config()), "aac-seq")]
    pub.send_all(head)
    subs = [SubMessage(AUDIO, base, 77, aac(1, rnd.randbytes(200))),
            SubMessage(VIDEO, base + 0x28, 77, legacy_video(1, 7, avc_nalu(True, 700, 80), avc_packet_type=1)),
            SubMessage(AUDIO, base + 0x41, 77, aac(1, rnd.randbytes(210)))]
    pub.s.send(Message(MessageType.AGGREGATE, build_aggregate(subs), base + 1000, pub.msid, 6))
    expected = head + [Item(s.type_id, s.timestamp + 1000, s.payload, "sub") for s in subs]
    got = play.wait_media(len(expected), timeout=min(1.5, ctx.step_timeout))
    if len(got) <= len(head):
        return observed("dropped", "no sub-message reached the player")
    raw = [m for m in play.s.inbox if m.type_id == MessageType.AGGREGATE]
    for m in raw:
        try:
            split_aggregate(m.msg)
        except Exception as exc:  # noqa: BLE001 - a wrong back pointer or layout
            return observed("wrong", f"the relayed aggregate does not split: {exc}", offending=m)
    problem = compare_relay(expected, got, exact_timestamps=True)
    if problem:
        return observed("wrong", problem[0], offending=problem[1])
    wrong_msid = [m for m in got if m.msid != play.msid]
    if wrong_msid:
        return observed("wrong", f"a sub-message on message stream {wrong_msid[0].msid}, the play stream is "
                                 f"{play.msid} (the aggregate's stream id overrides the sub-messages')",
                        offending=wrong_msid[0])
    return observed("relayed")


def check_audio_ahead(ctx):
    """Audio sent 300 ms ahead of video (each type in order, not in timestamp order across types): the player gets
    every message of each type, in the publisher's order, with its deltas (errata 5.2)."""
    items = av_sequence(12, seed=81)
    audio = [i for i in items if i.type_id == AUDIO]
    video_items = [i for i in items if i.type_id == VIDEO]
    order, vi = [], 0
    for a in audio:
        while vi < len(video_items) and video_items[vi].timestamp + 300 <= a.timestamp:
            order.append(video_items[vi])
            vi += 1
        order.append(a)
    order += video_items[vi:]
    _relay(ctx, order)


def observe_legacy_cts_and_commands(ctx):
    """Legacy AVC (FLV E.4.3.1) with composition times 0, 80, -40, 40 and video info/command frames (frame type 5:
    StartSeek, EndSeek, after the AVC packet type and composition time): relayed byte-exact, or the command frames
    dropped; never a broken stream."""
    def command(c: int) -> bytes:
        return media.VIDEODATA.build({"header": {"isExVideoHeader": 0, "FrameType": 5, "CodecID": 7,
                                                 "videoPacketType": None}, "AVCPacketType": 1, "CompositionTime": 0,
                                      "VideoCommand": c, "ex": None, "data": b""})

    items = [Item(VIDEO, 0, legacy_video(1, 7, avcc(), avc_packet_type=0), "avc-seq")]
    for i, cts in enumerate((0, 80, -40, 40)):
        items.append(Item(VIDEO, 40 * i, legacy_video(1 if i == 0 else 2, 7, avc_nalu(i == 0, 900, 82 + i),
                                                       avc_packet_type=1, cts=cts), f"cts {cts}"))
    cmds = [Item(VIDEO, 160, command(0), "start-seek"), Item(VIDEO, 160, command(1), "end-seek")]
    tail = [Item(VIDEO, 160, legacy_video(1, 7, avc_nalu(True, 900, 90), avc_packet_type=1), "key")]
    sent = items + cmds + tail
    pub, play = ctx.relay_pair()
    pub.send_all(sent)
    got = play.wait_media(len(sent), timeout=min(1.5, ctx.step_timeout))
    if compare_relay(sent, got) is None:
        return observed("relayed")
    if compare_relay(items + tail, got) is None:
        return observed("commands-dropped")
    problem = compare_relay(sent, got)
    return observed("altered", problem[0], offending=problem[1])


def observe_backwards(ctx):
    """Audio timestamps 0, 1000, 500, 1040 (Type 0 headers): what the player gets is recorded."""
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    rnd = random.Random(78)
    items = [Item(AUDIO, 0, aac(0, aac_config()), "seq"), Item(AUDIO, 1000, aac(1, rnd.randbytes(100)), "a"),
             Item(AUDIO, 500, aac(1, rnd.randbytes(100)), "back"), Item(AUDIO, 1040, aac(1, rnd.randbytes(100)), "c")]
    for it in items:
        pub.s.send(Message(AUDIO, it.payload, it.timestamp, pub.msid, 4), fmt=0)
    got = [m for m in play.wait_media(len(items), timeout=min(1.0, ctx.step_timeout)) if m.type_id == AUDIO]
    bad = play.foreign(items)
    if bad is not None:
        return observed("altered", "a message the publisher never sent (altered on the way)", offending=bad)
    return observed("recorded", f"timestamps relayed: {[m.timestamp for m in got]} (sent 0, 1000, 500, 1040)")


def observe_ertmp(ctx, which: str):
    """E-RTMP / HEVC media (``which``): relayed byte-exact, dropped, or altered?"""
    seqs = {"hvc1": lambda: ex_sequence(b"hvc1"), "av01": lambda: ex_sequence(b"av01"),
            "vp09": lambda: ex_sequence(b"vp09"), "opus": opus_sequence, "codecid12": hevc_codecid12_sequence,
            "multitrack": multitrack_sequence}
    items = seqs[which]()
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    pub.send_all(items)
    got = play.wait_media(len(items), timeout=min(1.5, ctx.step_timeout))
    if not got:
        return observed("dropped", "nothing reached the player")
    problem = compare_relay(items, got)
    if problem:
        if len(got) < len(items) and all(m.payload in [i.payload for i in items] for m in got):
            return observed("partial", problem[0], offending=problem[1])
        return observed("altered", problem[0], offending=problem[1])
    return observed("relayed")


def observe_ertmp_late(ctx):
    """A late player of an hvc1 E-RTMP stream: does it get the FourCC SequenceStart first?"""
    items = ex_sequence(b"hvc1", n=8)
    pub = ctx.publisher()
    pub.send_all(items[:4])
    late = ctx.player(pub.key, label="late")
    pub.send_all(items[4:])
    late.wait_payload(items[-1].payload, timeout=min(1.5, ctx.step_timeout))
    vids = [m for m in late.media() if m.type_id == VIDEO]
    if not vids:
        return observed("nothing")
    bad = late.foreign(items)
    if bad is not None:
        return observed("altered", "a message the publisher never sent (altered on the way)", offending=bad)
    if vids[0].payload == items[0].payload:
        return observed("sequence-start-first")
    return observed("no-sequence-start", f"first video: {media.describe_video(vids[0].payload).get('packet_type_name')}")


def observe_connect_caps(ctx):
    """connect with fourCcList, videoFourCcInfoMap, audioFourCcInfoMap and capsEx (E-RTMP v2): accepted?"""
    s = ctx.session()
    props = media.connect_properties()
    try:
        res = s.connect(extra=props)
    except DriverError as exc:
        return observed("refused", str(exc))
    if res.name != "_result":
        return observed("refused", f"{res.name} {res.code}", offending=res)
    obj = res.command.command_object if isinstance(res.command.command_object, dict) else {}
    info = next((a for a in res.command.args if isinstance(a, dict)), {})
    caps = media.parse_connect_caps({**info, **obj})
    if caps.enhanced:
        ctx.note(f"the server declares E-RTMP capabilities: {caps.__json__()}")
    return observed("accepted")


CASES = [
    Case("contract-publish-play-relay", "contract-relay", check_contract,
         doc="publish on app/key, play app/key: a player receives what the publisher sends"),
    Case("7.1.5-video-only-relay", "7.1.5-video-relay", check_relay, {"kind": "video-only"}, relay=True),
    Case("7.1.4-audio-only-relay", "7.1.4-audio-relay", check_relay, {"kind": "audio-only"}, relay=True),
    Case("7.1-av-interleaved-relay", "7.1-av-relay", check_relay, {"kind": "av"}, relay=True,
         doc="1 s of 25 fps H.264 (5 KB keyframes) and AAC, as an encoder sends it"),
    Case("7.1-three-players", "7.1-av-relay", check_several_players, {"n": 3}, relay=True),
    Case("7.1-large-message-900k", "7.1-large-message", check_large, {"size": 900_000}, relay=True,
         refs=("nginx-rtmp 324",)),
    Case("7.1-play-message-stream-id", "7.1-play-message-stream", observe_play_msid, relay=True,
         accept={"same": V.PASS, "other": V.FAIL}),
    Case("7.1-late-joiner-metadata-and-headers-first", "7.1-late-joiner-config-first", check_late_config,
         relay=True),
    Case("7.1-late-joiner-starts-on-keyframe", "7.1-late-joiner-keyframe", check_late_keyframe, relay=True),
    Case("7.1.7-stream-begin-for-player", "7.1.7-stream-begin", check_stream_begin, relay=True),
    Case("7.1.7-stream-end-on-delete-stream", "7.1.7-stream-end", observe_stream_end, {"how": "delete-stream"},
         relay=True, accept={"told": V.PASS, "closed": (V.PASS, "closed the player"), "silent": V.FAIL,
                             "wrong-stream": V.FAIL}),
    Case("7.1.7-stream-end-on-publisher-disconnect", "7.1.7-stream-end", observe_stream_end, {"how": "disconnect"},
         relay=True, accept={"told": V.PASS, "closed": (V.PASS, "closed the player"), "silent": V.FAIL,
                             "wrong-stream": V.FAIL}),
    Case("7.1.2-metadata-setdataframe-ecma", "7.1.2-metadata-relay", observe_metadata,
         {"kind": "ecma", "wrapped": True}, relay=True, refs=("nginx-rtmp PR 755",),
         accept={"relayed": V.PASS, "wrapped": V.FAIL, "missing": V.FAIL, "values-lost": V.FAIL},
         doc="what ffmpeg and OBS send: @setDataFrame, onMetaData, ECMA array"),
    Case("7.1.2-metadata-setdataframe-object", "7.1.2-metadata-relay", observe_metadata,
         {"kind": "object", "wrapped": True}, relay=True, refs=("nginx-rtmp PR 755",),
         accept={"relayed": V.PASS, "wrapped": V.FAIL, "missing": V.FAIL, "values-lost": V.FAIL}),
    Case("7.1.2-metadata-plain-ecma", "7.1.2-metadata-relay", observe_metadata,
         {"kind": "ecma", "wrapped": False}, relay=True, refs=("nginx-rtmp PR 755",),
         accept={"relayed": V.PASS, "wrapped": V.FAIL, "missing": V.FAIL, "values-lost": V.FAIL},
         doc="onMetaData without @setDataFrame (older encoders)"),
    Case("7.1.2-metadata-plain-object", "7.1.2-metadata-relay", observe_metadata,
         {"kind": "object", "wrapped": False}, relay=True, refs=("nginx-rtmp PR 755",),
         accept={"relayed": V.PASS, "wrapped": V.FAIL, "missing": V.FAIL, "values-lost": V.FAIL}),
    Case("7.1.2-data-ontextdata", "7.1.2-data-relay", observe_data, relay=True,
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "data messages other than metadata are dropped"),
                 "media-lost": (V.FAIL, "media sent after the data message were lost")}),
    Case("7.1.6-aggregate-message", "7.1.6-aggregate", observe_aggregate, relay=True,
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "aggregate messages are dropped"),
                 "wrong": V.FAIL}),
    Case("7.1.6-aggregate-timestamps-past-24-bits", "7.1.6-aggregate", observe_aggregate_extended, relay=True,
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "aggregate messages are dropped"), "wrong": V.FAIL},
         doc="sub-message timestamps past 2^24 in the FLV layout (24 bits + the extended byte), stream id 77"),
    Case("7.1-audio-ahead-of-video", "7.1-av-relay", check_audio_ahead, relay=True,
         doc="audio sent 300 ms ahead of video: every message of each type, in order"),
    Case("flv-E.4.3.1-avc-composition-times-and-command-frames", "7.1.5-video-relay",
         observe_legacy_cts_and_commands, relay=True,
         accept={"relayed": V.PASS, "altered": V.FAIL,
                 "commands-dropped": (V.INFORMATIONAL, "video command frames are dropped, the video goes on")}),
    Case("errata-5.2-timestamp-backwards", "errata-5.2-timestamp-backwards", observe_backwards, relay=True,
         accept={"recorded": V.INFORMATIONAL, "altered": V.FAIL}),
    Case("ertmp-hvc1-relay", "ertmp-video-fourcc", observe_ertmp, {"which": "hvc1"}, relay=True,
         refs=("MediaMTX 1621", "MediaMTX 5105"),
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "E-RTMP video dropped"), "altered": V.FAIL,
                 "partial": (V.FAIL, "some E-RTMP messages lost on the way")}),
    Case("ertmp-av01-relay", "ertmp-video-fourcc", observe_ertmp, {"which": "av01"}, relay=True,
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "E-RTMP video dropped"), "altered": V.FAIL,
                 "partial": (V.FAIL, "some E-RTMP messages lost on the way")}),
    Case("ertmp-vp09-relay", "ertmp-video-fourcc", observe_ertmp, {"which": "vp09"}, relay=True,
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "E-RTMP video dropped"), "altered": V.FAIL,
                 "partial": (V.FAIL, "some E-RTMP messages lost on the way")}),
    Case("ertmp-opus-relay", "ertmp-audio-fourcc", observe_ertmp, {"which": "opus"}, relay=True,
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "E-RTMP audio dropped"), "altered": V.FAIL,
                 "partial": (V.FAIL, "some E-RTMP messages lost on the way")}),
    Case("ertmp-multitrack-relay", "ertmp-multitrack", observe_ertmp, {"which": "multitrack"}, relay=True,
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "multitrack dropped"), "altered": V.FAIL,
                 "partial": (V.FAIL, "some multitrack messages lost on the way")}),
    Case("flv-codecid12-hevc-relay", "flv-codecid12-hevc", observe_ertmp, {"which": "codecid12"}, relay=True,
         refs=("MediaMTX 1621", "MediaMTX 5105"),
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "CodecID 12 dropped"), "altered": V.FAIL,
                 "partial": (V.FAIL, "some CodecID 12 messages lost on the way")}),
    Case("ertmp-late-joiner-sequence-start", "ertmp-late-joiner-sequence-start", observe_ertmp_late, relay=True,
         accept={"sequence-start-first": V.PASS,
                 "no-sequence-start": (V.UNSUPPORTED, "E-RTMP sequence headers are not cached"),
                 "nothing": (V.UNSUPPORTED, "nothing relayed to a late E-RTMP player"), "altered": V.FAIL}),
    Case("ertmp-connect-fourcclist-capsex", "ertmp-connect-caps", observe_connect_caps,
         accept={"accepted": V.PASS, "refused": V.FAIL}),
]


@parametrize(CASES)
def test_media(case, conformance):
    conformance.run(case)


__all__ = ["CASES", "informational"]
