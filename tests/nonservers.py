"""Targets for the battery's self-tests (loopback only): four listeners that are no RTMP server at all, and a small
fake RTMP server (built on rtmpspec) that answers the handshake and ``connect`` and can then misbehave or stop.

    with FakeTarget("silent") as t:          # "close", "silent", "garbage", "echo", "rtmp"
        run_battery(["--target", f"127.0.0.1:{t.port}"], ...)

``FakeTarget("rtmp")`` answers connect (Window Ack Size, Set Peer Bandwidth, Set Chunk Size, ``_result``),
createStream, publish and play (with their onStatus), relays a publisher's audio/video to the players of its key
(``relay=False``: relays nothing) and ignores everything else. With
``after_connect`` it answers only the first ``connect`` of each connection and then goes "silent", "close"s the
connection, sends "garbage" or "echo"es what it reads. A command named in ``crash_on`` stops the whole server: as a
script (``python tests/nonservers.py rtmp --port N --crash-on cfCrash``) the process exits with status 70, as a
thread the listener and every connection close.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sys
import threading

from rtmpspec import control, messages
from rtmpspec import handshake as hs
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.chunkwriter import ChunkWriter
from rtmpspec.errors import RTMPError
from rtmpspec.message_format import Message
from rtmpspec.sentinels import NEED_DATA

KINDS = ("close", "silent", "garbage", "echo", "rtmp")
CRASH_EXIT = 70


class FakeTarget:
    def __init__(self, kind: str, *, port: int = 0, after_connect: str | None = None, crash_on: tuple = (),
                 exit_on_crash: bool = False, relay: bool = True, seed: int = 1) -> None:
        if kind not in KINDS:
            raise ValueError(kind)
        self.kind = kind
        self.after_connect = after_connect
        self.crash_on = set(crash_on)
        self.exit_on_crash = exit_on_crash
        self.relay = relay
        self.players: dict[str, list] = {}  # key -> [(send, msid)]
        self.seed = seed
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.accepted = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"fake-{kind}", daemon=True)

    def __enter__(self) -> FakeTarget:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> FakeTarget:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.close()
            except OSError:
                pass

    # -- accept ----------------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                n = self.accepted
                self.conns.append(conn)
            if self.kind == "close":
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn, n), daemon=True).start()

    def _serve(self, conn: socket.socket, n: int) -> None:
        try:
            getattr(self, f"_{self.kind}")(conn, random.Random(self.seed * 100003 + n))
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self._lock:
                if conn in self.conns:
                    self.conns.remove(conn)

    def _recv(self, conn: socket.socket) -> bytes:
        data = conn.recv(65536)
        if not data or self._stop.is_set():
            raise ConnectionAbortedError
        return data

    # -- the four non-servers ------------------------------------------------------------------------------------
    def _silent(self, conn, rng) -> None:
        while True:
            self._recv(conn)

    def _garbage(self, conn, rng) -> None:
        while True:
            n = len(self._recv(conn))
            junk = bytearray(rng.randbytes(max(n, 1537)))
            if junk[0] == hs.RTMP_VERSION:  # random bytes, but never something that looks like S0
                junk[0] = 0xA5
            conn.sendall(bytes(junk))

    def _echo(self, conn, rng) -> None:
        while True:
            conn.sendall(self._recv(conn))

    # -- the fake RTMP server --------------------------------------------------------------------------------
    def _rtmp(self, conn, rng) -> None:
        buf = bytearray()
        while len(buf) < 1 + hs.PACKET_SIZE:
            buf += self._recv(conn)
        c1 = bytes(buf[1:1 + hs.PACKET_SIZE])
        s1 = hs.S1.build({"time": 0, "zero": 0, "random": rng.randbytes(hs.RANDOM_SIZE)})
        conn.sendall(bytes([hs.RTMP_VERSION]) + s1 + c1)  # S0, S1, S2 (the echo of C1)
        while len(buf) < hs.FLIGHT_SIZE:
            buf += self._recv(conn)
        reader = ChunkReader(strict=False, max_chunk_streams=70000)
        writer = ChunkWriter()
        lock = threading.Lock()  # the writer and the socket are shared with the publishers relaying to us

        def send(msgs: list[Message]) -> None:
            with lock:
                for out in msgs:
                    conn.sendall(writer.write(out))
                    if out.type_id == control.SET_CHUNK_SIZE:
                        writer.set_chunk_size(int.from_bytes(out.payload, "big"))

        reader.receive_data(bytes(buf[hs.FLIGHT_SIZE:]))
        state = {"connected": False, "stream": 0, "send": send, "publishing": None}
        try:
            while True:
                try:
                    while (msg := reader.next_message()) is not NEED_DATA:
                        if state["connected"] and self.after_connect:
                            return self._misbehave(conn, rng)
                        send(self._answer(msg, state))
                except RTMPError:
                    return None
                data = self._recv(conn)
                if state["connected"] and self.after_connect:
                    return self._misbehave(conn, rng, data)
                reader.receive_data(data)
        finally:
            with self._lock:
                for subs in self.players.values():
                    subs[:] = [x for x in subs if x[0] is not send]

    def _misbehave(self, conn, rng, data: bytes = b"") -> None:
        mode = self.after_connect
        if mode == "close":
            return
        if mode == "echo" and data:
            conn.sendall(data)
        if mode == "garbage":
            conn.sendall(rng.randbytes(4096))
        getattr(self, f"_{mode}")(conn, rng)

    def _answer(self, msg: Message, state: dict) -> list[Message]:
        if msg.type_id in (8, 9) and state["publishing"] and self.relay:
            with self._lock:
                subs = list(self.players.get(state["publishing"], ()))
            for send, msid in subs:
                try:
                    send([Message(msg.type_id, msg.payload, msg.timestamp, msid, 6 if msg.type_id == 9 else 4)])
                except OSError:
                    pass
            return []
        if msg.type_id not in messages.COMMAND_TYPES:
            return []
        try:
            cmd = messages.Command.from_message(msg)
        except RTMPError:
            return []
        if cmd.name in self.crash_on:
            self._crash()
        tid = cmd.transaction_id
        if cmd.name == "connect" and not state["connected"]:
            state["connected"] = True
            info = {"level": "status", "code": "NetConnection.Connect.Success", "description": "fake",
                    "objectEncoding": 0.0}
            return [Message(control.WINDOW_ACK_SIZE, control.build_window_ack_size(2500000), 0, 0, 2),
                    Message(control.SET_PEER_BANDWIDTH, control.build_set_peer_bandwidth(2500000, 2), 0, 0, 2),
                    Message(control.SET_CHUNK_SIZE, control.build_set_chunk_size(4096), 0, 0, 2),
                    messages.result(tid, {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}, info).to_message()]
        if cmd.name == "createStream":
            state["stream"] += 1
            return [messages.result(tid, None, float(state["stream"])).to_message()]
        if cmd.name in ("publish", "play") and cmd.msid:
            key = cmd.args[0] if cmd.args and isinstance(cmd.args[0], str) else ""
            if cmd.name == "publish":
                state["publishing"] = key
            else:
                with self._lock:
                    self.players.setdefault(key, []).append((state["send"], cmd.msid))
            begin = Message(control.USER_CONTROL, control.build_user_control("StreamBegin", streamID=cmd.msid),
                            0, 0, 2)
            code = "NetStream.Publish.Start" if cmd.name == "publish" else "NetStream.Play.Start"
            return [begin, messages.on_status(code, "fake", msid=cmd.msid).to_message(5)]
        return []

    def _crash(self) -> None:
        if self.exit_on_crash:
            os._exit(CRASH_EXIT)
        self.stop()
        raise ConnectionAbortedError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--after-connect", choices=("silent", "close", "garbage", "echo"))
    p.add_argument("--crash-on", action="append", default=[], metavar="COMMAND")
    args = p.parse_args(argv)
    t = FakeTarget(args.kind, port=args.port, after_connect=args.after_connect, crash_on=tuple(args.crash_on),
                   exit_on_crash=True)
    t.start()
    print(f"listening rtmp://127.0.0.1:{t.port}", flush=True)
    try:
        t._thread.join()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
