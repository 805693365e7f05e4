"""Shared objects (RTMP 1.0 7.1.3, 7.3.2): Use answered with Use Success and Clear, a Request Change answered with
Success to the requester and Change to the other clients, SendMessage broadcast to every client (the sender
included), Request Remove turned into Remove, several events in one message, and the AMF3 form (type 16). A server
without shared objects (no answer to Use) is "unsupported"; one that answers is judged on what it answers."""

from __future__ import annotations

from rtmpspec import amf0, sharedobject
from rtmpspec.message_format import Message
from rtmpspec.messages import MessageType
from rtmpspec.sharedobject import EventType as E
from rtmpspec.sharedobject import Name as SharedObjectName
from rtmpspec.sharedobject import NameValue as SharedObjectProperty

from .case import Case, parametrize
from .driver import DriverError, StepTimeout
from .test_control import barrier
from .verdicts import Verdict, observed, unsupported

V = Verdict
SO0, SO3 = int(MessageType.SHARED_OBJECT_AMF0), int(MessageType.SHARED_OBJECT_AMF3)
SO_USE, SO_REQUEST_CHANGE, SO_CHANGE, SO_SUCCESS = E.Use, E.RequestChange, E.Change, E.Success
SO_SEND_MESSAGE, SO_CLEAR, SO_REMOVE, SO_REQUEST_REMOVE, SO_USE_SUCCESS = \
    E.SendMessage, E.Clear, E.Remove, E.RequestRemove, E.UseSuccess


def _events(s, name: str) -> list[tuple[int, bytes]]:
    """Every event of the shared object ``name`` the server sent on ``s`` (types 19 and 16), strictly decoded."""
    out = []
    for m in s.inbox:
        if m.type_id not in (SO0, SO3):
            continue
        try:
            so = sharedobject.parse(m.payload, amf3=m.type_id == SO3)
        except Exception as exc:  # noqa: BLE001 - judged by the caller
            raise DriverError(f"a shared object message does not decode (RTMP 1.0 7.1.3): {exc}") from None
        if so.name == name:
            out += list(so.events)
    return out


def _send(s, name: str, events: list[tuple[int, bytes]], amf3: bool = False) -> None:
    body = sharedobject.build(name, events, amf3=amf3)
    s.send(Message(SO3 if amf3 else SO0, body, 0, 0, 3), note=f"shared object {name!r}"
           + (" (AMF3 form)" if amf3 else ""))


def _use(ctx, s, name: str, amf3: bool = False):
    _send(s, name, [(SO_USE, b"")], amf3)
    try:
        s.wait_until(lambda: any(t == SO_USE_SUCCESS for t, _ in _events(s, name)), "Use Success",
                     timeout=min(0.5, ctx.step_timeout))
    except StepTimeout:
        unsupported("no Use Success for a shared object Use: the server has no shared objects")


def _prop(name: str, value) -> bytes:
    return SharedObjectProperty.build({"name": name, "value": amf0.encode(value)})


def observe_use(ctx):
    """Use of a shared object: the server answers Use Success (11) and Clear (8), in messages that decode."""
    s = ctx.connected()
    ctx.ready(s)
    name = f"so-{ctx.key()}"
    try:
        _use(ctx, s, name)
        types = [t for t, _ in _events(s, name)]
    except DriverError as exc:
        return observed("undecodable", str(exc))
    if SO_CLEAR not in types:
        return observed("no-clear", f"events {types}: Use Success without Clear")
    return observed("use-success-clear")


def observe_change(ctx, two_in_one: bool = False):
    """Two clients use one shared object; A sends Request Change x=1 (``two_in_one``: the Use and the Request
    Change in one message): A gets Success (5) for x, B gets Change (4) x=1, A gets no Change for its own request."""
    name = f"so-{ctx.key()}"
    a, b = ctx.connected("A"), ctx.connected("B")
    ctx.ready(a)
    _use(ctx, b, name)
    if two_in_one:
        _send(a, name, [(SO_USE, b""), (SO_REQUEST_CHANGE, _prop("x", 1.0))])
    else:
        _use(ctx, a, name)
        _send(a, name, [(SO_REQUEST_CHANGE, _prop("x", 1.0))])
    try:
        a.wait_until(lambda: any(t == SO_SUCCESS for t, _ in _events(a, name)), "Success for x")
        b.wait_until(lambda: any(t == SO_CHANGE for t, _ in _events(b, name)), "Change x=1")
    except StepTimeout as exc:
        return observed("missing", str(exc))
    except DriverError as exc:
        return observed("undecodable", str(exc))
    change = next(d for t, d in _events(b, name) if t == SO_CHANGE)
    prop = SharedObjectProperty.parse(change)
    if prop.name != "x" or amf0.decode(prop.value)[0] != 1.0:
        return observed("wrong", f"B got Change {prop.name}={prop.value!r}")
    ok = next(d for t, d in _events(a, name) if t == SO_SUCCESS)
    if SharedObjectName.parse(ok) != "x":
        return observed("wrong", f"A got Success for {SharedObjectName.parse(ok)!r}, not 'x'")
    if any(t == SO_CHANGE and SharedObjectProperty.parse(d).name == "x" for t, d in _events(a, name)):
        return observed("echoed", "A also got Change for its own request")
    return observed("synced")


def observe_send_message(ctx):
    """Two clients use one shared object; A sends SendMessage ('onHello', 'hi'): both A and B receive it."""
    name = f"so-{ctx.key()}"
    a, b = ctx.connected("A"), ctx.connected("B")
    _use(ctx, a, name)
    _use(ctx, b, name)
    msg = amf0.encode_all(["onHello", "hi"])
    _send(a, name, [(SO_SEND_MESSAGE, msg)])
    try:
        for s in (a, b):
            s.wait_until(lambda s=s: any(t == SO_SEND_MESSAGE and d == msg for t, d in _events(s, name)),
                         f"the SendMessage at {s.label}")
    except StepTimeout as exc:
        return observed("missing", str(exc))
    return observed("broadcast")


def observe_remove(ctx):
    """A and B use one shared object holding x; A sends Request Remove x: B gets Remove (9) x."""
    name = f"so-{ctx.key()}"
    a, b = ctx.connected("A"), ctx.connected("B")
    _use(ctx, a, name)
    _use(ctx, b, name)
    _send(a, name, [(SO_REQUEST_CHANGE, _prop("x", 1.0))])
    barrier(a, "after Request Change")
    _send(a, name, [(SO_REQUEST_REMOVE, SharedObjectName.build("x"))])
    try:
        b.wait_until(lambda: any(t == SO_REMOVE and SharedObjectName.parse(d) == "x" for t, d in _events(b, name)),
                     "Remove x")
    except StepTimeout as exc:
        return observed("missing", str(exc))
    return observed("removed")


def observe_amf3(ctx):
    """After objectEncoding 3, a Use in the AMF3 form (type 16: format selector 0, then the same body): answered
    with Use Success."""
    s = ctx.session()
    with ctx.setup("connect offering objectEncoding 3"):
        res = s.connect(object_encoding=3)
        if res.name != "_result":
            raise DriverError(f"connect answered {res.name}")
    if s.object_encoding != 3:
        unsupported("the server answered objectEncoding 0: no type 16 messages")
    ctx.ready(s)
    probe = ctx.connected("probe")
    _use(ctx, probe, f"so-{ctx.key('probe')}")  # unsupported unless the server has shared objects at all
    name = f"so-{ctx.key()}"
    _send(s, name, [(SO_USE, b"")], amf3=True)
    try:
        s.wait_until(lambda: any(t == SO_USE_SUCCESS for t, _ in _events(s, name)), "Use Success (AMF3 form)")
    except StepTimeout:
        return observed("ignored", "no Use Success for a type 16 Use")
    return observed("use-success")


_JUDGE = {"undecodable": V.FAIL, "missing": V.FAIL, "wrong": V.FAIL}

CASES = [
    Case("7.1.3-shared-object-use", "7.1.3-shared-object-sync", observe_use,
         accept={"use-success-clear": V.PASS, "no-clear": V.FAIL, **_JUDGE}),
    Case("7.1.3-shared-object-request-change", "7.1.3-shared-object-sync", observe_change,
         accept={"synced": V.PASS, "echoed": (V.FAIL, "the requester is told Success, not Change"), **_JUDGE}),
    Case("7.1.3-shared-object-two-events-in-one-message", "7.1.3-shared-object-sync", observe_change,
         {"two_in_one": True}, accept={"synced": V.PASS, "echoed": V.FAIL, **_JUDGE},
         doc="Use and Request Change in one shared object message: both events handled"),
    Case("7.1.3-shared-object-send-message", "7.1.3-shared-object-sync", observe_send_message,
         accept={"broadcast": V.PASS, **_JUDGE}),
    Case("7.1.3-shared-object-request-remove", "7.1.3-shared-object-sync", observe_remove,
         accept={"removed": V.PASS, **_JUDGE}),
    Case("7.1.3-shared-object-amf3-form", "7.1.3-shared-object-sync", observe_amf3,
         accept={"use-success": V.PASS, "ignored": V.FAIL}),
]


@parametrize(CASES)
def test_shared_objects(case, conformance):
    conformance.run(case)


__all__ = ["CASES"]
