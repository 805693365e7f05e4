"""A publishing client with one injected fault, for the battery's own tests (client mode must catch it).

    python tests/faulty_clients/faulty_publish.py FAULT rtmp://host:port/app/key input.flv

It is our ``rtmp-client publish`` (reference_server.client_cli) with one defect patched into its rtmpspec
Connection, each a field bug of real encoders:

- ``no-type3-extended-timestamp``: Type 3 chunks never carry the extended timestamp, even while the message's
  header used one (errata 5.1; OBS PR 10097, librtmp derivatives);
- ``no-acknowledgement``: never sends an Acknowledgement, whatever the server's window (RTMP 5.4.3);
- ``ignore-set-chunk-size``: reads the server's chunks at 128 bytes whatever Set Chunk Size said (RTMP 5.4.1).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from reference_server import client as client_module  # noqa: E402
from reference_server import client_cli  # noqa: E402
from rtmpspec.chunkheader import (
    EXTENDED_TIMESTAMP_MARK,  # noqa: E402
    build_header,  # noqa: E402
)
from rtmpspec.chunkwriter import ChunkWriter  # noqa: E402
from rtmpspec.connection import Connection  # noqa: E402
from rtmpspec.message_format import Message  # noqa: E402

FAULTS = ("no-type3-extended-timestamp", "no-acknowledgement", "ignore-set-chunk-size")


class NoType3ExtendedWriter(ChunkWriter):
    """Chunks every message as Type 0 + Type 3 chunks, the Type 3 ones WITHOUT the extended timestamp."""

    def write(self, msg: Message, *, fmt: int | None = None) -> bytes:
        ts = msg.timestamp & 0xFFFFFFFF
        first = build_header(0, msg.csid, ts, len(msg.payload), msg.type_id, msg.msid)
        cont = build_header(3, msg.csid)  # the fault: no extended timestamp even when ts >= 0xFFFFFF
        p, size = msg.payload, self.chunk_size
        data = first + p[:size] + b"".join(cont + p[i:i + size] for i in range(size, len(p), size))
        self.bytes_written += len(data)
        return data


def faulty_connection(fault: str):
    def make(*args, **kwargs) -> Connection:
        if fault == "no-acknowledgement":
            kwargs["auto_ack"] = False
        conn = Connection(*args, **kwargs)
        if fault == "no-type3-extended-timestamp":
            conn.writer = NoType3ExtendedWriter()
        elif fault == "ignore-set-chunk-size":
            conn.reader.set_chunk_size = lambda size, at=None: None  # the fault: Set Chunk Size has no effect
        return conn

    return make


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in FAULTS:
        print(f"usage: faulty_publish.py {{{'|'.join(FAULTS)}}} URL FILE.flv", file=sys.stderr)
        return 2
    client_module.Connection = faulty_connection(argv[0])
    assert EXTENDED_TIMESTAMP_MARK == 0xFFFFFF
    return client_cli.main(["publish", *argv[1:], "--timeout", "5", "-q"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
