"""Wire records of the conformance driver: the per-case wire log (both directions, decoded), inbound message
records with their evidence, and predicates that cases wait on."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rtmpspec import control, messages
from rtmpspec.dissect import describe_message
from rtmpspec.errors import ProtocolError, RTMPError
from rtmpspec.message_format import Message
from rtmpspec.messages import Command, DataMessage

HEX_LIMIT = 96  # bytes of hex kept per wire-log entry
LOG_LIMIT = 400  # wire-log entries kept per case (the rest is counted)


class DriverError(Exception):
    """Base class: something the case did not get from the server."""


class StepTimeout(DriverError):
    pass


class Closed(DriverError):
    """The server closed (or reset) the connection."""


class Undecodable(DriverError):
    """The server's bytes do not decode even with a lenient chunk reader."""

    def __init__(self, error: ProtocolError, data: bytes) -> None:
        super().__init__(str(error))
        self.error = error
        self.data = data


# -- wire log ----------------------------------------------------------------------------------------------------


class WireLog:
    """Both directions of every session of one case, in time order."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.entries: list[dict] = []
        self.dropped = 0

    def add(self, session: str, direction: str, kind: str, summary: Any, data: bytes = b"") -> None:
        if len(self.entries) >= LOG_LIMIT:
            self.dropped += 1
            return
        entry = {"t": round(time.monotonic() - self.t0, 4), "session": session, "dir": direction, "kind": kind,
                 "summary": summary, "length": len(data)}
        if data:
            entry["hex"] = data[:HEX_LIMIT].hex() + ("..." if len(data) > HEX_LIMIT else "")
        self.entries.append(entry)

    def to_json(self) -> dict:
        """Plain JSON types only (the log crosses xdist's execnet channel)."""
        return json.loads(json.dumps({"entries": self.entries, "dropped": self.dropped}, default=str))

    def text(self) -> str:
        lines = []
        for e in self.entries:
            arrow = "->" if e["dir"] == "out" else "<-" if e["dir"] == "in" else "--"
            lines.append(f"{e['t']:8.4f} {e['session']:>8} {arrow} {e['kind']}: {format_summary(e['summary'])}")
            if e.get("hex"):
                lines.append(f"{'':>20}bytes[{e['length']}]: {e['hex']}")
        if self.dropped:
            lines.append(f"... {self.dropped} more entries not kept")
        return "\n".join(lines)


def format_summary(summary: Any) -> str:
    if isinstance(summary, dict):
        s = dict(summary)
        head = []
        for k in ("type_name", "csid", "msid", "timestamp", "length"):
            if k in s:
                head.append(f"{k}={s.pop(k)}")
        s.pop("type", None)
        rest = " ".join(f"{k}={_short(v)}" for k, v in s.items())
        return " ".join(head) + (" " + rest if rest else "")
    return str(summary)


def _short(v: Any, limit: int = 300) -> str:
    text = repr(v) if not isinstance(v, str) else v
    return text if len(text) <= limit else text[:limit] + "..."


# -- inbound messages --------------------------------------------------------------------------------------------


@dataclass
class Inbound:
    """One message the server sent, with the exact chunk bytes it came in."""

    msg: Message
    offset: int  # stream offset (bytes since the start of S0) of its first chunk
    raw: bytes = field(repr=False)
    t: float = 0.0
    _cmd: Any = field(default=None, repr=False)
    chunks: list = field(default_factory=list, repr=False)  # rtmpspec ChunkInfo of each chunk

    @property
    def type_id(self) -> int:
        return self.msg.type_id

    @property
    def payload(self) -> bytes:
        return self.msg.payload

    @property
    def timestamp(self) -> int:
        return self.msg.timestamp

    @property
    def msid(self) -> int:
        return self.msg.msid

    @property
    def command(self) -> Command | None:
        if self.msg.type_id not in messages.COMMAND_TYPES:
            return None
        if self._cmd is None:
            try:
                self._cmd = Command.from_message(self.msg)
            except (RTMPError, Exception):  # noqa: BLE001 - a server may send anything
                self._cmd = False
        return self._cmd or None

    @property
    def data(self) -> DataMessage | None:
        if self.msg.type_id not in messages.DATA_TYPES:
            return None
        try:
            return DataMessage.from_message(self.msg)
        except Exception:  # noqa: BLE001
            return None

    @property
    def name(self) -> str | None:
        c = self.command
        return c.name if c else None

    @property
    def code(self) -> str | None:
        c = self.command
        return c.code if c else None

    @property
    def user_control(self) -> tuple[int, int | None] | None:
        """(event type, first 4-byte value) of a User Control message."""
        if self.msg.type_id != control.USER_CONTROL or len(self.payload) < 2:
            return None
        etype = int.from_bytes(self.payload[:2], "big")
        value = int.from_bytes(self.payload[2:6], "big") if len(self.payload) >= 6 else None
        return etype, value

    @property
    def u32(self) -> int | None:
        """The 4-byte value of Set Chunk Size / Acknowledgement / Window Ack Size / Set Peer Bandwidth."""
        if len(self.payload) >= 4:
            return int.from_bytes(self.payload[:4], "big")
        return None

    def describe(self) -> dict:
        return describe_message(self.msg)

    def evidence(self) -> dict:
        """What a failure shows: the message decoded and its bytes on the wire."""
        return {"offset": self.offset, "decoded": self.describe(), "bytes": self.raw[:512].hex()
                + ("..." if len(self.raw) > 512 else ""), "length_on_wire": len(self.raw)}


# -- predicates ----------------------------------------------------------------------------------------------------


def is_command(name: str | tuple[str, ...] | None = None, *, tid: float | None = None,
               code: str | tuple[str, ...] | None = None) -> Callable[[Inbound], bool]:
    names = (name,) if isinstance(name, str) else name
    codes = (code,) if isinstance(code, str) else code

    def pred(m: Inbound) -> bool:
        c = m.command
        if c is None:
            return False
        if names is not None and c.name not in names:
            return False
        if tid is not None and c.transaction_id != tid:
            return False
        if codes is not None and c.code not in codes:
            return False
        return True

    return pred


def is_type(*type_ids: int) -> Callable[[Inbound], bool]:
    return lambda m: m.type_id in type_ids


def is_user_control(event: int, value: int | None = None) -> Callable[[Inbound], bool]:
    def pred(m: Inbound) -> bool:
        uc = m.user_control
        return uc is not None and uc[0] == event and (value is None or uc[1] == value)

    return pred


# -- the session ---------------------------------------------------------------------------------------------------
