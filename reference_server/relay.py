"""Live relay: streams keyed by ``app/name``, one publisher and many players each.

Chunk once
    Relayed messages are collected per input read of the publisher (``flush`` runs from ``loop.call_soon``, or
    after ``flush_interval``). Players are grouped by (outgoing chunk size, message stream id); for each group
    every message is chunked once with :meth:`Connection.chunk_shared` (Type 0 + Type 3 chunks, valid whatever
    the receiver's state), the chunks are joined into one ``bytes`` and that same object is written to every
    player of the group with one ``transport.write``; ``conn.send_shared`` accounts for it (bytes written and
    the chunk stream state of the last message per chunk stream).

Late joiners
    get the cached metadata (``onMetaData``, without the ``@setDataFrame`` wrapper), every cached sequence header
    (AVC/HEVC/AAC, E-RTMP SequenceStart / MultichannelConfig, per track) and the GOP since the last keyframe
    (bounded by ``gop_max_bytes`` and ``gop_max_frames``; when exceeded the cache is dropped until the next
    keyframe and a late joiner waits for that keyframe). Metadata and headers are re-stamped with the timestamp
    of the first GOP message so the player sees monotonic timestamps; media timestamps are relayed as published.

Slow players
    never slow the publisher: nothing here awaits a socket. The per-player queue is the transport's write buffer;
    above ``player_soft_limit`` queued bytes non-keyframe video is dropped and the player then waits for a
    keyframe (with room in its queue) before it gets video again; above ``player_hard_limit`` it is disconnected
    with a log line, and so is a player that stays above the soft limit for ``player_lag_timeout`` seconds.
    The burst a late joiner gets is allowed on top of the soft limit until the queue drains.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from rtmpspec import control, media
from rtmpspec.chunkstream import Message
from rtmpspec.connection import Connection, State
from rtmpspec.errors import DecodeError, RTMPError
from rtmpspec.events import UserControl
from rtmpspec.messages import CSID_AUDIO, CSID_DATA, CSID_VIDEO, DataMessage, on_status, plain

from . import logs
from .config import Config

_GONE = (State.ERROR, State.CLOSED)

if TYPE_CHECKING:
    from .recorder import Recorder
    from .session import Session

# kinds of relayed messages (NESTED: a multitrack message nesting another, never relayed, E-RTMP v2)
AUDIO, AUDIO_SEQ, VIDEO_KEY, VIDEO_SEQ, VIDEO_INTER, DATA = range(6)
NESTED = -1
_IS_AUDIO = (True, True, False, False, False, False)
_IS_VIDEO = (False, False, True, True, True, False)
_CSID = {8: CSID_AUDIO, 9: CSID_VIDEO}
_chunk = Connection.chunk_shared
MAX_HEADERS = 64  # cached sequence headers per stream (tracks x packet types)


_LEGACY_KINDS: dict[tuple[int, bytes], tuple[int, tuple | None]] = {}


def classify(type_id: int, payload: bytes) -> tuple[int, tuple | None]:
    """(kind, header cache key or None) of an audio/video payload, decided by rtmpspec.media.

    A legacy (non E-RTMP) tag's kind depends only on its first two bytes (FLV E.4.2.1 SoundFormat/AACPacketType,
    E.4.3.1 FrameType/CodecID/AVCPacketType), so rtmpspec's answer is memoised by them; E-RTMP tags (FourCC,
    multitrack) are parsed every time. Header keys separate tracks and packet types (SequenceStart vs
    MultichannelConfig) so that every one of them is replayed to late joiners.
    """
    legacy = len(payload) >= 2 and ((payload[0] & 0x80) == 0 if type_id == 9 else (payload[0] >> 4) != 9)
    if legacy:
        memo = _LEGACY_KINDS.get((type_id, payload[:2]))
        if memo is not None:
            return memo
    kind: int = AUDIO if type_id == 8 else VIDEO_INTER
    hkey: tuple | None = None
    try:
        if type_id == 9:
            tag = media.parse_video_tag(payload)
            if tag.multitrack_type is not None and any(tr.packet_type == 6 for tr in tag.tracks):
                return NESTED, None  # E-RTMP v2: the per-track packet type is never Multitrack again
            if tag.is_sequence_header:
                kind = VIDEO_SEQ
                hkey = (9, tuple((tr.track_id, tr.packet_type) for tr in tag.tracks))
            elif tag.is_keyframe:
                kind = VIDEO_KEY
            elif tag.enhanced and tag.packet_type == media.VideoPacketType.Metadata:
                kind = VIDEO_SEQ  # E-RTMP colorInfo etc.: cached for late joiners, never dropped
                hkey = (9, "metadata")
        elif type_id == 8 and payload:
            tag = media.parse_audio_tag(payload)
            if tag.multitrack_type is not None and any(tr.packet_type == 5 for tr in tag.tracks):
                return NESTED, None
            if tag.is_sequence_header:  # AAC config, E-RTMP SequenceStart / MultichannelConfig (per track)
                kind = AUDIO_SEQ
                hkey = (8, tuple((tr.track_id, tr.packet_type) for tr in tag.tracks))
    except DecodeError:
        return kind, None
    if legacy:
        if len(_LEGACY_KINDS) > 1024:
            _LEGACY_KINDS.clear()
        _LEGACY_KINDS[(type_id, bytes(payload[:2]))] = (kind, hkey)
    return kind, hkey


def _data_message(values: tuple, timestamp: int, original: tuple) -> tuple[Message, tuple, bool]:
    """The data message to relay, its values and whether it is AMF3: ``values`` as AMF0 when they have an AMF0
    spelling, else the publisher's own ``original`` values (without @setDataFrame) as AMF3 (type 15)."""
    try:
        return DataMessage(values, 0, timestamp).to_message(CSID_DATA), values, False
    except (TypeError, ValueError, OverflowError, RTMPError):
        values = _unwrapped(original)
        return DataMessage(values, 0, timestamp, amf3=True).to_message(CSID_DATA), values, True


def _unwrapped(values: tuple) -> tuple:
    """Without the ``@setDataFrame`` wrapper (nginx-rtmp PR 755: players get the bare data message)."""
    if values and plain(values[0]) == "@setDataFrame":
        return tuple(values[1:])
    return tuple(values)


class Player:
    __slots__ = ("session", "conn", "transport", "write", "msid", "stream", "name", "audio", "video", "paused",
                 "need_key", "slack", "dropped", "lagging", "group", "fast", "lag_since", "duration_ms", "stop_ts",
                 "ended", "held", "held_bytes")

    def __init__(self, session: Session, msid: int, name: str) -> None:
        self.session = session
        self.conn = session.conn
        self.transport = session.transport
        self.write = session.transport.write
        self.msid = msid
        self.name = name
        self.stream: Stream | None = None
        self.audio = True
        self.video = True
        self.paused = False
        self.need_key = False
        self.slack = 0  # burst bytes allowed over the soft limit until the queue drains below it
        self.dropped = 0
        self.lagging = False
        self.lag_since = 0.0
        self.group: tuple[int, int] = (0, 0)
        self.fast = True
        self.duration_ms: int | None = None  # play's duration (RTMP 7.2.2.1): stop that long after the first media
        self.stop_ts: int | None = None
        self.ended = False
        self.held: deque = deque()  # (chunk bytes, message, kind) waiting for the client's Acknowledgement
        self.held_bytes = 0

    def update(self) -> None:
        self.fast = (self.audio and self.video and not self.paused and not self.need_key
                     and self.duration_ms is None)

    def budget(self) -> int | None:
        """RTMP 5.4.3-5.4.5: how many more bytes the client allows unacknowledged (its Set Peer Bandwidth, else the
        window we asked it to acknowledge); None: no limit."""
        conn = self.conn
        limit = conn.output_limit or conn.our_window
        return None if not limit else limit - conn.unacknowledged

    def wants(self, kind: int) -> bool:
        if self.paused:
            return False
        if _IS_AUDIO[kind]:
            return self.audio
        if _IS_VIDEO[kind]:
            return self.video
        return True


class Stream:
    def __init__(self, relay: Relay, app: str, name: str) -> None:
        self.relay = relay
        self.cfg = relay.cfg
        self.app, self.name = app, name
        self.key = f"{app}/{name}"
        self.publisher: Session | None = None
        self.pub_msid = 0
        self.players: list[Player] = []
        self.groups: dict[tuple[int, int], list[Player]] = {}
        self.metadata: Any = None
        self.metadata_out: tuple[tuple, bool] | None = None  # what late joiners get: values, AMF3 or not
        self.headers: dict[tuple, Message] = {}
        self.gop: list[tuple[Message, int]] | None = None
        self.gop_bytes = 0
        self.pending: list[tuple[Message, int]] = []
        self._flush_handle: asyncio.Handle | None = None
        self.recorder: Recorder | None = None
        self.last_ts = 0
        self.messages = 0
        self.bytes_in = 0

    # -- bookkeeping ----------------------------------------------------------------------------------------
    def _regroup(self) -> None:
        groups: dict[tuple[int, int], list[Player]] = {}
        for p in self.players:
            p.group = (p.conn.our_chunk_size, p.msid)
            groups.setdefault(p.group, []).append(p)
        self.groups = groups

    def _reset_media(self) -> None:
        self.metadata = None
        self.metadata_out = None
        self.headers = {}
        self.gop = None
        self.gop_bytes = 0

    # -- publisher side -------------------------------------------------------------------------------------
    def on_media(self, msg: Message) -> None:
        payload = msg.payload
        kind, hkey = classify(msg.type_id, payload)
        if kind == NESTED:
            logs.get().event("warning", "nested_multitrack_dropped", stream=self.key, type=msg.type_id,
                             section="E-RTMP v2 Multitrack")
            return
        if hkey is not None and (hkey in self.headers or len(self.headers) < MAX_HEADERS):
            self.headers[hkey] = msg
        self.last_ts = msg.timestamp
        self.messages += 1
        self.bytes_in += len(payload)
        entry = (msg, kind)
        if kind == VIDEO_KEY:
            self.gop = [entry]
            self.gop_bytes = len(payload)
        elif self.gop is not None and kind != VIDEO_SEQ and kind != AUDIO_SEQ:
            self.gop.append(entry)
            self.gop_bytes += len(payload)
            if self.gop_bytes > self.cfg.gop_max_bytes or len(self.gop) > self.cfg.gop_max_frames:
                logs.get().event("warning", "gop_cache_overflow", stream=self.key, bytes=self.gop_bytes,
                                 messages=len(self.gop))
                self.gop = None
                self.gop_bytes = 0
        if self.recorder is not None:
            self.recorder.media(msg.type_id, msg.timestamp, payload)
        if self.players:
            self.pending.append(entry)
            if self._flush_handle is None:
                self._schedule()

    def on_data(self, dm: DataMessage) -> None:
        """``@setDataFrame onMetaData`` / ``onMetaData``: stored (unwrapped) and relayed as ``onMetaData``;
        ``@clearDataFrame`` clears it; other data messages are relayed (unwrapped from ``@setDataFrame``).

        AMF3 data messages (type 15) are relayed as AMF0 when their values have an AMF0 spelling; values that
        only AMF3 has (Date, Vector, ByteArray, ...) are relayed as the publisher sent them, in a type 15."""
        original = dm
        meta = dm.metadata
        name = dm.name
        if meta is None and dm.amf3:  # AMF3 data message: values may sit inside avmplus markers
            vals = tuple(plain(v) for v in dm.values)
            dm = DataMessage(vals, dm.msid, dm.timestamp)
            meta, name = dm.metadata, dm.name
        if meta is not None:
            out, values, amf3 = _data_message(("onMetaData", meta), dm.timestamp, original.values)
            self.metadata = meta
            self.metadata_out = (values, amf3)
            if self.recorder is not None and not amf3:  # FLV script data is AMF0 (FLV E.4.4)
                self.recorder.metadata(meta)
        elif name == "@clearDataFrame":
            self.metadata = None
            self.metadata_out = None
            return
        else:
            out, _, _ = _data_message(_unwrapped(dm.values), dm.timestamp, original.values)
        if self.players:
            self.pending.append((out, DATA))
            if self._flush_handle is None:
                self._schedule()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        iv = self.cfg.flush_interval
        self._flush_handle = loop.call_later(iv, self.flush) if iv > 0 else loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the pending messages to every player: chunk once per group, one write per player."""
        h = self._flush_handle
        if h is not None:
            h.cancel()
            self._flush_handle = None
        pending = self.pending
        if not pending:
            return
        self.pending = []
        soft = self.cfg.player_soft_limit
        dead: list[Player] = []
        for (chunk_size, msid), players in list(self.groups.items()):
            msgs = []
            chunks = []
            last: dict[int, Message] = {}
            for msg, _kind in pending:
                csid = _CSID.get(msg.type_id, CSID_DATA)
                m = Message(msg.type_id, msg.payload, msg.timestamp, msid, csid)
                msgs.append(m)
                chunks.append(_chunk(m, chunk_size))
                last[csid] = m
            joined = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            lasts = list(last.values())
            first, rest = lasts[0], lasts[1:]
            for p in list(players):
                if p.transport.is_closing() or p.conn.state in _GONE:
                    dead.append(p)  # its connection failed or closed: never write to it again
                    continue
                try:
                    budget = p.budget()
                    if p.held or (budget is not None and budget < len(joined)):
                        self._hold(p, pending, msgs, chunks)  # the client's window is full (RTMP 5.4.3-5.4.5)
                        continue
                    if p.fast:
                        queued = p.transport.get_write_buffer_size()
                        if queued <= soft + p.slack:
                            if p.slack and queued <= soft:
                                p.slack = 0
                            p.write(joined)
                            send = p.conn.send_shared
                            send(joined, first)
                            for m in rest:
                                send(b"", m)
                            continue
                    self._slow(p, pending, msgs, chunks)
                except Exception as exc:  # one broken player must not stop the others
                    dead.append(p)
                    p.session.close("internal_error", f"relaying to the player failed: {exc!r}", level="error")
        for p in dead:
            if p in self.players:
                self.players.remove(p)
                p.stream = None
        if dead:
            self._regroup()

    def _slow(self, p: Player, pending, msgs, chunks) -> None:
        cfg = self.cfg
        queued = p.transport.get_write_buffer_size()
        if queued <= cfg.player_soft_limit:
            p.slack = 0
        if queued > cfg.player_hard_limit + p.slack:
            p.session.close("slow_player", f"{queued} bytes queued for the player exceed {cfg.player_hard_limit}",
                            level="warning", dropped=p.dropped)
            return
        over = queued > cfg.player_soft_limit + p.slack
        if over and not p.lagging:
            p.lagging = True
            p.lag_since = time.monotonic()
            logs.get().event("warning", "player_lagging", conn=p.session.id, peer=p.session.peer, stream=self.key,
                             queued=queued)
        elif over and time.monotonic() - p.lag_since > cfg.player_lag_timeout:
            p.session.close("slow_player", f"{queued} bytes queued for the player for more than "
                            f"{cfg.player_lag_timeout}s", level="warning", dropped=p.dropped)
            return
        elif not over and p.lagging:
            p.lagging = False
        out = []
        last = {}
        for i, (msg, kind) in enumerate(pending):
            if not p.wants(kind) or p.ended:
                continue
            if p.duration_ms is not None and kind != DATA:
                if p.stop_ts is None:
                    p.stop_ts = msg.timestamp + p.duration_ms
                elif (msg.timestamp - p.stop_ts) & 0xFFFFFFFF < 0x80000000 and msg.timestamp != p.stop_ts:
                    self._end_play(p)
                    break
            if kind == VIDEO_INTER:
                if over or p.need_key:
                    p.need_key = True
                    p.dropped += 1
                    continue
            elif kind == VIDEO_KEY:
                if over:
                    p.need_key = True
                    p.dropped += 1
                    continue
                p.need_key = False
            out.append(chunks[i])
            m = msgs[i]
            last[m.csid] = m
        p.update()
        if not out:
            return
        data = b"".join(out)
        p.write(data)
        first = True
        for m in last.values():
            p.conn.send_shared(data if first else b"", m)
            first = False

    def _hold(self, p: Player, pending, msgs, chunks) -> None:
        """Flow control (RTMP 5.4.3-5.4.5): the client has not acknowledged enough to take this batch; queue it for
        the player and send what its window allows, the rest when an Acknowledgement comes (:meth:`release`)."""
        for i, (_msg, kind) in enumerate(pending):
            if p.wants(kind) and not p.ended:
                p.held.append((chunks[i], msgs[i], kind))
                p.held_bytes += len(chunks[i])
        if p.held_bytes > self.cfg.player_hard_limit:  # a player that does not acknowledge is a slow player
            p.session.close("slow_player", f"{p.held_bytes} bytes queued for a player that does not acknowledge "
                            f"(window {p.conn.output_limit or p.conn.our_window})", level="warning",
                            dropped=p.dropped)
            p.held.clear()
            p.held_bytes = 0
            return
        self.release(p)

    def release(self, p: Player) -> None:
        """Send held messages while the client's window allows (called on its Acknowledgements)."""
        budget = p.budget()
        out, last = [], {}
        while p.held and (budget is None or budget > 0):
            chunk, m, kind = p.held.popleft()
            p.held_bytes -= len(chunk)
            if kind == VIDEO_INTER and p.need_key:
                p.dropped += 1
                continue
            if kind == VIDEO_KEY:
                p.need_key = False
            out.append(chunk)
            last[m.csid] = m
            if budget is not None:
                budget -= len(chunk)
        p.update()
        if out and not (p.transport.is_closing() or p.conn.state in _GONE):
            data = b"".join(out)
            p.write(data)
            first = True
            for m in last.values():
                p.conn.send_shared(data if first else b"", m)
                first = False

    def _end_play(self, p: Player) -> None:
        """The play's duration is over (RTMP 7.2.2.1): Stream EOF and NetStream.Play.Stop, nothing more."""
        p.ended = True
        s = p.session
        s.write(s.conn.send(UserControl(control.STREAM_EOF, stream_id=p.msid))
                + s.conn.send(on_status("NetStream.Play.Stop", f"Stopped playing {self.name}.", msid=p.msid,
                                        details=self.name)))

    # -- players --------------------------------------------------------------------------------------------
    def add_player(self, p: Player) -> None:
        self.flush()
        p.stream = self
        self.players.append(p)
        self._regroup()
        if self.publisher is not None:
            self.burst(p)
        else:
            p.need_key = True
            p.update()

    def remove_player(self, p: Player) -> None:
        if p in self.players:
            self.flush()  # may itself drop p (a player whose connection already failed)
        if p in self.players:
            self.players.remove(p)
            self._regroup()
        p.stream = None
        self.relay.maybe_drop(self)

    def burst(self, p: Player) -> None:
        """Metadata + sequence headers + GOP for a player that joins (or unpauses) while the stream is live."""
        conn = p.conn
        gop = self.gop or []
        base = gop[0][0].timestamp if gop else self.last_ts
        out = []
        if self.metadata_out is not None:
            values, amf3 = self.metadata_out
            out.append(conn.send(DataMessage(values, p.msid, base, amf3=amf3)))
        for (t, *_), m in self.headers.items():
            if (t == 8 and p.audio) or (t == 9 and p.video):
                out.append(conn.send_media(Message(t, m.payload, base, p.msid, _CSID[t])))
        for m, kind in gop:
            if p.wants(kind):
                out.append(conn.send_media(Message(m.type_id, m.payload, m.timestamp, p.msid,
                                                   _CSID.get(m.type_id, CSID_DATA))))
        p.need_key = not gop
        p.update()
        data = b"".join(out)
        p.slack = len(data)
        if data:
            p.session.write(data)

    def notify_players(self, code: str, description: str, *, eof: bool = False, begin: bool = False) -> None:
        for p in list(self.players):
            s = p.session
            try:
                out = []
                if eof:
                    out.append(s.conn.send(UserControl(control.STREAM_EOF, stream_id=p.msid)))
                if begin:
                    out.append(s.conn.send(UserControl(control.STREAM_BEGIN, stream_id=p.msid)))
                out.append(s.conn.send(on_status(code, description, msid=p.msid, details=self.name)))
                s.write(b"".join(out))
            except Exception as exc:  # a player in a bad state must not stop the others
                s.close("internal_error", repr(exc))

    def start_publish(self, session: Session, msid: int) -> None:
        self.publisher = session
        self.pub_msid = msid
        self._reset_media()
        self.last_ts = 0
        for p in self.players:
            p.need_key = True
            p.update()
        self.notify_players("NetStream.Play.PublishNotify", f"{self.name} is now published.", begin=True)

    def stop_publish(self, *, reason: str = "unpublish") -> None:
        self.flush()
        self.publisher = None
        self.pub_msid = 0
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
        self.notify_players("NetStream.Play.UnpublishNotify", f"{self.name} is now unpublished.", eof=True)
        for p in self.players:
            p.need_key = True
            p.update()
        self._reset_media()
        self.relay.maybe_drop(self)


class Relay:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.streams: dict[str, Stream] = {}

    def get(self, app: str, name: str) -> Stream:
        key = f"{app}/{name}"
        s = self.streams.get(key)
        if s is None:
            s = self.streams[key] = Stream(self, app, name)
        return s

    def maybe_drop(self, s: Stream) -> None:
        if s.publisher is None and not s.players and self.streams.get(s.key) is s:
            del self.streams[s.key]

    def flush_all(self) -> None:
        for s in list(self.streams.values()):
            s.flush()
