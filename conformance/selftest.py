"""Helpers for the battery's own tests (tests/test_conformance_*.py): run it as a subprocess, read its summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class BatteryRun:
    returncode: int
    output: str
    summary: dict | None
    seconds: float

    def cases(self) -> list[dict]:
        if not self.summary:
            return []
        return [c for r in self.summary["requirements"] for c in r["cases"]]

    def verdicts(self) -> dict[str, str]:
        return {c["case"]: c["verdict"] for c in self.cases()}

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-n:])


def run_battery(args: list[str], reports_dir: str | os.PathLike, *, timeout: float = 600,
                cwd: str | os.PathLike | None = None, paths: tuple[str, ...] = ("conformance",)) -> BatteryRun:
    """``python -m pytest <paths> <args> -p no:cacheprovider --reports-dir <reports_dir>``."""
    cmd = [sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider", "-q",
           "--reports-dir", str(reports_dir), *args]
    env = dict(os.environ)
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    seconds = time.monotonic() - t0
    path = Path(reports_dir) / "conformance.json"
    summary = json.loads(path.read_text()) if path.exists() else None
    return BatteryRun(proc.returncode, proc.stdout + proc.stderr, summary, seconds)
