"""Client mode: one :class:`ClientMode` per pytest process runs scenarios (the client under test against a scripted
server) and caches each run, so that cases judging the same session share one client run.

A scenario is a function ``scenario(run, **params)`` registered with :func:`scenario`. It accepts the client's
connection(s) on ``run.stage`` and drives them with :class:`conformance.client.script.Script`; everything it sees
lands in the :class:`Run` (peers with their inbound messages and handshake bytes, the client process, the files it
wrote, notes). Cases then judge the run (:mod:`conformance.client.judge`). A run that could not even start (the
client never connected) is an error of every case that needs it, never a pass.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtmpspec.errors import ProtocolError

from ..wire import Closed, DriverError, StepTimeout, WireLog
from . import inputs
from .presets import PRESETS, Preset, role_of
from .process import ClientProcess, render, workdir_for
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


class ClientMode:
    """Runs and caches scenarios for one client (one per pytest process / xdist worker)."""

    def __init__(self, spec: ClientSpec, *, step_timeout: float = 3.0, connect_timeout: float = 10.0,
                 workdir: Path | None = None) -> None:
        self.spec = spec
        self.step_timeout = step_timeout
        self.connect_timeout = connect_timeout
        self.workdir = workdir_for(workdir, f"rtmp-client-{spec.name}")
        self.cache: dict[str, Run] = {}
        self.preflight_error: str | None = None

    @property
    def role(self) -> str:
        return self.spec.role

    def run(self, name: str) -> Run:
        if name not in self.cache:
            self.cache[name] = self._execute(name)
        return self.cache[name]

    def _execute(self, name: str) -> Run:
        from . import scenarios_play, scenarios_publish  # noqa: F401  (they register the scenarios)

        role, fn, params = SCENARIOS[name]
        log = WireLog()
        stage = Stage(log, step_timeout=self.step_timeout)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", name)
        run = Run(name, self.spec, log, stage, self.workdir / f"{slug}-{uuid.uuid4().hex[:6]}",
                  key=f"cf-{slug}-{uuid.uuid4().hex[:6]}", step_timeout=self.step_timeout,
                  connect_timeout=self.connect_timeout)
        run.workdir.mkdir(parents=True, exist_ok=True)
        values = {"url": run.url}
        if role != self.role:
            run.error = f"scenario {name} is for {role} clients; this client is a {self.role} client"
            stage.close()
            return run
        if role == "publish":
            run.input_variant = params.get("input", "av")
            values["input"] = str(inputs.write_variant(run.input_variant, self.workdir))
            values["output"] = str(run.workdir / "unused-output.flv")
        else:
            run.output = run.workdir / "output.flv"
            values["output"] = str(run.output)
            values["input"] = str(inputs.BASE_FLV)
        argv = render(self.spec.template, **values)
        run.proc = ClientProcess(argv, workdir=run.workdir)
        log.add("battery", "--", "client", f"scenario {name}: starting {' '.join(argv)}")
        kwargs = {k: v for k, v in params.items() if k != "input"}
        try:
            if not run.proc.start():
                raise ScenarioError(run.proc.start_error or "the client did not start")
            fn(run, **kwargs)
        except ScenarioError as exc:
            run.error = str(exc)
        except (StepTimeout, Closed) as exc:
            run.error = f"{type(exc).__name__}: {exc}"
        except DriverError as exc:
            run.error = f"{type(exc).__name__}: {exc}"
        except ProtocolError as exc:
            run.error = f"protocol error: {exc}"
        except OSError as exc:
            run.error = f"socket error: {exc}"
        finally:
            if run.error:
                log.add("battery", "--", "scenario ended", run.error)
            for p in stage.peers:
                finish(p, 0.5)
            if run.proc is not None:
                if not run.proc.wait(2.0 if run.output is not None else 0.5):
                    run.proc.stop(grace=2.0)
                log.add("battery", "--", "client", f"{run.proc.describe()}; output tail: "
                                                  f"{run.proc.tail(800) or '(none)'}")
            stage.close()
            run.seconds = time.monotonic() - run.started
        return run


def finish(peer: Peer, linger: float) -> None:
    """End our side gracefully: FIN after everything we wrote, read on until the client closes (bounded), close."""
    if peer.sock is None:
        return
    if not peer.closed:
        try:
            import socket

            peer.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        peer.wait_closed(linger)
    peer.close()
