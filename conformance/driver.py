"""A small synchronous RTMP client driver for the conformance cases.

One :class:`Session` is one TCP (or TLS) connection to the target. It can

- run the handshake at once (``handshake``: rtmpspec's own client handshake, the one the Connection runs, C2 sent
  once the whole S0+S1+S2 is in) or step by step (``send_c0c1`` / ``read_s0s1s2`` / ``send_c2``) with crafted
  packets (:mod:`rtmpspec.craft`): any version byte, a plain or digest C1, a bad C2, or a C1 cut short;
- send messages through a :class:`rtmpspec.chunkwriter.ChunkWriter` (``send``), pick the chunk header fmt
  (``send(msg, fmt=...)``), or send raw crafted chunks built with :func:`rtmpspec.chunkheader.build_header`
  (``send_raw``), at any chunk size;
- read the server's bytes with a *lenient* :class:`rtmpspec.chunkreader.ChunkReader` into :class:`Inbound`
  records (message, offset, the exact chunk bytes), and wait for one that matches (``expect``), bounded by the
  step timeout; answer pings and send Acknowledgements like a normal client (rtmpspec's ``AckWindow`` and
  ``control_message``, what the Connection does);
- record both directions in a shared :class:`WireLog`, decoded with :func:`rtmpspec.dissect.describe_message`
  (what we send is decoded by a second lenient reader, so crafted chunks show up as the server should see them);
- send the commands and wait for their answers (``connect``, ``connected``, ``create_stream``, ``publish``,
  ``play``, ``send_media``, ``expect_status``: :class:`conformance.driver_commands.Commands`, mixed in).

No sleeps: every wait is ``select`` on the socket with a deadline.
"""

from __future__ import annotations

import random
import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rtmpspec import control, craft, messages
from rtmpspec import handshake as hs
from rtmpspec.chunkheader import build_header
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.chunkwriter import ChunkWriter
from rtmpspec.connection import AckWindow, control_message
from rtmpspec.dissect import describe_message
from rtmpspec.errors import ProtocolError
from rtmpspec.events import Acknowledgement, SetChunkSize, UserControl
from rtmpspec.message_format import CSID_CONTROL, Message, MessageType
from rtmpspec.messages import Command, DataMessage
from rtmpspec.sentinels import NEED_DATA, Sentinel

from .driver_commands import Commands, result_object_encoding  # noqa: F401  (result_object_encoding: for the cases)
from .wire import (  # noqa: F401  (re-exported for the cases)
    HEX_LIMIT,
    LOG_LIMIT,
    Closed,
    DriverError,
    Inbound,
    StepTimeout,
    Undecodable,
    WireLog,
    format_summary,
    is_command,
    is_type,
    is_user_control,
)


@dataclass
class Target:
    host: str
    port: int
    app: str = "live"
    tls: bool = False
    tls_insecure: bool = False
    label: str = ""

    @property
    def url(self) -> str:
        return f"{'rtmps' if self.tls else 'rtmp'}://{self.host}:{self.port}/{self.app}"

    def tc_url(self, app: str | None = None) -> str:
        return f"{'rtmps' if self.tls else 'rtmp'}://{self.host}:{self.port}/{self.app if app is None else app}"


class Session(Commands):
    def __init__(self, target: Target, *, label: str = "c1", log: WireLog | None = None,
                 step_timeout: float = 3.0, auto_pong: bool = True, auto_ack: bool = True,
                 seed: int | None = None) -> None:
        self.target = target
        self.label = label
        self.log = log if log is not None else WireLog()
        self.step_timeout = step_timeout
        self.auto_pong = auto_pong
        self.auto_ack = auto_ack
        self.rng = random.Random(seed)
        self.sock: socket.socket | None = None
        self.closed = False  # the server closed
        self.close_reason = ""
        self.writer = ChunkWriter()
        self.reader = ChunkReader(strict=False, max_chunk_streams=65600, record_chunks=True,
                                  offset=hs.FLIGHT_SIZE)
        self._out_reader = ChunkReader(strict=False, max_chunk_streams=65600, offset=hs.FLIGHT_SIZE)
        self._out_ok = True
        self.inbox: list[Inbound] = []
        self._consumed: set[int] = set()
        self._hs_buf = bytearray()  # server bytes before the handshake is complete (``hs_in``)
        self.hs_done = False
        self.c1: bytes | None = None
        self.s0: int | None = None
        self.s1: bytes | None = None
        self.s2: bytes | None = None
        self.decode_error: Undecodable | None = None
        self._pending_chunks: dict[int, list] = {}
        self.acks = AckWindow()  # the server's Window Acknowledgement Size and our last Acknowledgement
        self.bytes_in = 0
        self.bytes_out = 0
        self._tid = 1.0
        self.stream_ids: list[int] = []
        self.connect_result: Inbound | None = None  # the server's answer to our connect
        self.object_encoding = 0  # negotiated: 3 only when we offered 3 and the _result said 3 (errata 8.1.1)
        self.extended_at_oe0: list[Inbound] = []  # type 15/17 messages received while objectEncoding 0 was in force

    # -- connection ----------------------------------------------------------------------------------------------
    def open(self) -> Session:
        t = self.target
        sock = socket.create_connection((t.host, t.port), timeout=self.step_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if t.tls:
            ctx = ssl.create_default_context()
            if t.tls_insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname=t.host)
        sock.setblocking(False)
        self.sock = sock
        self.log.add(self.label, "--", "open", f"TCP{'+TLS' if t.tls else ''} connected to {t.host}:{t.port}")
        return self

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
            self.log.add(self.label, "--", "close", "we closed the connection")

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def server_window(self) -> int | None:
        """The server's Window Acknowledgement Size (RTMP 5.4.4), once it sent one."""
        return self.acks.size

    @property
    def hs_in(self) -> bytes:
        """The bytes the server sent before our handshake was complete (S0, S1, S2, or whatever it sent)."""
        return bytes(self._hs_buf)

    # -- raw I/O -------------------------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Write bytes as they are, with no wire-log entry (the caller logs what it sent, e.g. once for a
        handshake sent one byte per write)."""
        self._write(data)

    def _write(self, data: bytes) -> None:
        if self.sock is None:
            raise Closed("the connection is closed")
        view = memoryview(data)
        deadline = time.monotonic() + self.step_timeout
        while view:
            try:
                n = self.sock.send(view)
                view = view[n:]
                self.bytes_out += n
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StepTimeout(f"could not write {len(view)} bytes within {self.step_timeout} s "
                                      "(the server does not read)") from None
                # keep reading while we wait so that a server blocked on its own writes can make progress
                r, w, _ = select.select([self.sock], [self.sock], [], min(left, 0.05))
                if r:
                    self._read_once()
                    if self.closed:
                        raise Closed(self.close_reason) from None
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
                self._mark_closed(f"write failed: {exc.__class__.__name__}")
                raise Closed(self.close_reason) from exc

    def _mark_closed(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self.log.add(self.label, "in", "closed", reason)

    def _read_once(self) -> int:
        """Read what is available (non-blocking); returns bytes read, 0 on EOF (marks closed)."""
        if self.sock is None or self.closed:
            return 0
        try:
            data = self.sock.recv(1 << 18)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return -1
        except (ConnectionResetError, ConnectionAbortedError, OSError) as exc:
            self._mark_closed(f"connection reset ({exc.__class__.__name__})")
            return 0
        if not data:
            self._mark_closed("the server closed the connection (EOF)")
            return 0
        self.bytes_in += len(data)
        self._feed(data)
        return len(data)

    def pump(self, timeout: float = 0.0) -> bool:
        """Wait up to ``timeout`` for bytes and process everything available. False once closed."""
        if self.sock is None or self.closed:
            return False
        pending = getattr(self.sock, "pending", None)
        if not (pending and pending()):
            r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
            if not r:
                return True
        while True:
            n = self._read_once()
            if n <= 0:
                break
            pending = getattr(self.sock, "pending", None)
            if not (pending and pending()):
                r, _, _ = select.select([self.sock], [], [], 0)
                if not r:
                    break
        return not self.closed

    # -- handshake -----------------------------------------------------------------------------------------------
    def send_raw(self, data: bytes, note: str = "raw bytes", *, decode: bool = True) -> None:
        """Write crafted bytes; after the handshake they are also decoded (leniently) for the wire log."""
        if not self.hs_done or not decode:
            self.log.add(self.label, "out", "raw", note, data)
            self._write(data)
            return
        self.log.add(self.label, "out", "chunks", note, data)
        self._write(data)
        self.decode_sent(data, log=True)

    def send_c0c1(self, *, version: int = hs.RTMP_VERSION, digest: bool = False, c1: bytes | None = None,
                  c1_length: int | None = None) -> bytes:
        """A crafted C0+C1 (:mod:`rtmpspec.craft`): any ``version``, a plain or digest C1 (or ``c1``), cut to
        ``c1_length`` bytes. Returns the whole C1."""
        if c1 is None:
            c1 = craft.c1(self.rng, digest=digest)
        self.c1 = c1
        c0 = craft.c0(version)
        body = c1 if c1_length is None else c1[:c1_length]
        self.log.add(self.label, "out", "C0+C1",
                     {"version": version, "digest": digest, "c1_length": len(body)}, c0 + body)
        self._write(c0 + body)
        return c1

    def wait_hs_bytes(self, n: int, what: str, timeout: float | None = None) -> None:
        """Wait until the server sent ``n`` handshake bytes (StepTimeout / Closed otherwise)."""
        deadline = time.monotonic() + (self.step_timeout if timeout is None else timeout)
        while len(self._hs_buf) < n:
            left = deadline - time.monotonic()
            if self.closed:
                raise Closed(f"{self.close_reason} while waiting for {what} "
                             f"({len(self._hs_buf)} of {n} handshake bytes)")
            if left <= 0:
                raise StepTimeout(f"no {what} within {self.step_timeout} s ({len(self._hs_buf)} of {n} bytes)")
            self.pump(left)

    def read_s0(self, timeout: float | None = None) -> int:
        self.wait_hs_bytes(1, "S0", timeout)
        self.s0 = self._hs_buf[0]
        return self.s0

    def read_s0s1(self, timeout: float | None = None) -> tuple[int, bytes]:
        self.wait_hs_bytes(1 + hs.PACKET_SIZE, "S0+S1", timeout)
        self.s0 = self._hs_buf[0]
        self.s1 = bytes(self._hs_buf[1:1 + hs.PACKET_SIZE])
        return self.s0, self.s1

    def read_s0s1s2(self, timeout: float | None = None) -> tuple[int, bytes, bytes]:
        self.wait_hs_bytes(hs.FLIGHT_SIZE, "S0+S1+S2", timeout)
        self.s0 = self._hs_buf[0]
        self.s1 = bytes(self._hs_buf[1:1 + hs.PACKET_SIZE])
        self.s2 = bytes(self._hs_buf[1 + hs.PACKET_SIZE:hs.FLIGHT_SIZE])
        info = {"s0_version": self.s0, "s1_time": int.from_bytes(self.s1[:4], "big"),
                "s1_zero": int.from_bytes(self.s1[4:8], "big"),
                "s1_digest": hs.find_digest(self.s1, hs.GENUINE_FMS_KEY_PARTIAL) is not None,
                "s2_echoes_c1": self.c1 is not None and hs.echo_matches(self.s2, self.c1)}
        self.log.add(self.label, "in", "S0+S1+S2", info, bytes(self._hs_buf[:hs.FLIGHT_SIZE]))
        return self.s0, self.s1, self.s2

    def send_c2(self, c2: bytes | None = None, note: str = "C2 (echo of S1)") -> None:
        if c2 is None:
            assert self.s1 is not None
            c2 = craft.c2_echo(self.s1)
        self.log.add(self.label, "out", "C2", note, c2)
        self._write(c2)
        self.finish_handshake()

    def finish_handshake(self) -> None:
        """From here on the bytes both ways are the chunk stream (what came after S2 goes to the chunk reader)."""
        self.hs_done = True
        rest = bytes(self._hs_buf[hs.FLIGHT_SIZE:])
        self._hs_buf.clear()
        if rest:
            self._feed_chunks(rest)

    def handshake(self, *, digest: bool = False) -> Session:
        """rtmpspec's client handshake (:class:`rtmpspec.handshake.HandshakeClient`, what the Connection runs: a
        digest C1 with ``digest``, answered with the digest signature or, for a server without digest, the echo),
        with the time fields 0; C2 goes out once the whole S0+S1+S2 is in. A server's handshake that does not
        decode (an S0 version other than 3) raises :class:`Undecodable`."""
        if self.sock is None:
            self.open()
        client = hs.HandshakeClient(digest="auto" if digest else False, rng=self.rng)
        c0c1 = client.data_to_send()
        self.c1 = c0c1[1:]
        self.log.add(self.label, "out", "C0+C1", {"version": c0c1[0], "digest": digest, "c1_length": len(self.c1)},
                     c0c1)
        self._write(c0c1)
        self.read_s0s1s2()
        try:
            client.receive_data(bytes(self._hs_buf[:hs.FLIGHT_SIZE]))
            while not isinstance(client.next_event(), (hs.HandshakeComplete, Sentinel)):
                pass
        except ProtocolError as exc:
            raise Undecodable(exc, bytes(self._hs_buf[:256])) from None
        digest_used = client.our_digest is not None and client.peer_digest is not None
        self.send_c2(client.data_to_send(), "C2 (digest signature over S1's digest)" if digest_used else
                     "C2 (echo of S1)")
        return self

    # -- inbound chunk stream ------------------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        if not self.hs_done:
            self._hs_buf += data
            return
        self._feed_chunks(data)

    def _feed_chunks(self, data: bytes) -> None:
        if self.decode_error is not None:
            return
        r = self.reader
        try:
            r.receive_data(data)
            while True:
                msg = r.next_message()
                if msg is NEED_DATA:
                    break
                self._take(msg)
        except ProtocolError as exc:
            tail = r.unconsumed(256)
            self.decode_error = Undecodable(exc, tail)
            self.log.add(self.label, "in", "undecodable", str(exc), tail)
        self._maybe_ack()

    def _take(self, msg: Message) -> None:
        r = self.reader
        for info in r.chunks:
            self._pending_chunks.setdefault(info.csid, []).append(info)
        r.chunks.clear()
        infos = [i for i in self._pending_chunks.pop(msg.csid, []) if not i.discarded]
        raw = b"".join(i.header + i.payload for i in infos)
        offset = infos[0].offset if infos else r.offset
        m = Inbound(msg, offset, raw, time.monotonic(), chunks=infos)
        self.inbox.append(m)
        self.log.add(self.label, "in", "message", describe_message(msg), raw)
        t = msg.type_id
        if t in (MessageType.DATA_AMF3, MessageType.COMMAND_AMF3) and self.object_encoding == 0:
            self.extended_at_oe0.append(m)  # errata 8.1.1: never at objectEncoding 0
        if t == MessageType.WINDOW_ACK_SIZE and msg.msid == 0 and len(msg.payload) == 4:
            self.acks.size = control.parse_control(t, msg.payload).acknowledgementWindowSize
        elif t == MessageType.USER_CONTROL and self.auto_pong:
            uc = m.user_control
            if uc and uc[0] == control.PING_REQUEST and uc[1] is not None:
                self.send(control_message(UserControl(control.PING_RESPONSE, timestamp=uc[1])),
                          note="auto PingResponse")

    def _maybe_ack(self) -> None:
        """RTMP 5.4.3 as the Connection does it (rtmpspec's AckWindow), counting every byte the server sent."""
        if not self.auto_ack or self.sock is None or self.closed:
            return
        seq = self.acks.due(self.bytes_in)
        if seq is not None:
            try:
                self.send(control_message(Acknowledgement(seq)), note="auto ack")
            except DriverError:
                pass

    # -- outbound --------------------------------------------------------------------------------------------------
    def decode_sent(self, data: bytes, *, log: bool = False) -> None:
        """Follow our own chunk stream with a lenient reader (so that chunk size changes and crafted headers stay
        in step); ``log``: put each message of crafted bytes in the wire log, decoded."""
        if not self._out_ok:
            return
        try:
            self._out_reader.receive_data(data)
            while (m := self._out_reader.next_message()) is not NEED_DATA:
                if log:
                    self.log.add(self.label, "out", "decoded", describe_message(m))
        except ProtocolError as exc:
            self._out_ok = False
            self.log.add(self.label, "out", "note", f"our crafted bytes do not decode from here on: {exc}")

    def send(self, msg: Message, *, fmt: int | None = None, note: str | None = None) -> bytes:
        """Chunk ``msg`` with the session's writer (header compression per chunk stream) and send it."""
        data = self.writer.write(msg, fmt=fmt)
        summary = describe_message(msg)
        if note:
            summary["note"] = note
        if fmt is not None:
            summary["fmt"] = fmt
        self.log.add(self.label, "out", "message", summary, data)
        self._write(data)
        self.decode_sent(data)
        self._follow_chunk_size(msg)
        return data

    def _follow_chunk_size(self, msg: Message) -> None:
        """After our own Set Chunk Size (any value, bit 31 too: its low 31 bits, RTMP 5.4.1), chunk at that size
        (sizes above 16777215 are all equivalent)."""
        if msg.type_id == MessageType.SET_CHUNK_SIZE and msg.msid == 0 and len(msg.payload) == 4:
            size = control.SetChunkSize.parse(msg.payload).chunkSize
            if size >= 1:
                self.writer.set_chunk_size(min(size, 0xFFFFFF))

    def send_many(self, msgs: list[Message], note: str = "") -> None:
        """Chunk several messages (Set Chunk Size applied in between) and send them in ONE write, so that the server
        gets them in the same read: TCP keeps no message boundaries."""
        out = bytearray()
        for msg in msgs:
            data = self.writer.write(msg)
            summary = describe_message(msg)
            summary["note"] = note or "sent in one write with the neighbouring messages"
            self.log.add(self.label, "out", "message", summary, data)
            out += data
            self._follow_chunk_size(msg)
        self._write(bytes(out))
        self.decode_sent(bytes(out))

    def send_crafted(self, data: bytes, note: str, *, csids: tuple[int, ...] = ()) -> None:
        """Send crafted chunk bytes; the writer forgets ``csids`` so that its next message there is Type 0."""
        self.send_raw(data, note)
        for c in csids:
            self.writer.forget(c)

    def send_cmd(self, cmd: Command, csid: int = messages.CSID_COMMAND, **kw: Any) -> bytes:
        return self.send(cmd.to_message(csid), **kw)

    def send_data(self, dm: DataMessage, csid: int = messages.CSID_DATA) -> bytes:
        return self.send(dm.to_message(csid))

    def set_chunk_size(self, size: int) -> None:
        self.send(control_message(SetChunkSize(size)))

    def control(self, type_id: int, payload: bytes) -> None:
        self.send(Message(type_id, payload, 0, 0, CSID_CONTROL))

    def chunk_header(self, fmt: int, csid: int, tsfield: int = 0, length: int = 0, type_id: int = 0, msid: int = 0,
                     type3_extended_value: int | None = None) -> bytes:
        """A crafted chunk header (from the rtmpspec chunk header schema)."""
        return build_header(fmt, csid, tsfield, length, type_id, msid, type3_extended_value)

    def next_tid(self) -> float:
        self._tid += 1
        return self._tid

    # -- waiting -------------------------------------------------------------------------------------------------
    def expect(self, pred: Callable[[Inbound], bool], what: str, timeout: float | None = None,
               *, consume: bool = True) -> Inbound:
        """The first not yet consumed message matching ``pred``; waits up to the step timeout."""
        found: list[Inbound] = []
        scanned = 0

        def scan() -> bool:
            nonlocal scanned
            for i in range(scanned, len(self.inbox)):
                if i not in self._consumed and pred(self.inbox[i]):
                    if consume:
                        self._consumed.add(i)
                    found.append(self.inbox[i])
                    return True
            scanned = len(self.inbox)
            return False

        self.wait_until(scan, what, timeout)
        return found[0]

    def find(self, pred: Callable[[Inbound], bool]) -> list[Inbound]:
        return [m for m in self.inbox if pred(m)]

    def wait_closed(self, timeout: float | None = None) -> bool:
        """True if the server closes the connection within ``timeout`` (default: the step timeout)."""
        deadline = time.monotonic() + (self.step_timeout if timeout is None else timeout)
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.pump(left)
        return True

    def drain(self, quiet: float = 0.05, limit: float | None = None) -> None:
        """Process input until nothing arrives for ``quiet`` seconds (bounded by ``limit``)."""
        deadline = time.monotonic() + (self.step_timeout if limit is None else limit)
        while time.monotonic() < deadline and not self.closed:
            before = self.bytes_in
            self.pump(min(quiet, max(0.0, deadline - time.monotonic())))
            if self.bytes_in == before:
                return

    def wait_until(self, cond: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.step_timeout if timeout is None else timeout)
        while not cond():
            if self.decode_error is not None:
                raise self.decode_error
            if self.closed:
                raise Closed(f"{self.close_reason} before {what}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepTimeout(f"no {what} within {self.step_timeout if timeout is None else timeout} s")
            self.pump(left)
