"""Scenarios for playing clients: the battery serves a stream with one edge case each and keeps what it sent; the
cases in ``conformance/test_client_play.py`` compare it with the FLV the client wrote.

Every stream starts with Stream Begin, NetStream.Play.Reset/Start, |RtmpSampleAccess and onMetaData, and ends
with User Control Stream EOF and onStatus NetStream.Play.UnpublishNotify; the player gets GRACE s to end by itself
(END_WAIT in the basic scenario, where that is judged), then the battery half-closes the TCP connection (FIN
after the last byte) and the client's file is read once the client has exited (or been stopped with SIGINT,
which makes ffmpeg and gst-launch finish their files).
"""

from __future__ import annotations

import time

from rtmpspec import control, craft, events
from rtmpspec.message_format import Message
from rtmpspec.messages import DataMessage, SubMessage, build_aggregate

from . import inputs
from .inputs import Served
from .scenario import Run, ScenarioError, register
from .script import Behaviour, Script
from .stage import Peer

VIDEO_CSID, AUDIO_CSID, DATA_CSID = 6, 4, 5
END_WAIT = 2.0  # how long a player gets to end the play by itself after Stream EOF (the case judging it)
LAST_PAUSE = 0.3  # between the last media message and Stream EOF
GRACE = 1.0  # the same in the other scenarios: a player that ends by itself finishes its file cleanly
PING_VALUE = 0x1CEB00DA


def start_play(run: Run, behaviour: Behaviour) -> tuple[Peer, Script]:
    peer = run.accept()
    s = Script(peer, behaviour)
    try:
        s.accept_connect(run.step_timeout * 2)
        s.serve_until_start(run.step_timeout * 2, wanted=("play", "publish"))
    except Exception as exc:
        raise ScenarioError(f"the play sequence did not complete: {type(exc).__name__}: {exc}") from exc
    if s.started.name != "play":
        raise ScenarioError(f"the client sent {s.started.name}, not play: is it a publishing client?")
    msid = s.b.stream_id
    s.peer.send(DataMessage(("|RtmpSampleAccess", False, False), msid, 0).to_message(DATA_CSID))
    return peer, s


def metadata_message(msid: int, timestamp: int = 0, extra: dict | None = None) -> Message:
    values = inputs.metadata_values("av")
    props = dict(values[1]) if len(values) > 1 and isinstance(values[1], dict) else {}
    props.update(extra or {})
    return DataMessage(("onMetaData", props), msid, timestamp).to_message(DATA_CSID)


def end_stream(run: Run, peer: Peer, s: Script, *, wait: float = 0.0) -> None:
    """Stream EOF + UnpublishNotify (after a pause, as when a publisher leaves); with ``wait``, give the client
    that long to close by itself."""
    peer.drain(LAST_PAUSE, LAST_PAUSE)
    s.user_control(control.STREAM_EOF, s.b.stream_id)
    s.status("NetStream.Play.UnpublishNotify", "The stream is unpublished.")
    run.data["eof_sent"] = time.monotonic()
    if wait:
        closed = peer.wait_closed(wait)
        exited = not run.proc.alive()
        run.data["ended_by_client"] = closed or exited
        run.data["end_after"] = time.monotonic() - run.data["eof_sent"]


def serve(run: Run, items: list[Served], *, behaviour: Behaviour | None = None, fmt: str = "auto",
          csids: tuple[int, int] = (VIDEO_CSID, AUDIO_CSID), metadata: bool = True, wait_end: float = GRACE,
          ping_at: int | None = None, midstream_metadata_at: int | None = None) -> None:
    """Serve ``items`` as media messages.

    ``fmt``: "auto" (the Connection's writer compresses headers), "type0" (every message with a Type 0 header:
    absolute timestamps), "delta" (Type 1 headers after the first message of each chunk stream: timestamps as
    modulo-2**32 deltas)."""
    b = behaviour or Behaviour()
    peer, s = start_play(run, b)
    msid = b.stream_id
    if metadata:
        peer.send(metadata_message(msid))
    sent: list[Served] = []
    started: set[int] = set()
    peer.send_log = len(items) <= 80
    for n, it in enumerate(items):
        if midstream_metadata_at is not None and n == midstream_metadata_at:
            peer.send_log = True
            peer.send(metadata_message(msid, it.timestamp, {"conformance": "second onMetaData"}))
            run.data["midstream_index"] = n
            peer.send_log = len(items) <= 80
        if ping_at is not None and n == ping_at:
            peer.send(events.UserControl(control.PING_REQUEST, timestamp=PING_VALUE))
            run.data["ping_sent"] = time.monotonic()
        csid = csids[0] if it.type_id == 9 else csids[1]
        msg = Message(it.type_id, it.payload, it.timestamp, msid, csid)
        if fmt == "type0":
            data = peer.conn.writer.write(msg, fmt=0)
            peer.send_raw(data, "a Type 0 header (absolute timestamp)", log=n < 3)
        elif fmt == "delta":
            data = peer.conn.writer.write(msg, fmt=1 if csid in started else 0)
            started.add(csid)
            peer.send_raw(data, "a Type 1 header (timestamp delta)", log=n < 3)
        else:
            peer.send(msg)
        sent.append(it)
        peer.pump(0)
    peer.send_log = True
    run.data["sent"] = sent
    end_stream(run, peer, s, wait=wait_end)


def basic(run: Run) -> None:
    """The committed file's media (its AVC end of sequence included) at chunk size 128, Window Acknowledgement
    Size and Set Peer Bandwidth 16384 (so that a player acks several times), a PingRequest in the middle; at the
    end the battery waits END_WAIT s for the player to end by itself."""
    items = inputs.av_stream(end_of_sequence=True)
    serve(run, items, behaviour=Behaviour(window=16384, peer_bandwidth=16384), wait_end=END_WAIT,
          ping_at=len(items) // 2)
    run.data["window"] = 16384


def chunk_size(run: Run, size: int) -> None:
    serve(run, inputs.av_stream(), behaviour=Behaviour(chunk_size=size))


def type3_chain(run: Run) -> None:
    """Video of the file plus linear PCM audio frames of equal length every 20 ms: the writer sends the audio as a
    chain of Type 3 headers."""
    video = [i for i in inputs.av_stream() if i.type_id == 9]
    items = sorted(video + inputs.pcm_frames(100), key=lambda i: (i.timestamp, i.type_id))
    serve(run, items)


def extended(run: Run) -> None:
    """Every message with a Type 0 header, timestamps 2**24 + t: extended timestamps on every header and on
    every Type 3 continuation chunk (errata 5.1), chunk size 128 so that most messages have several chunks."""
    items = inputs.av_stream(shift=1 << 24)
    serve(run, items, behaviour=Behaviour(chunk_size=None), fmt="type0")


def wrap(run: Run) -> None:
    """Timestamps 2**32 - 1000 + t (modulo 2**32), sent as Type 1 deltas: the stream crosses the wrap after 1 s."""
    items = inputs.av_stream(shift=(1 << 32) - 1000)
    serve(run, items, fmt="delta")


def aggregate(run: Run) -> None:
    """The media as Aggregate messages (RTMP 7.1.6) of up to 6 sub-messages each."""
    b = Behaviour()
    peer, s = start_play(run, b)
    msid = b.stream_id
    peer.send(metadata_message(msid))
    items = inputs.av_stream()
    peer.send_log = False
    for k in range(0, len(items), 6):
        group = items[k:k + 6]
        payload = build_aggregate([SubMessage(i.type_id, i.timestamp, msid, i.payload) for i in group])
        peer.send(Message(22, payload, group[0].timestamp, msid, VIDEO_CSID))
        peer.pump(0)
    peer.send_log = True
    run.data["sent"] = items
    end_stream(run, peer, s, wait=GRACE)


def interleaved(run: Run) -> None:
    """Chunk size 128; the chunks of each video message are interleaved with the chunks of the audio messages
    that follow it (RTMP 5.3.2: chunks of different chunk streams may be interleaved)."""
    b = Behaviour(chunk_size=None)
    peer, s = start_play(run, b)
    msid = b.stream_id
    peer.send(metadata_message(msid))
    items = inputs.av_stream()
    video = [i for i in items if i.type_id == 9]
    audio = [i for i in items if i.type_id == 8]
    # pair each video message with the audio messages up to the next video timestamp
    out = bytearray()
    ai = 0
    order: list[Served] = []
    for vi, v in enumerate(video):
        nxt = video[vi + 1].timestamp if vi + 1 < len(video) else 1 << 40
        group = []
        while ai < len(audio) and audio[ai].timestamp < nxt:
            group.append(audio[ai])
            ai += 1
        vchunks = _chunks(v, msid, VIDEO_CSID)
        achunks = [c for a in group for c in _chunks(a, msid, AUDIO_CSID)]
        while vchunks or achunks:
            if vchunks:
                out += vchunks.pop(0)
            if achunks:
                out += achunks.pop(0)
        order.append(v)
        order.extend(group)
    peer.send_raw(bytes(out[:600]), "the first interleaved chunks (the rest is not logged)")
    peer.send_log = False
    peer.send_raw(bytes(out[600:]), "", log=False)
    peer.send_log = True
    run.data["sent"] = order
    end_stream(run, peer, s, wait=GRACE)


def _chunks(it: Served, msid: int, csid: int, size: int = 128) -> list[bytes]:
    """One message as Type 0 + Type 3 chunks (absolute timestamp: the interleaving never depends on deltas)."""
    return craft.message_chunks(csid, it.type_id, it.payload, chunk_size=size, timestamp=it.timestamp, msid=msid)


def csids(run: Run, video_csid: int, audio_csid: int) -> None:
    serve(run, inputs.av_stream(), csids=(video_csid, audio_csid))


def midstream_metadata(run: Run) -> None:
    items = inputs.av_stream()
    serve(run, items, midstream_metadata_at=len(items) // 2)


def fourcc(run: Run) -> None:
    """E-RTMP v2 FourCC tags: HEVC (hvc1) video and Opus audio with ExVideoTagHeader / ExAudioTagHeader."""
    serve(run, inputs.fourcc_stream(), metadata=False)


register("play-basic", "play", basic)
register("play-scs-1", "play", chunk_size, size=1)
register("play-scs-2147483647", "play", chunk_size, size=2147483647)
register("play-type3-chain", "play", type3_chain)
register("play-ext-ts", "play", extended)
register("play-wrap", "play", wrap)
register("play-aggregate", "play", aggregate)
register("play-interleaved", "play", interleaved)
register("play-csid-2byte", "play", csids, video_csid=100, audio_csid=101)
register("play-csid-3byte", "play", csids, video_csid=1000, audio_csid=40000)
register("play-metadata", "play", midstream_metadata)
register("play-fourcc", "play", fourcc)
