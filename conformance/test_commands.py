"""NetStream command cases (RTMP 1.0 7.2.2, errata 8.3): publish, play, deleteStream, closeStream, pause, seek,
receiveAudio / receiveVideo, play2, the onStatus format, and the commands ffmpeg, OBS and rtmpdump send around
publish and play (releaseStream, FCPublish, FCUnpublish, getStreamLength, FCSubscribe). The NetConnection commands
(connect, createStream, call, ...) are in :mod:`conformance.test_netconnection`.

Where RTMP 1.0 is silent the expected behaviour is what ffmpeg / nginx-rtmp / FMS do, and the case says so.
"""

from __future__ import annotations

from rtmpspec import messages
from rtmpspec.messages import Command

from .case import Case, contract, parametrize
from .driver import Closed, DriverError, StepTimeout
from .payloads import AUDIO, VIDEO, av_sequence
from .test_control import barrier
from .verdicts import Verdict, fail, observed

V = Verdict


# -- publish / play ------------------------------------------------------------------------------------------------


def check_publish_start(ctx):
    """publish (live) on a created stream: onStatus NetStream.Publish.Start on that message stream."""
    s = ctx.connected()
    sid = ctx.create_stream(s)
    st = s.publish(ctx.key())
    if st.code != "NetStream.Publish.Start":
        fail("onStatus NetStream.Publish.Start", f"{st.name} {st.code}", offending=st)
    if st.msid != sid:
        fail(f"onStatus on message stream {sid}", f"message stream {st.msid}", offending=st)


def check_onstatus_format(ctx):
    """Every onStatus of a publish and a play: tid 0, null command object, level/code strings; a NetStream status
    (message stream id other than 0) also a description string (E-RTMP v2: optional on the NetConnection)."""
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    statuses = [m for m in pub.s.inbox + play.s.inbox if m.name == "onStatus"]
    if not statuses:
        fail("onStatus messages for publish and play", "none")
    for m in statuses:
        c = m.command
        info = c.args[0] if c.args else None
        if c.transaction_id != 0:
            fail("transaction id 0", f"{c.transaction_id:g}", offending=m)
        if c.command_object is not None:
            fail("a null command object", f"{c.command_object!r}", offending=m)
        if not isinstance(info, dict):
            fail("an info object", f"{info!r}", offending=m)
        for k in ("level", "code", "description") if m.msid != 0 else ("level", "code"):
            if not isinstance(info.get(k), str):
                fail(f"a string {k!r} in the info object", f"{info.get(k)!r}", offending=m)
        if info["level"] not in ("status", "warning", "error"):
            fail("level status, warning or error", repr(info["level"]), offending=m)


def observe_publish_kind(ctx, kind: str | None):
    """publish with type ``kind`` (None: the argument is left out): started or refused?"""
    s = ctx.connected()
    sid = ctx.create_stream(s)
    key = ctx.key()
    args = (key,) if kind is None else (key, kind)
    s.send_cmd(Command("publish", 0, None, args, sid), csid=5)
    try:
        st = s.expect_status(("NetStream.Publish", "NetStream.Record"), f"onStatus for publish {kind or '(no type)'}")
    except Closed:
        return observed("closed", "closed the connection")
    if st.code == "NetStream.Publish.Start":
        return observed("started")
    return observed("refused", f"{st.name} {st.code}", offending=st)


def observe_duplicate(ctx):
    """A second publisher on a key already published: refused, and the first publisher still reaches players."""
    first = ctx.publisher(label="pub1")
    s2 = ctx.connected("pub2")
    ctx.create_stream(s2)
    try:
        st = s2.publish(first.key)
        outcome = "accepted" if st.code == "NetStream.Publish.Start" else "refused"
        detail = f"{st.name} {st.code}"
    except Closed:
        outcome, detail = "refused", "closed the second publisher's connection"
    except StepTimeout:
        outcome, detail = "silent", "no answer to the second publish"
    first.s.drain(0.05)
    if first.s.closed or any(m.code and "Unpublish" in m.code for m in first.s.inbox):
        return observed("took-over" if outcome == "accepted" else "first-broken",
                        f"second publisher: {detail}; the first publisher was stopped")
    ok, _ = contract(ctx.settings)
    if ok:
        play = ctx.player(first.key)
        items = av_sequence(3, seed=41)
        first.send_all(items)
        how, what, bad = play.relayed(items)
        if how != "intact":
            return observed("first-broken", f"second publisher: {detail}; the first publisher's media no longer "
                                            f"reaches a player intact: {what}", offending=bad)
    if outcome == "accepted":
        return observed("accepted-both", detail)
    return observed(outcome, detail)


def check_play_start(ctx):
    """play of a published key: onStatus NetStream.Play.Start (after an optional Play.Reset) on the play stream."""
    pub = ctx.publisher()
    s = ctx.connected("play")
    sid = ctx.create_stream(s)
    st = s.play(pub.key)
    if st.code not in ("NetStream.Play.Start", "NetStream.Play.Reset"):
        fail("onStatus NetStream.Play.Start", f"{st.name} {st.code}", offending=st)
    if st.code == "NetStream.Play.Reset":
        st = s.expect_status(("NetStream.Play.Start",), "onStatus NetStream.Play.Start after Play.Reset")
    if st.msid != sid:
        fail(f"onStatus on message stream {sid}", f"message stream {st.msid}", offending=st)


def observe_play_reset(ctx, reset: bool):
    """play of a published key with the reset flag set to ``reset`` explicitly: Play.Reset before Play.Start exactly
    when reset is true (RTMP 1.0 7.2.2.1)."""
    pub = ctx.publisher()
    s = ctx.connected("play")
    sid = ctx.create_stream(s)
    s.send_cmd(messages.play(pub.key, -2, -1, reset, msid=sid), csid=8)
    st = s.expect_status(("NetStream.Play.Start", "NetStream.Play.StreamNotFound", "NetStream.Play.Failed"),
                 f"onStatus NetStream.Play.Start for play with reset {str(reset).lower()}")
    if st.code != "NetStream.Play.Start":
        with ctx.setup("play of a published key"):
            raise DriverError(f"play answered {st.name} {st.code}")
    resets = [m for m in s.inbox if m.name == "onStatus" and m.code == "NetStream.Play.Reset"]
    if reset and not resets:
        return observed("no-reset", "Play.Start without a Play.Reset before it although reset was true", offending=st)
    if not reset and resets:
        return observed("reset", "NetStream.Play.Reset although the play command set reset false",
                        offending=resets[0])
    return observed("as-asked", "Play.Reset then Play.Start" if reset else "Play.Start without Play.Reset")


def observe_play_before_publish(ctx):
    """play (start -2) of a key nobody publishes, then a publisher starts: does the player get the media?"""
    key = ctx.key()
    s = ctx.connected("play")
    ctx.create_stream(s)
    try:
        st = s.play(key)
    except StepTimeout:
        st = None
    if st is not None and st.code and ("NotFound" in st.code or (st.command.status or {}).get("level") == "error"):
        return observed("not-found", f"{st.name} {st.code}", offending=st)
    pub = ctx.publisher(key)
    items = av_sequence(3, seed=43)
    pub.send_all(items)
    from .case import Player

    play = Player(s, key, s.stream_ids[-1])
    how, what, bad = play.relayed(items)
    if how == "intact":
        return observed("waited", f"{st.code if st else 'no status'} then the live stream once published")
    if how == "altered":
        return observed("altered", f"{st.code if st else 'no status'}; the stream arrived, but: {what}", offending=bad)
    return observed("no-media", f"{st.code if st else 'no status'}; nothing after the stream was published")


def observe_play_missing_live(ctx):
    """play (start -1, live only) of a key nobody publishes: onStatus NetStream.Play.StreamNotFound expected."""
    s = ctx.connected()
    ctx.create_stream(s)
    s.send_cmd(messages.play(ctx.key(), -1, msid=s.stream_ids[-1]), csid=8)
    try:
        st = s.expect_status(("NetStream.Play",), "onStatus for play (start -1) of a missing stream",
                     timeout=min(1.0, ctx.step_timeout))
    except Closed:
        return observed("closed")
    except StepTimeout:
        return observed("silent", "no onStatus within 1 s")
    if st.code == "NetStream.Play.StreamNotFound":
        return observed("not-found", f"{st.name} {st.code}")
    if st.code in ("NetStream.Play.Start", "NetStream.Play.Reset"):
        return observed("start-and-wait", f"{st.name} {st.code}: the server waits for a live stream", offending=st)
    return observed("other", f"{st.name} {st.code}", offending=st)


def check_delete_stream(ctx):
    """A publisher sends deleteStream on message stream 0 (errata 8.3): no response, the session goes on, the name can be published again."""
    pub = ctx.publisher()
    s = pub.s
    s.send_cmd(messages.delete_stream(pub.msid))  # errata 8.3: on message stream 0
    if barrier(s, "after deleteStream") != "ok":
        fail("the connection stays usable after deleteStream", "no answer to createStream")
    if any(m.command and m.command.transaction_id == 0 and m.name in ("_result", "_error") for m in s.inbox):
        bad = next(m for m in s.inbox if m.command and m.command.transaction_id == 0 and
                   m.name in ("_result", "_error"))
        fail("no response to deleteStream", f"{bad.name}", offending=bad)
    sid = s.create_stream()
    st = s.publish(pub.key, msid=sid)
    if st.code != "NetStream.Publish.Start":
        fail("the deleted stream's name can be published again", f"{st.name} {st.code}", offending=st)


def observe_close_stream(ctx):
    """A publisher sends closeStream on its stream: the stream ends and the name can be published again."""
    pub = ctx.publisher()
    s = pub.s
    s.send_cmd(messages.close_stream(pub.msid), csid=5)
    if barrier(s, "after closeStream") != "ok":
        return observed("closed", "no answer after closeStream")
    sid = s.create_stream()
    st = s.publish(pub.key, msid=sid)
    if st.code == "NetStream.Publish.Start":
        return observed("ended")
    return observed("still-published", f"{st.name} {st.code}", offending=st)


def check_fcpublish(ctx):
    pub = ctx.publisher(fc=True)
    s = pub.s
    s.send_cmd(messages.fc_unpublish(pub.key, s.next_tid()))
    s.send_cmd(messages.delete_stream(pub.msid))
    if barrier(s, "after FCUnpublish + deleteStream") != "ok":
        fail("the session goes on after FCUnpublish and deleteStream", "no createStream answer")
    if any(m.name == "onFCPublish" for m in s.inbox):
        ctx.note("the server answered FCPublish with onFCPublish")


def check_player_commands(ctx):
    pub = ctx.publisher()
    s = ctx.connected("play")
    sid = ctx.create_stream(s)
    s.send_cmd(messages.get_stream_length(pub.key, s.next_tid(), msid=sid), csid=8)
    s.send_cmd(Command("FCSubscribe", s.next_tid(), None, (pub.key,)))
    st = s.play(pub.key, msid=sid)
    if st.code not in ("NetStream.Play.Start", "NetStream.Play.Reset"):
        fail("play works after getStreamLength and FCSubscribe", f"{st.name} {st.code}", offending=st)


def observe_pause(ctx, unpause: bool):
    """pause true (and then false when ``unpause``) on a live play: NetStream.Pause.Notify / Unpause.Notify or _error."""
    pub, play = ctx.relay_pair()
    s = play.s
    s.send_cmd(messages.pause(True, 0.0, msid=play.msid), csid=8)
    want = ("NetStream.Pause.Notify",)
    if unpause:
        try:
            s.expect_status(want, "Pause.Notify", timeout=min(1.0, ctx.step_timeout))
        except StepTimeout:
            pass
        s.send_cmd(messages.pause(False, 0.0, msid=play.msid), csid=8)
        want = ("NetStream.Unpause.Notify",)
    b = barrier(s, "after pause")
    if b != "ok":
        return observed(b)
    s.drain(0.05)
    hit = [m for m in s.inbox if m.name == "onStatus" and m.code in want]
    err = [m for m in s.inbox if m.name == "_error" or (m.name == "onStatus" and m.command.status and
                                                         m.command.status.get("level") == "error")]
    if hit:
        return observed("notify", hit[0].code)
    if err:
        return observed("error", f"{err[0].name} {err[0].code}")
    return observed("ignored", "neither a notify status nor _error")


def observe_seek(ctx):
    """seek 0 on a live play: NetStream.Seek.Notify or _error."""
    pub, play = ctx.relay_pair()
    s = play.s
    s.send_cmd(messages.seek(0.0, msid=play.msid), csid=8)
    b = barrier(s, "after seek")
    if b != "ok":
        return observed(b)
    s.drain(0.05)
    if any(m.name == "onStatus" and m.code == "NetStream.Seek.Notify" for m in s.inbox):
        return observed("notify")
    if any(m.name == "_error" or (m.name == "onStatus" and (m.command.status or {}).get("level") == "error")
           for m in s.inbox):
        return observed("error")
    return observed("ignored", "neither NetStream.Seek.Notify nor _error")


def observe_receive(ctx, kind: str):
    """receiveVideo / receiveAudio false (``kind``) on a live play: that media type stops, the other continues."""
    pub, play = ctx.relay_pair()
    s = play.s
    builder = messages.receive_video if kind == "video" else messages.receive_audio
    before = len(s.inbox)
    s.send_cmd(builder(False, msid=play.msid), csid=8)
    if barrier(s, f"after receive{kind.title()} false") != "ok":
        return observed("closed")
    answers = [m for m in s.inbox[before:] if m.msid == play.msid and m.name in ("_result", "_error", "onStatus")]
    if answers:
        return observed("responded", f"receive{kind.title()} false was answered with {answers[0].name} "
                                     f"{answers[0].code or ''} (it draws no response)", offending=answers[0])
    mark = len(s.inbox)
    items = av_sequence(6, seed=47)
    pub.send_all(items)
    other = AUDIO if kind == "video" else VIDEO
    stopped = VIDEO if kind == "video" else AUDIO
    n_other = sum(1 for i in items if i.type_id == other)
    try:
        s.wait_until(lambda: sum(1 for m in s.inbox[mark:] if m.type_id == other) >= n_other,
                     f"the {'audio' if kind == 'video' else 'video'} messages")
    except StepTimeout:
        n = sum(1 for m in s.inbox[mark:] if m.type_id == other)
        if n:
            return observed("lost", f"{n} of {n_other} {'audio' if kind == 'video' else 'video'} messages arrived")
        return observed("both-stopped", "the other media type stopped too")
    sent = {i.payload for i in items}
    bad = next((m for m in s.inbox[mark:] if m.type_id in (AUDIO, VIDEO) and m.payload not in sent), None)
    if bad is not None:
        return observed("altered", "a message the publisher never sent (altered on the way)", offending=bad)
    leaked = [m for m in s.inbox[mark:] if m.type_id == stopped]
    # sequence headers may still be sent (they are configuration, not media)
    from rtmpspec.media import is_sequence_header

    leaked = [m for m in leaked if not is_sequence_header(m.type_id, m.payload)]
    if leaked:
        return observed("ignored", f"{len(leaked)} {kind} messages still arrived")
    return observed("stopped")


def observe_play2(ctx):
    """play2 (switch to the same stream) on a live play: the session and the media go on."""
    pub, play = ctx.relay_pair()
    s = play.s
    s.send_cmd(messages.play2({"streamName": pub.key, "oldStreamName": pub.key, "transition": "switch",
                               "start": -2.0, "len": -1.0, "offset": -1.0}, msid=play.msid), csid=8)
    b = barrier(s, "after play2")
    if b != "ok":
        return observed(b)
    items = av_sequence(2, seed=53)
    pub.send_all(items)
    play.wait_media(len(items))
    bad = play.foreign(items)
    if bad is not None:  # arrival is what play2 is about; intact or not is judged, never taken for "stopped"
        return observed("altered", "media after play2 that the publisher never sent (altered on the way)",
                        offending=bad)
    if play.media():
        return observed("playing")
    return observed("stopped", "no media after play2")


CASES = [
    Case("7.2.2.6-publish-live-start", "7.2.2.6-publish-start", check_publish_start),
    Case("7.2.2-onstatus-format", "7.2.2-onstatus-format", check_onstatus_format),
    Case("7.2.2.6-publish-record", "7.2.2.6-publish-record", observe_publish_kind, {"kind": "record"},
         accept={"started": V.PASS, "refused": (V.UNSUPPORTED, "no recording"), "closed": V.FAIL}),
    Case("7.2.2.6-publish-append", "7.2.2.6-publish-record", observe_publish_kind, {"kind": "append"},
         accept={"started": V.PASS, "refused": (V.UNSUPPORTED, "no recording"), "closed": V.FAIL}),
    Case("7.2.2.6-publish-type-omitted", "7.2.2.6-publish-type-omitted", observe_publish_kind, {"kind": None},
         accept={"started": V.PASS, "refused": V.FAIL, "closed": V.FAIL}),
    Case("7.2.2.6-publish-duplicate-key", "7.2.2.6-publish-duplicate", observe_duplicate,
         accept={"refused": V.PASS, "took-over": (V.INFORMATIONAL, "the second publisher replaces the first"),
                 "accepted-both": V.FAIL, "first-broken": V.FAIL, "silent": V.FAIL}),
    Case("7.2.2.1-play-start", "7.2.2.1-play-start", check_play_start),
    Case("7.2.2.1-play-reset-false", "7.2.2.1-play-reset", observe_play_reset, {"reset": False},
         accept={"as-asked": V.PASS, "reset": (V.FAIL, "Play.Reset for a play that did not set the reset flag")}),
    Case("7.2.2.1-play-reset-true", "7.2.2.1-play-reset", observe_play_reset, {"reset": True},
         accept={"as-asked": V.PASS, "no-reset": (V.FAIL, "no Play.Reset for a play that set the reset flag")}),
    Case("7.2.2.1-play-before-publish", "7.2.2.1-play-before-publish", observe_play_before_publish, relay=True,
         accept={"waited": V.PASS, "not-found": V.FAIL, "no-media": V.FAIL, "altered": V.FAIL}),
    Case("7.2.2.1-play-missing-live-only", "7.2.2.1-play-missing-live", observe_play_missing_live,
         accept={"not-found": V.PASS, "start-and-wait": (V.FAIL, "Play.Start for a live stream that does not exist"),
                 "other": (V.FAIL, "a status other than NetStream.Play.StreamNotFound"),
                 "silent": V.FAIL, "closed": V.FAIL}),
    Case("7.2.2.3-delete-stream-republish", "7.2.2.3-delete-stream", check_delete_stream),
    Case("7.2.2-close-stream-republish", "7.2.2-close-stream", observe_close_stream,
         accept={"ended": V.PASS, "still-published": V.FAIL, "closed": V.FAIL}),
    Case("fcpublish-releasestream-fcunpublish", "fcpublish-tolerated", check_fcpublish,
         doc="releaseStream + FCPublish before createStream/publish, FCUnpublish + deleteStream after (ffmpeg, OBS)"),
    Case("getstreamlength-fcsubscribe-before-play", "player-commands-tolerated", check_player_commands,
         doc="getStreamLength (ffmpeg) and FCSubscribe (rtmpdump) before play"),
    Case("7.2.2.8-pause", "7.2.2.8-pause", observe_pause, {"unpause": False}, relay=True,
         accept={"notify": V.PASS, "error": V.PASS, "ignored": V.FAIL, "closed": V.FAIL, "stalled": V.FAIL}),
    Case("7.2.2.8-unpause", "7.2.2.8-pause", observe_pause, {"unpause": True}, relay=True,
         accept={"notify": V.PASS, "error": V.PASS, "ignored": V.FAIL, "closed": V.FAIL, "stalled": V.FAIL}),
    Case("7.2.2.7-seek-live", "7.2.2.7-seek", observe_seek, relay=True,
         accept={"notify": V.PASS, "error": V.PASS, "ignored": V.FAIL, "closed": V.FAIL, "stalled": V.FAIL}),
    Case("7.2.2.5-receive-video-false", "7.2.2.5-receive-video", observe_receive, {"kind": "video"}, relay=True,
         accept={"stopped": V.PASS, "ignored": (V.UNSUPPORTED, "receiveVideo is ignored"),
                 "both-stopped": V.FAIL, "closed": V.FAIL, "lost": V.FAIL, "altered": V.FAIL, "responded": V.FAIL}),
    Case("7.2.2.4-receive-audio-false", "7.2.2.4-receive-audio", observe_receive, {"kind": "audio"}, relay=True,
         accept={"stopped": V.PASS, "ignored": (V.UNSUPPORTED, "receiveAudio is ignored"),
                 "both-stopped": V.FAIL, "closed": V.FAIL, "lost": V.FAIL, "altered": V.FAIL, "responded": V.FAIL}),
    Case("7.2.2.2-play2-switch", "7.2.2.2-play2", observe_play2, relay=True,
         accept={"playing": V.PASS, "stopped": (V.INFORMATIONAL, "play2 stopped the stream"), "closed": V.FAIL,
                 "stalled": V.FAIL, "altered": V.FAIL}),
]


@parametrize(CASES)
def test_commands(case, conformance):
    conformance.run(case)


__all__ = ["CASES"]
