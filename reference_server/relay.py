"""Live relay: streams keyed by ``app/name``, one publisher and many players each.

Chunk once, one write per player per batch
    Relayed messages are collected per input read of the publisher and flushed when the publisher's session has
    handled that read (:meth:`Stream.end_of_input`: at most once per event loop tick) once half a
    ``flush_interval`` (default 0.05 s) has passed since the stream's previous flush, else at the latest a whole
    interval after it: under a steady stream each player gets one write per 25-50 ms instead of one per message.
    That write count, not the bytes, is what fan-out costs per player (syscalls and TCP segments: the kernel's
    share, as large as nginx-rtmp's whole cost at one write per message). The publisher's socket is read at the
    same pace (:mod:`reference_server.ingest`). ``--flush-interval 0`` gives one read and one write per message. Players that take everything (not
    paused, audio and video on, not waiting for a keyframe, queue below the soft limit) are grouped by (outgoing
    chunk size, message stream id). For each group every message of the batch is chunked once
    (:meth:`Connection.chunk_shared`: a Type 0 header built by arithmetic, then Type 3 headers; valid whatever
    the receiver's state), the chunks are joined into one ``bytes``, and that same object is written to every
    player of the group: one ``transport.write`` per player per batch and nothing else per player (the group's
    :class:`rtmpspec.chunkwriter.SharedOutput`, attached to every member's Connection, accounts for the bytes
    and the chunk streams once per batch), and no Python object made per player or per message.

Late joiners
    get the cached metadata (``onMetaData``, without the ``@setDataFrame`` wrapper), every cached sequence header
    (AVC/HEVC/AAC, E-RTMP SequenceStart / MultichannelConfig, per track) and the GOP since the last keyframe
    (bounded by ``gop_max_bytes`` and ``gop_max_frames``; when exceeded the cache is dropped until the next
    keyframe and a late joiner waits for that keyframe). Metadata and headers are re-stamped with the timestamp
    of the first GOP message so the player sees monotonic timestamps; media timestamps are relayed as published.

Slow players
    never slow the publisher: nothing here awaits a socket. The per-player queue is the transport's write buffer;
    the players of the groups have it checked every ``player_check_interval`` seconds (amortised: not per write).
    Above ``player_soft_limit`` queued bytes a player leaves its group and is served on its own: non-keyframe
    video is dropped and the player then waits for a keyframe (with room in its queue) before it gets video
    again; above ``player_hard_limit`` it is disconnected with a log line, and so is a player that stays above
    the soft limit for ``player_lag_timeout`` seconds. The burst a late joiner gets is allowed on top of the soft
    limit until the queue drains.

Flow control (RTMP 5.4.3-5.4.5)
    A player's output stays within the window its client allows unacknowledged (its Set Peer Bandwidth, else the
    Window Acknowledgement Size we announced). A grouped player costs nothing for it per batch: when it joins its
    group (and on each of its Acknowledgements) it gets the group's output count at which its window is full, the
    group keeps the smallest, and only a batch that would cross it looks at the players. Those whose window it
    would overfill are served alone: they get at most one message past the window (so they have something to
    acknowledge), the rest waits in order for their Acknowledgement (closed as slow players past
    ``player_hard_limit``), and they go back to their group when nothing waits and the window has room.
    A play with a positive duration (RTMP 7.2.2.1) is served alone too and ends with Stream EOF and
    NetStream.Play.Stop. Multitrack messages nesting another multitrack (E-RTMP v2) are never relayed.

Subscribers
    The relay knows the sessions of publishers and players only through
    :class:`~reference_server.relay_players.Subscriber` (id, peer, conn, transport, write, close); it imports
    nothing of the session or the server. Time comes from the ``clock`` the relay is given (the server passes its
    event loop's).

Modules
    This one holds the streams (:class:`Stream`: the publisher's side, batching, the groups' writes, players served
    alone, flow control, late joiners) and the :class:`Relay`; :mod:`reference_server.relay_players` the players and
    their groups (:class:`~reference_server.relay_players.Player`, :class:`~reference_server.relay_players.Group`)
    and :class:`~reference_server.relay_players.Subscriber`; :mod:`reference_server.relay_kinds` what a published
    message is (its kind, its cached header key, its chunk stream) and the data message players get.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rtmpspec import control
from rtmpspec.connection import Connection, State
from rtmpspec.events import UserControl
from rtmpspec.message_format import Message
from rtmpspec.messages import CSID_DATA, DataMessage, on_status, plain

from . import logs
from .config import Config
from .relay_kinds import (
    AUDIO_SEQ,
    CSID_OF_TYPE,
    DATA,
    NESTED,
    VIDEO_INTER,
    VIDEO_KEY,
    VIDEO_SEQ,
    classify,
    data_message,
    unwrapped,
)
from .relay_players import Group, Player, Subscriber

if TYPE_CHECKING:
    from .recorder import Recorder

_GONE = (State.ERROR, State.CLOSED)
MAX_HEADERS = 64  # cached sequence headers per stream (tracks x packet types)


class Stream:
    def __init__(self, relay: Relay, app: str, name: str) -> None:
        self.relay = relay
        self.cfg = relay.cfg
        self.clock = relay.clock
        self.app, self.name = app, name
        self.key = f"{app}/{name}"
        self.publisher: Subscriber | None = None
        self.pub_msid = 0
        self.players: list[Player] = []
        self.groups: dict[tuple[int, int], Group] = {}  # fast players by (chunk size, msid)
        self.alone: list[Player] = []  # players served one by one (dropping, paused, audio or video off, lagging)
        self.metadata: Any = None
        self.metadata_out: tuple[tuple, bool] | None = None  # what late joiners get: values, AMF3 or not
        self.headers: dict[tuple, Message] = {}
        self.gop: list[tuple[Message, int]] | None = None
        self.gop_bytes = 0
        self.pending: list[tuple[Message, int]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._next_check = 0.0
        self._last_flush = -1e9
        self.recorder: Recorder | None = None
        self.last_ts = 0
        self.messages = 0
        self.bytes_in = 0

    # -- bookkeeping ----------------------------------------------------------------------------------------
    def place(self, p: Player) -> None:
        """Put ``p`` (one of ``players``) in its group if it takes everything, else with the players served
        alone; every change of a player's place goes through here and :meth:`unplace` (no O(N) rebuilds)."""
        if p.fast:
            key = (p.conn.our_chunk_size, p.msid)
            g = self.groups.get(key)
            if g is None:
                g = self.groups[key] = Group(key)
            g.players.append(p)
            p.group = g
            p.conn.attach_shared(g.out)
            p.stop_at = g.out.bytes + p.budget()
            if p.stop_at < g.stop_min:
                g.stop_min = p.stop_at
        else:
            self.alone.append(p)

    def unplace(self, p: Player) -> None:
        g = p.group
        if g is not None:
            p.group = None
            p.conn.detach_shared()
            g.players.remove(p)
            if not g.players and self.groups.get(g.key) is g:
                del self.groups[g.key]
        elif p in self.alone:
            self.alone.remove(p)

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
            out, values, amf3 = data_message(("onMetaData", meta), dm.timestamp, original.values)
            self.metadata = meta
            self.metadata_out = (values, amf3)
            if self.recorder is not None and not amf3:  # FLV script data is AMF0 (FLV E.4.4)
                self.recorder.metadata(meta)
        elif name == "@clearDataFrame":
            self.metadata = None
            self.metadata_out = None
            return
        else:
            out, _, _ = data_message(unwrapped(dm.values), dm.timestamp, original.values)
        if self.players:
            self.pending.append((out, DATA))

    @property
    def flush_scheduled(self) -> bool:
        """A batch waits for its flush timer."""
        return self._flush_handle is not None

    def end_of_input(self) -> None:
        """The publisher's session has handled one read: flush what it brought (so at most once per event loop
        tick) if half a ``flush_interval`` has passed since the previous flush, else at the latest a whole
        interval after it (a timer, cancelled when a later read flushes first). Under a steady stream each flush
        rides on a read, costs no wakeup of its own, and players get one write per 1/2 to 1 interval."""
        if self.pending:
            iv = self.cfg.flush_interval
            since = self.clock() - self._last_flush
            if since >= iv / 2:
                self.flush()
            elif self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_later(iv - since, self.flush)

    def flush(self) -> None:
        """Write the pending messages to every player: chunked once per group, one write per player."""
        h = self._flush_handle
        if h is not None:
            h.cancel()
            self._flush_handle = None
        pending = self.pending
        if not pending:
            return
        self.pending = []
        now = self._last_flush = self.clock()
        if now >= self._next_check:
            self._check()
        csids = {CSID_OF_TYPE.get(m.type_id, CSID_DATA) for m, _ in pending}
        chunked: dict[tuple[int, int], list[bytes]] = {}
        failed: list[tuple[Player, Exception]] = []
        for key, g in list(self.groups.items()):
            chunks = chunked[key] = _chunk_all(pending, key)
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if g.out.bytes + len(data) > g.stop_min and not self._spill(g, g.out.bytes + len(data)):
                continue  # every player of the group had its window full: served alone now
            g.out.add(len(data), csids)  # accounted in every member's Connection at once
            for p in g.players:
                try:
                    p.write(data)
                except Exception as exc:  # one broken player must not stop the others
                    failed.append((p, exc))
        for p in list(self.alone):  # a player may change places on the way
            try:
                self._alone(p, pending, chunked)
            except Exception as exc:
                failed.append((p, exc))
        for p, exc in failed:
            self.drop(p)
            p.sub.close("internal_error", f"relaying to the player failed: {exc!r}", level="error")

    def _spill(self, g: Group, end: int) -> bool:
        """Flow control (RTMP 5.4.3-5.4.5): the players of ``g`` whose window the batch ending at ``end`` would
        overfill leave the group (served alone, held until they acknowledge); False if none is left."""
        low = math.inf
        for p in list(g.players):
            if end > p.stop_at:
                p.windowed = True
                p.update()
            elif p.stop_at < low:
                low = p.stop_at
        g.stop_min = low
        return bool(g.players)

    def acknowledged(self, p: Player) -> None:
        """The player's client acknowledged: a grouped player's window moves on, a held one gets what waits."""
        g = p.group
        if g is not None:
            p.stop_at = g.out.bytes + p.budget()
        elif p.windowed or p.held:
            self.release(p)

    def release(self, p: Player) -> None:
        """Send held messages while the client's window allows, at most one message past it (then it has
        something to acknowledge); back to the group once nothing waits and the window has room."""
        budget = p.budget()
        out, csids, n = [], set(), 0
        while p.held and budget > 0:
            chunk, kind, csid = p.held.popleft()
            p.held_bytes -= len(chunk)
            if kind == VIDEO_INTER and p.need_key:
                p.dropped += 1
                continue
            if kind == VIDEO_KEY:
                p.need_key = False
            out.append(chunk)
            csids.add(csid)
            n += len(chunk)
            budget -= len(chunk)
        if out and not (p.transport.is_closing() or p.conn.state in _GONE):
            p.transport.writelines(out)
            p.shared(n, csids)
        if not p.held and p.windowed:
            limit = p.conn.output_limit or p.conn.our_window
            if not limit or p.budget() * 2 > limit:
                p.windowed = False
                p.update()

    def _end_play(self, p: Player) -> None:
        """The play's duration is over (RTMP 7.2.2.1): Stream EOF and NetStream.Play.Stop, nothing more."""
        p.ended = True
        s = p.sub
        s.write(s.conn.send(UserControl(control.STREAM_EOF, stream_id=p.msid))
                + s.conn.send(on_status("NetStream.Play.Stop", f"Stopped playing {self.name}.", msid=p.msid,
                                        details=self.name)))

    def _check(self) -> None:
        """The amortised look at every grouped player's queue (each ``player_check_interval`` seconds)."""
        self._next_check = self.clock() + self.cfg.player_check_interval
        soft = self.cfg.player_soft_limit
        gone = []
        over = []
        for g in self.groups.values():
            for p in g.players:
                t = p.transport
                if t.is_closing() or p.conn.state in _GONE:
                    gone.append(p)  # its connection failed or closed: never write to it again
                    continue
                queued = t.get_write_buffer_size()
                if queued > soft + p.slack:
                    over.append(p)
                    logs.get().event("warning", "player_lagging", conn=p.sub.id, peer=p.sub.peer, stream=self.key,
                                     queued=queued)
                elif p.slack and queued <= soft:
                    p.slack = 0
        for p in gone:
            self.drop(p)
        for p in over:  # served alone from now on, until its queue drains and a keyframe comes
            p.over = p.lagging = True
            p.lag_since = self.clock()
            p.update()

    def _alone(self, p: Player, pending: list, chunked: dict) -> None:
        """A player not in a group: its own choice of messages (keyframe-safe dropping, no audio/video,
        paused), from the chunks of its (chunk size, msid)."""
        cfg = self.cfg
        t = p.transport
        if t.is_closing() or p.conn.state in _GONE:
            self.drop(p)
            return
        queued = t.get_write_buffer_size()
        if queued <= cfg.player_soft_limit:
            p.slack = 0
        if queued > cfg.player_hard_limit + p.slack:
            p.sub.close("slow_player", f"{queued} bytes queued for the player exceed {cfg.player_hard_limit}",
                        level="warning", dropped=p.dropped)
            return
        over = queued > cfg.player_soft_limit + p.slack
        if over and not p.lagging:
            p.lagging = True
            p.lag_since = self.clock()
            logs.get().event("warning", "player_lagging", conn=p.sub.id, peer=p.sub.peer, stream=self.key,
                             queued=queued)
        elif over and self.clock() - p.lag_since > cfg.player_lag_timeout:
            p.sub.close("slow_player", f"{queued} bytes queued for the player for more than "
                        f"{cfg.player_lag_timeout}s", level="warning", dropped=p.dropped)
            return
        elif not over and p.lagging:
            p.lagging = False
        key = (p.conn.our_chunk_size, p.msid)
        chunks = chunked.get(key)
        if chunks is None:
            chunks = chunked[key] = _chunk_all(pending, key)
        out = []
        csids = set()
        kinds = []
        for i, (msg, kind) in enumerate(pending):
            if not p.wants(kind) or p.ended:
                continue
            if p.duration_ms is not None and kind != DATA:
                if p.stop_ts is None:
                    p.stop_ts = msg.timestamp + p.duration_ms
                elif (msg.timestamp - p.stop_ts) & 0xFFFFFFFF < 0x80000000 and msg.timestamp != p.stop_ts:
                    self._end_play(p)
                    break
            if p.held:  # flow control: what waits is sent in order, dropping decided when it is released
                kinds.append((chunks[i], kind, CSID_OF_TYPE.get(msg.type_id, CSID_DATA)))
                continue
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
            csids.add(CSID_OF_TYPE.get(msg.type_id, CSID_DATA))
            kinds.append((chunks[i], kind, CSID_OF_TYPE.get(msg.type_id, CSID_DATA)))
        p.over = over
        n = sum(map(len, out))
        if p.held or (n and n > p.budget()):  # the client's window is full (RTMP 5.4.3-5.4.5): hold
            p.windowed = True
            for item in kinds:
                p.held.append(item)
                p.held_bytes += len(item[0])
            if p.held_bytes > cfg.player_hard_limit:  # a player that does not acknowledge is a slow player
                p.sub.close("slow_player", f"{p.held_bytes} bytes queued for a player that does not acknowledge "
                            f"(window {p.conn.output_limit or p.conn.our_window})", level="warning",
                            dropped=p.dropped)
                p.held.clear()
                p.held_bytes = 0
                return
            self.release(p)
            p.update()
            return
        if out:
            t.writelines(out)
            p.shared(n, csids)
        p.update()  # after the write: a player going back to its group counts its window from here

    # -- players --------------------------------------------------------------------------------------------
    def add_player(self, p: Player) -> None:
        self.flush()
        p.stream = self
        self.players.append(p)
        self.place(p)
        if self.publisher is not None:
            self.burst(p)
        else:
            p.need_key = True
            p.update()

    def remove_player(self, p: Player) -> None:
        if p in self.players:
            self.flush()  # may itself drop p (a player whose connection already failed)
        self.drop(p)
        self.relay.maybe_drop(self)

    def drop(self, p: Player) -> None:
        """``p`` gets nothing more from this stream."""
        if p in self.players:
            self.players.remove(p)
            self.unplace(p)
        p.stream = None

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
                out.append(conn.send_media(Message(t, m.payload, base, p.msid, CSID_OF_TYPE[t])))
        for m, kind in gop:
            if p.wants(kind):
                out.append(conn.send_media(Message(m.type_id, m.payload, m.timestamp, p.msid,
                                                   CSID_OF_TYPE.get(m.type_id, CSID_DATA))))
        p.need_key = not gop
        p.update()
        data = b"".join(out)
        p.slack = len(data)
        if data:
            p.sub.write(data)
            if p.group is not None:  # the burst counts against the client's window too
                p.stop_at = p.group.out.bytes + p.budget()
                p.group.stop_min = min(p.group.stop_min, p.stop_at)

    def notify_players(self, code: str, description: str, *, eof: bool = False, begin: bool = False) -> None:
        for p in list(self.players):
            s = p.sub
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

    def start_publish(self, sub: Subscriber, msid: int) -> None:
        self.publisher = sub
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


def _chunk_all(pending: list[tuple[Message, int]], key: tuple[int, int]) -> list[bytes]:
    """Every pending message chunked for (chunk size, message stream id): what a group shares."""
    chunk_size, msid = key
    chunk = Connection.chunk_shared
    return [chunk(m, chunk_size, msid=msid, csid=CSID_OF_TYPE.get(m.type_id, CSID_DATA)) for m, _ in pending]


class Relay:
    """The live streams of a server; ``clock`` is its time source (seconds, monotonic)."""

    def __init__(self, cfg: Config, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock
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
