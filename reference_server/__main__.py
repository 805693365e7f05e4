"""``python -m reference_server`` / ``reference-server``: run the reference RTMP server.

The first line on stdout is ``listening rtmp://HOST:PORT`` (the bound port, also with ``--listen HOST:0``);
logs go to stderr, one event per line.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys

from . import config, control, logs
from .server import Server


async def serve(cfg: config.Config) -> int:
    server = Server(cfg)
    try:
        await server.start()
    except OSError as exc:
        logs.get().event("error", "listen_failed", address=f"{cfg.host}:{cfg.port}", error=str(exc))
        return 1
    ctl = None
    if cfg.control_socket:
        ctl = control.ControlSocket(server, cfg.control_socket)
        try:
            await ctl.start()
        except OSError as exc:
            logs.get().event("error", "control_socket_failed", path=cfg.control_socket, error=str(exc))
            await server.shutdown()
            return 1
    print(f"listening {server.url}", flush=True)
    gc.freeze()  # the start-up objects (modules, compiled schemas) leave the collector's sight: cheaper collections
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    await stop.wait()
    if cfg.drain_timeout > 0:  # E-RTMP v2: ask the clients to reconnect, serve them while they leave
        server.registry.stopping = True  # no new connections
        asked = await control.drain(server, cfg.drain_timeout)
        if asked:
            logs.get().event("info", "drained", asked=asked, left=len(server.sessions))
    if ctl is not None:
        await ctl.close()
    await server.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    cfg = config.load(argv)
    logs.setup(cfg.log_level, cfg.log_format)
    if cfg.uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(serve(cfg))
    return asyncio.run(serve(cfg))


if __name__ == "__main__":
    sys.exit(main())
