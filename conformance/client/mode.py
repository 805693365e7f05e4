"""Client mode's part of the pytest plugin (called from :mod:`conformance.plugin`): options, which cases a run
selects, the settings object, the report label.

    pytest conformance --client ffmpeg-publish              # a preset (see conformance.client.presets)
    pytest conformance --client "mytool -i {input} {url}"   # any command; {output} makes it a player

Server mode (no ``--client``) deselects the client cases (marker ``rtmp_client``); client mode deselects the
server cases and the client cases of the other role.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..driver import Target
from .presets import PRESETS
from .runner import ClientMode
from .scenario import ClientSpec

MARKER = "rtmp_client"


def add_options(group) -> None:
    group.addoption("--client", default=None, metavar="CMD|PRESET",
                    help="client mode: the battery plays the server and judges this client. A preset ("
                         + ", ".join(PRESETS) + ") or a command with {url} (and {input} for a publisher, {output} "
                         "for a player, which must write FLV there)")
    group.addoption("--client-role", default=None, choices=("publish", "play"),
                    help="client mode: the role of a custom --client command (default: play if it has {output})")
    group.addoption("--client-connect-timeout", type=float, default=10.0, metavar="SECONDS",
                    help="client mode: how long the battery waits for the client to connect (default 10)")


def configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(role): a client-mode case (publish or play clients)")


def spec(config: pytest.Config) -> ClientSpec | None:
    value = config.getoption("--client", default=None)
    if not value:
        return None
    return ClientSpec.parse(value, config.getoption("--client-role", default=None))


def select(config: pytest.Config, items: list) -> None:
    """Deselect the cases that do not belong to this mode (and role)."""
    try:
        client = spec(config)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    keep, drop = [], []
    for item in items:
        mark = item.get_closest_marker(MARKER)
        if not _is_case(item):
            keep.append(item)
        elif client is None:
            (drop if mark is not None else keep).append(item)
        elif mark is None or (mark.args and mark.args[0] != client.role):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _is_case(item) -> bool:
    return "case" in getattr(getattr(item, "callspec", None), "params", {})


def who(config: pytest.Config) -> str:
    return "client" if config.getoption("--client", default=None) else "server"


def settings_target(client: ClientSpec) -> Target:
    """A placeholder target for the case records (client mode has no server under test)."""
    return Target("127.0.0.1", 0, label=client.label)


def make_mode(config: pytest.Config, client: ClientSpec, step_timeout: float, reports: Path) -> ClientMode:
    mode = ClientMode(client, step_timeout=step_timeout,
                      connect_timeout=config.getoption("--client-connect-timeout"),
                      workdir=reports / "client-runs")
    return mode


def preflight(mode: ClientMode) -> str | None:
    """The first scenario of the role: None when the client connected, else one line saying what happened."""
    run = mode.run("pub-basic" if mode.role == "publish" else "play-basic")
    if run.peer is None:
        return f"the client ({mode.spec.label}) did not connect: {run.error}"
    return None


def header_lines(config: pytest.Config) -> list[str]:
    try:
        client = spec(config)
    except ValueError as exc:
        return [f"invalid --client: {exc}"]
    if client is None:
        return []
    return [f"rtmp conformance client mode: {client.label} ({client.role}; {client.implementation})",
            f"rtmp conformance client command: {client.template}"]
