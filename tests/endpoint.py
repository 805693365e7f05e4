"""Test fixtures of the reference server's tests: :class:`Endpoint`, a minimal asyncio RTMP client on
:class:`rtmpspec.connection.Connection` (the full client lives in :mod:`reference_server.client`); :class:`RefServer`,
the reference server as a process; synthetic media.

    p = await Endpoint.open("127.0.0.1", port)
    await p.connect("live")
    msid = await p.create_stream()
    await p.play("key", msid)
    ev = await p.expect(lambda e: isinstance(e, events.Video), timeout=5)

Events are kept in ``p.events`` (unless ``keep=False``); ``on_media(message)`` is called for every audio/video
message when given (the benchmark counts bytes and timestamps that way without keeping them).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

from harness.peers import reference_server_command
from harness.process import ServerProcess, rss_tree
from rtmpspec import events
from rtmpspec.connection import Connection, Role
from rtmpspec.errors import ProtocolError
from rtmpspec.message_format import Message
from rtmpspec.messages import Command, connect, create_stream, play, publish
from rtmpspec.sentinels import NEED_DATA


class Endpoint(asyncio.Protocol):
    def __init__(self, *, keep: bool = True, on_media: Callable[[Message], None] | None = None,
                 digest: bool | str = True, max_message_size: int = 0xFFFFFF) -> None:
        self.conn = Connection(Role.CLIENT, digest=digest, max_message_size=max_message_size)
        self.keep = keep
        self.on_media = on_media
        self.events: list[Any] = []
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.handshake = asyncio.get_running_loop().create_future()
        self.error: Exception | None = None
        self._changed = asyncio.Event()
        self._tid = 1
        self._cursor = 0
        self.bytes_in = 0

    @classmethod
    async def open(cls, host: str, port: int, *, timeout: float = 5, ssl=None, handshake: bool = True,
                   sock=None, **kw: Any) -> Endpoint:
        """Connect; with ``handshake`` also wait until the RTMP handshake is complete."""
        loop = asyncio.get_running_loop()
        if sock is not None:
            coro = loop.create_connection(lambda: cls(**kw), sock=sock, ssl=ssl)
        else:
            coro = loop.create_connection(lambda: cls(**kw), host, port, ssl=ssl)
        _, p = await asyncio.wait_for(coro, timeout)
        if handshake:
            await asyncio.wait_for(asyncio.shield(p.handshake), timeout)
        return p

    # -- asyncio ----------------------------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        conn = self.conn
        try:
            conn.receive_data(data)
            on_media = self.on_media
            keep = self.keep
            while True:
                ev = conn.next_event()
                if ev is NEED_DATA:
                    break
                if isinstance(ev, events.HandshakeDone) and not self.handshake.done():
                    self.handshake.set_result(ev)
                if on_media is not None and isinstance(ev, (events.Video, events.Audio)):
                    on_media(ev.message)
                    if not keep:
                        continue
                if keep or isinstance(ev, Command):
                    self.events.append(ev)
        except ProtocolError as exc:
            self.error = exc
            self.transport.close()
        out = conn.data_to_send()
        if out:
            self.transport.write(out)
        self._changed.set()

    def connection_lost(self, exc) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)
        self._changed.set()

    # -- sending ----------------------------------------------------------------------------------------------
    def send(self, *evs: Any) -> None:
        self.transport.write(self.conn.data_to_send() + b"".join(self.conn.send(e) for e in evs))

    def send_raw(self, data: bytes) -> None:
        self.transport.write(data)

    def next_tid(self) -> int:
        self._tid += 1
        return self._tid

    # -- waiting ----------------------------------------------------------------------------------------------
    async def expect(self, pred: Callable[[Any], bool], timeout: float = 5.0, *, from_start: bool = False) -> Any:
        """The first event (after the previous ``expect``'s match, or from the start) for which ``pred`` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        i = 0 if from_start else self._cursor
        while True:
            while i < len(self.events):
                ev = self.events[i]
                i += 1
                if pred(ev):
                    if not from_start:
                        self._cursor = i
                    return ev
            if self.closed.done():
                raise ConnectionError(f"connection closed while waiting (error: {self.error})")
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError("expected event did not arrive")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    async def command(self, name: str | tuple, timeout: float = 5.0, **kw: Any) -> Command:
        names = (name,) if isinstance(name, str) else name
        return await self.expect(lambda e: isinstance(e, Command) and e.name in names, timeout, **kw)

    async def status(self, code: str | None = None, timeout: float = 5.0) -> Command:
        return await self.expect(lambda e: isinstance(e, Command) and e.name == "onStatus"
                                 and (code is None or e.code == code), timeout)

    async def wait_closed(self, timeout: float = 5.0) -> Any:
        return await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    # -- RTMP steps -------------------------------------------------------------------------------------------
    async def connect(self, app: str = "live", *, tc_url: str | None = None, timeout: float = 5.0,
                      **kw: Any) -> Command:
        await asyncio.wait_for(asyncio.shield(self.handshake), timeout)
        self.send(connect(app, tc_url or f"rtmp://127.0.0.1/{app}", **kw))
        return await self.expect(lambda e: isinstance(e, Command) and e.name in ("_result", "_error")
                                 and e.transaction_id == 1, timeout)

    async def create_stream(self, timeout: float = 5.0) -> int:
        tid = self.next_tid()
        self.send(create_stream(tid))
        res = await self.expect(lambda e: isinstance(e, Command) and e.name == "_result"
                                and e.transaction_id == tid, timeout)
        return int(res.args[0])

    async def publish(self, name: str, msid: int = 1, kind: str = "live", timeout: float = 5.0) -> Command:
        self.send(publish(name, kind, msid=msid))
        return await self.expect(lambda e: isinstance(e, Command) and e.name == "onStatus"
                                 and (e.code or "").startswith("NetStream.Publish."), timeout)

    async def play(self, name: str, msid: int = 1, timeout: float = 5.0) -> Command:
        self.send(play(name, msid=msid))
        return await self.expect(lambda e: isinstance(e, Command) and e.name == "onStatus"
                                 and e.code in ("NetStream.Play.Start", "NetStream.Play.StreamNotFound",
                                                "NetStream.Play.Failed"), timeout)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# -- synthetic media (legacy FLV tag headers, FLV E.4.2.1 / E.4.3.1); bodies are filler bytes ---------------
AVC_SEQ = bytes([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1F, 0xFF, 0xE1, 0, 4, 0x67, 0x64, 0, 0x1F, 1, 0, 4, 0x68, 0xEE,
                 0x3C, 0x80])
AAC_SEQ = bytes([0xAF, 0, 0x12, 0x10])


def avc_frame(key: bool, size: int, fill: int = 0) -> bytes:
    return bytes([0x17 if key else 0x27, 1, 0, 0, 0]) + bytes([fill & 0xFF]) * size


def aac_frame(size: int = 200, fill: int = 0) -> bytes:
    return bytes([0xAF, 1]) + bytes([fill & 0xFF]) * size


def video(payload: bytes, ts: int, msid: int = 1) -> Message:
    return Message(9, payload, ts, msid, 6)


def audio(payload: bytes, ts: int, msid: int = 1) -> Message:
    return Message(8, payload, ts, msid, 4)


class RefServer(ServerProcess):
    """``python -m reference_server --listen 127.0.0.1:0 ...`` as a subprocess (:mod:`harness.peers`), started;
    its address from its ``listening`` line. Logs are JSON lines (``json_logs``) in ``log_path``; ``events()``
    parses them. Use as a context manager (stops it on exit)."""

    def __init__(self, *args: str, log_path: str | os.PathLike, timeout: float = 10.0, env: dict | None = None,
                 json_logs: bool = True) -> None:
        extra = ("--log-format", "json") if json_logs else ()
        kw = {"env": {**os.environ, **env}} if env else {}
        super().__init__(reference_server_command(*extra, *args), name="reference server", log=log_path,
                         start_timeout=timeout, **kw)
        self.log_path = str(log_path)
        self.start()

    def events(self, name: str | None = None) -> list[dict]:
        out = []
        with open(self.log_path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if name is None or rec.get("event") == name:
                    out.append(rec)
        return out

    def rss_kib(self) -> int:
        return (rss_tree(self.pid) or 0) // 1024
