"""Helpers for the golden-vector generators (golden/make_*.py)."""

from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from rtmpspec import registry  # noqa: E402
from rtmpspec.jsonable import to_jsonable  # noqa: E402


class Manifest:
    def __init__(self, chapter: str) -> None:
        self.dir = os.path.join(ROOT, "golden", chapter)
        os.makedirs(self.dir, exist_ok=True)
        self.vectors: list[dict] = []

    def add(self, vid: str, data: bytes, codec: str, section: str, *, source: str = "builder",
            note: str = "", expected_by_hand=None) -> None:
        """Write the vector; ``expected`` comes from our parser, and when a hand-written expectation is given
        the two must agree (so the vector is not circular)."""
        c = registry.get(codec)
        expected = to_jsonable(c.parse(data))
        if expected_by_hand is not None and not _subset(expected_by_hand, expected):
            raise AssertionError(f"{vid}: parser gives {expected!r}, hand-written {expected_by_hand!r}")
        assert c.build(c.parse(data)) == data, f"{vid}: build(parse(b)) != b"
        fname = vid + ".bin"
        with open(os.path.join(self.dir, fname), "wb") as f:
            f.write(data)
        entry = {"id": vid, "file": fname, "codec": codec, "section": section, "source": source,
                 "expected": expected}
        if note:
            entry["note"] = note
        if expected_by_hand is not None:
            entry["checked_by_hand"] = True
        self.vectors.append(entry)

    def write(self) -> None:
        with open(os.path.join(self.dir, "manifest.json"), "w") as f:
            json.dump({"vectors": self.vectors}, f, indent=1, sort_keys=False)
            f.write("\n")
        print(f"{self.dir}: {len(self.vectors)} vectors")


def _subset(small, big) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and _subset(v, big[k]) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(small) == len(big) and all(_subset(a, b) for a, b in zip(small, big, strict=True))
    return small == big
