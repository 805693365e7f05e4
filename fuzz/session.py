"""The session state machine: connect -> createStream -> publish / play, with steps out of order, repeated or
missing.

The model (:class:`Model`) knows what a spec-following client may send next. :func:`sessions` is a hypothesis
strategy that walks it: most steps are enabled ones (progress first), some are any action at all (out of order,
skipping a required step), some repeat the previous step. Every choice is a hypothesis draw, so the campaign
(through :class:`fuzz.draw.Drawer`) and a ``@given`` test explore the same space, and hypothesis can shrink a
failing sequence. :func:`build` turns steps into chunked bytes with a real :class:`ChunkWriter` (header
compression, chunk size changes the client announced). :class:`RTMPSessionMachine` is the same rules as a
hypothesis ``RuleBasedStateMachine`` that drives a live connection (see tests/test_fuzz_session.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from rtmpspec import craft
from rtmpspec import messages as m
from rtmpspec.chunkwriter import ChunkWriter
from rtmpspec.errors import LocalProtocolError
from rtmpspec.message_format import Message, MessageType

from .case import Part

__all__ = ["Model", "Step", "ACTIONS", "sessions", "build", "RTMPSessionMachine"]

KEYS = ("fuzz", "fuzz2", "", "a" * 300, "../etc/passwd", "key?token=1&x=%00", "\u00e9\u4e2d", "live/nested")
NUMBER_EDGES = (0.0, 1.0, -1.0, -2.0, 2.0, 3.0, 1e300, -1e300, math.inf, -math.inf, math.nan, 0.5, 2.0**31,
                2.0**32, 2.0**53, 65535.0, 65536.0, -0.0)


@dataclass
class Model:
    connected: bool = False
    streams: list[int] = field(default_factory=list)  # created message stream ids
    publishing: dict[int, str] = field(default_factory=dict)
    playing: dict[int, str] = field(default_factory=dict)
    next_sid: int = 1
    tid: int = 1
    chunk_size: int = 128
    app: str = "live"

    def free_streams(self) -> list[int]:
        return [s for s in self.streams if s not in self.publishing and s not in self.playing]


@dataclass
class Step:
    action: str
    args: dict[str, Any]
    valid: bool  # the model allowed it (an in-order step)

    def label(self) -> str:
        a = ", ".join(f"{k}={_short(v)}" for k, v in self.args.items() if k != "payload")
        return f"{self.action}({a}){'' if self.valid else ' [out of order]'}"


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 24 else r[:21] + "..."


# -- argument strategies -----------------------------------------------------------------------------------
def _key() -> st.SearchStrategy:
    return st.one_of(st.sampled_from(KEYS), st.text(max_size=12))


def _number() -> st.SearchStrategy:
    return st.one_of(st.sampled_from(NUMBER_EDGES), st.floats(allow_nan=True))


def _sid(model: Model) -> st.SearchStrategy:
    known = model.streams or [1]
    return st.one_of(st.sampled_from(known), st.sampled_from(known), st.sampled_from((0, 1, 2, 255, 0xFFFFFFFF)))


@dataclass(frozen=True)
class Action:
    name: str
    pre: Callable[[Model], bool]
    args: Callable[[Callable, Model], dict]
    effect: Callable[[Model, dict], None] = lambda model, a: None
    weight: int = 1  # weight among enabled actions (progress actions weigh more)


def _a_connect(draw, model):
    app = draw(st.one_of(st.just(model.app), st.just(model.app), st.just(model.app),
                         st.sampled_from(("", "nope", model.app + "/", model.app * 40)), st.text(max_size=8)))
    enc = draw(st.sampled_from((0.0, 0.0, 3.0, None, math.nan, 1e9)))
    return {"app": app, "objectEncoding": enc, "tid": draw(st.sampled_from((1.0, 1.0, 0.0, -1.0, math.nan)))}


def _e_connect(model, a):
    model.connected = True


def _a_create(draw, model):
    return {"tid": draw(st.sampled_from((2.0, 4.0, 0.0, 1.0, math.inf)))}


def _e_create(model, a):
    model.streams.append(model.next_sid)
    model.next_sid += 1


def _a_publish(draw, model):
    return {"sid": draw(_sid(model)), "key": draw(_key()),
            "kind": draw(st.sampled_from(("live", "live", "record", "append", "", "bogus")))}


def _e_publish(model, a):
    if a["sid"] in model.free_streams():
        model.publishing[a["sid"]] = a["key"]


def _a_play(draw, model):
    return {"sid": draw(_sid(model)), "key": draw(_key()), "start": draw(st.sampled_from((-2.0, -1.0, 0.0, 1e12))),
            "duration": draw(st.sampled_from((-1.0, 0.0, 5.0))), "reset": draw(st.sampled_from((None, True, False)))}


def _e_play(model, a):
    if a["sid"] in model.free_streams():
        model.playing[a["sid"]] = a["key"]


def _a_delete(draw, model):
    return {"sid": draw(_sid(model)), "on_msid": draw(st.sampled_from((0, 0, 1)))}


def _e_delete(model, a):
    sid = a["sid"]
    if sid in model.streams:
        model.streams.remove(sid)
    model.publishing.pop(sid, None)
    model.playing.pop(sid, None)


def _a_media(draw, model):
    sid = draw(_sid(model)) if not model.publishing else draw(st.sampled_from(sorted(model.publishing)))
    return {"sid": sid, "kind": draw(st.sampled_from(("video", "video", "audio", "audio", "data", "aggregate"))),
            "ts": draw(st.sampled_from((0, 40, 40, 80, 0xFFFFFF, 0xFFFFFFFF, 0x7FFFFFFF))),
            "payload": draw(st.integers(0, 1 << 16))}


def _a_key_cmd(draw, model):
    return {"key": draw(_key()), "tid": draw(_number())}


def _a_stream_cmd(draw, model):
    return {"sid": draw(_sid(model)), "flag": draw(st.booleans()), "ms": draw(_number())}


def _a_chunk_size(draw, model):
    return {"size": draw(st.sampled_from((1, 2, 127, 128, 129, 4096, 65536, 0xFFFFFF, 0x1000000, 0x7FFFFFFF,
                                          0x80000000, 0, 4096)))}


def _e_chunk_size(model, a):
    if 1 <= a["size"] <= 0x7FFFFFFF:
        model.chunk_size = a["size"]


def _a_control(draw, model):
    return {"type": draw(st.sampled_from((2, 3, 4, 5, 6))), "value": draw(st.sampled_from(
        (0, 1, 2, 3, 64, 2500000, 0xFFFFFFFF))), "event": draw(st.sampled_from((0, 1, 3, 6, 7, 31, 0xFFFF)))}


def _a_call(draw, model):
    return {"name": draw(st.one_of(st.sampled_from(("_checkbw", "onBWDone", "_result", "_error", "onStatus",
                                                     "close", "call", "connect", "@setDataFrame", "")),
                                   st.text(max_size=10))),
            "tid": draw(_number()), "args": draw(st.integers(0, 3))}


def _always(model):
    return True


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("connect", lambda s: not s.connected, _a_connect, _e_connect, weight=8),
    Action("createStream", lambda s: s.connected and len(s.streams) < 3, _a_create, _e_create, weight=6),
    Action("releaseStream", lambda s: s.connected, _a_key_cmd),
    Action("FCPublish", lambda s: s.connected, _a_key_cmd),
    Action("publish", lambda s: bool(s.free_streams()), _a_publish, _e_publish, weight=6),
    Action("play", lambda s: bool(s.free_streams()), _a_play, _e_play, weight=4),
    Action("media", lambda s: bool(s.publishing), _a_media, weight=8),
    Action("getStreamLength", lambda s: s.connected, _a_key_cmd),
    Action("FCSubscribe", lambda s: s.connected, _a_key_cmd),
    Action("receiveAudio", lambda s: bool(s.playing), _a_stream_cmd),
    Action("receiveVideo", lambda s: bool(s.playing), _a_stream_cmd),
    Action("pause", lambda s: bool(s.playing), _a_stream_cmd),
    Action("seek", lambda s: bool(s.playing), _a_stream_cmd),
    Action("FCUnpublish", lambda s: bool(s.publishing), _a_key_cmd),
    Action("closeStream", lambda s: bool(s.publishing or s.playing), _a_stream_cmd, _e_delete),
    Action("deleteStream", lambda s: bool(s.streams), _a_delete, _e_delete, weight=2),
    Action("setChunkSize", _always, _a_chunk_size, _e_chunk_size),
    Action("control", _always, _a_control),
    Action("call", lambda s: s.connected, _a_call),
)}
ALL_ACTIONS = tuple(ACTIONS)


@st.composite
def sessions(draw, max_steps: int = 12, model: Model | None = None) -> list[Step]:
    """A sequence of session steps: mostly in order, some out of order, repeated or skipped."""
    model = model or Model()
    steps: list[Step] = []
    n = draw(st.integers(1, max_steps))
    for _ in range(n):
        mode = draw(st.sampled_from(("valid", "valid", "valid", "valid", "valid", "any", "any", "repeat")))
        if mode == "repeat" and steps:
            name = steps[-1].action
        elif mode == "valid":
            enabled = [a for a in ALL_ACTIONS if ACTIONS[a].pre(model)]
            weighted = [a for a in enabled for _ in range(ACTIONS[a].weight)]
            name = draw(st.sampled_from(weighted)) if weighted else draw(st.sampled_from(ALL_ACTIONS))
        else:
            name = draw(st.sampled_from(ALL_ACTIONS))
        action = ACTIONS[name]
        args = action.args(draw, model)
        valid = action.pre(model)
        if valid:
            action.effect(model, args)
        steps.append(Step(name, args, valid))
    return steps


# -- bytes -------------------------------------------------------------------------------------------------
DEFAULT_MEDIA = {
    "video": (b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1\x00\x04\x67\x64\x00\x1f\x01\x00\x03\x68\xeb\xe3",
              b"\x17\x01\x00\x00\x00\x00\x00\x00\x05\x65\x88\x84\x00\x33", b"\x27\x01\x00\x00\x00\x00\x00\x00\x02\x41\x9a"),
    "audio": (b"\xaf\x00\x12\x10", b"\xaf\x01\x21\x00\x49\x90\x02\x19\x00\x23\x80"),
    "data": (m.encode_values(18, ["@setDataFrame", "onMetaData", {"width": 320.0, "height": 240.0}]),),
    "aggregate": (m.build_aggregate([m.SubMessage(9, 0, 0, b"\x17\x01\x00\x00\x00\x00")]),),
}
MEDIA_TYPES = {"video": 9, "audio": 8, "data": 18, "aggregate": 22}


def _command(step: Step, model: Model) -> m.Command:
    a = step.args
    n = step.action
    if n == "connect":
        obj = {"app": a["app"], "type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; fuzz)",
               "tcUrl": f"rtmp://127.0.0.1/{a['app']}"}
        if a["objectEncoding"] is not None:
            obj["objectEncoding"] = a["objectEncoding"]
        return m.Command("connect", a["tid"], obj)
    if n == "createStream":
        return m.Command("createStream", a["tid"], None)
    if n in ("releaseStream", "FCPublish", "FCUnpublish", "FCSubscribe", "getStreamLength"):
        return m.Command(n, a["tid"], None, (a["key"],))
    if n == "publish":
        return m.Command("publish", 0.0, None, (a["key"], a["kind"]), a["sid"])
    if n == "play":
        args: tuple = (a["key"], a["start"], a["duration"])
        if a["reset"] is not None:
            args += (a["reset"],)
        return m.Command("play", 0.0, None, args, a["sid"])
    if n in ("receiveAudio", "receiveVideo"):
        return m.Command(n, 0.0, None, (a["flag"],), a["sid"])
    if n == "pause":
        return m.Command("pause", 0.0, None, (a["flag"], a["ms"]), a["sid"])
    if n == "seek":
        return m.Command("seek", 0.0, None, (a["ms"],), a["sid"])
    if n == "closeStream":
        return m.Command("closeStream", 0.0, None, (), a["sid"])
    if n == "deleteStream":
        return m.Command("deleteStream", 0.0, None, (float(a["sid"]),), a["on_msid"] and a["sid"])
    if n == "call":
        args = tuple([1.0, "x", None, {"a": 1.0}][: a["args"]])
        return m.Command(a["name"], a["tid"], None, args)
    raise ValueError(n)


def build(steps: list[Step], *, media: Callable[[str, int], bytes] | None = None,
          chunk_size: int = 128) -> list[Part]:
    """Chunked bytes of each step, one :class:`Part` per step (after the handshake, which the caller adds)."""
    writer = ChunkWriter(chunk_size)
    model = Model()
    parts: list[Part] = []
    for step in steps:
        a = step.args
        try:
            if step.action == "setChunkSize":
                data = writer.write(Message(MessageType.SET_CHUNK_SIZE,
                                            craft.control_payload(MessageType.SET_CHUNK_SIZE, a["size"]), 0, 0, 2))
                if 1 <= a["size"] <= 0xFFFFFF:
                    writer.set_chunk_size(a["size"])
            elif step.action == "control":
                t = a["type"]
                data = writer.write(Message(t, craft.control_payload(t, a["value"], a["event"]), 0, 0, 2))
            elif step.action == "media":
                kind = a["kind"]
                if media is not None:
                    payload = media(kind, a["payload"])
                else:
                    choices = DEFAULT_MEDIA[kind]
                    payload = choices[a["payload"] % len(choices)]
                csid = {"video": 6, "audio": 4, "data": 5, "aggregate": 7}[kind]
                data = writer.write(Message(MEDIA_TYPES[kind], payload, a["ts"], a["sid"], csid))
            else:
                msg = step.__dict__.get("_msg")
                if msg is None:
                    msg = _command(step, model).to_message()
                    step.__dict__["_msg"] = msg
                data = writer.write(msg)
        except (LocalProtocolError, ValueError, OverflowError, TypeError) as exc:  # a step we cannot encode
            parts.append(Part(f"{step.label()} [not encodable: {type(exc).__name__}]", b""))
            continue
        parts.append(Part(step.label(), data))
    return [p for p in parts if p.data]


# -- hypothesis stateful testing against a live server -------------------------------------------------------
try:
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
except ImportError:  # pragma: no cover
    RuleBasedStateMachine = object  # type: ignore[assignment,misc]


class RTMPSessionMachine(RuleBasedStateMachine):
    """Hypothesis stateful test of a live server: every rule sends one step on a real connection (in order or
    not: rules have no preconditions beyond the socket being open); the invariant is that a fresh connection
    still completes handshake + connect. Set ``TARGET = (host, port)`` and ``APP`` before running it, e.g.
    ``run_state_machine_as_test(RTMPSessionMachine)``."""

    TARGET: tuple[str, int] = ("127.0.0.1", 1935)
    APP = "live"
    PROBE_TIMEOUT = 5.0

    def __init__(self) -> None:
        super().__init__()
        import random
        import socket

        self.model = Model(app=self.APP)
        self.writer = ChunkWriter()
        self.sock = socket.create_connection(self.TARGET, timeout=2)
        self.sock.sendall(craft.flight(random.Random(0), digest=False))
        self.open = True
        self.sent: list[Step] = []

    def _send(self, step: Step) -> None:
        if not self.open:
            return
        for part in build([step]):
            try:
                self.sock.sendall(part.data)
            except OSError:
                self.open = False
        self.sent.append(step)

    @initialize()
    def start(self) -> None:
        pass

    @rule(data=st.data(), name=st.sampled_from(ALL_ACTIONS))
    def step(self, data, name) -> None:
        action = ACTIONS[name]
        args = action.args(data.draw, self.model)
        valid = action.pre(self.model)
        if valid:
            action.effect(self.model, args)
        self._send(Step(name, args, valid))

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def in_order_step(self, data) -> None:
        enabled = [a for a in ALL_ACTIONS if ACTIONS[a].pre(self.model)]
        if not enabled:
            return
        name = data.draw(st.sampled_from(enabled))
        action = ACTIONS[name]
        args = action.args(data.draw, self.model)
        action.effect(self.model, args)
        self._send(Step(name, args, True))

    @invariant()
    def server_alive(self) -> None:
        if len(self.sent) % 4:
            return  # probe every 4 steps: a probe is a full handshake + connect
        from harness.health import probe

        res = probe(self.TARGET[0], self.TARGET[1], app=self.APP, timeout=self.PROBE_TIMEOUT)
        assert res.ok, f"server unhealthy after {[s.label() for s in self.sent]}: {res}"

    def teardown(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
