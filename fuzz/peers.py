"""Servers the fuzzer can start itself (``--preset``), each on a free 127.0.0.1 port in its own directory.

- ``reference``: ``python -m reference_server --listen 127.0.0.1:0 --log-format json`` (the default target);
- ``nginx-rtmp``: nginx + libnginx-mod-rtmp (``application live``), ``daemon off``, one worker; its error log
  (level warn: worker crashes are ``[alert] ... exited on signal N``) is tailed;
- ``node-media-server``: node-media-server 4 from an npm install directory (``--nms-dir``, the directory where
  ``npm install node-media-server@4`` ran), bound to 127.0.0.1, no HTTP / admin / TLS listeners.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from .target import SpawnedTarget, embedded_command, free_port, reference_server_available

__all__ = ["make_preset", "PRESETS", "free_port", "wait_listening", "nginx_rtmp_binary", "nginx_rtmp_conf"]

PRESETS = ("reference", "nginx-rtmp", "node-media-server")
NGINX_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
NGINX_CONF = """\
daemon off;
pid {dir}/nginx.pid;
load_module {module};
worker_processes 1;
error_log {dir}/error.log {log_level};
events {{ worker_connections {connections}; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{
            live on;
            record off;
        }}
    }}
}}
"""


def wait_listening(port: int, proc, deadline: float, what: str = "the server") -> None:
    """Until ``deadline`` (time.monotonic()), wait for 127.0.0.1:``port`` to accept a TCP connection; raise
    RuntimeError if ``proc`` (a Popen) exits first or the deadline passes."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port}")


def nginx_rtmp_binary() -> str | None:
    """nginx, when it and the rtmp module are installed (Debian: nginx + libnginx-mod-rtmp)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    return nginx if nginx and os.path.exists(NGINX_MODULE) else None


def nginx_rtmp_conf(d, port: int, *, log_level: str = "warn", connections: int = 4096) -> str:
    """A standalone nginx-rtmp config (one worker: live streams are per worker) on 127.0.0.1:``port``, its files
    in ``d``. Used by the fuzzer, the fan-out benchmark and the tests."""
    return NGINX_CONF.format(dir=d, module=NGINX_MODULE, port=port, log_level=log_level, connections=connections)


class _TailingTarget(SpawnedTarget):
    """A spawned server that writes its log to a file we tail (nginx)."""

    def __init__(self, *a, log_file: Path, **kw) -> None:
        super().__init__(*a, **kw)
        self.log_file = log_file
        self._tail_stop = threading.Event()
        self._tail_thread: threading.Thread | None = None

    def start(self) -> None:
        super().start()
        self._tail_stop.clear()
        self._tail_thread = threading.Thread(target=self._tail, daemon=True, name="fuzz-nginx-log")
        self._tail_thread.start()

    def _tail(self) -> None:
        pos = self.log_file.stat().st_size if self.log_file.exists() else 0
        buf = b""
        while not self._tail_stop.is_set():
            try:
                size = self.log_file.stat().st_size
                if size > pos:
                    with open(self.log_file, "rb") as f:
                        f.seek(pos)
                        buf += f.read(size - pos)
                    pos = size
                    *lines, buf = buf.split(b"\n")
                    for ln in lines:
                        self.watcher.feed(ln.decode("utf-8", "replace"))
            except OSError:
                pass
            self._tail_stop.wait(0.05)

    def stop(self) -> None:
        super().stop()
        self._tail_stop.set()
        if self._tail_thread is not None:
            self._tail_thread.join(timeout=2)


def make_preset(name: str, *, workdir: str | None = None, nms_dir: str | None = None,
                ignore: list[str] | None = None) -> SpawnedTarget:
    if name == "reference":
        if not reference_server_available():
            raise RuntimeError("reference_server is not available (python -m reference_server)")
        env = dict(os.environ)
        return SpawnedTarget(embedded_command(), name="reference-server", env=env, ignore=ignore)
    base = Path(workdir or tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    base.mkdir(parents=True, exist_ok=True)
    if name == "nginx-rtmp":
        nginx = nginx_rtmp_binary()
        if nginx is None:
            raise RuntimeError("nginx with ngx_rtmp_module is not installed")

        def setup(port, d):
            (d / "nginx.conf").write_text(nginx_rtmp_conf(d, port))

        return _TailingTarget([nginx, "-p", "{dir}/", "-c", "{dir}/nginx.conf", "-e", "{dir}/error.log"],
                              name="nginx-rtmp", workdir=base, setup=setup, ignore=ignore, log_file=base / "error.log")
    if name == "node-media-server":
        root = Path(nms_dir or os.environ.get("NMS_DIR", "")) / "node_modules" / "node-media-server"
        app = root / "bin" / "app.js"
        if not app.exists():
            raise RuntimeError("node-media-server not found: pass --nms-dir DIR where `npm install "
                               "node-media-server@4` ran (or set NMS_DIR)")
        node = shutil.which("node") or "node"

        def setup(port, d):
            cfg = {"bind": "127.0.0.1", "notify": {"url": ""}, "store": {"path": str(d / "data")},
                   "auth": {"play": False, "publish": False, "secret": "fuzz-secret-not-used"},
                   "rtmp": {"port": port}, "webadmin": {"enable": False},
                   "record": {"auto": False, "path": str(d / "record")}}
            (d / "config.json").write_text(json.dumps(cfg, indent=1))

        return SpawnedTarget([node, str(app), "-c", "{dir}/config.json"], name="node-media-server", workdir=base,
                             setup=setup, ignore=ignore)
    raise ValueError(f"unknown preset {name!r} (one of {', '.join(PRESETS)})")
