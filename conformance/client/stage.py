"""The battery's server side in client mode: a loopback listener and one :class:`Peer` per accepted connection.

A :class:`Peer` is a thin socket shell over the sans-I/O :class:`rtmpspec.connection.Connection` in the server role
(handshake, chunk stream, protocol control, acknowledgements), plus two lenient observers that make evidence of
what the client sent: the raw handshake bytes (C0, C1, C2, and our S0, S1, S2) and an
:class:`rtmpspec.chunkreader.ChunkReader` that records every chunk header (so a case can say which Type 3 chunk
lacked its extended timestamp). What we send goes through ``Connection.send`` (or, for deliberately unusual chunk
layouts, bytes built by :func:`rtmpspec.chunkheader.build_header`), is logged decoded in the case's wire log and
is counted for the acknowledgement checks.

No sleeps and no threads: every wait is ``select`` on the sockets with a deadline.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable
from typing import Any

from rtmpspec import control, events
from rtmpspec import handshake as hs
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.connection import Connection, Role
from rtmpspec.dissect import describe_message
from rtmpspec.errors import ProtocolError
from rtmpspec.message_format import Message
from rtmpspec.messages import Command, DataMessage
from rtmpspec.sentinels import NEED_DATA

from ..wire import Closed, Inbound, StepTimeout, WireLog

MAX_CHUNK_STREAMS = 65600  # a client may use any of the 65598 chunk stream ids
MAX_INBOX = 20000  # messages kept per connection (media beyond this is counted, not kept)


class Stage:
    """A listening socket on 127.0.0.1 (a free port) that accepts the client under test."""

    def __init__(self, log: WireLog, *, step_timeout: float = 3.0, host: str = "127.0.0.1") -> None:
        self.log = log
        self.step_timeout = step_timeout
        self.host = host
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(16)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.peers: list[Peer] = []

    def url(self, path: str) -> str:
        return f"rtmp://{self.host}:{self.port}/{path}"

    def tc_url(self, app: str) -> str:
        return f"rtmp://{self.host}:{self.port}/{app}"

    def accept(self, timeout: float, *, alive: Callable[[], bool] | None = None, digest: str | bool = "auto",
               **kw: Any) -> Peer | None:
        """The next connection within ``timeout`` seconds; None when none came or ``alive()`` turned False."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.lsock], [], [], min(left, 0.05))
            if r:
                try:
                    sock, addr = self.lsock.accept()
                except BlockingIOError:
                    continue
                peer = Peer(sock, self.log, label=f"conn{len(self.peers) + 1}", step_timeout=self.step_timeout,
                            digest=digest, **kw)
                self.peers.append(peer)
                self.log.add(peer.label, "--", "accept", f"TCP connection from {addr[0]}:{addr[1]}")
                return peer
            if alive is not None and not alive():
                return None

    def connection_waiting(self) -> bool:
        r, _, _ = select.select([self.lsock], [], [], 0)
        return bool(r)

    def close(self) -> None:
        for p in self.peers:
            p.close()
        try:
            self.lsock.close()
        except OSError:
            pass


class Peer:
    """One accepted connection, served through ``rtmpspec.Connection(Role.SERVER)``."""

    def __init__(self, sock: socket.socket, log: WireLog, *, label: str = "conn1", step_timeout: float = 3.0,
                 digest: str | bool = "auto", auto_ack: bool = True) -> None:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock: socket.socket | None = sock
        self.log = log
        self.label = label
        self.step_timeout = step_timeout
        self.t0 = time.monotonic()
        # the client may send anything: the connection is lenient, the judgement is the cases' job
        self.conn = Connection(Role.SERVER, strict=False, digest=digest, max_chunk_streams=MAX_CHUNK_STREAMS,
                               auto_ack=auto_ack, auto_pong=True)
        self.recorder = ChunkReader(strict=False, max_chunk_streams=MAX_CHUNK_STREAMS, record_chunks=True,
                                    offset=hs.FLIGHT_SIZE)
        self._out_reader = ChunkReader(strict=False, max_chunk_streams=MAX_CHUNK_STREAMS, offset=hs.FLIGHT_SIZE)
        self._out_ok = True
        self._pending_chunks: dict[int, list] = {}
        self.hs_in = bytearray()  # C0 C1 C2 as received
        self.hs_out = bytearray()  # S0 S1 S2 as sent
        self.handshake_done: events.HandshakeDone | None = None
        self.inbox: list[Inbound] = []
        self.sent_at: list[int] = []  # bytes_out when each inbox message had arrived (acknowledgement checks)
        self.dropped = 0  # media messages not kept (MAX_INBOX)
        self._consumed: set[int] = set()
        self.bytes_in = 0
        self.bytes_out = 0
        self.closed = False
        self.close_reason = ""
        self.error: ProtocolError | None = None  # what the Connection rejected (lenient as it is)
        self.decode_error: ProtocolError | None = None  # what even the lenient recorder could not read
        self.send_log = True

    # -- raw I/O -----------------------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self.sock is None or self.closed:
            raise Closed(f"cannot send: {self.close_reason or 'the connection is closed'}")
        view = memoryview(data)
        deadline = time.monotonic() + max(self.step_timeout, 5.0)
        while view:
            try:
                n = self.sock.send(view)
                view = view[n:]
                self.bytes_out += n
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StepTimeout(f"the client did not read {len(view)} bytes within "
                                      f"{max(self.step_timeout, 5.0)} s") from None
                r, _, _ = select.select([self.sock], [self.sock], [], min(left, 0.05))
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
        if self.sock is None or self.closed:
            return 0
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return -1
        except OSError as exc:
            self._mark_closed(f"connection reset ({exc.__class__.__name__})")
            return 0
        if not data:
            self._mark_closed("the client closed the connection (EOF)")
            return 0
        self.bytes_in += len(data)
        self._feed(data)
        return len(data)

    def pump(self, timeout: float = 0.0) -> bool:
        """Wait up to ``timeout`` for bytes and process all that is available. False once closed."""
        if self.sock is None or self.closed:
            return False
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not r:
            return True
        while self._read_once() > 0:
            r, _, _ = select.select([self.sock], [], [], 0)
            if not r:
                break
        return not self.closed

    # -- inbound -----------------------------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        if len(self.hs_in) < hs.FLIGHT_SIZE:
            take = hs.FLIGHT_SIZE - len(self.hs_in)
            self.hs_in += data[:take]
            if len(self.hs_in) == hs.FLIGHT_SIZE:
                self.log.add(self.label, "in", "C0+C1+C2", describe_c(bytes(self.hs_in)), bytes(self.hs_in[:48]))
            rest = data[take:]
        else:
            rest = data
        if self.error is None:
            try:
                self.conn.receive_data(data)
                while (ev := self.conn.next_event()) is not NEED_DATA:
                    if isinstance(ev, events.HandshakeDone):
                        self.handshake_done = ev
            except ProtocolError as exc:
                self.error = exc
                self.log.add(self.label, "in", "protocol error", str(exc))
        self._flush_auto()
        if rest:
            self._record(rest)

    def _record(self, data: bytes) -> None:
        if self.decode_error is not None:
            return
        r = self.recorder
        try:
            r.receive_data(data)
            while (msg := r.next_message()) is not NEED_DATA:
                self._take(msg)
        except ProtocolError as exc:
            self.decode_error = exc
            self.log.add(self.label, "in", "undecodable", str(exc))

    def _take(self, msg: Message) -> None:
        r = self.recorder
        for info in r.chunks:
            self._pending_chunks.setdefault(info.csid, []).append(info)
        r.chunks.clear()
        infos = [i for i in self._pending_chunks.pop(msg.csid, []) if not i.discarded]
        if len(self.inbox) >= MAX_INBOX and msg.type_id in (8, 9, 22):
            self.dropped += 1
            return
        raw = b"".join(i.header + i.payload for i in infos)
        offset = infos[0].offset if infos else r.offset
        m = Inbound(msg, offset, raw, time.monotonic(), chunks=infos)
        self.inbox.append(m)
        self.sent_at.append(self.bytes_out)
        if len(self.inbox) <= 400 or msg.type_id not in (8, 9):
            self.log.add(self.label, "in", "message", describe_message(msg), raw)

    def _flush_auto(self) -> None:
        """What the Connection produced by itself: S0+S1+S2, acknowledgements, ping responses."""
        data = self.conn.data_to_send()
        if not data:
            return
        if len(self.hs_out) < hs.FLIGHT_SIZE:
            take = hs.FLIGHT_SIZE - len(self.hs_out)
            self.hs_out += data[:take]
            if len(self.hs_out) == hs.FLIGHT_SIZE:
                self.log.add(self.label, "out", "S0+S1+S2", describe_s(bytes(self.hs_out)), bytes(self.hs_out[:48]))
            rest = data[take:]
        else:
            rest = data
        try:
            self._write(data)
        except (Closed, StepTimeout):
            return  # the client is gone (or stuck): what the connection said by itself does not matter then
        if rest:
            self._decode_out(rest, note="sent by the connection itself")

    # -- outbound ----------------------------------------------------------------------------------------------
    def _decode_out(self, data: bytes, *, note: str = "") -> None:
        if not self._out_ok:
            return
        try:
            self._out_reader.receive_data(data)
            while (m := self._out_reader.next_message()) is not NEED_DATA:
                if self.send_log:
                    d = describe_message(m)
                    if note:
                        d["note"] = note
                    self.log.add(self.label, "out", "message", d)
        except ProtocolError as exc:
            self._out_ok = False
            self.log.add(self.label, "out", "note", f"our crafted bytes do not decode from here on: {exc}")

    def send(self, ev: Any, *, note: str = "") -> None:
        """A Command, DataMessage, control event or Message through the Connection (its writer chooses fmt)."""
        if isinstance(ev, Message) and ev.type_id == control.SET_CHUNK_SIZE:
            self.set_chunk_size(int.from_bytes(ev.payload, "big"))
            return
        data = self.conn.send(ev)
        self._write(data)
        self._decode_out(data, note=note)

    def send_many(self, evs: list[Any], *, note: str = "") -> None:
        """Several events in ONE write (the client gets them in the same read)."""
        out = bytearray()
        for ev in evs:
            out += self.conn.send(ev)
        self._write(bytes(out))
        self._decode_out(bytes(out), note=note)

    def send_raw(self, data: bytes, note: str, *, forget: tuple[int, ...] = (), log: bool = True) -> None:
        """Crafted chunk bytes; the writer forgets ``forget`` chunk streams so its next message there is Type 0.
        ``log``: put the bytes in the wire log (the decoded messages are logged anyway while ``send_log``)."""
        if log:
            self.log.add(self.label, "out", "chunks", note, data)
        self._write(data)
        self._decode_out(data)
        for c in forget:
            self.conn.writer.forget(c)

    def set_chunk_size(self, size: int) -> None:
        """Send Set Chunk Size ``size`` (1 .. 2**31-1, RTMP 5.4.1) and chunk what follows at it (sizes above
        16777215 all mean "whole messages": no message is larger)."""
        msg = Message(control.SET_CHUNK_SIZE, control.build_set_chunk_size(size), 0, 0, 2)
        data = self.conn.writer.write(msg)
        self.conn.writer.set_chunk_size(min(size, 0xFFFFFF))
        self._write(data)
        self._decode_out(data)

    def command(self, cmd: Command, csid: int = 3, *, note: str = "") -> None:
        """A command on a chosen chunk stream (the Connection's writer, header compression included)."""
        if csid == 3:
            self.send(cmd, note=note)
            return
        self.send(cmd.to_message(csid), note=note)

    def data(self, dm: DataMessage, csid: int = 5) -> None:
        self.send(dm.to_message(csid))

    # -- waiting -----------------------------------------------------------------------------------------------
    def wait_until(self, cond: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        timeout = self.step_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not cond():
            if self.closed:
                raise Closed(f"{self.close_reason} before {what}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepTimeout(f"no {what} within {timeout:g} s")
            self.pump(left)

    def handshake(self, timeout: float | None = None) -> events.HandshakeDone:
        self.wait_until(lambda: self.handshake_done is not None or self.error is not None,
                        "complete handshake (C0+C1+C2)", timeout)
        if self.handshake_done is None:
            raise Closed(f"the handshake failed: {self.error}")
        return self.handshake_done

    def expect(self, pred: Callable[[Inbound], bool], what: str, timeout: float | None = None,
               *, consume: bool = True) -> Inbound:
        found: list[Inbound] = []

        def scan() -> bool:
            for i, m in enumerate(self.inbox):
                if i not in self._consumed and pred(m):
                    if consume:
                        self._consumed.add(i)
                    found.append(m)
                    return True
            return False

        self.wait_until(scan, what, timeout)
        return found[0]

    def next_unconsumed(self, timeout: float) -> Inbound | None:
        """The next message not consumed yet (in arrival order), waiting up to ``timeout``; None on timeout or
        close."""
        try:
            return self.expect(lambda m: True, "message", timeout)
        except (StepTimeout, Closed):
            return None

    def wait_closed(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.pump(left)
        return True

    def drain(self, quiet: float, limit: float) -> None:
        """Read until nothing arrives for ``quiet`` seconds, the client closes, or ``limit`` seconds pass."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not self.closed:
            before = self.bytes_in
            self.pump(min(quiet, max(0.0, deadline - time.monotonic())))
            if self.bytes_in == before:
                return

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
            if not self.closed:
                self.log.add(self.label, "--", "close", "the battery closed the connection")

    # -- views ---------------------------------------------------------------------------------------------------
    @property
    def c0(self) -> int | None:
        return self.hs_in[0] if self.hs_in else None

    @property
    def c1(self) -> bytes:
        return bytes(self.hs_in[1:1 + hs.PACKET_SIZE])

    @property
    def c2(self) -> bytes:
        return bytes(self.hs_in[1 + hs.PACKET_SIZE:hs.FLIGHT_SIZE])

    @property
    def s1(self) -> bytes:
        return bytes(self.hs_out[1:1 + hs.PACKET_SIZE])

    def commands(self) -> list[Inbound]:
        return [m for m in self.inbox if m.command is not None]

    def media(self) -> list[Inbound]:
        return [m for m in self.inbox if m.type_id in (8, 9)]


def describe_c(data: bytes) -> dict:
    c1 = data[1:1 + hs.PACKET_SIZE]
    return {"c0_version": data[0], "c1_time": int.from_bytes(c1[:4], "big"), "c1_zero": c1[4:8].hex(),
            "c1_digest": hs.find_digest(c1, hs.GENUINE_FP_KEY_PARTIAL) is not None,
            "c2_time": int.from_bytes(data[1 + hs.PACKET_SIZE:5 + hs.PACKET_SIZE], "big")}


def describe_s(data: bytes) -> dict:
    s1 = data[1:1 + hs.PACKET_SIZE]
    return {"s0_version": data[0], "s1_time": int.from_bytes(s1[:4], "big"), "s1_zero": s1[4:8].hex(),
            "s1_digest": hs.find_digest(s1, hs.GENUINE_FMS_KEY_PARTIAL) is not None}
