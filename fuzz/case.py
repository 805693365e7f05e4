"""A fuzz case: the exact bytes a client sends on each of one or more connections.

A case is blind: everything is decided before the first byte is sent (servers do not check C2, and stream ids
are predictable), so a case is reproducible byte for byte and its reproducer is just these bytes. Each connection
is a list of labelled parts (handshake, one chunked message, ...): the labels describe the case, and the
minimizer removes whole parts before it cuts bytes.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from rtmpspec import craft

__all__ = ["Part", "Conn", "FuzzCase", "prefix", "handshake", "connect"]


@dataclass
class Part:
    label: str
    data: bytes
    delay: float = 0.0  # seconds to wait before sending this part (0: written together with the previous one)

    def to_json(self) -> dict:
        d: dict[str, Any] = {"label": self.label, "hex": self.data.hex()}
        if self.delay:
            d["delay"] = self.delay
        return d

    @classmethod
    def from_json(cls, d: dict) -> Part:
        return cls(d.get("label", ""), bytes.fromhex(d["hex"]), float(d.get("delay", 0.0)))


@dataclass
class Conn:
    parts: list[Part]
    half_close: bool = True  # shut down our sending side after the last part (the server sees EOF)
    start_delay: float = 0.0  # seconds after the case started

    @property
    def data(self) -> bytes:
        return b"".join(p.data for p in self.parts)

    def __len__(self) -> int:
        return sum(len(p.data) for p in self.parts)

    def to_json(self) -> dict:
        d: dict[str, Any] = {"half_close": self.half_close, "bytes": len(self),
                             "parts": [p.to_json() for p in self.parts]}
        if self.start_delay:
            d["start_delay"] = self.start_delay
        return d

    @classmethod
    def from_json(cls, d: dict) -> Conn:
        if "parts" in d:
            parts = [Part.from_json(p) for p in d["parts"]]
        else:
            parts = [Part("data", bytes.fromhex(d["hex"]))]
        return cls(parts, bool(d.get("half_close", True)), float(d.get("start_delay", 0.0)))


@dataclass
class FuzzCase:
    kind: str  # the generator that made it
    conns: list[Conn]
    index: int = -1  # position in the campaign's case sequence
    note: str = ""  # what the generator did, in a few words
    fields: list[str] = field(default_factory=list, repr=False)  # schema fields drawn for this case

    def size(self) -> int:
        return sum(len(c) for c in self.conns)

    def digest(self) -> str:
        h = hashlib.sha1()
        for c in self.conns:
            h.update(len(c).to_bytes(4, "big"))
            h.update(c.data)
        return h.hexdigest()[:16]

    def to_json(self) -> dict:
        return {"kind": self.kind, "index": self.index, "note": self.note,
                "connections": [c.to_json() for c in self.conns]}

    @classmethod
    def from_json(cls, d: dict) -> FuzzCase:
        return cls(d.get("kind", "?"), [Conn.from_json(c) for c in d["connections"]], int(d.get("index", -1)),
                   d.get("note", ""))

    def describe(self) -> str:
        labels = []
        for i, c in enumerate(self.conns):
            ls = [p.label for p in c.parts]
            if len(ls) > 8:
                ls = ls[:4] + [f"... {len(ls) - 6} more ..."] + ls[-2:]
            labels.append(f"conn{i}[{len(c)}B]: " + ", ".join(ls))
        return f"{self.kind}: {self.note}; " + " | ".join(labels)


# -- rtmpspec.craft's session pieces as labelled parts ------------------------------------------------------------

def prefix(level: str, rng: random.Random, *, app: str = "live", key: str = "fuzz",
           digest: bool | None = None) -> list[Part]:
    """The valid start of a blind session up to ``level`` (:func:`rtmpspec.craft.prefix`), one part per step."""
    return [Part(label, data) for label, data in craft.prefix(level, rng, app=app, key=key, digest=digest)]


def handshake(rng: random.Random, *, digest: bool | None = None) -> Part:
    """C0+C1+C2 in one part (a digest C1 three times in ten when ``digest`` is None)."""
    return prefix("handshake", rng, digest=digest)[0]


def connect(app: str = "live") -> Part:
    return Part("connect", craft.connect(app))
