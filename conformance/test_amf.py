"""AMF cases: every AMF0 type a command may carry (AMF0 2), and AMF3 over RTMP once objectEncoding 3 is agreed
(errata 7.2 and 8.1.1, E-RTMP v2 "AMF0 and AMF3", AMF3 3): the 0x11 switch covering exactly one value, every AMF3
marker, U29 integers in each length, references, the format selector of Types 15/17, and no Type 15/17 in a session
at objectEncoding 0.

Where a value's decoding is visible it is made visible: the command name and transaction id sent as AMF3 values come
back in the answer's transaction id (an AMF3 double, or a U29 integer of each length), and a stream name sent as an
AMF3 string is the one a player then plays."""

from __future__ import annotations

from rtmpspec import amf0
from rtmpspec.amf0_values import UNDEFINED, AVMPlus, ECMAArray, Reference, TypedObject, XMLDocument
from rtmpspec.amf3_values import (
    AMF3XML,
    AMF3Array,
    AMF3Date,
    AMF3Dictionary,
    AMF3Externalizable,
    AMF3Object,
    AMF3Reference,
    AMF3StringRef,
    AMF3Vector,
    AMF3XMLDocument,
)
from rtmpspec.message_format import Message
from rtmpspec.messages import Command, DataMessage, MessageType

from .case import Case, Player, parametrize
from .driver import Closed, DriverError, StepTimeout, is_command, result_object_encoding
from .payloads import av_sequence, metadata
from .test_control import barrier
from .verdicts import Verdict, fail, informational, observed

V = Verdict
CMD0, CMD3 = int(MessageType.COMMAND_AMF0), int(MessageType.COMMAND_AMF3)

# -- AMF0 ------------------------------------------------------------------------------------------------------------


def observe_amf0_property(ctx, kind: str):
    """connect whose command object holds a property of AMF0 type ``kind``: _result, then createStream works."""
    nested = {"inner": 1.0}
    values = {"typed-object": {"x-typed": TypedObject("Conformance", {"a": 1.0, "b": "two"})},
              # the command object is complex value 0, x-nested 1: x-ref points at x-nested (AMF0 2.9)
              "reference": {"x-nested": nested, "x-ref": Reference(1)},
              "xml-document": {"x-xml": XMLDocument("<conformance a='1'/>")},
              "unsupported": {"x-unsupported": amf0.UNSUPPORTED},
              "movieclip": {"x-movieclip": amf0.MOVIECLIP},
              "recordset": {"x-recordset": amf0.RECORDSET}}[kind]
    s = ctx.session()
    try:
        res = s.connect(extra=values)
    except Closed:
        return observed("closed", "closed the connection")
    except StepTimeout:
        if s.wait_closed(0.1):
            return observed("closed", "closed the connection")
        return observed("silent", "no answer to connect")
    if res.name != "_result":
        return observed("refused", f"{res.name} {res.code}", offending=res)
    try:
        s.create_stream()
    except DriverError as exc:
        return observed("broken", f"connect accepted, then createStream failed: {exc}")
    return observed("accepted")


def observe_ecma_count(ctx, count: int):
    """@setDataFrame onMetaData as an ECMA array whose associative count is ``count`` (0: what some encoders
    write; 99: too large): the ECMA array ends at its end marker, the player gets every property."""
    dm = metadata("ecma", extra={"x-conformance": "count"})
    base = dict(dm.values[-1])
    last = {k: base.pop(k) for k in ("width", "height")}  # last: a reader that trusts the count misses them
    props = ECMAArray({**base, **last}, associative_count=count)
    dm = DataMessage(dm.values[:-1] + (props,), dm.msid, dm.timestamp)
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    pub.metadata(DataMessage(dm.values, pub.msid, 0))
    items = av_sequence(2, seed=231)
    pub.send_all(items)
    play.wait_media(len(items), timeout=min(1.5, ctx.step_timeout))
    play.s.drain(0.05, limit=0.3)
    metas = [d.metadata for d in (m.data for m in play.data()) if d and d.metadata is not None]
    if not metas:
        if pub.s.closed:
            return observed("closed", "the server closed the publisher on the metadata")
        return observed("missing", "no onMetaData reached the player")
    got = metas[0]
    missing = [k for k in ("width", "height") if k not in got]
    if missing:
        return observed("lost", f"properties missing after an associative count of {count}: {missing}")
    return observed("complete")


def observe_boolean_byte(ctx):
    """receiveVideo false, then receiveVideo whose Boolean byte is 2 (any value other than 0 is true, AMF0 2.3):
    video flows again."""
    pub, play = ctx.relay_pair()
    s = play.s
    s.send_cmd(Command("receiveVideo", 0, None, (False,), play.msid), csid=8)
    if barrier(s, "after receiveVideo false") != "ok":
        return observed("closed")
    items = av_sequence(3, seed=233)
    pub.send_all(items)
    play.wait_media(len(items), timeout=min(0.5, ctx.step_timeout))
    if any(m.type_id == 9 and m.payload in {i.payload for i in items if i.type_id == 9 and i.label != "avc-seq"}
           for m in play.media()):
        return observed("ignored", "receiveVideo false did not stop the video")
    head = amf0.encode_all(["receiveVideo", 0.0, None])
    true2 = amf0.value_schema().build({"marker": "boolean", "value": 2})
    s.send(Message(CMD0, head + true2, 0, play.msid, 8), note="receiveVideo with Boolean byte 2 (true)")
    if barrier(s, "after receiveVideo with Boolean byte 2") != "ok":  # processed before more media comes
        return observed("closed")
    mark = len(play.media())
    more = av_sequence(4, seed=234, headers=False, start=200)
    pub.send_all(more)
    vids = {i.payload for i in more if i.type_id == 9}
    try:
        s.wait_until(lambda: any(m.payload in vids for m in play.media()[mark:]), "video after receiveVideo 2")
    except StepTimeout:
        return observed("false", "video did not resume: the Boolean byte 2 was taken for false")
    return observed("true")


# -- AMF3 over RTMP (objectEncoding 3) ---------------------------------------------------------------------------------


def _oe3_session(ctx, label: str | None = None):
    s = ctx.session(label)
    with ctx.setup("connect offering objectEncoding 3"):
        res = s.connect(object_encoding=3)
        if res.name != "_result":
            raise DriverError(f"connect answered {res.name} {res.code or ''}")
    if result_object_encoding(res) != 3:
        return s, False
    ctx.ready(s)
    return s, True


def _ask(s, values: list, tid: float, what: str, *, type_id: int = CMD3):
    """Send ``values`` as one command message of ``type_id`` (17: format selector 0 first); the answer with
    transaction id ``tid`` (or raise)."""
    from rtmpspec.messages import encode_values

    s.send(Message(type_id, encode_values(type_id, values), 0, 0, 3), note=what)
    return s.expect(is_command(("_result", "_error"), tid=tid), f"the answer to {what} (tid {tid:g})")


def observe_amf3(ctx, kind: str):
    """A Type 17 createStream after objectEncoding 3 was agreed carrying AMF3 values (``kind``), each behind its own
    0x11: answered with the transaction id."""
    s, ok = _oe3_session(ctx)
    if not ok:
        return observed("not-negotiated", "the server answered objectEncoding 0")
    tid = s.next_tid()
    name: object = "createStream"
    tid_value: object = float(tid)
    args: list = []
    if kind == "name-and-tid":  # the name and the transaction id themselves are AMF3 (string, double)
        tid = tid + 0.5
        name, tid_value = AVMPlus("createStream"), AVMPlus(float(tid))
    elif kind == "one-value-switch":  # two AMF3 values, each with its own 0x11, then AMF0 values
        args = [AVMPlus({"k": "v"}), AVMPlus("amf3-string"), "an AMF0 string after them", 3.0]
    elif kind == "scalars":
        args = [AVMPlus(v) for v in (UNDEFINED, None, False, True, -(1 << 28), 0.25, "", "x")]
    elif kind == "strings-by-reference":  # 'e' entry 0, '' never enters the table, 'a' 1, 'x' 2, 'b' 3
        args = [AVMPlus(AMF3Object("", {}, {"e": "", "a": "x", "b": AMF3StringRef("x", 2)}))]
    elif kind == "xml":
        args = [AVMPlus(AMF3XMLDocument("<legacy a='1'/>")), AVMPlus(AMF3XML("<e4x><b/></e4x>"))]
    elif kind == "date":
        args = [AVMPlus(AMF3Date(1.7e12))]
    elif kind == "array":
        args = [AVMPlus(AMF3Array({"name": "assoc"}, [1, "two", 3.5])), AVMPlus([1, 2, 3])]
    elif kind == "objects":  # dynamic anonymous, sealed typed, its traits by reference, an object reference
        typed = AMF3Object("conformance.Point", {"x": 1, "y": 2}, None)
        args = [AVMPlus([{"dyn": 1}, typed, AMF3Object("", {"x": 3, "y": 4}, None, traits_ref=1),
                         AMF3Reference("object", 1)])]
    elif kind == "externalizable":
        args = [AVMPlus(AMF3Externalizable("flex.messaging.io.ArrayCollection", [1, 2, 3]))]
    elif kind == "byte-array":
        args = [AVMPlus(bytes(range(32)))]
    elif kind == "vectors":
        args = [AVMPlus(AMF3Vector("int", [-1, 2, 3])), AVMPlus(AMF3Vector("uint", [1, 4294967295])),
                AVMPlus(AMF3Vector("double", [0.5, -2.0])), AVMPlus(AMF3Vector("object", [{"a": 1}], type_name="")),
                AVMPlus(AMF3Vector("int", [7], fixed=True))]
    elif kind == "dictionary":
        args = [AVMPlus(AMF3Dictionary([("key", 1), (2, "two"), ({"o": 1}, True)], weak_keys=False))]
    else:
        raise ValueError(kind)
    values = [name, tid_value, None, *args]
    try:
        r = _ask(s, values, float(tid), f"a Type 17 createStream with AMF3 {kind}")
    except Closed:
        return observed("closed", "closed the connection after objectEncoding 3 was agreed")
    except StepTimeout:
        return observed("silent", "no answer (with that transaction id) after objectEncoding 3 was agreed")
    if r.name != "_result":
        return observed("refused", f"{r.name} {r.code or ''}", offending=r)
    return observed("understood")


def observe_u29(ctx):
    """Four Type 17 createStreams whose transaction ids are AMF3 integers of each U29 length (127: 1 byte, 16383:
    2, 2097151: 3, 268435455: 4): each answer carries exactly that transaction id."""
    s, ok = _oe3_session(ctx)
    if not ok:
        return observed("not-negotiated", "the server answered objectEncoding 0")
    for tid in (127, 16383, 2097151, 268435455):
        try:
            r = _ask(s, [AVMPlus("createStream"), AVMPlus(tid), None], float(tid),
                     f"createStream with an AMF3 integer transaction id {tid}")
        except Closed:
            return observed("closed", f"closed the connection on the U29 {tid}")
        except StepTimeout:
            return observed("silent", f"no answer with transaction id {tid} (a U29 read wrong?)")
        if r.name != "_result":
            return observed("refused", f"{r.name} {r.code or ''}", offending=r)
    return observed("understood")


def observe_amf3_publish_name(ctx):
    """publish as a Type 17 command whose stream name is an AMF3 string: a player of that name gets the media."""
    s, ok = _oe3_session(ctx, "pub")
    if not ok:
        return observed("not-negotiated", "the server answered objectEncoding 0")
    with ctx.setup("createStream"):
        sid = s.create_stream()
    key = ctx.key()
    from rtmpspec.messages import encode_values

    s.send(Message(CMD3, encode_values(CMD3, ["publish", 0.0, None, AVMPlus(key), "live"]), 0, sid, 5),
           note="publish, the stream name an AMF3 string")
    try:
        st = s.expect(lambda m: m.name in ("onStatus", "_error"), "onStatus for the Type 17 publish")
    except (Closed, StepTimeout) as exc:
        return observed("refused", f"no answer to the publish: {exc}")
    if st.code != "NetStream.Publish.Start":
        return observed("refused", f"{st.name} {st.code}", offending=st)
    play = ctx.player(key)
    items = av_sequence(3, seed=241)
    for it in items:
        s.send_media(it.type_id, it.payload, it.timestamp, sid)
    how, what, bad = play.relayed(items)
    if how == "intact":
        return observed("understood")
    return observed("wrong-name" if how == "none" else "altered", what, offending=bad)


def observe_data_extended(ctx):
    """A publisher at objectEncoding 3 sends @setDataFrame onMetaData as a Type 15 data message with an AMF3 object:
    a player gets onMetaData with the same properties (in whatever form its own session allows)."""
    s, ok = _oe3_session(ctx, "pub")
    if not ok:
        return observed("not-negotiated", "the server answered objectEncoding 0")
    with ctx.setup("createStream and publish"):
        sid = s.create_stream()
        key = ctx.key()
        st = s.publish(key)
        if st.code != "NetStream.Publish.Start":
            raise DriverError(f"publish answered {st.name} {st.code}")
    play = ctx.player(key)
    props = {"width": 320.0, "height": 240.0, "encoder": "amf3"}
    s.send_data(DataMessage(("@setDataFrame", "onMetaData", AVMPlus(props)), sid, 0, amf3=True))
    items = av_sequence(2, seed=243)
    for it in items:
        s.send_media(it.type_id, it.payload, it.timestamp, sid)
    play.wait_media(len(items), timeout=min(1.5, ctx.step_timeout))
    play.s.drain(0.05, limit=0.3)
    metas = [d.metadata for d in (m.data for m in play.data()) if d and d.metadata is not None]
    if not metas:
        return observed("dropped", "no onMetaData reached the player")
    if any(metas[0].get(k) != v for k, v in props.items()):
        return observed("altered", f"the player got {metas[0]!r}")
    if play.s.extended_at_oe0:
        return observed("extended-to-oe0", "relayed as a Type 15 message to a player at objectEncoding 0",
                        offending=play.s.extended_at_oe0[0])
    return observed("relayed")


def observe_switching(ctx):
    """After objectEncoding 3: createStream as Type 20, 17, 20, 17: every one answered."""
    s, ok = _oe3_session(ctx)
    if not ok:
        return observed("not-negotiated", "the server answered objectEncoding 0")
    for type_id in (CMD0, CMD3, CMD0, CMD3):
        tid = s.next_tid()
        try:
            r = _ask(s, ["createStream", float(tid), None], float(tid), f"createStream as a Type {type_id}",
                     type_id=type_id)
        except (Closed, StepTimeout) as exc:
            return observed("refused", f"Type {type_id} createStream: {exc}")
        if r.name != "_result":
            return observed("refused", f"Type {type_id}: {r.name} {r.code}", offending=r)
    return observed("understood")


def observe_selector(ctx):
    """After objectEncoding 3: a Type 17 createStream with format selector 1 (no such format) is not executed
    (refused, ignored or the connection closed); the session or a new one goes on."""
    s, ok = _oe3_session(ctx)
    if not ok:
        return observed("not-negotiated", "the server answered objectEncoding 0")
    tid = s.next_tid()
    payload = bytes([1]) + amf0.encode_all(["createStream", float(tid), None])
    s.send(Message(CMD3, payload, 0, 0, 3), note="Type 17 createStream with format selector 1")
    if s.wait_closed(0.2):
        return observed("closed")
    b = barrier(s, "after a Type 17 message with format selector 1")
    if b != "ok":
        return observed(b)
    if any(m.name == "_result" and m.command.transaction_id == tid for m in s.inbox):
        return observed("executed", "a command in an unknown format (selector 1) was executed")
    if any(m.name == "_error" and m.command.transaction_id == tid for m in s.inbox):
        return observed("error")
    return observed("ignored")


def check_selector_sent(ctx):
    """After objectEncoding 3, Type 17 commands: every Type 15/17 message the server sends starts with the format
    selector 0."""
    s, ok = _oe3_session(ctx)
    if not ok:
        informational("the server answered objectEncoding 0: it sends no Type 15/17 message")
    tid = s.next_tid()
    try:
        _ask(s, ["createStream", float(tid), None], float(tid), "a Type 17 createStream")
    except (Closed, StepTimeout):
        pass
    s.drain(0.05, limit=0.2)
    ext = [m for m in s.inbox if m.type_id in (MessageType.DATA_AMF3, MessageType.COMMAND_AMF3)]
    if not ext:
        informational("the server answers Type 17 commands with Type 20 messages: no selector to check")
    for m in ext:
        if not m.payload or m.payload[0] != 0:
            fail("format selector 0 first in every Type 15/17 message (errata 7.2: MUST)",
                 f"first byte {m.payload[:1].hex() or '(empty)'}", offending=m)


def check_no_extended_at_oe0(ctx):
    """Sessions at objectEncoding 0 (a publisher and a player: connect, createStream, publish, play, metadata,
    media, an unknown command): the server never sends them a Type 15 or 17 message."""
    pub = ctx.publisher()
    play = ctx.player(pub.key)
    pub.metadata(metadata())
    items = av_sequence(2, seed=245)
    pub.send_all(items)
    play.wait_media(len(items), timeout=min(1.5, ctx.step_timeout))
    for s in (pub.s, play.s):
        tid = s.next_tid()
        s.send_cmd(Command("x-conformance-unknown", tid, None))
        barrier(s, "after an unknown command")
        s.drain(0.05, limit=0.2)
        if s.extended_at_oe0:
            fail("no Type 15/17 message in a session at objectEncoding 0 (errata 8.1.1: MUST NOT)",
                 f"a Type {s.extended_at_oe0[0].type_id} message to {s.label}", offending=s.extended_at_oe0[0])


def observe_avmplus_at_oe0(ctx):
    """In a session at objectEncoding 0, a Type 20 createStream whose extra argument is behind the 0x11 marker:
    understood, or refused as an unknown type (error, close, ignore); never a stall."""
    s = ctx.connected()
    ctx.ready(s)
    tid = s.next_tid()
    s.send_cmd(Command("createStream", tid, None, (AVMPlus("amf3"),)), note="0x11 in a Type 20 command")
    if s.wait_closed(0.2):
        return observed("closed")
    b = barrier(s, "after a 0x11 value at objectEncoding 0")
    if b != "ok":
        return observed(b)
    hit = [m for m in s.inbox if m.command and m.command.transaction_id == tid]
    return observed(hit[0].name.lstrip("_") if hit else "ignored")


_AMF3 = {"understood": V.PASS, "not-negotiated": (V.UNSUPPORTED, "the server answered objectEncoding 0"),
         "refused": (V.FAIL, "objectEncoding 3 agreed, then the AMF3 values were refused"),
         "closed": (V.FAIL, "objectEncoding 3 agreed, then the connection was closed"),
         "silent": (V.FAIL, "objectEncoding 3 agreed, then no answer")}
_PROP = {"accepted": V.PASS, "refused": V.FAIL, "closed": V.FAIL, "silent": V.FAIL, "broken": V.FAIL}
_RESERVED = {"accepted": (V.PASS, "accepted (the reserved marker carries no data)"), "refused": V.PASS,
             "closed": V.PASS, "silent": V.FAIL, "broken": V.FAIL}

CASES = [
    Case("amf0-2.18-typed-object-in-connect", "amf0-values-in-commands", observe_amf0_property,
         {"kind": "typed-object"}, accept=_PROP, doc="a typed object (0x10, class 'Conformance')"),
    Case("amf0-2.9-reference-in-connect", "amf0-values-in-commands", observe_amf0_property, {"kind": "reference"},
         accept=_PROP, doc="a Reference (0x07) to an earlier nested object of the command object"),
    Case("amf0-2.17-xml-document-in-connect", "amf0-values-in-commands", observe_amf0_property,
         {"kind": "xml-document"}, accept=_PROP),
    Case("amf0-2.15-unsupported-marker-in-connect", "amf0-values-in-commands", observe_amf0_property,
         {"kind": "unsupported"}, accept=_PROP),
    Case("amf0-2.10-ecma-array-count-0", "amf0-values-in-commands", observe_ecma_count, {"count": 0}, relay=True,
         accept={"complete": V.PASS, "lost": V.FAIL, "missing": V.FAIL, "closed": V.FAIL},
         doc="onMetaData ECMA array with associative count 0 (what some encoders write)"),
    Case("amf0-2.10-ecma-array-count-too-large", "amf0-values-in-commands", observe_ecma_count, {"count": 99},
         relay=True, accept={"complete": V.PASS, "lost": V.FAIL, "missing": V.FAIL, "closed": V.FAIL}),
    Case("amf0-2.3-boolean-byte-2-is-true", "amf0-values-in-commands", observe_boolean_byte, relay=True,
         accept={"true": V.PASS, "false": V.FAIL, "closed": V.FAIL,
                 "ignored": (V.UNSUPPORTED, "receiveVideo is ignored: nothing to tell true from false")}),
    Case("amf0-2.1-movieclip-marker-in-connect", "amf0-reserved-markers", observe_amf0_property,
         {"kind": "movieclip"}, accept=_RESERVED, healthy_after=True),
    Case("amf0-2.1-recordset-marker-in-connect", "amf0-reserved-markers", observe_amf0_property,
         {"kind": "recordset"}, accept=_RESERVED, healthy_after=True),
    Case("amf0-3.1-avmplus-at-object-encoding-0", "amf0-reserved-markers", observe_avmplus_at_oe0,
         accept={"result": (V.PASS, "understood"), "error": V.PASS, "ignored": V.PASS, "closed": V.PASS,
                 "stalled": V.FAIL}, healthy_after=True),
]
CASES += [Case(f"amf3-{k}", "amf3-values-in-commands", observe_amf3, {"kind": k}, accept=_AMF3, doc=d)
          for k, d in (("name-and-tid", "the command name an AMF3 string, the transaction id an AMF3 double"),
                       ("one-value-switch", "two AMF3 values each behind its own 0x11, then AMF0 values"),
                       ("scalars", "undefined, null, false, true, integer -2^28, double, empty and short strings"),
                       ("strings-by-reference", "strings by reference; the empty string never enters the table"),
                       ("xml", "XMLDocument (0x07) and XML (0x0B)"), ("date", "Date (0x08)"),
                       ("array", "arrays with an associative and a dense part (0x09)"),
                       ("objects", "dynamic, sealed typed, traits by reference, an object reference (0x0A)"),
                       ("externalizable", "an externalizable flex.messaging.io.ArrayCollection"),
                       ("byte-array", "ByteArray (0x0C)"),
                       ("vectors", "Vector int, uint, double, object (0x0D-0x10), a fixed one"),
                       ("dictionary", "Dictionary (0x11) with string, number and object keys"))]
CASES += [
    Case("amf3-u29-integer-lengths", "amf3-values-in-commands", observe_u29, accept=_AMF3,
         doc="transaction ids 127, 16383, 2097151, 268435455 as AMF3 integers (U29 of 1, 2, 3, 4 bytes)"),
    Case("amf3-publish-stream-name", "amf3-values-in-commands", observe_amf3_publish_name, relay=True,
         accept={"understood": V.PASS, "not-negotiated": (V.UNSUPPORTED, "the server answered objectEncoding 0"),
                 "refused": V.FAIL, "wrong-name": V.FAIL, "altered": V.FAIL}),
    Case("errata-7.2-data-extended-relayed", "errata-8.1.1-extended-after-3", observe_data_extended, relay=True,
         accept={"relayed": V.PASS, "not-negotiated": (V.UNSUPPORTED, "the server answered objectEncoding 0"),
                 "dropped": V.FAIL, "altered": V.FAIL, "extended-to-oe0": V.FAIL},
         doc="@setDataFrame onMetaData as a Type 15 message, its object AMF3"),
    Case("errata-8.1.1-switch-type-20-and-17", "errata-8.1.1-extended-after-3", observe_switching, accept=_AMF3),
    Case("errata-7.2-format-selector-1-not-executed", "errata-7.2-format-selector", observe_selector,
         accept={"error": V.PASS, "ignored": V.PASS, "closed": V.PASS, "stalled": V.FAIL,
                 "executed": V.FAIL, "not-negotiated": (V.UNSUPPORTED, "the server answered objectEncoding 0")},
         healthy_after=True),
    Case("errata-7.2-server-format-selector-0", "errata-7.2-format-selector", check_selector_sent),
    Case("errata-8.1.1-no-extended-types-at-oe0", "errata-8.1.1-no-extended-at-oe0", check_no_extended_at_oe0,
         relay=True),
]


@parametrize(CASES)
def test_amf(case, conformance):
    conformance.run(case)


__all__ = ["CASES", "Player"]
