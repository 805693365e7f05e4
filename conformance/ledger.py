"""The statement ledger: every normative statement of the specs the battery judges, and which cases check it.

``conformance/ledger/*.toml`` hold one file per source (RTMP 1.0, the errata, E-RTMP v1 and v2, AMF0, AMF3, FLV 10.1
Annex E, and the de facto practices some cases follow). Each ``[[statement]]`` has:

- ``id``: source prefix + section + number, e.g. ``rtmp-5.3.1.2.1-2``, ``errata-8.1.1-4``, ``ertmp2-video-3``;
- ``section``, ``text`` (the statement in our own words), ``keyword`` as written (MUST, SHOULD NOT, ... or
  ``implicit`` for a rule stated as a fact of the format; ``de facto`` for a practice no spec states);
- ``who`` must comply: server, client, sender, receiver or both;
- ``testable`` over the wire: yes, partly or no (``why`` says what cannot be observed);
- ``requirements`` (catalog ids), ``cases`` (cases that check it) and ``partial`` (cases that check part of it).

Server-side statements (who is not ``client``) are judged by the battery that talks to a server; client-side ones
(who is not ``server``) by the client-mode battery playing server to a client (``client_cases``). :func:`coverage`
counts, per source and section, statements, testable ones, covered, partial and uncovered.

``python -m conformance.ledger`` prints the coverage tables and the list of uncovered statements.
"""

from __future__ import annotations

import functools
import importlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import catalog

LEDGER_DIR = Path(__file__).with_name("ledger")

KEYWORDS = ("MUST", "MUST NOT", "REQUIRED", "SHALL", "SHALL NOT", "SHOULD", "SHOULD NOT", "RECOMMENDED",
            "NOT RECOMMENDED", "MAY", "OPTIONAL", "implicit", "de facto")
WHO = ("server", "client", "sender", "receiver", "both")
TESTABLE = ("yes", "partly", "no")
SIDES = ("server", "client")
SOURCE_ORDER = ("rtmp", "errata", "ertmp1", "ertmp2", "amf0", "amf3", "flv", "defacto")

_FIELDS = {"id", "section", "text", "keyword", "who", "testable", "why", "requirements", "cases", "partial",
           "client_cases", "client_partial", "note", "sketch"}


class LedgerError(ValueError):
    pass


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    edition: str
    where: str
    numbering: str = ""


@dataclass(frozen=True)
class Statement:
    id: str
    source: str
    section: str
    text: str
    keyword: str
    who: str
    testable: str
    why: str = ""
    requirements: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()
    partial: tuple[str, ...] = ()
    client_cases: tuple[str, ...] = ()
    client_partial: tuple[str, ...] = ()
    note: str = ""
    sketch: str = ""  # for a statement on the work list: the case that would check it, in one line

    def applies_to(self, side: str) -> bool:
        """Does the statement bind a server (side "server") or a client (side "client")?"""
        return self.who != ("client" if side == "server" else "server")

    def status(self, side: str = "server") -> str:
        """covered / partial / uncovered for a testable statement, "untestable" otherwise."""
        if self.testable == "no":
            return "untestable"
        full, part = (self.cases, self.partial) if side == "server" else (self.client_cases, self.client_partial)
        return "covered" if full else "partial" if part else "uncovered"

    def all_cases(self) -> tuple[str, ...]:
        return self.cases + self.partial + self.client_cases + self.client_partial


@dataclass
class Ledger:
    sources: dict[str, Source] = field(default_factory=dict)
    statements: dict[str, Statement] = field(default_factory=dict)

    def of(self, source: str) -> list[Statement]:
        return [s for s in self.statements.values() if s.source == source]

    def problems(self, requirements: Iterable[str] | None = None, cases: Iterable[str] | None = None) -> list[str]:
        """Cross-checks against the catalog and the case registry: unknown requirement or case ids."""
        reqs = set(catalog.load() if requirements is None else requirements)
        known = set(registered_cases() if cases is None else cases)
        out = []
        for s in self.statements.values():
            out += [f"{s.id}: requirement {r!r} is not in catalog.toml" for r in s.requirements if r not in reqs]
            out += [f"{s.id}: case {c!r} is not a registered case" for c in s.all_cases() if c not in known]
        return out


def _tuple(entry: dict, key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LedgerError(f"{where}: {key} must be a list of strings")
    if len(set(value)) != len(value):
        raise LedgerError(f"{where}: {key} names the same id twice")
    return tuple(value)


def parse(files: Mapping[str, str]) -> Ledger:
    """Build a ledger from {file name: TOML text}; raise LedgerError on the first malformed entry."""
    led = Ledger()
    for name in sorted(files):
        try:
            data = tomllib.loads(files[name])
        except tomllib.TOMLDecodeError as exc:
            raise LedgerError(f"{name}: {exc}") from None
        src = data.get("source")
        if not isinstance(src, dict) or not {"key", "title", "edition", "where"} <= set(src):
            raise LedgerError(f"{name}: a [source] table with key, title, edition and where is required")
        key = src["key"]
        if key not in SOURCE_ORDER:
            raise LedgerError(f"{name}: source key {key!r} is not one of {SOURCE_ORDER}")
        if key in led.sources:
            raise LedgerError(f"{name}: source {key!r} is defined twice")
        led.sources[key] = Source(key, src["title"], src["edition"], src["where"], src.get("numbering", ""))
        for i, entry in enumerate(data.get("statement", [])):
            where = f"{name} statement #{i + 1} ({entry.get('id', '?')})"
            unknown = set(entry) - _FIELDS
            if unknown:
                raise LedgerError(f"{where}: unknown fields {sorted(unknown)}")
            missing = {"id", "section", "text", "keyword", "who", "testable"} - set(entry)
            if missing:
                raise LedgerError(f"{where}: missing {sorted(missing)}")
            st = Statement(id=entry["id"], source=key, section=str(entry["section"]), text=entry["text"].strip(),
                           keyword=entry["keyword"], who=entry["who"], testable=entry["testable"],
                           why=entry.get("why", "").strip(), requirements=_tuple(entry, "requirements", where),
                           cases=_tuple(entry, "cases", where), partial=_tuple(entry, "partial", where),
                           client_cases=_tuple(entry, "client_cases", where),
                           client_partial=_tuple(entry, "client_partial", where), note=entry.get("note", ""),
                           sketch=entry.get("sketch", "").strip())
            _check(st, where)
            if st.id in led.statements:
                raise LedgerError(f"{where}: duplicate statement id {st.id!r}")
            led.statements[st.id] = st
    missing = set(SOURCE_ORDER) - set(led.sources)
    if missing:
        raise LedgerError(f"no ledger file for source(s) {sorted(missing)}")
    return led


def _check(st: Statement, where: str) -> None:
    prefix = f"{st.source}-"
    if not re.fullmatch(re.escape(prefix + st.section) + r"-[1-9][0-9]*", st.id):
        raise LedgerError(f"{where}: id must be '{prefix}<section>-<n>' (section {st.section!r})")
    if not st.text:
        raise LedgerError(f"{where}: empty text")
    if st.keyword not in KEYWORDS:
        raise LedgerError(f"{where}: keyword {st.keyword!r} is not one of {KEYWORDS}")
    if (st.keyword == "de facto") != (st.source == "defacto"):
        raise LedgerError(f"{where}: keyword 'de facto' is for (and only for) the defacto source")
    if st.who not in WHO:
        raise LedgerError(f"{where}: who {st.who!r} is not one of {WHO}")
    if st.testable not in TESTABLE:
        raise LedgerError(f"{where}: testable {st.testable!r} is not one of {TESTABLE}")
    if st.testable != "yes" and not st.why:
        raise LedgerError(f"{where}: testable {st.testable!r} needs a 'why' (what cannot be observed)")
    if st.testable == "yes" and st.why:
        raise LedgerError(f"{where}: 'why' is only for statements that are not fully testable")
    if st.testable == "no" and (st.all_cases() or st.sketch):
        raise LedgerError(f"{where}: an untestable statement cannot name cases or a sketch")
    if set(st.cases) & set(st.partial) or set(st.client_cases) & set(st.client_partial):
        raise LedgerError(f"{where}: a case is listed both as checking it and as checking part of it")
    if st.who == "client" and (st.cases or st.partial):
        raise LedgerError(f"{where}: a client-side statement cannot be checked by a server battery case")
    if st.who == "server" and (st.client_cases or st.client_partial):
        raise LedgerError(f"{where}: a server-side statement cannot be checked by a client battery case")


@functools.cache
def load(directory: str | None = None) -> Ledger:
    d = Path(directory) if directory else LEDGER_DIR
    return parse({p.name: p.read_text(encoding="utf-8") for p in sorted(d.glob("*.toml"))})


@functools.cache
def registered_cases() -> frozenset[str]:
    """Ids of every case of the battery (conformance/test_*.py tables register on import)."""
    from .case import REGISTRY

    for mod in sorted(Path(__file__).parent.glob("test_*.py")):
        importlib.import_module(f"{__package__}.{mod.stem}")
    return frozenset(k for k in REGISTRY if not k.startswith("selftest-"))


# -- coverage --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    source: str
    section: str  # "" for the whole source
    statements: int = 0
    testable: int = 0
    covered: int = 0
    partial: int = 0
    uncovered: int = 0

    def add(self, st: Statement, side: str) -> None:
        self.statements += 1
        status = st.status(side)
        if status != "untestable":
            self.testable += 1
            setattr(self, status, getattr(self, status) + 1)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.testable if self.testable else 100.0


def _section_key(section: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in section.replace("-", ".").split("."))


def _order(st: Statement) -> tuple:
    """Source order, then section, then the statement's number (rtmp-7.1.7-2 before rtmp-7.1.7-10)."""
    return SOURCE_ORDER.index(st.source), _section_key(st.section), int(st.id.rsplit("-", 1)[1])


def coverage(ledger: Ledger | None = None, side: str = "server", *, by_section: bool = False,
             keywords: Iterable[str] | None = None) -> list[Row]:
    """Rows per source (and per section with ``by_section``) for the statements that bind ``side``."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}")
    led = ledger or load()
    kw = set(keywords) if keywords is not None else None
    rows: dict[tuple[str, str], Row] = {}
    for st in led.statements.values():
        if not st.applies_to(side) or (kw is not None and st.keyword not in kw):
            continue
        key = (st.source, st.section if by_section else "")
        rows.setdefault(key, Row(*key)).add(st, side)
    order = {s: i for i, s in enumerate(SOURCE_ORDER)}
    return sorted(rows.values(), key=lambda r: (order[r.source], _section_key(r.section)))


def total(rows: Iterable[Row]) -> Row:
    t = Row("total", "")
    for r in rows:
        for f in ("statements", "testable", "covered", "partial", "uncovered"):
            setattr(t, f, getattr(t, f) + getattr(r, f))
    return t


def work_list(ledger: Ledger | None = None, side: str = "server", *, testable: tuple[str, ...] = ("yes", "partly"),
              include_partial: bool = True) -> list[Statement]:
    """Testable statements binding ``side`` that no case checks (and, with ``include_partial``, checks only in part)."""
    led = ledger or load()
    want = {"uncovered", "partial"} if include_partial else {"uncovered"}
    out = [s for s in led.statements.values()
           if s.applies_to(side) and s.testable in testable and s.status(side) in want]
    return sorted(out, key=_order)


def statements_for_case(case_id: str, ledger: Ledger | None = None) -> list[Statement]:
    led = ledger or load()
    return [s for s in led.statements.values() if case_id in s.all_cases()]


@functools.cache
def case_statements() -> dict[str, dict[str, tuple[str, ...]]]:
    """The inverse map: case id -> {"checks": statement ids it checks, "part_of": ids it checks in part}."""
    out: dict[str, dict[str, list[str]]] = {}
    for s in sorted(load().statements.values(), key=_order):
        for c in s.cases + s.client_cases:
            out.setdefault(c, {"checks": [], "part_of": []})["checks"].append(s.id)
        for c in s.partial + s.client_partial:
            out.setdefault(c, {"checks": [], "part_of": []})["part_of"].append(s.id)
    return {c: {k: tuple(v) for k, v in d.items()} for c, d in out.items()}


def report_summary(side: str = "server", ran: Iterable[str] | None = None, ledger: Ledger | None = None) -> dict:
    """What the reports show of the ledger: coverage per source and per section for ``side``, the uncovered and partly
    covered testable statements by id, and, when ``ran`` (case ids of this run) is given, how many statements the
    cases of this run checked."""
    led = ledger or load()
    ran_set = set(ran) if ran is not None else None

    def row(r: Row) -> dict:
        title = led.sources[r.source].title if r.source in led.sources else r.source
        return {"source": r.source, "title": title, "section": r.section, "statements": r.statements,
                "testable": r.testable, "covered": r.covered, "partial": r.partial, "uncovered": r.uncovered,
                "percent": round(r.percent, 1)}

    rows = coverage(led, side)
    yes = [s for s in led.statements.values() if s.applies_to(side) and s.testable == "yes"]
    out = {"side": side, "sources": [row(r) for r in rows], "total": row(total(rows)),
           "sections": [row(r) for r in coverage(led, side, by_section=True)],
           "yes": {"statements": len(yes), "covered": sum(s.status(side) == "covered" for s in yes)},
           "uncovered": [{"id": s.id, "source": s.source, "section": s.section, "keyword": s.keyword,
                          "testable": s.testable, "status": s.status(side), "text": s.text, "why": s.why}
                         for s in work_list(led, side)]}
    out["yes"]["percent"] = round(100.0 * out["yes"]["covered"] / max(1, out["yes"]["statements"]), 1)
    if ran_set is not None:
        full, part = ("cases", "partial") if side == "server" else ("client_cases", "client_partial")
        checked = [s for s in led.statements.values() if s.applies_to(side) and s.testable != "no"
                   and set(getattr(s, full) + getattr(s, part)) & ran_set]
        out["this_run"] = {"statements_checked": len(checked),
                           "statements_fully_checked": sum(bool(set(getattr(s, full)) & ran_set) for s in checked)}
    return out


# -- markdown (docs/ledger.md and the CLI) ---------------------------------------------------------------------


def coverage_markdown(ledger: Ledger | None = None, side: str = "server") -> str:
    led = ledger or load()
    rows = coverage(led, side)
    lines = ["| source | statements | testable | covered | partial | uncovered | covered % |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows + [total(rows)]:
        name = led.sources[r.source].title if r.source in led.sources else "**total**"
        lines.append(f"| {name} | {r.statements} | {r.testable} | {r.covered} | {r.partial} | {r.uncovered} "
                     f"| {r.percent:.0f}% |")
    return "\n".join(lines)


MUST_LEVEL = ("MUST", "MUST NOT", "REQUIRED", "SHALL", "SHALL NOT")
SHOULD_LEVEL = ("SHOULD", "SHOULD NOT", "RECOMMENDED", "NOT RECOMMENDED")
MAY_LEVEL = ("MAY", "OPTIONAL")


def overview_markdown(ledger: Ledger | None = None) -> str:
    """Every statement of each source, both sides: by keyword level, by side, by testability."""
    led = ledger or load()
    lines = ["| source | statements | MUST-level | SHOULD-level | MAY-level | implicit | de facto | bind server "
             "| bind client | testable yes | partly | no |", "|---|" + "---:|" * 11]
    rows = []
    for key in SOURCE_ORDER:
        sts = led.of(key)
        kw = [st.keyword for st in sts]
        rows.append((led.sources[key].title, len(sts), sum(k in MUST_LEVEL for k in kw),
                     sum(k in SHOULD_LEVEL for k in kw), sum(k in MAY_LEVEL for k in kw), kw.count("implicit"),
                     kw.count("de facto"), sum(st.applies_to("server") for st in sts),
                     sum(st.applies_to("client") for st in sts), *(sum(st.testable == t for st in sts)
                                                                   for t in TESTABLE)))
    rows.append(("**total**", *(sum(r[i] for r in rows) for i in range(1, 12))))
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def counts_markdown(ledger: Ledger | None = None, side: str = "server") -> str:
    """The numbers behind the coverage table, as sentences."""
    led = ledger or load()
    sts = [st for st in led.statements.values() if st.applies_to(side)]
    yes = [st for st in sts if st.testable == "yes"]
    spec_yes = [st for st in yes if st.source != "defacto"]
    must = [st for st in yes if st.keyword in MUST_LEVEL]

    def n(items, status):
        return sum(st.status(side) == status for st in items)

    unchecked_must = [st for st in must if st.status(side) != "covered"]
    by_src = {k: sum(st.source == k for st in unchecked_must) for k in SOURCE_ORDER}
    worst = max(by_src, key=by_src.get)
    if unchecked_must:
        tail = (f"The {len(unchecked_must)} not fully checked ({by_src[worst]} of them in "
                f"{led.sources[worst].title}): " + ", ".join(f"`{st.id}`" for st in sorted(unchecked_must, key=_order))
                + ".")
    else:
        tail = "Every one of them is checked by a case."
    return (f"Fully wire-testable (`yes`) statements binding the {side}: {len(yes)}, of which {n(yes, 'covered')} "
            f"covered, {n(yes, 'partial')} partly, {n(yes, 'uncovered')} not at all. From the specs alone (without "
            f"the de facto entries, covered by construction): {len(spec_yes)}, {n(spec_yes, 'covered')} covered "
            f"({100 * n(spec_yes, 'covered') / max(1, len(spec_yes)):.0f}%), {n(spec_yes, 'partial')} partly, "
            f"{n(spec_yes, 'uncovered')} not at all.\n\n"
            f"MUST-level (MUST, MUST NOT, REQUIRED, SHALL, SHALL NOT) and fully testable: {len(must)}; "
            f"{n(must, 'covered')} covered, {n(must, 'partial')} partly, {n(must, 'uncovered')} unchecked. " + tail)


def sections_markdown(ledger: Ledger | None = None, side: str = "server") -> str:
    led = ledger or load()
    lines = ["| source | section | statements | testable | covered | partial | uncovered |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in coverage(led, side, by_section=True):
        lines.append(f"| {r.source} | {r.section} | {r.statements} | {r.testable} | {r.covered} | {r.partial} "
                     f"| {r.uncovered} |")
    return "\n".join(lines)


def work_list_markdown(ledger: Ledger | None = None, side: str = "server") -> str:
    """The work list grouped by source and section: id, keyword, who, status, statement and the case sketch."""
    led = ledger or load()
    lines: list[str] = []
    last: tuple[str, str] | None = None
    for s in work_list(led, side):
        if last is None or s.source != last[0]:
            lines += ["", f"### {led.sources[s.source].title}, {led.sources[s.source].edition}"]
        if last is None or (s.source, s.section) != last:
            lines += ["", f"**{s.section}**", ""]
        last = (s.source, s.section)
        sketch = f" Case: {s.sketch}" if s.sketch else ""
        lines.append(f"- `{s.id}` ({s.keyword}, {s.who}, {s.status(side)}) {s.text}{sketch}")
    return "\n".join(lines).strip()


DOCS_FILE = Path(__file__).resolve().parent.parent / "docs" / "ledger.md"
_BLOCKS = {"overview": overview_markdown,
           "coverage:server": lambda led: coverage_markdown(led, "server"),
           "counts:server": lambda led: counts_markdown(led, "server"),
           "coverage:client": lambda led: coverage_markdown(led, "client"),
           "sections:server": lambda led: sections_markdown(led, "server"),
           "worklist:server": lambda led: work_list_markdown(led, "server")}


def render_docs(text: str, ledger: Ledger | None = None) -> str:
    """``text`` (docs/ledger.md) with every generated block between its <!-- name:begin/end --> markers redone."""
    led = ledger or load()
    for name, make in _BLOCKS.items():
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        if begin not in text or end not in text:
            raise LedgerError(f"docs lack the markers {begin} ... {end}")
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{make(led)}\n{end}{tail}"
    return text


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m conformance.ledger", description=__doc__.splitlines()[0])
    ap.add_argument("--side", choices=SIDES, default="server")
    ap.add_argument("--sections", action="store_true", help="coverage per section")
    ap.add_argument("--work-list", action="store_true", help="list uncovered and partly covered statements")
    ap.add_argument("--update-docs", action="store_true", help=f"rewrite the generated blocks of {DOCS_FILE.name}")
    args = ap.parse_args(argv)
    led = load()
    problems = led.problems()
    for p in problems:
        print(f"PROBLEM: {p}")
    if args.update_docs:
        DOCS_FILE.write_text(render_docs(DOCS_FILE.read_text(encoding="utf-8"), led), encoding="utf-8")
        print(f"updated {DOCS_FILE}")
        return 1 if problems else 0
    print(coverage_markdown(led, args.side))
    if args.sections:
        print()
        print(sections_markdown(led, args.side))
    if args.work_list:
        print()
        print(work_list_markdown(led, args.side))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
