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
from pathlib import Path

from rtmpspec.errors import ProtocolError

from ..wire import Closed, DriverError, StepTimeout, WireLog
from . import inputs, scenarios_play, scenarios_publish  # noqa: F401,E402  (they register the scenarios)
from .process import ClientProcess, render, workdir_for
from .scenario import APP, SCENARIOS, ClientSpec, Run, ScenarioError  # noqa: F401  (the runner's names)
from .stage import Peer, Stage


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
