"""Case records, the per-case context, and the runner that turns what a check saw into a verdict.

A test module holds a table of :class:`Case` records and one parametrized test function::

    CASES = [Case("5.3.1.1-csid-two-byte-64", "5.3.1.1-csid-two-byte", check_csid, {"csid": 64}), ...]

    @parametrize(CASES)
    def test_chunking(case, conformance):
        conformance.run(case)

A check is ``check(ctx, **params)``; it drives sessions through ``ctx`` and returns ``None`` (pass), an
:class:`~conformance.verdicts.Observed` behaviour (mapped by ``Case.accept``) or ends with one of the helpers of
:mod:`conformance.verdicts`.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from rtmpspec import messages
from rtmpspec.messages import MessageType, split_aggregate

from . import catalog
from .driver import (
    Closed,
    DriverError,
    Inbound,
    Session,
    StepTimeout,
    Target,
    Undecodable,
    WireLog,
    is_command,
    is_user_control,
)
from .payloads import AUDIO, VIDEO, Item
from .verdicts import CaseEnd, Observed, Outcome, SetupError, Verdict, evidence_of

REGISTRY: dict[str, Case] = {}


@dataclass(frozen=True)
class Case:
    id: str
    req: str
    check: Callable[..., Any]
    params: dict = field(default_factory=dict)
    accept: dict = field(default_factory=dict)  # behaviour -> Verdict | (Verdict, note)
    doc: str = ""
    refs: tuple[str, ...] = ()
    relay: bool = False  # needs the target contract (publish -> play relay)
    healthy_after: bool = False  # check that a second, healthy session still works afterwards
    timeout_factor: float = 1.0

    @property
    def requirement(self) -> catalog.Requirement:
        return catalog.get(self.req)

    @property
    def description(self) -> str:
        return self.doc or (self.check.__doc__ or "").strip()


def _register(cases: list[Case]) -> None:
    for c in cases:
        catalog.get(c.req)  # fail at import if the requirement is not in the catalog
        if c.id in REGISTRY and REGISTRY[c.id] is not c:
            raise ValueError(f"duplicate case id {c.id!r}")
        REGISTRY[c.id] = c


def marks_for(case: Case) -> list:
    req = case.requirement
    return [
        pytest.mark.rtmp_requirement(req.id, section=req.section_label, level=req.level),
        getattr(pytest.mark, req.chapter),
        getattr(pytest.mark, req.level.lower()),
        pytest.mark.allure_label(catalog.CHAPTERS[req.chapter], label_type="epic"),
        pytest.mark.allure_label(req.section_label, label_type="feature"),
        pytest.mark.allure_label(f"{req.id}: {req.text}", label_type="story"),
        pytest.mark.allure_label(req.severity, label_type="severity"),
        pytest.mark.allure_label(req.id, label_type="tag"),
    ] + ([pytest.mark.interop] if case.refs and req.chapter != "interop" else []) \
      + ([pytest.mark.relay] if case.relay or case.req == "contract-relay" else [])


def parametrize(cases: list[Case]):
    _register(cases)
    params = [pytest.param(c, id=c.id, marks=marks_for(c)) for c in cases]
    return pytest.mark.parametrize("case", params)


# -- the context of one case ------------------------------------------------------------------------------------


class Settings:
    """Session-wide settings and caches (one per pytest process / xdist worker)."""

    def __init__(self, target: Target, *, step_timeout: float = 3.0, strict: bool = False) -> None:
        self.target = target
        self.step_timeout = step_timeout
        self.strict = strict
        self.contract: tuple[bool, str] | None = None  # (relay works, detail)
        self.client = None  # client mode: the conformance.client.runner.ClientMode
        self.reconnect_trigger: str | None = None  # --reconnect-trigger (the embedded server has its own)
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")


class Ctx:
    def __init__(self, settings: Settings, case: Case) -> None:
        self.settings = settings
        self.case = case
        self.target = settings.target
        self.step_timeout = settings.step_timeout * case.timeout_factor
        self.log = WireLog()
        self.sessions: list[Session] = []
        self._n = 0
        self.notes: list[str] = []

    # sessions and names ---------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def setup(self, step: str):
        """A setup step of the case (TCP connect, handshake, connect, createStream, publish, play it needs): when the
        server does not do it, the case ends with ``error`` ("setup: no _result to connect ..."), never with a
        judgement of the behaviour the case is about."""
        try:
            yield
        except CaseEnd:
            raise
        except (DriverError, OSError) as exc:
            raise SetupError(step, exc) from None

    def session(self, label: str | None = None, *, handshake: bool = True, **kw: Any) -> Session:
        self._n += 1
        s = Session(self.target, label=label or f"c{self._n}", log=self.log, step_timeout=self.step_timeout,
                    seed=zlib.crc32(f"{self.case.id}/{self._n}".encode()), **kw)
        self.sessions.append(s)
        with self.setup("TCP connect"):
            s.open()
        if handshake:
            with self.setup("handshake"):
                s.handshake()
        return s

    def connected(self, label: str | None = None, **kw: Any) -> Session:
        s = self.session(label)
        with self.setup("connect"):
            s.connected(**kw)
        return s

    def create_stream(self, s: Session) -> int:
        """createStream as a setup step."""
        with self.setup("createStream"):
            return s.create_stream()

    def ready(self, s: Session) -> None:
        """Setup: a createStream round trip on ``s`` right before the case acts. It is the evidence that this
        session is served: a later "closed", "ignored" or "stalled" (a createStream barrier that gets no answer)
        is then the server's answer to what the case did, not a session that never worked."""
        with self.setup("a createStream round trip before the case acts"):
            tid = s.next_tid()
            s.send_cmd(messages.create_stream(tid))
            res = s.expect(is_command(("_result", "_error"), tid=tid), f"_result for createStream (tid {tid:g})")
            if res.name != "_result":
                raise DriverError(f"createStream answered {res.name} {res.code or ''}".strip())

    def key(self, tag: str = "") -> str:
        """A stream key unique to this case run (letters, digits and '-' only: every server accepts them)."""
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.case.id)[-28:].strip("-")
        return f"cf-{self.settings.worker}-{slug}{'-' + tag if tag else ''}-{uuid.uuid4().hex[:8]}"

    def note(self, text: str) -> None:
        self.notes.append(text)

    def close_all(self) -> None:
        for s in self.sessions:
            s.close()

    # relay helpers ---------------------------------------------------------------------------------------------
    def publisher(self, key: str | None = None, label: str = "pub", *, fc: bool = False, **connect: Any) -> Publisher:
        """Connect (``connect``: keyword arguments of :meth:`Session.connect`), createStream, publish ``key``."""
        key = key or self.key()
        s = self.connected(label, **connect)
        with self.setup("publish"):
            if fc:
                s.send_cmd(messages.release_stream(key, s.next_tid()))
                s.send_cmd(messages.fc_publish(key, s.next_tid()))
            s.create_stream()
            st = s.publish(key)
            if st.code != "NetStream.Publish.Start":
                raise DriverError(f"publish {key!r} answered {st.name} {st.code}")
        return Publisher(s, key, s.stream_ids[-1])

    def player(self, key: str, label: str = "play", *, wait: bool = True, **connect: Any) -> Player:
        s = self.connected(label, **connect)
        with self.setup("play"):
            s.create_stream()
            st = s.play(key, wait=wait)
            if wait and st.code not in ("NetStream.Play.Start", "NetStream.Play.Reset"):
                raise DriverError(f"play {key!r} answered {st.name} {st.code}")
        return Player(s, key, s.stream_ids[-1])

    def relay_pair(self, *, fc: bool = False) -> tuple[Publisher, Player]:
        pub = self.publisher(fc=fc)
        play = self.player(pub.key)
        return pub, play

    def require_relay(self) -> None:
        ok, detail = contract(self.settings)
        if ok is None:
            raise SetupError("the relay contract probe", detail)
        if not ok:
            raise CaseEnd(Outcome(Verdict.UNSUPPORTED, f"the target does not meet the relay contract: {detail}"))

    def healthy(self) -> tuple[bool, str]:
        """A fresh session: handshake, connect, createStream. (ok, detail)."""
        try:
            s = self.session("healthy")
            s.connected()
            s.create_stream()
            s.close()
            return True, ""
        except SetupError as exc:
            return False, exc.outcome.detail.removeprefix("setup: ")
        except DriverError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        except OSError as exc:
            return False, f"{type(exc).__name__}: {exc}"


@dataclass
class Publisher:
    s: Session
    key: str
    msid: int

    def send(self, item: Item, *, csid: int | None = None, fmt: int | None = None) -> None:
        self.s.send_media(item.type_id, item.payload, item.timestamp, self.msid, csid=csid, fmt=fmt)

    def send_all(self, items: list[Item]) -> None:
        for it in items:
            self.send(it)

    def metadata(self, dm) -> None:
        self.s.send_data(messages.DataMessage(dm.values, self.msid, dm.timestamp))


@dataclass
class Player:
    s: Session
    key: str
    msid: int

    def media(self) -> list[Inbound]:
        """Audio/video messages received (aggregate messages split into their sub-messages)."""
        out = []
        for m in self.s.inbox:
            if m.type_id in (AUDIO, VIDEO):
                out.append(m)
            elif m.type_id == MessageType.AGGREGATE:
                try:
                    for sub in split_aggregate(m.msg):
                        out.append(Inbound(sub, m.offset, m.raw, m.t))
                except Exception:  # noqa: BLE001 - reported by the comparison
                    out.append(m)
        return out

    def data(self) -> list[Inbound]:
        return [m for m in self.s.inbox if m.type_id in (MessageType.DATA_AMF0, MessageType.DATA_AMF3)]

    def wait_media(self, count: int, what: str = "", timeout: float | None = None) -> list[Inbound]:
        try:
            self.s.wait_until(lambda: len(self.media()) >= count, what or f"{count} media messages", timeout)
        except StepTimeout:
            pass
        return self.media()

    def relayed(self, items: list[Item], timeout: float | None = None) -> tuple[str, str, Any]:
        """Wait for ``items`` (published after this player started): ("none" | "altered" | "intact", what is
        wrong, the offending message). Arrival is one thing, integrity another: a relay that alters, drops or
        reorders is "altered", never "none"."""
        got = self.wait_media(len(items), timeout=timeout)
        if not got:
            return "none", "no audio or video message arrived", None
        problem = compare_relay(items, got)
        if problem:
            return "altered", problem[0], problem[1]
        return "intact", "", None

    def foreign(self, sent: list[Item]) -> Inbound | None:
        """The first audio/video message received whose payload is none of ``sent`` (altered on the way)."""
        payloads = {i.payload for i in sent}
        return next((m for m in self.media() if m.payload not in payloads), None)

    def wait_payload(self, payload: bytes, timeout: float | None = None) -> bool:
        try:
            self.s.wait_until(lambda: any(m.payload == payload for m in self.media()), "a media payload", timeout)
            return True
        except StepTimeout:
            return False


def compare_relay(sent: list[Item], got: list[Inbound], *, exact_timestamps: bool = False) -> tuple[str, Any] | None:
    """None if ``got`` carries exactly the messages of ``sent``, per type (audio, video): the same count, the same
    payloads byte for byte, in the same order, with the same timestamp deltas (``exact_timestamps``: the same
    timestamps). Otherwise (what is wrong, the offending message or None)."""
    for t, name in ((VIDEO, "video"), (AUDIO, "audio")):
        s_items = [i for i in sent if i.type_id == t]
        g_items = [m for m in got if m.type_id == t]
        if not s_items:
            continue
        s_payloads = [i.payload for i in s_items]
        for i, a in enumerate(s_items):
            if i >= len(g_items):
                got_payloads = {m.payload for m in g_items}
                lost = [(k, x) for k, x in enumerate(s_items) if x.payload not in got_payloads]
                k, first = lost[0] if lost else (i, a)
                return (f"{len(g_items)} of {len(s_items)} {name} messages arrived; first missing: message {k} "
                        f"({first.label or '-'}, ts {first.timestamp}, {len(first.payload)} bytes)", None)
            b = g_items[i]
            if a.payload == b.payload:
                continue
            j = next((k for k, p in enumerate(s_payloads) if p == b.payload and k != i), None)
            if j is not None and j > i:
                return (f"{name} message {i} ({a.label or '-'}, ts {a.timestamp}) is missing: in its place the "
                        f"player got message {j} ({j - i} message(s) dropped or reordered; {len(g_items)} of "
                        f"{len(s_items)} arrived)", b)
            if j is not None:
                return (f"{name} message {j} arrived again or out of order, at position {i} (where message {i} "
                        f"({a.label or '-'}, ts {a.timestamp}) belongs)", b)
            return (f"{name} message {i} ({a.label or '-'}, ts {a.timestamp}): {_payload_diff(a.payload, b.payload)}",
                    b)
        if len(g_items) > len(s_items):
            extra = g_items[len(s_items)]
            return (f"{len(g_items)} {name} messages arrived for {len(s_items)} sent (the first extra one: "
                    f"ts {extra.timestamp}, {len(extra.payload)} bytes)", extra)
        base_s, base_g = s_items[0].timestamp, g_items[0].timestamp
        for i, (a, b) in enumerate(zip(s_items, g_items, strict=False)):
            want = a.timestamp if exact_timestamps else (base_g + a.timestamp - base_s) & 0xFFFFFFFF
            if b.timestamp != want:
                return (f"{name} message {i} ({a.label or '-'}): timestamp {b.timestamp}, expected {want} "
                        f"(sent {a.timestamp}{', deltas must be kept' if not exact_timestamps else ''})", b)
    return None


def _payload_diff(sent: bytes, got: bytes) -> str:
    if len(sent) != len(got):
        return (f"payload differs: sent {len(sent)} bytes ({sent[:12].hex()}...), got {len(got)} bytes "
                f"({got[:12].hex()}...)")
    diff = [k for k in range(len(sent)) if sent[k] != got[k]]
    o = diff[0]
    return (f"payload altered: {len(diff)} of {len(sent)} bytes differ, the first at byte {o} (sent "
            f"0x{sent[o]:02x}, got 0x{got[o]:02x})")


# -- the relay contract -----------------------------------------------------------------------------------------


def contract(settings: Settings) -> tuple[bool, str]:
    """The target contract: does publish on app/key reach play of app/key *at all*? Any audio or video message of
    the stream arriving at the player meets it; whether it arrives intact (payloads, timestamps, order, counts)
    is what the relay cases judge, and they fail when it does not. Probed once (the plugin does it right after
    the preflight and shares the answer with every worker); cached in ``settings``."""
    if settings.contract is not None:
        return settings.contract
    settings.contract = probe_contract(settings.target, settings.step_timeout)
    return settings.contract


def probe_contract(target: Target, step_timeout: float, log: WireLog | None = None) -> tuple[bool | None, str]:
    """(True, how) when any audio/video message reaches the player; (False, why) when the target visibly does not
    do it (publish or play refused with an answer, or no media arrives); (None, what) when the probe could not
    run (no answer, a closed connection: the target is broken, which is no "unsupported")."""
    probe_case = Case("contract-probe", "contract-relay", lambda ctx: None)
    ctx = Ctx(Settings(target, step_timeout=step_timeout), probe_case)
    if log is not None:
        ctx.log = log
    ok, detail = False, ""
    try:
        from . import payloads

        pub = ctx.publisher()
        play = ctx.player(pub.key)
        items = payloads.av_sequence(3, seed=99)
        pub.send_all(items)
        try:
            play.s.wait_until(lambda: bool(play.media()), "an audio or video message")
        except StepTimeout:
            pass
        got = play.media()
        if got:
            ok, detail = True, (f"publish -> play relay works on {target.url}/<key> (the player got {len(got)} of "
                                f"{len(items)} messages within the probe; the relay cases judge them)")
        else:
            detail = (f"a player of {pub.key!r} got no audio or video message within {ctx.step_timeout:g} s of "
                      f"{len(items)} being published")
    except SetupError as exc:
        detail = exc.outcome.detail
        refused = isinstance(exc.cause, DriverError) and not isinstance(exc.cause, (StepTimeout, Closed, Undecodable))
        if not refused:
            ok = None  # no answer / closed / undecodable: the probe could not run
    except (DriverError, OSError) as exc:
        ok, detail = None, f"{type(exc).__name__}: {exc}"
    finally:
        ctx.close_all()
    return ok, detail


# -- running a case ----------------------------------------------------------------------------------------------


def _normalize(case: Case, res: Any) -> Outcome:
    if res is None:
        return Outcome(Verdict.PASS)
    if isinstance(res, Outcome):
        return res
    if isinstance(res, Observed):
        mapped = case.accept.get(res.behaviour)
        if mapped is None:
            return Outcome(Verdict.FAIL, f"unexpected behaviour {res.behaviour!r}: {res.detail}",
                           res.expected or _expected_from(case), f"{res.behaviour}: {res.detail}".strip(": "),
                           res.behaviour, evidence_of(res.offending))
        verdict, note = (mapped if isinstance(mapped, tuple) else (mapped, ""))
        verdict = Verdict(verdict)
        detail = "; ".join(x for x in (f"behaviour {res.behaviour!r}", note, res.detail) if x)
        out = Outcome(verdict, detail, res.expected or _expected_from(case), f"{res.behaviour}: {res.detail}",
                      res.behaviour, evidence_of(res.offending) if verdict in (Verdict.FAIL, Verdict.NON_STRICT) else [])
        return out
    if isinstance(res, str):
        return _normalize(case, Observed(res))
    raise TypeError(f"check of {case.id} returned {res!r}")


def _expected_from(case: Case) -> str:
    good = [b for b, v in case.accept.items() if Verdict(v[0] if isinstance(v, tuple) else v) is Verdict.PASS]
    return "one of: " + ", ".join(good) if good else case.requirement.text


def run_case(settings: Settings, case: Case) -> tuple[Outcome, Ctx, float]:
    ctx = Ctx(settings, case)
    t0 = time.monotonic()
    try:
        if case.relay:
            ctx.require_relay()
        res = case.check(ctx, **case.params)
        outcome = _normalize(case, res)
    except CaseEnd as end:
        outcome = end.outcome
    except Undecodable as exc:
        outcome = Outcome(Verdict.FAIL, f"the server's bytes do not decode: {exc}", "a well-formed chunk stream",
                          str(exc), evidence=[{"offset": exc.error.offset, "bytes": exc.data.hex()}])
    except StepTimeout as exc:
        outcome = Outcome(Verdict.FAIL, str(exc), case.requirement.text, f"timeout: {exc}")
    except Closed as exc:
        outcome = Outcome(Verdict.FAIL, str(exc), case.requirement.text, f"connection closed: {exc}")
    except DriverError as exc:
        outcome = Outcome(Verdict.FAIL, str(exc), case.requirement.text, f"{type(exc).__name__}: {exc}")
    except OSError as exc:
        outcome = Outcome(Verdict.FAIL, f"socket error: {exc}", case.requirement.text, f"{type(exc).__name__}: {exc}")
    finally:
        ctx.close_all()
    if case.healthy_after and outcome.verdict not in (Verdict.UNSUPPORTED, Verdict.ERROR):
        ok, detail = ctx.healthy()
        ctx.close_all()
        if not ok:
            outcome = Outcome(Verdict.FAIL, f"after this case a second, healthy session fails: {detail}",
                              "the server keeps serving other sessions", detail,
                              behaviour=outcome.behaviour, hard=True,
                              notes=[f"the case itself ended with {outcome.verdict.value}: {outcome.detail}"])
    if (outcome.verdict is Verdict.FAIL and not outcome.hard and case.requirement.level == "SHOULD"):
        outcome.verdict = Verdict.NON_STRICT
        outcome.notes.append("a SHOULD-level requirement: non-strict (fails only with --strict)")
    outcome.notes.extend(ctx.notes)
    return outcome, ctx, time.monotonic() - t0


def stream_begin_for(msid: int):
    return is_user_control(0, msid)
