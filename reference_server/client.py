"""Asyncio RTMP client: a thin shell over the sans-I/O :class:`rtmpspec.connection.Connection` (no second parser).

Publish::

    async with RTMPClient(timeout=10) as c:
        await c.connect("rtmp://127.0.0.1/live/key", purpose="publish")
        await c.publish()                       # the key from the URL; StatusError on BadName etc.
        await c.send_metadata({"width": 320.0, "height": 240.0})
        await c.send_video(0, video_payload)    # FLV VIDEODATA bytes, timestamps in ms
        await c.send_audio(0, audio_payload)

Play::

    async with RTMPClient() as c:
        await c.connect("rtmp://127.0.0.1/live/key", purpose="play")
        await c.play()                          # StatusError on StreamNotFound / Failed
        async for ev in c:                      # events.Audio / events.Video / DataMessage
            ...
        print(c.end_reason)                     # "NetStream.Play.UnpublishNotify", "StreamEOF", "closed", ...

What the client does on its own (what ffmpeg does): the digest handshake, falling back to the spec echo when the
server's S1 has no digest as ffmpeg's client does (``handshake="digest-strict"`` insists, ``"plain"`` sends a
spec C1), ``connect`` with flashVer ``FMLE/3.0 (compatible; rtmpspec)`` when publishing and ``LNX 9,0,124,2`` when
playing (players also send fpad/capabilities/audioCodecs/videoCodecs/videoFunction like ffmpeg), Set Chunk Size
4096 after the connect ``_result``; the Connection answers Window Acknowledgement Size / Set Peer Bandwidth,
sends Acknowledgements and Ping Responses. ``publish`` sends releaseStream, FCPublish, createStream, publish and
waits for ``NetStream.Publish.Start``; ``play`` sends createStream, (getStreamLength), play and a Set Buffer
Length user control and waits for ``NetStream.Play.Start``. ``close`` sends FCUnpublish / deleteStream, half-closes
the TCP connection and waits briefly for the server to close its side, so no byte we sent is lost to a reset.
Every wait has a timeout (:class:`RTMPTimeout`).

URL rules (those of ffmpeg's rtmpproto.c, ``rtmp_open``), see :func:`parse_url`:

- ``rtmp://host[:port]/path``; the default port is 1935 for ``rtmp`` and 443 for ``rtmps`` (ffmpeg's defaults);
- one path segment (``/live``): app ``live``, no playpath;
- two segments (``/live/key``): app ``live``, playpath ``key``;
- three or more (``/app/inst/a/b``): app = the first TWO segments (``app/inst``, an application instance),
  playpath = the rest (``a/b``), unless a ``:`` comes before the second ``/`` after the app (``/vod/mp4:dir/f``:
  app ``vod``, playpath ``mp4:dir/f``);
- ``/ondemand/rest``: app ``ondemand``; ``?...slist=name``: app = path before ``?``, playpath = name;
- a playpath ending in ``.flv`` loses the suffix; one ending in ``.mp4``/``.f4v`` without a ``:`` gets ``mp4:``;
- a query string stays part of the last segment (``/live/key?token=1`` -> playpath ``key?token=1``);
- tcUrl = ``scheme://host:port/app`` (always with the port, like ffmpeg).

Leniency (``strict=False``, the default): rtmpspec's chunk reader and connection accept what deployed servers send
that a strict reading of the spec rejects:

- Type 3 continuation chunks without the extended timestamp that the message's first chunk carried (errata 5.1;
  older nginx-rtmp builds and librtmp-based servers);
- a chunk stream whose first chunk has a Type 1 header instead of Type 0 (RTMP 5.3.1.2.1);
- a new Type 0/1/2 header on a chunk stream whose previous message is incomplete: the partial message is dropped
  as if aborted (RTMP 5.3.1.2);
- protocol control messages on a message stream other than 0, Window Acknowledgement Size 0, Set Peer Bandwidth
  limit type > 2 (RTMP 5.4).

The client itself always takes media from any message stream: ffmpeg ``-listen 1`` and node-media-server send
player media on stream 0, not on the id createStream returned. nginx-rtmp 1.2.2 (Debian 12) passes the strict
reader in our interop runs (extended timestamps, late joiners, chunk size 4096); its behaviours the client
copes with are at the command level: it answers nothing to releaseStream/FCPublish/FCUnpublish/getStreamLength
(the client never waits for those), closes the TCP connection without a reply on an unknown app
(:class:`ConnectionLost`), and tells players only User Control Stream EOF when the publisher leaves (the
client ends the play on it: ``end_reason == "StreamEOF"``).

Errors: :class:`StatusError` (a ``_error`` or an onStatus with level ``error``: ``.code``, ``.description``),
:class:`RTMPTimeout`, :class:`ConnectionFailed` (TCP/TLS connect), :class:`ConnectionLost` (the server closed
the connection while we waited for something), :class:`rtmpspec.errors.ProtocolError` (the server broke the
protocol). All but the last derive from :class:`ClientError`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rtmpspec import events as E
from rtmpspec import media
from rtmpspec import messages as M
from rtmpspec.connection import Connection, Role
from rtmpspec.control import SET_BUFFER_LENGTH
from rtmpspec.message_format import Message
from rtmpspec.messages import Command, DataMessage, MessageType

from .client_errors import (
    END_OF_STREAM,
    PLAY_FAIL_CODES,
    PLAY_FLASH_VER,
    PUBLISH_FLASH_VER,
    ClientError,
    ConnectionFailed,
    ConnectionLost,
    RTMPTimeout,
    StatusError,
)
from .client_recv import Receiver
from .url import RTMPURL, parse_url

__all__ = [
    "RTMPClient", "RTMPURL", "parse_url", "ClientError", "StatusError", "RTMPTimeout", "ConnectionFailed",
    "ConnectionLost", "PUBLISH_FLASH_VER", "PLAY_FLASH_VER", "open_publisher", "open_player",
]

log = logging.getLogger("reference_server.client")

# "digest": digest C1, and the spec echo for a server whose S1 has no digest (ffmpeg -listen), like ffmpeg's
# publisher; "digest-strict": the S1 digest and the S2 signature are required; "plain": the spec handshake.
_HANDSHAKE_MODES = {"digest": "auto", "digest-strict": True, "plain": False}


@dataclass
class _Waiter:
    predicate: Callable[[Command], bool]
    future: asyncio.Future


class RTMPClient(Receiver):
    """One RTMP connection (NetConnection) with at most one publishing or playing stream in normal use.

    Parameters: ``timeout`` (seconds, default for every wait), ``handshake`` ("digest", "digest-strict" or
    "plain", see ``_HANDSHAKE_MODES``), ``strict``
    (False: tolerate the wire quirks listed in the module docstring), ``tls_insecure`` (rtmps without certificate
    checks), ``chunk_size`` (sent as Set Chunk Size after connect; None: keep 128), ``enhanced`` (add the
    E-RTMP fourCcList / FourCcInfoMaps / capsEx properties to connect), ``connect_extra`` (more connect
    properties), ``buffer_ms`` (Set Buffer Length sent after play), ``idle_timeout`` (default for :meth:`read`
    and ``async for``: seconds without any media before RTMPTimeout; None waits for ever), ``max_queue``
    (received media events held before the client stops reading the socket).
    """

    def __init__(self, *, timeout: float = 10.0, handshake: str = "digest", strict: bool = False,
                 tls_insecure: bool = False, ssl_context: ssl.SSLContext | None = None,
                 chunk_size: int | None = 4096, enhanced: bool = False, connect_extra: dict | None = None,
                 flash_ver: str | None = None, buffer_ms: int = 3000, idle_timeout: float | None = 60.0,
                 max_queue: int = 4096,
                 max_message_size: int = 0xFFFFFF) -> None:
        if handshake not in _HANDSHAKE_MODES:
            raise ValueError(f"handshake must be one of {', '.join(_HANDSHAKE_MODES)}")
        self.timeout = timeout
        self.handshake = handshake
        self.strict = strict
        self.tls_insecure = tls_insecure
        self.ssl_context = ssl_context
        self.chunk_size = chunk_size
        self.enhanced = enhanced
        self.connect_extra = dict(connect_extra or {})
        self.flash_ver = flash_ver
        self.buffer_ms = buffer_ms
        self.idle_timeout = idle_timeout
        self.max_queue = max_queue
        self.max_message_size = max_message_size

        self.url: RTMPURL | None = None
        self.conn: Connection | None = None
        self.handshake_info: E.HandshakeDone | None = None
        self.connect_result: Command | None = None  # the _result of connect
        self.server_caps = media.ErtmpCaps()  # E-RTMP v2: what the server declared in it
        self.statuses: list[dict] = []  # every onStatus info object received, in order
        self.stream_id: int | None = None  # of the publish / play stream
        self.publishing: str | None = None  # the key being published
        self.playing: str | None = None  # the key being played
        self.end_reason: str | None = None  # why a play ended (status code, "StreamEOF", "closed")
        self.error: BaseException | None = None  # what broke the connection, if anything
        self.reconnect_request: str | None = None  # E-RTMP v2: the tcUrl a ReconnectRequest asked for

        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self._tid = 1.0
        self._pending: dict[float, asyncio.Future] = {}
        self._unanswered: set[float] = set()  # fire-and-forget calls: their _result/_error is dropped
        self._waiters: list[_Waiter] = []
        self._handshake_done: asyncio.Future | None = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._drained = asyncio.Event()
        self._drained.set()
        self._ended = False
        self._eof = False  # the server closed its side
        self._closing = False
        self._closed = False
        self._streams: list[int] = []

    # -- context manager / iteration -----------------------------------------------------------------------
    async def __aenter__(self) -> RTMPClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __aiter__(self) -> RTMPClient:
        return self

    async def __anext__(self) -> Any:
        ev = await self.read()
        if ev is None:
            raise StopAsyncIteration
        return ev

    async def read(self, timeout: float | None = ...) -> Any:  # type: ignore[assignment]
        """The next received media event (``events.Audio``, ``events.Video``, ``DataMessage``) or None when the
        stream or the connection ended. Raises the connection's error (ProtocolError...) if it broke, and
        :class:`RTMPTimeout` when nothing arrives for ``timeout`` seconds (default ``idle_timeout``; None: wait
        for ever)."""
        if timeout is ...:
            timeout = self.idle_timeout
        if self._ended and self._queue.empty():
            return self._end_item()
        try:
            if timeout is None:
                item = await self._queue.get()
            else:
                item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            raise RTMPTimeout(f"no media for {timeout} s") from None
        if self._queue.qsize() <= self.max_queue // 2:
            self._drained.set()
        if item is END_OF_STREAM:
            self._queue.put_nowait(END_OF_STREAM)  # stay ended for later reads
            return self._end_item()
        return item

    def _end_item(self) -> None:
        if self.error is not None and not isinstance(self.error, ConnectionLost):
            raise self.error
        return None

    # -- connecting ----------------------------------------------------------------------------------------
    async def connect(self, url: str | RTMPURL, *, purpose: str = "publish", timeout: float | None = None,
                      retry_for: float = 0.0) -> Command:
        """TCP (TLS for rtmps), handshake, ``connect``; returns the ``_result``. ``purpose`` ("publish" or "play")
        picks flashVer and the connect properties like ffmpeg. ``retry_for``: keep retrying a refused TCP
        connection for that many seconds (a server still starting, ffmpeg ``-listen 1``)."""
        if purpose not in ("publish", "play"):
            raise ValueError("purpose must be 'publish' or 'play'")
        if self.conn is not None:
            raise ClientError("already connected")
        self.url = u = parse_url(url) if isinstance(url, str) else url
        timeout = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, retry_for)
        ssl_ctx = self._ssl() if u.tls else None
        while True:
            try:
                left = max(0.05, deadline - loop.time())
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(u.host, u.port, ssl=ssl_ctx,
                                            server_hostname=u.host if ssl_ctx else None,
                                            limit=1 << 20), min(timeout, left))
                break
            except TimeoutError:
                raise RTMPTimeout(f"TCP connect to {u.host}:{u.port} timed out") from None
            except (ConnectionRefusedError, ConnectionResetError) as exc:
                if loop.time() + 0.05 >= deadline or not retry_for:
                    raise ConnectionFailed(f"cannot connect to {u.host}:{u.port}: {exc}") from exc
                await asyncio.sleep(0.05)
            except (OSError, ssl.SSLError) as exc:
                raise ConnectionFailed(f"cannot connect to {u.host}:{u.port}: {exc}") from exc
        self.conn = Connection(Role.CLIENT, now=loop.time(), strict=self.strict,
                               digest=_HANDSHAKE_MODES[self.handshake], max_message_size=self.max_message_size)
        self._handshake_done = loop.create_future()
        self._flush()  # C0+C1
        self._task = asyncio.create_task(self._read_loop(), name=f"rtmp-client {u}")
        await self._wait(self._handshake_done, timeout, "handshake")
        log.debug("handshake done with %s:%s (%s)", u.host, u.port, self.handshake_info)

        obj_extra: dict[str, Any] = {}
        if purpose == "play":
            obj_extra.update(fpad=False, capabilities=15.0, audioCodecs=4071.0, videoCodecs=252.0,
                             videoFunction=1.0)
        if self.enhanced:
            obj_extra.update(media.connect_properties())
        obj_extra.update(self.connect_extra)
        flash_ver = self.flash_ver or (PUBLISH_FLASH_VER if purpose == "publish" else PLAY_FLASH_VER)
        cmd = M.connect(u.app, u.tc_url, transaction_id=self._next_tid(), flash_ver=flash_ver, extra=obj_extra,
                        object_encoding=None)
        if purpose == "play":  # ffmpeg sends "type": "nonprivate" only when publishing
            obj = dict(cmd.command_object)
            obj.pop("type", None)
            cmd = Command("connect", cmd.transaction_id, obj)
        result = await self._call(cmd, timeout, "connect")
        if result.name == "_error":
            raise StatusError.from_command(result, "connect")
        self.connect_result = result
        # E-RTMP v2: what the server declares in its _result (FourCC info maps, capsEx); both directions
        props = M.plain(result.command_object)
        info = next((M.plain(a) for a in result.args if isinstance(M.plain(a), dict)), {})
        self.server_caps = media.parse_connect_caps({**(info if isinstance(info, dict) else {}),
                                                     **(props if isinstance(props, dict) else {})})
        if self.server_caps.enhanced:
            log.debug("the server declares E-RTMP capabilities: %s", self.server_caps.__json__())
        if self.chunk_size:
            self._send(E.SetChunkSize(self.chunk_size))
        await self._drain()
        return result

    def _ssl(self) -> ssl.SSLContext:
        if self.ssl_context is not None:
            return self.ssl_context
        ctx = ssl.create_default_context()
        if self.tls_insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    # -- commands --------------------------------------------------------------------------------------------
    async def call(self, name: str, *args: Any, command_object: Any = None, timeout: float | None = None) -> Command:
        """A remote procedure call on the NetConnection; returns the ``_result`` (StatusError on ``_error``)."""
        result = await self._call(Command(name, self._next_tid(), command_object, args), timeout, name)
        if result.name == "_error":
            raise StatusError.from_command(result, name)
        return result

    async def create_stream(self, timeout: float | None = None) -> int:
        result = await self._call(M.create_stream(self._next_tid()), timeout, "createStream")
        if result.name == "_error":
            raise StatusError.from_command(result, "createStream")
        for v in (*result.args, result.command_object):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                sid = int(v)
                self._streams.append(sid)
                return sid
        raise StatusError(None, f"createStream _result without a stream id: {result.values()!r}",
                          command=result, what="createStream")

    async def publish(self, key: str | None = None, kind: str = "live", *, timeout: float | None = None) -> int:
        """releaseStream, FCPublish, createStream, publish; waits for ``NetStream.Publish.Start`` and returns the
        message stream id. StatusError carries the server's code (``NetStream.Publish.BadName``...)."""
        self._require_connected()
        key = self.url.playpath if key is None else key
        self._send(M.release_stream(key, self._forget_tid()))
        self._send(M.fc_publish(key, self._forget_tid()))
        sid = await self.create_stream(timeout)
        waiter = self._status_waiter(sid, "NetStream.Publish.Start", ("NetStream.Publish.",))
        self._send(M.publish(key, kind, msid=sid))
        await self._drain()
        status = await self._wait(waiter, timeout, f"publish {key!r}")
        self._check_status(status, "NetStream.Publish.Start", f"publish {key!r}")
        self.stream_id, self.publishing = sid, key
        return sid

    async def play(self, key: str | None = None, start: float = -2, duration: float = -1, *,
                   reset: bool | None = None, get_stream_length: bool = False,
                   timeout: float | None = None) -> int:
        """createStream, (getStreamLength), play, Set Buffer Length; waits for ``NetStream.Play.Start`` and returns
        the message stream id. Media then comes from ``async for ev in client`` / :meth:`read`."""
        self._require_connected()
        key = self.url.playpath if key is None else key
        sid = await self.create_stream(timeout)
        if get_stream_length:  # like ffmpeg; servers that do not answer it (nginx-rtmp) are fine
            self._send(M.get_stream_length(key, self._forget_tid(), msid=sid))
        waiter = self._status_waiter(sid, "NetStream.Play.Start", ())
        self.playing = key
        self.stream_id = sid
        self._send(M.play(key, start, duration, reset, msid=sid))
        self._send(E.UserControl(SET_BUFFER_LENGTH, stream_id=sid, buffer_length=self.buffer_ms))
        await self._drain()
        try:
            status = await self._wait(waiter, timeout, f"play {key!r}")
            self._check_status(status, "NetStream.Play.Start", f"play {key!r}")
        except BaseException:
            self.playing = None
            raise
        return sid

    # -- media out -------------------------------------------------------------------------------------------
    async def send_metadata(self, metadata: dict, *, timestamp: int = 0) -> None:
        """``@setDataFrame onMetaData {...}`` on the publishing stream."""
        self._require_publishing()
        self._send(DataMessage(("@setDataFrame", "onMetaData", metadata), self.stream_id, timestamp))
        await self._drain()

    async def send_data(self, values: tuple | list, *, timestamp: int = 0) -> None:
        """Any data message (AMF0 values) on the publishing stream, e.g. ``("onTextData", {...})``."""
        self._require_publishing()
        self._send(DataMessage(tuple(values), self.stream_id, timestamp))
        await self._drain()

    async def send_audio(self, timestamp: int, payload: bytes) -> None:
        self._require_publishing()
        self._send(Message(MessageType.AUDIO, payload, timestamp & 0xFFFFFFFF, self.stream_id, M.CSID_AUDIO))
        await self._drain()

    async def send_video(self, timestamp: int, payload: bytes) -> None:
        self._require_publishing()
        self._send(Message(MessageType.VIDEO, payload, timestamp & 0xFFFFFFFF, self.stream_id, M.CSID_VIDEO))
        await self._drain()

    # -- closing ---------------------------------------------------------------------------------------------
    async def close(self, timeout: float | None = None) -> None:
        """FCUnpublish (when publishing) and deleteStream for every stream, then an orderly TCP close: half-close,
        wait up to ``min(timeout, 2)`` s for the server to close its side, close."""
        if self._closed:
            return
        self._closed = True
        self._closing = True
        self._drained.set()
        timeout = self.timeout if timeout is None else timeout
        w = self._writer
        try:
            if w is not None and not self._eof and self.conn is not None and self.error is None:
                try:
                    if self.publishing is not None:
                        self._send(M.fc_unpublish(self.publishing, self._forget_tid()))
                    for sid in self._streams:
                        self._send(M.delete_stream(sid))
                    await asyncio.wait_for(w.drain(), timeout)
                except Exception as exc:  # noqa: BLE001 - closing: report, carry on
                    log.debug("close: could not say goodbye: %r", exc)
                if w.can_write_eof() and not w.is_closing():
                    try:
                        w.write_eof()
                        if self._task is not None:
                            await asyncio.wait_for(asyncio.shield(self._task), min(timeout, 2.0))
                    except (TimeoutError, OSError, RuntimeError):
                        pass
        finally:
            if w is not None:
                w.close()
                try:
                    await asyncio.wait_for(w.wait_closed(), min(timeout, 2.0))
                except (TimeoutError, OSError, ssl.SSLError):
                    pass
            if self._task is not None and not self._task.done():
                self._task.cancel()
                try:
                    await self._task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass
            self._finish("closed", None)

    # -- internals -------------------------------------------------------------------------------------------
    def _next_tid(self) -> float:
        tid = self._tid
        self._tid += 1
        return tid

    def _forget_tid(self) -> float:
        """A transaction id whose answer nobody waits for (servers differ: ignore, _result, _error)."""
        tid = self._next_tid()
        self._unanswered.add(tid)
        return tid

    def _require_connected(self) -> None:
        if self.connect_result is None:
            raise ClientError("not connected: call connect() first")
        if self.error is not None:
            raise self.error
        if self._eof:
            raise ConnectionLost("the server closed the connection")

    def _require_publishing(self) -> None:
        if self.publishing is None:
            raise ClientError("not publishing: call publish() first")
        if self.error is not None:
            raise self.error
        if self._eof:
            raise ConnectionLost("the server closed the connection")

    def _write(self, data: bytes) -> None:
        if data and self._writer is not None:
            if self._writer.is_closing():
                raise ConnectionLost("the connection is closed")
            self._writer.write(data)

    def _send(self, ev: Any) -> None:
        self._write(self.conn.send(ev))

    def _flush(self) -> None:
        self._write(self.conn.data_to_send())

    async def _drain(self) -> None:
        if self._writer is None:
            return
        try:
            await asyncio.wait_for(self._writer.drain(), self.timeout)
        except TimeoutError:
            raise RTMPTimeout(f"the server did not read what we sent for {self.timeout} s") from None
        except (ConnectionError, OSError) as exc:
            raise ConnectionLost(f"connection lost while sending: {exc}") from exc

    async def _wait(self, fut: asyncio.Future, timeout: float | None, what: str) -> Any:
        timeout = self.timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            fut.cancel()
            raise RTMPTimeout(f"{what}: no answer within {timeout} s") from None

    async def _call(self, cmd: Command, timeout: float | None, what: str) -> Command:
        fut = asyncio.get_running_loop().create_future()
        self._pending[cmd.transaction_id] = fut
        try:
            self._send(cmd)
            await self._drain()
            return await self._wait(fut, timeout, what)
        finally:
            self._pending.pop(cmd.transaction_id, None)

    def _status_waiter(self, sid: int, success: str, prefixes: tuple[str, ...]) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()

        def match(cmd: Command) -> bool:
            if cmd.msid not in (sid, 0):
                return False
            if cmd.name == "_error":
                return True
            code = cmd.code or ""
            level = (cmd.status or {}).get("level")
            return (code == success or level == "error" or code in PLAY_FAIL_CODES
                    or (bool(prefixes) and code.startswith(prefixes) and code.endswith(
                        ("BadName", "Denied", "Failed", "Rejected", "Forbidden"))))

        self._waiters.append(_Waiter(match, fut))
        return fut

    @staticmethod
    def _check_status(status: Command, success: str, what: str) -> None:
        if status.name == "onStatus" and status.code == success:
            return
        raise StatusError.from_command(status, what)


async def open_publisher(url: str, *, key: str | None = None, kind: str = "live", **kw: Any) -> RTMPClient:
    """A connected client already publishing ``url`` (or ``key``); close it with ``await client.close()``."""
    c = RTMPClient(**kw)
    try:
        await c.connect(url, purpose="publish")
        await c.publish(key, kind)
    except BaseException:
        await c.close()
        raise
    return c


async def open_player(url: str, *, key: str | None = None, start: float = -2, retry_for: float = 0.0,
                      **kw: Any) -> RTMPClient:
    """A connected client already playing ``url`` (or ``key``)."""
    c = RTMPClient(**kw)
    try:
        await c.connect(url, purpose="play", retry_for=retry_for)
        await c.play(key, start)
    except BaseException:
        await c.close()
        raise
    return c
