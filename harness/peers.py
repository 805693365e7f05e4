"""The servers we start for the battery, the fuzzer, the benchmarks and the tests, each on a free 127.0.0.1 port:

- ``reference``: ``python -m reference_server --listen 127.0.0.1:0`` (with ``sys.executable``; the port from its
  ``listening`` line);
- ``nginx-rtmp``: nginx + libnginx-mod-rtmp (``application live``), ``daemon off``, one worker (live streams are per
  worker), in its own prefix directory; its error log is followed; stopped with SIGQUIT (graceful);
- ``node-media-server``: node-media-server 4 from an npm install directory (:func:`nms_app` installs it there when
  asked), bound to 127.0.0.1, no HTTP / admin / TLS listeners.

Each function returns a :class:`harness.process.ServerProcess`, not started: ``srv = nginx_rtmp(d).start()``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .process import ServerProcess, free_port

__all__ = ["PRESETS", "preset", "reference_server", "reference_server_command", "nginx_rtmp", "nginx_rtmp_binary",
           "nginx_rtmp_conf", "node_media_server", "nms_app", "NGINX_MODULE", "NMS_CACHE"]

PRESETS = ("reference", "nginx-rtmp", "node-media-server")
# where node-media-server 4 is installed once for the battery's self-tests and the matrix
NMS_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rtmp-conformance" / "node-media-server-4"
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


def reference_server_command(*args: str) -> list[str]:
    """``python -m reference_server --listen 127.0.0.1:0`` with this interpreter (never a bare ``python``)."""
    return [sys.executable, "-m", "reference_server", "--listen", "127.0.0.1:0", *args]


def reference_server(*args: str, **kw) -> ServerProcess:
    """Our reference server (``args``: more command line options, e.g. ``--log-format json``)."""
    kw.setdefault("name", "reference-server")
    env = dict(kw.pop("env", None) or os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return ServerProcess(reference_server_command(*args), env=env, **kw)


def nginx_rtmp_binary() -> str | None:
    """nginx, when it and the rtmp module are installed (Debian: nginx + libnginx-mod-rtmp)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    return nginx if nginx and os.path.exists(NGINX_MODULE) else None


def nginx_rtmp_conf(d, port: int, *, log_level: str = "warn", connections: int = 4096) -> str:
    """A standalone nginx-rtmp config (one worker) on 127.0.0.1:``port``, its files in ``d``."""
    return NGINX_CONF.format(dir=d, module=NGINX_MODULE, port=port, log_level=log_level, connections=connections)


def nginx_rtmp(workdir: str | os.PathLike | None = None, *, log_level: str = "warn", connections: int = 4096,
               prefix: list[str] = (), **kw) -> ServerProcess:
    """nginx-rtmp in ``workdir`` (its config, pid file, error.log); ``prefix``: e.g. ``["taskset", "-c", "0"]``."""
    nginx = nginx_rtmp_binary()
    if nginx is None:
        raise RuntimeError("nginx with ngx_rtmp_module is not installed")
    base = Path(workdir or tempfile.mkdtemp(prefix="nginx-rtmp-")).resolve()
    base.mkdir(parents=True, exist_ok=True)

    def setup(port, d):
        (d / "nginx.conf").write_text(nginx_rtmp_conf(d, port, log_level=log_level, connections=connections))

    kw.setdefault("name", "nginx-rtmp")
    kw.setdefault("log", base / "stderr.log")
    if kw.get("on_line") is not None:
        kw.setdefault("follow", [base / "error.log"])
    return ServerProcess([*prefix, nginx, "-p", "{dir}/", "-c", "{dir}/nginx.conf", "-e", "{dir}/error.log"],
                         workdir=base, setup=setup, stop_signal=signal.SIGQUIT, **kw)


def nms_app(directory: str | os.PathLike = NMS_CACHE, *, install: bool = False, timeout: float = 300.0
            ) -> Path | None:
    """``bin/app.js`` of node-media-server 4 installed (``npm install node-media-server@4``) in ``directory``;
    with ``install`` it is installed there when missing. None when it is not there (or node/npm are missing)."""
    d = Path(directory)
    app = d / "node_modules" / "node-media-server" / "bin" / "app.js"
    if app.exists():
        return app
    if not install or shutil.which("npm") is None or shutil.which("node") is None:
        return None
    d.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "node-media-server@4"], cwd=d,
                       capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return app if app.exists() else None


def node_media_server(app: str | os.PathLike, workdir: str | os.PathLike | None = None,
                      config: Callable[[int, Path], dict] | None = None, **kw) -> ServerProcess:
    """node-media-server 4 (``app``: its bin/app.js) in ``workdir``, RTMP only, on a free loopback port."""
    base = Path(workdir or tempfile.mkdtemp(prefix="nms-")).resolve()
    base.mkdir(parents=True, exist_ok=True)

    def setup(port, d):
        cfg = config(port, d) if config else {
            "bind": "127.0.0.1", "notify": {"url": ""}, "store": {"path": str(d / "data"), "maxHistory": 100},
            "auth": {"play": False, "publish": False, "secret": ""}, "rtmp": {"port": port},
            "http": {"port": free_port()}, "webadmin": {"enable": False},
            "record": {"auto": False, "path": str(d / "record")}}
        (d / "config.json").write_text(json.dumps(cfg, indent=1))

    kw.setdefault("name", "node-media-server")
    return ServerProcess([shutil.which("node") or "node", str(app), "-c", "{dir}/config.json"], workdir=base,
                         cwd=base, setup=setup, **kw)


def preset(name: str, *, workdir: str | os.PathLike | None = None, nms_dir: str | os.PathLike | None = None,
           **kw) -> ServerProcess:
    """One of :data:`PRESETS` (not started)."""
    if name == "reference":
        return reference_server(**kw)
    if name == "nginx-rtmp":
        return nginx_rtmp(workdir, **kw)
    if name == "node-media-server":
        app = nms_app(nms_dir or os.environ.get("NMS_DIR", ""))
        if app is None:
            raise RuntimeError("node-media-server not found: pass --nms-dir DIR where `npm install "
                               "node-media-server@4` ran (or set NMS_DIR)")
        return node_media_server(app, workdir, **kw)
    raise ValueError(f"unknown preset {name!r} (one of {', '.join(PRESETS)})")
