"""Judging a client run: small checks over what the scenario recorded. Each ends the case with a verdict helper
of :mod:`conformance.verdicts` (fail, non_strict, unsupported, informational) or returns normally (pass)."""

from __future__ import annotations

from typing import Any

from rtmpspec import control
from rtmpspec import handshake as hs
from rtmpspec.flv import AUDIO, VIDEO, FLVTag, read_flv
from rtmpspec.media import is_keyframe, is_sequence_header

from ..verdicts import fail, informational, unsupported
from ..wire import Inbound
from . import inputs
from .scenario import APP, Run
from .stage import Peer

U32 = 0xFFFFFFFF
HANDSHAKE = hs.FLIGHT_SIZE


def get_run(ctx, scenario: str) -> Run:
    """The (cached) run of ``scenario`` for this case; its wire log becomes the case's."""
    mode = getattr(ctx.settings, "client", None)
    if mode is None:
        unsupported("a client-mode case: run with --client")
    run = mode.run(scenario)
    ctx.log.entries = list(run.log.entries)
    ctx.log.dropped = run.log.dropped
    client = run.proc.describe() if run.proc is not None else "not started"
    ctx.note(f"scenario {scenario} ({run.seconds:.2f} s), client {client}")
    for n in run.notes:
        ctx.note(n)
    return run


def need_peer(run: Run, what: str) -> Peer:
    if run.peer is None:
        fail(what, f"the client never connected: {run.error or run.client_state()}")
    return run.peer


def session_completed(run: Run, what: str, *, media: int = 1) -> Peer:
    """The scenario got through the publish / play sequence (and ``media`` messages for a publisher)."""
    peer = need_peer(run, what)
    if run.error:
        fail(what, run.error)
    if run.spec.role == "publish" and len(peer.media()) < media:
        fail(what, f"only {len(peer.media())} media messages arrived after the publish sequence; "
                   f"the client {run.client_state()}")
    return peer


def first_command(peer: Peer, name: str) -> Inbound | None:
    return next((m for m in peer.inbox if m.name == name), None)


def connect_of(run: Run, what: str) -> tuple[Inbound, dict]:
    peer = need_peer(run, what)
    c = first_command(peer, "connect")
    if c is None:
        fail(what, f"no connect command arrived ({run.error or 'the client sent none'})")
    obj = c.command.command_object
    if not isinstance(obj, dict):
        fail("connect's command object is an AMF object", f"it is {type(obj).__name__}: {obj!r}", offending=c)
    return c, obj


def start_command(run: Run, what: str) -> Inbound:
    peer = need_peer(run, what)
    name = "publish" if run.spec.role == "publish" else "play"
    m = first_command(peer, name)
    if m is None:
        fail(what, f"no {name} command arrived ({run.error or 'none was sent'})")
    return m


# -- handshake ----------------------------------------------------------------------------------------------------


def handshake_bytes(run: Run, what: str) -> Peer:
    peer = need_peer(run, what)
    if len(peer.hs_in) < HANDSHAKE:
        fail(what, f"the handshake is incomplete: {len(peer.hs_in)} of {HANDSHAKE} bytes (C0+C1+C2) arrived")
    return peer


def c1_digest(peer: Peer) -> tuple[int, int] | None:
    return hs.find_digest(peer.c1, hs.GENUINE_FP_KEY_PARTIAL)


def s1_digest(peer: Peer) -> bytes | None:
    found = hs.find_digest(peer.s1, hs.GENUINE_FMS_KEY_PARTIAL)
    return peer.s1[found[1]:found[1] + hs.DIGEST_SIZE] if found else None


# -- media of a publisher -----------------------------------------------------------------------------------------


def by_type(items: list, type_id: int) -> list:
    return [m for m in items if m.type_id == type_id]


def is_avc_end_of_sequence(payload: bytes) -> bool:
    """An AVC end of sequence (FLV E.4.3.1 AVCPacketType 2): what an FLV muxer appends when it closes a file."""
    return len(payload) >= 2 and payload[0] & 0x0F == 7 and payload[1] == 2


def compare_media(sent: list, got: list, *, what: str, offending_of=lambda m: m,
                  trailer_ok: bool = False) -> tuple[str, Any] | None:
    """None when ``got`` has the payloads of ``sent``, per type, in order and complete; else (problem, offending).
    ``trailer_ok``: AVC end-of-sequence messages after the last one sent are the file writer's (ffmpeg's FLV
    muxer appends one when it closes a file), not extra media."""
    for t, name in ((VIDEO, "video"), (AUDIO, "audio")):
        s, g = by_type(sent, t), by_type(got, t)
        if trailer_ok:
            while len(g) > len(s) and is_avc_end_of_sequence(g[-1].payload):
                g = g[:-1]
        for i, (a, b) in enumerate(zip(s, g, strict=False)):
            if a.payload != b.payload:
                return (f"{name} message {i} of {what} differs from the source: {len(b.payload)} bytes "
                        f"{b.payload[:10].hex()}... instead of {len(a.payload)} bytes {a.payload[:10].hex()}...",
                        offending_of(b))
        if len(g) < len(s):
            lost = s[len(g)]
            return (f"{len(g)} of {len(s)} {name} messages of {what}; the first missing one: timestamp "
                    f"{lost.timestamp}, {len(lost.payload)} bytes", None)
        if len(g) > len(s):
            return f"{len(g)} {name} messages of {what}, {len(s)} in the source", offending_of(g[len(s)])
    return None


def compare_timestamps(sent: list, got: list, *, what: str, offending_of=lambda m: m) -> tuple[str, Any] | None:
    """None when the timestamps of ``got`` keep the deltas of ``sent`` (modulo 2**32), measured from the first
    message of either type (so audio/video alignment counts); else (problem, offending)."""
    if not sent or not got:
        return None
    base_s = sent[0].timestamp
    base_g = got[0].timestamp
    pairs = []
    for t in (VIDEO, AUDIO):
        pairs += list(zip(by_type(sent, t), by_type(got, t), strict=False))
    pairs.sort(key=lambda p: (p[0].timestamp - base_s) & U32)
    for a, b in pairs:
        want = (b.timestamp - base_g) & U32
        have = (a.timestamp - base_s) & U32
        if want != have:
            kind = "video" if a.type_id == VIDEO else "audio"
            return (f"a {kind} message {have} ms after the first one of the source is {want} ms after the first "
                    f"one of {what} (source timestamp {a.timestamp}, {what} {b.timestamp})", offending_of(b))
    return None


def publisher_media(run: Run) -> tuple[list, list[Inbound]]:
    peer = need_peer(run, "media")
    return inputs.media_items(run.input_variant or "av"), peer.media()


# -- chunk-level evidence ------------------------------------------------------------------------------------------


def basic_header_length(first: int) -> int:
    low = first & 0x3F
    return 2 if low == 0 else 3 if low == 1 else 1


def type3_extended_violations(peer: Peer) -> tuple[int, list[dict]]:
    """(Type 3 chunks that needed the extended timestamp, the ones without it or with another value)."""
    state: dict[int, int | None] = {}  # csid -> extended value in use (None: not in use)
    needed, bad = 0, []
    for m in peer.inbox:
        for c in m.chunks:
            h = c.header
            bh = basic_header_length(h[0])
            if c.fmt < 3:
                ext = h[bh:bh + 3] == b"\xff\xff\xff"
                state[c.csid] = int.from_bytes(h[-4:], "big") if ext else None
                continue
            want = state.get(c.csid)
            if want is None:
                continue
            needed += 1
            have = int.from_bytes(h[bh:bh + 4], "big") if len(h) == bh + 4 else None
            if have != want:
                bad.append({"offset": c.offset, "csid": c.csid, "bytes": h.hex(),
                            "decoded": {"fmt": 3, "csid": c.csid, "extended_timestamp": have,
                                        "expected_extended_timestamp": want, "message_timestamp": m.timestamp,
                                        "message_length": len(m.payload)}})
    return needed, bad


# -- acknowledgements ----------------------------------------------------------------------------------------------


def acknowledgements(peer: Peer) -> list[tuple[int, int, Inbound]]:
    """(sequence number, our bytes out when it arrived, message) of every Acknowledgement."""
    out = []
    for m, sent in zip(peer.inbox, peer.sent_at, strict=False):
        if m.type_id == control.ACKNOWLEDGEMENT and m.u32 is not None:
            out.append((m.u32, sent, m))
    return out


def pings(peer: Peer, value: int) -> list[Inbound]:
    return [m for m in peer.inbox if m.user_control == (control.PING_RESPONSE, value)]


# -- player output ---------------------------------------------------------------------------------------------------


def output_tags(run: Run, what: str) -> list[FLVTag]:
    """The tags of the FLV the player wrote (fail when there is none)."""
    if run.peer is None:
        fail(what, f"the client never connected: {run.error or run.client_state()}")
    path = run.output
    if path is None or not path.exists() or path.stat().st_size == 0:
        fail(what, "the client wrote no output file (" + "; ".join(
            x for x in (run.error, f"the client {run.client_state()}") if x) + ")")
    try:
        _, tags = read_flv(path, lenient=True)
    except Exception as exc:  # noqa: BLE001 - any broken file is the finding
        fail(what, f"the output is not a readable FLV file: {exc}")
    return tags


def served(run: Run) -> list:
    return list(run.data.get("sent") or [])


def judge_output(run: Run, what: str, *, media: bool = True, timestamps: bool = True) -> None:
    """Every served media message written out unaltered and in order (``media``) and with the timestamp deltas
    that were sent (``timestamps``)."""
    if run.error and not run.data.get("sent"):
        fail(what, run.error)
    tags = output_tags(run, what)
    sent = served(run)
    got = [_Tag(t) for t in tags if t.tag_type in (AUDIO, VIDEO)]
    problem = compare_media(sent, got, what="the client's output", offending_of=_tag_evidence,
                            trailer_ok=True) if media else None
    if problem:
        fail(what, problem[0], offending=problem[1])
    if timestamps:
        problem = compare_timestamps(sent, got, what="the client's output", offending_of=_tag_evidence)
        if problem:
            fail(what, problem[0], offending=problem[1])


class _Tag:
    def __init__(self, t: FLVTag) -> None:
        self.tag = t
        self.type_id = t.tag_type
        self.timestamp = t.timestamp
        self.payload = t.data


def _tag_evidence(t: _Tag) -> dict:
    return {"offset": t.tag.offset, "decoded": {"flv_tag_type": t.type_id, "timestamp": t.timestamp,
                                                "data_size": len(t.payload)}, "bytes": t.payload[:64].hex()}


def first_coded(items: list, type_id: int):
    for m in items:
        if m.type_id == type_id and not is_sequence_header(type_id, m.payload):
            return m
    return None


__all__ = ["APP", "U32", "acknowledgements", "by_type", "compare_media", "compare_timestamps", "connect_of",
           "first_coded", "get_run", "handshake_bytes", "informational", "is_keyframe", "judge_output",
           "need_peer", "output_tags", "pings", "publisher_media", "session_completed", "start_command",
           "type3_extended_violations"]
