"""Server configuration: defaults < TOML config file (``--config``) < command-line flags.

The TOML file uses the flag names with ``-`` or ``_``, at top level or under a ``[server]`` table::

    listen = "rtmp://127.0.0.1:1935"
    chunk-size = 4096
    apps = ["live", "test"]
    record-dir = "recordings"
"""

from __future__ import annotations

import argparse
import re
import tomllib
from dataclasses import dataclass, field, fields

MiB = 1024 * 1024
NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")
MAX_NAME_LENGTH = 128


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 1935
    chunk_size: int = 4096
    window_ack_size: int = 2_500_000
    peer_bandwidth: int = 2_500_000
    record_dir: str | None = None
    log_level: str = "info"
    log_format: str = "text"
    tls_cert: str | None = None
    tls_key: str | None = None
    max_connections: int = 1000
    max_message_size: int = 8 * MiB
    handshake_timeout: float = 10.0
    idle_timeout: float = 60.0
    apps: list[str] = field(default_factory=lambda: ["live"])
    # relay bounds
    gop_max_bytes: int = 8 * MiB  # GOP cache: bytes since the last keyframe
    gop_max_frames: int = 2000  # GOP cache: messages since the last keyframe
    player_soft_limit: int = 2 * MiB  # queued bytes at which non-keyframe video is dropped
    player_hard_limit: int = 16 * MiB  # queued bytes at which a player is disconnected
    player_lag_timeout: float = 10.0  # seconds above the soft limit before a player is disconnected
    player_check_interval: float = 0.1  # seconds between looks at the queues of players served in groups
    # batching window of the relay (0: none): a publisher is read and its messages written to players about once
    # per 1/2 to 1 flush_interval (reference_server/relay.py, reference_server/ingest.py)
    flush_interval: float = 0.05
    # recording
    record_flush_interval: float = 0.5
    record_flush_bytes: int = 256 * 1024
    record_queue_bytes: int = 64 * MiB
    uvloop: bool = True
    # E-RTMP v2 reconnect request: the control socket that triggers one, and the drain on shutdown
    control_socket: str | None = None
    drain_timeout: float = 2.0  # seconds a graceful shutdown keeps serving clients it asked to reconnect

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @property
    def scheme(self) -> str:
        return "rtmps" if self.tls else "rtmp"


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port``, ``rtmp://host:port``, ``rtmps://host[:port]``, ``:port`` or ``port``."""
    s = text.strip()
    m = re.match(r"^(rtmps?)://", s)
    default_port = 1935
    if m:
        default_port = 443 if m.group(1) == "rtmps" else 1935
        s = s[m.end():].split("/", 1)[0]
    if s.isdigit():
        return "127.0.0.1", int(s)
    if s.startswith("["):  # [ipv6]:port
        host, _, rest = s[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = s.rpartition(":")
    if not sep:
        return s, default_port
    if not port.isdigit():
        raise ValueError(f"bad port in --listen {text!r}")
    return host or "127.0.0.1", int(port)


def valid_name(name: str) -> bool:
    """Stream keys and app names: letters, digits, ``_ - .``, not starting with ``.``, at most 128 characters."""
    return (0 < len(name) <= MAX_NAME_LENGTH and NAME_RE.fullmatch(name) is not None
            and not name.startswith("."))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reference-server", description="Reference RTMP server (live relay + FLV recording)")
    a = p.add_argument
    a("--config", help="TOML config file (command-line flags win)")
    a("--listen", help="host:port or rtmp://host:port (port 0 picks a free port; default 127.0.0.1:1935)")
    a("--chunk-size", type=int, help="outgoing chunk size (default 4096)")
    a("--window-ack-size", type=int, help="Window Acknowledgement Size sent after connect (default 2500000)")
    a("--peer-bandwidth", type=int, help="Set Peer Bandwidth sent after connect, dynamic (default 2500000)")
    a("--record-dir", help="record every published stream to DIR/app/name-YYYYmmdd-HHMMSS.flv")
    a("--log-level", choices=["debug", "info", "warning", "error"])
    a("--log-format", choices=["json", "text"])
    a("--tls-cert", help="PEM certificate: serve RTMPS")
    a("--tls-key", help="PEM private key for --tls-cert")
    a("--max-connections", type=int)
    a("--max-message-size", type=int, help="largest incoming RTMP message in bytes (default 8 MiB)")
    a("--handshake-timeout", type=float, help="seconds to complete handshake + connect (default 10)")
    a("--idle-timeout", type=float, help="seconds without input before a ping, then close (default 60)")
    a("--apps", help="comma-separated application names allowed in connect (default live)")
    a("--gop-max-bytes", type=int)
    a("--gop-max-frames", type=int)
    a("--player-soft-limit", type=int, help="queued bytes per player before dropping non-key video")
    a("--player-hard-limit", type=int, help="queued bytes per player before disconnecting it")
    a("--player-lag-timeout", type=float, help="seconds above the soft limit before disconnecting a player")
    a("--player-check-interval", type=float,
      help="seconds between looks at the write queues of players that take every message (default 0.1)")
    a("--flush-interval", type=float,
      help="batching window: publishers read and players written about once per this many seconds "
           "(default 0.05; 0: once per message)")
    a("--record-flush-interval", type=float)
    a("--no-uvloop", action="store_true", default=None, help="use the default asyncio event loop")
    a("--control-socket", help="UNIX socket for control requests (an E-RTMP reconnect request to the clients of a "
                               "stream: python -m reference_server.control)")
    a("--drain-timeout", type=float, help="on SIGTERM/SIGINT ask every client to reconnect (E-RTMP v2) and keep "
                                          "serving them for at most this many seconds (default 2; 0: close at once)")
    return p


def _toml_config(path: str) -> dict:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    if isinstance(data.get("server"), dict):
        data = {**{k: v for k, v in data.items() if k != "server"}, **data["server"]}
    return {k.replace("-", "_"): v for k, v in data.items()}


def load(argv: list[str] | None = None) -> Config:
    ns = build_parser().parse_args(argv)
    cfg = Config()
    names = {f.name for f in fields(Config)}
    merged: dict = {}
    if ns.config:
        merged.update(_toml_config(ns.config))
    for k, v in vars(ns).items():
        if v is not None and k != "config":
            merged[k] = v
    if merged.pop("no_uvloop", None):
        merged["uvloop"] = False
    listen = merged.pop("listen", None)
    if listen is not None:
        cfg.host, cfg.port = parse_listen(str(listen))
        if str(listen).startswith("rtmps://") and not merged.get("tls_cert"):
            pass  # scheme alone does not enable TLS: a certificate is needed
    apps = merged.pop("apps", None)
    if apps is not None:
        cfg.apps = [a.strip() for a in (apps.split(",") if isinstance(apps, str) else apps) if str(a).strip()]
    for k, v in merged.items():
        if k not in names:
            raise SystemExit(f"unknown configuration key {k!r}")
        setattr(cfg, k, v)
    if not 1 <= cfg.chunk_size <= 0xFFFFFF:
        raise SystemExit("--chunk-size must be 1..16777215")
    if cfg.tls_cert and not cfg.tls_key:
        cfg.tls_key = cfg.tls_cert
    return cfg
