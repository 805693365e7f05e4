"""Reproducer minimization by delta debugging (Zeller's ddmin), bounded in tests and seconds.

Levels, coarse to fine: drop whole connections, drop parts of each connection (a handshake, one chunked
message), then cut bytes of each connection. A candidate is kept when replaying it shows the same symptom (and,
for crashes and server errors, the same signature). The same ``ddmin`` serves the in-process minimizer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .case import Case, Conn, Part
from .findings import Observation

__all__ = ["Budget", "ddmin", "ddmin_sync", "minimize_case", "same_problem"]

FLIGHT = 1 + 2 * 1536  # C0 + C1 + C2
CANONICAL_HANDSHAKE = b"\x03" + bytes(2 * 1536)


@dataclass
class Budget:
    max_tests: int = 200
    max_seconds: float = 60.0
    tests: int = 0
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = time.monotonic()

    def spent(self) -> bool:
        return self.tests >= self.max_tests or time.monotonic() - self.started > self.max_seconds


def same_problem(obs: Observation | None, want: Observation) -> bool:
    if obs is None or obs.symptom != want.symptom:
        return False
    if want.symptom in ("hang", "slow", "memory"):
        return True
    return obs.signature == want.signature


def _split(items: Sequence, n: int) -> list[tuple[int, int]]:
    size = math.ceil(len(items) / n)
    return [(i, min(i + size, len(items))) for i in range(0, len(items), size)]


async def ddmin(items: Sequence, test: Callable[[Sequence], Awaitable[bool]], budget: Budget) -> Sequence:
    """Smallest (1-minimal, within the budget) subsequence of ``items`` for which ``test`` holds."""
    n = 2
    while len(items) >= 2 and not budget.spent():
        spans = _split(items, n)
        reduced = False
        for a, b in spans:
            if budget.spent():
                return items
            cand = items[a:b]
            budget.tests += 1
            if await test(cand):
                items, n, reduced = cand, 2, True
                break
        if not reduced and n > 2:
            for a, b in spans:
                if budget.spent():
                    return items
                cand = items[:a] + items[b:]
                budget.tests += 1
                if await test(cand):
                    items, n, reduced = cand, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), n * 2)
    return items


def ddmin_sync(items: Sequence, test: Callable[[Sequence], bool], budget: Budget) -> Sequence:
    import asyncio

    async def t(x):
        return test(x)

    return asyncio.run(ddmin(items, t, budget))


async def minimize_case(case: Case, check: Callable[[Case], Awaitable[Observation | None]], want: Observation,
                        budget: Budget) -> tuple[Case, dict[str, Any]]:
    """Smallest case that still shows ``want``. ``check`` replays a case on a healthy target and observes."""
    start_size = case.size()

    async def holds(c: Case) -> bool:
        if not c.conns or c.size() == 0:
            return False
        return same_problem(await check(c), want)

    cur = Case(case.kind, [Conn(list(c.parts), c.half_close, c.start_delay) for c in case.conns], case.index,
               case.note)
    # 1. connections
    if len(cur.conns) > 1:
        async def t_conns(conns):
            return await holds(Case(cur.kind, list(conns), cur.index, cur.note))
        cur.conns = list(await ddmin(cur.conns, t_conns, budget))
    # 2. parts of each connection
    for ci in range(len(cur.conns)):
        conn = cur.conns[ci]
        if len(conn.parts) > 1:
            async def t_parts(parts, ci=ci, conn=conn):
                conns = list(cur.conns)
                conns[ci] = Conn(list(parts), conn.half_close, conn.start_delay)
                return await holds(Case(cur.kind, conns, cur.index, cur.note))
            cur.conns[ci] = Conn(list(await ddmin(conn.parts, t_parts, budget)), conn.half_close, conn.start_delay)
    # 3. bytes of each connection (parts merged, labels summarised). A leading handshake (C0 = 3 + C1 + C2) is
    #    replaced by a canonical all-zero one if that still shows the problem, and kept out of the byte ddmin.
    for ci in range(len(cur.conns)):
        conn = cur.conns[ci]
        data = conn.data
        if len(data) < 2 or budget.spent():
            continue
        label = "minimized: " + ", ".join(p.label for p in conn.parts)[:300]
        head = b""

        def make(b, ci=ci, conn=conn, label=label):
            conns = list(cur.conns)
            conns[ci] = Conn([Part(label, bytes(b))], conn.half_close, conn.start_delay)
            return Case(cur.kind, conns, cur.index, cur.note)

        if len(data) >= FLIGHT and data[0] == 3:
            head, data = data[:FLIGHT], data[FLIGHT:]
            if head != CANONICAL_HANDSHAKE:
                budget.tests += 1
                if await holds(make(CANONICAL_HANDSHAKE + data)):
                    head = CANONICAL_HANDSHAKE
            if not data:
                cur.conns[ci] = make(head).conns[ci]
                continue

        async def t_bytes(b, make=make, head=head):
            return await holds(make(head + bytes(b)))

        small = bytes(await ddmin(data, t_bytes, budget))
        cur.conns[ci] = make(head + small).conns[ci]
    stats = {"tests": budget.tests, "seconds": round(time.monotonic() - budget.started, 2), "from": start_size,
             "to": cur.size(), "complete": not budget.spent()}
    return cur, stats
