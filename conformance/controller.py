"""The controller's side of a run: the target (``--target``, or the embedded reference server started once for the
run), the preflight, the relay contract probe, and the shared state every xdist worker reads
(:mod:`conformance.guard`). When the preflight fails the run stops before any case."""

from __future__ import annotations

import tempfile
import time

import pytest

from .case import probe_contract
from .driver import WireLog
from .guard import SharedState, stop_all, target_to_json
from .preflight import probe
from .target import TargetError, embedded_reconnect_trigger, embedded_server, parse_target, start_embedded


def setup_target(config: pytest.Config, st: dict) -> None:
    """Before any case: the target (the embedded server is started here, one for the whole run), the preflight
    (does it speak RTMP?), the relay contract probe, and the state every xdist worker reads. When the preflight
    fails the run stops here: no worker is started, no case runs, the reports say why."""
    step = config.getoption("--step-timeout")
    spec = config.getoption("--target")
    shared = SharedState(tempfile.mkdtemp(prefix="rtmp-conformance-"))
    st["shared"] = shared
    t0 = time.monotonic()
    restart = None
    trigger = config.getoption("--reconnect-trigger")
    if spec:
        try:
            target = parse_target(spec, app=config.getoption("--app"), tls_insecure=config.getoption("--tls-insecure"))
        except TargetError as exc:
            raise pytest.UsageError(f"rtmp conformance: {exc}") from None
        if config.getoption("--restart-cmd"):
            restart = {"kind": "command", "command": config.getoption("--restart-cmd"), "timeout": max(30.0, 10 * step)}
    else:
        control = str(shared.dir / "control.sock")
        server = embedded_server(config.getoption("--reference-server-cmd"), log=shared.dir / "server.log",
                                 control=control)
        trigger = trigger or embedded_reconnect_trigger(control)
        try:
            host, port = start_embedded(server)
        except TargetError as exc:
            _stop(config, st, f"the embedded reference server did not start: {exc}", None, t0)
            return
        st["server"] = server
        # an embedded server with TLS has a self-signed certificate at best: do not verify it
        target = parse_target(f"{server.scheme}://{host}:{port}", app=config.getoption("--app"),
                              tls_insecure=server.scheme == "rtmps" or config.getoption("--tls-insecure"))
        target.label = target.url
        restart = {"kind": "embedded", "command": config.getoption("--reference-server-cmd"), "control": control}
    health = probe(target, step, label="preflight")
    if not health.ok:
        _stop(config, st, f"{target.url} does not speak RTMP: {health.reason}", health, t0, target)
        return
    log = WireLog()
    contract = probe_contract(target, step, log)
    if not contract[0]:
        again = probe(target, step, label="preflight")
        if not again.ok:
            again.log = log
            _stop(config, st, f"{target.url} stopped serving during the relay contract probe: {again.reason}",
                  again, t0, target)
            return
    st["preflight"] = {"ok": True, "reason": health.reason, "target": target.url,
                       "seconds": round(time.monotonic() - t0, 3), "contract": list(contract)}
    shared.write({"target": target_to_json(target), "generation": 0, "restart": restart, "down": None,
                  "contract": list(contract), "crashes": [], "restarts": [], "step_timeout": step,
                  "preflight": st["preflight"], "reconnect_trigger": trigger})


def setup_client(config: pytest.Config, st: dict) -> None:
    """Client mode, before any case: the client's first scenario must connect (the battery plays the server);
    when it does not, the run stops here with one line, as the server-mode preflight does."""
    from .client import mode as client_mode

    t0 = time.monotonic()
    try:
        client = client_mode.spec(config)
    except ValueError as exc:
        raise pytest.UsageError(f"rtmp conformance: invalid --client: {exc}") from None
    mode = client_mode.make_mode(config, client, config.getoption("--step-timeout"), st["reports"])
    problem = client_mode.preflight(mode)
    if problem:
        _stop(config, st, problem, None, t0)
        return
    st["client_mode"] = mode
    st["preflight"] = {"ok": True, "reason": f"the client ({client.label}) connected", "target": client.label,
                       "seconds": round(time.monotonic() - t0, 3), "contract": [True, "client mode"]}


def _stop(config: pytest.Config, st: dict, reason: str, health, t0: float, target=None) -> None:
    st["stopped"] = {"ok": False, "reason": reason, "stage": health.stage if health else "start",
                     "target": target.url if target else None, "seconds": round(time.monotonic() - t0, 3),
                     "wire": health.log.to_json() if health else None}
    # no xdist workers for a run that stops here
    if getattr(config.option, "dist", "no") != "no":
        config.option.dist = "no"
        config.option.tx = []
    cleanup(st)


def cleanup(st: dict) -> None:
    shared: SharedState | None = st.get("shared")
    if shared is not None:
        stop_all(shared.read())
    server = st.pop("server", None)
    if server is not None:
        server.stop()
