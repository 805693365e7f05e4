"""Findings: what went wrong, the reproducer (exact bytes per connection), deduplication and storage.

A finding is saved as ``<dir>/<id>.json`` (description + the case, hex per part) and ``<dir>/<id>/connN.bin``
(the exact bytes of connection N, for tools other than this one). ``id`` is derived from symptom + signature,
so the same bug found twice (or in two campaigns) maps to the same file; the smallest reproducer is kept.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .case import FuzzCase

__all__ = ["Observation", "Finding", "FindingStore", "load_finding", "finding_id"]

MAX_VARIANTS = 5
_NUM = re.compile(r"\d+")


def locationless(symptom: str, signature: str) -> bool:
    """A signature that does not say where the target failed (no stack): nginx worker crashes, hangs, ..."""
    if symptom in ("hang", "slow", "memory"):
        return True
    return "exited on signal" in signature or (symptom == "crash" and " at " not in signature)


def variant_key(case: FuzzCase) -> str:
    """What a reproducer sends, coarsely: the generator and the label of its last part, numbers stripped."""
    last = case.conns[-1].parts[-1].label if case.conns and case.conns[-1].parts else ""
    return f"{case.kind}:{_NUM.sub('N', last)[:80]}"


# symptoms, most severe first
SYMPTOMS = ("crash", "hang", "server-error", "memory", "slow", "exception", "round-trip")


@dataclass
class Observation:
    """One problem seen on the target after (a group of) cases."""

    symptom: str  # crash / hang / server-error / memory / slow
    signature: str  # dedup key within the symptom
    detail: dict = field(default_factory=dict)

    def key(self) -> tuple[str, str]:
        return (self.symptom, self.signature)

    def __str__(self) -> str:
        return f"{self.symptom}: {self.signature}"


def finding_id(symptom: str, signature: str) -> str:
    return f"{symptom}-{hashlib.sha1(f'{symptom}|{signature}'.encode()).hexdigest()[:10]}"


@dataclass
class Finding:
    symptom: str
    signature: str
    case: FuzzCase  # the reproducer (minimized when minimization ran)
    target: dict
    detail: dict = field(default_factory=dict)
    reproduced: bool = False  # the case alone reproduced the symptom on a fresh replay
    count: int = 1  # times it was seen in the campaign
    first_seen: float = field(default_factory=time.time)
    original_size: int = 0
    minimized: dict | None = None  # {"tests": n, "seconds": s, "from": bytes, "to": bytes}
    seed: int | None = None
    mode: str = "network"  # network / inproc
    variants: list = field(default_factory=list)  # other reproducers of a location-less signature

    @property
    def id(self) -> str:
        return finding_id(self.symptom, self.signature)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "mode": self.mode, "symptom": self.symptom, "signature": self.signature,
            "reproduced": self.reproduced, "count": self.count, "first_seen": self.first_seen,
            "seed": self.seed, "target": self.target, "detail": self.detail,
            "size": self.case.size(), "original_size": self.original_size or self.case.size(),
            "minimized": self.minimized, "description": self.case.describe(),
            "replay": "python -m fuzz replay {path} --target HOST:PORT",
            "case": self.case.to_json(),
            "variants": self.variants,
        }

    @classmethod
    def from_json(cls, d: dict) -> Finding:
        f = cls(d["symptom"], d["signature"], FuzzCase.from_json(d["case"]), d.get("target", {}), d.get("detail", {}),
                d.get("reproduced", False), d.get("count", 1), d.get("first_seen", 0.0), d.get("original_size", 0),
                d.get("minimized"), d.get("seed"), d.get("mode", "network"), d.get("variants", []))
        return f


class FindingStore:
    """Deduplicates by (symptom, signature) and writes reproducers."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.findings: dict[tuple[str, str], Finding] = {}
        self.events = 0  # observations, duplicates included

    def add(self, f: Finding) -> tuple[Finding, bool]:
        """Register a finding; returns (the stored finding, whether it is new)."""
        self.events += 1
        key = (f.symptom, f.signature)
        old = self.findings.get(key)
        if old is None:
            if not f.original_size:
                f.original_size = f.case.size()
            self.findings[key] = f
            self.save(f)
            return f, True
        old.count += 1
        if f.reproduced and locationless(f.symptom, f.signature):
            # no stack to tell crash sites apart: keep a few reproducers that differ in what they send
            key = variant_key(f.case)
            if key != variant_key(old.case) and key not in {v["key"] for v in old.variants} and \
                    len(old.variants) < MAX_VARIANTS:
                old.variants.append({"key": key, "description": f.case.describe()[:300], "case": f.case.to_json()})
                self.save(old)
        if (f.reproduced and not old.reproduced) or (f.reproduced == old.reproduced and f.case.size() < old.case.size()):
            old.case, old.reproduced, old.detail = f.case, f.reproduced, f.detail
            self.save(old)
        return old, False

    def path(self, f: Finding) -> Path:
        return self.dir / f"{f.id}.json"

    def save(self, f: Finding) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        p = self.path(f)
        d = f.to_json()
        d["replay"] = d["replay"].replace("{path}", str(p))
        p.write_text(json.dumps(d, indent=1, default=str))
        bins = self.dir / f.id
        bins.mkdir(exist_ok=True)
        for old in bins.glob("conn*.bin"):
            old.unlink()
        for i, c in enumerate(f.case.conns):
            (bins / f"conn{i}.bin").write_bytes(c.data)
        return p

    def __len__(self) -> int:
        return len(self.findings)

    def all(self) -> list[Finding]:
        order = {s: i for i, s in enumerate(SYMPTOMS)}
        return sorted(self.findings.values(), key=lambda f: (order.get(f.symptom, 99), f.first_seen))


def load_finding(path: str | Path) -> Finding:
    """A reproducer JSON, or a bare ``.bin`` (one connection's bytes)."""
    p = Path(path)
    if p.suffix == ".bin":
        from .case import Conn, Part

        return Finding("unknown", p.name, FuzzCase("file", [Conn([Part(p.name, p.read_bytes())])]), {})
    return Finding.from_json(json.loads(p.read_text()))
