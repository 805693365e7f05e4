"""Scripted server behaviour: what the battery answers to a client, with the knobs the scenarios turn.

The default behaviour is that of a plain live server (as nginx-rtmp answers, but at the default chunk size 128):
after ``connect``, Window Acknowledgement Size, Set Peer Bandwidth (dynamic), then ``_result``
(NetConnection.Connect.Success); ``releaseStream`` / ``FCPublish`` / ``FCUnpublish`` / other calls with a
transaction id get a ``_result``; ``createStream`` gets stream id 1; ``publish`` gets Stream Begin and
``NetStream.Publish.Start``; ``play`` gets Stream Begin, ``NetStream.Play.Reset`` and ``NetStream.Play.Start``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rtmpspec import control, events, messages
from rtmpspec.message_format import Message
from rtmpspec.messages import Command

from ..wire import Inbound
from .stage import Peer

COMMAND_CSID = 3


@dataclass
class Behaviour:
    window: int = 5_000_000  # Window Acknowledgement Size sent after connect (RTMP 5.4.4)
    peer_bandwidth: int = 5_000_000  # Set Peer Bandwidth, limit type dynamic (RTMP 5.4.5)
    # Set Chunk Size sent before the connect _result. None (the default): stay at 128, so that a client that
    # mishandles Set Chunk Size fails the cases about it (client-5.4.1-set-chunk-size), not every case
    chunk_size: int | None = None
    reply_csid: int = COMMAND_CSID  # chunk stream of our answers (2- and 3-byte basic header ids: 64+, 320+)
    reply_timestamp: int = 0  # timestamp of our answers (>= 0xFFFFFF: extended timestamps)
    stream_id: int = 1  # what createStream returns
    publish_answer: str = "start"  # start | badname | error | close
    connect_extra: dict = field(default_factory=dict)  # more properties in the connect _result
    result_padding: int = 0  # bytes of padding in the connect _result info object (a message > the chunk size)
    publish_delay: float = 0.0  # seconds between publish and its answer (media before the answer shows)


class Script:
    """Answers a client's commands on one :class:`Peer` until a ``publish`` or ``play`` arrives."""

    def __init__(self, peer: Peer, behaviour: Behaviour | None = None) -> None:
        self.peer = peer
        self.b = behaviour or Behaviour()
        self.connect: Inbound | None = None
        self.create_stream: Inbound | None = None
        self.started: Inbound | None = None  # the publish or play command
        self.answered_at: float | None = None  # when the publish answer went out
        self.handlers: dict[str, Callable[[Inbound], None]] = {}

    # -- sending ---------------------------------------------------------------------------------------------
    def reply(self, cmd: Command, note: str = "") -> None:
        b = self.b
        cmd = Command(cmd.name, cmd.transaction_id, cmd.command_object, cmd.args, cmd.msid,
                      b.reply_timestamp, cmd.amf3)
        self.peer.command(cmd, b.reply_csid, note=note)

    def status(self, code: str, description: str = "", *, level: str = "status", msid: int | None = None,
               extra: dict | None = None) -> None:
        self.reply(messages.on_status(code, description, level=level,
                                      msid=self.b.stream_id if msid is None else msid, extra=extra))

    def user_control(self, event: int, stream_id: int) -> None:
        self.peer.send(events.UserControl(event, stream_id=stream_id))

    # -- the dance ---------------------------------------------------------------------------------------------
    def accept_connect(self, timeout: float) -> Inbound:
        p, b = self.peer, self.b
        p.handshake(timeout)
        c = p.expect(lambda m: m.name == "connect", "connect command", timeout)
        self.connect = c
        p.send(events.WindowAckSize(b.window))
        p.send(events.SetPeerBandwidth(b.peer_bandwidth, 2))
        if b.chunk_size is not None:
            p.set_chunk_size(b.chunk_size)
        props = {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0, **b.connect_extra}
        obj = c.command.command_object if isinstance(c.command.command_object, dict) else {}
        info = {"level": "status", "code": "NetConnection.Connect.Success", "description": "Connection succeeded.",
                "objectEncoding": float(obj.get("objectEncoding", 0) or 0)}
        if b.result_padding:
            info["padding"] = "p" * b.result_padding
        self.reply(messages.result(c.command.transaction_id, props, info), "connect _result")
        return c

    def serve_until_start(self, timeout: float, *, wanted: tuple[str, ...] = ("publish", "play")) -> Inbound:
        """Answer commands until one of ``wanted`` arrives (answered too); returns it."""
        while True:
            m = self.peer.expect(lambda m: m.command is not None, f"one of {', '.join(wanted)}", timeout)
            name = m.name
            if name in self.handlers:
                self.handlers[name](m)
            else:
                self.default(m)
            if name in wanted:
                self.started = m
                return m

    def default(self, m: Inbound) -> None:
        c = m.command
        name, tid = c.name, c.transaction_id
        if name == "createStream":
            self.create_stream = m
            self.reply(messages.result(tid, None, float(self.b.stream_id)), "createStream _result")
        elif name == "publish":
            self.answer_publish(m)
        elif name == "play":
            self.answer_play(m)
        elif name in ("_result", "_error", "onStatus", "_checkbw", "deleteStream", "closeStream", "FCUnpublish",
                      "@setDataFrame") or not tid:
            if name == "FCUnpublish" and tid:
                self.reply(messages.result(tid, None, None))
        else:
            self.reply(messages.result(tid, None, None), f"_result to {name}")

    def answer_publish(self, m: Inbound) -> None:
        b = self.b
        key = _first_str(m.command.args)
        if b.publish_delay:
            self.peer.drain(b.publish_delay, b.publish_delay)
        self.answered_at = time.monotonic()
        if b.publish_answer == "start":
            self.user_control(control.STREAM_BEGIN, b.stream_id)
            self.status("NetStream.Publish.Start", f"{key} is now published.", extra={"details": key})
        elif b.publish_answer == "badname":
            self.status("NetStream.Publish.BadName", f"{key} is already published.", level="error")
        elif b.publish_answer == "error":
            tid = m.command.transaction_id
            self.reply(messages.error(tid, "NetStream.Publish.Rejected", f"publishing {key} is not allowed",
                                      msid=b.stream_id))
        elif b.publish_answer == "close":
            self.peer.close()

    def answer_play(self, m: Inbound) -> None:
        b = self.b
        key = _first_str(m.command.args)
        self.user_control(control.STREAM_BEGIN, b.stream_id)
        self.status("NetStream.Play.Reset", f"Playing and resetting {key}.")
        self.status("NetStream.Play.Start", f"Started playing {key}.")

    # -- media -------------------------------------------------------------------------------------------------
    def media_message(self, type_id: int, payload: bytes, timestamp: int, csid: int | None = None) -> Message:
        csid = csid or (messages.CSID_VIDEO if type_id == 9 else messages.CSID_AUDIO)
        return Message(type_id, payload, timestamp, self.b.stream_id, csid)


def _first_str(args: tuple) -> str:
    return next((a for a in args if isinstance(a, str)), "")


def reply_to(m: Inbound) -> Any:
    return m.command.transaction_id if m.command else None
