"""The requirement catalog: ``catalog.toml`` loaded into :class:`Requirement` records.

Each requirement has an id (section + slug, e.g. ``5.3.1.2-fmt3-extended-timestamp``), the spec and section it
comes from, a level (MUST / SHOULD / MAY), the chapter it belongs to (a pytest marker: ``-m chunking``) and the
requirement in one line in our own words. ``refs`` name real-world bugs the requirement is known for.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CATALOG_FILE = Path(__file__).with_name("catalog.toml")
CLIENT_CATALOG_FILE = Path(__file__).with_name("catalog_client.toml")  # who = "client" (client mode)
WHO = ("server", "client")

# chapter marker -> (title used as Allure epic, order in reports)
CHAPTERS: dict[str, str] = {
    "handshake": "Handshake (RTMP 5.2)",
    "chunking": "Chunk stream (RTMP 5.3)",
    "control": "Protocol control (RTMP 5.4, 6.2, 7.1.7)",
    "commands": "Commands (RTMP 7.2, errata 8)",
    "media": "Media relay (RTMP 7.1, FLV, E-RTMP)",
    "robustness": "Robustness",
    "interop": "Real-world interop bugs",
}

LEVELS = ("MUST", "SHOULD", "MAY")
SEVERITY = {"MUST": "critical", "SHOULD": "normal", "MAY": "minor"}  # Allure severity by level

SPEC_NAMES = {
    "RTMP 1.0": "Adobe RTMP 1.0 (2012)",
    "RTMP errata": "RTMP Errata and Addenda (zenomt, 2 July 2024)",
    "AMF0": "Action Message Format AMF0",
    "AMF3": "Action Message Format AMF3 (over RTMP: errata 7.2, E-RTMP v2)",
    "FLV 10.1": "Adobe Flash Video File Format 10.1, Annex E",
    "E-RTMP v1": "Enhanced RTMP v1 (veovera)",
    "E-RTMP v2": "Enhanced RTMP v2 (veovera)",
    "de facto": "Deployed practice (ffmpeg, nginx-rtmp, OBS, Flash Media Server)",
}


@dataclass(frozen=True)
class Requirement:
    id: str
    spec: str
    section: str
    level: str
    chapter: str
    text: str
    refs: tuple[str, ...] = field(default_factory=tuple)
    note: str = ""
    who: str = "server"  # whose statement: the server's (catalog.toml) or the client's (catalog_client.toml)

    @property
    def section_label(self) -> str:
        """e.g. "RTMP 1.0 5.3.1.2" (the Allure feature)."""
        return f"{self.spec} {self.section}".strip()

    @property
    def severity(self) -> str:
        return SEVERITY[self.level]

    def to_json(self) -> dict:
        return {"id": self.id, "spec": self.spec, "section": self.section, "level": self.level,
                "chapter": self.chapter, "text": self.text, "refs": list(self.refs), "note": self.note,
                "who": self.who}


class CatalogError(ValueError):
    pass


def _section_key(section: str) -> tuple:
    parts = []
    for p in section.replace(" ", ".").split("."):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return tuple(parts)


@functools.cache
def load(path: str | None = None) -> dict[str, Requirement]:
    """The server catalog (or ``path``) and, by default, the client catalog after it."""
    entries = tomllib.loads(Path(path or CATALOG_FILE).read_text(encoding="utf-8")).get("requirement", [])
    if path is None and CLIENT_CATALOG_FILE.exists():
        entries = entries + tomllib.loads(CLIENT_CATALOG_FILE.read_text(encoding="utf-8")).get("requirement", [])
    out: dict[str, Requirement] = {}
    for entry in entries:
        req = Requirement(id=entry["id"], spec=entry["spec"], section=str(entry["section"]),
                          level=entry["level"], chapter=entry["chapter"], text=entry["text"],
                          refs=tuple(entry.get("refs", ())), note=entry.get("note", ""),
                          who=entry.get("who", "server"))
        if req.who not in WHO:
            raise CatalogError(f"{req.id}: who {req.who!r} is not one of {WHO}")
        if req.id in out:
            raise CatalogError(f"duplicate requirement id {req.id!r}")
        if req.level not in LEVELS:
            raise CatalogError(f"{req.id}: level {req.level!r} is not one of {LEVELS}")
        if req.chapter not in CHAPTERS:
            raise CatalogError(f"{req.id}: chapter {req.chapter!r} is not one of {list(CHAPTERS)}")
        if req.spec not in SPEC_NAMES:
            raise CatalogError(f"{req.id}: spec {req.spec!r} is not one of {list(SPEC_NAMES)}")
        out[req.id] = req
    return out


def for_who(who: str) -> dict[str, Requirement]:
    """The requirements of one side: "server" (the battery judges a server) or "client" (client mode)."""
    return {k: r for k, r in load().items() if r.who == who}


def get(req_id: str) -> Requirement:
    try:
        return load()[req_id]
    except KeyError:
        raise CatalogError(f"requirement {req_id!r} is not in the catalog ({CATALOG_FILE.name})") from None


def ordered(reqs) -> list[Requirement]:
    chapters = list(CHAPTERS)
    return sorted(reqs, key=lambda r: (chapters.index(r.chapter), r.spec, _section_key(r.section), r.id))
