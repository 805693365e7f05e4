"""A faulty RTMP relay for the battery's self-tests: a TCP proxy (loopback) in front of a real server that rewrites
the media the server sends, on the way to the players, with the rtmpspec codecs.

Client to server: bytes pass through untouched. Server to client: the 3073 handshake bytes pass through, then the
chunk stream is read message by message (:class:`rtmpspec.chunkreader.ChunkReader`), every audio/video message is
handed to the fault, and everything is chunked again (:class:`rtmpspec.chunkwriter.ChunkWriter`, which follows the
server's Set Chunk Size). Faults:

- ``none``: nothing changed (the control: the battery passes through it as it does without it);
- ``alter-video``: the last byte of every video payload flipped;
- ``zero-timestamps``: every audio/video timestamp set to 0;
- ``drop-tenth``: every tenth audio/video message of a connection dropped.
"""

from __future__ import annotations

import socket
import threading

from rtmpspec import control
from rtmpspec import handshake as hs
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.chunkwriter import ChunkWriter
from rtmpspec.errors import RTMPError
from rtmpspec.message_format import Message
from rtmpspec.sentinels import NEED_DATA

FAULTS = ("none", "alter-video", "zero-timestamps", "drop-tenth")
AUDIO, VIDEO = 8, 9


class Fault:
    def __init__(self, kind: str) -> None:
        if kind not in FAULTS:
            raise ValueError(kind)
        self.kind = kind
        self.media = 0
        self.changed = 0

    def __call__(self, msg: Message) -> Message | None:
        if msg.type_id not in (AUDIO, VIDEO):
            return msg
        self.media += 1
        if self.kind == "alter-video" and msg.type_id == VIDEO and msg.payload:
            self.changed += 1
            p = bytearray(msg.payload)
            p[-1] ^= 0x01
            return Message(msg.type_id, bytes(p), msg.timestamp, msg.msid, msg.csid)
        if self.kind == "zero-timestamps" and msg.timestamp:
            self.changed += 1
            return Message(msg.type_id, msg.payload, 0, msg.msid, msg.csid)
        if self.kind == "drop-tenth" and self.media % 10 == 0:
            self.changed += 1
            return None
        return msg


class FaultyRelay:
    """``with FaultyRelay(upstream_port, "alter-video") as r: ... r.port``"""

    def __init__(self, upstream_port: int, fault: str, *, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self.fault = fault
        self.faults: list[Fault] = []
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name=f"faulty-relay-{fault}", daemon=True)

    def __enter__(self) -> FaultyRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.close()
            except OSError:
                pass

    @property
    def changed(self) -> int:
        return sum(f.changed for f in self.faults)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(None)
            fault = Fault(self.fault)
            with self._lock:
                self._socks += [client, server]
                self.faults.append(fault)
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._media, args=(server, client, fault), daemon=True).start()

    def _close(self, *socks: socket.socket) -> None:
        for s in socks:  # shutdown first: it wakes up the other direction's thread blocked in recv() and sends FIN
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        self._close(src, dst)

    def _media(self, src: socket.socket, dst: socket.socket, fault: Fault) -> None:
        pending = bytearray()
        reader = ChunkReader(strict=False, max_chunk_streams=70000)
        writer = ChunkWriter()
        try:
            while len(pending) < hs.FLIGHT_SIZE:
                data = src.recv(65536)
                if not data:
                    raise ConnectionAbortedError
                pending += data
            dst.sendall(bytes(pending[:hs.FLIGHT_SIZE]))
            reader.receive_data(bytes(pending[hs.FLIGHT_SIZE:]))
            while True:
                out = bytearray()
                while (msg := reader.next_message()) is not NEED_DATA:
                    changed = fault(msg)
                    if changed is None:
                        continue
                    out += writer.write(changed)
                    if msg.type_id == control.SET_CHUNK_SIZE and msg.msid == 0 and len(msg.payload) == 4:
                        writer.set_chunk_size(min(int.from_bytes(msg.payload, "big") & 0x7FFFFFFF, 0xFFFFFF))
                if out:
                    dst.sendall(bytes(out))
                data = src.recv(1 << 18)
                if not data:
                    break
                reader.receive_data(data)
        except (OSError, RTMPError):
            pass
        self._close(src, dst)
