"""Throughput of the chunk reader and writer on a realistic stream, against the plain interpreted schema.

The stream: the audio and video tags of a real FLV (made by ffmpeg here: H.264 + AAC, ~4 Mbit/s; or
``--flv FILE``), interleaved in timestamp order as an encoder sends them, chunked at 4096 bytes with the
header compression a real sender uses (Type 0/1/2/3). It is parsed by:

- ``reader``: ``ChunkReader`` (framing + compiled header schema + header memo), in 64 KiB reads;
- ``reader (interpreted schema)``: the same reader with every header parsed by the interpreted construct schema,
  no memo: what a naive construct-based reader costs;
and written by ``ChunkWriter`` (header compression) and ``chunk_message`` (stateless, shared by subscribers).
Each figure is the best of ``--repeat`` runs on one core. Output: a table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rtmpspec.chunkheader import ChunkHeader  # noqa: E402
from rtmpspec.chunkreader import ChunkReader  # noqa: E402
from rtmpspec.chunkwriter import ChunkWriter, chunk_message  # noqa: E402
from rtmpspec.message_format import Message  # noqa: E402


def make_flv(path: str, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "4M", "-g", "60", "-c:a", "aac", "-b:a", "128k",
         "-f", "flv", path], check=True)


def messages_from_flv(path: str) -> list[Message]:
    from rtmpspec.flv import FLVReader, FLVTag
    from rtmpspec.sentinels import NEED_DATA as FLV_NEED

    r = FLVReader()
    with open(path, "rb") as f:
        r.receive_data(f.read())
    out = []
    while True:
        ev = r.next_event()
        if ev is FLV_NEED:
            break
        if isinstance(ev, FLVTag) and ev.tag_type in (8, 9, 18):
            csid = {8: 4, 9: 6, 18: 5}[ev.tag_type]
            out.append(Message(ev.tag_type, bytes(ev.data), ev.timestamp, 1, csid))
    return out


class InterpretedReader(ChunkReader):
    """Every header through the interpreted schema, no memo."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self._cache = _NoCache()

    def _parse_header(self, header, ext3, pos):
        h = ChunkHeader.parse(header, type3_extended=ext3)
        p = h.basic.head.provisionalChunkStreamID
        csid = p if p >= 2 else h.basic.chunkStreamIDMinus64 + 64
        m = h.message
        fmt = h.basic.head.fmt
        if fmt == 0:
            return (0, csid, m.timestamp, m.messageLength, m.messageTypeID, m.messageStreamID, m.extendedTimestamp)
        if fmt == 1:
            return (1, csid, m.timestampDelta, m.messageLength, m.messageTypeID, None, m.extendedTimestamp)
        if fmt == 2:
            return (2, csid, m.timestampDelta, None, None, None, m.extendedTimestamp)
        return (3, csid, None, None, None, None, m.extendedTimestamp)


class _NoCache(dict):
    def __setitem__(self, k, v):
        pass


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flv", help="use this FLV instead of making one with ffmpeg")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--chunk-size", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    tmp = None
    path = args.flv
    if path is None:
        if shutil.which("ffmpeg") is None:
            print("ffmpeg is needed to make the input (or pass --flv FILE)", file=sys.stderr)
            return 2
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "in.flv")
        make_flv(path, args.seconds)
    msgs = messages_from_flv(path)
    w = ChunkWriter(args.chunk_size)
    stream = b"".join(w.write(m) for m in msgs)
    n = len(stream)
    reads = [stream[i:i + 65536] for i in range(0, n, 65536)]

    def run_reader(cls):
        def go():
            r = cls(chunk_size=args.chunk_size)
            count = 0
            for piece in reads:
                r.receive_data(piece)
                for _ in r:
                    count += 1
            assert count == len(msgs), (count, len(msgs))
        return go

    def run_writer():
        w2 = ChunkWriter(args.chunk_size)
        for m in msgs:
            w2.write(m)

    def run_shared():
        for m in msgs:
            chunk_message(m, args.chunk_size)

    # correctness first: the reader gives back exactly what was written
    r = ChunkReader(chunk_size=args.chunk_size)
    r.receive_data(stream)
    assert list(r) == msgs

    rows = [
        ("reader", best(run_reader(ChunkReader), args.repeat)),
        ("reader (interpreted schema)", best(run_reader(InterpretedReader), max(1, args.repeat // 2))),
        ("writer (ChunkWriter)", best(run_writer, args.repeat)),
        ("writer (chunk_message, shared)", best(run_shared, args.repeat)),
    ]
    video = sum(1 for m in msgs if m.type_id == 9)
    audio = sum(1 for m in msgs if m.type_id == 8)
    print(f"stream: {n / 1e6:.2f} MB, {len(msgs)} messages ({video} video, {audio} audio), "
          f"chunk size {args.chunk_size}, source {os.path.basename(path)}")
    print(f"{'path':34} {'MB/s':>9} {'msgs/s':>11}")
    result = {"bytes": n, "messages": len(msgs), "chunk_size": args.chunk_size}
    base = dict(rows)["reader (interpreted schema)"]
    for name, t in rows:
        print(f"{name:34} {n / t / 1e6:9.1f} {len(msgs) / t:11.0f}")
        result[name] = {"MB_per_s": round(n / t / 1e6, 1), "seconds": round(t, 4)}
    print(f"reader speed-up over the interpreted schema: {base / dict(rows)['reader']:.1f}x")
    print(json.dumps(result))
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
