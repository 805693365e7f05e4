"""Protocol control cases (RTMP 1.0 5.4, 6.2, 7.1.7; errata 6): Set Chunk Size, Abort, Acknowledgement, Window
Acknowledgement Size, Set Peer Bandwidth, user control events.

A *barrier* is a createStream round trip: servers process a connection's messages in order, so once its _result
is back, everything sent before it has been read.
"""

from __future__ import annotations

import random
import time

from rtmpspec import control
from rtmpspec.message_format import Message
from rtmpspec.messages import Command

from . import craft
from .case import Case, compare_relay, parametrize
from .driver import Closed, DriverError, StepTimeout, is_command, is_type, is_user_control
from .payloads import AUDIO, VIDEO, Item, aac, aac_config, avc_nalu, avcc, legacy_video, padded_create_stream
from .verdicts import Verdict, fail, informational, observed, unsupported

V = Verdict
CMD = 20


def barrier(s, what: str = "") -> str:
    """'ok' once a createStream round trip completes; 'closed' or 'stalled' otherwise."""
    tid = s.next_tid()
    try:
        s.send_cmd(Command("createStream", tid, None))
        s.expect(is_command(("_result", "_error"), tid=tid), f"_result for createStream (tid {tid:g}) {what}")
        return "ok"
    except Closed:
        return "closed"
    except StepTimeout:
        return "stalled"


def _settle(s, quiet: float = 0.1) -> None:
    s.drain(quiet=quiet, limit=quiet * 3)


# -- who sends what where ----------------------------------------------------------------------------------------


def _session_inboxes(ctx):
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    pub.send_all([Item(VIDEO, 0, legacy_video(1, 7, avcc(), avc_packet_type=0), "avc-seq"),
                  Item(VIDEO, 0, legacy_video(1, 7, avc_nalu(True, 500, 1), avc_packet_type=1), "key")])
    play.wait_media(1, timeout=min(ctx.step_timeout, 1.0))
    _settle(pub.s)
    return pub.s.inbox + play.s.inbox


def check_control_stream(ctx):
    """Every protocol control message the server sends (connect, publish, play) is on csid 2, msid 0."""
    msgs = _session_inboxes(ctx)
    ctl = [m for m in msgs if m.type_id in (1, 2, 3, 5, 6)]
    if not ctl:
        informational("the server sent no protocol control message")
    for m in ctl:
        if m.msid != 0 or m.msg.csid != 2:
            fail("protocol control messages on message stream 0, chunk stream 2",
                 f"type {m.type_id} on csid {m.msg.csid}, msid {m.msid}", offending=m)


def check_user_control_stream(ctx):
    """Every User Control message the server sends (connect, publish, play) is on csid 2, msid 0."""
    msgs = _session_inboxes(ctx)
    uc = [m for m in msgs if m.type_id == 4]
    if not uc:
        informational("the server sent no user control message")
    for m in uc:
        if m.msid != 0 or m.msg.csid != 2:
            fail("user control messages on message stream 0, chunk stream 2",
                 f"user control on csid {m.msg.csid}, msid {m.msid}", offending=m)


# -- Set Chunk Size ------------------------------------------------------------------------------------------------


def check_scs(ctx, size: int, length: int, timestamp: int = 0):
    """Set Chunk Size ``size``, then (in the same TCP write) a ``length``-byte createStream chunked at that size."""
    s = ctx.connected()
    ctx.ready(s)
    tid = s.next_tid()
    payload = padded_create_stream(tid, length)
    # one write: the server may well read the Set Chunk Size and the first chunks at once (TCP has no boundaries)
    s.send_many([Message(control.SET_CHUNK_SIZE, control.build_set_chunk_size(size), timestamp, 0, 2),
                 Message(CMD, payload, 0, 0, 3)])
    chunks = -(-len(payload) // min(size, 0xFFFFFF))
    try:
        res = s.expect(is_command(("_result", "_error"), tid=tid),
                       f"_result for a {len(payload)}-byte createStream in {chunks} chunk(s) of {size}")
    except Closed as exc:
        fail(f"the server reads chunks of {size} bytes", f"it closed the connection: {exc}")
    if res.name != "_result":
        fail("_result", f"{res.name} {res.code}", offending=res)
    if barrier(s, "after the big message") != "ok":
        fail("the session goes on", "no answer to a following createStream")


def observe_scs_invalid(ctx):
    """Set Chunk Size 0 (invalid): the server closes the connection or ignores it."""
    s = ctx.connected()
    ctx.ready(s)
    note = "Set Chunk Size 0"
    s.send(Message(control.SET_CHUNK_SIZE, control.build_set_chunk_size(0), 0, 0, 2), note=note)
    if s.wait_closed(0.2):
        return observed("closed", "closed the connection")
    b = barrier(s, f"after {note}")
    return observed({"ok": "ignored", "closed": "closed", "stalled": "stalled"}[b], f"after {note}: {b}")


def observe_scs_reserved_bit(ctx):
    """Set Chunk Size 0x80001000 (reserved bit 31 set) and, in the same write, a 3000-byte createStream in ONE
    4096-byte chunk: a receiver that ignores the reserved bit (errata 2) reads it at 4096 and answers."""
    s = ctx.connected()
    ctx.ready(s)
    tid = s.next_tid()
    payload = padded_create_stream(tid, 3000)
    scs = control.SetChunkSize.build({"reserved": 1, "chunkSize": 4096})
    s.send_many([Message(control.SET_CHUNK_SIZE, scs, 0, 0, 2), Message(CMD, payload, 0, 0, 3)],
                note="Set Chunk Size 0x80001000, then a 3000-byte createStream in one 4096-byte chunk")
    try:
        res = s.expect(is_command(("_result", "_error"), tid=tid), "_result for the createStream chunked at 4096")
    except Closed:
        return observed("closed", "closed the connection after the Set Chunk Size with bit 31 set")
    except StepTimeout:
        return observed("stalled", "no answer to the createStream sent in one 4096-byte chunk")
    if barrier(s, "after the 4096-byte chunk") != "ok":
        return observed("stalled", "the session no longer answers after the 4096-byte chunk")
    return observed("applied", f"{res.name} for the createStream read at chunk size 4096")


def check_server_chunk_size(ctx):
    """Every Set Chunk Size the server sends (connect, publish, play) announces at least 128 bytes."""
    msgs = _session_inboxes(ctx)
    sizes = [m for m in msgs if m.type_id == control.SET_CHUNK_SIZE]
    if not sizes:
        informational("the server never changed its chunk size (128)")
    for m in sizes:
        v = int.from_bytes(m.payload[:4], "big") if len(m.payload) >= 4 else None
        if v is None or len(m.payload) != 4:
            fail("a 4-byte Set Chunk Size", f"{len(m.payload)} bytes", offending=m, hard=True)
        if v & 0x80000000 or v == 0:
            fail("chunk size 1..2147483647 with bit 31 clear (MUST)", f"0x{v:08x}", offending=m, hard=True)
        if v < 128:
            fail("a chunk size of at least 128 bytes", f"{v}", offending=m)


# -- Abort ---------------------------------------------------------------------------------------------------------


def check_abort(ctx, keep_timestamp: bool):
    """Video on csid 6: 3 chunks of a 1500-byte message, Abort(6), then complete messages on csid 6."""
    pub, play = ctx.relay_pair()
    seq = Item(VIDEO, 1000, legacy_video(1, 7, avcc(), avc_packet_type=0), "avc-seq")
    pub.s.send(Message(VIDEO, seq.payload, 1000, pub.msid, 8))
    aborted = legacy_video(1, 7, avc_nalu(True, 1500, 7), avc_packet_type=1)
    partial = craft.message(6, VIDEO, aborted, chunk_size=128, timestamp=1000, msid=pub.msid, limit=3)
    pub.s.send_crafted(partial, "3 of 12 chunks of a 1500-byte video message (ts 1000) on csid 6", csids=(6,))
    pub.s.control(control.ABORT, control.build_abort(6))
    if keep_timestamp:
        # same length as the aborted message: a Type 2 header with delta 40 -> ts 1040 (errata 6)
        second = legacy_video(1, 7, avc_nalu(True, 1500, 8), avc_packet_type=1)
        data = craft.chunked(second, 128, craft.header(2, 6, timestamp=40), craft.basic_header(3, 6))
        pub.s.send_crafted(data, "a complete 1500-byte video message, Type 2 delta 40 (expected ts 1040)",
                           csids=(6,))
        after = [Item(VIDEO, 1040, second, "after-abort")]
    else:
        second = legacy_video(1, 7, avc_nalu(True, 900, 9), avc_packet_type=1)
        third = legacy_video(2, 7, avc_nalu(False, 400, 10), avc_packet_type=1)
        after = [Item(VIDEO, 1040, second, "after-abort"), Item(VIDEO, 1080, third, "inter")]
        for it in after:
            pub.s.send(Message(VIDEO, it.payload, it.timestamp, pub.msid, 6))
    got = play.wait_media(1 + len(after))
    for m in got:
        if m.payload == aborted or (len(m.payload) > 20 and m.payload[:20] == aborted[:20]):
            fail("the aborted message is discarded", "the player received (part of) the aborted message",
                 offending=m)
    problem = compare_relay([seq] + after, got)
    if problem:
        fail("messages after the Abort relayed intact" + (" with the delta applied to the aborted message's "
                                                            "timestamp" if keep_timestamp else ""),
             problem[0], offending=problem[1])


def observe_abort_idle(ctx):
    """Abort for a chunk stream never used (9) and for one with no partial message (3); then a createStream round trip."""
    s = ctx.connected()
    ctx.ready(s)
    s.control(control.ABORT, control.build_abort(9))   # never used
    s.control(control.ABORT, control.build_abort(3))   # used, no partial message
    b = barrier(s, "after two Aborts")
    return observed({"ok": "ignored", "closed": "closed", "stalled": "stalled"}[b])


# -- Acknowledgement -----------------------------------------------------------------------------------------------


def _acks(s):
    return [m.u32 for m in s.inbox if m.type_id == control.ACKNOWLEDGEMENT and m.u32 is not None]


def _pump_audio(pub, total: int, seed: int, start_ts: int = 0, piece: int = 1000):
    rnd = random.Random(seed)
    sent, ts = 0, start_ts
    while sent < total:
        body = rnd.randbytes(piece)
        pub.s.send(Message(AUDIO, aac(1, body), ts, pub.msid, 4))
        sent += piece + 2
        ts += 23
    return ts


def check_ack(ctx, window: int, volume: int):
    """Window Acknowledgement Size ``window`` from the client, then ``volume`` bytes of audio."""
    pub = ctx.publisher()
    s = pub.s
    s.control(control.WINDOW_ACK_SIZE, control.build_window_ack_size(window))
    pub.s.send(Message(AUDIO, aac(0, aac_config()), 0, pub.msid, 4))
    _pump_audio(pub, volume, 1)
    hs_bytes = 3073
    try:
        s.wait_until(lambda: len(_acks(s)) >= 1 and max(_acks(s)) >= s.bytes_out - hs_bytes - window - 2000,
                     f"an Acknowledgement within one window of the {s.bytes_out} bytes sent")
    except StepTimeout:
        acks = _acks(s)
        if not acks:
            fail(f"Acknowledgements every {window} bytes", f"no Acknowledgement after {s.bytes_out} bytes")
        fail(f"an Acknowledgement within {window} bytes of the {s.bytes_out} bytes sent",
             f"last sequence number {max(acks)}")
    acks = _acks(s)
    if any(b < a for a, b in zip(acks, acks[1:], strict=False)):
        fail("increasing sequence numbers", f"sequence numbers {acks}")
    if acks[-1] > s.bytes_out:
        fail(f"sequence numbers <= bytes received ({s.bytes_out})", f"{acks[-1]}")
    # a server reading several windows at once may acknowledge them with one message: no count is checked,
    # only that the acknowledged position keeps up with what was sent (above) and never goes backwards
    ctx.note(f"Acknowledgement sequence numbers: {acks[:12]}{'...' if len(acks) > 12 else ''} "
             f"(bytes sent incl. the 3073 handshake bytes: {s.bytes_out})")


def check_window_change(ctx):
    """Window 50000 first (20 KB sent: no Acknowledgement due), then 3000 sent in the same write as 3.5 KB of
    audio: the server must acknowledge at once (more than 3000 bytes since the start of the session), and then
    every 3000 bytes."""
    pub = ctx.publisher()
    s = pub.s
    s.control(control.WINDOW_ACK_SIZE, control.build_window_ack_size(50000))
    ts = _pump_audio(pub, 20000, 2)
    if barrier(s) != "ok":
        fail("the session goes on", "no createStream answer")
    before = len(_acks(s))
    rnd = random.Random(4)
    burst = [Message(control.WINDOW_ACK_SIZE, control.build_window_ack_size(3000), 0, 0, 2)]
    for _ in range(4):
        ts += 23
        burst.append(Message(AUDIO, aac(1, rnd.randbytes(1000)), ts, pub.msid, 4))
    s.send_many(burst, note="Window Acknowledgement Size 3000 and audio in one write")
    for step in range(4):
        target = s.bytes_out - 3073 - 3000 - 1500
        try:
            s.wait_until(lambda t=target: any(a >= t for a in _acks(s)),
                         f"an Acknowledgement past byte {target} (window 3000)")
        except StepTimeout:
            fail("an Acknowledgement for every 3000 bytes after the window changed to 3000",
                 f"acknowledgements {_acks(s)} after {s.bytes_out} bytes (before the change: {before})")
        ts = _pump_audio(pub, 3500, 3 + step, ts + 23)


def check_ack_wrap(ctx):
    """The player acknowledges 0xFFFFFF00 then 0x00000100 (wrapped); the relay to it must go on."""
    pub, play = ctx.relay_pair()
    seq = [Item(VIDEO, 0, legacy_video(1, 7, avcc(), avc_packet_type=0), "avc-seq"),
           Item(VIDEO, 0, legacy_video(1, 7, avc_nalu(True, 3000, 11), avc_packet_type=1), "key")]
    pub.send_all(seq)
    play.wait_media(2)
    play.s.control(control.ACKNOWLEDGEMENT, control.build_ack(0xFFFFFF00))
    play.s.control(control.ACKNOWLEDGEMENT, control.build_ack(0x00000100))
    more = [Item(VIDEO, 40 * i, legacy_video(2, 7, avc_nalu(False, 2000, 20 + i), avc_packet_type=1), "inter")
            for i in range(1, 11)]
    pub.send_all(more)
    got = play.wait_media(len(seq) + len(more))
    problem = compare_relay(seq + more, got)
    if problem:
        fail("the player keeps receiving after acknowledging past the 32-bit wrap", problem[0], offending=problem[1])


# -- the connect burst ---------------------------------------------------------------------------------------------


def _connect_burst(ctx):
    s = ctx.session()
    res = s.connect()
    idx = s.inbox.index(res)
    return s, s.inbox[:idx], s.inbox[idx + 1:]


def observe_connect_winack(ctx):
    """connect: a Window Acknowledgement Size with a non-zero window must come before the _result."""
    s, before, after = _connect_burst(ctx)
    _settle(s)
    w = [m for m in before if m.type_id == control.WINDOW_ACK_SIZE]
    if w:
        if not w[0].u32:
            return observed("zero", "Window Acknowledgement Size 0", offending=w[0])
        return observed("before", f"window {w[0].u32}")
    if any(m.type_id == control.WINDOW_ACK_SIZE for m in s.inbox):
        return observed("after", "Window Acknowledgement Size came after the _result")
    return observed("absent", "no Window Acknowledgement Size")


def observe_connect_spb(ctx):
    """connect: a Set Peer Bandwidth (limit type 0, 1 or 2) must come before the _result."""
    s, before, after = _connect_burst(ctx)
    _settle(s)
    p = [m for m in s.inbox if m.type_id == control.SET_PEER_BANDWIDTH]
    if not p:
        return observed("absent", "no Set Peer Bandwidth")
    m = p[0]
    if len(m.payload) != 5 or m.payload[4] > 2:
        return observed("invalid", f"payload {m.payload.hex()}", offending=m)
    return observed("before" if m in before else "after", f"window {m.u32}, limit type {m.payload[4]}")


def observe_spb_reply(ctx, limit: int, size: int, hard_first: int | None = None):
    """The client sends Set Peer Bandwidth (window ``size``, limit type ``limit``; after a Hard limit of
    ``hard_first`` when given): does a Window Acknowledgement Size of ``size`` come back?"""
    s = ctx.connected()
    ctx.ready(s)
    if hard_first is not None:
        s.control(control.SET_PEER_BANDWIDTH, control.build_set_peer_bandwidth(hard_first, 0))
        if barrier(s, "after a Hard Set Peer Bandwidth") != "ok":
            return observed("closed")
    s.control(control.SET_PEER_BANDWIDTH, control.build_set_peer_bandwidth(size, limit))
    b = barrier(s, "after Set Peer Bandwidth")
    if b != "ok":
        return observed(b)
    _settle(s)
    replies = [m for m in s.inbox if m.type_id == control.WINDOW_ACK_SIZE]
    later = [m for m in replies if m.u32 == size]
    if later:
        return observed("winack", f"Window Acknowledgement Size {size}")
    return observed("none", f"no Window Acknowledgement Size {size} (windows seen: {[m.u32 for m in replies]})")


def observe_connect_stream_begin(ctx):
    """connect: User Control Stream Begin for stream 0 before the _result (RTMP 1.0 7.1.7, 7.2.1.1 step 5)."""
    s, before, after = _connect_burst(ctx)
    _settle(s)
    if any(m.user_control and m.user_control[0] == control.STREAM_BEGIN and m.user_control[1] == 0 for m in before):
        return observed("before")
    if any(m.user_control and m.user_control[0] == control.STREAM_BEGIN and m.user_control[1] == 0 for m in after):
        return observed("after", "Stream Begin 0 came after the _result")
    return observed("absent", "no User Control Stream Begin for stream 0 during connect")


# -- flow control: the server's output within the window -----------------------------------------------------------


def _unacked_output(ctx, *, limits: list[tuple[int, int]], volume: int | None = None):
    """A player that never acknowledges (after sending Set Peer Bandwidth ``limits``, [(window, limit type)]) and a
    publisher that sends ``volume`` bytes of video: (bytes the server sent the player, the window in force, the
    player, the publisher, the last timestamp sent)."""
    pub = ctx.publisher()
    play_s = ctx.session("play", auto_ack=False)
    with ctx.setup("connect, createStream, play"):
        play_s.connected()
        play_s.create_stream()
        for size, limit in limits:
            play_s.control(control.SET_PEER_BANDWIDTH, control.build_set_peer_bandwidth(size, limit))
        st = play_s.play(pub.key)
        if st.code not in ("NetStream.Play.Start", "NetStream.Play.Reset"):
            raise DriverError(f"play answered {st.name} {st.code}")
    window = min(s for s, lt in limits if lt == 0) if limits else play_s.server_window
    if window is None:
        informational("the server announced no Window Acknowledgement Size: no window to keep within")
    volume = volume or (4 * window if limits else int(window * 1.5) + 60000)
    pub.send_all([Item(VIDEO, 0, legacy_video(1, 7, avcc(), avc_packet_type=0), "avc-seq")])
    rnd = random.Random(window)
    t, sent = 0, 0
    while sent < volume:
        body = legacy_video(1 if t == 0 else 2, 7, avc_nalu(t == 0, 8000, rnd.randrange(1 << 30)), avc_packet_type=1)
        pub.s.send(Message(VIDEO, body, t, pub.msid, 6))
        sent += len(body)
        t += 40
        play_s.pump(0)
    play_s.drain(0.3, limit=3.0)
    return play_s.bytes_in - 3073, window, play_s, pub, t


def observe_within_window(ctx, kind: str):
    """A player that never acknowledges; Set Peer Bandwidth ``kind`` (hard 60000; hard 60000 then soft 240000: the
    smaller stays; or none: the server's own announced window); a publisher sends four windows of video: the
    server's unacknowledged output stays within the window (plus one message), and resumes once acknowledged."""
    limits = {"hard": [(60000, 0)], "soft-larger": [(60000, 0), (240000, 1)], "own": []}[kind]
    got, window, s, pub, t = _unacked_output(ctx, limits=limits)
    if window > 8_000_000:
        informational(f"the server's window ({window} bytes) is too large to fill here")
    slack = 9000 + 2000  # one video message of this case, and the session's own messages
    if got > window + slack:
        return observed("unlimited", f"{got} bytes sent without an acknowledgement, window {window}")
    s.send(Message(control.ACKNOWLEDGEMENT, control.build_ack(s.bytes_in), 0, 0, 2), note="Acknowledgement")
    before = s.bytes_in
    more = legacy_video(1, 7, avc_nalu(True, 3000, 77), avc_packet_type=1)
    pub.s.send(Message(VIDEO, more, t, pub.msid, 6))
    try:
        s.wait_until(lambda: s.bytes_in > before, "output after the Acknowledgement")
    except StepTimeout:
        return observed("stuck", f"nothing more after acknowledging {before - 3073} bytes")
    return observed("within", f"{got} bytes before the acknowledgement, window {window}")


# -- user control --------------------------------------------------------------------------------------------------


def observe_ping(ctx, message_timestamp: int = 0):
    """The client sends PingRequest 0x12345678 (in a message with timestamp ``message_timestamp``: user control
    messages take effect as received, their timestamps ignored); a PingResponse with the same timestamp is
    expected."""
    s = ctx.connected()
    ctx.ready(s)
    stamp = 0x12345678
    s.send(Message(control.USER_CONTROL, control.build_user_control("PingRequest", timestamp=stamp),
                   message_timestamp, 0, 2))
    b = barrier(s, "after PingRequest")
    if b != "ok":
        return observed(b)
    _settle(s)
    pongs = [m for m in s.inbox if m.user_control and m.user_control[0] == control.PING_RESPONSE]
    if not pongs:
        return observed("none", "no PingResponse")
    if pongs[0].user_control[1] != stamp:
        return observed("wrong-timestamp", f"PingResponse with {pongs[0].user_control[1]:#x}", offending=pongs[0])
    return observed("pong")


def observe_uc(ctx, event: str):
    """A user control event from the client (``event``), then a createStream round trip: the session must go on."""
    s = ctx.connected()
    sid = ctx.create_stream(s)
    if event == "set-buffer-length":
        payload = control.build_user_control("SetBufferLength", streamID=sid, bufferLength=3000)
    elif event == "pong":
        payload = control.build_user_control("PingResponse", timestamp=4242)
    else:
        payload = control.UserControlMessage.build({"eventType": 0x1234, "eventData": {"data": b"\0\0\0\1"}})
    s.send(Message(control.USER_CONTROL, payload, 0, 0, 2), note=event)
    b = barrier(s, f"after a {event} user control event")
    return observed({"ok": "ignored", "closed": "closed", "stalled": "stalled"}[b])


CASES = [
    Case("5.4-control-on-csid2-msid0", "5.4-control-stream", check_control_stream),
    Case("6.2-user-control-on-csid2-msid0", "6.2-user-control-stream", check_user_control_stream),
    Case("5.4-set-chunk-size-timestamp-ignored", "5.4-control-timestamp-ignored", check_scs,
         {"size": 4096, "length": 3000, "timestamp": 987654},
         doc="Set Chunk Size 4096 carrying timestamp 987654, then a 3000-byte message in one chunk"),
    Case("5.4.1-set-chunk-size-1", "5.4.1-set-chunk-size-applies", check_scs, {"size": 1, "length": 300},
         doc="chunk size 1 (the minimum): a 300-byte command in 300 chunks"),
    Case("5.4.1-set-chunk-size-127", "5.4.1-set-chunk-size-applies", check_scs, {"size": 127, "length": 1000},
         doc="127: below the SHOULD minimum of 128 but valid"),
    Case("5.4.1-set-chunk-size-129", "5.4.1-set-chunk-size-applies", check_scs, {"size": 129, "length": 129},
         doc="a message of exactly one 129-byte chunk"),
    Case("5.4.1-set-chunk-size-4096", "5.4.1-set-chunk-size-applies", check_scs, {"size": 4096, "length": 9000}),
    Case("5.4.1-set-chunk-size-65536", "5.4.1-set-chunk-size-applies", check_scs, {"size": 65536,
                                                                                    "length": 70000}),
    Case("5.4.1-set-chunk-size-16777215", "5.4.1-set-chunk-size-huge", check_scs,
         {"size": 0xFFFFFF, "length": 70000}, refs=("nginx-rtmp 1042",), healthy_after=True),
    Case("5.4.1-set-chunk-size-2147483647", "5.4.1-set-chunk-size-huge", check_scs,
         {"size": 0x7FFFFFFF, "length": 70000}, refs=("nginx-rtmp 1042",), healthy_after=True,
         doc="the largest valid value: equivalent to 16777215 (a server must not allocate 2 GB for it)"),
    Case("5.4.1-set-chunk-size-zero", "5.4.1-set-chunk-size-invalid", observe_scs_invalid,
         accept={"closed": V.PASS, "ignored": (V.PASS, "ignored the invalid value"), "stalled": V.FAIL},
         healthy_after=True),
    Case("errata-2-set-chunk-size-bit31-ignored", "errata-2-set-chunk-size-reserved-bit", observe_scs_reserved_bit,
         accept={"applied": V.PASS,
                 "closed": (V.NON_STRICT, "closed on the reserved bit: RTMP 1.0 5.4.1 says it MUST be zero, but "
                                          "errata 2 says a receiver ignores reserved fields"),
                 "stalled": (V.FAIL, "neither the low 31 bits applied nor the connection closed")},
         healthy_after=True, doc="Set Chunk Size 0x80001000 then a 3000-byte createStream in one 4096-byte chunk "
                                 "(the same write): the low 31 bits are the size"),
    Case("5.4.1-server-chunk-size-at-least-128", "5.4.1-server-chunk-size", check_server_chunk_size),
    Case("5.4.2-abort-partial-message", "5.4.2-abort", check_abort, {"keep_timestamp": False}, relay=True,
         refs=("MediaMTX 4673",)),
    Case("5.4.2-abort-then-type2-delta", "5.4.2-abort-keeps-timestamp", check_abort, {"keep_timestamp": True},
         relay=True, doc="aborted message at ts 1000, then a Type 2 header with delta 40: ts 1040 (errata 6)"),
    Case("5.4.2-abort-idle-chunk-streams", "5.4.2-abort-idle-chunk-stream", observe_abort_idle,
         accept={"ignored": V.PASS, "closed": V.FAIL, "stalled": V.FAIL}),
    Case("5.4.3-acknowledgement-window-5000", "5.4.3-acknowledgement", check_ack, {"window": 5000, "volume": 40000}),
    Case("5.4.3-acknowledgement-window-65536", "5.4.3-acknowledgement", check_ack,
         {"window": 65536, "volume": 300000}),
    Case("5.4.4-window-size-change", "5.4.4-window-change", check_window_change),
    Case("5.4.3-ack-sequence-wrap", "5.4.3-ack-sequence-wrap", check_ack_wrap, relay=True,
         refs=("Node-Media-Server 629", "SRS 730")),
    Case("7.2.1.1-connect-window-ack-size", "7.2.1.1-connect-window-ack-size", observe_connect_winack,
         accept={"before": V.PASS, "after": V.FAIL, "absent": V.FAIL, "zero": V.FAIL}),
    Case("7.2.1.1-connect-set-peer-bandwidth", "7.2.1.1-connect-set-peer-bandwidth", observe_connect_spb,
         accept={"before": V.PASS, "after": V.FAIL, "absent": V.FAIL, "invalid": V.FAIL}),
    Case("5.4.5-peer-bandwidth-hard", "5.4.5-peer-bandwidth-reply", observe_spb_reply,
         {"limit": 0, "size": 1234567}, accept={"winack": V.PASS, "none": V.FAIL, "closed": V.FAIL,
                                                "stalled": V.FAIL}),
    Case("5.4.5-peer-bandwidth-soft", "5.4.5-peer-bandwidth-reply", observe_spb_reply,
         {"limit": 1, "size": 2345678}, accept={"winack": V.PASS, "none": V.FAIL, "closed": V.FAIL,
                                                "stalled": V.FAIL}),
    Case("5.4.5-peer-bandwidth-dynamic-first", "5.4.5-peer-bandwidth-dynamic", observe_spb_reply,
         {"limit": 2, "size": 3456789},
         accept={"none": V.PASS, "winack": (V.FAIL, "a first Dynamic limit (no Hard limit before it) is ignored"),
                 "closed": V.FAIL, "stalled": V.FAIL}),
    Case("5.4.5-peer-bandwidth-dynamic-after-hard", "5.4.5-peer-bandwidth-dynamic", observe_spb_reply,
         {"limit": 2, "size": 4567890, "hard_first": 1234567},
         accept={"winack": V.PASS, "none": (V.FAIL, "a Dynamic limit after a Hard one is treated as Hard"),
                 "closed": V.FAIL, "stalled": V.FAIL},
         doc="Hard 1234567, then Dynamic 4567890: treated as Hard, so a Window Acknowledgement Size 4567890"),
    Case("7.1.7-ping-request-answered", "7.1.7-ping", observe_ping,
         accept={"pong": V.PASS, "none": (V.UNSUPPORTED, "does not answer client pings"),
                 "wrong-timestamp": V.FAIL, "closed": V.FAIL, "stalled": V.FAIL}),
    Case("6.2-user-control-timestamp-ignored", "5.4-control-timestamp-ignored", observe_ping,
         {"message_timestamp": 0x7FFFFFF0},
         accept={"pong": V.PASS, "none": (V.UNSUPPORTED, "does not answer client pings"),
                 "wrong-timestamp": V.FAIL, "closed": V.FAIL, "stalled": V.FAIL},
         doc="a PingRequest in a message with timestamp 0x7FFFFFF0 is answered at once (RTMP 1.0 6.2)"),
    Case("7.2.1.1-connect-stream-begin-0", "7.2.1.1-connect-stream-begin", observe_connect_stream_begin,
         accept={"before": V.PASS, "after": V.FAIL, "absent": V.FAIL}),
    Case("5.4.5-output-within-peer-bandwidth-hard", "5.4.5-output-within-peer-bandwidth", observe_within_window,
         {"kind": "hard"}, relay=True, accept={"within": V.PASS, "unlimited": V.FAIL, "stuck": V.FAIL,
                                               "closed": V.FAIL},
         doc="Set Peer Bandwidth 60000 Hard from a player that never acknowledges; 240 KB of video published"),
    Case("5.4.5-output-within-peer-bandwidth-soft", "5.4.5-output-within-peer-bandwidth", observe_within_window,
         {"kind": "soft-larger"}, relay=True, accept={"within": V.PASS, "unlimited": V.FAIL, "stuck": V.FAIL,
                                                      "closed": V.FAIL},
         doc="Hard 60000 then Soft 240000: the smaller limit stays in force"),
    Case("5.4.4-output-within-own-window", "5.4.4-output-within-window", observe_within_window, {"kind": "own"},
         relay=True, accept={"within": V.PASS, "unlimited": V.FAIL, "stuck": V.FAIL, "closed": V.FAIL},
         doc="no Set Peer Bandwidth: the window the server announced bounds its unacknowledged output"),
    Case("7.1.7-set-buffer-length", "7.1.7-set-buffer-length", observe_uc, {"event": "set-buffer-length"},
         accept={"ignored": V.PASS, "closed": V.FAIL, "stalled": V.FAIL}),
    Case("7.1.7-unknown-event-type", "7.1.7-unknown-event", observe_uc, {"event": "unknown"},
         accept={"ignored": V.PASS, "closed": V.FAIL, "stalled": V.FAIL}, healthy_after=True),
    Case("7.1.7-unsolicited-ping-response", "7.1.7-pong-accepted", observe_uc, {"event": "pong"},
         accept={"ignored": V.PASS, "closed": V.FAIL, "stalled": V.FAIL}),
]


@parametrize(CASES)
def test_control(case, conformance):
    conformance.run(case)


__all__ = ["CASES", "barrier", "is_type", "is_user_control", "time", "unsupported"]
