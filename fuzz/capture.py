"""Capture real client sessions as seeds: ffmpeg publishes (and plays) through a recording loopback proxy.

    python -m fuzz capture --out fuzz/seeds/                      # nginx-rtmp upstream (started here)
    python -m fuzz capture --out corpus/ --preset reference
    python -m fuzz capture --out corpus/ --upstream 127.0.0.1:1935

The proxy listens on a free 127.0.0.1 port and forwards every connection to the upstream server, recording the
client-to-server bytes. Saved: ``ffmpeg-publish.bin`` (handshake, connect, releaseStream, FCPublish,
createStream, publish, metadata, then media; cut after ``--max-bytes`` at a chunk boundary so committed seeds stay
small) and ``ffmpeg-play.bin`` (the player's whole session).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

from rtmpspec.chunkreader import ChunkReader
from rtmpspec.errors import RTMPError
from rtmpspec.handshake import FLIGHT_SIZE

__all__ = ["RecordingProxy", "trim_session", "main"]


class RecordingProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.sessions: list[bytearray] = []  # client->server bytes, per accepted connection
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        rec = bytearray()
        self.sessions.append(rec)
        try:
            ur, uw = await asyncio.open_connection(*self.upstream)
        except OSError:
            cw.close()
            return

        async def pump(r, w, record):
            try:
                while True:
                    data = await r.read(65536)
                    if not data:
                        break
                    if record is not None:
                        record += data
                    w.write(data)
                    await w.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                try:
                    w.write_eof()
                except (OSError, RuntimeError):
                    pass

        await asyncio.gather(pump(cr, uw, rec), pump(ur, cw, None))
        for w in (cw, uw):
            w.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def trim_session(data: bytes, max_bytes: int) -> bytes:
    """Cut a client session after the last complete chunk that ends within ``max_bytes`` (handshake kept)."""
    if len(data) <= max_bytes:
        return data
    hs = FLIGHT_SIZE if len(data) >= FLIGHT_SIZE and data[0] == 3 else 0
    r = ChunkReader(record_chunks=True, strict=False, offset=hs, max_chunk_streams=1024)
    try:
        r.receive_data(data[hs:])
        for _ in r:
            if r.chunks and r.chunks[-1].offset > max_bytes:
                break
    except RTMPError:
        pass
    end = hs
    for c in r.chunks:
        e = c.offset + len(c.header) + c.payload_length
        if e > max_bytes:
            break
        end = e
    return data[:end]


async def _capture(upstream: tuple[str, int], seconds: float, workdir: Path) -> tuple[bytes, bytes, str]:
    proxy = RecordingProxy(upstream)
    await proxy.start()
    url = f"rtmp://127.0.0.1:{proxy.port}/live/capture"
    pub_log = open(workdir / "publish.log", "wb")
    play_log = open(workdir / "play.log", "wb")
    try:
        pub = await asyncio.create_subprocess_exec(
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-f", "lavfi", "-i", "sine=frequency=440",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac", "-b:a", "32k",
            "-f", "flv", url, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=pub_log)
        await asyncio.sleep(min(1.0, seconds / 3))
        play = await asyncio.create_subprocess_exec(
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-rw_timeout", "3000000", "-i", url,
            "-t", "1", "-f", "null", "-", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=play_log)
        try:
            await asyncio.wait_for(pub.wait(), seconds + 20)
            await asyncio.wait_for(play.wait(), 20)
        finally:
            for p in (pub, play):
                if p.returncode is None:
                    p.terminate()
                    await p.wait()
        await asyncio.sleep(0.3)
    finally:
        await proxy.stop()
        pub_log.close()
        play_log.close()
    sessions = [bytes(s) for s in proxy.sessions]
    publish = next((s for s in sessions if b"publish" in s[FLIGHT_SIZE:]), b"")
    player = next((s for s in sessions if b"play" in s[FLIGHT_SIZE:] and s is not publish), b"")
    return publish, player, (workdir / "publish.log").read_text(errors="replace")[-2000:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz capture", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="directory for the captured .bin seeds")
    p.add_argument("--upstream", metavar="HOST:PORT", help="a running server (default: start nginx-rtmp)")
    p.add_argument("--preset", default="nginx-rtmp", choices=("nginx-rtmp", "reference", "node-media-server"))
    p.add_argument("--nms-dir")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--max-bytes", type=int, default=12000, help="cut the publish session after this many bytes")
    args = p.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("capture: ffmpeg is not installed", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = None
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="fuzz-capture-"))
    try:
        if args.upstream:
            from .netio import check_loopback, hostport

            upstream = hostport(args.upstream)
            check_loopback(upstream[0])
        else:
            from .target import preset

            target = preset(args.preset, workdir=str(work / "server"), nms_dir=args.nms_dir).start()
            upstream = (target.host, target.port)
        publish, player, log = asyncio.run(_capture(upstream, args.seconds, work))
    finally:
        if target is not None:
            target.stop()
    if not publish:
        print(f"capture: no publish session recorded; ffmpeg said:\n{log}", file=sys.stderr)
        return 1
    small = trim_session(publish, args.max_bytes)
    (out / "ffmpeg-publish.bin").write_bytes(small)
    print(f"capture: ffmpeg-publish.bin {len(small)} bytes (of {len(publish)})")
    if player:
        (out / "ffmpeg-play.bin").write_bytes(player)
        print(f"capture: ffmpeg-play.bin {len(player)} bytes")
    return 0
