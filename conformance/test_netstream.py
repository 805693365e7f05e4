"""NetConnection and NetStream behaviours of RTMP 1.0 7.2 and 7.3 beyond the basic commands: calls with any
arguments (errata 8.2), play with start -1 and a duration, receiveAudio/receiveVideo true, unpause, Stream Begin to a
publisher, and no data after Stream EOF until the client asks again."""

from __future__ import annotations

from rtmpspec import amf0, control, messages
from rtmpspec.messages import Command

from .case import Case, Player, parametrize
from .driver import Closed, DriverError, StepTimeout
from .payloads import AUDIO, VIDEO, Item, av_sequence, avc_nalu, legacy_video
from .test_control import barrier
from .verdicts import Verdict, fail, informational, observed

V = Verdict


def observe_call(ctx, variant: str):
    """A remote procedure call the server does not know, with transaction id 7 (``variant``: named 'call' itself,
    which is a client API method and never a command name; or with a command object and arguments of mixed AMF
    types): answered like any unknown procedure, carrying the transaction id."""
    s = ctx.connected()
    ctx.ready(s)
    tid = 7.0
    if variant == "named-call":
        cmd = Command("call", tid, None, ("cfProcedure",))
    else:
        cmd = Command("cfProcedure", tid, {"x-info": "object"},
                      (None, 3.0, "text", [1.0, "two"], amf0.ECMAArray({"k": "v"}), {"nested": {"a": True}}))
    s.send_cmd(cmd)
    b = barrier(s, f"after a call ({variant})")
    if b != "ok":
        return observed(b)
    s.drain(0.05, limit=0.2)
    r = [m for m in s.inbox if m.command and m.command.transaction_id == tid and m.name in ("_result", "_error")]
    if not r:
        return observed("ignored", "no answer with transaction id 7")
    return observed(r[0].name.lstrip("_"), f"{r[0].name} {r[0].code or ''}")


def observe_play_live_only(ctx):
    """play with start -1 (live only) of a key being published: NetStream.Play.Start and the live media."""
    pub = ctx.publisher()
    s = ctx.connected("play")
    sid = ctx.create_stream(s)
    s.send_cmd(messages.play(pub.key, -1, msid=sid), csid=8)
    try:
        st = s.expect_status(("NetStream.Play.Start", "NetStream.Play.StreamNotFound", "NetStream.Play.Failed"),
                     "onStatus NetStream.Play.Start for play start -1")
    except (Closed, StepTimeout) as exc:
        return observed("no-start", str(exc))
    if st.code != "NetStream.Play.Start":
        return observed("no-start", f"{st.name} {st.code}", offending=st)
    play = Player(s, pub.key, sid)
    items = av_sequence(3, seed=251)
    pub.send_all(items)
    how, what, bad = play.relayed(items)
    return observed({"intact": "live", "none": "no-media", "altered": "altered"}[how], what, offending=bad)


def observe_duration(ctx, duration: float):
    """play of a live key with duration ``duration`` s; the publisher sends 2 s of stream time at once: a positive
    duration plays that much stream time and stops; a negative one (other than -1) is taken as -1 (all of it)."""
    pub = ctx.publisher()
    s = ctx.connected("play")
    sid = ctx.create_stream(s)
    s.send_cmd(messages.play(pub.key, -2, duration, msid=sid), csid=8)
    with ctx.setup("play"):
        st = s.expect_status(("NetStream.Play.Start",), "onStatus NetStream.Play.Start")
        if st.code != "NetStream.Play.Start":
            raise DriverError(f"play answered {st.name} {st.code}")
    play = Player(s, pub.key, sid)
    items = av_sequence(50, seed=253)  # 0 .. 1960 ms
    pub.send_all(items)
    try:  # every message, or the end of the play (Play.Stop / Play.Complete / Stream EOF)
        s.wait_until(lambda: len(play.media()) >= len(items) or any(
            (m.name == "onStatus" and m.code in ("NetStream.Play.Stop", "NetStream.Play.Complete"))
            or (m.user_control and m.user_control[0] == control.STREAM_EOF) for m in s.inbox),
            "the stream or the end of the play", timeout=min(1.5, ctx.step_timeout))
    except StepTimeout:
        pass
    s.drain(0.1, limit=0.4)
    got = [m for m in play.media() if m.type_id in (AUDIO, VIDEO)]
    if not got:
        return observed("nothing", "no media arrived")
    span = max(m.timestamp for m in got) - min(m.timestamp for m in got)
    if span <= 1000 * max(duration, 0) + 200:
        return observed("stopped", f"media over {span} ms of stream time")
    return observed("kept-going", f"media over {span} ms of stream time")


def observe_receive_true(ctx, kind: str):
    """receiveAudio / receiveVideo (``kind``) false, then true: onStatus NetStream.Seek.Notify and
    NetStream.Play.Start answer the true, and that media type flows again."""
    pub, play = ctx.relay_pair()
    s = play.s
    builder = messages.receive_video if kind == "video" else messages.receive_audio
    t = VIDEO if kind == "video" else AUDIO
    s.send_cmd(builder(False, msid=play.msid), csid=8)
    if barrier(s, f"after receive{kind.title()} false") != "ok":
        return observed("closed")
    first = av_sequence(4, seed=255)
    pub.send_all(first)
    play.wait_media(len([i for i in first if i.type_id != t]), timeout=min(1.0, ctx.step_timeout))
    s.drain(0.05, limit=0.2)
    if any(m.type_id == t and m.payload in {i.payload for i in first[2:]} for m in play.media()):
        return observed("ignored", f"{kind} kept flowing after receive{kind.title()} false")
    mark = len(s.inbox)
    s.send_cmd(builder(True, msid=play.msid), csid=8)
    more = av_sequence(4, seed=256, headers=False, start=300)
    if barrier(s, f"after receive{kind.title()} true") != "ok":
        return observed("closed")
    pub.send_all(more)
    want = {i.payload for i in more if i.type_id == t}
    try:
        s.wait_until(lambda: any(m.payload in want for m in s.inbox[mark:]), f"{kind} after receive{kind.title()} true")
    except StepTimeout:
        return observed("not-resumed", f"no {kind} after receive{kind.title()} true")
    codes = [m.code for m in s.inbox[mark:] if m.name == "onStatus"]
    if "NetStream.Seek.Notify" in codes and "NetStream.Play.Start" in codes:
        return observed("notified")
    return observed("no-status", f"{kind} resumed; statuses after the true: {codes}")


def observe_unpause_timestamps(ctx):
    """pause at the stream time T of the last frame received, the publisher goes on, unpause: nothing with a
    timestamp at or before T arrives after NetStream.Unpause.Notify."""
    pub, play = ctx.relay_pair()
    s = play.s
    items = av_sequence(5, seed=257)
    pub.send_all(items)
    play.wait_media(len(items))
    t_pause = max(m.timestamp for m in play.media())
    s.send_cmd(messages.pause(True, float(t_pause), msid=play.msid), csid=8)
    try:
        s.expect_status(("NetStream.Pause.Notify",), "Pause.Notify", timeout=min(1.0, ctx.step_timeout))
    except StepTimeout:
        return observed("no-pause", "no NetStream.Pause.Notify (pause is not supported)")
    # inter frames only: the GOP that started before the pause is still the current one
    pub.send_all([Item(VIDEO, t_pause + 40 * i, legacy_video(2, 7, avc_nalu(False, 600, 258 + i), avc_packet_type=1),
                       "inter-while-paused") for i in range(1, 7)])
    barrier(pub.s, "after more media")
    mark = len(s.inbox)
    s.send_cmd(messages.pause(False, float(t_pause), msid=play.msid), csid=8)
    try:
        s.expect_status(("NetStream.Unpause.Notify",), "Unpause.Notify", timeout=min(1.0, ctx.step_timeout))
    except StepTimeout:
        return observed("no-pause", "no NetStream.Unpause.Notify")
    # a server may wait for a keyframe after the unpause: one follows
    later = [Item(VIDEO, t_pause + 1000 + 40 * i, legacy_video(1 if i == 1 else 2, 7, avc_nalu(i == 1, 600, 270 + i),
                                                                 avc_packet_type=1), "key" if i == 1 else "inter")
             for i in range(3)]
    pub.send_all(later)
    try:
        s.wait_until(lambda: any(m.payload == later[-1].payload for m in s.inbox[mark:]), "media after the unpause")
    except StepTimeout:
        return observed("stopped", "no media after NetStream.Unpause.Notify")
    old = [m for m in s.inbox[mark:] if m.type_id in (AUDIO, VIDEO) and m.timestamp <= t_pause
           and not _is_header(m)]
    if old:
        return observed("older", f"after the unpause, media at {old[0].timestamp} ms (paused at {t_pause} ms)",
                        offending=old[0])
    return observed("newer")


def _is_header(m) -> bool:
    from rtmpspec.media import is_sequence_header

    return is_sequence_header(m.type_id, m.payload)


def observe_publish_stream_begin(ctx):
    """publish: the publisher gets User Control Stream Begin for its stream (RTMP 1.0 7.3.1)."""
    pub = ctx.publisher()
    barrier(pub.s, "after publish")
    if any(m.user_control and m.user_control[0] == control.STREAM_BEGIN and m.user_control[1] == pub.msid
           for m in pub.s.inbox):
        return observed("sent")
    return observed("absent", f"no Stream Begin for stream {pub.msid} to the publisher")


def observe_no_data_after_eof(ctx):
    """A player gets Stream EOF when its publisher stops; the same key is published again: no media reaches that
    play stream before the server starts it anew (Stream Begin or Play.Start) or the client plays again."""
    pub = ctx.publisher(label="pub1")
    play = ctx.player(pub.key)
    items = av_sequence(2, seed=261)
    pub.send_all(items)
    play.wait_media(len(items))
    pub.s.send_cmd(messages.delete_stream(pub.msid))
    s = play.s
    try:
        s.wait_until(lambda: any(m.user_control and m.user_control[0] == control.STREAM_EOF for m in s.inbox),
                     "Stream EOF", timeout=min(1.5, ctx.step_timeout))
    except StepTimeout:
        informational("no Stream EOF when the publisher stopped: nothing to check here (see 7.1.7-stream-end)")
    eof_at = next(i for i, m in enumerate(s.inbox) if m.user_control and m.user_control[0] == control.STREAM_EOF)
    pub2 = ctx.publisher(pub.key, label="pub2")
    more = av_sequence(2, seed=262, start=1000)
    pub2.send_all(more)
    s.drain(0.1, limit=min(1.0, ctx.step_timeout))
    for m in s.inbox[eof_at + 1:]:
        if (m.user_control and m.user_control[0] == control.STREAM_BEGIN and m.user_control[1] == play.msid) or \
                (m.name == "onStatus" and m.code in ("NetStream.Play.Start", "NetStream.Play.Reset")):
            return observed("restarted", "the server started the stream anew before its media")
        if m.type_id in (AUDIO, VIDEO) and m.msid == play.msid:
            return observed("data-after-eof", f"media on stream {play.msid} after Stream EOF, no new start",
                            offending=m)
    return observed("quiet", "no media on the ended play stream")


CASES = [
    Case("7.2.1.2-call-named-call", "7.2-unknown-command", observe_call, {"variant": "named-call"},
         accept={"error": V.PASS, "result": (V.INFORMATIONAL, "answered _result"), "ignored": V.FAIL,
                 "closed": V.FAIL, "stalled": V.FAIL},
         doc="a command named 'call' (errata 8.2: a client API method, never a command): like any unknown one"),
    Case("7.2.1.2-call-with-object-and-arguments", "7.2-unknown-command", observe_call, {"variant": "arguments"},
         accept={"error": V.PASS, "result": (V.INFORMATIONAL, "answered _result"), "ignored": V.FAIL,
                 "closed": V.FAIL, "stalled": V.FAIL},
         doc="a command object and arguments null, number, string, strict array, ECMA array, object"),
    Case("7.2.2.1-play-live-only-published", "7.2.2.1-play-start", observe_play_live_only, relay=True,
         accept={"live": V.PASS, "no-start": V.FAIL, "no-media": V.FAIL, "altered": V.FAIL}),
    Case("7.2.2.1-play-duration-1", "7.2.2.1-play-duration", observe_duration, {"duration": 1.0}, relay=True,
         accept={"stopped": V.PASS, "kept-going": (V.FAIL, "a positive duration is not honoured"),
                 "nothing": V.FAIL}),
    Case("7.2.2.1-play-duration-negative", "7.2.2.1-play-duration", observe_duration, {"duration": -5.0},
         relay=True, accept={"kept-going": V.PASS, "stopped": (V.FAIL, "duration -5 is taken as -1: play it all"),
                             "nothing": V.FAIL}),
    Case("7.2.2.4-receive-audio-true", "7.2.2.4-receive-true", observe_receive_true, {"kind": "audio"},
         relay=True, accept={"notified": V.PASS, "ignored": (V.UNSUPPORTED, "receiveAudio is ignored"),
                             "no-status": V.FAIL, "not-resumed": V.FAIL, "closed": V.FAIL, "stalled": V.FAIL}),
    Case("7.2.2.5-receive-video-true", "7.2.2.4-receive-true", observe_receive_true, {"kind": "video"},
         relay=True, accept={"notified": V.PASS, "ignored": (V.UNSUPPORTED, "receiveVideo is ignored"),
                             "no-status": V.FAIL, "not-resumed": V.FAIL, "closed": V.FAIL, "stalled": V.FAIL}),
    Case("7.2.2.8-unpause-newer-media-only", "7.2.2.8-pause", observe_unpause_timestamps, relay=True,
         accept={"newer": V.PASS, "older": V.FAIL, "stopped": V.FAIL,
                 "no-pause": (V.UNSUPPORTED, "pause is not supported")}),
    Case("7.3.1-publish-stream-begin", "7.3.1-publish-stream-begin", observe_publish_stream_begin,
         accept={"sent": V.PASS, "absent": V.FAIL}),
    Case("7.1.7-no-data-after-stream-eof", "7.1.7-stream-eof-no-data", observe_no_data_after_eof, relay=True,
         accept={"quiet": V.PASS, "restarted": V.PASS, "data-after-eof": V.FAIL}),
]


@parametrize(CASES)
def test_netstream(case, conformance):
    conformance.run(case)


__all__ = ["CASES", "fail", "Item"]
