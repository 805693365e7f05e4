"""The statement ledger (conformance/ledger/*.toml) stays honest: well-formed, tied to real catalog requirements and
real cases, every case accounted for, coverage computed right, and docs/ledger.md showing the current numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance import catalog, ledger
from conformance.ledger import LedgerError, Statement

DOCS = Path(__file__).resolve().parents[1] / "docs" / "ledger.md"

SOURCE_HEADER = """
[source]
key = "{key}"
title = "T {key}"
edition = "e"
where = "w"
"""


def _files(extra: dict[str, str] | None = None, **statements: str) -> dict[str, str]:
    """A minimal valid ledger: one file per source, statements (TOML text) added to the named sources."""
    files = {f"{k}.toml": SOURCE_HEADER.format(key=k) + statements.get(k, "") for k in ledger.SOURCE_ORDER}
    files.update(extra or {})
    return files


def _st(id_: str, section: str, *, keyword: str = "MUST", who: str = "server", testable: str = "yes",
        extra: str = "") -> str:
    return (f'\n[[statement]]\nid = "{id_}"\nsection = "{section}"\nkeyword = "{keyword}"\nwho = "{who}"\n'
            f'testable = "{testable}"\ntext = "a rule"\n{extra}\n')


@pytest.fixture(scope="module")
def led() -> ledger.Ledger:
    return ledger.load()


# -- the real ledger ---------------------------------------------------------------------------------------------


def test_ledger_references_only_real_requirements_and_cases(led):
    assert led.problems() == []


def test_covered_yes_statements_name_existing_cases(led):
    cases = ledger.registered_cases()
    covered = [s for s in led.statements.values() if s.testable == "yes" and s.status() == "covered"]
    assert len(covered) > 150
    for s in covered:
        assert s.cases and set(s.cases) <= cases, s.id


def test_every_case_names_its_statements(led):
    named = {c for s in led.statements.values() for c in s.all_cases()}
    unnamed = sorted(ledger.registered_cases() - named)
    assert unnamed == [], f"cases no ledger statement names (add them, or a de facto entry): {unnamed}"


def test_every_catalog_requirement_is_named(led):
    named = {r for s in led.statements.values() for r in s.requirements}
    assert sorted(set(catalog.load()) - named) == []


def test_ids_unique_and_prefixed_by_source_and_section(led):
    seen = set()
    for s in led.statements.values():
        assert s.id not in seen
        seen.add(s.id)
        assert re.fullmatch(rf"{s.source}-{re.escape(s.section)}-\d+", s.id), s.id


def test_sources_are_exhaustive_enough(led):
    """Guards against entries lost by accident: the issue's estimates of each source's statements."""
    rtmp_4_7 = [s for s in led.of("rtmp") if s.section.split(".")[0] in {"4", "5", "6", "7"}]
    assert len(rtmp_4_7) > 200
    assert len(led.of("errata")) >= 50
    assert len(led.of("ertmp2")) >= 60
    for key in ledger.SOURCE_ORDER:
        assert led.of(key), key


def test_errata_use_the_2024_numbering(led):
    """2 July 2024: new section 3; June 2023 sections 3-9 moved to 4-10."""
    sections_2024 = {"2", "3", "4", "4.1", "4.2", "5.1", "5.2", "6", "7", "7.1", "7.2", "8.1.1", "8.1.2", "8.1.3",
                     "8.1.4", "8.1.5", "8.1.6", "8.2", "8.3", "10"}
    assert {s.section for s in led.of("errata")} <= sections_2024
    assert led.sources["errata"].edition == "2 July 2024"
    assert led.statements["errata-6-2"].keyword == "MUST"  # Abort handling: SHOULD in 2023, MUST in 2024
    assert led.statements["errata-3-2"].keyword == "SHOULD NOT"  # C2 leniency, normative since 2024


def test_untestable_statements_say_why_and_name_no_case(led):
    for s in led.statements.values():
        if s.testable != "yes":
            assert s.why, s.id
        if s.testable == "no":
            assert not s.all_cases(), s.id


def test_client_statements_are_not_claimed_by_server_cases(led):
    for s in led.statements.values():
        if s.who == "client":
            assert not s.cases and not s.partial, s.id


def test_statements_of_a_case_are_found(led):
    ids = {s.id for s in ledger.statements_for_case("5.4.2-abort-partial-message", led)}
    assert {"rtmp-5.4.2-1", "errata-6-2"} <= ids


# -- the loader rejects what it must ---------------------------------------------------------------------------


@pytest.mark.parametrize("statement, message", [
    (_st("rtmp-5-1", "5") + _st("rtmp-5-1", "5"), "duplicate statement id"),
    (_st("rtmp-5-1", "5", keyword="must"), "keyword 'must'"),
    (_st("rtmp-5-1", "5", keyword="de facto"), "'de facto' is for"),
    (_st("rtmp-5-1", "5", who="player"), "who 'player'"),
    (_st("rtmp-5-1", "5", testable="maybe"), "testable 'maybe'"),
    (_st("rtmp-5-1", "5", testable="partly"), "needs a 'why'"),
    (_st("rtmp-5-1", "5", extra='why = "x"'), "only for statements that are not fully testable"),
    (_st("rtmp-5-1", "5", testable="no", extra='why = "x"\ncases = ["c"]'), "cannot name cases"),
    (_st("rtmp-5-1", "5", who="client", extra='cases = ["c"]'), "client-side statement"),
    (_st("rtmp-5-1", "5", who="server", extra='client_cases = ["c"]'), "server-side statement"),
    (_st("rtmp-5-1", "5", extra='cases = ["c"]\npartial = ["c"]'), "both as checking"),
    (_st("rtmp-5-1", "5", extra='cases = ["c", "c"]'), "same id twice"),
    (_st("rtmp-5-1", "5", extra='cases = "c"'), "list of strings"),
    (_st("rtmp-5-1", "5", extra='colour = "red"'), "unknown fields"),
    (_st("errata-5-1", "5"), "id must be 'rtmp-<section>-<n>'"),
    (_st("rtmp-5.2-1", "5"), "id must be 'rtmp-<section>-<n>'"),
    ('\n[[statement]]\nid = "rtmp-5-1"\nsection = "5"\n', "missing"),
])
def test_parse_rejects(statement, message):
    with pytest.raises(LedgerError, match=re.escape(message)):
        ledger.parse(_files(rtmp=statement))


def test_parse_rejects_missing_or_bad_sources():
    files = _files()
    del files["amf3.toml"]
    with pytest.raises(LedgerError, match="no ledger file for source"):
        ledger.parse(files)
    with pytest.raises(LedgerError, match="source key 'nope'"):
        ledger.parse(_files({"x.toml": SOURCE_HEADER.format(key="nope")}))
    with pytest.raises(LedgerError, match="defined twice"):
        ledger.parse(_files({"y.toml": SOURCE_HEADER.format(key="rtmp")}))
    with pytest.raises(LedgerError, match=r"a \[source\] table"):
        ledger.parse(_files({"rtmp.toml": _st("rtmp-5-1", "5")}))
    with pytest.raises(LedgerError, match="rtmp.toml"):
        ledger.parse(_files({"rtmp.toml": "this is = = not toml"}))


def test_problems_name_unknown_requirements_and_cases():
    led = ledger.parse(_files(rtmp=_st("rtmp-5-1", "5", extra='requirements = ["no-such-req"]\ncases = ["ghost"]')))
    problems = led.problems(requirements={"5.4-control-stream"}, cases={"real-case"})
    assert problems == ["rtmp-5-1: requirement 'no-such-req' is not in catalog.toml",
                        "rtmp-5-1: case 'ghost' is not a registered case"]
    assert led.problems(requirements={"no-such-req"}, cases={"ghost"}) == []


# -- coverage ---------------------------------------------------------------------------------------------------


def _synthetic() -> ledger.Ledger:
    rtmp = (_st("rtmp-5-1", "5", extra='cases = ["a"]')
            + _st("rtmp-5-2", "5", extra='partial = ["b"]')
            + _st("rtmp-5-3", "5")
            + _st("rtmp-5.4-1", "5.4", testable="no", extra='why = "x"')
            + _st("rtmp-5.4-2", "5.4", who="client")
            + _st("rtmp-5.4-3", "5.4", who="both", testable="partly", extra='why = "x"\ncases = ["a"]')
            + _st("rtmp-5.4-4", "5.4", who="sender", extra='client_cases = ["z"]'))
    return ledger.parse(_files(rtmp=rtmp, errata=_st("errata-6-1", "6", keyword="SHOULD", who="receiver")))


def test_coverage_per_source_and_side():
    led = _synthetic()
    server = {r.source: r for r in ledger.coverage(led, "server")}
    r = server["rtmp"]
    assert (r.statements, r.testable, r.covered, r.partial, r.uncovered) == (6, 5, 2, 1, 2)
    assert server["errata"].uncovered == 1
    client = {r.source: r for r in ledger.coverage(led, "client")}
    r = client["rtmp"]  # rtmp-5.4-2 (client), 5.4-3 (both, no client case), 5.4-4 (sender, client case)
    assert (r.statements, r.testable, r.covered, r.partial, r.uncovered) == (3, 3, 1, 0, 2)
    t = ledger.total(ledger.coverage(led, "server"))
    assert (t.statements, t.testable, t.covered) == (7, 6, 2)
    assert round(t.percent) == 33
    with pytest.raises(ValueError):
        ledger.coverage(led, "middlebox")


def test_coverage_by_section_and_keyword():
    led = _synthetic()
    rows = {(r.source, r.section): r for r in ledger.coverage(led, "server", by_section=True)}
    assert rows[("rtmp", "5")].statements == 3 and rows[("rtmp", "5.4")].statements == 3
    assert [r.source for r in ledger.coverage(led, keywords={"SHOULD"})] == ["errata"]


def test_work_list_is_the_testable_unchecked_rest():
    led = _synthetic()
    ids = [s.id for s in ledger.work_list(led, "server")]
    assert ids == ["rtmp-5-2", "rtmp-5-3", "rtmp-5.4-4", "errata-6-1"]
    assert [s.id for s in ledger.work_list(led, include_partial=False)] == ["rtmp-5-3", "rtmp-5.4-4", "errata-6-1"]


def test_statement_status():
    s = Statement("rtmp-5-1", "rtmp", "5", "t", "MUST", "both", "yes", partial=("a",), client_cases=("z",))
    assert (s.status("server"), s.status("client")) == ("partial", "covered")
    assert s.applies_to("server") and s.applies_to("client")
    assert not Statement("rtmp-5-2", "rtmp", "5", "t", "MUST", "client", "yes").applies_to("server")


# -- the docs show the current numbers -----------------------------------------------------------------------------


def test_work_list_statements_have_a_sketch(led):
    missing = [s.id for s in ledger.work_list(led, "server") if not s.sketch]
    assert missing == [], f"work-list statements without a sketch of the case that would check them: {missing}"


def test_docs_generated_parts_are_current(led):
    text = DOCS.read_text(encoding="utf-8")
    assert ledger.render_docs(text, led) == text, (
        "docs/ledger.md is stale: run `.venv/bin/python -m conformance.ledger --update-docs`")


def test_docs_work_list_and_tables_carry_the_ledger(led):
    text = DOCS.read_text(encoding="utf-8")
    work = text[text.index("<!-- worklist:server:begin -->"):text.index("<!-- worklist:server:end -->")]
    assert all(f"`{s.id}`" in work for s in ledger.work_list(led, "server"))
    assert "`rtmp-5.4.1-6`" not in work  # covered statements stay off the list
    assert "| Adobe RTMP 1.0 | 225 |" in text  # the overview counts every statement, both sides


def test_render_docs_replaces_blocks_and_needs_markers(led):
    blank = "".join(f"<!-- {name}:begin -->\nold\n<!-- {name}:end -->\n" for name in ledger._BLOCKS)
    out = ledger.render_docs("intro\n" + blank, led)
    assert "\nold\n" not in out and out.startswith("intro\n") and ledger.coverage_markdown(led) in out
    with pytest.raises(LedgerError, match="markers"):
        ledger.render_docs("no markers here", led)


def test_cli_prints_tables(capsys):
    assert ledger.main(["--sections", "--work-list"]) == 0
    out = capsys.readouterr().out
    assert "| Adobe RTMP 1.0 |" in out and "| rtmp | 5.2.1 |" in out and "- `rtmp-7.1.7-10` (implicit, server" in out
