"""The receiving half of :class:`reference_server.client.RTMPClient`: the reader task and the dispatch of events
(a mixin, to keep the client module small; the handshake is the Connection's)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from rtmpspec import events as E
from rtmpspec import messages as M
from rtmpspec.control import STREAM_EOF
from rtmpspec.errors import ProtocolError
from rtmpspec.messages import Command, DataMessage, MessageType
from rtmpspec.sentinels import NEED_DATA

from .client_errors import END_OF_STREAM, PLAY_END_CODES, RECONNECT_REQUEST, ConnectionLost
from .url import resolve_tc_url

log = logging.getLogger("reference_server.client")


class Receiver:
    """The receiving half of :class:`reference_server.client.RTMPClient` (a mixin): the reader task and the
    dispatch of events."""

    # the reader task ------------------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        reason, error = "closed", None
        try:
            while True:
                try:
                    data = await self._reader.read(1 << 16)
                except (ConnectionError, OSError, ssl.SSLError) as exc:
                    if self._closing:
                        data = b""
                    else:
                        raise ConnectionLost(f"connection lost: {exc}") from exc
                if not data and self.handshake_info is None:
                    raise ConnectionLost("the server closed the connection during the handshake")
                self.conn.receive_data(data, loop.time())
                while (ev := self.conn.next_event()) is not NEED_DATA:
                    if self._handle(ev) and not self._closing and self._queue.qsize() >= self.max_queue:
                        self._drained.clear()
                        await self._drained.wait()
                self._flush()
                if not data:
                    self._eof = True
                    break
        except asyncio.CancelledError:
            raise
        except ProtocolError as exc:
            log.warning("protocol error from the server: %s", exc)
            reason, error = "protocol error", exc
        except ConnectionLost as exc:
            reason, error = "connection lost", exc
        except Exception as exc:  # noqa: BLE001 - a bug or an unexpected OS error: surface it to the waiters
            log.exception("client reader failed")
            reason, error = "error", exc
        finally:
            self._eof = True
            self._finish(reason, error)

    def _handle(self, ev: E.Event) -> bool:
        """Apply one event; True when a media event was queued."""
        if isinstance(ev, (E.Audio, E.Video, E.Aggregate, DataMessage)):
            return self._media(ev)
        if isinstance(ev, E.HandshakeDone):
            self.handshake_info = ev
            if self._handshake_done is not None and not self._handshake_done.done():
                self._handshake_done.set_result(ev)
        elif isinstance(ev, Command):
            self._command(ev)
        elif isinstance(ev, E.UserControl):
            if ev.event_type == STREAM_EOF and self.playing is not None and ev.stream_id in (self.stream_id, 0):
                self._end_play("StreamEOF")
        elif isinstance(ev, E.ConnectionClosed):
            log.debug("server closed the connection (clean=%s)", ev.clean)
        return False

    def _command(self, cmd: Command) -> None:
        if cmd.name in ("_result", "_error"):
            fut = self._pending.pop(cmd.transaction_id, None)
            if fut is not None:
                if not fut.done():
                    fut.set_result(cmd)
                return
            if cmd.transaction_id in self._unanswered:
                self._unanswered.discard(cmd.transaction_id)
                log.debug("%s to a fire-and-forget call: %s", cmd.name, cmd.status)
            elif cmd.name == "_error":
                self._status(cmd)
            return
        if cmd.name == "onStatus":
            if isinstance(cmd.status, dict):
                self.statuses.append(cmd.status)
            log.debug("onStatus %s", cmd.status)
            if cmd.code == RECONNECT_REQUEST and self.url is not None:
                # E-RTMP v2 Reconnect Request: the application reconnects at the next media boundary
                ref = (cmd.status or {}).get("tcUrl")
                self.reconnect_request = resolve_tc_url(self.url.tc_url, ref if isinstance(ref, str) else None)
                log.info("the server asks to reconnect to %s", self.reconnect_request)
                return
            self._status(cmd)
            if self.playing is not None and cmd.code in PLAY_END_CODES:
                self._end_play(cmd.code)
            return
        if cmd.name == "close":
            self._end_play("close")
            return
        log.debug("ignoring server command %r", cmd.name)  # onBWDone, onFCPublish, _onbwcheck, ...

    def _status(self, cmd: Command) -> None:
        for w in list(self._waiters):
            if w.future.done():
                self._waiters.remove(w)
            elif w.predicate(cmd):
                self._waiters.remove(w)
                w.future.set_result(cmd)

    def _media(self, ev: Any) -> bool:
        if self.playing is None or self._ended or self._closing:
            return False
        if isinstance(ev, DataMessage) and ev.name == "onPlayStatus":
            info = ev.values[1] if len(ev.values) > 1 and isinstance(ev.values[1], dict) else {}
            if info.get("code") in PLAY_END_CODES:
                self._end_play(info["code"])
            return False
        if isinstance(ev, E.Aggregate):
            try:
                subs = M.split_aggregate(ev.message)
            except ProtocolError as exc:
                log.warning("dropping an aggregate message that does not split: %s", exc)
                return False
            for sub in subs:
                if sub.type_id == MessageType.AUDIO:
                    self._queue.put_nowait(E.Audio(sub))
                elif sub.type_id == MessageType.VIDEO:
                    self._queue.put_nowait(E.Video(sub))
                elif sub.type_id in (MessageType.DATA_AMF0, MessageType.DATA_AMF3):
                    self._queue.put_nowait(DataMessage.from_message(sub))
            return bool(subs)
        self._queue.put_nowait(ev)
        return True

    def _end_play(self, reason: str) -> None:
        if not self._ended:
            log.debug("stream ended: %s", reason)
            self.end_reason = reason
            self._ended = True
            self._queue.put_nowait(END_OF_STREAM)
            self._drained.set()

    def _finish(self, reason: str, error: BaseException | None) -> None:
        if error is not None and self.error is None:
            self.error = error
        failure = error or ConnectionLost(f"connection {reason} before the answer came")
        for fut in [*self._pending.values(), *(w.future for w in self._waiters)]:
            if not fut.done():
                fut.set_exception(failure)
        if self._handshake_done is not None and not self._handshake_done.done():
            self._handshake_done.set_exception(failure)
        self._pending.clear()
        self._waiters.clear()
        if not self._ended:
            self.end_reason = self.end_reason or reason
            self._ended = True
            self._queue.put_nowait(END_OF_STREAM)
        self._drained.set()
