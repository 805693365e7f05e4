"""Client mode, playing clients (``pytest conformance --client ffmpeg-play``): the battery serves a stream with one
edge case per scenario and compares the FLV the client wrote ({output}) with what it sent: every audio/video
message, byte for byte, in order, with its timestamp deltas. The session itself (handshake, connect, createStream,
play, acknowledgements, ping) is judged on the basic scenario."""

from __future__ import annotations

import pytest

from .case import Case, parametrize
from .client import judge as J
from .client.scenarios_play import END_WAIT, PING_VALUE
from .test_client_publish import (
    check_c0,
    check_c1,
    check_c2,
    check_connect_app,
    check_connect_flashver,
    check_connect_tcurl,
    check_create_stream,
    check_delete_stream,
    check_ertmp_caps,
    check_netstream_tid,
    check_object_encoding,
    check_tids_distinct,
)
from .verdicts import Verdict, fail, observed, unsupported

pytestmark = pytest.mark.rtmp_client("play")
V = Verdict
PASS = {"ok": V.PASS}
BASIC = {"scenario": "play-basic"}


def check_connect_tid_play(ctx):
    """The first command is connect with transaction id 1."""
    run = J.get_run(ctx, "play-basic")
    peer = J.need_peer(run, "connect first, transaction id 1")
    c, _ = J.connect_of(run, "connect with transaction id 1")
    cmds = peer.commands()
    if cmds and cmds[0] is not c:
        fail("connect is the first command", f"{cmds[0].name} came first", offending=cmds[0])
    if c.command.transaction_id != 1:
        fail("connect transaction id 1", f"transaction id {c.command.transaction_id:g}", offending=c)


def check_play(ctx):
    """play on the stream createStream returned (1), with the URL's stream name."""
    run = J.get_run(ctx, "play-basic")
    m = J.start_command(run, "play")
    args = m.command.args
    if m.msid != 1:
        fail("play on message stream 1 (what createStream returned)", f"on message stream {m.msid}", offending=m)
    if not args or args[0] != run.key:
        fail(f"stream name {run.key!r}", f"arguments {args!r}", offending=m)
    return observed("ok", f"play {args!r} on stream {m.msid}")


def check_output(ctx, scenario: str, what: str, media: bool = True, timestamps: bool = True):
    """The output file has every served audio/video message, byte for byte, in order, with the timestamp deltas
    of what was sent."""
    run = J.get_run(ctx, scenario)
    J.judge_output(run, what, media=media, timestamps=timestamps)
    return observed("ok", f"{len(J.served(run))} media messages written out unaltered")


def check_fourcc(ctx):
    """E-RTMP FourCC tags (hvc1 video, Opus audio) written out unaltered; unsupported when none is written."""
    run = J.get_run(ctx, "play-fourcc")
    J.need_peer(run, "the E-RTMP tags written out")
    out = run.output
    media = []
    if out is not None and out.exists() and out.stat().st_size:
        media = [t for t in J.output_tags(run, "the E-RTMP tags written out") if t.tag_type in (8, 9)]
    if not media:
        unsupported(f"the client writes no audio or video of an E-RTMP FourCC stream ({run.client_state()})")
    J.judge_output(run, "the E-RTMP FourCC tags written out unaltered")
    return observed("ok", f"{len(media)} FourCC tags written out unaltered")


def check_ack_play(ctx):
    """Window 16384 while about 55 KB of media arrive: the client acknowledges, with growing sequence numbers
    that never exceed what was sent, and leaves less than a window unacknowledged."""
    run = J.get_run(ctx, "play-basic")
    peer = J.need_peer(run, "acknowledgements")
    window = run.data.get("window", 16384)
    acks = J.acknowledgements(peer)
    sent_chunk = peer.bytes_out - J.HANDSHAKE
    if not acks:
        fail(f"Acknowledgements (window {window}; {sent_chunk} bytes sent after the handshake)",
             "no Acknowledgement at all")
    prev = None
    for seq, sent, m in acks:
        if seq > sent:
            fail("sequence numbers no larger than the bytes received",
                 f"sequence number {seq} when {sent} bytes (handshake included) had been sent", offending=m)
        if prev is not None and ((seq - prev) & J.U32) >= 1 << 31:
            fail("sequence numbers that grow", f"{seq} after {prev}", offending=m)
        prev = seq
    media_bytes = sum(len(m.payload) for m in J.served(run))
    best = max(seq for seq, _, _ in acks)
    if best + window + 2048 < media_bytes:
        fail(f"Acknowledgements up to within a window ({window}) of the {media_bytes} media bytes sent",
             f"the highest sequence number is {best}", offending=acks[-1][2])
    return observed("ok", f"{len(acks)} Acknowledgements, last {acks[-1][0]}")


def check_ping_play(ctx):
    """A PingRequest in the middle of the stream: a PingResponse with the same timestamp."""
    run = J.get_run(ctx, "play-basic")
    peer = J.need_peer(run, "a PingResponse")
    if "ping_sent" not in run.data:
        fail("a PingResponse", run.error or "the PingRequest was not sent")
    got = J.pings(peer, PING_VALUE)
    if got:
        return observed("ok", f"PingResponse {PING_VALUE:#x}")
    other = [m for m in peer.inbox if m.user_control and m.user_control[0] == 7]
    fail(f"PingResponse with timestamp {PING_VALUE:#x}",
         f"PingResponse with {other[0].user_control[1]:#x}" if other else "no PingResponse",
         offending=other[0] if other else None)


def check_stream_end(ctx):
    """After Stream EOF + UnpublishNotify: the client closes or exits within END_WAIT s."""
    run = J.get_run(ctx, "play-basic")
    J.need_peer(run, "the end of the play")
    if "eof_sent" not in run.data:
        fail("the stream's end", run.error or "the stream did not get to its end")
    if run.data.get("ended_by_client"):
        return observed("ended", f"the client ended the play {run.data['end_after']:.2f} s after Stream EOF")
    fail(f"the client closes the connection or exits within {END_WAIT:g} s of Stream EOF / UnpublishNotify",
         "it stayed connected")


CASES = [
    Case("client-5.2.2-c0-version-play", "client-5.2.2-c0-version", check_c0, BASIC),
    Case("client-5.2.3-c1-zero-play", "client-5.2.3-c1-zero", check_c1, BASIC,
         accept={"zero": V.PASS, "digest": V.PASS}),
    Case("client-5.2.4-c2-echo-play", "client-5.2.4-c2-echo", check_c2, BASIC,
         accept={"echo": V.PASS, "digest": V.PASS}),
    Case("client-7.2.1.1-connect-transaction-id-play", "client-7.2.1.1-connect-transaction-id",
         check_connect_tid_play),
    Case("client-7.2.1.1-connect-app-play", "client-7.2.1.1-connect-app", check_connect_app, BASIC),
    Case("client-7.2.1.1-connect-tcurl-play", "client-7.2.1.1-connect-tcurl", check_connect_tcurl, BASIC),
    Case("client-7.2.1.1-connect-flashver-play", "client-7.2.1.1-connect-flashver", check_connect_flashver, BASIC,
         accept={"present": V.PASS}),
    Case("client-errata-8.1.1-object-encoding-play", "client-errata-8.1.1-object-encoding", check_object_encoding,
         BASIC, accept={"absent": V.PASS, "present": V.PASS}),
    Case("client-ertmp-connect-capabilities-play", "client-ertmp-connect-capabilities", check_ertmp_caps, BASIC,
         accept={"present": V.PASS}),
    Case("client-7.2.1.3-create-stream-play", "client-7.2.1.3-create-stream", check_create_stream, BASIC),
    Case("client-7.2-transaction-ids-distinct-play", "client-7.2-transaction-ids-distinct", check_tids_distinct,
         BASIC, accept={"distinct": V.PASS}),
    Case("client-7.2.2-netstream-transaction-id-play", "client-7.2.2-netstream-transaction-id",
         check_netstream_tid, BASIC),
    Case("client-7.2.2.1-play", "client-7.2.2.1-play", check_play, accept=PASS),
    Case("client-7.2.2.3-delete-stream-play", "client-7.2.2.3-delete-stream", check_delete_stream, BASIC,
         accept=PASS),
    Case("client-5.4.3-acknowledgement-play", "client-5.4.3-acknowledgement", check_ack_play, accept=PASS),
    Case("client-7.1.7-ping-response-play", "client-7.1.7-ping-response", check_ping_play, accept=PASS),
    Case("client-play-stream-end", "client-play-stream-end", check_stream_end, accept={"ended": V.PASS}),
    Case("client-media-complete-play", "client-media-complete", check_output,
         {"scenario": "play-basic", "what": "every message written out", "timestamps": False}, accept=PASS,
         doc="The committed file's media, its final AVC end of sequence included: every audio/video message in "
             "the output, unaltered."),
    Case("client-media-timestamps-kept-play", "client-media-timestamps-kept", check_output,
         {"scenario": "play-basic", "what": "the timestamp deltas written out", "media": False}, accept=PASS,
         doc="The committed file's media: the output keeps the timestamp deltas that were sent."),
    Case("client-5.4.1-set-chunk-size-1-play", "client-5.4.1-set-chunk-size", check_output,
         {"scenario": "play-scs-1", "what": "the stream read at chunk size 1"}, accept=PASS,
         doc="Set Chunk Size 1, then the whole stream in 1-byte chunks."),
    Case("client-5.4.1-set-chunk-size-2147483647-play", "client-5.4.1-set-chunk-size", check_output,
         {"scenario": "play-scs-2147483647", "what": "the stream read at chunk size 2^31-1"}, accept=PASS,
         doc="Set Chunk Size 2147483647: every message in one chunk."),
    Case("client-5.3.1.2.4-type3-chain-play", "client-5.3.1.2.4-type3-chain", check_output,
         {"scenario": "play-type3-chain", "what": "PCM audio sent as a chain of Type 3 headers"}, accept=PASS,
         doc="Linear PCM frames of equal size every 20 ms (Type 3 headers) with the file's video."),
    Case("client-5.3.1.3-read-extended-timestamp-play", "client-5.3.1.3-read-extended-timestamp", check_output,
         {"scenario": "play-ext-ts", "what": "media with extended timestamps"}, accept=PASS,
         doc="Every message with a Type 0 header and timestamp 2^24 + t, chunk size 128 (extended timestamps on "
             "every chunk)."),
    Case("client-5.3.1.3-timestamps-beyond-24-bits-play", "client-5.3.1.3-timestamps-beyond-24-bits",
         check_output, {"scenario": "play-ext-ts", "what": "timestamps past 2^24 written out"}, accept=PASS),
    Case("client-4-timestamp-wraparound-play", "client-4-timestamp-wraparound", check_output,
         {"scenario": "play-wrap", "what": "a stream crossing the 2^32 wrap"}, accept=PASS,
         doc="Timestamps 2^32 - 1000 + t as Type 1 deltas: the stream wraps after 1 s."),
    Case("client-7.1.6-aggregate-play", "client-7.1.6-aggregate", check_output,
         {"scenario": "play-aggregate", "what": "Aggregate messages split"}, accept=PASS,
         doc="The media in Aggregate messages of 6 sub-messages."),
    Case("client-5.3.2-interleaved-chunk-streams-play", "client-5.3.2-interleaved-chunk-streams", check_output,
         {"scenario": "play-interleaved", "what": "interleaved chunk streams reassembled"}, accept=PASS,
         doc="Chunk size 128; the chunks of every video message interleaved with those of the audio after it."),
    Case("client-5.3.1.1-csid-two-byte-play", "client-5.3.1.1-csid-two-byte", check_output,
         {"scenario": "play-csid-2byte", "what": "media on chunk streams 100/101"}, accept=PASS),
    Case("client-5.3.1.1-csid-three-byte-play", "client-5.3.1.1-csid-three-byte", check_output,
         {"scenario": "play-csid-3byte", "what": "media on chunk streams 1000/40000"}, accept=PASS),
    Case("client-media-metadata-midstream", "client-media-metadata-midstream", check_output,
         {"scenario": "play-metadata", "what": "media after a second onMetaData"}, accept=PASS),
    Case("client-ertmp-fourcc-play", "client-ertmp-fourcc-play", check_fourcc, accept=PASS),
]


@parametrize(CASES)
def test_client_play(case, conformance):
    conformance.run(case)
