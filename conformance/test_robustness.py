"""Robustness cases: bad input on one connection must end that connection (or be ignored) and never keep the
server from serving others. Every case is followed by a second, healthy session (handshake, connect,
createStream) that must work; cases about stuck connections check that *while* the stuck one is still open."""

from __future__ import annotations

import random
import socket
import struct

from rtmpspec import amf0, control, messages
from rtmpspec.message_format import Message
from rtmpspec.messages import Command

from . import craft
from .case import Case, parametrize
from .driver import Closed, DriverError, StepTimeout
from .payloads import AUDIO, VIDEO, Item, av_sequence, avc_nalu, legacy_video, shared_object_use
from .test_control import barrier
from .verdicts import Verdict, fail, observed

V = Verdict
CMD = 20


def _closed_or(s, other: str, wait: float = 0.3) -> str:
    return "closed" if s.wait_closed(wait) else other


def observe_garbage(ctx, kind: str):
    """After connect, ``kind`` bytes that are no chunk stream: the server should close the connection."""
    s = ctx.connected()
    ctx.ready(s)
    if kind == "random":
        data = random.Random(91).randbytes(4096)
        note = "4096 random bytes"
    else:
        data = (f"GET /{ctx.target.app} HTTP/1.1\r\nHost: {ctx.target.host}\r\nUser-Agent: conformance\r\n"
                f"Connection: close\r\n\r\n").encode()
        note = "an HTTP/1.1 request after the handshake"
    try:
        s.send_raw(data, note)
    except Closed:
        return observed("closed")
    if s.wait_closed(min(1.0, ctx.step_timeout)):
        return observed("closed")
    return observed("open", "the connection stayed open (waiting for the rest of what looked like a chunk)")


def observe_type0_first(ctx, fmt: int):
    """A Type ``fmt`` chunk on a chunk stream that never had a Type 0 header."""
    s = ctx.connected()
    ctx.ready(s)
    tid = s.next_tid()
    payload = Command("createStream", tid, None).to_message().payload
    if fmt == 1:
        data = craft.header(1, 9, timestamp=0, length=len(payload), type_id=CMD) + payload
    elif fmt == 2:
        data = craft.header(2, 9, timestamp=0) + payload
    else:
        data = craft.header(3, 9) + payload
    s.send_crafted(data, f"a Type {fmt} chunk on chunk stream 9, never used before", csids=(9,))
    if s.wait_closed(0.2):
        return observed("closed")
    b = barrier(s, f"after a Type {fmt} first chunk")
    if b == "closed":
        return observed("closed")
    if b == "stalled":
        return observed("stalled", "the session no longer answers")
    if any(m.command and m.command.transaction_id == tid for m in s.inbox):
        return observed("processed", "the server executed the command of the headerless chunk")
    return observed("ignored")


def observe_big_message(ctx, mode: str):
    """A 2 MB video message (``complete-2mb``), or 1 MB of a message announced as 16777215 bytes (``announced``)."""
    pub = ctx.publisher()
    s = pub.s
    s.set_chunk_size(65536)
    if mode == "complete-2mb":
        from .case import contract

        play = ctx.player(pub.key) if contract(ctx.settings)[0] else None
        items = av_sequence(1, seed=92, with_audio=False)
        pub.send_all(items)
        big = legacy_video(1, 7, avc_nalu(True, 2_000_000, 93), avc_packet_type=1)
        try:
            s.send(Message(VIDEO, big, 40, pub.msid, 6), note="a 2 MB video message")
        except Closed:
            return observed("closed", "closed the connection on a 2 MB message")
        if play is not None:
            how, what, bad = play.relayed(items + [Item(VIDEO, 40, big, "2mb")])
            if how == "intact":
                return observed("relayed")
            if play.foreign(items + [Item(VIDEO, 40, big, "2mb")]) is not None:
                return observed("altered", what, offending=bad)
        if s.wait_closed(0.3):
            return observed("closed", "closed the connection on a 2 MB message")
        if play is None:
            return observed("dropped", "no player (the relay contract is not met): only that the server goes on "
                                       "serving is checked")
        return observed("dropped", "the 2 MB message was not relayed")
    # announce 16777215 bytes, send 1 MB of them, and stop
    length = 0xFFFFFF
    header = craft.header(0, 6, timestamp=0, length=length, type_id=VIDEO, msid=pub.msid)
    body = bytes(random.Random(94).randbytes(1_000_000))
    chunks = craft.chunked(body, 65536, header, craft.basic_header(3, 6))
    try:
        s.send_crafted(chunks, "1 MB of a message announced as 16777215 bytes", csids=(6,))
    except Closed:
        return observed("closed")
    ok, detail = ctx.healthy()  # while the huge message is still unfinished
    if not ok:
        fail("other sessions are served while a 16 MB message is half-received", detail, hard=True)
    return observed(_closed_or(s, "waiting"))


def check_half_open(ctx, where: str):
    """A connection stuck in the middle of a chunk header or a message: other sessions must be served meanwhile."""
    s = ctx.connected()
    if where == "chunk-header":
        hdr = craft.header(0, 5, timestamp=0, length=500, type_id=CMD)
        s.send_crafted(hdr[:5], "5 of the 12 bytes of a chunk header", csids=(5,))
    else:
        payload = Command("createStream", 99, None, ("x" * 400,)).to_message().payload
        s.send_crafted(craft.message(5, CMD, payload, chunk_size=128, limit=2),
                       "2 of 4 chunks of a command message", csids=(5,))
    ok, detail = ctx.healthy()
    if not ok:
        fail("other sessions served while a connection is stuck mid-message", detail, hard=True)


def check_idle(ctx, stage: str):
    """An idle connection (``stage``: TCP only, or after the handshake): other sessions must be served meanwhile."""
    idle = ctx.session("idle", handshake=(stage == "after-handshake"))
    ok, detail = ctx.healthy()
    if not ok:
        fail(f"other sessions served while a connection idles ({stage})", detail, hard=True)
    if idle.closed:
        ctx.note("the server had already closed the idle connection")


def check_many_connections(ctx, n: int):
    """``n`` connections handshake and connect concurrently; every one gets its _result."""
    sessions = []
    for i in range(n):
        s = ctx.session(f"m{i}", handshake=False)
        s.send_c0c1()
        sessions.append(s)
    for s in sessions:
        s.read_s0s1s2()
        s.send_c2()
        s.connect(expect=False)
    bad = []
    for s in sessions:
        try:
            res = s.expect(lambda m: m.name in ("_result", "_error"), "connect _result")
            if res.name != "_result":
                bad.append(f"{s.label}: {res.name}")
        except DriverError as exc:
            bad.append(f"{s.label}: {exc}")
    if bad:
        fail(f"{n} concurrent connections all connected", f"{len(bad)} failed: {'; '.join(bad[:5])}")


def observe_many_chunk_streams(ctx, n: int):
    """The first chunk of a message on each of ``n`` chunk streams, then a createStream round trip."""
    s = ctx.connected()
    ctx.ready(s)
    payload = Command("createStream", 0, None, ("y" * 300,)).to_message().payload
    parts = []
    for i in range(n):
        csid = 64 + i * 7
        parts.append(craft.message(csid, CMD, payload, chunk_size=128, limit=1))
    try:
        s.send_crafted(b"".join(parts), f"the first chunk of a 320-byte message on each of {n} chunk streams")
    except Closed:
        return observed("closed")
    if s.wait_closed(0.2):
        return observed("closed")
    b = barrier(s, f"with {n} partial messages pending")
    return observed({"ok": "coped", "closed": "closed", "stalled": "stalled"}[b])


def check_abrupt(ctx, when: str):
    """A TCP RST in the middle of the handshake or of a message (``when``); then a healthy session."""
    s = ctx.session("rst", handshake=False)
    if when == "handshake":
        s.send_c0c1(c1_length=100)
    else:
        with ctx.setup("handshake, connect, createStream"):
            s.handshake()
            s.connected()
            s.create_stream()
        payload = legacy_video(1, 7, avc_nalu(True, 3000, 95), avc_packet_type=1)
        s.send_crafted(craft.message(6, VIDEO, payload, chunk_size=128, msid=1, limit=5), "5 chunks of 24",
                       csids=(6,))
    # RST instead of FIN
    s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    s.log.add(s.label, "--", "reset", "closed with SO_LINGER 0 (TCP RST)")


def observe_malformed(ctx, kind: str):
    """A command whose AMF0 is broken (``kind``): _error, close or ignore; never a stalled session."""
    s = ctx.connected()
    ctx.ready(s)
    tid = s.next_tid()
    if kind == "truncated":
        full = Command("createStream", tid, None, ("a string that gets cut in half",)).to_message().payload
        payload = full[:len(full) - 12]
        note = f"createStream whose last AMF0 string is cut short ({len(payload)} of {len(full)} bytes)"
    elif kind == "name-not-string":
        payload = amf0.encode_all([12.0, float(tid), None])
        note = "a command message whose first value is a number, not the command name"
    else:  # connect-object-number
        payload = amf0.encode_all(["connect", 1.0, 42.0])
        note = "connect whose command object is a number"
    s.send(Message(CMD, payload, 0, 0, 3), note=note)
    if s.wait_closed(0.2):
        return observed("closed")
    b = barrier(s, f"after {note}")
    if b != "ok":
        return observed(b)
    s.drain(0.05)
    if kind == "truncated" and any(m.name == "_result" and m.command.transaction_id == tid for m in s.inbox):
        return observed("executed", "the truncated createStream was answered with _result (errata 2: an error "
                                    "aborts the processing of the element and what encloses it)")
    if any(m.name == "_error" for m in s.inbox):
        return observed("error")
    return observed("ignored")


def observe_deep(ctx, depth: int):
    """connect with an extra property of ``depth`` nested objects."""
    s = ctx.session()
    v: dict = {}
    cur = v
    for _ in range(depth):
        cur["n"] = {}
        cur = cur["n"]
    try:
        res = s.connect(extra={"x-deep": v}) if depth <= 60 else None
        if res is None:
            cmd = messages.connect(ctx.target.app, ctx.target.tc_url())
            payload = amf0.encode_all(["connect", 1.0, {**cmd.command_object, "x-deep": v}], max_depth=depth + 4)
            s.send(Message(CMD, payload, 0, 0, 3), note=f"connect with {depth} nested objects")
            res = s.expect(lambda m: m.name in ("_result", "_error"), "an answer to connect")
    except Closed:
        return observed("closed")
    except StepTimeout:
        return observed("silent")
    return observed(res.name.lstrip("_"))


def observe_media_unpublished(ctx, where: str):
    """Audio/video on a created stream that is not publishing, or on a stream id never created (``where``)."""
    s = ctx.connected()
    ctx.ready(s)
    sid = ctx.create_stream(s) if where == "created" else 77
    items = av_sequence(2, seed=96)
    try:
        for it in items:
            s.send(Message(it.type_id, it.payload, it.timestamp, sid, 6 if it.type_id == VIDEO else 4))
    except Closed:
        return observed("closed")
    if s.wait_closed(0.1):
        return observed("closed")
    b = barrier(s, "after media on a stream that is not publishing")
    return observed({"ok": "dropped", "closed": "closed", "stalled": "stalled"}[b])


def observe_unknown_type(ctx, type_id: int):
    """A message of type ``type_id`` (no such type) whose payload reads like a Set Chunk Size of 16: the chunk layer
    treats the type as opaque (it is not a control message), so a 3000-byte createStream that follows in 128-byte
    chunks is still answered."""
    from .payloads import padded_create_stream

    s = ctx.connected()
    ctx.ready(s)
    s.send(Message(type_id, control.build_set_chunk_size(16), 0, 0, 3),
           note=f"message type {type_id} carrying what a Set Chunk Size 16 would")
    if s.wait_closed(0.1):
        return observed("closed")
    tid = s.next_tid()
    s.send(Message(CMD, padded_create_stream(tid, 3000), 0, 0, 3), note="a 3000-byte createStream in 128-byte chunks")
    try:
        s.expect(lambda m: m.command is not None and m.command.transaction_id == tid,
                 f"the answer to the 3000-byte createStream (tid {tid:g})")
    except Closed:
        return observed("closed")
    except StepTimeout:
        return observed("stalled", "no answer: the unknown message was taken for a Set Chunk Size?")
    return observed("ignored")


def observe_shared_object(ctx):
    """A shared object Use event (type 19): answered or ignored, never a broken session."""
    s = ctx.connected()
    ctx.ready(s)
    s.send(Message(19, shared_object_use("conformance"), 0, 0, 3), note="shared object Use event")
    b = barrier(s, "after a shared object message")
    if b != "ok":
        return observed(b)
    s.drain(0.05)
    if any(m.type_id in (16, 19) for m in s.inbox):
        return observed("answered")
    return observed("ignored")


_GONE = {"closed": V.PASS, "open": (V.PASS, "kept the connection open; other sessions unaffected")}
_REFUSE = {"closed": V.PASS, "ignored": (V.PASS, "ignored the chunk"), "stalled": V.FAIL,
           "processed": (V.FAIL, "executed a command whose chunk stream never had a Type 0 header")}

CASES = [
    Case("robust-garbage-random-bytes", "robust-garbage-after-handshake", observe_garbage, {"kind": "random"},
         accept=_GONE, healthy_after=True),
    Case("robust-garbage-http-request", "robust-garbage-after-handshake", observe_garbage, {"kind": "http"},
         accept=_GONE, healthy_after=True),
    Case("robust-type1-first-on-chunk-stream", "robust-type0-first", observe_type0_first, {"fmt": 1},
         accept={**_REFUSE, "processed": (V.PASS, "lenient: took the missing message stream id as 0")},
         healthy_after=True, doc="a Type 1 header carries length and type: a lenient server may take msid 0"),
    Case("robust-type2-first-on-chunk-stream", "robust-type0-first", observe_type0_first, {"fmt": 2},
         accept=_REFUSE, healthy_after=True),
    Case("robust-type3-first-on-chunk-stream", "robust-type0-first", observe_type0_first, {"fmt": 3},
         accept=_REFUSE, healthy_after=True),
    Case("robust-message-2mb", "robust-message-size-limit", observe_big_message, {"mode": "complete-2mb"},
         accept={"relayed": V.PASS, "closed": (V.INFORMATIONAL, "the server limits message sizes"),
                 "dropped": (V.INFORMATIONAL, "not relayed"), "altered": V.FAIL}, healthy_after=True,
         refs=("nginx-rtmp 324",)),
    Case("robust-message-16mb-unfinished", "robust-unfinished-message", observe_big_message, {"mode": "announced"},
         accept={"closed": V.PASS, "waiting": V.PASS}, healthy_after=True,
         doc="a Type 0 header announcing 16777215 bytes, 1 MB of them, then nothing: others must be served"),
    Case("robust-half-open-mid-header", "robust-unfinished-message", check_half_open, {"where": "chunk-header"},
         healthy_after=True),
    Case("robust-half-open-mid-message", "robust-unfinished-message", check_half_open, {"where": "message"},
         healthy_after=True),
    Case("robust-idle-tcp-no-c0", "robust-idle-connections", check_idle, {"stage": "tcp"}, healthy_after=True),
    Case("robust-idle-after-handshake", "robust-idle-connections", check_idle, {"stage": "after-handshake"},
         healthy_after=True),
    Case("robust-32-concurrent-connections", "robust-many-connections", check_many_connections, {"n": 32},
         healthy_after=True),
    Case("robust-300-partial-chunk-streams", "robust-many-chunk-streams", observe_many_chunk_streams, {"n": 300},
         accept={"coped": V.PASS, "closed": V.PASS, "stalled": V.FAIL}, healthy_after=True),
    Case("robust-reset-mid-handshake", "robust-abrupt-close", check_abrupt, {"when": "handshake"},
         healthy_after=True),
    Case("robust-reset-mid-message", "robust-abrupt-close", check_abrupt, {"when": "message"}, healthy_after=True),
    Case("robust-amf-truncated-string", "robust-malformed-amf", observe_malformed, {"kind": "truncated"},
         accept={"closed": V.PASS, "error": V.PASS, "ignored": (V.PASS, "ignored"), "stalled": V.FAIL,
                 "executed": V.FAIL},
         healthy_after=True),
    Case("robust-amf-command-name-not-string", "robust-malformed-amf", observe_malformed,
         {"kind": "name-not-string"},
         accept={"closed": V.PASS, "error": V.PASS, "ignored": (V.PASS, "ignored"), "stalled": V.FAIL},
         healthy_after=True),
    Case("robust-amf-connect-object-number", "robust-malformed-amf", observe_malformed,
         {"kind": "connect-object-number"},
         accept={"closed": V.PASS, "error": V.PASS, "ignored": (V.PASS, "ignored"), "stalled": V.FAIL},
         healthy_after=True, doc="a second connect, its command object a number instead of an object"),
    Case("robust-amf-nesting-40", "robust-deep-nesting", observe_deep, {"depth": 40},
         accept={"result": V.PASS, "error": V.PASS, "closed": V.PASS, "silent": V.FAIL}, healthy_after=True),
    Case("robust-amf-nesting-500", "robust-deep-nesting", observe_deep, {"depth": 500},
         accept={"result": V.PASS, "error": V.PASS, "closed": V.PASS, "silent": V.FAIL}, healthy_after=True),
    Case("robust-media-on-created-stream-without-publish", "robust-media-without-publish",
         observe_media_unpublished, {"where": "created"},
         accept={"dropped": V.PASS, "closed": V.PASS, "stalled": V.FAIL}, healthy_after=True),
    Case("robust-media-on-unknown-stream", "robust-media-without-publish", observe_media_unpublished,
         {"where": "unknown"}, accept={"dropped": V.PASS, "closed": V.PASS, "stalled": V.FAIL}, healthy_after=True),
    Case("robust-unknown-message-type-7", "robust-unknown-message-type", observe_unknown_type, {"type_id": 7},
         accept={"ignored": V.PASS, "closed": V.FAIL, "stalled": V.FAIL}, healthy_after=True),
    Case("robust-unknown-message-type-99", "robust-unknown-message-type", observe_unknown_type, {"type_id": 99},
         accept={"ignored": V.PASS, "closed": V.FAIL, "stalled": V.FAIL}, healthy_after=True),
    Case("robust-unknown-message-type-255", "robust-unknown-message-type", observe_unknown_type,
         {"type_id": 255}, accept={"ignored": V.PASS, "closed": V.FAIL, "stalled": V.FAIL}, healthy_after=True),
    Case("robust-shared-object-use", "robust-shared-object", observe_shared_object,
         accept={"answered": V.PASS, "ignored": V.PASS, "closed": (V.INFORMATIONAL, "closed on a shared object"),
                 "stalled": V.FAIL}, healthy_after=True),
]


@parametrize(CASES)
def test_robustness(case, conformance):
    conformance.run(case)


__all__ = ["CASES", "AUDIO", "control"]
