"""Sans-I/O RTMP connection (h11 style) for either role.

    conn = Connection(Role.SERVER, now=clock(), idle_timeout=60)
    conn.receive_data(data, now)            # b"" means the peer closed
    while (ev := conn.next_event()) is not NEED_DATA: ...
    sock.write(conn.data_to_send())         # handshake replies, acknowledgements, ping requests and responses
    sock.write(conn.send(some_event))       # what the application decided to send
    conn.handle_timer(now)                  # at conn.next_timer() (or on any tick): deadlines and pings

The connection runs the handshake (RTMP 5.2), the chunk stream (5.3), applies protocol control messages (5.4),
sends Acknowledgements when the peer's window is reached (5.4.3), answers pings (7.1.7), sends pings to a quiet
peer and ends a connection that stays silent or never completes handshake + connect (:meth:`handle_timer`), and
types every message. The session state machine lives in :mod:`rtmpspec._state`; input it does not allow raises
:class:`ProtocolError` and poisons the connection. No sockets, no clocks: time is passed in (seconds, any
monotonic clock), also to the handshake (the time fields of C1/S1 and C2/S2, RTMP 5.2.3-5.2.4).
"""

from __future__ import annotations

from collections import deque

from . import control, events
from . import handshake as hs
from ._state import SECTION, Input, Role, State, transition
from .chunkreader import ChunkReader
from .chunkwriter import ChunkWriter, SharedOutput, chunk_message
from .errors import DecodeError, LocalProtocolError, ProtocolError
from .message_format import (
    COMMAND_TYPES,
    CONTROL_TYPES,
    CSID_CONTROL,
    DATA_TYPES,
    MEDIA_TYPES,
    Message,
    MessageType,
)
from .messages import Command, DataMessage
from .sentinels import NEED_DATA, NeedData

__all__ = ["Connection", "Role", "State", "AckWindow", "control_message", "NEED_DATA"]

_T = MessageType
_SETUP_STATES = (State.HANDSHAKE, State.AWAIT_CONNECT, State.READY, State.CONNECT_PENDING)


def _same_tid(a: float | None, b: float | None) -> bool:
    """Transaction ids are AMF0 numbers: a NaN id (sent by a peer) must still match itself (RTMP 7.2.1.1)."""
    return a == b or (a != a and b != b)


def _ms(now: float) -> int:
    """RTMP's 32-bit millisecond time (RTMP 5.2.3) of a time in seconds."""
    return int(now * 1000) & 0xFFFFFFFF


class AckWindow:
    """RTMP 5.4.3: acknowledge once the peer's window of bytes (its Window Acknowledgement Size, 5.4.4) has arrived
    since the last acknowledgement. Used by :class:`Connection` and by shells that read with a bare
    :class:`~rtmpspec.chunkreader.ChunkReader` (the battery's driver)."""

    __slots__ = ("size", "acked")

    def __init__(self) -> None:
        self.size: int | None = None  # the peer asked us to acknowledge every ``size`` bytes
        self.acked = 0  # the sequence number we acknowledged last

    def due(self, received: int) -> int | None:
        """The sequence number to acknowledge now (``received``), or None when no acknowledgement is due."""
        if self.size and received - self.acked >= self.size:
            self.acked = received
            return received
        return None


def control_message(ev: events.Event) -> Message:
    """The protocol control or user control message (chunk stream 2, message stream 0: RTMP 5.4) for a control
    event, its payload built by the :mod:`rtmpspec.control` schemas."""
    if isinstance(ev, events.SetChunkSize):
        return Message(_T.SET_CHUNK_SIZE, control.build_set_chunk_size(ev.size), 0, 0, CSID_CONTROL)
    if isinstance(ev, events.Abort):
        return Message(_T.ABORT, control.build_abort(ev.csid), 0, 0, CSID_CONTROL)
    if isinstance(ev, events.Acknowledgement):
        return Message(_T.ACKNOWLEDGEMENT, control.build_ack(ev.sequence), 0, 0, CSID_CONTROL)
    if isinstance(ev, events.WindowAckSize):
        return Message(_T.WINDOW_ACK_SIZE, control.build_window_ack_size(ev.size), 0, 0, CSID_CONTROL)
    if isinstance(ev, events.SetPeerBandwidth):
        return Message(_T.SET_PEER_BANDWIDTH, control.build_set_peer_bandwidth(ev.size, ev.limit_type), 0, 0,
                       CSID_CONTROL)
    if isinstance(ev, events.UserControl):
        if ev.data:
            payload = control.build_user_control(ev.event_type, data=ev.data)
        else:
            fields = {k: v for k, v in (("streamID", ev.stream_id), ("bufferLength", ev.buffer_length),
                                        ("timestamp", ev.timestamp)) if v is not None}
            payload = control.build_user_control(ev.event_type, **fields) if fields else \
                control.build_user_control(ev.event_type, data=b"")
        return Message(_T.USER_CONTROL, payload, 0, 0, CSID_CONTROL)
    raise LocalProtocolError(f"cannot send {type(ev).__name__}")


class Connection:
    def __init__(
        self,
        role: Role,
        *,
        now: float = 0.0,
        strict: bool = True,
        handshake: bool = True,
        digest: str | bool = "auto",
        max_message_size: int = 0xFFFFFF,
        max_chunk_streams: int = 64,
        max_chunk_size: int = 0x7FFFFFFF,
        auto_ack: bool = True,
        auto_pong: bool = True,
        auto_window_reply: bool = True,
        handshake_timeout: float | None = None,
        idle_timeout: float | None = None,
        ping: bool = True,
        rng=None,
    ) -> None:
        self.role = role
        self.strict = strict
        self.state = State.HANDSHAKE
        self.created = now
        self.last_receive = now
        self.auto_ack = auto_ack
        self.auto_pong = auto_pong
        self.auto_window_reply = auto_window_reply
        self.handshake_timeout = handshake_timeout  # handshake + connect within this (server and client)
        self.idle_timeout = idle_timeout  # nothing received for this long: the connection ends
        self.ping = ping  # ping a quiet peer (half the idle timeout without input, then every quarter)
        self.last_ping = 0.0
        self.reader = ChunkReader(max_message_size=max_message_size, max_chunk_streams=max_chunk_streams,
                                  max_chunk_size=max_chunk_size, strict=strict)
        self.writer = ChunkWriter()
        self._shared: SharedOutput | None = None  # see attach_shared
        self._shared_mark = 0
        self._out = bytearray()
        self._events: deque[events.Event] = deque()  # made by handle_timer, returned first by next_event
        self._error: Exception | None = None
        self._eof = False
        self._closed_reported = False
        self._hs: hs.HandshakeServer | hs.HandshakeClient | None = None
        self._peer_version = 0
        self._peer_digest = False
        if handshake:
            # bytes after C2/S2 in the same read are the chunk stream: allow a whole first message (the chunk
            # reader bounds them from then on)
            leftover = max(65536, max_message_size + 4096)
            cls = hs.HandshakeServer if role is Role.SERVER else hs.HandshakeClient
            self._hs = cls(digest=digest, rng=rng, max_leftover=leftover, now_ms=_ms(now))
            self._out += self._hs.data_to_send()
        else:
            self.state = State.AWAIT_CONNECT if role is Role.SERVER else State.READY
        # acknowledgement bookkeeping (RTMP 5.4.3/5.4.4)
        self.ack_window = AckWindow()  # the peer asked us to acknowledge every N bytes
        self.our_window: int | None = None  # we asked the peer to acknowledge every N bytes
        self.last_ack_received: int | None = None
        self.peer_bandwidth: tuple[int, int] | None = None  # the last Set Peer Bandwidth in force: size, type
        self.output_limit: int | None = None  # RTMP 5.4.5: the most we may have sent unacknowledged
        self._connect_tid: float | None = None
        self.connect_command: Command | None = None
        self.handshake_info: events.HandshakeDone | None = None

    # -- properties ---------------------------------------------------------------------------------------
    @property
    def peer_window(self) -> int | None:
        """The window the peer asked us to acknowledge (its Window Acknowledgement Size, RTMP 5.4.4)."""
        return self.ack_window.size

    @property
    def bytes_received(self) -> int:
        return self.reader.bytes_received

    @property
    def bytes_sent(self) -> int:
        if self._shared is not None:
            self._settle()
        return self.writer.bytes_written

    @property
    def unacknowledged(self) -> int:
        """Bytes we sent that the peer has not acknowledged (modulo 2**32 sequence numbers). A peer whose count
        includes the handshake can acknowledge more than the chunk stream carried: then nothing is outstanding."""
        acked = self.last_ack_received or 0
        d = (self.bytes_sent - acked) & 0xFFFFFFFF
        return 0 if d >= 0x80000000 else d

    @property
    def their_chunk_size(self) -> int:
        return self.reader.chunk_size

    @property
    def our_chunk_size(self) -> int:
        return self.writer.chunk_size

    # -- input --------------------------------------------------------------------------------------------
    def receive_data(self, data: bytes, now: float | None = None) -> None:
        if self._error is not None:
            raise self._error
        if now is not None:
            self.last_receive = now
        if not data:
            self._eof = True
            return
        if self.state is State.CLOSED:
            return  # in flight when we closed: discarded (the state table), never buffered
        if self.state is State.HANDSHAKE:
            try:
                self._hs.receive_data(data, now_ms=None if now is None else _ms(now))
            except ProtocolError as exc:  # poison the connection too, not only the handshake (h11 style)
                self._error = exc
                self.state = State.ERROR
                raise
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        self.reader.receive_data(data)
        self._maybe_ack()

    def _maybe_ack(self) -> None:
        """RTMP 5.4.3: acknowledge once the peer's window of bytes has arrived (checked when bytes arrive and when
        the window is set, so a window that arrives together with the data it covers is honoured at once)."""
        if self.auto_ack:
            seq = self.ack_window.due(self.reader.bytes_received)
            if seq is not None:
                self._queue(control_message(events.Acknowledgement(seq)))

    def next_event(self) -> events.Event | NeedData:
        if self._error is not None:
            raise self._error
        if self._events:
            return self._events.popleft()
        try:
            return self._next_event()
        except ProtocolError as exc:
            self._error = exc
            self.state = State.ERROR
            raise

    def _next_event(self) -> events.Event | NeedData:
        if self.state is State.HANDSHAKE:
            return self._handshake_event()
        if self.state is State.CLOSED:
            return NEED_DATA
        msg = self.reader.next_message()
        if msg is NEED_DATA:
            if self._eof and not self._closed_reported:
                self._closed_reported = True
                clean = self.reader.pending == 0 and self.reader.held == 0
                self._advance(Input.RECV_EOF, None)
                return events.ConnectionClosed(clean=clean)
            return NEED_DATA
        return self._dispatch(msg)

    def _handshake_event(self) -> events.Event | NeedData:
        while True:
            ev = self._hs.next_event()
            self._out += self._hs.data_to_send()
            if ev is NEED_DATA or ev is hs.PAUSED:
                if self._eof and not self._closed_reported:
                    self._closed_reported = True
                    self.state = State.CLOSED
                    return events.ConnectionClosed(clean=False)
                return NEED_DATA
            if isinstance(ev, hs.VersionReceived):
                self._peer_version = ev.version
            elif isinstance(ev, (hs.C1Received, hs.S1Received)):
                self._peer_digest = ev.digest
            elif isinstance(ev, hs.HandshakeComplete):
                self.state = transition(self.role, self.state, Input.HANDSHAKE_DONE)
                self.handshake_info = events.HandshakeDone(self._peer_version, self._peer_digest, ev.echo_ok,
                                                           ev.peer_time)
                if ev.leftover:
                    self._feed(ev.leftover)
                return self.handshake_info

    def _advance(self, inp: Input, msg: Message | None, what: str = "") -> None:
        nxt = transition(self.role, self.state, inp)
        if nxt is None:
            raise ProtocolError(
                f"{what or inp.value} is not allowed in state {self.state.value}",
                offset=self.reader.offset, field="messageTypeID" if msg else None,
                section=SECTION.get(inp, "RTMP 7"))
        self.state = nxt

    def _dispatch(self, msg: Message) -> events.Event:
        t = msg.type_id
        if t == 9 or t == 8 or t == 22:  # media first (video 9, audio 8, aggregate 22): most of what a publisher
            if self.state is not State.CONNECTED:  # sends. CONNECTED is the one state the table lets media in, and
                # it keeps it there (tests/test_server_fanout.py checks the table says so)
                self._advance(Input.RECV_MEDIA, msg, f"{MessageType(t).name.lower()} message")
            if t == 9:
                return events.Video(msg)
            if t == 8:
                return events.Audio(msg)
            return events.Aggregate(msg)
        if t in CONTROL_TYPES:
            ev = self._control(msg)
            self._advance(Input.RECV_CONTROL, msg, type(ev).__name__)
            return ev
        if t in COMMAND_TYPES:
            try:
                cmd = Command.from_message(msg)
            except DecodeError as exc:
                raise ProtocolError(f"command message does not decode: {exc.what}", offset=self.reader.offset,
                                    field=exc.field, section=exc.section or "RTMP 7.1.1") from exc
            self._advance(self._command_input(cmd), msg, f"command {cmd.name!r}")
            return cmd
        if t in DATA_TYPES:
            try:
                data = DataMessage.from_message(msg)
            except DecodeError as exc:
                raise ProtocolError(f"data message does not decode: {exc.what}", offset=self.reader.offset,
                                    field=exc.field, section=exc.section or "RTMP 7.1.2") from exc
            self._advance(Input.RECV_DATA, msg, "data message")
            return data
        self._advance(Input.RECV_OTHER, msg, f"message type {t}")
        return events.OtherMessage(msg)

    def _command_input(self, cmd: Command) -> Input:
        if self.role is Role.SERVER:
            if cmd.name == "connect":
                if self.state is State.AWAIT_CONNECT:
                    self.connect_command = cmd
                    self._connect_tid = cmd.transaction_id
                return Input.RECV_CONNECT
            return Input.RECV_COMMAND
        return self._connect_answer(cmd, Input.RECV_CONNECT_RESULT, Input.RECV_CONNECT_ERROR) or Input.RECV_COMMAND

    def _connect_answer(self, cmd: Command, on_result: Input, on_error: Input) -> Input | None:
        """``on_result``/``on_error`` when ``cmd`` is the _result/_error answering the pending connect."""
        if self.state is State.CONNECT_PENDING and _same_tid(cmd.transaction_id, self._connect_tid):
            return {"_result": on_result, "_error": on_error}.get(cmd.name)
        return None

    def _control(self, msg: Message) -> events.Event:
        t = msg.type_id
        section = control.CONTROL_SECTIONS[t]
        offset = self.reader.offset
        if self.strict and msg.msid != 0:
            raise ProtocolError(f"protocol control message type {t} on message stream {msg.msid}, not 0",
                                offset=offset, field="messageStreamID", section="RTMP 5.4")
        if t == _T.USER_CONTROL:
            return self._user_control(msg.payload, offset)
        v = control.parse_control(t, msg.payload, offset=offset)
        if t == _T.SET_CHUNK_SIZE:
            return events.SetChunkSize(self.reader.chunk_size)  # validated and applied by the reader
        if t == _T.ABORT:
            return events.Abort(v.chunkStreamID)
        if t == _T.ACKNOWLEDGEMENT:
            self.last_ack_received = v.sequenceNumber
            return events.Acknowledgement(v.sequenceNumber)
        if t == _T.WINDOW_ACK_SIZE:
            size = v.acknowledgementWindowSize
            if size == 0 and self.strict:
                raise ProtocolError("Window Acknowledgement Size of 0", offset=offset,
                                    field="acknowledgementWindowSize", section=section)
            self.ack_window.size = size
            self._maybe_ack()
            return events.WindowAckSize(size)
        # Set Peer Bandwidth
        limit = int(v.limitType)
        if limit > 2 and self.strict:
            raise ProtocolError(f"Set Peer Bandwidth limit type {limit} is not 0, 1 or 2", offset=offset,
                                field="limitType", section=section)
        size = v.acknowledgementWindowSize
        prev = self.peer_bandwidth
        if limit == 2:  # RTMP 5.4.5 Dynamic: Hard if the previous limit type was Hard, otherwise ignored
            if prev is None or prev[1] != 0:
                return events.SetPeerBandwidth(size, limit)
            limit = 0
        if limit == 0:  # Hard: the window given
            self.output_limit = size
        elif limit == 1:  # Soft: the smaller of the window given and the limit in force
            self.output_limit = size if self.output_limit is None else min(size, self.output_limit)
        self.peer_bandwidth = (size, limit)
        # RTMP 5.4.5: answer with Window Acknowledgement Size if it differs from the last one we sent
        if self.auto_window_reply and size != self.our_window:
            self._send_window(size)
        return events.SetPeerBandwidth(v.acknowledgementWindowSize, limit)

    def _user_control(self, payload: bytes, offset: int) -> events.UserControl:
        etype, data = control.parse_user_control(payload, offset=offset)
        body = payload[2:]
        if etype == control.PING_REQUEST or etype == control.PING_RESPONSE:
            if etype == control.PING_REQUEST and self.auto_pong:
                self._queue(control_message(events.UserControl(control.PING_RESPONSE, timestamp=data.timestamp)))
            return events.UserControl(etype, timestamp=data.timestamp, data=body)
        if etype == control.SET_BUFFER_LENGTH:
            return events.UserControl(etype, stream_id=data.streamID, buffer_length=data.bufferLength, data=body)
        if etype in control.USER_CONTROL_DATA:
            return events.UserControl(etype, stream_id=data.streamID, data=body)
        return events.UserControl(etype, data=body)

    # -- timers -------------------------------------------------------------------------------------------
    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to do next (on the clock ``now`` is given in), or None."""
        st = self.state
        if st in _SETUP_STATES:
            return self.created + self.handshake_timeout if self.handshake_timeout is not None else None
        if self.idle_timeout is None or st in (State.CLOSED, State.ERROR):
            return None
        idle = self.idle_timeout
        at = self.last_receive + idle
        if self.ping and st is State.CONNECTED:
            at = min(at, max(self.last_receive + idle / 2, self.last_ping + idle / 4))
        return at

    def handle_timer(self, now: float) -> None:
        """Act on the deadlines that passed by ``now``: a :class:`~rtmpspec.events.Timeout` event (from
        :meth:`next_event`; the connection is then closed) when handshake + connect did not complete within
        ``handshake_timeout`` or nothing arrived for ``idle_timeout``; a Ping Request (RTMP 7.1.7, in
        :meth:`data_to_send`) to a peer quiet for half the idle timeout, then every quarter of it."""
        st = self.state
        if self._error is not None or st in (State.CLOSED, State.ERROR):
            return
        if st in _SETUP_STATES:
            if self.handshake_timeout is not None and now - self.created > self.handshake_timeout:
                self._timeout("handshake", now - self.created, st)
            return
        if self.idle_timeout is None:
            return
        idle = now - self.last_receive
        if idle > self.idle_timeout:
            self._timeout("idle", idle, st)
        elif self.ping and idle > self.idle_timeout / 2 and now - self.last_ping > self.idle_timeout / 4 \
                and st is State.CONNECTED:
            self.last_ping = now
            self._queue(control_message(events.UserControl(control.PING_REQUEST, timestamp=_ms(now))))

    def _timeout(self, what: str, seconds: float, state: State) -> None:
        self.state = State.CLOSED
        self._closed_reported = True
        self._events.append(events.Timeout(what, seconds, state.value))

    # -- output -------------------------------------------------------------------------------------------
    def data_to_send(self) -> bytes:
        """Bytes the connection produced by itself (handshake, acknowledgements, ping requests and responses)."""
        if not self._out and self.state is not State.HANDSHAKE:
            return b""
        if self._hs is not None and self.state is State.HANDSHAKE:
            self._out += self._hs.data_to_send()
        out = bytes(self._out)
        self._out.clear()
        return out

    def _queue(self, msg: Message) -> None:
        if self._shared is not None:
            self._settle()
        self._out += self.writer.write(msg)

    def _send_window(self, size: int) -> None:
        self.our_window = size
        self._queue(control_message(events.WindowAckSize(size)))

    def send(self, ev: events.Event | Message) -> bytes:
        """Bytes for one event: a Command, a DataMessage, a control event or a raw Message."""
        if self._error is not None and not isinstance(self._error, ProtocolError):
            raise self._error
        if self.state is State.HANDSHAKE:
            raise LocalProtocolError("cannot send messages before the handshake is complete (RTMP 5.2)")
        if self._shared is not None:
            self._settle()
        if isinstance(ev, Command):
            inp = self._send_command_input(ev)
            self._local(inp, f"command {ev.name!r}")
            return self.writer.write(ev.to_message())
        if isinstance(ev, DataMessage):
            self._local(Input.SEND_DATA, "data message")
            return self.writer.write(ev.to_message())
        if isinstance(ev, Message):
            t = ev.type_id
            inp = (Input.SEND_CONTROL if t in CONTROL_TYPES else Input.SEND_MEDIA if t in MEDIA_TYPES
                   else Input.SEND_DATA if t in DATA_TYPES else Input.SEND_COMMAND)
            self._local(inp, f"message type {t}")
            data = self.writer.write(ev)
            if t == _T.SET_CHUNK_SIZE and len(ev.payload) == 4:
                self.writer.set_chunk_size(control.SetChunkSize.parse(ev.payload).chunkSize)
            return data
        msg = control_message(ev)
        self._local(Input.SEND_CONTROL, type(ev).__name__)
        data = self.writer.write(msg)
        if isinstance(ev, events.SetChunkSize):
            self.writer.set_chunk_size(ev.size)
        elif isinstance(ev, events.WindowAckSize):
            self.our_window = ev.size
        return data

    def send_media(self, msg: Message) -> bytes:
        """Fast path for relayed media: no state-table lookup beyond the established check."""
        if self.state is not State.CONNECTED:
            self._local(Input.SEND_MEDIA, "media message")
        if self._shared is not None:
            self._settle()
        return self.writer.write(msg)

    def send_shared(self, nbytes: int, csids) -> None:
        """Account for pre-chunked bytes shared by many connections (the relay's chunk-once fan-out): the caller
        made them once with :func:`chunk_shared` (every message starts with a Type 0 header, so the bytes are
        right whatever this connection sent before), wrote ``nbytes`` of them to this peer itself, and names the
        chunk streams they used. They count as sent (:attr:`bytes_sent`), and this connection's next own message
        on any of ``csids`` starts with a Type 0 header, so its header compression never relies on a state the
        shared bytes replaced (RTMP 5.3.1.2). Several writes may be accounted in one call."""
        if self.state is not State.CONNECTED:
            self._local(Input.SEND_MEDIA, "media message")
        self.writer.write_shared(nbytes, csids)

    def attach_shared(self, out: SharedOutput) -> None:
        """From now on the bytes ``out`` grows by were written to this peer too (by the caller, who writes the same
        chunks to every connection attached to ``out``): they count as sent and their chunk streams restart with
        a Type 0 header before this connection chunks a message itself, settled lazily (on the next own send,
        :attr:`bytes_sent`, or :meth:`detach_shared`) so the producer makes no call per connection per batch.
        Accounting only: it never raises (whether media may be written to this peer is the writer's call)."""
        self._settle()
        self._shared = out
        self._shared_mark = out.bytes

    def detach_shared(self) -> None:
        """No more shared bytes for this peer (what was written until now is accounted)."""
        self._settle()
        self._shared = None

    def _settle(self) -> None:
        out = self._shared
        if out is not None and out.bytes != self._shared_mark:
            self.writer.write_shared(out.bytes - self._shared_mark, out.csids)
            self._shared_mark = out.bytes

    @staticmethod
    def chunk_shared(msg: Message, chunk_size: int, *, msid: int | None = None, csid: int | None = None) -> bytes:
        """``msg`` chunked statelessly (:func:`rtmpspec.chunkwriter.chunk_message`), for :meth:`send_shared`."""
        return chunk_message(msg, chunk_size, msid=msid, csid=csid)

    def _send_command_input(self, cmd: Command) -> Input:
        if self.role is Role.CLIENT:
            if cmd.name == "connect" and self.state is State.READY:
                self._connect_tid = cmd.transaction_id
                return Input.SEND_CONNECT
            return Input.SEND_COMMAND
        return self._connect_answer(cmd, Input.SEND_CONNECT_RESULT, Input.SEND_CONNECT_ERROR) or Input.SEND_COMMAND

    def _local(self, inp: Input, what: str) -> None:
        nxt = transition(self.role, self.state, inp)
        if nxt is None:
            raise LocalProtocolError(f"cannot send {what} in state {self.state.value}")
        self.state = nxt

    def close(self) -> None:
        """We are done with the connection (the state table: CLOSED, or ERROR stays ERROR)."""
        self.state = transition(self.role, self.state, Input.CLOSE)
