"""A real session, decoded and cross-checked (issue 2): ffmpeg publishes to nginx-rtmp through a recording loopback
relay (tests/relay.py) while a second ffmpeg plays the stream through the same relay.

* Each of the 4 byte streams (publish/play x client->server/server->client) decodes completely with rtmpspec's
  dissector: the handshake, then the chunk stream, no error, nothing left over.
* The decoded message sequence (type, timestamp, length, message stream id, chunk stream id) is what tshark's
  RTMP dissector sees in a pcap written from the relay's recv() segments, and each message is reported by tshark
  in the TCP segment that holds its last byte. tshark is not a perfect oracle: every difference is classified
  (see ``classify``) and the test fails on any difference that no documented tshark limitation explains.
* Media against ffprobe: the publish direction (as an FLV written from our messages) and the play direction
  (the player's own out.flv): packet counts, key frames, DTS/PTS and sizes.

Documented tshark (4.0, epan/dissectors/packet-rtmpt.c) limitations the classifier knows about (root causes):

``too-large``      a message longer than the ``rtmpt.max_packet_size`` preference (default 32768) is not
                   dissected: tshark abandons the rest of the TCP segment its header is in;
``straddle``       a message whose chunks straddle TCP segments can be lost by tshark's own reassembly (shared
                   notes; only accepted as the first loss of a run, see ``classify``);
``type3-ext-ts``   tshark never reads the extended timestamp a Type 3 chunk repeats (errata 5.1), so a message
                   with a timestamp >= 0xFFFFFF in several chunks desynchronises it;

and their consequences: ``lost sync`` (messages after a root cause that tshark misses or frames from the wrong
bytes) and ``stale state`` (later fmt 1/2/3 headers on a chunk stream where tshark lost a message build on its
stale timestamp: a constant timestamp error per chunk stream).

What we saw with tshark 4.0.17 on the real captures: no difference at all, with one TCP segment per recv() and with
the same bytes re-cut at MSS 1448 (and, outside the suite because it is slow, at 37, 13, 7, 3 and 1 bytes): the
straddle loss of the shared notes did not reproduce on these pcaps (correct seq/ack numbers, no lost segments).
``test_tshark_limitation_is_classified`` lowers ``rtmpt.max_packet_size`` below the largest key frame to provoke
real tshark losses and checks that the classifier explains every one of them (too-large drops, lost sync, then
timestamps off by the missed deltas on the audio and video chunk streams until the end of the stream).
"""

from __future__ import annotations

import bisect
import difflib
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

try:
    from tests import peers, relay
except ImportError:  # tests/ on sys.path (pytest's rootdir-relative import)
    import peers
    import relay

from rtmpspec.chunkreader import ChunkReader
from rtmpspec.dissect import HANDSHAKE_LENGTH, dissect_stream
from rtmpspec.flv import FLVWriter
from rtmpspec.media import parse_audio_tag, parse_video_tag
from rtmpspec.sentinels import NEED_DATA

ROOT = Path(__file__).resolve().parent.parent
TSHARK_MAX_PACKET_SIZE = 32768  # packet-rtmpt.c default of the rtmpt.max_packet_size preference
EXT_TS = 0xFFFFFF
TIMEOUT = 60


def _need(*tools: str) -> None:
    for t in tools:
        if t == "nginx":
            if peers.nginx_binary() is None:
                pytest.skip("nginx with ngx_rtmp_module is not installed")
        elif shutil.which(t) is None:
            pytest.skip(f"{t} is not installed")


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> relay.Capture:
    _need("ffmpeg", "nginx")
    return relay.shared_capture(tmp_path_factory)


# -- our side ----------------------------------------------------------------------------------------------------

@dataclass
class Msg:
    type: int | None
    timestamp: int | None
    length: int | None
    msid: int | None
    csid: int
    start: int = 0  # stream offset of the first chunk header (ours) / of the reporting TCP segment (tshark)
    end: int = 0  # stream offset after the last chunk (ours) / after the reporting TCP segment (tshark)
    fmt: int | None = None  # tshark: fmt of the message's first chunk
    body: str | None = None  # tshark: what its body dissection looked like ("audio", "video", "amf", ...)
    chunk_fmts: tuple = ()  # ours: fmt of every chunk
    payload: bytes = field(default=b"", repr=False)

    def key(self) -> tuple:
        return (self.type, self.timestamp, self.length, self.msid, self.csid)


def decode(stream: bytes, *, strict: bool = True) -> tuple[list[Msg], int]:
    """Messages of one direction (after the handshake) with their byte ranges; and the bytes left over."""
    r = ChunkReader(strict=strict, offset=HANDSHAKE_LENGTH, record_chunks=True, max_chunk_streams=65600)
    r.receive_data(stream[HANDSHAKE_LENGTH:])
    out: list[Msg] = []
    first: dict[int, int] = {}
    fmts: dict[int, list[int]] = {}
    seen = 0
    while True:
        m = r.next_message()
        if m is NEED_DATA:
            break
        for c in r.chunks[seen:]:
            first.setdefault(c.csid, c.offset)
            fmts.setdefault(c.csid, []).append(c.fmt)
        seen = len(r.chunks)
        out.append(Msg(m.type_id, m.timestamp, len(m.payload), m.msid, m.csid, first.pop(m.csid), r.offset,
                       chunk_fmts=tuple(fmts.pop(m.csid)), payload=m.payload))
    return out, r.pending


# -- tshark's side -------------------------------------------------------------------------------------------------

def _pairs_get(pairs, key, default=None):
    for k, v in pairs:
        if k == key:
            return v
    return default


def _body_kind(body) -> str | None:
    if not body:
        return None
    keys = [k for k, _ in body]
    if any(k.startswith("rtmpt.audio.") for k in keys):
        return "audio"
    if any(k.startswith("rtmpt.video.") for k in keys):
        return "video"
    if any(k.startswith(("rtmpt.scm.", "rtmpt.ucm.")) for k in keys):
        return "control"
    return "amf"


def run_tshark(pcap: Path, port: int, *options: str) -> dict:
    """``{(client_port, "c2s"|"s2c"): [Msg, ...]}`` plus ``("handshake", client_port, dir): [names]``.

    tshark shows typeid/bodysize only in fmt 0/1 headers and streamid only in fmt 0; the others are inherited
    from tshark's *own* previous header on the chunk stream (RTMP 5.3.1.2), never from our decoding."""
    cmd = ["tshark", "-n", "-r", str(pcap), "-d", f"tcp.port=={port},rtmpt", "-o", "tcp.relative_sequence_numbers:TRUE"]
    for o in options:
        cmd += ["-o", o]
    cmd += ["-T", "json", "-J", "tcp rtmpt"]
    p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-2000:]
    packets = json.loads(p.stdout, object_pairs_hook=list)
    out: dict = {}
    state: dict = {}
    for pkt in packets:
        layers = _pairs_get(_pairs_get(pkt, "_source"), "layers")
        tcp = dict(_pairs_get(layers, "tcp") or [])
        if not tcp:
            continue
        sport, dport = int(tcp["tcp.srcport"]), int(tcp["tcp.dstport"])
        direction = relay.S2C if sport == port else relay.C2S
        client = dport if sport == port else sport
        seg_start = int(tcp["tcp.seq"]) - 1
        seg_end = seg_start + int(tcp["tcp.len"])
        for name, rtmpt in layers:
            if name != "rtmpt":
                continue
            for k, _ in rtmpt:
                if k.startswith("Handshake"):
                    out.setdefault(("handshake", client, direction), []).append(k)
            hdr = dict(_pairs_get(rtmpt, "RTMP Header") or [])
            if not hdr:
                continue
            csid = int(hdr["rtmpt.header.csid"])  # the 6-bit field: fine, ffmpeg and nginx use csids < 64
            st = state.setdefault((client, direction, csid), {})
            for f, k in (("typeid", "type"), ("bodysize", "length"), ("streamid", "msid")):
                if f"rtmpt.header.{f}" in hdr:
                    st[k] = int(hdr[f"rtmpt.header.{f}"], 0)
            out.setdefault((client, direction), []).append(Msg(
                st.get("type"), int(hdr["rtmpt.header.timestamp"]), st.get("length"), st.get("msid"), csid,
                seg_start, seg_end, fmt=int(hdr["rtmpt.header.format"]),
                body=_body_kind(_pairs_get(rtmpt, "RTMP Body"))))
    return out


# -- classification of differences ---------------------------------------------------------------------------------

@dataclass
class Difference:
    kind: str  # "missing" (tshark lacks our message), "spurious" (only tshark has it), "fields" (both, differing)
    explanation: str | None  # a documented tshark limitation, or None: unexplained
    ours: Msg | None = None
    theirs: Msg | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.explanation or 'UNEXPLAINED'}; ours={self.ours}; tshark={self.theirs}"


def _own_reason(m: Msg, seg_starts: list[int], max_packet_size: int) -> str | None:
    """Why tshark would lose this message by itself (a root cause), if a documented limitation applies."""
    if m.length is not None and m.length > max_packet_size:
        return f"too-large: {m.length} bytes > rtmpt.max_packet_size {max_packet_size}"
    if m.timestamp is not None and m.timestamp >= EXT_TS and 3 in m.chunk_fmts[1:]:
        return "type3-ext-ts: tshark ignores the extended timestamp repeated on Type 3 chunks"
    if any(m.start < s < m.end for s in seg_starts):
        return "straddle: the message's chunks straddle TCP segments"
    return None


def align(ours: list[Msg], theirs: list[Msg], seg_starts: list[int]):
    """Pair tshark's messages with ours, anchored on position: tshark reports a message in the TCP segment that
    holds its last byte, so only messages reported in the same segment can be the same message. Within a
    segment, exact matches first (in order), then same chunk stream and type. Returns
    ``(pairs, missing, spurious)`` with pairs ``(m, t)`` in our order."""
    def seg(offset: int) -> int:
        return bisect.bisect_right(seg_starts, offset) - 1

    by_seg_ours: dict[int, list[Msg]] = {}
    for m in ours:
        by_seg_ours.setdefault(seg(m.end - 1), []).append(m)
    by_seg_theirs: dict[int, list[Msg]] = {}
    for t in theirs:
        by_seg_theirs.setdefault(seg(t.start), []).append(t)
    pairs, missing, spurious = [], [], []
    for k in sorted(set(by_seg_ours) | set(by_seg_theirs)):
        a, b = by_seg_ours.get(k, []), by_seg_theirs.get(k, [])
        sm = difflib.SequenceMatcher(None, [m.key() for m in a], [t.key() for t in b], autojunk=False)
        for op, i1, i2, j1, j2 in sm.get_opcodes():
            if op == "equal":
                pairs += list(zip(a[i1:i2], b[j1:j2], strict=True))
                continue
            rest_b = list(b[j1:j2])
            for m in a[i1:i2]:
                t = next((t for t in rest_b if t.csid == m.csid and t.type in (m.type, None)), None)
                if t is None:
                    missing.append(m)
                else:
                    pairs.append((m, t))
                    rest_b.remove(t)
            spurious += rest_b
    order = {id(m): i for i, m in enumerate(ours)}
    pairs.sort(key=lambda p: order[id(p[0])])
    missing.sort(key=lambda m: order[id(m)])
    return pairs, missing, spurious


def classify(ours: list[Msg], theirs: list[Msg], seg_starts: list[int], *,
             max_packet_size: int = TSHARK_MAX_PACKET_SIZE) -> list[Difference]:
    """Every difference between tshark's messages and ours, each with the documented tshark limitation that
    explains it (None: unexplained). Explanations, in our message order:

    * root cause: the message itself is too large for tshark, straddles TCP segments, or has an extended
      timestamp on Type 3 chunks (``_own_reason``);
    * lost sync: a missing message that follows a root cause with no message in between that tshark decoded
      (tshark abandons the rest of the TCP segment and mis-frames what follows until it finds its feet);
    * stale state: a message tshark decodes with a wrong timestamp (or length/type) from a fmt 1/2/3 header on
      a chunk stream where it lost a message before; the timestamp error must be the same for every such
      message of that chunk stream (the deltas it missed), or the explanation does not hold;
    * spurious: a tshark-only message reported in a TCP segment that holds bytes of a message it lost.
    """
    pairs, missing, spurious = align(ours, theirs, seg_starts)
    paired = {id(m): t for m, t in pairs}
    missing_ids = {id(m) for m in missing}
    diffs: list[Difference] = []
    lost: list[Msg] = []
    lost_csids: set[int] = set()
    stale_offset: dict[int, int] = {}
    root: Msg | None = None  # the root cause of the current run of missing messages
    for m in ours:
        if id(m) in missing_ids:
            why = _own_reason(m, [], max_packet_size)
            if why:
                root = m
            elif root is not None:
                why = f"lost sync: after the message tshark lost at offset {root.start}, nothing decoded in between"
            else:
                why = _own_reason(m, seg_starts, max_packet_size)  # straddle
                root = m if why else None
            diffs.append(Difference("missing", why, m, None))
            if why:
                lost.append(m)
                lost_csids.add(m.csid)
                stale_offset.pop(m.csid, None)
            continue
        t = paired[id(m)]
        if t.key() == m.key():
            root = None
            continue
        why = _own_reason(m, [], max_packet_size)  # a message tshark decodes did not fall victim to a straddle
        if why is None and m.csid in lost_csids and t.fmt in (1, 2, 3) and t.csid == m.csid and \
                t.msid in (m.msid, None) and (t.fmt >= 2 or (t.type, t.length) == (m.type, m.length)):
            off = (t.timestamp - m.timestamp) if t.timestamp is not None and m.timestamp is not None else None
            if stale_offset.setdefault(m.csid, off) == off:
                why = (f"stale state: tshark's fmt {t.fmt} header on chunk stream {m.csid} builds on a message it "
                       f"lost (timestamp off by {off})")
        diffs.append(Difference("fields", why, m, t))
        if why and t.fmt in (1, 2, 3) and (t.type, t.length) != (m.type, m.length):
            lost.append(m)
        root = None
    for t in spurious:
        hit = any(t.start < m.end and m.start < t.end for m in lost)
        diffs.append(Difference("spurious", "lost sync: tshark framed bytes of a message it lost as a message"
                                if hit else None, None, t))
    return diffs


def _summary(diffs: list[Difference]) -> dict:
    out: dict = {}
    for d in diffs:
        k = f"{d.kind}/{(d.explanation or 'UNEXPLAINED').split(':')[0]}"
        out[k] = out.get(k, 0) + 1
    return out


# -- the checks ------------------------------------------------------------------------------------------------------

DIRECTIONS = [("publish", relay.C2S), ("publish", relay.S2C), ("play", relay.C2S), ("play", relay.S2C)]


def _conn(cap: relay.Capture, role: str) -> relay.Connection:
    return cap.publish if role == "publish" else cap.play


@pytest.mark.interop
def test_session_ran(capture):
    assert capture.publish_rc == 0, "ffmpeg publisher failed"
    assert capture.play_rc == 0, "ffmpeg player failed"
    for role in ("publish", "play"):
        conn = _conn(capture, role)
        assert len(conn.stream(relay.C2S)) > HANDSHAKE_LENGTH and len(conn.stream(relay.S2C)) > HANDSHAKE_LENGTH


@pytest.mark.interop
@pytest.mark.parametrize("role,direction", DIRECTIONS, ids=[f"{r}-{d}" for r, d in DIRECTIONS])
def test_stream_decodes_completely(capture, role, direction):
    data = _conn(capture, role).stream(direction)
    side = "client" if direction == relay.C2S else "server"
    items = list(dissect_stream(data, direction=side))  # raises on any error or leftover
    hs = items[0]["handshake"]
    assert hs[side[0] + "0"]["version"] == 3
    assert hs["digest"] is not None, "ffmpeg and nginx-rtmp both use the digest handshake"
    described = items[1:]
    assert described and not any("decode_error" in d for d in described), [d for d in described if "decode_error" in d]
    strict, left = decode(data, strict=True)
    assert left == 0  # the relay saw both ends close: nothing may be left over
    lenient, _ = decode(data, strict=False)
    assert [m.key() for m in strict] == [m.key() for m in lenient]
    assert [(d["type"], d["timestamp"], d["length"], d["msid"], d["csid"]) for d in described] == \
        [m.key() for m in strict]


@pytest.mark.interop
@pytest.mark.parametrize("role", ["publish", "play"])
def test_handshake_digests(capture, role):
    """Both sides use the digest handshake: C1 and S1 carry valid digests and S2 signs C1's digest with the FMS
    key. C2 differs by role: ffmpeg as a player signs S1's digest with the Flash Player key; as a publisher it
    echoes S1 (RTMP 5.2.4), as libavformat's rtmpproto.c does when it is not reading. This also proves the
    3073-byte handshake split of all four streams."""
    from rtmpspec import handshake as hs

    conn = _conn(capture, role)
    c, s = conn.stream(relay.C2S), conn.stream(relay.S2C)
    c1, c2 = c[1:1537], c[1537:HANDSHAKE_LENGTH]
    s1, s2 = s[1:1537], s[1537:HANDSHAKE_LENGTH]
    assert c[0] == s[0] == 3
    cd = hs.find_digest(c1, hs.GENUINE_FP_KEY_PARTIAL)
    sd = hs.find_digest(s1, hs.GENUINE_FMS_KEY_PARTIAL)
    assert cd is not None and sd is not None
    c1_digest = c1[cd[1]:cd[1] + hs.DIGEST_SIZE]
    s1_digest = s1[sd[1]:sd[1] + hs.DIGEST_SIZE]
    assert hs.validate_digest_response(s2, c1_digest, hs.GENUINE_FMS_KEY)
    if role == "play":
        assert hs.validate_digest_response(c2, s1_digest, hs.GENUINE_FP_KEY)
    else:
        assert hs.echo_matches(c2, s1) and not hs.validate_digest_response(c2, s1_digest, hs.GENUINE_FP_KEY)


@pytest.mark.interop
def test_session_content(capture):
    """The message flows the shared notes describe, seen by our decoder."""

    def commands(conn, direction):
        out = []
        for d in dissect_stream(conn.stream(direction), direction="client" if direction == relay.C2S else "server"):
            if d.get("type") in (18, 20):
                out.append(d["values"][0])
        return out

    pub, play = capture.publish, capture.play
    assert commands(pub, relay.C2S)[:7] == ["connect", "releaseStream", "FCPublish", "createStream", "publish",
                                           "@setDataFrame", "FCUnpublish"]
    assert commands(pub, relay.S2C) == ["_result", "_result", "onStatus", "onStatus"]
    assert commands(play, relay.C2S) == ["connect", "createStream", "getStreamLength", "play", "deleteStream"]
    assert commands(play, relay.S2C)[:5] == ["_result", "_result", "onStatus", "|RtmpSampleAccess", "onMetaData"]
    pub_media, _ = decode(pub.stream(relay.C2S))
    assert sum(m.type == 9 for m in pub_media) > 50 and sum(m.type == 8 for m in pub_media) > 100


def _tshark_check(capture, tmp_path, *, mss: int, options: tuple = (),
                  max_packet_size: int = TSHARK_MAX_PACKET_SIZE) -> dict:
    pcap = tmp_path / f"capture-{mss}.pcap"
    starts = relay.write_pcap(pcap, [capture.publish, capture.play], capture.relay_port, mss=mss)
    got = run_tshark(pcap, capture.relay_port, *options)
    report = {}
    for role, direction in DIRECTIONS:
        conn = _conn(capture, role)
        cport = conn.client_addr[1]
        hs = got.get(("handshake", cport, direction), [])
        assert hs == (["Handshake C0+C1", "Handshake C2"] if direction == relay.C2S else ["Handshake S0+S1+S2"])
        ours, _ = decode(conn.stream(direction))
        theirs = got.get((cport, direction), [])
        diffs = classify(ours, theirs, starts[(conn.index, direction)], max_packet_size=max_packet_size)
        report[f"{role}-{direction}"] = {"ours": len(ours), "tshark": len(theirs), "differences": diffs}
    return report


def _assert_explained(report: dict) -> None:
    bad = [f"{k}: {d}" for k, r in report.items() for d in r["differences"] if d.explanation is None]
    summary = {k: (r["ours"], r["tshark"], _summary(r["differences"])) for k, r in report.items()}
    print("tshark cross-check:", json.dumps(summary))
    assert not bad, "differences with tshark that no documented tshark limitation explains:\n" + "\n".join(bad[:20])


@pytest.mark.interop
@pytest.mark.parametrize("mss", [relay.MAX_SEGMENT, 1448], ids=["segment-per-recv", "mss-1448"])
def test_tshark_agrees(capture, tmp_path, mss):
    _need("tshark")
    report = _tshark_check(capture, tmp_path, mss=mss)
    _assert_explained(report)
    for r in report.values():
        assert r["tshark"] > 0
    # explained differences may not swallow the comparison: nearly all messages must agree exactly
    total = sum(r["ours"] for r in report.values())
    assert sum(len(r["differences"]) for r in report.values()) <= total // 10


@pytest.mark.interop
def test_tshark_limitation_is_classified(capture, tmp_path):
    """Provoke real tshark losses: rtmpt.max_packet_size just below our largest video message (and above the
    chunk size 4096, which tshark would otherwise ignore). Every resulting difference must be explained, and
    the too-large ones must be exactly our messages over the limit."""
    _need("tshark")
    ours, _ = decode(capture.publish.stream(relay.C2S))
    largest = max(m.length for m in ours)
    if largest <= 4097:
        pytest.skip(f"largest message is {largest} bytes: cannot get between the chunk size and it")
    limit = largest - 1
    report = _tshark_check(capture, tmp_path, mss=relay.MAX_SEGMENT, options=(f"rtmpt.max_packet_size:{limit}",),
                           max_packet_size=limit)
    # Judged on the stream the limit was chosen for. In the other streams (the relayed play direction carries
    # the same key frames) tshark's state after a loss depends on where the capture's segments fell, and its
    # garbage there is not stable from one capture to the next; test_tshark_agrees judges those streams with
    # tshark's normal settings.
    _assert_explained({"publish-c2s": report["publish-c2s"]})
    diffs = report["publish-c2s"]["differences"]
    too_large = [d.ours.start for d in diffs if d.explanation and d.explanation.startswith("too-large")]
    assert too_large == [m.start for m in ours if m.length > limit]


@pytest.mark.interop
def test_golden_capture_vectors_agree_with_tshark(tmp_path):
    """golden/capture/*.bin (post-handshake streams) behind a synthetic handshake, one connection each."""
    _need("tshark")
    manifest = json.loads((ROOT / "golden" / "capture" / "manifest.json").read_text())
    conns, port = [], 1935
    hs_c = b"\x03" + bytes(1536)
    hs_s = b"\x03" + bytes(3072)
    for i, v in enumerate(manifest["vectors"]):
        data = (ROOT / "golden" / "capture" / v["file"]).read_bytes()
        c = relay.Connection(i, ("127.0.0.1", 40000 + i))
        t = 1000.0 + i
        client_side = "c2s" in v["id"]
        c.segments = [relay.Segment(t, relay.C2S, hs_c), relay.Segment(t + 0.01, relay.S2C, hs_s),
                      relay.Segment(t + 0.02, relay.C2S, bytes(1536))]
        c.segments.append(relay.Segment(t + 0.03, relay.C2S if client_side else relay.S2C, data))
        conns.append((c, v, client_side))
    pcap = tmp_path / "golden.pcap"
    relay.write_pcap(pcap, [c for c, _, _ in conns], port)
    got = run_tshark(pcap, port)
    for c, v, client_side in conns:
        direction = relay.C2S if client_side else relay.S2C
        theirs = got.get((c.client_addr[1], direction), [])
        want = [(m["type"], m["timestamp"], len(bytes.fromhex(m["payload"]["$bytes"])), m["msid"], m["csid"])
                for m in v["expected"]["messages"]]
        assert [t.key() for t in theirs] == want, v["id"]


# -- media against ffprobe -------------------------------------------------------------------------------------------

def ffprobe_packets(path: Path) -> list[dict]:
    p = subprocess.run(["ffprobe", "-v", "error", "-show_packets", "-of", "json", str(path)], capture_output=True,
                       timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return json.loads(p.stdout)["packets"]


def expected_packets(msgs: list[Msg]) -> tuple[dict, list[str]]:
    """What ffprobe should show for our audio/video messages: per kind, (dts, pts, size, key) for each message
    that is a packet. Returns it and the reasons for the messages that are not packets."""
    out: dict = {"video": [], "audio": []}
    skipped = []
    for m in msgs:
        if m.type == 9:
            tag = parse_video_tag(m.payload)
            if tag.is_sequence_header:
                skipped.append("AVC sequence header (becomes extradata)")
                continue
            if not tag.body:
                skipped.append(f"empty video body (AVCPacketType {tag.avc_packet_type}, end of sequence)")
                continue
            out["video"].append((m.timestamp, m.timestamp + (tag.composition_time or 0), len(tag.body),
                                 tag.frame_type == 1))
        elif m.type == 8:
            tag = parse_audio_tag(m.payload)
            if tag.is_sequence_header:
                skipped.append("AAC sequence header (becomes extradata)")
                continue
            out["audio"].append((m.timestamp, m.timestamp, len(tag.body), True))
    return out, skipped


def _compare_with_ffprobe(msgs: list[Msg], flv: Path) -> list[str]:
    want, skipped = expected_packets(msgs)
    pk = ffprobe_packets(flv)
    got = {k: [(p["dts"], p["pts"], int(p["size"]), "K" in p["flags"]) for p in pk if p["codec_type"] == k]
           for k in want}
    # ffmpeg -c copy starts the output at 0: shift by the input's first DTS
    first = min(x[0] for k in want for x in want[k][:1])
    first_got = min(x[0] for k in got for x in got[k][:1])
    shift = first - first_got
    for k in want:
        got[k] = [(d + shift, p + shift, s, key) for d, p, s, key in got[k]]
        assert len(got[k]) == len(want[k]), (k, len(got[k]), len(want[k]))
        assert got[k] == want[k], next((i, a, b) for i, (a, b) in enumerate(zip(got[k], want[k], strict=True)) if a != b)
    assert sum(x[3] for x in want["video"]) >= 3  # -g 25 over 3 s: key frames at 0, 1 and 2 s
    return skipped


@pytest.mark.interop
def test_ffprobe_publish_direction(capture, tmp_path):
    """An FLV written from the messages we decoded in the publisher's direction, read by ffprobe."""
    _need("ffprobe")
    msgs, _ = decode(capture.publish.stream(relay.C2S))
    w = FLVWriter()
    out = [w.header()]
    for m in msgs:
        if m.type in (8, 9):
            out.append(w.tag(m.type, m.timestamp, m.payload))
        elif m.type == 18 and m.payload.startswith(b"\x02\x00\x0d@setDataFrame"):
            out.append(w.tag(18, m.timestamp, m.payload[16:]))  # the FLV script tag: onMetaData + array
    flv = tmp_path / "publish.flv"
    flv.write_bytes(b"".join(out))
    skipped = _compare_with_ffprobe(msgs, flv)
    # the only messages that are not packets: one sequence header each, and ffmpeg's end-of-sequence at unpublish
    assert sorted(skipped) == sorted(["AVC sequence header (becomes extradata)",
                                      "AAC sequence header (becomes extradata)",
                                      "empty video body (AVCPacketType 2, end of sequence)"])


@pytest.mark.interop
def test_ffprobe_play_direction(capture):
    """The player's own out.flv (ffmpeg -c copy) against the messages we decoded on its connection."""
    _need("ffprobe")
    msgs, _ = decode(capture.play.stream(relay.S2C))
    assert capture.flv_path.exists()
    skipped = _compare_with_ffprobe(msgs, capture.flv_path)
    assert skipped.count("AVC sequence header (becomes extradata)") == 1
    assert skipped.count("AAC sequence header (becomes extradata)") == 1


# -- the classifier and the pcap writer themselves (no real tools) ----------------------------------------------------

def _m(type_, ts, length, csid, start, end, fmt=0, msid=1):
    return Msg(type_, ts, length, msid, csid, start, end, fmt=fmt, chunk_fmts=(fmt,))


def _t(m: Msg, seg: tuple[int, int], **changes) -> Msg:
    """tshark's report of ``m`` in TCP segment ``seg``."""
    v = {"type": m.type, "timestamp": m.timestamp, "length": m.length, "msid": m.msid, "csid": m.csid,
         "fmt": m.chunk_fmts[0], **changes}
    return Msg(v["type"], v["timestamp"], v["length"], v["msid"], v["csid"], seg[0], seg[1], fmt=v["fmt"])


def _kinds(diffs):
    return [(d.kind, (d.explanation or "UNEXPLAINED").split(":")[0]) for d in diffs]


def test_classify_identical_and_position_anchored():
    ours = [_m(9, 0, 100, 6, 0, 112), _m(8, 0, 10, 4, 112, 134)]
    assert classify(ours, [_t(ours[0], (0, 200)), _t(ours[1], (0, 200))], [0]) == []
    # the same message reported in a segment that does not hold its last byte is not the same message
    diffs = classify(ours, [_t(ours[0], (0, 134)), _t(ours[1], (134, 200))], [0, 134])
    assert _kinds(diffs) == [("missing", "UNEXPLAINED"), ("spurious", "UNEXPLAINED")]


def test_classify_missing_message_needs_a_reason():
    ours = [_m(9, 0, 100, 6, 0, 112), _m(8, 0, 10, 4, 112, 134), _m(8, 23, 10, 4, 134, 150, fmt=1)]
    theirs = [_t(ours[0], (0, 150)), _t(ours[2], (0, 150), timestamp=23)]
    assert _kinds(classify(ours, theirs, [0])) == [("missing", "UNEXPLAINED")]  # nothing straddles
    theirs = [_t(ours[0], (0, 120)), _t(ours[2], (120, 150))]
    assert _kinds(classify(ours, theirs, [0, 120])) == [("missing", "straddle")]
    theirs = [_t(ours[0], (0, 150)), _t(ours[2], (0, 150))]
    assert _kinds(classify(ours, theirs, [0], max_packet_size=9)) == [("missing", "too-large")]


def test_classify_lost_sync_and_stale_state():
    seg = [0, 6000, 7000]
    ours = [_m(9, 0, 5000, 6, 0, 5012),                # too large for tshark (root cause)
            _m(8, 23, 10, 4, 5012, 5030, fmt=1),       # same segment: tshark abandoned it
            _m(9, 40, 900, 6, 6000, 6908, fmt=1),      # tshark: stale timestamp (missed delta 40)
            _m(8, 46, 10, 4, 6908, 6926, fmt=1),       # tshark: stale timestamp (missed delta 23)
            _m(9, 80, 50, 6, 7000, 7058, fmt=1)]       # stale again, same offset
    theirs = [_t(ours[2], (6000, 7000), timestamp=0), _t(ours[3], (6000, 7000), timestamp=23),
              _t(ours[4], (7000, 7100), timestamp=40)]
    diffs = classify(ours, theirs, seg, max_packet_size=4096)
    assert _kinds(diffs) == [("missing", "too-large"), ("missing", "lost sync"), ("fields", "stale state"),
                             ("fields", "stale state"), ("fields", "stale state")]
    # an inconsistent timestamp error on the same chunk stream is not explained by stale state
    theirs[2] = _t(ours[4], (7000, 7100), timestamp=41)
    assert _kinds(classify(ours, theirs, seg, max_packet_size=4096))[-1] == ("fields", "UNEXPLAINED")
    # without the root cause nothing is explained
    assert all(k[1] == "UNEXPLAINED" for k in _kinds(classify(ours, theirs, seg)))


def test_classify_spurious():
    ours = [_m(9, 0, 5000, 6, 0, 5012), _m(8, 23, 10, 4, 6000, 6018)]
    theirs = [_m(3, 7, 1, 2, 0, 6000), _t(ours[1], (6000, 6100))]  # garbage framed from the lost message's bytes
    assert _kinds(classify(ours, theirs, [0, 6000], max_packet_size=4096)) == [
        ("missing", "too-large"), ("spurious", "lost sync")]
    theirs = [_t(ours[0], (0, 6000)), _m(3, 7, 1, 2, 6000, 6100), _t(ours[1], (6000, 6100))]
    assert _kinds(classify(ours, theirs, [0, 6000])) == [("spurious", "UNEXPLAINED")]


def _read_pcap(path: Path) -> list[bytes]:
    import struct

    data = path.read_bytes()
    magic, _, _, _, _, _, link = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4 and link == 1
    frames, pos = [], 24
    while pos < len(data):
        _, _, incl, orig = struct.unpack("<IIII", data[pos:pos + 16])
        assert incl == orig
        frames.append(data[pos + 16:pos + 16 + incl])
        pos += 16 + incl
    return frames


def test_pcap_writer_sequence_numbers_and_splitting(tmp_path):
    import struct

    big = bytes(range(256)) * 600  # 153600 bytes: split into 65000-byte segments
    c = relay.Connection(0, ("127.0.0.1", 50000))
    c.segments = [relay.Segment(10.0, relay.C2S, b"a" * 100), relay.Segment(10.1, relay.S2C, big),
                  relay.Segment(10.2, relay.C2S, b"b" * 7)]
    starts = relay.write_pcap(tmp_path / "t.pcap", [c], 1935)
    assert starts[(0, relay.S2C)] == [0, 65000, 130000]
    assert starts[(0, relay.C2S)] == [0, 100]
    frames = _read_pcap(tmp_path / "t.pcap")
    got = {relay.C2S: b"", relay.S2C: b""}
    isn = {}
    for f in frames:
        ip = f[14:34]
        assert relay._checksum(ip) == 0  # header checksum verifies
        total = struct.unpack("!H", ip[2:4])[0]
        assert total == len(f) - 14 and total <= 65535
        sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", f[34:48])
        d = relay.C2S if dport == 1935 else relay.S2C
        payload = f[54:]
        tcp = f[34:]
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
        assert relay._checksum(pseudo + tcp) == 0  # TCP checksum verifies
        if flags & 0x02:
            isn[d] = seq
            continue
        if payload:
            assert seq - isn[d] - 1 == len(got[d])  # contiguous sequence numbers per direction
            got[d] += payload
            other = relay.S2C if d == relay.C2S else relay.C2S
            assert ack - isn[other] - 1 <= len(got[other]) + 1
    assert got[relay.C2S] == b"a" * 100 + b"b" * 7 and got[relay.S2C] == big
