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

from rtmpspec import amf0
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.chunkwriter import chunk_message
from rtmpspec.errors import RTMPError
from rtmpspec.message_format import Message

from .case import Conn, FuzzCase, Part
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


async def minimize_case(case: FuzzCase, check: Callable[[FuzzCase], Awaitable[Observation | None]], want: Observation,
                        budget: Budget) -> tuple[FuzzCase, dict[str, Any]]:
    """Smallest case that still shows ``want``. ``check`` replays a case on a healthy target and observes."""
    start_size = case.size()

    async def holds(c: FuzzCase) -> bool:
        if not c.conns or c.size() == 0:
            return False
        return same_problem(await check(c), want)

    cur = FuzzCase(case.kind, [Conn(list(c.parts), c.half_close, c.start_delay) for c in case.conns], case.index,
               case.note)
    # 1. connections
    if len(cur.conns) > 1:
        async def t_conns(conns):
            return await holds(FuzzCase(cur.kind, list(conns), cur.index, cur.note))
        cur.conns = list(await ddmin(cur.conns, t_conns, budget))
    # 2. parts of each connection
    for ci in range(len(cur.conns)):
        conn = cur.conns[ci]
        if len(conn.parts) > 1:
            async def t_parts(parts, ci=ci, conn=conn):
                conns = list(cur.conns)
                conns[ci] = Conn(list(parts), conn.half_close, conn.start_delay)
                return await holds(FuzzCase(cur.kind, conns, cur.index, cur.note))
            cur.conns[ci] = Conn(list(await ddmin(conn.parts, t_parts, budget)), conn.half_close, conn.start_delay)
    # 3. messages of each connection: drop messages, AMF values and properties, payload bytes (re-chunked, so
    #    headers stay consistent: what byte-level cuts cannot do)
    for ci in range(len(cur.conns)):
        if budget.spent():
            break
        await _message_stage(cur, ci, holds, budget)
    # 4. bytes of each connection (parts merged, labels summarised). A leading handshake (C0 = 3 + C1 + C2) is
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
            return FuzzCase(cur.kind, conns, cur.index, cur.note)

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


# -- message-level stage -------------------------------------------------------------------------------------------
def _split_messages(data: bytes) -> tuple[bytes, list[Message]] | None:
    """(handshake, messages) when the bytes after the handshake are whole messages (nothing left over)."""
    hs = FLIGHT if len(data) >= FLIGHT and data[0] == 3 else 0
    r = ChunkReader(strict=False, max_chunk_streams=65600, max_message_size=0xFFFFFF)
    try:
        r.receive_data(data[hs:])
        out = list(r)
    except RTMPError:
        return None
    if r.pending or r.held or not out:
        return None
    return data[:hs], out


def _join(head: bytes, msgs: Sequence[Message]) -> bytes:
    size = 128
    out = [head]
    for mg in msgs:
        out.append(chunk_message(mg, size))
        if mg.type_id == 1 and mg.msid == 0 and len(mg.payload) == 4:
            v = int.from_bytes(mg.payload, "big")
            if 1 <= v <= 0xFFFFFF:
                size = v
    return b"".join(out)


def _amf_values(mg: Message) -> list | None:
    if mg.type_id not in (18, 20):
        return None
    try:
        return amf0.decode_all(mg.payload)
    except (RTMPError, RecursionError):
        return None


async def _message_stage(cur: FuzzCase, ci: int, holds, budget: Budget) -> None:
    conn = cur.conns[ci]
    split = _split_messages(conn.data)
    if split is None:
        return
    head, msgs = split
    label = "minimized messages: " + ", ".join(p.label for p in conn.parts)[:300]

    def make(ms: Sequence[Message]) -> FuzzCase:
        conns = list(cur.conns)
        conns[ci] = Conn([Part(label, _join(head, ms))], conn.half_close, conn.start_delay)
        return FuzzCase(cur.kind, conns, cur.index, cur.note)

    budget.tests += 1
    if not await holds(make(msgs)):  # re-chunking changed the behaviour: leave this connection to the byte stage
        return

    async def t_msgs(ms):
        return await holds(make(list(ms)))

    msgs = list(await ddmin(msgs, t_msgs, budget))
    for i in range(len(msgs)):
        if budget.spent():
            break
        mg = msgs[i]
        values = _amf_values(mg)

        def with_payload(payload: bytes, i=i, mg=mg) -> list[Message]:
            ms = list(msgs)  # noqa: B023 - the current message list, on purpose
            ms[i] = Message(mg.type_id, payload, mg.timestamp, mg.msid, mg.csid)
            return ms

        if values is not None and len(values) > 1:
            async def t_values(vs, with_payload=with_payload, first=values[0]):
                try:
                    payload = amf0.encode_all([first, *vs])
                except Exception:  # noqa: BLE001 - a value the encoder refuses: not a candidate
                    return False
                return await holds(make(with_payload(payload)))

            rest = list(await ddmin(values[1:], t_values, budget))
            # properties of object arguments
            for j, v in enumerate(rest):
                if isinstance(v, dict) and len(v) > 1 and not budget.spent():
                    items = list(v.items())

                    async def t_props(its, j=j, rest=rest, with_payload=with_payload, first=values[0], v=v):
                        vv = type(v)(its) if type(v) is dict else dict(its)
                        try:
                            payload = amf0.encode_all([first, *rest[:j], vv, *rest[j + 1:]])
                        except Exception:  # noqa: BLE001
                            return False
                        return await holds(make(with_payload(payload)))

                    kept = list(await ddmin(items, t_props, budget))
                    if len(kept) < len(items):
                        rest[j] = dict(kept)
            try:
                msgs = with_payload(amf0.encode_all([values[0], *rest]))
            except Exception:  # noqa: BLE001
                pass
            if not await holds(make(msgs)):  # the re-encoding differs: keep the original message
                msgs = with_payload(mg.payload)
        elif len(mg.payload) > 1:
            async def t_payload(b, with_payload=with_payload):
                return await holds(make(with_payload(bytes(b))))

            msgs = with_payload(bytes(await ddmin(mg.payload, t_payload, budget)))
    cur.conns[ci] = make(msgs).conns[ci]
