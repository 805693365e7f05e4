"""Load generator for ``bench/fanout.py``: one real-time publisher and N cheap players in one process.

    python bench/fanout_load.py --port PORT --players N --seconds S --warmup W --input in.flv

Prints JSON lines on stdout: ``ready`` (every player got NetStream.Play.Start), ``measure_start``,
``measure_end`` and ``result``; the driver samples the server's CPU between the two ``measure_`` lines.

The players must cost far less than the server they load, so they do not parse what they receive: a walker
steps over chunk headers (RTMP 5.3.1), skips payloads without copying them, and keeps only the newest media
timestamp and the bytes received. Only the few small non-media messages (commands, protocol control) are
collected and decoded, by rtmpspec. :class:`Walker` is the Python reference; ``bench/walker.c`` does the same in
C (compiled and loaded with ctypes when a C compiler is there), so that thousands of players fit on one core.
Reads go into one buffer shared by all players (``asyncio.BufferedProtocol``), so a read allocates nothing, and
once playing a player is woken only when ``--read-batch`` seconds of the stream are queued (SO_RCVLOWAT).
Players use the plain handshake (RTMP 5.2) and acknowledge the server's window (RTMP 5.4.3) as ffmpeg does (after
half of it).

The publisher (4096-byte chunks, as ffmpeg and OBS publish) chunks the FLV's tags with rtmpspec's ChunkWriter
and sends each one when it is due (looping the file, timestamps continuing), so media time = wall time since the
start; a player keeps real time when its newest media timestamp is never more than ``--tolerance`` ms behind the
wall clock during the window. The publisher is stalled when a send is late by more than 0.5 s or its socket queue
ever exceeds 1 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rtmpspec import control  # noqa: E402
from rtmpspec.chunkwriter import ChunkWriter  # noqa: E402
from rtmpspec.message_format import Message  # noqa: E402
from rtmpspec.messages import Command, DataMessage, connect, create_stream, decode_values, play, publish  # noqa: E402

HANDSHAKE = 1 + 1536 + 1536  # S0 S1 S2
_C1 = bytes(8) + os.urandom(1528)  # time 0, zero (plain handshake, RTMP 5.2.3)
_BUF = bytearray(1 << 18)  # every player reads into this one buffer
_VIEW = memoryview(_BUF)
_BUF_ADDR = ctypes.addressof(ctypes.c_char.from_buffer(_BUF))
EXT = 0xFFFFFF


class Walker:
    """Steps over a chunk stream (RTMP 5.3.1) without copying payloads.

    Per chunk stream: [timestamp, delta, length, type id, msid, bytes left of the message, extended timestamp in
    use, collected parts]. Media (types 8, 9) only moves ``last_ts``; other messages are collected and handed to
    ``on_message(type_id, payload, msid)``.
    """

    __slots__ = ("chunk_size", "streams", "carry", "skip", "cur", "last_ts", "on_message")

    def __init__(self, on_message) -> None:
        self.chunk_size = 128
        self.streams: dict[int, list] = {}
        self.carry = b""  # an incomplete header from the previous read
        self.skip = 0  # payload bytes of the current chunk still to come
        self.cur: list = []  # the stream whose chunk is in progress
        self.last_ts = -1
        self.on_message = on_message

    def feed(self, data) -> None:
        if self.carry:
            data = self.carry + bytes(data)
            self.carry = b""
        n = len(data)
        pos = 0
        streams = self.streams
        while True:
            skip = self.skip
            if skip:
                st = self.cur
                take = n - pos if n - pos < skip else skip
                if st[7] is not None:
                    st[7].append(bytes(data[pos:pos + take]))
                pos += take
                self.skip = skip = skip - take
                if skip:
                    return
                if st[5] == 0:
                    self._done(st)
            if pos >= n:
                return
            b0 = data[pos]
            fmt = b0 >> 6
            c = b0 & 0x3F
            bh = 1 if c >= 2 else 2 if c == 0 else 3
            mh = (11, 7, 3, 0)[fmt]
            if n - pos < bh + mh:
                self.carry = bytes(data[pos:])
                return
            csid = c if c >= 2 else 64 + data[pos + 1] + (256 * data[pos + 2] if c == 1 else 0)
            st = streams.get(csid)
            if st is None:
                st = streams[csid] = [0, 0, 0, 0, 0, 0, False, None]
            h = pos + bh
            if fmt < 3:
                tf = (data[h] << 16) | (data[h + 1] << 8) | data[h + 2]
                ext = tf == EXT
            else:
                ext = st[6]
            if ext and n - h < mh + 4:
                self.carry = bytes(data[pos:])
                return
            new = st[5] == 0
            if fmt < 3:
                new = True
                if fmt < 2:
                    st[2] = (data[h + 3] << 16) | (data[h + 4] << 8) | data[h + 5]
                    st[3] = data[h + 6]
                    if fmt == 0:
                        st[4] = int.from_bytes(data[h + 7:h + 11], "little")
                h += mh
                st[6] = ext
                if ext:
                    tf = int.from_bytes(data[h:h + 4], "big")
                    h += 4
                if fmt == 0:
                    st[0] = st[1] = tf
                else:
                    st[1] = tf
                    st[0] = (st[0] + tf) & 0xFFFFFFFF
            else:
                if ext:
                    h += 4
                if new:
                    st[0] = (st[0] + st[1]) & 0xFFFFFFFF
            if new:
                st[5] = st[2]
                st[7] = None if st[3] == 8 or st[3] == 9 else []
            left = st[5]
            size = left if left < self.chunk_size else self.chunk_size
            st[5] = left - size
            pos = h
            self.cur = st
            self.skip = size
            if size == 0:
                self._done(st)

    def _done(self, st: list) -> None:
        if st[7] is None:  # media
            if st[0] > self.last_ts:
                self.last_ts = st[0]
            return
        payload = b"".join(st[7])
        st[7] = None
        if st[3] == control.SET_CHUNK_SIZE and len(payload) == 4:
            self.chunk_size = int.from_bytes(payload, "big") & 0x7FFFFFFF
        self.on_message(st[3], payload, st[4])


def c_walker_library():
    """bench/walker.c compiled (cached by its hash) and loaded, or None when there is no C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    src = Path(__file__).resolve().parent / "walker.c"
    if cc is None or not src.exists():
        return None
    digest = hashlib.sha1(src.read_bytes()).hexdigest()[:12]
    so = Path(tempfile.gettempdir()) / f"rtmp-bench-walker-{digest}.so"
    if not so.exists():
        tmp = so.with_suffix(f".{os.getpid()}.tmp")
        try:
            subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(src)], check=True, timeout=60,
                           capture_output=True)
        except (OSError, subprocess.SubprocessError):
            return None
        tmp.replace(so)
    lib = ctypes.CDLL(str(so))
    lib.walker_size.restype = ctypes.c_uint32
    lib.walk.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32)]
    lib.walker_last_ts.restype = ctypes.c_int64
    lib.walker_last_ts.argtypes = [ctypes.c_void_p]
    lib.walker_msg.restype = ctypes.c_uint32
    lib.walker_msg.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32),
                               ctypes.POINTER(ctypes.c_void_p)]
    return lib


class CWalker:
    """:class:`Walker` in C (bench/walker.c): same ``feed`` / ``last_ts`` / ``on_message``; big data messages
    (over 8 KiB) are skipped instead of handed over."""

    lib = None
    __slots__ = ("state", "on_message", "_used", "_type", "_sid", "_data")

    def __init__(self, on_message) -> None:
        lib = CWalker.lib
        self.state = ctypes.create_string_buffer(lib.walker_size())
        lib.walker_init(self.state)
        self.on_message = on_message
        self._used, self._type, self._sid, self._data = (ctypes.c_uint32(), ctypes.c_uint32(), ctypes.c_uint32(),
                                                         ctypes.c_void_p())

    @property
    def last_ts(self) -> int:
        return CWalker.lib.walker_last_ts(self.state)

    def feed(self, data) -> None:
        """``data``: bytes, or a view of the shared read buffer from its start (no copy)."""
        keep = None
        if isinstance(data, memoryview) and data.obj is _BUF:
            addr, n = _BUF_ADDR, len(data)
        else:
            keep = ctypes.create_string_buffer(bytes(data), len(data))
            addr, n = ctypes.addressof(keep), len(data)
        lib = CWalker.lib
        while True:
            r = lib.walk(self.state, addr, n, ctypes.byref(self._used))
            if r == 0:
                return
            if r < 0:
                raise ValueError("chunk stream the C walker does not hold")
            length = lib.walker_msg(self.state, ctypes.byref(self._type), ctypes.byref(self._sid),
                                    ctypes.byref(self._data))
            self.on_message(self._type.value, ctypes.string_at(self._data.value, length), self._sid.value)
            used = self._used.value
            addr, n = addr + used, n - used


class Client(asyncio.BufferedProtocol):
    """Plain handshake, then connect / createStream and play or publish; media is only walked over."""

    def __init__(self, app: str, url: str) -> None:
        self.app, self.url = app, url
        self.transport = None
        self.hs = bytearray()
        self.walker = (CWalker if CWalker.lib is not None else Walker)(self.on_message)
        self.writer = ChunkWriter()
        self.bytes_in = 0
        self.window = 0
        self.acked = 0
        self.waiters: dict[float, asyncio.Future] = {}
        self.status: asyncio.Future = asyncio.get_running_loop().create_future()
        self.ready = asyncio.get_running_loop().create_future()
        self.closed = False

    # -- asyncio ----------------------------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(b"\x03" + _C1)

    def get_buffer(self, sizehint: int):
        return _VIEW

    def buffer_updated(self, nbytes: int) -> None:
        self.bytes_in += nbytes
        if self.hs is not None:
            self.hs += _VIEW[:nbytes]
            if len(self.hs) < HANDSHAKE:
                return
            rest = bytes(self.hs[HANDSHAKE:])
            self.transport.write(bytes(self.hs[1:1537]))  # C2 echoes S1
            self.hs = None
            self.ready.set_result(None)
            if rest:
                self.walker.feed(rest)
        else:
            self.walker.feed(_VIEW[:nbytes])
        # ffmpeg acknowledges after half the window (rtmpproto.c handle_window_ack_size: "to make sure the peer can
        # keep on sending without waiting for acknowledgements"); a player that waited for the whole window would
        # stall a server that keeps its output within it (RTMP 5.4.4) for a round trip, or for good while fewer
        # than its SO_RCVLOWAT bytes are queued
        if self.window and self.bytes_in - self.acked >= self.window // 2:
            self.acked = self.bytes_in
            self.send(Message(control.ACKNOWLEDGEMENT, (self.bytes_in & 0xFFFFFFFF).to_bytes(4, "big"), 0, 0, 2))

    def connection_lost(self, exc) -> None:
        self.closed = True
        for f in (self.ready, self.status, *self.waiters.values()):
            if not f.done():
                f.set_exception(ConnectionError(f"connection lost: {exc}"))

    # -- messages -----------------------------------------------------------------------------------------------
    def on_message(self, type_id: int, payload: bytes, msid: int) -> None:
        if type_id == control.WINDOW_ACK_SIZE and len(payload) == 4:
            self.window = int.from_bytes(payload, "big")
        elif type_id == control.USER_CONTROL and payload[:2] == b"\x00\x06":  # PingRequest -> PingResponse
            self.send(Message(control.USER_CONTROL, b"\x00\x07" + payload[2:6], 0, 0, 2))
        elif type_id == 20:
            cmd = Command.from_message(Message(type_id, payload, 0, msid, 3))
            f = self.waiters.pop(cmd.transaction_id, None)
            if f is not None and not f.done():
                f.set_result(cmd)
            elif cmd.name == "onStatus" and not self.status.done():
                self.status.set_result(cmd.code)

    def send(self, msg) -> None:
        if not self.closed:
            self.transport.write(self.writer.write(msg if isinstance(msg, Message) else msg.to_message()))

    async def call(self, cmd: Command, timeout: float) -> Command:
        f = self.waiters[cmd.transaction_id] = asyncio.get_running_loop().create_future()
        self.send(cmd)
        return await asyncio.wait_for(f, timeout)

    def batch_reads(self, lowat: int) -> None:
        """Ask to be woken only once ``lowat`` bytes are queued (SO_RCVLOWAT): fewer, larger reads."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None and lowat > 1:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, lowat)
            except OSError:
                pass

    async def open_stream(self, timeout: float) -> int:
        await asyncio.wait_for(asyncio.shield(self.ready), timeout)
        res = await self.call(connect(self.app, self.url), timeout)
        if res.name != "_result":
            raise ConnectionError(f"connect answered {res.name}")
        res = await self.call(create_stream(2), timeout)
        return int(res.args[0])


async def open_client(host: str, port: int, app: str, timeout: float) -> Client:
    loop = asyncio.get_running_loop()
    _, c = await asyncio.wait_for(loop.create_connection(lambda: Client(app, f"rtmp://{host}:{port}/{app}"),
                                                         host, port), timeout)
    return c


def load_tags(path: str) -> tuple[list, list]:
    from rtmpspec.flv import FLVReader

    reader = FLVReader()
    reader.receive_data(Path(path).read_bytes())
    reader.receive_data(b"")
    tags = [t for t in reader.events() if getattr(t, "tag_type", None) in (8, 9, 18)]
    return [t for t in tags if t.tag_type in (8, 9)], [t for t in tags if t.tag_type == 18][:1]


async def main(args) -> None:
    media, meta = load_tags(args.input)
    t0 = media[0].timestamp
    span = media[-1].timestamp - t0 + 40
    rate = sum(len(t.data) for t in media) * 8 / (span / 1000)
    loop = asyncio.get_running_loop()

    def out(**kw) -> None:
        print(json.dumps(kw), flush=True)

    host, port, n = "127.0.0.1", args.port, args.players
    pub = await open_client(host, port, "live", 10)
    msid = await pub.open_stream(10)
    # like ffmpeg and OBS, publish with 4096-byte chunks (Set Chunk Size, RTMP 5.4.1)
    pub.send(Message(control.SET_CHUNK_SIZE, (4096).to_bytes(4, "big"), 0, 0, 2))
    pub.writer.set_chunk_size(4096)
    pub.send(publish("bench", msid=msid))
    code = await asyncio.wait_for(asyncio.shield(pub.status), 10)
    if code != "NetStream.Publish.Start":
        raise SystemExit(f"publish answered {code}")
    state = {"base": loop.time(), "late": 0.0, "queue": 0, "stop": False}

    async def publish_loop() -> None:
        if meta:
            pub.send(DataMessage(("@setDataFrame", *decode_values(18, meta[0].data)), msid))
        base = state["base"] = loop.time()
        i = rnd = 0
        writer = pub.writer
        while not state["stop"]:
            due = base + (media[i].timestamp - t0 + rnd * span) / 1000
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
                now = loop.time()
            elif now - due > state["late"]:
                state["late"] = now - due
            batch = []
            while base + (media[i].timestamp - t0 + rnd * span) / 1000 <= now + 0.001:
                t = media[i]
                batch.append(writer.write(Message(t.tag_type, t.data, t.timestamp - t0 + rnd * span, msid,
                                                  4 if t.tag_type == 8 else 6)))
                i += 1
                if i == len(media):
                    i, rnd = 0, rnd + 1
            pub.transport.write(b"".join(batch))
            q = pub.transport.get_write_buffer_size()
            if q > state["queue"]:
                state["queue"] = q

    ptask = loop.create_task(publish_loop())
    sem = asyncio.Semaphore(args.concurrency)
    lowat = min(1 << 16, int(rate / 8 * args.read_batch))  # bytes of the stream in --read-batch seconds

    async def start_player() -> Client:
        async with sem:
            c = await open_client(host, port, "live", 30)
            sid = await c.open_stream(30)
            c.send(play("bench", msid=sid))
            code = await asyncio.wait_for(asyncio.shield(c.status), 30)
            if code not in ("NetStream.Play.Start", "NetStream.Play.Reset"):
                raise SystemExit(f"play answered {code}")
            c.batch_reads(lowat)
            return c

    players = await asyncio.gather(*(start_player() for _ in range(n)))
    gc.collect()
    gc.freeze()
    gc.disable()  # thousands of players: no collector pauses in the measured window (it allocates little)
    out(event="ready", players=n)
    await asyncio.sleep(args.warmup)
    state["late"] = 0.0
    state["queue"] = 0
    b0 = [p.bytes_in for p in players]
    out(event="measure_start", rate_bps=rate)
    start = loop.time()
    max_lag = [0.0] * n
    loop_lag = 0.0
    walkers = [p.walker for p in players]
    base = state["base"]
    while True:
        before = loop.time()
        await asyncio.sleep(0.25)
        now = loop.time()
        loop_lag = max(loop_lag, now - before - 0.25)
        wall_ms = (now - base) * 1000
        for i, w in enumerate(walkers):
            lag = wall_ms - w.last_ts if w.last_ts >= 0 else wall_ms
            if lag > max_lag[i]:
                max_lag[i] = lag
        if now - start >= args.seconds:
            break
    elapsed = loop.time() - start
    b1 = [p.bytes_in for p in players]
    out(event="measure_end", elapsed=elapsed)
    state["stop"] = True
    ptask.cancel()
    delivered = [b - a for a, b in zip(b0, b1, strict=True)]
    out(event="result", players=n, elapsed=elapsed, rate_bps=rate, bytes_per_player=sum(delivered) / n,
        min_bytes=min(delivered), realtime=sum(1 for x in max_lag if x <= args.tolerance),
        max_lag_ms=max(max_lag), closed=sum(1 for p in players if p.closed), publisher_late_s=state["late"],
        publisher_queue=state["queue"], publisher_stalled=state["late"] > 0.5 or state["queue"] > 1 << 20,
        loadgen_loop_lag_s=loop_lag, walker="c" if CWalker.lib is not None else "python", read_lowat=lowat)
    for p in players + [pub]:
        p.transport.close()
    await asyncio.sleep(0.2)


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--players", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--warmup", type=float, default=4)
    ap.add_argument("--tolerance", type=float, default=1000)
    ap.add_argument("--concurrency", type=int, default=50, help="players connecting at once")
    ap.add_argument("--read-batch", type=float, default=0.04,
                    help="a player is woken when this many seconds of the stream are queued (SO_RCVLOWAT; 0: each byte)")
    ap.add_argument("--python-walker", action="store_true", help="walk chunk headers in Python even with a C compiler")
    ap.add_argument("--input", required=True)
    args = ap.parse_args(argv)
    if not args.python_walker:
        CWalker.lib = c_walker_library()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args))
    else:
        uvloop.run(main(args))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
