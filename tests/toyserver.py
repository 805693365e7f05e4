"""A deliberately broken RTMP server, to test the fuzzer's detection, triage and minimization end to end.

    python tests/toyserver.py [--port 0]        # prints 'listening rtmp://127.0.0.1:PORT'

It answers the handshake and ``connect`` with rtmpspec (enough for the health probe), and misbehaves when a
command message's name is one of:

- ``crashme``: the process exits with a traceback (a crash);
- ``hangme``: the event loop blocks for 30 s (a hang);
- ``oopsme``: an exception is logged as a traceback, the server carries on (a server-error);
- ``leakme``: 8 MB are kept forever (memory growth).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback

from rtmpspec import messages as m
from rtmpspec.connection import Connection, Role
from rtmpspec.errors import RTMPError
from rtmpspec.sentinels import NEED_DATA

_LEAK: list[bytes] = []


class _Session(asyncio.Protocol):
    def connection_made(self, transport) -> None:
        self.t = transport
        self.conn = Connection(Role.SERVER, strict=False)

    def data_received(self, data: bytes) -> None:
        try:
            self.conn.receive_data(data, time.monotonic())
            while True:
                ev = self.conn.next_event()
                if ev is NEED_DATA:
                    break
                if isinstance(ev, m.Command):
                    self.command(ev)
            out = self.conn.data_to_send()
            if out:
                self.t.write(out)
        except RTMPError:
            self.t.abort()

    def command(self, cmd: m.Command) -> None:
        if cmd.name == "connect":
            self.t.write(self.conn.data_to_send())
            self.t.write(self.conn.send(m.result(cmd.transaction_id, {"fmsVer": "toy/1"},
                                                 {"level": "status", "code": "NetConnection.Connect.Success"})))
        elif cmd.name == "crashme":
            traceback.print_stack()
            print("Traceback (most recent call last):\n  File \"toyserver.py\", line 1, in command\n"
                  "RuntimeError: crashme", file=sys.stderr, flush=True)
            sys.stderr.flush()
            import os

            os._exit(3)
        elif cmd.name == "hangme":
            time.sleep(30)
        elif cmd.name == "oopsme":
            try:
                raise ValueError("oops")
            except ValueError:
                traceback.print_exc()
                sys.stderr.flush()
        elif cmd.name == "leakme":
            _LEAK.append(b"x" * (8 << 20))  # touched pages: resident


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Session, "127.0.0.1", port)
    print(f"listening rtmp://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tests/toyserver.py")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    asyncio.run(_serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
