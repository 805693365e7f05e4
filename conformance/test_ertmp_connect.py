"""Enhanced RTMP v2 connect negotiation and the reconnect request.

connect: fourCcList alone, the FourCC info maps alone (also as ECMA arrays), '*' in either, capsEx with every bit;
the server's own _result capabilities. Reconnect request: needs a way to make the target send one, ``--reconnect-
trigger CMD`` (the embedded reference server has one built in): the request's form, a redirect's tcUrl, and the old
connection serving on until the client leaves."""

from __future__ import annotations

import shlex
import subprocess
from urllib.parse import urlsplit

from rtmpspec import media
from rtmpspec.amf0 import ECMAArray
from rtmpspec.messages import plain

from .case import Case, parametrize
from .driver import Closed, DriverError, StepTimeout, is_command
from .ertmp import video_sequence
from .ertmp_relay import CAPS_EX_ALL, E_CONNECT, declares_fourcc, judge, server_caps, settle
from .verdicts import Verdict, fail, informational, non_strict, observed, unsupported

V = Verdict
FWD, DEC = int(media.FourCcInfoMask.CanForward), int(media.FourCcInfoMask.CanDecode)
RECONNECT = int(media.CapsExMask.Reconnect)


def _props(variant: str) -> dict:
    full = media.connect_properties(caps_ex=CAPS_EX_ALL)
    if variant == "fourcclist-only":
        return {"fourCcList": full["fourCcList"]}
    if variant == "infomaps-only":
        return {"videoFourCcInfoMap": full["videoFourCcInfoMap"], "audioFourCcInfoMap": full["audioFourCcInfoMap"]}
    if variant == "ecma-arrays":
        return {"fourCcList": full["fourCcList"], "videoFourCcInfoMap": ECMAArray(full["videoFourCcInfoMap"]),
                "audioFourCcInfoMap": ECMAArray(full["audioFourCcInfoMap"]), "capsEx": full["capsEx"]}
    if variant == "capsex-all":
        return {"capsEx": float(CAPS_EX_ALL)}
    if variant == "wildcard":
        return {"fourCcList": ["*"], "videoFourCcInfoMap": {"*": float(FWD)}, "audioFourCcInfoMap": {"*": float(FWD)}}
    if variant == "wildcard-overrides":
        return {"videoFourCcInfoMap": {"*": float(FWD), "hvc1": float(DEC)}, "capsEx": float(CAPS_EX_ALL)}
    raise ValueError(variant)


def observe_connect(ctx, variant: str):
    """connect carrying the E-RTMP properties ``variant``: accepted like any connect (a server without E-RTMP
    ignores them; one with it reads them)."""
    s = ctx.session()
    try:
        res = s.connect(extra=_props(variant))
    except Closed:
        return observed("closed", "closed the connection on an E-RTMP connect")
    if res.name != "_result":
        return observed("refused", f"{res.name} {res.code}", offending=res)
    with ctx.setup("createStream after the E-RTMP connect"):
        s.create_stream()
    return observed("accepted")


def observe_wildcard_play(ctx, variant: str):
    """A player whose connect says ``variant`` ('*' for any codec; or '*': CanForward overriding hvc1: CanDecode):
    the server forwards it an hvc1 stream like to any E-RTMP player."""
    pub = ctx.publisher(**E_CONNECT)
    play = ctx.player(pub.key, extra=_props(variant))
    items = video_sequence(b"hvc1", 4, seed=221)
    pub.send_all(items)
    got = settle(ctx, pub, play, items)
    caps = server_caps(play.s, pub.s)
    return judge(items, got, caps, declares_fourcc(b"hvc1")(caps), "hvc1 video for a '*' player")


def check_result_caps(ctx):
    """The connect _result to an E-RTMP client: a server that relays E-RTMP media states its support (capsEx,
    videoFourCcInfoMap / audioFourCcInfoMap, fourCcList); what it states is well formed (maps of FourCC to
    FourCcInfoMask bits, capsEx a number of known CapsExMask bits)."""
    s = ctx.session()
    with ctx.setup("connect with the E-RTMP properties"):
        res = s.connect(**E_CONNECT)
        if res.name != "_result":
            raise DriverError(f"connect answered {res.name} {res.code or ''}")
    c = res.command
    props = plain(c.command_object) if isinstance(plain(c.command_object), dict) else {}
    info = next((plain(a) for a in c.args if isinstance(plain(a), dict)), {})
    stated = {k: v for src in (info, props) for k, v in src.items()
              if k in ("fourCcList", "videoFourCcInfoMap", "audioFourCcInfoMap", "capsEx")}
    if isinstance(c.command_object, dict) and not isinstance(c.command_object, ECMAArray):
        ctx.note("the _result properties are an AMF Object (E-RTMP's recommended form)")
    elif isinstance(c.command_object, ECMAArray):
        ctx.note("the _result properties are an ECMA array (E-RTMP recommends an Object; readers accept both)")
    for key in ("videoFourCcInfoMap", "audioFourCcInfoMap"):
        if key in stated:
            m = stated[key]
            if not isinstance(m, dict):
                fail(f"{key} an Object (or ECMA array) of FourCC -> FourCcInfoMask", f"{type(m).__name__}",
                     offending=res)
            for k, v in m.items():
                if not isinstance(v, (int, float)) or isinstance(v, bool) or v != int(v) or int(v) & ~0x7 \
                        or (k != "*" and len(str(k)) != 4):
                    fail(f"{key}: FourCC (or '*') -> a number of the bits 0x1-0x4", f"{k!r}: {v!r}", offending=res)
    if "capsEx" in stated:
        v = stated["capsEx"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v != int(v) or int(v) & ~0xF:
            fail("capsEx a number of the CapsExMask bits 0x1-0x8", repr(v), offending=res)
    if "fourCcList" in stated and not (isinstance(stated["fourCcList"], (list, dict))):
        fail("fourCcList a strict array of FourCC strings", repr(stated["fourCcList"]), offending=res)
    if stated:
        return observed("stated", ", ".join(sorted(stated)))
    # no statement: a SHOULD when the server relays E-RTMP media at all
    pub = ctx.publisher(**E_CONNECT)
    play = ctx.player(pub.key, **E_CONNECT)
    items = video_sequence(b"hvc1", 2, seed=223)
    pub.send_all(items)
    if settle(ctx, pub, play, items):
        return observed("silent-but-relays", "the server relays hvc1 video but its _result states no E-RTMP "
                                             "capability")
    return observed("no-ertmp", "no E-RTMP capability stated, and hvc1 video is not relayed")


# -- reconnect request ---------------------------------------------------------------------------------------------

def _trigger(ctx, key: str, redirect: str = "") -> None:
    template = getattr(ctx.settings, "reconnect_trigger", None)
    if not template:
        unsupported("no way to make the target send a reconnect request: give --reconnect-trigger CMD")
    if redirect and "{redirect}" not in template:
        unsupported("the --reconnect-trigger command takes no {redirect} URL: a redirect cannot be asked for")
    import sys

    values = {"app": ctx.target.app, "key": key, "redirect": redirect, "python": sys.executable,
              "host": ctx.target.host, "port": str(ctx.target.port)}
    argv = [a.format(**values) for a in shlex.split(template)]
    with ctx.setup("the --reconnect-trigger command"):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=max(5.0, ctx.step_timeout))
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DriverError(f"{shlex.join(argv)}: {exc}") from None
        if r.returncode != 0:
            raise DriverError(f"{shlex.join(argv)} exited with status {r.returncode}: {r.stderr.strip()[-300:]}")
    ctx.note(f"trigger: {shlex.join(argv)}")


def _request(s, what: str):
    return s.expect(is_command("onStatus", code="NetConnection.Connect.ReconnectRequest"), what)


def _publisher_with_reconnect(ctx):
    pub = ctx.publisher(**E_CONNECT)
    pub.send_all(video_sequence(b"av01", 2, seed=225, end=False))
    return pub


def check_reconnect_form(ctx):
    """A publisher that declared capsEx Reconnect; the target is made to ask it to reconnect: an onStatus on the
    NetConnection (message stream 0) with transaction id 0, a null command object and an info object with code
    NetConnection.Connect.ReconnectRequest, level status, a string description if any."""
    pub = _publisher_with_reconnect(ctx)
    _trigger(ctx, pub.key)
    try:
        m = _request(pub.s, "onStatus NetConnection.Connect.ReconnectRequest")
    except StepTimeout:
        fail("onStatus NetConnection.Connect.ReconnectRequest after the trigger", "nothing within the step timeout")
    c = m.command
    info = c.status or {}
    problems = []
    if m.msid != 0:
        problems.append(f"on message stream {m.msid}, not 0 (the NetConnection)")
    if c.transaction_id != 0:
        problems.append(f"transaction id {c.transaction_id:g}, not 0")
    if c.command_object is not None:
        problems.append(f"command object {c.command_object!r}, not null")
    if info.get("level") != "status":
        problems.append(f"level {info.get('level')!r}, not 'status'")
    if "description" in info and not isinstance(info["description"], str):
        problems.append(f"description {info['description']!r} is not a string")
    if "tcUrl" in info and not isinstance(info["tcUrl"], str):
        problems.append(f"tcUrl {info['tcUrl']!r} is not a string")
    if problems:
        fail("onStatus(0, null, {code: NetConnection.Connect.ReconnectRequest, level: status}) on stream 0",
             "; ".join(problems), offending=m)


def check_reconnect_redirect(ctx):
    """The target is asked to move the client to another server: the reconnect request carries that tcUrl
    (absolute, or relative to the current tcUrl)."""
    pub = _publisher_with_reconnect(ctx)
    target = f"rtmp://127.0.0.2:{ctx.target.port}/{ctx.target.app}"
    _trigger(ctx, pub.key, redirect=target)
    try:
        m = _request(pub.s, "onStatus NetConnection.Connect.ReconnectRequest with a tcUrl")
    except StepTimeout:
        fail("a reconnect request with tcUrl after the trigger", "nothing within the step timeout")
    tc = (m.command.status or {}).get("tcUrl")
    if not isinstance(tc, str):
        fail(f"tcUrl {target!r} in the info object (a redirect MUST set it)", f"tcUrl {tc!r}", offending=m)
    u = urlsplit(tc)
    if u.scheme and u.scheme not in ("rtmp", "rtmps"):
        fail("an absolute rtmp(s) URI or a relative reference", repr(tc), offending=m)
    if u.scheme and tc.rstrip("/") != target.rstrip("/"):
        fail(f"tcUrl {target!r} (the server the trigger named)", repr(tc), offending=m)


def observe_reconnect_keeps_serving(ctx):
    """After asking for a reconnect the server goes on serving the old connection until the client leaves: it
    answers createStream and relays the client's media."""
    pub = _publisher_with_reconnect(ctx)
    play = ctx.player(pub.key, **E_CONNECT)
    _trigger(ctx, pub.key)
    try:
        _request(pub.s, "onStatus NetConnection.Connect.ReconnectRequest")
    except StepTimeout:
        fail("a reconnect request after the trigger", "nothing within the step timeout")
    try:
        pub.s.create_stream()
    except Closed:
        return observed("closed", "the old connection was closed right after the reconnect request")
    except (StepTimeout, DriverError) as exc:
        return observed("stopped", f"createStream on the old connection after the request: {exc}")
    items = video_sequence(b"av01", 3, seed=227, start=200, end=False)[1:]
    pub.send_all(items)
    if not play.wait_payload(items[-1].payload, timeout=min(1.5, ctx.step_timeout)):
        return observed("stopped", "the old connection's media no longer reaches the player")
    return observed("serving")


def observe_reconnect_who(ctx):
    """Two clients of one stream, the publisher declaring capsEx Reconnect, the player not: who gets the request
    (only a client that declared Reconnect is expected to follow one; recorded)."""
    pub = _publisher_with_reconnect(ctx)
    play = ctx.player(pub.key, extra={"capsEx": float(CAPS_EX_ALL & ~RECONNECT)})
    _trigger(ctx, pub.key)
    got = []
    for who, s in (("publisher (capsEx Reconnect)", pub.s), ("player (no Reconnect)", play.s)):
        try:
            s.expect(is_command("onStatus", code="NetConnection.Connect.ReconnectRequest"), "a reconnect request",
                     timeout=min(0.5, ctx.step_timeout))
            got.append(who)
        except StepTimeout:
            pass
    informational(f"the reconnect request reached: {', '.join(got) or 'nobody'}")


_TRIG = {"closed": (V.FAIL, "the old connection was closed right after the request"),
         "stopped": V.FAIL, "serving": V.PASS}

CASES = [
    Case(f"ertmp2-connect-{v}", "ertmp-connect-caps", observe_connect, {"variant": v},
         accept={"accepted": V.PASS, "refused": V.FAIL, "closed": V.FAIL}, doc=doc)
    for v, doc in (("fourcclist-only", "fourCcList alone (the older form)"),
                   ("infomaps-only", "videoFourCcInfoMap and audioFourCcInfoMap alone (the newer form)"),
                   ("ecma-arrays", "the FourCC info maps written as ECMA arrays instead of Objects"),
                   ("capsex-all", "capsEx 0x0F: Reconnect, Multitrack, ModEx and TimestampNanoOffset"),
                   ("wildcard", "'*' in fourCcList and as the only key of both info maps"))
]
CASES += [
    Case("ertmp2-connect-wildcard-player-gets-hvc1", "ertmp-connect-caps", observe_wildcard_play,
         {"variant": "wildcard"}, relay=True,
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "hvc1 is not relayed (not declared either)"),
                 "dropped-declared": (V.FAIL, "hvc1 withheld from a player that accepts any codec ('*')"),
                 "partial": V.FAIL, "altered": V.FAIL}),
    Case("ertmp2-connect-wildcard-overrides-codec", "ertmp-connect-caps", observe_wildcard_play,
         {"variant": "wildcard-overrides"}, relay=True,
         accept={"relayed": V.PASS, "dropped": (V.UNSUPPORTED, "hvc1 is not relayed (not declared either)"),
                 "dropped-declared": (V.FAIL, "hvc1 withheld although '*': CanForward overrides hvc1's flags"),
                 "partial": V.FAIL, "altered": V.FAIL},
         doc="videoFourCcInfoMap {'*': CanForward, 'hvc1': CanDecode}: '*' overrides, hvc1 is forwarded"),
    Case("ertmp2-connect-result-capabilities", "ertmp-connect-result-caps", check_result_caps,
         accept={"stated": V.PASS, "silent-but-relays": (V.FAIL, "E-RTMP relayed but not stated in the _result"),
                 "no-ertmp": (V.INFORMATIONAL, "no E-RTMP support, none stated")}),
    Case("ertmp2-reconnect-request-form", "ertmp-reconnect-request", check_reconnect_form),
    Case("ertmp2-reconnect-request-redirect-tcurl", "ertmp-reconnect-request", check_reconnect_redirect),
    Case("ertmp2-reconnect-old-connection-keeps-serving", "ertmp-reconnect-keeps-serving",
         observe_reconnect_keeps_serving, relay=True, accept=_TRIG),
    Case("ertmp2-reconnect-request-recipients", "ertmp-reconnect-request", observe_reconnect_who,
         doc="informational: which clients (capsEx Reconnect or not) the request reaches"),
]


@parametrize(CASES)
def test_ertmp_connect(case, conformance):
    conformance.run(case)


__all__ = ["CASES", "non_strict"]
