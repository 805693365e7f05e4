"""Seed corpus: recorded client->server sessions that the mutators start from.

Three sources:
- ``fuzz/seeds/*.bin`` (committed, small): sessions captured from ffmpeg through a recording proxy
  (``python -m fuzz capture``) and trimmed after their first media messages;
- synthesized valid sessions (publish with media, play), built with rtmpspec at start-up;
- the ``--corpus DIR`` directory: its ``*.bin`` files are loaded, and the campaign adds the cases that made the
  server answer in a way not seen before (``<sha1>.bin`` + ``<sha1>.json`` describing the case).
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from rtmpspec import craft
from rtmpspec import messages as m
from rtmpspec.connection import control_message
from rtmpspec.control import SET_BUFFER_LENGTH
from rtmpspec.craft import STREAM_ID
from rtmpspec.events import UserControl

from .mutators import Seed
from .session import DEFAULT_MEDIA

__all__ = ["Corpus", "SEEDS_DIR", "synthesized_seeds"]

SEEDS_DIR = Path(__file__).with_name("seeds")
MAX_SEED_BYTES = 1 << 20
MAX_SAVED = 2000  # new seeds written to --corpus per campaign


def synthesized_seeds(app: str, rng: random.Random) -> list[Seed]:
    from rtmpspec.chunkwriter import ChunkWriter
    from rtmpspec.message_format import Message

    out = []
    # publisher: what ffmpeg sends, built by rtmpspec
    w = ChunkWriter()
    parts = [craft.flight(rng, digest=False), craft.connect(app)]
    for cmd in (m.release_stream("seed", 2), m.fc_publish("seed", 3), m.create_stream(4)):
        parts.append(w.write(cmd.to_message()))
    parts.append(w.write(m.publish("seed", msid=STREAM_ID).to_message()))
    parts.append(w.write(m.set_data_frame({"duration": 0.0, "width": 320.0, "height": 240.0, "videocodecid": 7.0,
                                           "audiocodecid": 10.0, "encoder": "Lavf59.27.100"}).to_message()))
    ts = 0
    for i in range(6):
        v = DEFAULT_MEDIA["video"][0 if i == 0 else 1 + (i % 2)]
        a = DEFAULT_MEDIA["audio"][0 if i == 0 else 1]
        parts.append(w.write(Message(9, v, ts, STREAM_ID, 6)))
        parts.append(w.write(Message(8, a, ts, STREAM_ID, 4)))
        ts += 40
    parts.append(w.write(m.fc_unpublish("seed", 5).to_message()))
    parts.append(w.write(m.delete_stream(STREAM_ID, 6).to_message()))
    out.append(Seed(b"".join(parts), "synth-publish"))
    # player
    w = ChunkWriter()
    parts = [craft.flight(rng, digest=True), craft.connect(app)]
    parts.append(w.write(m.create_stream(2).to_message()))
    parts.append(w.write(m.get_stream_length("seed", 3).to_message()))
    parts.append(w.write(m.play("seed", msid=STREAM_ID).to_message()))
    parts.append(w.write(control_message(UserControl(SET_BUFFER_LENGTH, stream_id=1, buffer_length=300))))
    out.append(Seed(b"".join(parts), "synth-play"))
    return out


class Corpus:
    def __init__(self, directory: str | Path | None, app: str, rng: random.Random, *, builtin: bool = True) -> None:
        self.dir = Path(directory) if directory else None
        self.seeds: list[Seed] = []
        self.saved = 0
        self._hashes: set[str] = set()
        if builtin and SEEDS_DIR.is_dir():
            for p in sorted(SEEDS_DIR.glob("*.bin")):
                self._add(p.read_bytes(), f"seed:{p.stem}")
        for s in synthesized_seeds(app, rng):
            self._add(s.data, s.origin)
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            for p in sorted(self.dir.glob("*.bin")):
                self._add(p.read_bytes(), f"corpus:{p.stem}")

    def _add(self, data: bytes, origin: str) -> bool:
        if not data or len(data) > MAX_SEED_BYTES:
            return False
        h = hashlib.sha1(data).hexdigest()
        if h in self._hashes:
            return False
        self._hashes.add(h)
        self.seeds.append(Seed(data, origin))
        return True

    def pick(self, rng: random.Random) -> Seed:
        # captured sessions are the richest: give the committed seeds extra weight
        if rng.random() < 0.4:
            captured = [s for s in self.seeds if s.origin.startswith("seed:")]
            if captured:
                return rng.choice(captured)
        return rng.choice(self.seeds)

    def add_interesting(self, data: bytes, description: dict) -> bool:
        """Keep a case that made the server behave in a new way (in memory, and in --corpus DIR)."""
        if not self._add(data, "new"):
            return False
        if self.dir is not None and self.saved < MAX_SAVED:
            h = hashlib.sha1(data).hexdigest()
            (self.dir / f"{h}.bin").write_bytes(data)
            (self.dir / f"{h}.json").write_text(json.dumps(description, indent=1, default=str))
            self.saved += 1
        return True
