"""Real-world interop bugs, each reproduced as the field saw it (``-m interop`` also selects every other case
that cites a bug in its refs). Each case names the bug it comes from."""

from __future__ import annotations

import random

from rtmpspec import messages
from rtmpspec.message_format import Message

from .case import Case, compare_relay, parametrize
from .payloads import AUDIO, VIDEO, Item, aac, av_sequence, avc_nalu, legacy_video, metadata
from .verdicts import fail

EXT = 0xFFFFFF


def _relay_check(ctx, sent, plays, what):
    for p in plays:
        got = p.wait_media(len(sent))
        problem = compare_relay(sent, got)
        if problem:
            fail(f"{p.s.label}: {what}", problem[0], offending=problem[1])


def check_obs_10097(ctx):
    """librtmp (OBS before PR 10097) sent big messages past 0xFFFFFF without the extended timestamp on their Type 3
    chunks. Here: 3 KB video frames at chunk size 128, every one with a Type 0 header, from 0xFFFFFF - 400 ms
    across 0xFFFFFF, each continuation chunk repeating the extended timestamp (errata 5.1)."""
    pub, play = ctx.relay_pair()
    sent = []
    for i in range(20):
        t = EXT - 400 + 40 * i
        key = i % 10 == 0
        sent.append(Item(VIDEO, t, legacy_video(1 if key else 2, 7, avc_nalu(key, 3000, 200 + i),
                                                avc_packet_type=1), "key" if key else "inter"))
    for it in sent:
        pub.s.send(Message(VIDEO, it.payload, it.timestamp, pub.msid, 6), fmt=0)
    _relay_check(ctx, sent, [play], "frames crossing 0xFFFFFF with Type 0 headers relayed intact")


def check_nginx_1462(ctx):
    """nginx-rtmp PR 1462: 'messages with type=3 have ext timestamp field, and ext timestamp is same as delta time
    of the first message chunk'. Audio: Type 0 (extended), Type 1 with an extended delta, then three Type 3 new
    messages, each carrying that extended delta."""
    pub, play = ctx.relay_pair()
    rnd = random.Random(1462)
    t, d = 0x1000000, 0x1000020
    sent, fmts = [], []
    for i, fmt in enumerate((0, 1, 3, 3, 3)):
        ts = t if i == 0 else t + d * i
        sent.append(Item(AUDIO, ts & 0xFFFFFFFF, aac(1, rnd.randbytes(120 if i == 0 else 140)), f"type{fmt}"))
        fmts.append(fmt)
    for fmt, it in zip(fmts, sent, strict=True):
        pub.s.send(Message(AUDIO, it.payload, it.timestamp, pub.msid, 4), fmt=fmt)
    _relay_check(ctx, sent, [play], "Type 3 messages carrying an extended delta relayed with the right timestamps")


def check_nms_25(ctx):
    """Node-Media-Server issue 25: streams break after 4 h 39 min (timestamps past 24 bits). An A/V stream from
    0xFFFFFF - 1 s across the boundary; a player from the start and one that joins after the crossing."""
    pub = ctx.publisher()
    first = ctx.player(pub.key, label="play1")
    items = av_sequence(50, seed=25, start=EXT - 1000)
    before = [i for i in items if i.timestamp < EXT + 200]
    after = [i for i in items if i.timestamp >= EXT + 200]
    pub.send_all(before)
    first.wait_media(len(before))
    late = ctx.player(pub.key, label="late")
    pub.send_all(after)
    _relay_check(ctx, items, [first], "all frames across 0xFFFFFF with the sender's deltas")
    late.wait_payload(after[-1].payload)
    got = [m for m in late.media() if m.type_id == VIDEO]
    sent_v = {i.payload: i.timestamp for i in after if i.type_id == VIDEO}
    pairs = [(m, sent_v[m.payload]) for m in got if m.payload in sent_v]
    if len(pairs) < 2:
        fail("the late player gets the video after the crossing", f"{len(pairs)} matching video frames")
    base_g, base_s = pairs[0][0].timestamp, pairs[0][1]
    for m, ts in pairs:
        want = (base_g + ts - base_s) & 0xFFFFFFFF
        if m.timestamp != want:
            fail("the late player's timestamps keep the sender's deltas past 0xFFFFFF",
                 f"timestamp {m.timestamp}, expected {want}", offending=m)


def check_srs_2409(ctx):
    """SRS issue 2409: timestamps wrapping at 2^32 (a stream older than 49.7 days). H.264 + AAC from 2^32 - 1 s
    across the wrap; after the wrap the timestamps are small again (the publisher's ChunkWriter sends Type 0)."""
    pub, play = ctx.relay_pair()
    items = av_sequence(50, seed=2409, start=0x100000000 - 1000)
    sent = [Item(i.type_id, i.timestamp & 0xFFFFFFFF, i.payload, i.label) for i in items]
    pub.send_all(sent)
    _relay_check(ctx, sent, [play], "A/V across the 32-bit wrap with the sender's deltas (mod 2^32)")


def check_nginx_246(ctx):
    """nginx-rtmp issue 246 ('RTMP in chunk stream too big: 64 >= 32'): an encoder that puts its audio and video on
    chunk streams 64 and 65 (two-byte basic headers)."""
    pub, play = ctx.relay_pair()
    items = av_sequence(8, seed=246)
    for it in items:
        pub.s.send(Message(it.type_id, it.payload, it.timestamp, pub.msid, 65 if it.type_id == VIDEO else 64))
    _relay_check(ctx, items, [play], "media on chunk streams 64/65 relayed")


def check_mediamtx_3302(ctx):
    """MediaMTX PR 3302: 'some rtmp client will send set chunk size after publishing stream', and the server
    missed the metadata. publish, then Set Chunk Size 4096, then @setDataFrame onMetaData and media."""
    pub, play = ctx.relay_pair()
    pub.s.set_chunk_size(4096)
    pub.metadata(metadata("ecma", True))
    items = av_sequence(6, seed=3302)
    pub.send_all(items)
    _relay_check(ctx, items, [play], "media after a Set Chunk Size sent after publish")
    play.s.drain(0.05)
    if not any(m.data and "onMetaData" in m.data.values for m in play.data()):
        fail("the player gets onMetaData sent after the Set Chunk Size", "no onMetaData")


def check_ffmpeg_publish(ctx):
    """The exact command sequence of an ffmpeg publisher (libavformat/rtmpproto.c): connect with an FMLE flashVer,
    releaseStream, FCPublish, createStream, publish, @setDataFrame, media, then FCUnpublish and deleteStream."""
    s = ctx.session("ffmpeg")
    res = s.connect(extra={"type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; Lavf59.27.100)"})
    if res.name != "_result":
        fail("_result for connect", f"{res.name} {res.code}", offending=res)
    key = ctx.key()
    s.send_cmd(messages.release_stream(key, 2))
    s.send_cmd(messages.fc_publish(key, 3))
    s.send_cmd(messages.create_stream(4))
    r = s.expect(lambda m: m.name in ("_result", "_error") and m.command.transaction_id == 4, "createStream _result")
    sid = int(next(a for a in r.command.args if isinstance(a, float)))
    s.stream_ids.append(sid)
    st = s.publish(key, msid=sid)
    if st.code != "NetStream.Publish.Start":
        fail("NetStream.Publish.Start", f"{st.name} {st.code}", offending=st)
    play = ctx.player(key)
    from .case import Publisher

    pub = Publisher(s, key, sid)
    pub.metadata(metadata("ecma", True))
    items = av_sequence(10, seed=59)
    pub.send_all(items)
    _relay_check(ctx, items, [play], "an ffmpeg-style publish relayed")
    s.send_cmd(messages.fc_unpublish(key, 5))
    s.send_cmd(messages.delete_stream(sid))


CASES = [
    Case("interop-obs-10097-type0-frames-past-24-bits", "5.3.1.3-fmt3-extended-timestamp", check_obs_10097,
         relay=True, refs=("OBS PR 10097",)),
    Case("interop-nginx-1462-type3-extended-delta", "5.3.1.3-fmt3-extended-timestamp", check_nginx_1462,
         relay=True, refs=("nginx-rtmp PR 1462",)),
    Case("interop-nms-25-stream-past-4h39m", "5.3.1.3-extended-timestamp", check_nms_25, relay=True,
         refs=("Node-Media-Server 25",)),
    Case("interop-srs-2409-av-across-32-bit-wrap", "4-timestamp-wraparound", check_srs_2409, relay=True,
         refs=("SRS 2409",)),
    Case("interop-nginx-246-media-on-csid-64-65", "5.3.1.1-csid-two-byte", check_nginx_246, relay=True,
         refs=("nginx-rtmp 246",)),
    Case("interop-mediamtx-3302-set-chunk-size-after-publish", "5.4.1-set-chunk-size-applies", check_mediamtx_3302,
         relay=True, refs=("MediaMTX PR 3302",)),
    Case("interop-ffmpeg-publish-sequence", "fcpublish-tolerated", check_ffmpeg_publish, relay=True,
         refs=("ffmpeg libavformat/rtmpproto.c",)),
]


@parametrize(CASES)
def test_interop(case, conformance):
    conformance.run(case)
