"""Draw values from the schema-derived hypothesis strategies, seeded and fast.

Every structured value a fuzzer makes comes from :func:`rtmpspec.strategies.from_schema` (the same generic
mechanism as the contract tests) through :class:`Drawer`, which runs hypothesis' own generation engine
(``ConjectureData`` with a seeded ``random.Random``) outside a ``@given`` test: one draw costs what hypothesis
costs, with no example database, no shrinking and no health checks. Same seed, same sequence of values.

:class:`SchemaSource` wraps one registered codec (value strategy + build); :class:`Pool` keeps a few hundred
drawn values per source and refreshes a fraction of them on every use, so campaigns reach hundreds of cases per
second while fresh schema draws keep coming. Every drawn value's field paths (``strategies.field_paths``) are
counted in :class:`FieldCounter` ("schema fields exercised").
"""

from __future__ import annotations

import random
import time
import warnings
from collections import Counter
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import (
    HypothesisDeprecationWarning,
    HypothesisException,
    StopTest,
    UnsatisfiedAssumption,
)
from hypothesis.internal.conjecture.data import ConjectureData

from rtmpspec import registry
from rtmpspec.strategies import field_paths, from_schema

__all__ = ["Drawer", "DrawFailed", "SchemaSource", "Pool", "FieldCounter", "DrawBudget", "source"]

# drawing outside a @given test is what this module is for: hypothesis' deprecation note about reject() there
# does not apply to a generator that catches the rejection
warnings.filterwarnings("ignore", category=HypothesisDeprecationWarning)

MAX_CHOICES = 3000  # choices per draw: bounds the size and time of one drawn value
MAX_VALUE_BYTES = 1 << 20  # a built value larger than this is discarded (keeps cases small and fast)


class DrawFailed(Exception):
    """No value after a few attempts (the strategy rejected, overran its budget or is unsupported)."""


class FieldCounter:
    """Schema field paths seen in drawn values, by codec name: ``"amf0.value:value.object[].name"``."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, codec: str, value: Any) -> None:
        for p in field_paths(value):
            self.counts[f"{codec}:{p}"] += 1

    def add_names(self, names) -> None:
        for n in names:
            self.counts[n] += 1

    def __len__(self) -> int:
        return len(self.counts)

    def by_codec(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for k in self.counts:
            out[k.split(":", 1)[0]] += 1
        return dict(sorted(out.items()))

    def merge(self, other: FieldCounter | dict) -> None:
        self.counts.update(other.counts if isinstance(other, FieldCounter) else other)


class Drawer:
    """Draws from hypothesis strategies with hypothesis' engine and a seeded random source."""

    def __init__(self, seed: int | random.Random, *, max_choices: int = MAX_CHOICES) -> None:
        self.random = seed if isinstance(seed, random.Random) else random.Random(seed)
        self.max_choices = max_choices
        self.draws = 0
        self.failures: Counter[str] = Counter()

    def draw(self, strategy: st.SearchStrategy, *, tries: int = 4) -> Any:
        for _ in range(tries):
            data = ConjectureData(random=self.random, max_choices=self.max_choices)
            try:
                value = data.draw(strategy)
            except (StopTest, UnsatisfiedAssumption) as exc:
                self.failures[type(exc).__name__] += 1
                continue
            except HypothesisException as exc:
                self.failures[type(exc).__name__] += 1
                continue
            except Exception as exc:  # e.g. strategies._Unsupported for a schema part it cannot draw
                self.failures[type(exc).__name__] += 1
                continue
            self.draws += 1
            return value
        raise DrawFailed(f"no value after {tries} attempts")

    # small helpers so generators draw plain choices through the same engine ----------------------------
    def integers(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))


class SchemaSource:
    """A registered codec's schema as a source of drawn values and of their built bytes."""

    def __init__(self, name: str) -> None:
        codec = registry.get(name)
        if codec.schema is None:
            raise ValueError(f"codec {name} has no construct schema")
        self.name = name
        self.codec = codec
        self.strategy = from_schema(codec.schema, params=dict(codec.params))
        self.built = 0
        self.build_errors = 0

    def value(self, drawer: Drawer, fields: FieldCounter | None = None) -> Any:
        v = drawer.draw(self.strategy)
        if fields is not None:
            fields.add(self.name, v)
        return v

    def build(self, value: Any) -> bytes:
        return self.codec.build(value)

    def sample(self, drawer: Drawer, fields: FieldCounter | None = None, *, tries: int = 4) -> tuple[Any, bytes]:
        """A drawn value and its bytes (values that do not build, or build huge, are drawn again)."""
        for _ in range(tries):
            v = self.value(drawer, None)
            try:
                b = self.build(v)
            except Exception:
                self.build_errors += 1
                continue
            if len(b) > MAX_VALUE_BYTES:
                self.build_errors += 1
                continue
            if fields is not None:
                fields.add(self.name, v)
            self.built += 1
            return v, b
        raise DrawFailed(f"{self.name}: no value that builds")


_SOURCES: dict[str, SchemaSource | None] = {}


def source(name: str) -> SchemaSource | None:
    """The shared :class:`SchemaSource` for a codec, or None if that codec is not registered (yet)."""
    if name not in _SOURCES:
        registry.load_all()
        try:
            _SOURCES[name] = SchemaSource(name)
        except (KeyError, ValueError):
            _SOURCES[name] = None
    return _SOURCES[name]


class DrawBudget:
    """Caps the time spent in fresh schema draws at ``fraction`` of the wall time since ``start`` (plus
    ``initial`` seconds), so slow strategies (recursive AMF: tens of ms per draw) cannot throttle a campaign.
    ``fraction=None`` disables the cap (then the case sequence depends on the seed only)."""

    def __init__(self, fraction: float | None = 0.2, initial: float = 2.0) -> None:
        self.fraction = fraction
        self.initial = initial
        self.start = time.monotonic()
        self.spent = 0.0

    def allow(self) -> bool:
        if self.fraction is None:
            return True
        return self.spent < self.initial + self.fraction * (time.monotonic() - self.start)


class Pool:
    """Built bytes of drawn values of one source; ``get`` returns a pooled item and, with probability
    ``fresh`` (and while the :class:`DrawBudget` allows), first replaces a random slot with a new draw. The pool
    fills up to ``min_size`` regardless of the budget and grows to ``size`` with fresh draws."""

    def __init__(self, src: SchemaSource, drawer: Drawer, fields: FieldCounter, *, size: int = 256,
                 min_size: int = 8, fresh: float = 0.25, budget: DrawBudget | None = None) -> None:
        self.src = src
        self.drawer = drawer
        self.fields = fields
        self.size = size
        self.min_size = min_size
        self.fresh = fresh
        self.budget = budget or DrawBudget(None)
        self.items: list[tuple[Any, bytes]] = []
        self.draw_seconds = 0.0
        self.fresh_draws = 0
        self.on_new = None  # callable(source name, value, bytes) for every fresh draw (e.g. a round-trip check)

    def _new(self) -> tuple[Any, bytes] | None:
        t = time.monotonic()
        try:
            item = self.src.sample(self.drawer, self.fields)
            if self.on_new is not None:
                self.on_new(self.src.name, *item)
            return item
        except DrawFailed:
            return None
        finally:
            dt = time.monotonic() - t
            self.draw_seconds += dt
            self.budget.spent += dt
            self.fresh_draws += 1

    def get(self, rng: random.Random) -> tuple[Any, bytes]:
        if len(self.items) < self.min_size or (rng.random() < self.fresh and self.budget.allow()):
            item = self._new()
            if item is not None:
                if len(self.items) < self.size:
                    self.items.append(item)
                else:
                    self.items[rng.randrange(self.size)] = item
                return item
        if not self.items:
            raise DrawFailed(f"{self.src.name}: empty pool")
        return self.items[rng.randrange(len(self.items))]

    def get_bytes(self, rng: random.Random) -> bytes:
        return self.get(rng)[1]
