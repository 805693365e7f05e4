"""The RTMP commands of the battery's driver: :class:`Commands`, mixed into :class:`conformance.driver.Session`.

``connect`` (its ``_result`` kept, objectEncoding 3 noted once both sides agree: errata 8.1.1), ``connected``
(handshake + connect), ``createStream`` (the stream ids kept), ``publish`` and ``play`` (their onStatus or
``_error`` awaited), media on the stream they use, and the waits for a status. Everything goes through the
session's public methods and attributes (``send_cmd``, ``send``, ``expect``, ``next_tid``, ``handshake``;
``target``, ``inbox``, ``stream_ids``, ``connect_result``, ``object_encoding``), bounded by its step timeout like
every wait of the driver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rtmpspec import messages
from rtmpspec.message_format import MEDIA_TYPES, Message, MessageType
from rtmpspec.messages import Command

from .wire import DriverError, Inbound, is_command


class Commands:
    """connect, createStream, publish, play and what waits for their answers, for a
    :class:`conformance.driver.Session` (which this is mixed into)."""

    def connect(self, app: str | None = None, *, tc_url: str | None = None, object_encoding: float | None = 0,
                extra: dict | None = None, command_object: Any = ..., tid: float = 1, amf3: bool = False,
                expect: bool = True) -> Inbound | None:
        """Send connect; return the _result/_error with the same transaction id (or raise)."""
        app = self.target.app if app is None else app
        if command_object is ...:
            cmd = messages.connect(app, tc_url or self.target.tc_url(app), transaction_id=tid,
                                   object_encoding=object_encoding, extra=extra)
        else:
            cmd = Command("connect", tid, command_object)
        if amf3:
            cmd = Command(cmd.name, cmd.transaction_id, cmd.command_object, cmd.args, amf3=True)
        self.send_cmd(cmd)
        if not expect:
            return None
        res = self.expect(is_command(("_result", "_error"), tid=tid), f"_result/_error for connect (tid {tid:g})")
        self.connect_result = res
        if object_encoding == 3 and res.name == "_result" and result_object_encoding(res) == 3:
            self.object_encoding = 3
        return res

    def connected(self, app: str | None = None, **kw: Any) -> Inbound:
        """Handshake (if needed) + connect; raise DriverError unless the answer is _result."""
        if self.sock is None:
            self.open()
        if not self.hs_done:
            self.handshake()
        res = self.connect(app, **kw)
        if res.name != "_result":
            raise DriverError(f"connect answered with {res.name} {res.code or ''}".strip())
        return res

    def create_stream(self) -> int:
        tid = self.next_tid()
        self.send_cmd(messages.create_stream(tid))
        res = self.expect(is_command(("_result", "_error"), tid=tid), f"_result for createStream (tid {tid:g})")
        if res.name != "_result":
            raise DriverError(f"createStream answered with {res.name} {res.code or ''}")
        c = res.command
        sid = next((a for a in c.args if isinstance(a, (int, float)) and not isinstance(a, bool)), None)
        if sid is None:
            raise DriverError(f"createStream _result carries no stream id: {c.args!r}")
        self.stream_ids.append(int(sid))
        return int(sid)

    def publish(self, key: str, kind: str = "live", msid: int | None = None,
                wait: bool = True) -> Inbound | None:
        msid = self.stream_ids[-1] if msid is None else msid
        self.send_cmd(messages.publish(key, kind, msid=msid), csid=messages.CSID_DATA)
        if not wait:
            return None
        return self.expect(_status_or_error("NetStream.Publish"),
                           f"onStatus NetStream.Publish.* for {key!r}")

    def play(self, key: str, msid: int | None = None, start: float = -2, wait: bool = True,
             csid: int = 8) -> Inbound | None:
        msid = self.stream_ids[-1] if msid is None else msid
        self.send_cmd(messages.play(key, start, msid=msid), csid=csid)
        if not wait:
            return None
        return self.expect(_status_or_error("NetStream.Play.Start", "NetStream.Play.StreamNotFound",
                                            "NetStream.Play.Failed", "NetStream.Play.BadName"),
                           f"onStatus NetStream.Play.Start for {key!r}")

    def send_media(self, type_id: int, payload: bytes, timestamp: int, msid: int | None = None,
                   csid: int | None = None, fmt: int | None = None) -> None:
        msid = self.stream_ids[-1] if msid is None else msid
        if csid is None:
            csid = messages.CSID_VIDEO if type_id == MessageType.VIDEO else messages.CSID_AUDIO
        self.send(Message(type_id, payload, timestamp, msid, csid), fmt=fmt)

    def expect_status(self, prefixes: tuple[str, ...], what: str, timeout: float | None = None) -> Inbound:
        """The next ``_error``, or ``onStatus`` whose code starts with one of ``prefixes``."""
        def pred(m: Inbound) -> bool:
            c = m.command
            if c is None:
                return False
            if c.name == "_error":
                return True
            return c.name == "onStatus" and any((c.code or "").startswith(p) for p in prefixes)

        return self.expect(pred, what, timeout)

    def media_received(self, msid: int | None = None) -> list[Inbound]:
        return [m for m in self.inbox if m.type_id in MEDIA_TYPES and (msid is None or m.msid == msid)]


def result_object_encoding(res: Inbound) -> Any:
    """objectEncoding of a connect _result: in the information object or, as some servers put it, in the
    properties."""
    c = res.command
    info = next((v for v in c.args if isinstance(v, dict)), {})
    props = c.command_object if isinstance(c.command_object, dict) else {}
    return info.get("objectEncoding", props.get("objectEncoding"))


def _status_or_error(*prefixes: str) -> Callable[[Inbound], bool]:
    def pred(m: Inbound) -> bool:
        c = m.command
        if c is None:
            return False
        if c.name == "_error":
            return True
        if c.name != "onStatus":
            return False
        code = c.code or ""
        return any(code.startswith(p) for p in prefixes) or (c.status or {}).get("level") == "error"

    return pred
