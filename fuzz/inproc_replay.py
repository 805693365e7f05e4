"""Minimizing and replaying in-process findings: the same target, the same params, the same signature.

``minimize_input`` shrinks an input by delta debugging (bounded in tests and seconds) while the target still
fails with the same signature; ``to_finding`` stores a campaign's finding like a network one (``mode: inproc``);
``replay_finding`` re-runs a stored finding (``python -m fuzz replay FILE``).
"""

from __future__ import annotations

import json
import time
import traceback

from .case import Conn, FuzzCase, Part
from .findings import Finding
from .inproc_targets import SLOW_SECONDS, InputTimeout, classify, run_target, watchdog
from .minimize import Budget, ddmin_sync

__all__ = ["same_signature", "minimize_input", "to_finding", "replay_finding"]


def same_signature(target: str, data: bytes, params: dict, want: str) -> bool:
    exc = run_target(target, data, params, timeout=SLOW_SECONDS * 2)
    if exc is None:
        return False
    if isinstance(exc, InputTimeout):
        return want.startswith("slow")
    return classify(exc) == want


def minimize_input(target: str, data: bytes, params: dict, signature: str, *, max_tests: int = 3000,
                   max_seconds: float = 20.0) -> tuple[bytes, dict]:
    if signature.startswith("slow"):
        return data, {"tests": 0, "skipped": "slow inputs are not minimized"}
    with watchdog():
        budget = Budget(max_tests, max_seconds)
        p = dict(params)
        if p.get("pieces"):  # feeding in one piece is simpler, if it still fails
            q = dict(p, pieces=[])
            if same_signature(target, data, q, signature):
                p = q
        small = bytes(ddmin_sync(data, lambda b: same_signature(target, bytes(b), p, signature), budget))
    return small, {"tests": budget.tests, "seconds": round(time.monotonic() - budget.started, 2),
                   "from": len(data), "to": len(small), "complete": not budget.spent(), "params": p}


def to_finding(f: dict, seed: int) -> Finding:
    data = bytes.fromhex(f["data"])
    case = FuzzCase(f["target"], [Conn([Part(f"{f['target']} input", data)])], -1, json.dumps(f["params"]))
    symptom = "slow" if f["signature"].startswith("slow") else "exception"
    return Finding(symptom, f"{f['target']}: {f['signature']}", case, {"name": "rtmpspec (in process)"},
                   {"target": f["target"], "params": f["params"], "traceback": f["traceback"],
                    "seconds": f.get("seconds")}, True, f["count"], seed=seed, mode="inproc")


def replay_finding(f: Finding) -> int:
    target = f.detail.get("target") or f.case.kind
    params = f.detail.get("params", {})
    data = f.case.conns[0].data
    with watchdog():
        exc = run_target(target, data, params, timeout=SLOW_SECONDS * 2)
    if exc is None:
        print(f"not reproduced: {target} accepted the input")
        return 0
    sig = "slow" if isinstance(exc, InputTimeout) else classify(exc)
    if sig is None:
        print(f"not reproduced: {target} raised a documented error: {type(exc).__name__}: {exc}")
        return 0
    print(f"reproduced: {target}: {sig}")
    traceback.print_exception(exc)
    return 1
