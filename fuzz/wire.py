"""Building blocks of blind client sessions: handshake flights, chunked messages, the valid prefix of a session.

All bytes come from rtmpspec (schemas, ``chunk_message``/``ChunkWriter``, the command builders). A session is
written blind: C0+C1+C2 in one go (servers accept any C2: RTMP 5.2.4 echo checks are not enforced by nginx-rtmp,
node-media-server or our server), and the stream id of the first ``createStream`` is 1 everywhere.
"""

from __future__ import annotations

import random
import struct

from rtmpspec import handshake as hs
from rtmpspec import messages as m
from rtmpspec.chunkheader import build_header
from rtmpspec.chunkwriter import chunk_message
from rtmpspec.message_format import Message

from .case import Part

__all__ = ["Wire", "LEVELS", "STREAM_ID", "U32_EDGES", "U24_EDGES"]

LEVELS = ("raw", "handshake", "connected", "stream", "publishing", "playing")
STREAM_ID = 1  # what createStream returns first on every server we know
U24_EDGES = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFF, 0xFFFFFE, 0xFFFFFF)
U32_EDGES = (0, 1, 0x7F, 0xFF, 0xFFFF, 0x10000, 0xFFFFFE, 0xFFFFFF, 0x1000000, 0x7FFFFFFF, 0x80000000,
             0xFFFFFFFE, 0xFFFFFFFF)


class Wire:
    def __init__(self, app: str = "live", host: str = "127.0.0.1", port: int = 1935) -> None:
        self.app = app
        self.tc_url = f"rtmp://{host}:{port}/{app}"
        self._connect = self.message(m.connect(app, self.tc_url).to_message())
        self._create = self.message(m.create_stream(2).to_message())

    # -- handshake ---------------------------------------------------------------------------------------
    @staticmethod
    def c1(rng: random.Random, *, digest: bool = False) -> bytes:
        if digest:
            return hs.make_challenge(time=rng.getrandbits(32), version=hs.CLIENT_DIGEST_VERSION,
                                     key=hs.GENUINE_FP_KEY_PARTIAL, scheme=rng.randrange(2), rng=rng)
        return hs.C1.build({"time": 0, "zero": 0, "random": rng.randbytes(hs.RANDOM_SIZE)})

    @staticmethod
    def c2(rng: random.Random) -> bytes:
        return hs.C2.build({"time": 0, "time2": 0, "random_echo": rng.randbytes(hs.RANDOM_SIZE)})

    def handshake(self, rng: random.Random, *, digest: bool | None = None) -> Part:
        if digest is None:
            digest = rng.random() < 0.3
        return Part("handshake C0+C1+C2" + (" (digest)" if digest else ""),
                    hs.C0.build({"version": 3}) + self.c1(rng, digest=digest) + self.c2(rng))

    # -- messages ----------------------------------------------------------------------------------------
    @staticmethod
    def message(msg: Message, chunk_size: int = 128) -> bytes:
        return chunk_message(msg, chunk_size)

    def command(self, cmd: m.Command, chunk_size: int = 128) -> bytes:
        return chunk_message(cmd.to_message(), chunk_size)

    @staticmethod
    def raw_message(type_id: int, payload: bytes, *, ts: int = 0, msid: int = 0, csid: int = 3,
                    chunk_size: int = 128, length: int | None = None) -> bytes:
        """One message as Type 0 + Type 3 chunks; ``length`` overrides the header's messageLength (the payload
        is still cut at ``chunk_size``: a lying length makes the receiver wait for or misread bytes)."""
        n = len(payload) if length is None else length
        ts &= 0xFFFFFFFF
        first = build_header(0, csid, ts, n, type_id & 0xFF, msid & 0xFFFFFFFF)
        cont = build_header(3, csid, type3_extended_value=ts if ts >= 0xFFFFFF else None)
        if len(payload) <= chunk_size:
            return first + payload
        out = [first, payload[:chunk_size]]
        for i in range(chunk_size, len(payload), chunk_size):
            out.append(cont)
            out.append(payload[i:i + chunk_size])
        return b"".join(out)

    @staticmethod
    def set_chunk_size(size: int) -> bytes:
        return build_header(0, 2, 0, 4, 1, 0) + struct.pack(">I", size & 0xFFFFFFFF)

    # -- prefixes ----------------------------------------------------------------------------------------
    def prefix(self, level: str, rng: random.Random, *, key: str = "fuzz", digest: bool | None = None) -> list[Part]:
        """The valid start of a session up to ``level`` (one of :data:`LEVELS`)."""
        if level == "raw":
            return []
        parts = [self.handshake(rng, digest=digest)]
        if level == "handshake":
            return parts
        parts.append(Part("connect", self._connect))
        if level == "connected":
            return parts
        parts.append(Part("createStream", self._create))
        if level == "stream":
            return parts
        if level == "publishing":
            parts.append(Part(f"publish {key}", self.command(m.publish(key, msid=STREAM_ID, transaction_id=3))))
        elif level == "playing":
            parts.append(Part(f"play {key}", self.command(m.play(key, msid=STREAM_ID, transaction_id=3))))
        else:
            raise ValueError(f"unknown level {level!r}")
        return parts

    def connect_part(self) -> Part:
        return Part("connect", self._connect)
