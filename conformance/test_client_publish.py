"""Client mode, publishing clients (``pytest conformance --client ffmpeg-publish``): the battery plays the server
and judges what the client sends. Each case names the scenario whose recording it judges; cases on the same
scenario share one run of the client (see conformance/client/runner.py)."""

from __future__ import annotations

import pytest

from rtmpspec import handshake as hs
from rtmpspec.media import ErtmpCaps, parse_connect_caps

from .case import Case, parametrize
from .client import judge as J
from .client.scenarios_publish import OBSERVE, PING_VALUE, RECONNECT_APP
from .verdicts import Verdict, fail, informational, observed, unsupported

pytestmark = pytest.mark.rtmp_client("publish")
V = Verdict


# -- handshake -----------------------------------------------------------------------------------------------------


def check_c0(ctx, scenario: str = "pub-basic"):
    """C0 of the client's connection: the version byte must be 3."""
    peer = J.handshake_bytes(J.get_run(ctx, scenario), "C0 version 3")
    if peer.c0 != hs.RTMP_VERSION:
        fail("C0 version 3", f"C0 version {peer.c0}", offending={"offset": 0, "bytes": bytes(peer.hs_in[:1]).hex()})


def check_c1(ctx, scenario: str = "pub-basic"):
    """C1's zero field (bytes 4-7): zeros, or a Flash version together with a valid digest."""
    peer = J.handshake_bytes(J.get_run(ctx, scenario), "C1 zero field")
    zero = peer.c1[4:8]
    if zero == b"\0\0\0\0":
        return observed("zero", "C1 zero field is 0 (spec handshake)")
    if J.c1_digest(peer):
        return observed("digest", f"C1 zero field {zero.hex()} with a valid Flash Player digest (digest handshake)")
    fail("C1 zero field all zeros (or a valid digest)", f"zero field {zero.hex()} and no valid digest",
         offending={"offset": 5, "bytes": peer.c1[:16].hex()})


def check_c2(ctx, scenario: str = "pub-basic"):
    """C2 against our S1: time and random echo (RTMP 5.2.4), or the digest signature when both sides used the
    digest handshake."""
    peer = J.handshake_bytes(J.get_run(ctx, scenario), "C2 echoes S1")
    c2, s1 = peer.c2, peer.s1
    if hs.echo_matches(c2, s1):
        return observed("echo", "C2 echoes S1's time and random bytes")
    our = J.s1_digest(peer)
    if our is not None and J.c1_digest(peer) and hs.validate_digest_response(c2, our, hs.GENUINE_FP_KEY):
        return observed("digest", "C2 carries the digest signature over S1's digest (digest handshake)")
    diff = []
    if c2[:4] != s1[:4]:
        diff.append(f"time {c2[:4].hex()} instead of S1's {s1[:4].hex()}")
    if c2[8:] != s1[8:]:
        first = next(i for i in range(8, hs.PACKET_SIZE) if c2[i] != s1[i])
        diff.append(f"random echo differs from byte {first} on")
    fail("C2 = S1's time + S1's random bytes (or a valid digest signature)", "; ".join(diff),
         offending={"offset": 1 + hs.PACKET_SIZE, "bytes": c2[:32].hex()})


# -- connect and the publish sequence ------------------------------------------------------------------------------


def check_connect_tid(ctx):
    """The first command is connect with transaction id 1."""
    run = J.get_run(ctx, "pub-basic")
    peer = J.need_peer(run, "connect first, transaction id 1")
    cmds = peer.commands()
    c, _ = J.connect_of(run, "connect with transaction id 1")
    if cmds and cmds[0] is not c:
        fail("connect is the first command", f"{cmds[0].name} came first", offending=cmds[0])
    if c.command.transaction_id != 1:
        fail("connect transaction id 1", f"transaction id {c.command.transaction_id:g}", offending=c)


def check_connect_app(ctx, scenario: str = "pub-basic"):
    """connect's app is the URL's application."""
    run = J.get_run(ctx, scenario)
    c, obj = J.connect_of(run, f"app {J.APP!r}")
    if obj.get("app") != J.APP:
        fail(f"app {J.APP!r}", f"app {obj.get('app')!r}", offending=c)


def check_connect_tcurl(ctx, scenario: str = "pub-basic"):
    """connect's tcUrl: rtmp://127.0.0.1:PORT/live (the port is not 1935, so it must be there)."""
    run = J.get_run(ctx, scenario)
    c, obj = J.connect_of(run, "tcUrl")
    want = run.stage.tc_url(J.APP)
    got = obj.get("tcUrl")
    if not isinstance(got, str) or got.rstrip("/") != want:
        fail(f"tcUrl {want!r}", f"tcUrl {got!r}", offending=c)


def check_connect_flashver(ctx, scenario: str = "pub-basic"):
    """connect's flashVer is a string."""
    run = J.get_run(ctx, scenario)
    c, obj = J.connect_of(run, "flashVer")
    v = obj.get("flashVer")
    if not isinstance(v, str) or not v:
        fail("a flashVer string in connect", f"flashVer {v!r} (properties: {', '.join(obj)})", offending=c)
    return observed("present", f"flashVer {v!r}")


def check_object_encoding(ctx, scenario: str = "pub-basic"):
    """connect's objectEncoding: absent, 0 or 3."""
    run = J.get_run(ctx, scenario)
    c, obj = J.connect_of(run, "objectEncoding absent, 0 or 3")
    if "objectEncoding" not in obj:
        return observed("absent", "no objectEncoding (AMF0)")
    v = obj["objectEncoding"]
    if v not in (0, 3) or isinstance(v, bool):
        fail("objectEncoding 0 or 3", f"objectEncoding {v!r}", offending=c)
    return observed("present", f"objectEncoding {v:g}")


def check_ertmp_caps(ctx, scenario: str = "pub-basic"):
    """E-RTMP connect properties (fourCcList, capsEx, videoFourCcInfoMap, audioFourCcInfoMap) when present."""
    run = J.get_run(ctx, scenario)
    c, obj = J.connect_of(run, "well-formed E-RTMP connect properties")
    names = [k for k in ("fourCcList", "capsEx", "videoFourCcInfoMap", "audioFourCcInfoMap") if k in obj]
    if not names:
        unsupported("the client sends no E-RTMP connect properties (fourCcList, capsEx, FourCC info maps)")
    problems = []
    fl = obj.get("fourCcList")
    if "fourCcList" in obj and (not isinstance(fl, list) or not all(isinstance(x, str) and (len(x) == 4 or x == "*")
                                                                   for x in fl)):
        problems.append(f"fourCcList {fl!r} is not a strict array of FourCC strings")
    if "capsEx" in obj and (not isinstance(obj["capsEx"], (int, float)) or isinstance(obj["capsEx"], bool)):
        problems.append(f"capsEx {obj['capsEx']!r} is not a number")
    for k in ("videoFourCcInfoMap", "audioFourCcInfoMap"):
        if k in obj:
            m = obj[k]
            if not isinstance(m, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in m.values()):
                problems.append(f"{k} {m!r} is not an object of numbers")
    if problems:
        fail("well-formed E-RTMP connect properties", "; ".join(problems), offending=c)
    caps: ErtmpCaps = parse_connect_caps(obj)
    return observed("present", f"{', '.join(names)}: {caps.__json__()}")


def check_create_stream(ctx, scenario: str = "pub-basic"):
    """createStream before publish, with a non-zero transaction id; publish only after our _result."""
    run = J.get_run(ctx, scenario)
    peer = J.need_peer(run, "createStream before publish")
    start = J.start_command(run, "createStream, then publish")
    cs = J.first_command(peer, "createStream")
    if cs is None or peer.inbox.index(cs) > peer.inbox.index(start):
        fail("createStream before publish", "publish came without a createStream before it", offending=start)
    if not cs.command.transaction_id:
        fail("createStream with a non-zero transaction id", "transaction id 0", offending=cs)
    i_cs, i_start = peer.inbox.index(cs), peer.inbox.index(start)
    if peer.sent_at[i_start] <= peer.sent_at[i_cs]:
        fail(f"{start.name} sent after the createStream _result arrived",
             f"{start.name} arrived with createStream, before the _result was sent: the client did not wait",
             offending=start)


def check_wait_publish_start(ctx):
    """publish is answered 0.3 s late: no media before NetStream.Publish.Start."""
    run = J.get_run(ctx, "pub-basic")
    peer = J.session_completed(run, "media only after NetStream.Publish.Start")
    answered = run.data.get("publish_answered")
    early = [m for m in peer.inbox if m.type_id in (8, 9, 22) and answered is not None and m.t < answered]
    if early:
        fail("no audio/video before NetStream.Publish.Start", f"{len(early)} media messages arrived before the "
             f"answer (sent 0.3 s after publish)", offending=early[0])
    return observed("ok", "the first media message came after NetStream.Publish.Start")


def check_tids_distinct(ctx, scenario: str = "pub-basic"):
    """Non-zero transaction ids are distinct on the connection."""
    run = J.get_run(ctx, scenario)
    peer = J.need_peer(run, "distinct transaction ids")
    seen: dict[float, str] = {}
    for m in peer.commands():
        c = m.command
        if c.name in ("_result", "_error") or not c.transaction_id:
            continue
        if c.transaction_id in seen:
            fail("distinct non-zero transaction ids", f"{c.name} reuses transaction id {c.transaction_id:g} of "
                                                      f"{seen[c.transaction_id]}", offending=m)
        seen[c.transaction_id] = c.name
    return observed("distinct", ", ".join(f"{n} {t:g}" for t, n in seen.items()))


def check_netstream_tid(ctx, scenario: str = "pub-basic"):
    """publish carries transaction id 0 (RTMP 7.2.2 tables)."""
    run = J.get_run(ctx, scenario)
    m = J.start_command(run, "publish with transaction id 0")
    if m.command.transaction_id != 0:
        fail(f"{m.name} with transaction id 0", f"transaction id {m.command.transaction_id:g}", offending=m)


def check_publish(ctx):
    """publish on the stream createStream returned (1), name = the URL's key, type live."""
    run = J.get_run(ctx, "pub-basic")
    m = J.start_command(run, "publish")
    args = m.command.args
    if m.msid != 1:
        fail("publish on message stream 1 (what createStream returned)", f"on message stream {m.msid}", offending=m)
    if not args or args[0] != run.key:
        fail(f"publishing name {run.key!r}", f"arguments {args!r}", offending=m)
    if len(args) > 1 and args[1] not in ("live", "record", "append"):
        fail("publishing type live / record / append", f"type {args[1]!r}", offending=m)
    return observed("ok", f"publish {args!r} on stream {m.msid}")


def check_delete_stream(ctx, scenario: str = "pub-basic"):
    """deleteStream (if sent): on message stream 0, with the stream id createStream returned (1) as a number."""
    run = J.get_run(ctx, scenario)
    peer = J.need_peer(run, "deleteStream with the stream id")
    m = J.first_command(peer, "deleteStream")
    if m is None:
        informational("the client closes without deleteStream", behaviour="not sent")
    args = m.command.args
    sid = args[0] if args else None
    if not isinstance(sid, (int, float)) or isinstance(sid, bool) or sid != 1:
        fail("deleteStream with stream id 1 (a number) as its fourth field", f"fourth field {sid!r}", offending=m)
    if m.msid != 0:
        fail("deleteStream on message stream 0 (errata 8.3)", f"on message stream {m.msid}", offending=m)
    return observed("ok", f"deleteStream {sid:g} on stream 0")


def check_fcpublish(ctx):
    """releaseStream and FCPublish with the stream name before createStream."""
    run = J.get_run(ctx, "pub-basic")
    peer = J.need_peer(run, "releaseStream / FCPublish")
    cs = J.first_command(peer, "createStream")
    found = []
    for name in ("releaseStream", "FCPublish"):
        m = J.first_command(peer, name)
        if m is not None and (cs is None or peer.inbox.index(m) < peer.inbox.index(cs)) and run.key in m.command.args:
            found.append(name)
    if len(found) == 2:
        return observed("sent", "releaseStream and FCPublish with the stream name before createStream")
    informational(f"the client does not announce the stream (sent: {', '.join(found) or 'neither'})",
                  behaviour="not sent")


# -- media ---------------------------------------------------------------------------------------------------------


def check_media_complete(ctx, scenario: str = "pub-basic"):
    """Every audio/video tag of the input arrives unaltered, in order."""
    run = J.get_run(ctx, scenario)
    J.session_completed(run, "the input's media, complete")
    sent, got = J.publisher_media(run)
    problem = J.compare_media(sent, got, what="what the client sent")
    if problem:
        fail("every audio/video tag of the input, unaltered", problem[0], offending=problem[1])
    return observed("complete", f"{len(got)} media messages, byte for byte the input's")


def check_timestamps_kept(ctx, scenario: str = "pub-basic", requirement_note: str = ""):
    """The timestamps keep the input's deltas (measured from the first media message)."""
    run = J.get_run(ctx, scenario)
    J.session_completed(run, "the input's timestamp deltas")
    sent, got = J.publisher_media(run)
    problem = J.compare_timestamps(sent, got, what="what the client sent")
    if problem:
        fail("the input file's timestamp deltas" + requirement_note, problem[0], offending=problem[1])
    return observed("kept", f"{len(got)} media messages with the input's deltas; first at {got[0].timestamp}"
                    if got else "no media")


def check_sequence_headers_first(ctx):
    """The AVC and AAC sequence headers come before the first coded frame of their track."""
    run = J.get_run(ctx, "pub-basic")
    peer = J.session_completed(run, "sequence headers first")
    from rtmpspec.media import is_sequence_header

    for t, name in ((9, "AVC"), (8, "AAC")):
        track = J.by_type(peer.media(), t)
        if not track:
            fail(f"a {name} track", "no message of it arrived")
        if not is_sequence_header(t, track[0].payload):
            fail(f"the {name} sequence header first", f"the first {name} message is not a sequence header",
                 offending=track[0])


def check_keyframe_first(ctx):
    """The first coded video frame is a keyframe."""
    run = J.get_run(ctx, "pub-basic")
    peer = J.session_completed(run, "a keyframe first")
    m = J.first_coded(peer.media(), 9)
    if m is None:
        fail("coded video frames", "none arrived")
    if not J.is_keyframe(m.payload):
        fail("the first coded video frame is a keyframe", "it is an inter frame", offending=m)


def check_monotone(ctx):
    """Per message type, timestamps never go backwards (serial number arithmetic)."""
    run = J.get_run(ctx, "pub-basic")
    peer = J.session_completed(run, "monotone timestamps")
    for t, name in ((9, "video"), (8, "audio")):
        prev = None
        for m in J.by_type(peer.media(), t):
            if prev is not None and ((m.timestamp - prev.timestamp) & J.U32) >= 1 << 31:
                fail(f"{name} timestamps never going backwards", f"{name} timestamp {m.timestamp} after "
                     f"{prev.timestamp}", offending=m)
            prev = m


def check_media_stream_id(ctx):
    """Media and data messages on the published stream (1)."""
    run = J.get_run(ctx, "pub-basic")
    peer = J.session_completed(run, "media on the published stream")
    for m in peer.inbox:
        if m.type_id in (8, 9, 15, 18, 22) and m.msid != 1:
            fail("media and data on message stream 1", f"a type {m.type_id} message on stream {m.msid}", offending=m)


def check_metadata(ctx):
    """@setDataFrame onMetaData before the first media message."""
    run = J.get_run(ctx, "pub-basic")
    peer = J.session_completed(run, "metadata")
    for m in peer.inbox:
        if m.type_id in (8, 9):
            break
        d = m.data
        if d is not None and d.metadata is not None:
            return observed("sent", f"{d.values[0]} with {len(d.metadata)} properties before the media")
    informational("no onMetaData before the first media message", behaviour="not sent")


# -- chunking and control -----------------------------------------------------------------------------------------


def check_completes(ctx, scenario: str, what: str):
    """The scenario's provocation did not stop the publish: the sequence completed and media flowed."""
    run = J.get_run(ctx, scenario)
    peer = J.session_completed(run, what)
    return observed("ok", f"publish completed and {len(peer.media())} media messages arrived")


def check_type3_extended(ctx):
    """Input with timestamps past 2^24: every Type 3 chunk after an extended-timestamp header carries it."""
    run = J.get_run(ctx, "pub-ext-ts")
    peer = J.need_peer(run, "extended timestamps on Type 3 chunks")
    needed, bad = J.type3_extended_violations(peer)
    if bad:
        fail("the extended timestamp on every Type 3 chunk while one is in use (errata 5.1)",
             f"{len(bad)} of {needed} such Type 3 chunks lack it or carry another value", offending=bad[:3])
    if not needed:
        if run.error:
            fail("extended timestamps on Type 3 chunks", run.error)
        unsupported("the client never sent a Type 3 chunk while an extended timestamp was in use (it did not "
                    "keep the input's timestamps past 2^24, see client-5.3.1.3-timestamps-beyond-24-bits)")
    return observed("ok", f"{needed} Type 3 chunks, each with the extended timestamp")


def check_ack(ctx):
    """Window 128 bytes: the client must acknowledge what it got, with the right sequence numbers."""
    run = J.get_run(ctx, "pub-ack")
    peer = J.session_completed(run, "acknowledgements")
    window = run.data["window"]
    checkpoint = run.data["checkpoint_sent"] - J.HANDSHAKE  # chunk bytes we had sent when publish was answered
    acks = J.acknowledgements(peer)
    if not acks:
        fail(f"Acknowledgements (window {window} bytes; {checkpoint} bytes sent after the handshake)",
             "no Acknowledgement at all")
    prev = None
    for seq, sent, m in acks:
        if ((seq - (sent - J.HANDSHAKE)) & J.U32) < (1 << 31) and seq > sent:
            fail("sequence numbers no larger than the bytes received",
                 f"sequence number {seq} when {sent} bytes (handshake included) had been sent", offending=m)
        if prev is not None and ((seq - prev) & J.U32) >= 1 << 31:
            fail("sequence numbers that grow", f"{seq} after {prev}", offending=m)
        prev = seq
    best = max(seq for seq, _, _ in acks)
    if best + window < checkpoint:
        fail(f"an Acknowledgement with sequence number >= {checkpoint - window} (bytes received minus the window)",
             f"the highest sequence number is {best}", offending=acks[-1][2])
    return observed("ok", f"{len(acks)} Acknowledgements, last {acks[-1][0]} ({checkpoint} chunk bytes sent by "
                          "the publish answer)")


def check_ping(ctx):
    """A PingRequest once media flows: a PingResponse with the same timestamp."""
    run = J.get_run(ctx, "pub-ping")
    peer = J.session_completed(run, "a PingResponse")
    if "ping_sent" not in run.data:
        fail("a PingResponse", run.error or "the PingRequest was not sent")
    got = J.pings(peer, PING_VALUE)
    if got:
        return observed("ok", f"PingResponse {PING_VALUE:#x} after {got[0].t - run.data['ping_sent']:.3f} s")
    other = [m for m in peer.inbox if m.user_control and m.user_control[0] == 7]
    fail(f"PingResponse with timestamp {PING_VALUE:#x}",
         f"PingResponse with {other[0].user_control[1]:#x}" if other else "no PingResponse",
         offending=other[0] if other else None)


def check_rejected(ctx, scenario: str):
    """After an error answer to publish the client stops: closes (or exits) within OBSERVE s, sends no more media,
    does not reconnect in a loop."""
    run = J.get_run(ctx, scenario)
    peer = J.need_peer(run, "the client stops")
    if "publish_time" not in run.data:
        fail("publish, answered with an error", run.error or "no publish")
    t0 = run.data["publish_time"]
    late = [m for m in peer.media() if m.t > t0 + 0.5]
    reconnects = run.data.get("reconnects", [])
    if len(reconnects) > 3:
        fail("no reconnect spin", f"{len(reconnects)} new connections within {OBSERVE:g} s")
    closed = run.data.get("closed_at")
    exited = run.data.get("exit")
    if late and (closed is None or late[-1].t > t0 + closed):
        fail("no media after the error", f"{len(late)} media messages more than 0.5 s after the answer",
             offending=late[0])
    if closed is None and exited is None:
        publish = J.first_command(peer, "publish")
        tid = publish.command.transaction_id if publish is not None else None
        fail(f"the client closes the connection or exits within {OBSERVE:g} s",
             "it stayed connected without publishing" + (" (its publish has transaction id 0; the _error carried "
                                                         "0 too)" if run.data.get("answer") == "error" and tid == 0
                                                         else ""))
    how = f"closed the connection after {closed:.2f} s" if closed is not None else f"exited ({exited})"
    return observed("stopped", f"{how}; {len(reconnects)} new connections")


def check_closed(ctx):
    """The server closes the connection on publish: at most 3 new connections within OBSERVE s."""
    run = J.get_run(ctx, "pub-close")
    J.need_peer(run, "no reconnect spin")
    if "publish_time" not in run.data:
        fail("publish", run.error or "no publish")
    n = len(run.data.get("reconnects", []))
    if n > 3:
        fail("at most 3 new connections within 5 s", f"{n} new connections")
    return observed("ok", f"{n} new connections in {run.data.get('observed', 0):.1f} s; client exit "
                          f"{run.data.get('exit')}")


def check_reconnect(ctx):
    """E-RTMP reconnect request: reconnect to the given tcUrl, publish the same key there."""
    run = J.get_run(ctx, "pub-reconnect")
    J.need_peer(run, "a reconnect")
    if run.error and "announced" not in run.data:
        fail("the publish sequence", run.error)
    if not run.data.get("announced"):
        unsupported(f"the client does not announce capsEx Reconnect in connect (capsEx {run.data.get('caps_ex')!r})")
    second = run.data.get("second")
    if second is None:
        fail(f"a new connection to {run.data['tc_url']}", f"none within {OBSERVE:g} s of the request")
    c = run.data.get("second_connect")
    obj = c.command.command_object if c is not None and c.command else None
    if not isinstance(obj, dict):
        fail("connect on the new connection", run.data.get("second_error") or "no connect")
    if obj.get("app") != RECONNECT_APP or str(obj.get("tcUrl", "")).rstrip("/") != run.data["tc_url"]:
        fail(f"connect with app {RECONNECT_APP!r}, tcUrl {run.data['tc_url']!r}",
             f"app {obj.get('app')!r}, tcUrl {obj.get('tcUrl')!r}", offending=c)
    p = run.data.get("second_publish")
    if p is None or not p.command.args or p.command.args[0] != run.key:
        fail(f"publish {run.key!r} on the new connection", run.data.get("second_error") or
             f"{p.command.args if p else 'no publish'}", offending=p)
    return observed("ok", f"reconnected to {run.data['tc_url']} and published {run.key!r} again"
                          f"{'; the old connection closed' if run.data.get('old_closed') else ''}")


# -- the table ---------------------------------------------------------------------------------------------------

PASS = {"ok": V.PASS}
CASES = [
    Case("client-5.2.2-c0-version-publish", "client-5.2.2-c0-version", check_c0),
    Case("client-5.2.3-c1-zero-publish", "client-5.2.3-c1-zero", check_c1, accept={"zero": V.PASS, "digest": V.PASS}),
    Case("client-5.2.4-c2-echo-publish", "client-5.2.4-c2-echo", check_c2, accept={"echo": V.PASS, "digest": V.PASS}),
    Case("client-7.2.1.1-connect-transaction-id-publish", "client-7.2.1.1-connect-transaction-id", check_connect_tid),
    Case("client-7.2.1.1-connect-app-publish", "client-7.2.1.1-connect-app", check_connect_app),
    Case("client-7.2.1.1-connect-tcurl-publish", "client-7.2.1.1-connect-tcurl", check_connect_tcurl),
    Case("client-7.2.1.1-connect-flashver-publish", "client-7.2.1.1-connect-flashver", check_connect_flashver,
         accept={"present": V.PASS}),
    Case("client-errata-8.1.1-object-encoding-publish", "client-errata-8.1.1-object-encoding",
         check_object_encoding, accept={"absent": V.PASS, "present": V.PASS}),
    Case("client-ertmp-connect-capabilities-publish", "client-ertmp-connect-capabilities", check_ertmp_caps,
         accept={"present": V.PASS}),
    Case("client-7.2.1.3-create-stream-publish", "client-7.2.1.3-create-stream", check_create_stream),
    Case("client-7.2-transaction-ids-distinct-publish", "client-7.2-transaction-ids-distinct", check_tids_distinct,
         accept={"distinct": V.PASS}),
    Case("client-7.2.2-netstream-transaction-id-publish", "client-7.2.2-netstream-transaction-id",
         check_netstream_tid),
    Case("client-7.2.2.6-publish", "client-7.2.2.6-publish", check_publish, accept=PASS),
    Case("client-7.2.2.6-publish-start-first", "client-7.2.2.6-publish-start-first", check_wait_publish_start,
         accept=PASS),
    Case("client-7.2.2.3-delete-stream-publish", "client-7.2.2.3-delete-stream", check_delete_stream, accept=PASS),
    Case("client-fcpublish", "client-fcpublish", check_fcpublish, accept={"sent": V.PASS}),
    Case("client-media-complete-publish", "client-media-complete", check_media_complete,
         accept={"complete": V.PASS}),
    Case("client-media-timestamps-kept-publish", "client-media-timestamps-kept", check_timestamps_kept,
         accept={"kept": V.PASS}),
    Case("client-flv-sequence-headers-first", "client-flv-sequence-headers-first", check_sequence_headers_first),
    Case("client-media-keyframe-first", "client-media-keyframe-first", check_keyframe_first),
    Case("client-errata-5.2-monotone-timestamps", "client-errata-5.2-monotone-timestamps", check_monotone),
    Case("client-media-stream-id", "client-media-stream-id", check_media_stream_id),
    Case("client-7.1.2-metadata", "client-7.1.2-metadata", check_metadata, accept={"sent": V.PASS}),
    Case("client-5.4.1-set-chunk-size-1-publish", "client-5.4.1-set-chunk-size", check_completes,
         {"scenario": "pub-scs-1", "what": "the publish sequence read at chunk size 1"}, accept=PASS,
         doc="Set Chunk Size 1 before the connect _result: every later byte of the server comes in its own chunk."),
    Case("client-5.4.1-set-chunk-size-65536-publish", "client-5.4.1-set-chunk-size", check_completes,
         {"scenario": "pub-scs-65536", "what": "a 70 KB connect _result read at chunk size 65536"}, accept=PASS,
         doc="Set Chunk Size 65536, then a connect _result of 70 KB: two chunks, the first 65536 bytes."),
    Case("client-5.4.1-set-chunk-size-2147483647-publish", "client-5.4.1-set-chunk-size", check_completes,
         {"scenario": "pub-scs-2147483647", "what": "a 70 KB connect _result in one chunk (chunk size 2^31-1)"},
         accept=PASS, doc="Set Chunk Size 2147483647 (the largest valid), then a 70 KB connect _result in one chunk."),
    Case("client-5.4.2-abort-publish", "client-5.4.2-abort", check_completes,
         {"scenario": "pub-abort", "what": "publish after a createStream _result that follows an Abort"},
         accept=PASS, doc="The createStream _result comes after the first chunk of a decoy _error and an Abort "
                          "Message for that chunk stream, as a new message with a Type 3 header."),
    Case("client-5.3.1.1-csid-two-byte-publish", "client-5.3.1.1-csid-two-byte", check_completes,
         {"scenario": "pub-csid-2byte", "what": "the server's answers on chunk stream 100"}, accept=PASS,
         doc="Every answer of the server on chunk stream 100 (two-byte basic header)."),
    Case("client-5.3.1.1-csid-three-byte-publish", "client-5.3.1.1-csid-three-byte", check_completes,
         {"scenario": "pub-csid-3byte", "what": "the server's answers on chunk stream 1000"}, accept=PASS,
         doc="Every answer of the server on chunk stream 1000 (three-byte basic header)."),
    Case("client-5.3.1.3-read-extended-timestamp-publish", "client-5.3.1.3-read-extended-timestamp",
         check_completes, {"scenario": "pub-server-ext-ts", "what": "answers with extended timestamps"},
         accept=PASS, doc="Every answer of the server with timestamp 0x1000005 at chunk size 128: extended "
                          "timestamps on the Type 0 header and on every Type 3 chunk."),
    Case("client-errata-5.1-type3-extended-timestamp", "client-errata-5.1-type3-extended-timestamp",
         check_type3_extended, accept=PASS, refs=("OBS PR 10097",)),
    Case("client-5.3.1.3-timestamps-beyond-24-bits-publish", "client-5.3.1.3-timestamps-beyond-24-bits",
         check_timestamps_kept, {"scenario": "pub-ext-ts", "requirement_note": " (a 2^24 ms gap after the sequence "
                                                                               "headers)"},
         accept={"kept": V.PASS}, doc="Input: sequence headers at 0, every other tag 2^24 ms later."),
    Case("client-4-timestamp-wraparound-publish", "client-4-timestamp-wraparound", check_timestamps_kept,
         {"scenario": "pub-wrap"}, accept={"kept": V.PASS},
         doc="Input: timestamps 2^32 - 1000 + t, modulo 2^32 (the file wraps after 1 s)."),
    Case("client-5.4.3-acknowledgement-publish", "client-5.4.3-acknowledgement", check_ack, accept=PASS),
    Case("client-7.1.7-ping-response-publish", "client-7.1.7-ping-response", check_ping, accept=PASS),
    Case("client-7.2.2.6-publish-badname", "client-7.2.2.6-publish-rejected", check_rejected,
         {"scenario": "pub-badname"}, accept={"stopped": V.PASS},
         doc="publish answered with onStatus NetStream.Publish.BadName (level error)."),
    Case("client-7.2.2.6-publish-error", "client-7.2.2.6-publish-rejected", check_rejected,
         {"scenario": "pub-error"}, accept={"stopped": V.PASS},
         doc="publish answered with _error NetStream.Publish.Rejected (its transaction id)."),
    Case("client-publish-connection-closed", "client-publish-connection-closed", check_closed, accept=PASS),
    Case("client-ertmp-reconnect-request", "client-ertmp-reconnect-request", check_reconnect, accept=PASS),
]


@parametrize(CASES)
def test_client_publish(case, conformance):
    conformance.run(case)
