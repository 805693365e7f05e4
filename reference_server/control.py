"""The reference server's control socket and the E-RTMP v2 reconnect request.

``--control-socket PATH`` makes the server listen on a UNIX socket for one JSON request per line::

    {"reconnect": {"app": "live", "key": "k", "tcUrl": "rtmp://other/live"}}   -> {"sent": 1}

which sends every connection publishing or playing ``app/key`` an E-RTMP v2 reconnect request (onStatus
NetConnection.Connect.ReconnectRequest on the NetConnection, transaction id 0, level status, ``tcUrl`` when the
client is sent elsewhere). The conformance battery uses it as its ``--reconnect-trigger`` for the embedded server::

    python -m reference_server.control --socket PATH reconnect --app live --key k [--redirect URL]

On a graceful shutdown (SIGTERM/SIGINT) the server sends every connection the same request (without tcUrl: come
back to this address, where another instance will answer) and keeps serving them while they leave, at most
``--drain-timeout`` seconds, before it closes what is left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

from rtmpspec.messages import Command

if TYPE_CHECKING:
    from .server import Server

RECONNECT_REQUEST = "NetConnection.Connect.ReconnectRequest"


def reconnect_request(tc_url: str | None = None, description: str = "Please reconnect.") -> Command:
    info: dict[str, Any] = {"level": "status", "code": RECONNECT_REQUEST, "description": description}
    if tc_url:
        info["tcUrl"] = tc_url
    return Command("onStatus", 0, None, (info,), 0)


def _keys(session: Any) -> set[str]:
    names = set()
    for s in getattr(session, "publishing", {}).values():
        names.add(getattr(s, "name", None))
    for p in getattr(session, "playing", {}).values():
        names.add(getattr(p, "name", None))
    return {n for n in names if n}


def send_reconnect(server: Server, *, app: str | None = None, key: str | None = None,
                   tc_url: str | None = None, description: str = "Please reconnect.") -> int:
    """Ask every matching connection (all with no app/key) to reconnect; the number asked."""
    n = 0
    for s in list(server.sessions):
        if getattr(s, "closing", False) or getattr(s, "app", None) is None:
            continue
        if app is not None and s.app != app:
            continue
        if key is not None and key not in _keys(s):
            continue
        s.send(reconnect_request(tc_url, description))
        s.ev("info", "reconnect_request", tcUrl=tc_url)
        n += 1
    return n


async def drain(server: Server, timeout: float) -> int:
    """Graceful shutdown, E-RTMP v2: ask every connection to reconnect, keep serving them until they have left or
    ``timeout`` seconds passed. The number of connections asked."""
    asked = send_reconnect(server, description="The server is shutting down; please reconnect.")
    deadline = time.monotonic() + timeout
    while asked and time.monotonic() < deadline and any(not getattr(s, "closing", False) for s in server.sessions):
        await asyncio.sleep(0.05)
    return asked


class ControlSocket:
    def __init__(self, server: Server, path: str) -> None:
        self.server = server
        self.path = path
        self._srv: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._srv = await asyncio.start_unix_server(self._client, path=self.path)

    async def close(self) -> None:
        if self._srv is not None:
            self._srv.close()
            await self._srv.wait_closed()
        try:
            os.unlink(self.path)
        except OSError:
            pass

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            try:
                req = json.loads(line or b"{}")
                rc = req.get("reconnect")
                if not isinstance(rc, dict):
                    raise ValueError("expected {\"reconnect\": {...}}")
                n = send_reconnect(self.server, app=rc.get("app"), key=rc.get("key"), tc_url=rc.get("tcUrl") or None)
                answer: dict = {"sent": n}
            except (ValueError, AttributeError) as exc:
                answer = {"error": str(exc)}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reference_server.control",
                                 description="Ask the reference server (its --control-socket) for a reconnect request")
    ap.add_argument("--socket", required=True, help="the server's --control-socket path")
    sub = ap.add_subparsers(dest="command", required=True)
    rc = sub.add_parser("reconnect", help="send an E-RTMP v2 reconnect request to the clients of app/key")
    rc.add_argument("--app")
    rc.add_argument("--key")
    rc.add_argument("--redirect", default="", help="tcUrl of the server to go to (empty: this one)")
    args = ap.parse_args(argv)
    req = {"reconnect": {"app": args.app, "key": args.key, "tcUrl": args.redirect or None}}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5.0)
            s.connect(args.socket)
            s.sendall(json.dumps(req).encode() + b"\n")
            answer = json.loads(s.makefile("rb").readline() or b"{}")
    except (OSError, ValueError) as exc:
        print(f"control socket {args.socket}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(answer))
    if answer.get("error") or not answer.get("sent"):
        print(f"no reconnect request sent: {answer}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
