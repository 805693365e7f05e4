"""Client mode catches the field bugs it is built for: three publishing clients with one injected fault each
(tests/faulty_clients/faulty_publish.py) make the run fail, on the case of that fault and on no other."""

from __future__ import annotations

import pytest

from conformance.selftest import ROOT, run_battery

FAULTY = ROOT / "tests" / "faulty_clients" / "faulty_publish.py"
EXPECTED = {
    "no-type3-extended-timestamp": {"client-errata-5.1-type3-extended-timestamp"},
    "no-acknowledgement": {"client-5.4.3-acknowledgement-publish"},
    "ignore-set-chunk-size": {"client-5.4.1-set-chunk-size-1-publish", "client-5.4.1-set-chunk-size-65536-publish",
                              "client-5.4.1-set-chunk-size-2147483647-publish"},
}

pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_faulty_client_fails_on_the_right_case(fault, tmp_path):
    run = run_battery(["--client", f"{{python}} {FAULTY} {fault} {{url}} {{input}}"], tmp_path / "reports",
                      timeout=300)
    assert run.summary is not None, run.tail()
    failed = {c for c, v in run.verdicts().items() if v in ("fail", "error")}
    assert failed == EXPECTED[fault], run.tail()
    assert run.returncode != 0
    for case in EXPECTED[fault]:
        assert f"FAILED conformance/test_client_publish.py::test_client_publish[{case}]" in run.output
