"""Sans-I/O RTMP connection (h11 style) for either role.

    conn = Connection(Role.SERVER)
    conn.receive_data(data, now)           # b"" means the peer closed
    while (ev := conn.next_event()) is not NEED_DATA: ...
    sock.write(conn.data_to_send())         # handshake replies, acknowledgements, ping responses
    sock.write(conn.send(some_event))       # what the application decided to send

The connection runs the handshake (RTMP 5.2), the chunk stream (5.3), applies protocol control messages (5.4),
sends Acknowledgements when the peer's window is reached (5.4.3), answers pings (7.1.7) and types every
message. The session state machine lives in :mod:`rtmpspec._state`; input it does not allow raises
:class:`ProtocolError` and poisons the connection. No sockets, no clocks: time is passed in.
"""

from __future__ import annotations

from typing import Any

from . import control, events
from ._state import SECTION, Input, Role, State, transition
from .chunkstream import NEED_DATA, ChunkReader, ChunkWriter, Message, SharedOutput, chunk_message
from .errors import DecodeError, LocalProtocolError, ProtocolError
from .messages import COMMAND_TYPES, DATA_TYPES, Command, DataMessage, MessageType

__all__ = ["Connection", "Role", "State", "NEED_DATA"]

_MEDIA = (MessageType.AUDIO, MessageType.VIDEO, MessageType.AGGREGATE)  # 8, 9, 22
_CONTROL_TYPES = (1, 2, 3, 4, 5, 6)


def _same_tid(a: float | None, b: float | None) -> bool:
    """Transaction ids are AMF0 numbers: a NaN id (sent by a peer) must still match itself (RTMP 7.2.1.1)."""
    return a == b or (a != a and b != b)


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
        self.reader = ChunkReader(max_message_size=max_message_size, max_chunk_streams=max_chunk_streams,
                                  max_chunk_size=max_chunk_size, strict=strict)
        self.writer = ChunkWriter()
        self._shared: SharedOutput | None = None  # see attach_shared
        self._shared_mark = 0
        self._out = bytearray()
        self._error: Exception | None = None
        self._eof = False
        self._closed_reported = False
        self._hs = None
        self._peer_version = 0
        self._peer_digest = False
        if handshake:
            from . import handshake as hs

            # bytes after C2/S2 in the same read are the chunk stream: allow a whole first message (the chunk
            # reader bounds them from then on)
            leftover = max(65536, max_message_size + 4096)
            if role is Role.SERVER:
                self._hs = hs.HandshakeServer(digest=digest, rng=rng, max_leftover=leftover)
            else:
                self._hs = hs.HandshakeClient(digest=digest, rng=rng, max_leftover=leftover)
            self._out += self._hs.data_to_send()
        else:
            self.state = State.AWAIT_CONNECT if role is Role.SERVER else State.READY
        # acknowledgement bookkeeping (RTMP 5.4.3/5.4.4)
        self.peer_window: int | None = None  # the peer asked us to acknowledge every N bytes
        self.our_window: int | None = None  # we asked the peer to acknowledge every N bytes
        self._last_ack_sent = 0
        self.last_ack_received: int | None = None
        self.peer_bandwidth: tuple[int, int] | None = None  # the last Set Peer Bandwidth in force: size, type
        self.output_limit: int | None = None  # RTMP 5.4.5: the most we may have sent unacknowledged
        self._connect_tid: float | None = None
        self.connect_command: Command | None = None
        self.handshake_info: events.HandshakeDone | None = None

    # -- properties ---------------------------------------------------------------------------------------
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
        if self.state is State.HANDSHAKE:
            try:
                self._hs.receive_data(data)
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
        """RTMP 5.4.3: acknowledge once the peer's window of bytes has arrived since the last acknowledgement
        (checked when bytes arrive and when the window is set, so a window that arrives together with the data
        it covers is honoured at once)."""
        if self.auto_ack and self.peer_window:
            received = self.reader.bytes_received
            if received - self._last_ack_sent >= self.peer_window:
                self._last_ack_sent = received
                self._queue(Message(control.ACKNOWLEDGEMENT, control.build_ack(received), 0, 0, 2))

    def next_event(self) -> Any:
        if self._error is not None:
            raise self._error
        try:
            return self._next_event()
        except ProtocolError as exc:
            self._error = exc
            self.state = State.ERROR
            raise

    def _next_event(self):
        if self.state is State.HANDSHAKE:
            return self._handshake_event()
        if self.state is State.CLOSED:
            return NEED_DATA
        msg = self.reader.next_message()
        if msg is NEED_DATA:
            if self._eof and not self._closed_reported:
                self._closed_reported = True
                clean = self.reader.pending == 0 and self.reader._held == 0
                self._advance(Input.RECV_EOF, None)
                return events.ConnectionClosed(clean=clean)
            return NEED_DATA
        return self._dispatch(msg)

    def _handshake_event(self):
        from . import handshake as hs

        while True:
            ev = self._hs.next_event()
            self._out += self._hs.data_to_send()
            if ev is hs.NEED_DATA or ev is hs.PAUSED:
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

    def _dispatch(self, msg: Message):
        t = msg.type_id
        if t == 9 or t == 8 or t == 22:  # media first: most of what a publisher sends
            if self.state is not State.CONNECTED:  # CONNECTED is the one state the table lets media in, and it
                # keeps it there (tests/test_server_fanout.py checks the table says so)
                self._advance(Input.RECV_MEDIA, msg, f"{MessageType(t).name.lower()} message")
            if t == 9:
                return events.Video(msg)
            if t == 8:
                return events.Audio(msg)
            return events.Aggregate(msg)
        if t in _CONTROL_TYPES:
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

    def _control(self, msg: Message):
        t = msg.type_id
        section = control.CONTROL_SECTIONS[t]
        if self.strict and msg.msid != 0:
            raise ProtocolError(f"protocol control message type {t} on message stream {msg.msid}, not 0",
                                offset=self.reader.offset, field="messageStreamID", section="RTMP 5.4")
        want = control.CONTROL_LENGTHS.get(t)
        if want is not None and len(msg.payload) != want:
            raise ProtocolError(f"control message type {t} has {len(msg.payload)} payload bytes, expected {want}",
                                offset=self.reader.offset, field="messageLength", section=section)
        if t == control.SET_CHUNK_SIZE:
            return events.SetChunkSize(self.reader.chunk_size)  # validated and applied by the reader
        if t == control.ABORT:
            return events.Abort(int.from_bytes(msg.payload, "big"))
        if t == control.ACKNOWLEDGEMENT:
            seq = int.from_bytes(msg.payload, "big")
            self.last_ack_received = seq
            return events.Acknowledgement(seq)
        if t == control.WINDOW_ACK_SIZE:
            size = int.from_bytes(msg.payload, "big")
            if size == 0 and self.strict:
                raise ProtocolError("Window Acknowledgement Size of 0", offset=self.reader.offset,
                                    field="acknowledgementWindowSize", section=section)
            self.peer_window = size
            self._maybe_ack()
            return events.WindowAckSize(size)
        if t == control.SET_PEER_BANDWIDTH:
            v = control.SetPeerBandwidth.parse(msg.payload)
            limit = int(v.limitType)
            if limit > 2 and self.strict:
                raise ProtocolError(f"Set Peer Bandwidth limit type {limit} is not 0, 1 or 2",
                                    offset=self.reader.offset, field="limitType", section=section)
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
        # user control
        if len(msg.payload) < 2:
            raise ProtocolError("user control message shorter than its 2-byte event type",
                                offset=self.reader.offset, field="eventType", section="RTMP 7.1.7")
        etype = int.from_bytes(msg.payload[:2], "big")
        body = msg.payload[2:]
        if etype in (control.STREAM_BEGIN, control.STREAM_EOF, control.STREAM_DRY, control.STREAM_IS_RECORDED,
                     control.BUFFER_EMPTY, control.BUFFER_READY):
            self._need(body, 4, "streamID")
            return events.UserControl(etype, stream_id=int.from_bytes(body[:4], "big"), data=body)
        if etype == control.SET_BUFFER_LENGTH:
            self._need(body, 8, "bufferLength")
            return events.UserControl(etype, stream_id=int.from_bytes(body[:4], "big"),
                                      buffer_length=int.from_bytes(body[4:8], "big"), data=body)
        if etype in (control.PING_REQUEST, control.PING_RESPONSE):
            self._need(body, 4, "timestamp")
            ts = int.from_bytes(body[:4], "big")
            if etype == control.PING_REQUEST and self.auto_pong:
                self._queue(Message(control.USER_CONTROL, control.build_user_control("PingResponse", timestamp=ts),
                                    0, 0, 2))
            return events.UserControl(etype, timestamp=ts, data=body)
        return events.UserControl(etype, data=body)

    def _need(self, body: bytes, n: int, fld: str) -> None:
        if len(body) < n:
            raise ProtocolError(f"user control event data is {len(body)} bytes, needs {n}",
                                offset=self.reader.offset, field=fld, section="RTMP 7.1.7")

    # -- output -------------------------------------------------------------------------------------------
    def data_to_send(self) -> bytes:
        """Bytes the connection produced by itself (handshake, acknowledgements, ping responses)."""
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
        self._queue(Message(control.WINDOW_ACK_SIZE, control.build_window_ack_size(size), 0, 0, 2))

    def send(self, ev: Any) -> bytes:
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
            inp = (Input.SEND_CONTROL if t in _CONTROL_TYPES else Input.SEND_MEDIA if t in _MEDIA
                   else Input.SEND_DATA if t in DATA_TYPES else Input.SEND_COMMAND)
            self._local(inp, f"message type {t}")
            data = self.writer.write(ev)
            if t == control.SET_CHUNK_SIZE:
                self.writer.set_chunk_size(int.from_bytes(ev.payload, "big") & 0x7FFFFFFF)
            return data
        msg = self._control_message(ev)
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
        """``msg`` chunked statelessly (:func:`rtmpspec.chunkstream.chunk_message`), for :meth:`send_shared`."""
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

    @staticmethod
    def _control_message(ev) -> Message:
        if isinstance(ev, events.SetChunkSize):
            return Message(control.SET_CHUNK_SIZE, control.build_set_chunk_size(ev.size), 0, 0, 2)
        if isinstance(ev, events.Abort):
            return Message(control.ABORT, control.build_abort(ev.csid), 0, 0, 2)
        if isinstance(ev, events.Acknowledgement):
            return Message(control.ACKNOWLEDGEMENT, control.build_ack(ev.sequence), 0, 0, 2)
        if isinstance(ev, events.WindowAckSize):
            return Message(control.WINDOW_ACK_SIZE, control.build_window_ack_size(ev.size), 0, 0, 2)
        if isinstance(ev, events.SetPeerBandwidth):
            return Message(control.SET_PEER_BANDWIDTH, control.build_set_peer_bandwidth(ev.size, ev.limit_type),
                           0, 0, 2)
        if isinstance(ev, events.UserControl):
            payload = ev.event_type.to_bytes(2, "big")
            if ev.data:
                payload += ev.data
            elif ev.timestamp is not None:
                payload += ev.timestamp.to_bytes(4, "big")
            elif ev.stream_id is not None:
                payload += ev.stream_id.to_bytes(4, "big")
                if ev.buffer_length is not None:
                    payload += ev.buffer_length.to_bytes(4, "big")
            return Message(control.USER_CONTROL, payload, 0, 0, 2)
        raise LocalProtocolError(f"cannot send {type(ev).__name__}")

    def close(self) -> None:
        self.state = State.CLOSED
