"""Verdicts (Autobahn|Testsuite style) and the outcome a case produces.

- ``pass``: the server did what the requirement asks.
- ``fail``: it did not (a MUST, or a crash/hang of any level).
- ``non-strict``: a SHOULD was not met; passes in lenient mode, fails with ``--strict``.
- ``informational``: nothing to judge, the behaviour is recorded (passes, with a note).
- ``unsupported``: an optional feature the server visibly lacks (or the target contract is not met): a pytest
  skip with the reason, never counted as a pass.
- ``error``: the case could not judge anything: its own setup (TCP connect, handshake, connect, createStream,
  publish, play that it needs) failed. A pytest failure, never downgraded by the requirement level.
- ``not-run``: the target had stopped serving (since an earlier case) and could not be restarted: a pytest skip
  naming that case, reported once in the summary; the run fails.

A case may accept several behaviours, each mapped to a verdict (``Case.accept``); a check reports what it saw
with :func:`observed`, or ends early with :func:`fail` / :func:`non_strict` / :func:`informational` /
:func:`unsupported` / :func:`passed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NON_STRICT = "non-strict"
    INFORMATIONAL = "informational"
    UNSUPPORTED = "unsupported"
    ERROR = "error"
    NOT_RUN = "not-run"

    def __str__(self) -> str:
        return self.value


# worst first: the verdict of a requirement is the worst verdict of its cases
SEVERITY_ORDER = [Verdict.ERROR, Verdict.FAIL, Verdict.NON_STRICT, Verdict.NOT_RUN, Verdict.UNSUPPORTED,
                  Verdict.INFORMATIONAL, Verdict.PASS]


def worst(verdicts: list[Verdict | str]) -> str | None:
    vals = [str(v) for v in verdicts]
    for v in [x.value for x in SEVERITY_ORDER]:
        if v in vals:
            return v
    return None


@dataclass
class Outcome:
    verdict: Verdict
    detail: str = ""
    expected: str | None = None
    actual: str | None = None
    behaviour: str | None = None
    evidence: list[dict] = field(default_factory=list)  # offending messages: decoded + bytes
    hard: bool = False  # not downgraded by the requirement level (e.g. the server stopped serving)
    notes: list[str] = field(default_factory=list)
    crash: bool = False  # the server stopped serving during this case (found by the health probe after it)

    def to_json(self) -> dict:
        return {"verdict": self.verdict.value, "detail": self.detail, "expected": self.expected,
                "actual": self.actual, "behaviour": self.behaviour, "evidence": self.evidence,
                "notes": self.notes, "crash": self.crash}


class CaseEnd(Exception):
    """Raised by a check to end with an outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


class SetupError(CaseEnd):
    """The case's own setup failed (raised by ``Ctx.setup``): the case ends with ``error``, never a judgement."""

    def __init__(self, step: str, cause: BaseException | str) -> None:
        what = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(Outcome(Verdict.ERROR, f"setup: {step}: {what}", f"setup step {step!r} succeeds",
                                 f"setup failed at {step!r}: {what}", hard=True))
        self.step = step
        self.cause = cause


def evidence_of(offending: Any) -> list[dict]:
    if offending is None:
        return []
    items = offending if isinstance(offending, (list, tuple)) else [offending]
    out = []
    for m in items:
        if hasattr(m, "evidence"):
            out.append(m.evidence())
        elif isinstance(m, dict):
            out.append(m)
        elif isinstance(m, (bytes, bytearray)):
            out.append({"bytes": bytes(m[:512]).hex()})
        else:
            out.append({"value": repr(m)})
    return out


def fail(expected: str, actual: str, *, offending: Any = None, detail: str = "", hard: bool = False) -> None:
    raise CaseEnd(Outcome(Verdict.FAIL, detail or actual, expected, actual, evidence=evidence_of(offending), hard=hard))


def non_strict(expected: str, actual: str, *, offending: Any = None, detail: str = "") -> None:
    raise CaseEnd(Outcome(Verdict.NON_STRICT, detail or actual, expected, actual, evidence=evidence_of(offending)))


def informational(note: str, *, behaviour: str | None = None) -> None:
    raise CaseEnd(Outcome(Verdict.INFORMATIONAL, note, behaviour=behaviour))


def unsupported(reason: str) -> None:
    raise CaseEnd(Outcome(Verdict.UNSUPPORTED, reason))


def passed(note: str = "") -> None:
    raise CaseEnd(Outcome(Verdict.PASS, note))


@dataclass
class Observed:
    """A behaviour the check saw; ``Case.accept`` maps it to a verdict."""

    behaviour: str
    detail: str = ""
    offending: Any = None
    expected: str | None = None


def observed(behaviour: str, detail: str = "", *, offending: Any = None, expected: str | None = None) -> Observed:
    return Observed(behaviour, detail, offending, expected)
