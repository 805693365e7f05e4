"""Chunk stream cases (RTMP 1.0 section 5.3 with errata 4-5): basic header forms, header types, timestamps.

Header-level cases need no relay: a createStream sent with a crafted layout must get its _result (same transaction
id). Timestamp cases go through the target contract (publish -> play) and compare what the player receives.
"""

from __future__ import annotations

from rtmpspec import messages
from rtmpspec.message_format import Message
from rtmpspec.messages import Command

from . import craft
from .case import Case, compare_relay, parametrize
from .driver import Closed, StepTimeout, is_command
from .payloads import AUDIO, VIDEO, Item, aac, aac_config, avc_nalu, avcc, legacy_video
from .verdicts import Verdict, fail, informational, observed

V = Verdict
CMD = 20  # COMMAND_AMF0


def _create_stream_payload(tid: float, extra: tuple = ()) -> bytes:
    return Command("createStream", tid, None, extra).to_message().payload


def _expect_result(s, tid: float, what: str):
    try:
        res = s.expect(is_command(("_result", "_error"), tid=tid), f"_result for createStream (tid {tid:g}) {what}")
    except Closed as exc:
        fail(f"_result for createStream (tid {tid:g}) {what}", f"the server closed the connection: {exc}")
    except StepTimeout as exc:
        fail(f"_result for createStream (tid {tid:g}) {what}", f"no answer: {exc}")
    if res.name != "_result":
        fail(f"_result (tid {tid:g})", f"{res.name} {res.code or ''}", offending=res)
    return res


# -- basic header ---------------------------------------------------------------------------------------------


def check_csid(ctx, csid: int, form: int | None = None):
    """createStream on chunk stream ``csid`` (basic header form ``form``); the _result must come back."""
    s = ctx.connected()
    ctx.ready(s)
    tid = s.next_tid()
    data = craft.message(csid, CMD, _create_stream_payload(tid), chunk_size=128, form=form)
    s.send_crafted(data, f"createStream (tid {tid:g}) on csid {csid}, {form or 'shortest'}-byte basic header",
                   csids=(csid,))
    _expect_result(s, tid, f"on csid {csid}")
    # the connection keeps working on the usual chunk stream
    s.create_stream()


def check_forms_equivalent(ctx, csid: int, first: int, second: int):
    """Type 0 in one basic header form, then a Type 2 (needs the state of the first) in the other form."""
    s = ctx.connected()
    ctx.ready(s)
    t1, t2 = s.next_tid(), s.next_tid()
    a = craft.message(csid, CMD, _create_stream_payload(t1), chunk_size=128, form=first)
    b = craft.basic_header(2, csid, second) + craft.message_header(2, timestamp=0) + _create_stream_payload(t2)
    s.send_crafted(a, f"createStream (tid {t1:g}) csid {csid} Type 0, {first}-byte basic header", csids=(csid,))
    _expect_result(s, t1, f"(Type 0, {first}-byte form)")
    s.send_crafted(b, f"createStream (tid {t2:g}) csid {csid} Type 2, {second}-byte basic header", csids=(csid,))
    _expect_result(s, t2, f"(Type 2 in the {second}-byte form: same chunk stream)")


# -- message header types ---------------------------------------------------------------------------------------


def check_header_type(ctx, fmt: int):
    """createStream with a Type 0 header, then a second one with a Type ``fmt`` header on the same csid."""
    s = ctx.connected()
    ctx.ready(s)
    csid = 7
    t1, t2 = s.next_tid(), s.next_tid()
    first = craft.message(csid, CMD, _create_stream_payload(t1), chunk_size=128, fmt=0, timestamp=10)
    s.send_crafted(first, f"createStream (tid {t1:g}) Type 0, ts 10", csids=(csid,))
    _expect_result(s, t1, "(Type 0)")
    if fmt == 1:
        payload = _create_stream_payload(t2, (None,))  # one more AMF null: a new length
        second = craft.header(1, csid, timestamp=5, length=len(payload), type_id=CMD) + payload
        note = f"createStream (tid {t2:g}) Type 1: delta 5, new length {len(payload)}"
    elif fmt == 2:
        payload = _create_stream_payload(t2)
        second = craft.header(2, csid, timestamp=5) + payload
        note = f"createStream (tid {t2:g}) Type 2: delta 5"
    else:
        payload = _create_stream_payload(t2)
        second = craft.header(3, csid) + payload
        note = f"createStream (tid {t2:g}) Type 3: a new message, everything inherited"
    s.send_crafted(second, note, csids=(csid,))
    _expect_result(s, t2, f"(Type {fmt})")


def check_continuation(ctx, pad: int):
    """connect with a ``pad``-character extra property: the message spans many 128-byte chunks."""
    s = ctx.session()
    res = s.connect(extra={"x-padding": "p" * pad})
    if res.name != "_result":
        fail("_result for a connect spanning many chunks", f"{res.name} {res.code}", offending=res)


# -- timestamps through the relay -------------------------------------------------------------------------------


def _audio_series(start: int, steps: list[tuple[int, int, int]], seed: int = 5):
    """(fmt, delta, length) steps after a Type 0 message at ``start``: returns [(fmt, Item)]."""
    import random

    rnd = random.Random(seed)
    out = []
    t = start
    length = 100
    out.append((0, Item(AUDIO, t, aac(1, rnd.randbytes(length)), "type0")))
    for fmt, delta, new_len in steps:
        if new_len:
            length = new_len
        t = (t + delta) & 0xFFFFFFFF
        out.append((fmt, Item(AUDIO, t, aac(1, rnd.randbytes(length)), f"type{fmt}")))
    return out


def _publish_series(pub, series, csid: int = 4):
    for fmt, item in series:
        pub.s.send(Message(item.type_id, item.payload, item.timestamp, pub.msid, csid), fmt=fmt)


def check_deltas(ctx, start: int, steps: list, exact: bool = False):
    """Audio on one chunk stream with the given header types; the player must see the same deltas."""
    pub, play = ctx.relay_pair()
    pub.s.send(Message(AUDIO, aac(0, aac_config()), start, pub.msid, 4))  # AAC sequence header, Type 0
    series = _audio_series(start, steps)
    # the sequence header used csid 4 at ``start``: continue that chunk stream's state
    series[0] = (0, series[0][1])
    _publish_series(pub, series)
    sent = [Item(AUDIO, start, aac(0, aac_config()), "aac-seq")] + [it for _, it in series]
    got = play.wait_media(len(sent))
    problem = compare_relay(sent, got, exact_timestamps=exact)
    if problem:
        fail("the player gets the audio with the sender's timestamp deltas", problem[0], offending=problem[1])


def check_type3_after_type0(ctx, t0: int):
    """Audio Type 0 at ``t0`` then a Type 3 new message: the delta is ``t0`` (RTMP 5.3.1.2.4)."""
    pub, play = ctx.relay_pair()
    import random

    rnd = random.Random(3)
    a = Item(AUDIO, t0, aac(1, rnd.randbytes(90)), "type0")
    b = Item(AUDIO, 2 * t0, aac(1, rnd.randbytes(90)), "type3")
    pub.s.send(Message(AUDIO, a.payload, a.timestamp, pub.msid, 9), fmt=0)
    pub.s.send(Message(AUDIO, b.payload, b.timestamp, pub.msid, 9), fmt=3)
    got = play.wait_media(2)
    got = [m for m in got if m.type_id == AUDIO]
    if len(got) < 2:
        fail("both audio messages relayed", f"{len(got)} of 2 arrived")
    delta = (got[1].timestamp - got[0].timestamp) & 0xFFFFFFFF
    if got[1].payload != b.payload:
        fail("the Type 3 message's payload", "a different payload", offending=got[1])
    if delta != t0:
        fail(f"delta {t0} (the Type 0 timestamp) between the two messages",
             f"delta {delta} (timestamps {got[0].timestamp} -> {got[1].timestamp})", offending=got[1])


def check_extended(ctx, mode: str):
    """Timestamps past 24 bits: Type 0 absolute values, or Type 1/2 deltas >= 0xFFFFFF."""
    pub, play = ctx.relay_pair()
    import random

    rnd = random.Random(11)
    base = 0xFFFF00
    if mode == "type0":
        plan = [(0, base), (0, 0x1000040), (0, 0x10000C0), (0, 0x7FFFFFF0)]
    elif mode == "type1-delta":
        plan = [(0, 1000), (1, 1000 + 0x1000010)]
    else:  # type2-delta
        plan = [(0, 1000), (2, 1000 + 0x1000010), (2, 1000 + 0x2000020)]
    sent = []
    length = 120
    for fmt, ts in plan:
        if fmt == 1:
            length += 7
        it = Item(AUDIO, ts, aac(1, rnd.randbytes(length)), f"type{fmt}")
        pub.s.send(Message(AUDIO, it.payload, ts, pub.msid, 4), fmt=fmt)
        sent.append(it)
    got = play.wait_media(len(sent))
    problem = compare_relay(sent, got)
    if problem:
        fail("timestamps past 0xFFFFFF relayed with the sender's deltas", problem[0], offending=problem[1])


def check_fmt3_extended(ctx, mode: str):
    """Extended timestamp repeated in Type 3 chunks (errata 5.1): multi-chunk video, or a Type 3 new message."""
    pub, play = ctx.relay_pair()
    import random

    rnd = random.Random(13)
    t = 0x1234567
    if mode == "continuation":
        items = [Item(VIDEO, t, legacy_video(1, 7, avcc(), avc_packet_type=0), "avc-seq"),
                 Item(VIDEO, t, legacy_video(1, 7, avc_nalu(True, 6000, 1), avc_packet_type=1), "key"),
                 Item(VIDEO, t + 40, legacy_video(2, 7, avc_nalu(False, 3000, 2), avc_packet_type=1), "inter")]
        for it in items:
            pub.send(it)  # ChunkWriter: Type 0 + extended, Type 3 continuations repeat it
    else:
        d = 0x1000010
        items = [Item(AUDIO, t, aac(1, rnd.randbytes(150)), "type0"),
                 Item(AUDIO, t + d, aac(1, rnd.randbytes(150)), "type2"),
                 Item(AUDIO, t + 2 * d, aac(1, rnd.randbytes(150)), "type3")]
        for fmt, it in zip((0, 2, 3), items, strict=True):
            pub.s.send(Message(AUDIO, it.payload, it.timestamp, pub.msid, 4), fmt=fmt)
    got = play.wait_media(len(items))
    problem = compare_relay(items, got)
    if problem:
        fail("messages whose Type 3 chunks repeat the extended timestamp are relayed intact", problem[0],
             offending=problem[1])


def check_fmt3_extended_sent(ctx):
    """Big video frames at timestamps past 0xFFFFFF as the first messages of the stream: the server's Type 3
    chunks must carry the extended timestamp whenever the last Type 0/1/2 header of that chunk stream did."""
    pub, play = ctx.relay_pair()
    size = max(10000, play.s.reader.chunk_size * 2 + 100)
    if size > 4_000_000:
        informational(f"the server's chunk size {play.s.reader.chunk_size} is too large to see Type 3 chunks")
    t = 0x1234567
    items = [Item(VIDEO, t, legacy_video(1, 7, avc_nalu(True, size, 3), avc_packet_type=1), "key"),
             Item(VIDEO, t + 0x1000000, legacy_video(1, 7, avc_nalu(True, size, 4), avc_packet_type=1), "key2")]
    pub.s.set_chunk_size(65536)
    pub.send_all(items)
    got = play.wait_media(len(items))
    problem = compare_relay(items, got)
    if problem:
        fail("the frames relayed intact", problem[0], offending=problem[1])
    checked = 0
    ext_in_use: dict[int, bool] = {}
    for m in play.s.inbox:  # in stream order: track each chunk stream's "extended timestamp in use" state
        for info in m.chunks:
            if info.fmt < 3:
                ext_in_use[info.csid] = info.header_fields["message"].get("extendedTimestamp") is not None
                continue
            if not ext_in_use.get(info.csid):
                continue
            checked += 1
            if info.header_fields.get("message", {}).get("extendedTimestamp") is None:
                fail("every Type 3 chunk repeats the extended timestamp of the last Type 0/1/2 header of its chunk "
                     "stream (RTMP 5.3.1.3, errata 5.1)",
                     f"a Type 3 chunk at stream offset {info.offset} (csid {info.csid}) has no extended timestamp",
                     offending=m)
    if not checked:
        informational("the server used no extended timestamp on a multi-chunk message (timestamps "
                      f"{[m.timestamp for m in got]}): nothing to check")


def check_wraparound(ctx):
    """Audio from 0xFFFFFF00 across the 32-bit wrap with Type 2/3 deltas."""
    pub, play = ctx.relay_pair()
    start = 0xFFFFFF00
    steps = [(2, 0x80, 0), (3, 0x80, 0), (3, 0x80, 0), (3, 0x80, 0)]
    series = _audio_series(start, steps, seed=21)
    _publish_series(pub, series)
    sent = [it for _, it in series]
    got = play.wait_media(len(sent))
    problem = compare_relay(sent, got)
    if problem:
        fail("deltas kept across the 32-bit wrap (serial number arithmetic)", problem[0], offending=problem[1])


def check_interleaved(ctx, with_command: bool):
    """Audio (csid 4) and video (csid 6) messages of several chunks, their chunks interleaved one by one."""
    pub, play = ctx.relay_pair()
    import random

    rnd = random.Random(17)
    seq = [Item(VIDEO, 0, legacy_video(1, 7, avcc(), avc_packet_type=0), "avc-seq"),
           Item(AUDIO, 0, aac(0, aac_config()), "aac-seq")]
    pub.send_all(seq)
    a = Item(AUDIO, 20, aac(1, rnd.randbytes(700)), "audio")
    v = Item(VIDEO, 20, legacy_video(1, 7, avc_nalu(True, 1100, 5), avc_packet_type=1), "key")
    ca = craft.chunk_list(a.payload, 128, craft.header(0, 4, timestamp=20, length=len(a.payload), type_id=AUDIO,
                                                       msid=pub.msid), craft.basic_header(3, 4))
    cv = craft.chunk_list(v.payload, 128, craft.header(0, 6, timestamp=20, length=len(v.payload), type_id=VIDEO,
                                                       msid=pub.msid), craft.basic_header(3, 6))
    mixed = []
    for i in range(max(len(ca), len(cv))):
        if i < len(cv):
            mixed.append(cv[i])
        if i < len(ca):
            mixed.append(ca[i])
        if with_command and i == 2:
            tid = pub.s.next_tid()
            mixed.append(craft.message(3, CMD, _create_stream_payload(tid), chunk_size=128))
    pub.s.send_crafted(b"".join(mixed), "audio and video chunks interleaved" +
                       (" with a createStream in between" if with_command else ""), csids=(3, 4, 6))
    if with_command:
        _expect_result(pub.s, tid, "interleaved between media chunks")
    got = play.wait_media(4)
    problem = compare_relay(seq + [a, v], got)
    if problem:
        fail("both interleaved messages reassembled and relayed", problem[0], offending=problem[1])


def check_shared_chunk_stream(ctx):
    """createStream (msid 0), publish (msid N) and createStream (msid 0) on the same chunk stream 3."""
    s = ctx.connected()
    sid = ctx.create_stream(s)
    key = ctx.key()
    s.send_cmd(messages.publish(key, "live", msid=sid), csid=3)  # the writer switches msid with a Type 0
    st = s.expect(lambda m: m.name in ("onStatus", "_error"), "onStatus for publish sent on csid 3")
    if st.code != "NetStream.Publish.Start":
        fail("NetStream.Publish.Start", f"{st.name} {st.code}", offending=st)
    s.create_stream()


def check_direction(ctx, size: int):
    """Connected (the server announced its own chunk size); Set Chunk Size ``size`` from the client; then publish:
    the server's onStatus (longer than ``size``) must still be chunked at the server's size, not ours."""
    from rtmpspec import control

    s = ctx.connected()
    sid = ctx.create_stream(s)
    s.send_many([Message(control.SET_CHUNK_SIZE, control.build_set_chunk_size(size), 0, 0, 2),
                 Message(control.USER_CONTROL, control.build_user_control("PingRequest", timestamp=77), 0, 0, 2)],
                note=f"Set Chunk Size {size}, then a PingRequest used as a barrier")
    try:
        s.expect(lambda m: m.user_control is not None and m.user_control[0] == control.PING_RESPONSE,
                 "PingResponse", timeout=0.3)
    except StepTimeout:
        pass  # no ping support: 0.3 s is the barrier
    st = s.publish(ctx.key(), msid=sid)
    if st.code != "NetStream.Publish.Start":
        fail("NetStream.Publish.Start", f"{st.name} {st.code}", offending=st)
    if len(st.raw) - 12 <= size:
        informational(f"the onStatus ({len(st.payload)} bytes) fit in one chunk of {size}: nothing to tell apart")


def check_shrink_buffered(ctx, size: int):
    """Set Chunk Size ``size`` (smaller than 128) and connect chunked at ``size`` in ONE write: the server reads
    chunks already in its buffer at the new size."""
    from rtmpspec import control

    s = ctx.session()
    connect = messages.connect(ctx.target.app, ctx.target.tc_url()).to_message()
    s.send_many([Message(control.SET_CHUNK_SIZE, control.build_set_chunk_size(size), 0, 0, 2), connect])
    res = s.expect(is_command(("_result", "_error"), tid=1), f"_result for a connect chunked at {size}")
    if res.name != "_result":
        fail("_result", f"{res.name} {res.code}", offending=res)


# -- the server's own chunk headers --------------------------------------------------------------------------


def _chunks(s) -> list:
    """Every chunk of the completed messages the server sent on ``s``, in stream order."""
    return sorted((ci for m in s.inbox for ci in m.chunks), key=lambda ci: ci.offset)


def _owner(s, ci):
    return next((m for m in s.inbox if ci in m.chunks), None)


def _av_with_big_frames(seed: int) -> list[Item]:
    import random

    rnd = random.Random(seed)
    items = [Item(VIDEO, 0, legacy_video(1, 7, avcc(), avc_packet_type=0), "avc-seq"),
             Item(AUDIO, 0, aac(0, aac_config()), "aac-seq")]
    for i in range(4):
        items.append(Item(VIDEO, 40 * i, legacy_video(1 if i == 0 else 2, 7, avc_nalu(i == 0, 20000 if i == 0 else
                                                                                          3000, seed + i),
                                                      avc_packet_type=1), "video"))
        items.append(Item(AUDIO, 40 * i + 5, aac(1, rnd.randbytes(300)), "audio"))
    return items


def check_server_first_chunk(ctx):
    """Connect, createStream, publish, play and relay (a 20 KB keyframe among audio): every chunk the server sends
    comes whole after the previous one (all messages decode byte-exact), and the first chunk of each chunk stream
    has a Type 0 header."""
    pub, play = ctx.relay_pair()
    items = _av_with_big_frames(301)
    pub.send_all(items)
    got = play.wait_media(len(items))
    problem = compare_relay(items, got)
    if problem:
        fail("every relayed message intact (each chunk whole, in sequence)", problem[0], offending=problem[1])
    for s in (pub.s, play.s):
        seen: set[int] = set()
        for ci in _chunks(s):
            if ci.csid not in seen and ci.fmt != 0:
                fail("a Type 0 header on the first chunk of each chunk stream (RTMP 1.0 5.3.1.2.1: MUST)",
                     f"the first chunk on chunk stream {ci.csid} (offset {ci.offset}) has a Type {ci.fmt} header",
                     offending=_owner(s, ci))
            seen.add(ci.csid)


def observe_backward_type0(ctx):
    """Audio 0, 1000, 500, 1040 from the publisher: where the server's output to the player goes backward on a
    chunk stream, the message there starts with a Type 0 header."""
    import random

    pub, play = ctx.relay_pair()
    rnd = random.Random(303)
    items = [Item(AUDIO, 0, aac(0, aac_config()), "seq"), Item(AUDIO, 1000, aac(1, rnd.randbytes(90)), "a"),
             Item(AUDIO, 500, aac(1, rnd.randbytes(90)), "back"), Item(AUDIO, 1040, aac(1, rnd.randbytes(90)), "c")]
    for it in items:
        pub.s.send(Message(AUDIO, it.payload, it.timestamp, pub.msid, 4), fmt=0)
    play.wait_media(len(items), timeout=min(1.0, ctx.step_timeout))
    last: dict[tuple[int, int], int] = {}
    backward = 0
    for m in play.s.inbox:
        if not m.chunks:
            continue
        key = (m.msg.csid, m.msid)
        if key in last and m.timestamp < last[key] and (last[key] - m.timestamp) < (1 << 31):
            backward += 1
            if m.chunks[0].fmt != 0:
                return observed("not-type0", f"timestamp {last[key]} -> {m.timestamp} on chunk stream "
                                f"{m.msg.csid} with a Type {m.chunks[0].fmt} header", offending=m)
        last[key] = m.timestamp
    if not backward:
        return observed("no-backward-step", "the server's output never went backward (nothing to check)")
    return observed("type0")


def check_extended_delta_sent(ctx):
    """Two video frames 0x1000010 ms apart on one chunk stream: the server's header for the second writes
    0xFFFFFF in its timestamp (delta) field and the full value in the extended timestamp."""
    pub, play = ctx.relay_pair()
    items = [Item(VIDEO, 100, legacy_video(1, 7, avcc(), avc_packet_type=0), "avc-seq"),
             Item(VIDEO, 100, legacy_video(1, 7, avc_nalu(True, 900, 305), avc_packet_type=1), "key"),
             Item(VIDEO, 100 + 0x1000010, legacy_video(2, 7, avc_nalu(False, 500, 306), avc_packet_type=1), "far")]
    pub.send_all(items)
    got = play.wait_media(len(items))
    problem = compare_relay(items, got)
    if problem:
        fail("the frames relayed with their timestamp deltas", problem[0], offending=problem[1])
    prev: dict[int, int] = {}
    for m in play.s.inbox:
        if m.type_id != VIDEO or not m.chunks:
            continue
        ci = m.chunks[0]
        h = ci.header_fields.get("message", {})
        if m.payload == items[2].payload:
            if ci.fmt == 0:
                field, ext, want = h.get("timestamp"), h.get("extendedTimestamp"), m.timestamp
            elif ci.fmt in (1, 2):
                field, ext, want = h.get("timestampDelta"), h.get("extendedTimestamp"), \
                    (m.timestamp - prev.get(ci.csid, 0)) & 0xFFFFFFFF
            else:
                informational("the frame came with a Type 3 header (its delta repeated): nothing to check")
            if want >= 0xFFFFFF and (field != 0xFFFFFF or ext != want):
                fail(f"0xFFFFFF in the Type {ci.fmt} timestamp field and {want} in the extended timestamp "
                     "(RTMP 1.0 5.3.1.2.5, 5.3.1.3)", f"field 0x{field or 0:06x}, extended {ext}", offending=m)
        prev[ci.csid] = m.timestamp


def check_server_header_forms(ctx):
    """Everything the server sends in a publish/play/relay session: chunk stream ids in the shortest basic header
    form, timestamps and deltas below 0xFFFFFF in the 3-byte field (no needless extended timestamp), and every User
    Control message in a single chunk."""
    pub, play = ctx.relay_pair()
    items = _av_with_big_frames(307)
    pub.send_all(items)
    play.wait_media(len(items))
    for s in (pub.s, play.s):
        for ci in _chunks(s):
            prov = ci.header_fields["basic"]["head"]["provisionalChunkStreamID"]
            form = 1 if prov >= 2 else prov + 2  # 0: two-byte form, 1: three-byte form
            shortest = 1 if ci.csid <= 63 else 2 if ci.csid <= 319 else 3
            if form != shortest:
                fail(f"chunk stream {ci.csid} in the {shortest}-byte basic header (RTMP 1.0 5.3.1.1: SHOULD)",
                     f"a {form}-byte basic header at offset {ci.offset}", offending=_owner(s, ci))
            h = ci.header_fields.get("message", {})
            field = h.get("timestamp", h.get("timestampDelta"))
            ext = h.get("extendedTimestamp")
            if field == 0xFFFFFF and ext is not None and ext < 0xFFFFFF:
                fail("timestamps and deltas below 0xFFFFFF in the 3-byte field (RTMP 1.0 5.3.1.2.1, 5.3.1.2.5: "
                     "SHOULD)", f"0xFFFFFF + extended timestamp {ext} at offset {ci.offset}", offending=_owner(s, ci))
        for m in s.inbox:
            if m.type_id == 4 and len(m.chunks) > 1:
                fail("a User Control message in one chunk (RTMP 1.0 6.2: SHOULD)",
                     f"{len(m.chunks)} chunks", offending=m)


CASES = [
    Case("5.3.1.1-csid-one-byte-3", "5.3.1.1-csid-one-byte", check_csid, {"csid": 3}),
    Case("5.3.1.1-csid-one-byte-31", "5.3.1.1-csid-one-byte", check_csid, {"csid": 31}),
    Case("5.3.1.1-csid-one-byte-63", "5.3.1.1-csid-one-byte", check_csid, {"csid": 63}, refs=("nginx-rtmp 246",)),
    Case("5.3.1.1-csid-two-byte-64", "5.3.1.1-csid-two-byte", check_csid, {"csid": 64}, refs=("nginx-rtmp 246",)),
    Case("5.3.1.1-csid-two-byte-319", "5.3.1.1-csid-two-byte", check_csid, {"csid": 319}),
    Case("5.3.1.1-csid-three-byte-320", "5.3.1.1-csid-three-byte", check_csid, {"csid": 320}),
    Case("5.3.1.1-csid-three-byte-1000", "5.3.1.1-csid-three-byte", check_csid, {"csid": 1000},
         doc="csid 1000: bytes 0xA8 0x03 (little-endian 936)"),
    Case("5.3.1.1-csid-three-byte-65599", "5.3.1.1-csid-three-byte", check_csid, {"csid": 65599},
         doc="the largest chunk stream id"),
    Case("5.3.1.1-csid-three-byte-form-of-100", "5.3.1.1-csid-three-byte", check_csid, {"csid": 100, "form": 3},
         doc="csid 100 in the three-byte form (allowed: 64-319 may use either form)"),
    Case("5.3.1.1-csid-forms-2-then-3", "5.3.1.1-csid-forms-equivalent", check_forms_equivalent,
         {"csid": 300, "first": 2, "second": 3}, doc="csid 300: Type 0 two-byte form, then Type 2 three-byte form"),
    Case("5.3.1.1-csid-forms-3-then-2", "5.3.1.1-csid-forms-equivalent", check_forms_equivalent,
         {"csid": 65, "first": 3, "second": 2}, doc="csid 65: Type 0 three-byte form, then Type 2 two-byte form"),
    Case("5.3.1.2.2-type1-new-length", "5.3.1.2.2-type1", check_header_type, {"fmt": 1}),
    Case("5.3.1.2.3-type2-same-length", "5.3.1.2.3-type2", check_header_type, {"fmt": 2}),
    Case("5.3.1.2.4-type3-new-message", "5.3.1.2.4-type3-new-message", check_header_type, {"fmt": 3}),
    Case("5.3.1.2.4-type3-continuation-connect", "5.3.1.2.4-type3-continuation", check_continuation, {"pad": 3000},
         doc="a 3 KB connect command: about 25 chunks of 128 bytes"),
    Case("5.3.1.2.4-type3-after-type0-40", "5.3.1.2.4-type3-after-type0", check_type3_after_type0, {"t0": 40},
         relay=True),
    Case("5.3.1.2-deltas-type2-type3", "5.3.1.2-timestamp-deltas", check_deltas,
         {"start": 1000, "steps": [(2, 23, 0), (3, 23, 0), (3, 23, 0), (2, 21, 0), (3, 21, 0)]}, relay=True,
         doc="constant-size audio: Type 2 then Type 3 (RTMP 5.3.2.1 example 1)"),
    Case("5.3.1.2-deltas-type1-varying", "5.3.1.2-timestamp-deltas", check_deltas,
         {"start": 5000, "steps": [(1, 20, 140), (1, 20, 90), (2, 26, 0), (1, 0, 60), (3, 0, 0), (1, 33, 200)]},
         relay=True, doc="variable-size messages with Type 1 headers, a zero delta, Type 3 with delta 0"),
    Case("5.3.1.3-extended-type0-absolute", "5.3.1.3-extended-timestamp", check_extended, {"mode": "type0"},
         relay=True, doc="Type 0 timestamps 0xFFFF00, 0x1000040, 0x10000C0, 0x7FFFFFF0"),
    Case("5.3.1.3-extended-type1-delta", "5.3.1.3-extended-timestamp", check_extended, {"mode": "type1-delta"},
         relay=True, doc="a Type 1 delta of 0x1000010: the extended field is a delta, not absolute (SRS PR 4356)"),
    Case("5.3.1.3-extended-type2-delta", "5.3.1.3-extended-timestamp", check_extended, {"mode": "type2-delta"},
         relay=True, doc="Type 2 deltas of 0x1000010"),
    Case("5.3.1.3-fmt3-extended-continuation", "5.3.1.3-fmt3-extended-timestamp", check_fmt3_extended,
         {"mode": "continuation"}, relay=True, refs=("nginx-rtmp PR 1462", "OBS PR 10097"),
         doc="6 KB video at ts 0x1234567: every Type 3 continuation chunk repeats the extended timestamp"),
    Case("5.3.1.3-fmt3-extended-new-message", "5.3.1.3-fmt3-extended-timestamp", check_fmt3_extended,
         {"mode": "new-message"}, relay=True,
         doc="Type 0 (extended), Type 2 (extended delta), then a Type 3 new message carrying the extended delta"),
    Case("5.3.1.3-fmt3-extended-sent-to-player", "5.3.1.3-fmt3-extended-timestamp-sent",
         check_fmt3_extended_sent, relay=True, refs=("nginx-rtmp PR 1462",)),
    Case("4-timestamp-wraparound-deltas", "4-timestamp-wraparound", check_wraparound, relay=True,
         refs=("SRS 2409",), doc="audio from 0xFFFFFF00 with 0x80 deltas across 2^32"),
    Case("5.3-interleaved-audio-video-chunks", "5.3-interleaved-chunk-streams", check_interleaved,
         {"with_command": False}, relay=True),
    Case("5.3-interleaved-with-command", "5.3-interleaved-chunk-streams", check_interleaved,
         {"with_command": True}, relay=True,
         doc="a createStream on csid 3 between the chunks of an unfinished video message"),
    Case("5.3.1.2.5-publish-on-command-chunk-stream", "5.3.1.2.5-message-streams-share-chunk-stream",
         check_shared_chunk_stream, doc="msid 0 and msid N on chunk stream 3, switched by Type 0 headers"),
    Case("5.3-chunk-size-direction-client-50", "5.3-chunk-size-per-direction", check_direction, {"size": 50}),
    Case("5.3.1.2.1-server-first-chunk-type0", "5.3.1-server-chunk-headers", check_server_first_chunk,
         relay=True, doc="connect, publish, play, a 20 KB keyframe among audio: each chunk stream starts with Type 0"),
    Case("5.3.1.2.1-server-type0-on-backward-timestamp", "5.3.1-server-chunk-headers", observe_backward_type0,
         relay=True, accept={"type0": V.PASS, "not-type0": V.FAIL,
                             "no-backward-step": (V.INFORMATIONAL, "the server's output never goes backward")}),
    Case("5.3.1.2.5-server-extended-delta", "5.3.1-server-chunk-headers", check_extended_delta_sent, relay=True,
         doc="video frames at 100 and 100 + 0x1000010: the delta (or timestamp) past 24 bits is escaped"),
    Case("5.3.1.1-server-shortest-header-forms", "5.3.1-server-header-forms", check_server_header_forms,
         relay=True),
    Case("5.3-set-chunk-size-50-with-connect-in-one-read", "5.4.1-set-chunk-size-applies", check_shrink_buffered,
         {"size": 50}, doc="the Set Chunk Size and the chunks after it arrive in the same TCP read"),
]


@parametrize(CASES)
def test_chunking(case, conformance):
    conformance.run(case)


__all__ = ["CASES", "observed"]
