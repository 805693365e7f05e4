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
    is_user_control,
)
from .payloads import AUDIO, VIDEO, Item
from .verdicts import CaseEnd, Observed, Outcome, Verdict

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
    ] + ([pytest.mark.interop] if case.refs and req.chapter != "interop" else [])


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
    def session(self, label: str | None = None, *, handshake: bool = True, **kw: Any) -> Session:
        self._n += 1
        s = Session(self.target, label=label or f"c{self._n}", log=self.log, step_timeout=self.step_timeout,
                    seed=zlib.crc32(f"{self.case.id}/{self._n}".encode()), **kw)
        self.sessions.append(s)
        s.open()
        if handshake:
            s.handshake()
        return s

    def connected(self, label: str | None = None, **kw: Any) -> Session:
        s = self.session(label)
        s.connected(**kw)
        return s

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
    def publisher(self, key: str | None = None, label: str = "pub", *, fc: bool = False) -> Publisher:
        key = key or self.key()
        s = self.connected(label)
        if fc:
            s.send_cmd(messages.release_stream(key, s.next_tid()))
            s.send_cmd(messages.fc_publish(key, s.next_tid()))
        s.create_stream()
        st = s.publish(key)
        if st.code != "NetStream.Publish.Start":
            raise DriverError(f"publish {key!r} answered {st.name} {st.code}")
        return Publisher(s, key, s.stream_ids[-1])

    def player(self, key: str, label: str = "play", *, wait: bool = True) -> Player:
        s = self.connected(label)
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

    def wait_payload(self, payload: bytes, timeout: float | None = None) -> bool:
        try:
            self.s.wait_until(lambda: any(m.payload == payload for m in self.media()), "a media payload", timeout)
            return True
        except StepTimeout:
            return False


def compare_relay(sent: list[Item], got: list[Inbound], *, exact_timestamps: bool = False) -> tuple[str, Any] | None:
    """None if ``got`` carries the payloads of ``sent`` in order (per type) with the same timestamp deltas;
    otherwise (what is wrong, offending message or None)."""
    for t, name in ((VIDEO, "video"), (AUDIO, "audio")):
        s_items = [i for i in sent if i.type_id == t]
        g_items = [m for m in got if m.type_id == t]
        if not s_items:
            continue
        if len(g_items) < len(s_items):
            missing = s_items[len(g_items)] if len(g_items) < len(s_items) else None
            # find the first sent payload that never arrived
            got_payloads = [m.payload for m in g_items]
            lost = [i for i in s_items if i.payload not in got_payloads]
            first = lost[0] if lost else missing
            return (f"{len(g_items)} of {len(s_items)} {name} messages arrived; first missing: "
                    f"{first.label or ''} ts={first.timestamp} {len(first.payload)} bytes", None)
        for i, (a, b) in enumerate(zip(s_items, g_items, strict=False)):
            if a.payload != b.payload:
                return (f"{name} message {i} ({a.label}, ts {a.timestamp}): payload differs "
                        f"(sent {len(a.payload)} bytes {a.payload[:12].hex()}..., got {len(b.payload)} bytes "
                        f"{b.payload[:12].hex()}...)", b)
        base_s, base_g = s_items[0].timestamp, g_items[0].timestamp
        for i, (a, b) in enumerate(zip(s_items, g_items, strict=False)):
            want = a.timestamp if exact_timestamps else (base_g + a.timestamp - base_s) & 0xFFFFFFFF
            if b.timestamp != want:
                return (f"{name} message {i} ({a.label}): timestamp {b.timestamp}, expected {want} "
                        f"(sent {a.timestamp}{', deltas must be kept' if not exact_timestamps else ''})", b)
    return None


# -- the relay contract -----------------------------------------------------------------------------------------


def contract(settings: Settings) -> tuple[bool, str]:
    """Does the target relay publish(app/key) to play(app/key)? Probed once per process and cached."""
    if settings.contract is not None:
        return settings.contract
    probe_case = Case("contract-probe", "contract-relay", lambda ctx: None)
    ctx = Ctx(settings, probe_case)
    ok, detail = False, ""
    try:
        from . import payloads

        pub = ctx.publisher()
        play = ctx.player(pub.key)
        items = payloads.av_sequence(3, seed=99)
        pub.send_all(items)
        if play.wait_payload(items[-1].payload):
            ok, detail = True, f"publish -> play relay works on {settings.target.url}/<key>"
        else:
            detail = f"a player of {pub.key!r} got no media within {ctx.step_timeout} s of it being published"
    except (DriverError, OSError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
    finally:
        ctx.close_all()
    settings.contract = (ok, detail)
    return settings.contract


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
                           res.behaviour, _ev(res.offending))
        verdict, note = (mapped if isinstance(mapped, tuple) else (mapped, ""))
        verdict = Verdict(verdict)
        detail = "; ".join(x for x in (f"behaviour {res.behaviour!r}", note, res.detail) if x)
        out = Outcome(verdict, detail, res.expected or _expected_from(case), f"{res.behaviour}: {res.detail}",
                      res.behaviour, _ev(res.offending) if verdict in (Verdict.FAIL, Verdict.NON_STRICT) else [])
        return out
    if isinstance(res, str):
        return _normalize(case, Observed(res))
    raise TypeError(f"check of {case.id} returned {res!r}")


def _ev(offending: Any) -> list[dict]:
    from .verdicts import _evidence

    return _evidence(offending)


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
    if case.healthy_after and outcome.verdict is not Verdict.UNSUPPORTED:
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
