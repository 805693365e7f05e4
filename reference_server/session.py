"""One RTMP session per TCP connection: an asyncio Protocol over :class:`rtmpspec.connection.Connection`.

Every byte goes through rtmpspec: ``data_received`` feeds the Connection, which runs the handshake and the
chunk stream and types every message; this module only decides what to answer. A ``ProtocolError`` (bad
handshake, bad chunk header, oversized message, bad Set Chunk Size, garbage AMF, a command out of order) is
logged as ONE line with connection id, peer, what, offset, field and section, and only this connection is
closed.

Commands (RTMP 7.2 and what FMS / nginx-rtmp / ffmpeg do): connect, releaseStream, FCPublish (onFCPublish),
FCUnpublish (onFCUnpublish), createStream, publish, play, play2, deleteStream, closeStream, getStreamLength,
pause, seek, receiveAudio, receiveVideo, FCSubscribe (ignored), close; any other command with a transaction id
other than 0 gets ``_error`` (NetConnection.Call.Failed) with the same transaction id.

Play of a key nobody publishes: like nginx-rtmp, ``NetStream.Play.Start`` and wait; when a publisher arrives
the player gets StreamBegin + ``NetStream.Play.PublishNotify`` and the stream; when it leaves, StreamEOF +
``NetStream.Play.UnpublishNotify`` and the player stays.

A session is given what it needs, not the server: its :class:`~reference_server.config.Config`, the
:class:`~reference_server.relay.Relay`, the :class:`SessionRegistry` (live sessions, open recordings, whether the
server is stopping) and a clock (seconds; the server passes its event loop's ``time``). The relay sees it as a
:class:`~reference_server.relay_players.Subscriber`.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable
from typing import Any

from rtmpspec import control, events, media
from rtmpspec.connection import Connection, Role, State
from rtmpspec.errors import DecodeError, ProtocolError
from rtmpspec.message_format import MessageType
from rtmpspec.messages import Command, DataMessage, error, on_status, plain, result, split_aggregate
from rtmpspec.sentinels import NEED_DATA

from . import logs
from .config import Config, valid_name
from .ingest import InputBatcher
from .recorder import Recorder, latest_recording, record_path
from .relay import Relay, Stream
from .relay_players import Player
from .sharedobjects import SharedObjects

_ids = itertools.count(1)
_MEDIA = (events.Video, events.Audio)
FMS_VERSION = "FMS/3,0,1,123"
CLOSE_GRACE = 1.0
MAX_STREAMS = 256  # message streams per connection (createStream, play, publish)
READ_BUFFER = 256 * 1024  # bytes one read may bring


def _stream_name(v: Any) -> str | None:
    v = plain(v)
    if not isinstance(v, str):
        return None
    return v.split("?", 1)[0]


class SessionRegistry:
    """What sessions share with the server: the live sessions, the open recordings, whether it is stopping, and
    the one read buffer the event loop reads every connection into (each read is handled before the next)."""

    def __init__(self) -> None:
        self.sessions: set[ServerSession] = set()
        self.recorders: set[Recorder] = set()
        self.stopping = False
        self.shared_objects = SharedObjects()  # RTMP 7.1.3, per application
        self.read_buffer = memoryview(bytearray(READ_BUFFER))


class ServerSession(asyncio.BufferedProtocol):
    def __init__(self, cfg: Config, relay: Relay, registry: SessionRegistry, clock: Callable[[], float]) -> None:
        self.cfg = cfg
        self.relay = relay
        self.registry = registry
        self.clock = clock
        self.id = next(_ids)
        self.peer = "-"
        self.transport: asyncio.Transport | None = None
        self.batcher: InputBatcher | None = None
        self.loop = asyncio.get_running_loop()
        now = clock()
        # RTMP 5.4.1: Set Chunk Size up to 2147483647 is valid (sizes above 16777215 are all equivalent); a chunk
        # never exceeds its message, which max_message_size bounds, so accepting them allocates nothing extra
        self.conn = Connection(Role.SERVER, now=now, max_message_size=self.cfg.max_message_size,
                               max_chunk_size=0x7FFFFFFF, handshake_timeout=cfg.handshake_timeout,
                               idle_timeout=cfg.idle_timeout)
        self.closing = False
        self.app: str | None = None
        self.object_encoding = 0
        self.next_stream_id = 1
        self.created_streams: set[int] = set()
        self.publishing: dict[int, Stream] = {}
        self.playing: dict[int, Player] = {}
        self.last_state = State.HANDSHAKE
        self.log = logs.get()

    # -- asyncio callbacks ----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.batcher = InputBatcher(transport, self.cfg.flush_interval, self.clock)
        pn = transport.get_extra_info("peername")
        self.peer = f"{pn[0]}:{pn[1]}" if isinstance(pn, tuple) else str(pn)
        reg = self.registry
        if len(reg.sessions) >= self.cfg.max_connections or reg.stopping:
            self.ev("warning", "connection_refused", reason="max_connections" if not reg.stopping else "shutdown",
                    limit=self.cfg.max_connections)
            self.closing = True
            transport.abort()
            return
        reg.sessions.add(self)
        try:
            transport.set_write_buffer_limits(high=4 * 1024 * 1024)
        except (AttributeError, NotImplementedError):
            pass
        self.ev("info", "connection_open")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True  # first: nothing may write to this transport any more, whatever cleanup does
        try:
            self._cleanup()
        except Exception as cleanup_exc:  # a bug in cleanup must not escape into the event loop
            self.ev("error", "internal_error", what=f"cleanup failed: {cleanup_exc!r}")
        if self in self.registry.sessions:
            self.registry.sessions.discard(self)
            self.ev("info", "connection_closed", bytes_in=self.conn.bytes_received, bytes_out=self.conn.bytes_sent,
                    acked=self.conn.last_ack_received, error=str(exc) if exc else None)
        self.closing = True

    def eof_received(self) -> bool:
        self.data_received(b"")
        return False

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.registry.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        """A read straight into the shared buffer (no bytes object per read); the chunk reader copies what it
        keeps, the handshake gets bytes."""
        data = self.registry.read_buffer[:nbytes]
        self.data_received(bytes(data) if self.conn.state is State.HANDSHAKE else data)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        conn = self.conn
        try:
            conn.receive_data(data, self.clock())
            while not self.closing:
                self.last_state = conn.state
                ev = conn.next_event()
                if ev is NEED_DATA:
                    break
                self.handle(ev)
            if self.publishing:
                for stream in self.publishing.values():  # relay what this read brought
                    stream.end_of_input()
                if self.batcher.target > 1:
                    self.batcher.after_read()
        except ProtocolError as exc:
            self.protocol_error(exc)
            return
        except Exception as exc:  # a bug in our handling: this session ends, the server goes on
            self.close("internal_error", f"{type(exc).__name__}: {exc}", level="error")
            return
        out = conn.data_to_send()
        if out and not self.closing:
            self.transport.write(out)

    # -- helpers --------------------------------------------------------------------------------------------
    def ev(self, level: str, event: str, **kw: Any) -> None:
        self.log.event(level, event, conn=self.id, peer=self.peer, **kw)

    def write(self, data: bytes) -> None:
        t = self.transport
        if self.closing or t is None or t.is_closing():
            return
        pending = self.conn.data_to_send()  # handshake / acks produced earlier go first
        if pending:
            t.write(pending)
        if data:
            t.write(data)
        queued = t.get_write_buffer_size()
        if queued > self.cfg.player_hard_limit + self.cfg.gop_max_bytes:  # a peer that does not read
            self.close("write_buffer_overflow", f"{queued} bytes queued for a peer that does not read",
                       level="warning")

    def send(self, *evs: Any) -> None:
        self.write(b"".join(self.conn.send(e) for e in evs))

    def status(self, msid: int, code: str, description: str, level: str = "status", **extra: Any) -> None:
        self.send(on_status(code, description, level=level, msid=msid, extra=extra or None))

    def protocol_error(self, exc: ProtocolError) -> None:
        self.close("protocol_error", exc.what, level="warning", error=type(exc).__name__, offset=exc.offset,
                   field=exc.field, section=exc.section, state=self.last_state.value)

    def close(self, event: str = "close", why: str | None = None, *, level: str = "info", **kw: Any) -> None:
        """Log ``event`` once, leave every stream, close the transport (abort after a short grace)."""
        if self.closing:
            return
        self.ev(level, event, what=why, **kw)
        self._cleanup()
        self.closing = True
        t = self.transport
        if t is not None:
            pending = self.conn.data_to_send() if self.conn.state is not State.ERROR else b""
            if pending:
                t.write(pending)
            t.close()
            self.loop.call_later(CLOSE_GRACE, t.abort)

    def _cleanup(self) -> None:
        self.registry.shared_objects.leave(self)
        for msid in list(self.playing):
            self._stop_play(msid)
        self.stop_publishing()

    def stop_publishing(self) -> None:
        """Unpublish every stream this session publishes (players get StreamEOF + UnpublishNotify)."""
        for msid in list(self.publishing):
            self._stop_publish(msid)

    # -- timers (called by the server's tick) ---------------------------------------------------------------
    def tick(self, now: float) -> None:
        """The server's periodic look: input batching, players that lag, then the Connection's own deadlines
        (handshake + connect, idle, pings: :meth:`Connection.handle_timer`)."""
        if self.closing:
            return
        conn = self.conn
        if conn.state is State.CONNECTED or conn.state is State.REJECTED:
            if self.publishing or self.batcher.target > 1:
                self.batcher.tune(conn.bytes_received, bool(self.publishing))
            for p in list(self.playing.values()):
                if p.lagging:
                    queued = self.transport.get_write_buffer_size()
                    if queued <= self.cfg.player_soft_limit:
                        p.lagging = False
                    elif now - p.lag_since > self.cfg.player_lag_timeout:
                        self.close("slow_player", f"{queued} bytes queued for the player for more than "
                                   f"{self.cfg.player_lag_timeout}s", level="warning", dropped=p.dropped)
                        return
        at = conn.next_timer()
        if at is not None and now >= at:  # only when a deadline passed: no per-session calls on every tick
            conn.handle_timer(now)
            while not self.closing and (ev := conn.next_event()) is not NEED_DATA:
                self.handle(ev)
            self.write(b"")  # a ping the Connection queued

    # -- events ---------------------------------------------------------------------------------------------
    def handle(self, ev: events.Event) -> None:
        if isinstance(ev, _MEDIA):  # audio and video first: most of what a publisher sends
            s = self.publishing.get(ev.message.msid)
            if s is not None:
                s.on_media(ev.message)
            return
        if isinstance(ev, Command):
            self.command(ev)
        elif isinstance(ev, DataMessage):
            s = self.publishing.get(ev.msid)
            if s is not None:
                s.on_data(ev)
        elif isinstance(ev, events.Aggregate):
            s = self.publishing.get(ev.message.msid)
            if s is not None:
                try:
                    subs = split_aggregate(ev.message)
                except DecodeError as exc:
                    raise ProtocolError(exc.what, offset=self.conn.reader.offset, field=exc.field,
                                        section=exc.section or "RTMP 7.1.6") from exc
                for m in subs:
                    if m.type_id == MessageType.AUDIO or m.type_id == MessageType.VIDEO:
                        s.on_media(m)
        elif isinstance(ev, events.Acknowledgement):
            for p in list(self.playing.values()):  # flow control (RTMP 5.4.3-5.4.5): the window moves on
                if p.stream is not None:
                    p.stream.acknowledged(p)
        elif isinstance(ev, events.HandshakeDone):
            self.ev("debug", "handshake_done", digest=ev.digest, peer_version=ev.peer_version, echo_ok=ev.echo_ok)
        elif isinstance(ev, events.ConnectionClosed):
            self.close("peer_closed", None if ev.clean else "in the middle of a message or the handshake",
                       level="info" if ev.clean else "warning", clean=ev.clean)
        elif isinstance(ev, events.Timeout):
            if ev.what == "handshake":
                self.close("handshake_timeout", f"no handshake + connect within {self.cfg.handshake_timeout}s",
                           level="warning", state=ev.state)
            else:
                self.close("idle_timeout", f"nothing received for {ev.seconds:.1f}s", level="warning")
        elif isinstance(ev, events.UserControl):
            if ev.event_type == control.SET_BUFFER_LENGTH:
                self.ev("debug", "set_buffer_length", stream_id=ev.stream_id, ms=ev.buffer_length)
        elif isinstance(ev, events.OtherMessage):
            if ev.message.type_id in (16, 19) and self.app is not None:  # RTMP 7.1.3 shared objects
                self.registry.shared_objects.on_message(self, ev.message)
            else:
                self.ev("debug", "ignored_message", type=ev.message.type_id, msid=ev.message.msid)

    def command(self, cmd: Command) -> None:
        name = cmd.name
        h = _HANDLERS.get(name)
        if h is not None:
            h(self, cmd)
        elif name in ("_result", "_error", "onStatus", "onBWDone", "_checkbw", "FCSubscribe", "FCUnsubscribe"):
            return  # answers to our pings/calls, bandwidth probes, FCSubscribe (nginx-rtmp ignores it too)
        elif cmd.transaction_id != 0:
            self.ev("info", "unknown_command", command=name, tid=cmd.transaction_id)
            self.send(error(cmd.transaction_id, "NetConnection.Call.Failed", f"unknown command {name!r}",
                            amf3=cmd.amf3))
        else:
            self.ev("debug", "unknown_command", command=name, tid=0)

    def _result(self, cmd: Command, *args: Any) -> None:
        if cmd.transaction_id:
            self.send(Command("_result", cmd.transaction_id, None, args, amf3=cmd.amf3))

    # -- NetConnection --------------------------------------------------------------------------------------
    def on_connect(self, cmd: Command) -> None:
        obj = plain(cmd.command_object)
        if not isinstance(obj, dict):
            obj = {}
        app = _stream_name(obj.get("app", "")) or ""
        app = app.strip("/")
        if app not in self.cfg.apps or not valid_name(app):
            self.send(error(cmd.transaction_id, "NetConnection.Connect.Rejected",
                            f"application {app[:200]!r} is not served here", amf3=cmd.amf3))
            self.close("connect_rejected", f"application {app[:200]!r} not in {self.cfg.apps}", level="warning")
            return
        self.app = app
        oe = obj.get("objectEncoding", 0)
        self.object_encoding = 3 if oe == 3 else 0
        cfg = self.cfg
        props: dict[str, Any] = {"fmsVer": FMS_VERSION, "capabilities": 31.0, "mode": 1.0}
        if "fourCcList" in obj or "capsEx" in obj:  # E-RTMP v2: declare what we forward
            props.update(media.connect_properties())
        info = {"level": "status", "code": "NetConnection.Connect.Success",
                "description": "Connection succeeded.", "objectEncoding": float(self.object_encoding)}
        self.send(events.WindowAckSize(cfg.window_ack_size), events.SetPeerBandwidth(cfg.peer_bandwidth, 2),
                  events.SetChunkSize(cfg.chunk_size), events.UserControl(control.STREAM_BEGIN, stream_id=0),
                  result(cmd.transaction_id, props, info, amf3=cmd.amf3))
        self.ev("info", "connect", app=app, tcUrl=obj.get("tcUrl"), flashVer=obj.get("flashVer"),
                objectEncoding=self.object_encoding)

    def on_create_stream(self, cmd: Command) -> None:
        if len(self.created_streams) >= MAX_STREAMS:
            self.send(error(cmd.transaction_id, "NetConnection.Call.Failed", f"more than {MAX_STREAMS} streams",
                            amf3=cmd.amf3))
            return
        sid = self.next_stream_id
        self.next_stream_id += 1
        self.created_streams.add(sid)
        self._result(cmd, float(sid))

    def on_close(self, cmd: Command) -> None:
        self.close("close_command", "the client sent close")

    def on_release_stream(self, cmd: Command) -> None:
        self._result(cmd)

    def on_fc_publish(self, cmd: Command) -> None:
        name = _stream_name(cmd.args[0] if cmd.args else "") or ""
        self.send(Command("onFCPublish", 0, None, ({"level": "status", "code": "NetStream.Publish.Start",
                                                    "description": name},), amf3=cmd.amf3))
        self._result(cmd)

    def on_fc_unpublish(self, cmd: Command) -> None:
        name = _stream_name(cmd.args[0] if cmd.args else "") or ""
        self.send(Command("onFCUnpublish", 0, None, ({"level": "status", "code": "NetStream.Unpublish.Success",
                                                      "description": name},), amf3=cmd.amf3))
        self._result(cmd)

    def on_get_stream_length(self, cmd: Command) -> None:
        self._result(cmd, 0.0)

    def on_delete_stream(self, cmd: Command) -> None:
        sid = plain(cmd.args[0]) if cmd.args else None
        if isinstance(sid, (int, float)) and math.isfinite(sid):  # the stream is gone: no onStatus on it
            sid = int(sid)
            self._stop_play(sid)
            self._stop_publish(sid)
            self.created_streams.discard(sid)

    def on_close_stream(self, cmd: Command) -> None:
        self._stop_any(cmd.msid)

    def _stop_any(self, msid: int) -> None:
        if msid in self.playing:
            self._stop_play(msid)
            self.status(msid, "NetStream.Play.Stop", "Stopped playing.")
        if msid in self.publishing:
            self._stop_publish(msid)
            self.status(msid, "NetStream.Unpublish.Success", "Stopped publishing.")

    # -- NetStream: publish ---------------------------------------------------------------------------------
    def on_publish(self, cmd: Command) -> None:
        msid = cmd.msid
        name = _stream_name(cmd.args[0] if cmd.args else None)
        kind = plain(cmd.args[1]) if len(cmd.args) > 1 else "live"
        if self._bad_name(msid, name, "NetStream.Publish.BadName", "publish"):
            return
        if msid == 0:
            self.status(msid, "NetStream.Publish.BadName", "publish on message stream 0", level="error")
            return
        if msid in self.playing or msid in self.publishing:
            self._stop_any(msid)
        elif len(self.playing) + len(self.publishing) >= MAX_STREAMS:
            self.status(msid, "NetStream.Publish.Failed", f"more than {MAX_STREAMS} streams", level="error")
            return
        stream = self.relay.get(self.app, name)
        if stream.publisher is not None:
            self.status(msid, "NetStream.Publish.BadName", f"{name} is already being published", level="error")
            self.ev("info", "publish_taken", stream=stream.key)
            self.relay.maybe_drop(stream)
            return
        stream.start_publish(self, msid)
        self.publishing[msid] = stream
        if self.cfg.record_dir:
            self._start_recording(stream, append=kind == "append")
        self.send(events.UserControl(control.STREAM_BEGIN, stream_id=msid))
        self.status(msid, "NetStream.Publish.Start", f"{name} is now published.", details=name)
        self.ev("info", "publish_start", stream=stream.key, type=kind, msid=msid)

    def _start_recording(self, stream: Stream, *, append: bool = False) -> None:
        path = None
        if append:  # RTMP 7.2.2.6 "append": continue the key's newest recording
            path = latest_recording(self.cfg.record_dir, stream.app, stream.name)
        if path is None:
            path = record_path(self.cfg.record_dir, stream.app, stream.name)
            append = False
        try:
            stream.recorder = Recorder(path, conn=self.id, peer=self.peer, append=append,
                                       flush_bytes=self.cfg.record_flush_bytes,
                                       queue_bytes=self.cfg.record_queue_bytes,
                                       notify=self.loop.call_soon_threadsafe)
            self.registry.recorders.add(stream.recorder)
        except OSError as exc:
            self.ev("error", "record_error", path=path, error=f"{exc.strerror or exc} (errno {exc.errno})")

    def _stop_publish(self, msid: int) -> None:
        stream = self.publishing.pop(msid, None)
        if stream is None:
            return
        if stream.recorder is not None:
            self.registry.recorders.discard(stream.recorder)
        stream.stop_publish()
        if not self.publishing and self.batcher is not None:
            self.batcher.stop()  # commands are read at once again
        self.ev("info", "publish_stop", stream=stream.key, messages=stream.messages, bytes=stream.bytes_in)

    # -- NetStream: play ------------------------------------------------------------------------------------
    def on_play(self, cmd: Command) -> None:
        """RTMP 7.2.2.1: name, start (-2 live or recorded, -1 live only), duration (positive: that many seconds;
        other negatives mean -1), reset (Play.Reset only when set; absent counts as set, ActionScript's default)."""
        name = _stream_name(cmd.args[0] if cmd.args else None)
        args = [plain(a) for a in cmd.args[1:4]]
        num = [a if isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) else None
               for a in args[:2]] + [None, None]
        start = num[0] if num[0] is not None else -2
        duration = num[1] if num[1] is not None else -1
        reset = args[2] if len(args) > 2 else None
        self._play(cmd.msid, name, start=start, duration=duration, reset=reset is None or bool(reset))

    def on_play2(self, cmd: Command) -> None:
        params = plain(cmd.args[0]) if cmd.args else None
        name = _stream_name(params.get("streamName")) if isinstance(params, dict) else None
        self._play(cmd.msid, name)

    def _bad_name(self, msid: int, name: str | None, code: str, verb: str) -> bool:
        """A stream name with path tricks or odd characters: answer ``code``, log, close; True if so."""
        if name is not None and valid_name(name):
            return False
        self.status(msid, code, "invalid stream name", level="error")
        self.close("bad_name", f"{verb} of an invalid stream name {str(name)[:80]!r}", level="warning",
                   length=len(name) if isinstance(name, str) else None)
        return True

    def _play(self, msid: int, name: str | None, *, start: float = -2, duration: float = -1,
              reset: bool = True) -> None:
        if self._bad_name(msid, name, "NetStream.Play.StreamNotFound", "play"):
            return
        if msid == 0:
            self.status(msid, "NetStream.Play.Failed", "play on message stream 0", level="error")
            return
        if msid in self.playing or msid in self.publishing:
            self._stop_play(msid)
            self._stop_publish(msid)
        elif len(self.playing) + len(self.publishing) >= MAX_STREAMS:
            self.status(msid, "NetStream.Play.Failed", f"more than {MAX_STREAMS} streams", level="error")
            return
        live = self.relay.streams.get(f"{self.app}/{name}")
        if start == -1 and (live is None or live.publisher is None):  # live only, and nobody publishes it
            self.status(msid, "NetStream.Play.StreamNotFound", f"{name} is not being published.", level="error",
                        details=name)
            return
        stream = self.relay.get(self.app, name)
        p = Player(self, msid, name)
        if duration > 0:  # RTMP 7.2.2.1: play that many seconds of the stream
            p.duration_ms = int(duration * 1000)
        self.playing[msid] = p
        self.send(events.UserControl(control.STREAM_BEGIN, stream_id=msid))
        if reset:
            self.status(msid, "NetStream.Play.Reset", f"Playing and resetting {name}.", details=name)
        self.status(msid, "NetStream.Play.Start", f"Started playing {name}.", details=name)
        self.send(DataMessage(("|RtmpSampleAccess", True, True), msid))
        stream.add_player(p)
        self.ev("info", "play_start", stream=stream.key, msid=msid, live=stream.publisher is not None)

    def _stop_play(self, msid: int) -> None:
        p = self.playing.pop(msid, None)
        if p is not None and p.stream is not None:
            key = p.stream.key
            p.stream.remove_player(p)
            self.ev("info", "play_stop", stream=key, msid=msid, dropped=p.dropped)

    def _player(self, cmd: Command) -> Player | None:
        return self.playing.get(cmd.msid)

    def on_pause(self, cmd: Command) -> None:
        p = self._player(cmd)
        if p is None:
            return
        flag = bool(plain(cmd.args[0])) if cmd.args else True
        if flag:
            p.paused = True
            p.update()
            self.status(cmd.msid, "NetStream.Pause.Notify", f"Paused live stream {p.name}.")
        else:
            p.paused = False
            self.status(cmd.msid, "NetStream.Unpause.Notify", f"Unpaused live stream {p.name}.")
            # RTMP 7.2.2.8: after the unpause only messages newer than the pause: the stream goes on from its next
            # keyframe (the cached GOP started before the pause)
            p.need_key = True
            p.update()

    def on_seek(self, cmd: Command) -> None:
        self.status(cmd.msid, "NetStream.Seek.Failed", "seeking is not supported on a live stream", level="error")

    def on_receive_audio(self, cmd: Command) -> None:
        p = self._player(cmd)
        if p is not None:
            want = bool(plain(cmd.args[0])) if cmd.args else True
            resumed = want and not p.audio
            p.audio = want
            p.update()
            if resumed:  # RTMP 7.2.2.4: true is answered with Seek.Notify and Play.Start (false: nothing)
                self._resume_statuses(p)

    def on_receive_video(self, cmd: Command) -> None:
        p = self._player(cmd)
        if p is not None:
            want = bool(plain(cmd.args[0])) if cmd.args else True
            resumed = want and not p.video
            if resumed:
                p.need_key = True
            p.video = want
            p.update()
            if resumed:  # RTMP 7.2.2.5
                self._resume_statuses(p)

    def _resume_statuses(self, p: Player) -> None:
        self.status(p.msid, "NetStream.Seek.Notify", f"Resumed {p.name}.", details=p.name)
        self.status(p.msid, "NetStream.Play.Start", f"Started playing {p.name}.", details=p.name)


_HANDLERS = {
    "connect": ServerSession.on_connect,
    "createStream": ServerSession.on_create_stream,
    "close": ServerSession.on_close,
    "releaseStream": ServerSession.on_release_stream,
    "FCPublish": ServerSession.on_fc_publish,
    "FCUnpublish": ServerSession.on_fc_unpublish,
    "getStreamLength": ServerSession.on_get_stream_length,
    "deleteStream": ServerSession.on_delete_stream,
    "closeStream": ServerSession.on_close_stream,
    "publish": ServerSession.on_publish,
    "play": ServerSession.on_play,
    "play2": ServerSession.on_play2,
    "pause": ServerSession.on_pause,
    "seek": ServerSession.on_seek,
    "receiveAudio": ServerSession.on_receive_audio,
    "receiveVideo": ServerSession.on_receive_video,
}
