"""NetConnection command cases (RTMP 1.0 7.2.1 and 7.2, errata 7.2 and 8.1): connect (its result, properties and
user arguments, unknown or missing app and tcUrl, a second connect), objectEncoding and Type 17 (AMF3) commands,
transaction ids, createStream, call, unknown commands and commands before connect.

Where RTMP 1.0 is silent the expected behaviour is what ffmpeg / nginx-rtmp / FMS do, and the case says so.
"""

from __future__ import annotations

import uuid

from rtmpspec import amf0, messages
from rtmpspec.messages import Command

from .case import Case, parametrize
from .driver import Closed, DriverError, StepTimeout, is_command
from .test_control import barrier
from .verdicts import Verdict, fail, non_strict, observed

V = Verdict


def _info(res) -> dict:
    c = res.command
    for v in c.args:
        if isinstance(v, dict):
            return v
    return {}


# -- connect ---------------------------------------------------------------------------------------------------


def check_connect_result(ctx):
    """connect: _result, transaction id 1, a properties object, code NetConnection.Connect.Success, level status."""
    s = ctx.session()
    res = s.connect()
    c = res.command
    if c.name != "_result":
        fail("_result", f"{c.name} {c.code}", offending=res)
    if c.transaction_id != 1:
        fail("transaction id 1", f"{c.transaction_id:g}", offending=res)
    if not isinstance(c.command_object, dict):
        fail("a properties object (e.g. fmsVer, capabilities)", f"{type(c.command_object).__name__}",
             offending=res)
    info = _info(res)
    if info.get("code") != "NetConnection.Connect.Success":
        fail("information code NetConnection.Connect.Success", f"{info.get('code')!r}", offending=res)
    if info.get("level") != "status":
        fail("information level 'status'", f"{info.get('level')!r}", offending=res)


_STANDARD = {"fpad": False, "capabilities": 239.0, "audioCodecs": 3575.0, "videoCodecs": 252.0,
             "videoFunction": 1.0, "pageUrl": "http://conformance.invalid/page.html",
             "swfUrl": "http://conformance.invalid/player.swf"}
_CUSTOM = {
    "custom": {"x-conformance": {"nested": {"list": [1.0, "two", None, True]}, "empty": {}},
               "x-undefined": amf0.UNDEFINED, "x-ecma": amf0.ECMAArray({"a": 1.0}), "x-number": -0.5},
    "date": {"x-date": amf0.AMFDate(1.7e12, 0)},  # AMF0 2.13
    "long-string": {"x-long": amf0.LongString("L" * 1000)},  # AMF0 2.14 (a long-string marker, short content)
}


def check_connect_props(ctx, variant: str):
    """connect with extra properties or user arguments (``variant``): _result, then createStream works."""
    s = ctx.session()
    if variant == "standard":
        res = s.connect(extra=_STANDARD)
    elif variant in _CUSTOM:
        res = s.connect(extra=_CUSTOM[variant])
    else:  # optional user arguments after the command object
        cmd = messages.connect(ctx.target.app, ctx.target.tc_url(), args=({"token": "abc"}, "extra", 42.0))
        s.send_cmd(cmd)
        res = s.expect(is_command(("_result", "_error"), tid=1), "_result for connect with user arguments")
    if res.name != "_result":
        fail("_result", f"{res.name} {res.code}", offending=res)
    s.create_stream()


def observe_connect_app(ctx, variant: str):
    """connect to an unknown application, or without the app / tcUrl property (``variant``): what is answered?"""
    s = ctx.session()
    try:
        if variant == "unknown":
            app = f"cf-no-such-app-{uuid.uuid4().hex[:8]}"
            res = s.connect(app)
        elif variant == "missing":
            obj = {"type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; rtmpspec)", "tcUrl": ctx.target.tc_url()}
            res = s.connect(command_object=obj)
        else:  # no tcUrl
            obj = {"app": ctx.target.app, "type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; rtmpspec)"}
            res = s.connect(command_object=obj)
    except Closed:
        return observed("closed", "closed the connection without an answer")
    except StepTimeout:
        if s.wait_closed(0.1):
            return observed("closed", "closed the connection without an answer")
        return observed("silent", "no answer")
    level = (res.command.status or {}).get("level")
    want = _NC_LEVELS.get(res.code or "")
    if want and level != want:
        return observed("wrong-level", f"{res.code} with level {level!r} (E-RTMP v2 NetConnection status table: "
                                       f"{want})", offending=res)
    return observed(res.name.lstrip("_"), f"{res.name} {res.code or ''}", offending=res)


# E-RTMP v2 "onStatus for NetConnection": the level of each NetConnection status code
_NC_LEVELS = {"NetConnection.Connect.Success": "status", "NetConnection.Connect.Closed": "status",
              "NetConnection.Connect.ReconnectRequest": "status", "NetConnection.Call.Failed": "error",
              "NetConnection.Connect.AppShutdown": "error", "NetConnection.Connect.Failed": "error",
              "NetConnection.Connect.Rejected": "error", "NetConnection.Proxy.NotResponding": "error"}


def _oe(res):
    info = _info(res)
    props = res.command.command_object if isinstance(res.command.command_object, dict) else {}
    return info.get("objectEncoding", props.get("objectEncoding"))


def check_object_encoding(ctx, offered):
    """connect offering objectEncoding ``offered`` (None: property absent): the _result's objectEncoding is legal."""
    s = ctx.session()
    res = s.connect(object_encoding=offered)
    if res.name != "_result":
        fail("_result", f"{res.name} {res.code}", offending=res)
    oe = _oe(res)
    if offered == 3:
        if oe not in (None, 0, 3):
            fail("objectEncoding 0 or 3", f"objectEncoding {oe!r}", offending=res)
    elif oe == 3:
        fail(f"objectEncoding 0 (the client offered {offered!r})", "objectEncoding 3", offending=res)


def observe_oe_present(ctx):
    """connect with objectEncoding 0: is objectEncoding in the _result?"""
    s = ctx.session()
    res = s.connect(object_encoding=0)
    oe = _oe(res)
    return observed("present" if oe is not None else "absent", f"objectEncoding {oe!r}")


def observe_amf3(ctx, what: str):
    """Type 17 (AMF3 format) commands: connect itself (``connect``), or createStream after objectEncoding 3 (``command``)."""
    s = ctx.session()
    try:
        if what == "connect":
            res = s.connect(object_encoding=3, amf3=True)
            if res.name == "_result":
                return observed("understood", "Type 17 connect answered with _result")
            return observed("refused", f"{res.name} {res.code}")
        with ctx.setup("connect offering objectEncoding 3"):
            res = s.connect(object_encoding=3)
            if res.name != "_result":
                raise DriverError(f"connect answered {res.name} {res.code or ''}")
        if _oe(res) != 3:
            return observed("not-negotiated", f"objectEncoding {_oe(res)!r} negotiated: Type 17 not allowed")
        ctx.ready(s)
        tid = s.next_tid()
        s.send_cmd(Command("createStream", tid, None, amf3=True))
        r = s.expect(is_command(("_result", "_error"), tid=tid), "_result for a Type 17 createStream")
        if r.name == "_result":
            return observed("understood")
        return observed("refused", f"{r.name} {r.code or ''} to a Type 17 createStream after objectEncoding 3 was "
                                   "agreed", offending=r)
    except Closed:
        return observed("closed", "closed the connection" + (" after objectEncoding 3 was agreed" if what != "connect"
                                                             else ""))
    except StepTimeout:
        return observed("silent", "no answer" + (" after objectEncoding 3 was agreed" if what != "connect" else ""))


def check_tid(ctx, tid: float):
    """createStream with transaction id ``tid``: the _result carries exactly that id."""
    s = ctx.connected()
    s.send_cmd(Command("createStream", tid, None))
    res = s.expect(lambda m: m.name in ("_result", "_error"), f"_result for createStream (tid {tid!r})")
    if res.command.transaction_id != tid:
        fail(f"transaction id {tid!r}", f"{res.command.transaction_id!r}", offending=res)


def check_create_stream(ctx):
    """createStream: _result with a stream id that is an integer 1..16777215."""
    s = ctx.connected()
    tid = s.next_tid()
    s.send_cmd(messages.create_stream(tid))
    res = s.expect(is_command(("_result", "_error"), tid=tid), "_result for createStream")
    if res.name != "_result":
        fail("_result", f"{res.name} {res.code}", offending=res)
    if res.msid != 0:
        fail("the createStream _result on the NetConnection (message stream 0)", f"on message stream {res.msid}",
             offending=res)
    nums = [a for a in res.command.args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    if not nums:
        fail("a stream id number after the null command object", f"arguments {res.command.args!r}", offending=res)
    sid = nums[0]
    if sid != int(sid) or sid < 1:
        fail("a positive integer stream id (0 is the NetConnection)", f"{sid!r}", offending=res)
    if sid > 0xFFFFFF:
        non_strict("a stream id of at most 16777215 (errata 4.2 and 7: SHOULD NOT exceed)", f"{sid!r}",
                   offending=res)


def observe_distinct(ctx):
    """Three createStream calls on one connection: are the stream ids distinct?"""
    s = ctx.connected()
    ids = [ctx.create_stream(s)] + [s.create_stream() for _ in range(2)]
    bad = [i for i in ids if i < 1 or i > 0xFFFFFF]
    if bad:
        return observed("out-of-range", f"stream ids {ids}: a message stream id is 1..16777215")
    return observed("distinct" if len(set(ids)) == 3 else "repeated", f"stream ids {ids}")


# -- other commands on the NetConnection -----------------------------------------------------------------------


def observe_unknown_command(ctx):
    """A command the server does not know, with a transaction id: _error with that id is expected."""
    s = ctx.connected()
    ctx.ready(s)
    tid = s.next_tid()
    s.send_cmd(Command("cfNoSuchCommand", tid, None, ("x",)))
    b = barrier(s, "after an unknown command")
    if b != "ok":
        return observed(b)
    s.drain(0.05)
    r = [m for m in s.inbox if m.command and m.command.transaction_id == tid and m.name in ("_result", "_error")]
    if not r:
        return observed("ignored", "no _error for the unknown command")
    want = _NC_LEVELS.get(r[0].code or "")
    if want and (r[0].command.status or {}).get("level") != want:
        return observed("wrong-level", f"{r[0].code} with level {(r[0].command.status or {}).get('level')!r}",
                        offending=r[0])
    return observed(r[0].name.lstrip("_"), f"{r[0].name} {r[0].code or ''}")


def observe_call_tid0(ctx):
    """A call with transaction id 0 (no response wanted): the server should send none."""
    s = ctx.connected()
    ctx.ready(s)
    s.send_cmd(Command("cfNotify", 0, None, ("no response expected",)))
    b = barrier(s, "after a tid 0 call")
    if b != "ok":
        return observed(b)
    s.drain(0.05)
    r = [m for m in s.inbox if m.command and m.command.transaction_id == 0 and m.name in ("_result", "_error")]
    return observed("responded" if r else "silent", f"{r[0].name}" if r else "")


def observe_before_connect(ctx):
    """createStream before connect: refused (_error or close) or ignored, not answered with a stream."""
    s = ctx.session()
    s.send_cmd(messages.create_stream(2))
    try:
        res = s.connect()
    except Closed:
        return observed("closed", "closed the connection")
    early = [m for m in s.inbox if m.command and m.command.transaction_id == 2 and m.name in ("_result", "_error")]
    if early:
        return observed(early[0].name.lstrip("_"), f"{early[0].name} to createStream before connect")
    if res.name != "_result":
        return observed("connect-refused", f"connect then answered {res.name}")
    return observed("ignored", "no answer to createStream before connect; connect then worked")


def observe_connect_twice(ctx):
    """A second connect on an established connection: the answer is recorded."""
    s = ctx.connected()
    try:
        res = s.connect(tid=s.next_tid() + 10, expect=True)
        return observed(res.name.lstrip("_"), f"second connect answered {res.name} {res.code or ''}")
    except Closed:
        return observed("closed")
    except StepTimeout:
        return observed("ignored")


CASES = [
    Case("7.2.1.1-connect-result", "7.2.1.1-connect-result", check_connect_result),
    Case("7.2.1.1-connect-standard-properties", "7.2.1.1-connect-properties", check_connect_props,
         {"variant": "standard"}, doc="fpad, capabilities, audioCodecs, videoCodecs, videoFunction, pageUrl, swfUrl"),
    Case("7.2.1.1-connect-custom-properties", "7.2.1.1-connect-properties", check_connect_props,
         {"variant": "custom"}, doc="unknown properties: nested objects, a strict array, undefined, an ECMA array"),
    Case("7.2.1.1-connect-date-property", "7.2.1.1-connect-properties", check_connect_props,
         {"variant": "date"}, doc="an unknown property holding an AMF0 Date (AMF0 2.13)"),
    Case("7.2.1.1-connect-long-string-property", "7.2.1.1-connect-properties", check_connect_props,
         {"variant": "long-string"}, doc="an unknown property holding an AMF0 Long String (2.14, marker 0x0C)"),
    Case("7.2.1.1-connect-user-arguments", "7.2.1.1-connect-properties", check_connect_props,
         {"variant": "user-args"}, doc="optional user arguments after the command object"),
    Case("7.2.1.1-connect-unknown-app", "7.2.1.1-connect-unknown-app", observe_connect_app, {"variant": "unknown"},
         accept={"error": V.PASS, "closed": (V.FAIL, "closed without telling the client why"),
                 "result": (V.INFORMATIONAL, "the server accepts any application name"), "silent": V.FAIL,
                 "wrong-level": V.FAIL},
         healthy_after=True),
    Case("errata-8.1.3-connect-missing-app", "errata-8.1.3-connect-missing-app", observe_connect_app,
         {"variant": "missing"}, accept={"error": V.PASS, "closed": V.PASS,
                                         "result": (V.INFORMATIONAL, "the server does not need app"),
                                         "silent": V.FAIL},
         healthy_after=True, doc="connect with tcUrl but without the app the client MUST send: refused or accepted, "
                                 "never unanswered"),
    Case("errata-8.1.2-connect-missing-tcurl", "errata-8.1.2-connect-missing-tcurl", observe_connect_app,
         {"variant": "no-tcurl"}, accept={"error": V.PASS, "closed": V.PASS,
                                          "result": (V.INFORMATIONAL, "the server does not need tcUrl"),
                                          "silent": V.FAIL},
         healthy_after=True, doc="connect with app but without the REQUIRED tcUrl: refused or accepted, never a crash"),
    Case("errata-8.1.1-object-encoding-0", "errata-8.1.1-object-encoding", check_object_encoding, {"offered": 0}),
    Case("errata-8.1.1-object-encoding-absent", "errata-8.1.1-object-encoding", check_object_encoding,
         {"offered": None}),
    Case("errata-8.1.1-object-encoding-3", "errata-8.1.1-object-encoding-3", check_object_encoding, {"offered": 3}),
    Case("errata-8.1.1-object-encoding-in-result", "errata-8.1.1-object-encoding-present", observe_oe_present,
         accept={"present": V.PASS, "absent": V.FAIL}),
    Case("errata-7.2-amf3-connect", "errata-7.2-amf3-command", observe_amf3, {"what": "connect"},
         accept={"understood": V.PASS, "refused": (V.UNSUPPORTED, "no Type 17 commands"),
                 "closed": (V.UNSUPPORTED, "no Type 17 commands (closed)"),
                 "silent": (V.UNSUPPORTED, "no Type 17 commands (no answer)")},
         healthy_after=True, doc="connect sent as a Type 17 message: format selector 0, AMF0 values"),
    Case("errata-7.2-amf3-create-stream", "errata-8.1.1-extended-after-3", observe_amf3, {"what": "command"},
         accept={"understood": V.PASS,
                 "not-negotiated": (V.UNSUPPORTED, "the server answered objectEncoding 0: no Type 17 commands"),
                 "refused": (V.FAIL, "objectEncoding 3 agreed, then a Type 17 command refused"),
                 "closed": (V.FAIL, "objectEncoding 3 agreed, then a Type 17 command closed the connection"),
                 "silent": (V.FAIL, "objectEncoding 3 agreed, then a Type 17 command got no answer")},
         healthy_after=True, doc="objectEncoding 3 negotiated, then createStream as a Type 17 message"),
    Case("7.2-transaction-id-integer", "7.2-transaction-id", check_tid, {"tid": 7.0}),
    Case("7.2-transaction-id-fraction", "7.2-transaction-id", check_tid, {"tid": 7.5}),
    Case("7.2-transaction-id-large", "7.2-transaction-id", check_tid, {"tid": 1099511627776.0},
         doc="2^40: beyond 32-bit integers"),
    Case("7.2.1.3-create-stream-result", "7.2.1.3-create-stream", check_create_stream),
    Case("7.2.1.3-create-stream-distinct-ids", "7.2.1.3-create-stream-distinct", observe_distinct,
         accept={"distinct": V.PASS, "repeated": V.FAIL, "out-of-range": V.FAIL}),
    Case("7.2-unknown-command-error", "7.2-unknown-command", observe_unknown_command,
         accept={"error": V.PASS, "result": (V.INFORMATIONAL, "answered _result"), "ignored": V.FAIL,
                 "closed": V.FAIL, "stalled": V.FAIL, "wrong-level": V.FAIL}),
    Case("7.2.1.2-call-tid0-no-response", "7.2.1.2-call-no-response", observe_call_tid0,
         accept={"silent": V.PASS, "responded": (V.INFORMATIONAL, "answered a call that expects no response"),
                 "closed": V.FAIL, "stalled": V.FAIL}),
    Case("7.2-create-stream-before-connect", "7.2-command-before-connect", observe_before_connect,
         accept={"error": V.PASS, "closed": V.PASS, "ignored": (V.PASS, "ignored until connect"),
                 "result": V.FAIL, "connect-refused": V.INFORMATIONAL}, healthy_after=True),
    Case("7.2.1.1-connect-twice", "7.2.1.1-connect-twice", observe_connect_twice,
         accept={"result": V.INFORMATIONAL, "error": V.INFORMATIONAL, "closed": V.INFORMATIONAL,
                 "ignored": V.INFORMATIONAL}, healthy_after=True),
]


@parametrize(CASES)
def test_netconnection(case, conformance):
    conformance.run(case)


__all__ = ["CASES"]
