"""The asyncio server: accepts connections (one :class:`ServerSession` each), runs the timers (handshake and idle
timeouts, idle pings, recording flushes) and shuts down cleanly.

Shutdown (SIGINT/SIGTERM): stop accepting; every publisher is unpublished, so players get StreamEOF +
``NetStream.Play.UnpublishNotify`` and recordings are flushed, fsynced and closed; every connection is closed
(aborted after a grace period); the process exits 0 well within 5 seconds.
"""

from __future__ import annotations

import asyncio
import ssl

from . import logs
from .config import Config
from .recorder import Recorder
from .relay import Relay
from .session import ServerSession, SessionRegistry


class Server:
    """Owns the listening socket, the relay, the registry of sessions and the one clock (the event loop's)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.clock = asyncio.get_running_loop().time
        self.relay = Relay(cfg, self.clock)
        self.registry = SessionRegistry()
        self._server: asyncio.base_events.Server | None = None
        self._tick_task: asyncio.Task | None = None
        self.address: tuple[str, int] | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.cfg.tls_cert:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cfg.tls_cert, self.cfg.tls_key)
        return ctx

    @property
    def sessions(self) -> set[ServerSession]:
        return self.registry.sessions

    def _session(self) -> ServerSession:
        return ServerSession(self.cfg, self.relay, self.registry, self.clock)

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        ctx = self.ssl_context()
        kw = {"ssl": ctx, "ssl_handshake_timeout": self.cfg.handshake_timeout} if ctx else {}
        self._server = await loop.create_server(self._session, self.cfg.host, self.cfg.port,
                                                backlog=min(1024, max(16, self.cfg.max_connections)),
                                                reuse_address=True, **kw)
        sock = self._server.sockets[0]
        host, port = sock.getsockname()[:2]
        self.address = (host, port)
        self._tick_task = loop.create_task(self._ticker())
        logs.get().event("info", "server_start", address=self.url, apps=self.cfg.apps,
                         record_dir=self.cfg.record_dir, loop=type(loop).__module__)
        return host, port

    @property
    def url(self) -> str:
        if self.address is None:
            return ""
        host, port = self.address
        if ":" in host:
            host = f"[{host}]"
        return f"{self.cfg.scheme}://{host}:{port}"

    async def _ticker(self) -> None:
        interval = max(0.05, min(0.5, self.cfg.record_flush_interval))
        while True:
            await asyncio.sleep(interval)
            now = self.clock()
            for s in list(self.sessions):
                try:
                    s.tick(now)
                except Exception as exc:  # never let one session stop the timers
                    s.close("internal_error", f"{type(exc).__name__}: {exc}", level="error")
            for r in list(self.registry.recorders):
                r.flush()

    async def shutdown(self, grace: float = 2.0) -> None:
        """Stop accepting, unpublish everything (players get StreamEOF + UnpublishNotify), close recordings and
        connections."""
        self.registry.stopping = True
        log = logs.get()
        log.event("info", "server_stopping", sessions=len(self.sessions), streams=len(self.relay.streams))
        if self._server is not None:
            self._server.close()
        if self._tick_task is not None:
            self._tick_task.cancel()
        sessions = list(self.sessions)
        for s in sessions:  # publishers first, so players still get the notifications
            s.stop_publishing()
        for s in sessions:
            s.close("shutdown", "server shutting down")
        for r in list(self.registry.recorders):
            r.close()
        Recorder.join_all(2.0)  # flushed, fsynced and closed before we exit
        deadline = self.clock() + grace
        while self.sessions and self.clock() < deadline:
            await asyncio.sleep(0.05)
        for s in list(self.sessions):
            if s.transport is not None:
                s.transport.abort()
        log.event("info", "server_stopped")


class ServerThread:
    """The server on its own event loop in a daemon thread, for embedding (conformance, fuzzing, tests)::

        with ServerThread(Config(port=0)) as srv:
            url = srv.url          # rtmp://127.0.0.1:PORT
    """

    def __init__(self, cfg: Config | None = None, *, timeout: float = 10.0) -> None:
        import threading

        self.cfg = cfg or Config(port=0)
        self.server: Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="reference-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the reference server did not start")
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        self.server = Server(self.cfg)
        try:
            await self.server.start()
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        await self.server.shutdown()

    @property
    def url(self) -> str:
        return self.server.url if self.server else ""

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address

    def stop(self, timeout: float = 5.0) -> None:
        if self.loop is not None and self._stopped is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
