"""Client mode's scenarios: the :class:`Run` a scenario fills (the client under test, its connections and what they
carried), :class:`ClientSpec` (what ``--client`` names), and the registry scenarios add themselves to
(:func:`scenario`, :func:`register`); :mod:`conformance.client.runner` runs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..wire import DriverError, WireLog
from .presets import PRESETS, Preset, role_of
from .process import ClientProcess
from .stage import Peer, Stage

APP = "live"


class ScenarioError(DriverError):
    """The scenario could not get as far as a case needs (the client did not connect, did not publish, ...)."""


@dataclass(frozen=True)
class ClientSpec:
    """What ``--client`` names: a preset or a custom command template."""

    name: str
    template: str
    role: str
    implementation: str = ""

    @classmethod
    def parse(cls, value: str, role: str | None = None) -> ClientSpec:
        preset: Preset | None = PRESETS.get(value.strip())
        if preset is not None:
            if role and role != preset.role:
                raise ValueError(f"--client-role {role} does not fit preset {preset.name} ({preset.role})")
            return cls(preset.name, preset.template, preset.role, preset.implementation)
        if "{url}" not in value:
            raise ValueError(f"--client {value!r}: neither a preset ({', '.join(PRESETS)}) nor a command with "
                             "{url}")
        return cls("custom", value, role_of(value, role), value)

    @property
    def label(self) -> str:
        return f"client {self.name}" if self.name != "custom" else f"client: {self.template}"


@dataclass
class Run:
    """One scenario run."""

    scenario: str
    spec: ClientSpec
    log: WireLog
    stage: Stage
    workdir: Path
    key: str
    step_timeout: float
    connect_timeout: float
    proc: ClientProcess | None = None
    input_variant: str | None = None
    output: Path | None = None
    error: str | None = None  # why the scenario stopped early
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    @property
    def peers(self) -> list[Peer]:
        return self.stage.peers

    @property
    def peer(self) -> Peer | None:
        return self.stage.peers[0] if self.stage.peers else None

    @property
    def url(self) -> str:
        return self.stage.url(f"{APP}/{self.key}")

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.log.add("battery", "--", "note", text)

    def accept(self, timeout: float | None = None, **kw: Any) -> Peer:
        """The client's next connection; ScenarioError when it does not come."""
        timeout = self.connect_timeout if timeout is None else timeout
        alive = self.proc.alive if self.proc is not None else None
        peer = self.stage.accept(timeout, alive=alive, **kw)
        if peer is None:
            raise ScenarioError(f"the client did not connect to {self.url} within {timeout:g} s "
                                f"({self.client_state()})")
        return peer

    def client_state(self) -> str:
        if self.proc is None:
            return "not started"
        self.proc.alive()
        tail = self.proc.tail(600)
        return self.proc.describe() + (f"; its output: {tail}" if tail else "")

    def exited_within(self, seconds: float) -> bool:
        return self.proc is None or self.proc.wait(seconds)


# -- registry --------------------------------------------------------------------------------------------------

ScenarioFn = Callable[..., None]
SCENARIOS: dict[str, tuple[str, ScenarioFn, dict]] = {}


def scenario(name: str, role: str, **params: Any) -> Callable[[ScenarioFn], ScenarioFn]:
    """Register ``fn`` as scenario ``name`` for clients of ``role`` (publish/play) with fixed ``params``."""

    def deco(fn: ScenarioFn) -> ScenarioFn:
        SCENARIOS[name] = (role, fn, params)
        return fn

    return deco


def register(name: str, role: str, fn: ScenarioFn, **params: Any) -> None:
    SCENARIOS[name] = (role, fn, params)
