"""FuzzCase generators, one per layer. Structured values come from the schemas through :mod:`fuzz.draw`.

=============  ==============================================================================================
generator      what it sends
=============  ==============================================================================================
handshake      C0/C1/C2 drawn from the handshake schemas (any version, digest or not), truncated, repeated,
               missing C2, followed by junk
chunk          chunk headers drawn from ``chunk.header`` (fmt, csid forms, timestamp / length edges, extended
               timestamps) with payloads shorter, longer or exactly as announced
chunk_edges    Set Chunk Size edges, many chunk streams with huge partial messages, Abort mid-message, Type 3
               continuations with and without extended timestamps, zero-length messages
control        protocol control and user control messages drawn from the ``control.*`` schemas, on the right
               or wrong chunk stream / message stream / type
amf            command and data messages whose AMF0 values are schema draws (``amf0.value``, ``amf3.value``
               behind 0x11) or hostile (deep nesting, lying lengths, bad markers), also inside ``connect``
command        known commands with arguments of the wrong type, edge numbers and stream ids
media          audio / video tags drawn from ``media.audio_tag`` / ``media.video_tag``, aggregates, metadata,
               timestamp edges, while a second connection plays the stream (relay path)
session        the session state machine (:mod:`fuzz.session`): steps out of order, repeated, missing
mutate         field-aware / byte-level mutations and splices of recorded sessions (ffmpeg captures)
=============  ==============================================================================================
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Callable

from rtmpspec import amf0, craft
from rtmpspec import messages as m
from rtmpspec.chunkheader import build_header
from rtmpspec.chunkwriter import ChunkWriter
from rtmpspec.craft import STREAM_ID
from rtmpspec.message_format import Message, MessageType

from . import hostile
from .case import Conn, FuzzCase, Part, connect, handshake, prefix
from .corpus import Corpus
from .draw import DrawBudget, Drawer, DrawFailed, FieldCounter, Pool, source
from .mutators import mutate_bytes, mutate_fields, splice
from .session import DEFAULT_MEDIA, build, sessions

# edge values of unsigned 24- and 32-bit header fields (timestamps, lengths)
U24_EDGES = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFF, 0xFFFFFE, 0xFFFFFF)
U32_EDGES = (0, 1, 0x7F, 0xFF, 0xFFFF, 0x10000, 0xFFFFFE, 0xFFFFFF, 0x1000000, 0x7FFFFFFF, 0x80000000,
             0xFFFFFFFE, 0xFFFFFFFF)

__all__ = ["Generator", "DEFAULT_WEIGHTS", "GENERATORS"]

DEFAULT_WEIGHTS = {"handshake": 7, "chunk": 12, "chunk_edges": 8, "control": 10, "amf": 16, "command": 8,
                   "media": 12, "session": 14, "mutate": 13}
GENERATORS = tuple(DEFAULT_WEIGHTS)
POOLS = ("handshake.c0", "handshake.c1", "handshake.c2", "chunk.header", "chunk.header_type3_extended",
         "control.set_chunk_size", "control.abort", "control.acknowledgement", "control.window_ack_size",
         "control.set_peer_bandwidth", "control.user_control", "amf0.value", "amf3.value", "media.audio_tag",
         "media.video_tag", "messages.aggregate")
CONTROL_TYPES = {"control.set_chunk_size": 1, "control.abort": 2, "control.acknowledgement": 3,
                 "control.user_control": 4, "control.window_ack_size": 5, "control.set_peer_bandwidth": 6}
COMMAND_NAMES = ("connect", "createStream", "publish", "play", "play2", "deleteStream", "closeStream",
                 "releaseStream", "FCPublish", "FCUnpublish", "FCSubscribe", "getStreamLength", "receiveAudio",
                 "receiveVideo", "pause", "seek", "call", "close", "_result", "_error", "onStatus", "_checkbw",
                 "@setDataFrame", "onMetaData", "@clearDataFrame", "", "x" * 70000)


def _amf_str(s: str) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    if len(b) > 0xFFFF:
        return b"\x0c" + struct.pack(">I", len(b)) + b
    return b"\x02" + struct.pack(">H", len(b)) + b


def _amf_num(x: float) -> bytes:
    return b"\x00" + struct.pack(">d", x)


class Generator:
    """Makes the campaign's cases; deterministic for a given seed and call order."""

    def __init__(self, seed: int, *, app: str = "live", corpus: Corpus | None = None, corpus_dir=None,
                 weights: dict[str, float] | None = None, fields: FieldCounter | None = None,
                 fresh: float = 0.25, draw_budget: float | None = 0.1, shared_key_rate: float = 0.15) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.drawer = Drawer(self.rng)
        self.app = app
        self.fields = fields if fields is not None else FieldCounter()
        self.corpus = corpus if corpus is not None else Corpus(corpus_dir, app, self.rng)
        self.pools: dict[str, Pool] = {}
        self.budget = DrawBudget(draw_budget)
        for name in POOLS:
            src = source(name)
            if src is not None:
                self.pools[name] = Pool(src, self.drawer, self.fields, fresh=fresh, budget=self.budget)
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self._names = [n for n in GENERATORS if self.weights.get(n, 0) > 0]
        self._cum = []
        total = 0.0
        for n in self._names:
            total += self.weights[n]
            self._cum.append(total)
        self._total = total
        self.session_strategy = sessions(max_steps=14)
        self._sessions: list = []
        self.shared_key_rate = shared_key_rate
        self.counts: dict[str, int] = {n: 0 for n in GENERATORS}
        self.errors: dict[str, int] = {}
        self._fns: dict[str, Callable[[int], FuzzCase]] = {n: getattr(self, f"gen_{n}") for n in GENERATORS}

    # -- plumbing ----------------------------------------------------------------------------------------
    def pick_kind(self) -> str:
        x = self.rng.random() * self._total
        for n, c in zip(self._names, self._cum, strict=True):
            if x < c:
                return n
        return self._names[-1]

    def case(self, index: int, kind: str | None = None) -> FuzzCase:
        kind = kind or self.pick_kind()
        for _ in range(5):
            try:
                c = self._fns[kind](index)
            except DrawFailed:
                self.errors[kind] = self.errors.get(kind, 0) + 1
                kind = self.pick_kind()
                continue
            c.index = index
            c.kind = c.kind or kind
            self.counts[kind] = self.counts.get(kind, 0) + 1
            return c
        raise RuntimeError("generators keep failing to draw values")

    def pool(self, name: str) -> bytes:
        p = self.pools.get(name)
        if p is None:
            raise DrawFailed(f"no schema {name}")
        return p.get_bytes(self.rng)

    def key(self, index: int) -> str:
        return "fuzz" if self.rng.random() < self.shared_key_rate else f"fz{self.seed}-{index}"

    def _mark(self, *names: str) -> None:
        self.fields.add_names(f"gen:{n}" for n in names)

    def amf_value(self) -> tuple[str, bytes]:
        """One AMF0 value: a schema draw (AMF0, or AMF3 behind the 0x11 switch) or a hostile one."""
        r = self.rng.random()
        if r < 0.55:
            return "amf0 draw", self.pool("amf0.value")
        if r < 0.7 and "amf3.value" in self.pools:
            return "amf3 draw", b"\x11" + self.pool("amf3.value")
        label, data = hostile.hostile_amf0(self.rng)
        self._mark(label.split(" ")[0] + " " + label.split(" ")[1])
        return label, data

    # -- handshake -----------------------------------------------------------------------------------------
    def gen_handshake(self, index: int) -> FuzzCase:
        rng = self.rng
        v = rng.random()
        c0 = self.pool("handshake.c0") if v < 0.3 else b"\x03"
        if rng.random() < 0.3:
            c1 = craft.c1_random_digest(rng)
            if rng.random() < 0.5:  # a digest whose bytes are then damaged
                c1, _ = mutate_bytes(rng, c1, rounds=1)
        else:
            c1 = self.pool("handshake.c1")
        c2 = self.pool("handshake.c2")
        variant = rng.choice(("full", "full", "truncated", "no-c2", "twice", "junk-after", "c0-only", "c1-short"))
        parts = [Part(f"C0 version {c0[0]}", c0), Part("C1", c1)]
        if variant == "truncated":
            cut = rng.choice((1, 8, 100, 1535, 1536 + 7, 1536 + 1535))
            data = (c0 + c1 + c2)[:cut]
            parts = [Part(f"handshake truncated at {cut}", data)]
        elif variant == "no-c2":
            parts.append(connect(self.app))
        elif variant == "twice":
            parts += [Part("C2", c2), Part("C0+C1+C2 again", c0 + c1 + c2)]
        elif variant == "junk-after":
            parts += [Part("C2", c2), Part("junk", rng.randbytes(rng.choice((1, 11, 100, 70000))))]
        elif variant == "c0-only":
            parts = [Part(f"C0 version {c0[0]}", c0)]
        elif variant == "c1-short":
            parts = [Part(f"C0 version {c0[0]}", c0), Part("C1 short", c1[:rng.randrange(1536)])]
        else:
            parts.append(Part("C2", c2))
            if rng.random() < 0.5:
                parts.append(connect(self.app))
        self._mark(f"handshake:{variant}")
        return FuzzCase("handshake", [Conn(parts, half_close=rng.random() < 0.9)], note=variant)

    # -- chunk layer ---------------------------------------------------------------------------------------
    def gen_chunk(self, index: int) -> FuzzCase:
        rng = self.rng
        level = rng.choice(("handshake", "connected", "connected", "stream"))
        parts = prefix(level, rng, app=self.app)
        payloads = (m.create_stream(7).to_message().payload, DEFAULT_MEDIA["video"][1], b"\x00\x00\x10\x00")
        for _ in range(rng.randint(1, 6)):
            ext = rng.random() < 0.15
            header = self.pool("chunk.header_type3_extended" if ext else "chunk.header")
            fmt = header[0] >> 6
            length = None
            if fmt in (0, 1):
                low = header[0] & 0x3F
                bh = 1 if low >= 2 else 2 if low == 0 else 3
                length = int.from_bytes(header[bh + 3:bh + 6], "big")
            base = rng.choice(payloads)
            choice = rng.random()
            if length is not None and choice < 0.5:
                n = min(length, 128)
            elif choice < 0.7:
                n = rng.choice((0, 1, 127, 128, 129))
            else:
                n = rng.randrange(300)
            payload = (base * (n // max(len(base), 1) + 1))[:n] if rng.random() < 0.6 else rng.randbytes(n)
            parts.append(Part(f"chunk fmt{fmt}{' ext3' if ext else ''} +{n}B", header + payload))
        if rng.random() < 0.5:
            parts.append(Part("createStream", craft.command(m.create_stream(9))))
        return FuzzCase("chunk", [Conn(parts)], note=f"after {level}")

    def gen_chunk_edges(self, index: int) -> FuzzCase:
        rng = self.rng
        parts = prefix(rng.choice(("handshake", "connected", "connected", "publishing")), rng, app=self.app,
                       key=self.key(index))
        variant = rng.choice(("chunk_size", "many_csids", "huge_length", "abort", "type3_ext", "first_not_type0",
                              "csid_forms", "zero_length", "interleave", "ts_wrap"))
        self._mark(f"chunk_edges:{variant}")
        cmd = m.create_stream(5).to_message()
        if variant == "chunk_size":
            size = rng.choice((1, 2, 3, 64, 127, 129, 4096, 65536, 0xFFFFFF, 0x1000000, 0x7FFFFFFF, 0x80000000,
                               0xFFFFFFFF, 0))
            parts.append(Part(f"Set Chunk Size {size}", craft.set_chunk_size(size)))
            use = size if 1 <= size <= 65536 else rng.choice((128, 4096))
            parts.append(Part(f"createStream chunked at {use}", craft.raw(cmd, use)))
            if rng.random() < 0.5:
                big = Message(20, m.encode_values(20, ["call", 0.0, None, "y" * rng.choice((200, 5000, 70000))]))
                parts.append(Part(f"big command chunked at {use}", craft.raw(big, use)))
        elif variant == "many_csids":
            n = rng.choice((10, 62, 63, 64, 65, 100, 300, 1000))
            length = rng.choice((0xFFFFFF, 0x100000, 1000))
            data = b"".join(build_header(0, 3 + i, 0, length, 9, 1) + b"\x00" * 64 for i in range(n))
            parts.append(Part(f"{n} chunk streams with partial {length}-byte messages", data))
        elif variant == "huge_length":
            length = rng.choice((0xFFFFFF, 0x100000, 0x100001, 1 << 20))
            send = rng.choice((0, 128, 4096, 65536, 300000))
            size = rng.choice((128, 4096, 65536))
            data = craft.set_chunk_size(size) if size != 128 else b""
            data += craft.message(6, rng.choice((8, 9, 18, 20)), bytes(send), msid=1, chunk_size=size,
                                  length=length)
            parts.append(Part(f"message length {length}, {send} bytes sent (chunk size {size})", data))
        elif variant == "abort":
            partial = build_header(0, 3, 0, 300, 20, 0) + cmd.payload[:20] + b"\x00" * 108
            parts.append(Part("partial message on csid 3", partial))
            target = rng.choice((3, 3, 4, 0, 0xFFFFFFFF, 65599))
            parts.append(Part(f"Abort csid {target}", craft.message(2, MessageType.ABORT,
                                                                      craft.control_payload(MessageType.ABORT, target))))
            parts.append(Part("Type 3 continuation after Abort", build_header(3, 3) + bytes(128)))
            parts.append(Part("createStream", craft.raw(cmd)))
        elif variant == "type3_ext":
            ts = rng.choice((0xFFFFFF, 0x1000000, 0xFFFFFFFF))
            big = Message(20, m.encode_values(20, ["call", 0.0, None, "z" * 400]), ts, 0, 3)
            data = bytearray(craft.raw(big))
            if rng.random() < 0.5:  # drop the extended timestamp from the continuation chunks (nginx style)
                data = data.replace(build_header(3, 3, type3_extended_value=ts), build_header(3, 3))
            else:  # a different extended value on continuation chunks
                data = data.replace(build_header(3, 3, type3_extended_value=ts),
                                    build_header(3, 3, type3_extended_value=(ts + 1) & 0xFFFFFFFF), 1)
            parts.append(Part(f"extended timestamp {ts} with inconsistent Type 3 chunks", bytes(data)))
        elif variant == "first_not_type0":
            fmt = rng.choice((1, 2, 3))
            csid = rng.choice((5, 10, 64, 320))
            parts.append(Part(f"first chunk on csid {csid} has fmt {fmt}",
                              build_header(fmt, csid, 40, len(cmd.payload), 20, 0) + cmd.payload))
        elif variant == "csid_forms":
            csid = rng.choice((2, 63, 64, 319, 320, 65599))
            parts.append(Part(f"createStream on csid {csid}", craft.raw(Message(20, cmd.payload, 0, 0, csid))))
            parts.append(Part(f"Type 1 on csid {csid}", build_header(1, csid, 1, len(cmd.payload), 20) + cmd.payload))
            if csid > 63 and rng.random() < 0.5:  # the same csid in a longer basic header form
                parts.append(Part(f"csid {csid} in 3-byte form", craft.header(2, csid, form=3, timestamp=1)))
        elif variant == "zero_length":
            t = rng.choice((1, 3, 4, 5, 6, 8, 9, 15, 17, 18, 20, 22))
            parts.append(Part(f"zero-length message type {t}", build_header(0, 3, 0, 0, t, rng.choice((0, 1)))))
            parts.append(Part("createStream", craft.raw(cmd)))
        elif variant == "interleave":
            a = Message(20, m.encode_values(20, ["call", 0.0, None, "a" * 300]), 0, 0, 3)
            b = Message(20, m.encode_values(20, ["call", 0.0, None, "b" * 300]), 0, 0, 4)
            ca, cb = craft.raw(a), craft.raw(b)
            # interleave chunks of both messages; sometimes with a Type 0 restarting csid 3 midway
            mid = ca[:140] + cb[:140] + (build_header(0, 3, 5, 10, 20, 0) + b"\x02\x00\x04call\x00\x00\x00"
                                         if rng.random() < 0.5 else b"") + ca[140:] + cb[140:]
            parts.append(Part("interleaved messages on csid 3 and 4", mid))
        else:  # ts_wrap
            ts0 = rng.choice(U32_EDGES)
            data = b""
            for k in range(rng.randint(2, 6)):
                delta = rng.choice(U24_EDGES + (0xFFFFFFFF,))
                if k == 0:
                    data += build_header(0, 6, ts0, 6, 9, 1) + b"\x17\x01\x00\x00\x00\x00"
                else:
                    data += build_header(rng.choice((1, 2)), 6, delta, 6, 9) + b"\x27\x01\x00\x00\x00\x00"
            parts.append(Part(f"timestamps wrapping from {ts0}", data))
        return FuzzCase("chunk_edges", [Conn(parts)], note=variant)

    # -- control -------------------------------------------------------------------------------------------
    def gen_control(self, index: int) -> FuzzCase:
        rng = self.rng
        level = rng.choice(("handshake", "connected", "connected", "stream", "publishing", "playing"))
        parts = prefix(level, rng, app=self.app, key=self.key(index))
        names = [n for n in CONTROL_TYPES if n in self.pools]
        chunk_size = 128
        for _ in range(rng.randint(1, 5)):
            name = rng.choice(names)
            payload = self.pool(name)
            t = CONTROL_TYPES[name]
            csid, msid = 2, 0
            r = rng.random()
            if r < 0.15:
                t = rng.choice((1, 2, 3, 4, 5, 6, 7, 0))
            elif r < 0.25:
                csid = rng.choice((3, 64, 65599))
            elif r < 0.35:
                msid = rng.choice((1, 0xFFFFFFFF))
            elif r < 0.45:
                payload = payload[:rng.randrange(len(payload) + 1)] + rng.randbytes(rng.choice((0, 0, 1, 3)))
            data = craft.message(csid, t, payload, msid=msid, chunk_size=chunk_size)
            if t == 1 and msid == 0 and len(payload) == 4:
                v = int.from_bytes(payload, "big")
                if 1 <= v <= 65536:
                    chunk_size = v
            parts.append(Part(f"{name} (type {t}, csid {csid}, msid {msid}) {payload[:12].hex()}", data))
        follow = rng.choice(("createStream", "media", "none"))
        if follow == "createStream":
            parts.append(Part(f"createStream at chunk size {chunk_size}",
                              craft.raw(m.create_stream(11).to_message(), chunk_size)))
        elif follow == "media":
            parts.append(Part(f"video at chunk size {chunk_size}", craft.raw(
                Message(9, DEFAULT_MEDIA["video"][0] + bytes(200), 0, STREAM_ID, 6), chunk_size)))
        return FuzzCase("control", [Conn(parts)], note=f"after {level}")

    # -- AMF -------------------------------------------------------------------------------------------------
    def gen_amf(self, index: int) -> FuzzCase:
        rng = self.rng
        in_connect = rng.random() < 0.35
        level = "handshake" if in_connect else rng.choice(("connected", "stream", "publishing"))
        key = self.key(index)
        parts = prefix(level, rng, app=self.app, key=key)
        labels = []
        if in_connect:
            body = _amf_str("connect") + _amf_num(1.0)
            if rng.random() < 0.5:  # the command object itself
                label, v = self.amf_value()
                labels.append(f"command object: {label}")
                body += v
            else:  # a valid command object, then hostile / drawn optional arguments
                body += amf0.encode({"app": self.app, "type": "nonprivate", "tcUrl": craft.tc_url(self.app)})
                for _ in range(rng.randint(1, 3)):
                    label, v = self.amf_value()
                    labels.append(label)
                    body += v
            type_id = 20
        else:
            name = rng.choice(COMMAND_NAMES) if rng.random() < 0.8 else rng.choice(("", "\x00", "\udcff"))
            type_id = rng.choice((20, 20, 20, 17, 18, 18, 15))
            body = b""
            if type_id in (17, 15):
                body += rng.choice((b"\x00", b"\x00", b"\x01", b""))
            if rng.random() < 0.9:
                body += _amf_str(name)
            if type_id in (17, 20) and rng.random() < 0.9:
                body += _amf_num(rng.choice((0.0, 1.0, 2.0, -1.0, float("nan"), float("inf"), 1e308)))
            for _ in range(rng.randint(1, 4)):
                label, v = self.amf_value()
                labels.append(label)
                body += v
            labels.insert(0, f"{name[:20]!r}")
        msid = STREAM_ID if level == "publishing" and type_id in (18, 15) else 0
        size = 128
        data = b""
        if len(body) > 20000 and rng.random() < 0.7:
            size = 65536
            data += craft.set_chunk_size(size)
        data += craft.message(rng.choice((3, 3, 5, 8)), type_id, body, msid=msid, chunk_size=size)
        parts.append(Part(f"type {type_id} [{len(body)}B]: " + "; ".join(labels), data))
        if rng.random() < 0.4:
            parts.append(Part("createStream", craft.command(m.create_stream(20))))
        conns = [Conn(parts)]
        if level == "publishing" and type_id in (15, 18) and rng.random() < 0.4:  # relayed to a player
            conns = [Conn(prefix("playing", rng, app=self.app, key=key), half_close=False),
                     Conn(parts, start_delay=0.03)]
        return FuzzCase("amf", conns, note=("in connect; " if in_connect else "") + "; ".join(labels)[:200])

    def gen_command(self, index: int) -> FuzzCase:
        rng = self.rng
        level = rng.choice(("connected", "stream", "stream", "publishing", "playing"))
        key = self.key(index)
        parts = prefix(level, rng, app=self.app, key=key)

        def arg():
            r = rng.random()
            if r < 0.4:
                return self.pool("amf0.value")
            if r < 0.6:
                return rng.choice((_amf_num(float("nan")), _amf_num(-1.0), _amf_num(1e300), _amf_num(2.0**32),
                                   b"\x05", b"\x06", b"\x01\x01", _amf_str(""), _amf_str("x" * 70000),
                                   b"\x03\x00\x00\x09", b"\x0a\x00\x00\x00\x00", b"\x08\x00\x00\x00\x00\x00\x00\x09"))
            if r < 0.8:
                return _amf_str(rng.choice((key, "fuzz", "", "live", "\x00", "a/b", "../x")))
            return hostile.hostile_amf0(rng)[1]

        for _ in range(rng.randint(1, 3)):
            name = rng.choice(COMMAND_NAMES[:20])
            nargs = rng.randint(0, 5)
            tid = rng.choice((0.0, 1.0, 7.0, float("nan"), -0.0, 1e300))
            body = _amf_str(name) + _amf_num(tid) + (b"\x05" if rng.random() < 0.7 else arg())
            body += b"".join(arg() for _ in range(nargs))
            msid = rng.choice((0, STREAM_ID, STREAM_ID, 2, 0xFFFFFFFF, 0x01000000))
            size = 65536 if len(body) > 20000 else 128
            data = (craft.set_chunk_size(size) if size != 128 else b"") + \
                craft.message(3, 20, body, msid=msid, chunk_size=size)
            parts.append(Part(f"{name} tid={tid} msid={msid} {nargs} args [{len(body)}B]", data))
        return FuzzCase("command", [Conn(parts)], note=f"after {level}")

    # -- media ---------------------------------------------------------------------------------------------
    def media_payload(self, kind: str, choice: int = 0) -> bytes:
        rng = self.rng
        r = rng.random()
        if kind == "video":
            if r < 0.7:
                return self.pool("media.video_tag")
            if r < 0.85:
                return mutate_bytes(rng, rng.choice(DEFAULT_MEDIA["video"]))[0]
            return rng.choice(DEFAULT_MEDIA["video"])
        if kind == "audio":
            if r < 0.7:
                return self.pool("media.audio_tag")
            if r < 0.85:
                return mutate_bytes(rng, rng.choice(DEFAULT_MEDIA["audio"]))[0]
            return rng.choice(DEFAULT_MEDIA["audio"])
        if kind == "data":
            head = _amf_str("@setDataFrame") if r < 0.7 else b""
            label, v = self.amf_value() if rng.random() < 0.5 else ("", self.pool("amf0.value"))
            return head + _amf_str(rng.choice(("onMetaData", "onTextData", "onCuePoint", ""))) + v
        # aggregate
        if r < 0.5 and "messages.aggregate" in self.pools:
            return self.pool("messages.aggregate")
        subs = []
        for _ in range(rng.randint(1, 4)):
            t = rng.choice((8, 9, 18, 22, 20, 1))
            p = rng.choice(DEFAULT_MEDIA["video"] + DEFAULT_MEDIA["audio"])
            size = rng.choice((len(p), len(p), 0, 0xFFFFFF, len(p) + 1))
            back = rng.choice((11 + len(p), 11 + len(p), 0, 0xFFFFFFFF))
            subs.append(bytes([t]) + size.to_bytes(3, "big") + rng.choice((b"\x00\x00\x00\x00", b"\xff\xff\xff\xff"))
                        + b"\x00\x00\x00" + p + back.to_bytes(4, "big"))
        return b"".join(subs)

    def gen_media(self, index: int) -> FuzzCase:
        rng = self.rng
        key = self.key(index)
        with_player = rng.random() < 0.4
        pub_parts = prefix("publishing", rng, app=self.app, key=key)
        w = ChunkWriter()
        ts = 0
        msid = STREAM_ID if rng.random() < 0.9 else rng.choice((0, 2))
        if rng.random() < 0.6:  # valid sequence headers first: servers cache them for late players
            pub_parts.append(Part("AVC sequence header", w.write(Message(9, DEFAULT_MEDIA["video"][0], 0, msid, 6))))
            pub_parts.append(Part("AAC sequence header", w.write(Message(8, DEFAULT_MEDIA["audio"][0], 0, msid, 4))))
        for _ in range(rng.randint(1, 10)):
            kind = rng.choice(("video", "video", "video", "audio", "audio", "data", "aggregate"))
            payload = self.media_payload(kind)
            step = rng.random()
            if step < 0.8:
                ts = (ts + rng.choice((0, 20, 40, 40, 1000))) & 0xFFFFFFFF
            else:
                ts = rng.choice((0, 0xFFFFFF, 0x1000000, 0xFFFFFFFF, max(ts - 1000, 0)))
            t = {"video": 9, "audio": 8, "data": 18, "aggregate": 22}[kind]
            csid = {"video": 6, "audio": 4, "data": 5, "aggregate": 7}[kind]
            pub_parts.append(Part(f"{kind} ts={ts} [{len(payload)}B] {payload[:8].hex()}",
                                  w.write(Message(t, payload, ts, msid, csid))))
        conns = []
        if with_player:
            conns.append(Conn(prefix("playing", rng, app=self.app, key=key), half_close=False))
            pub = Conn(pub_parts, start_delay=0.03)
        else:
            pub = Conn(pub_parts, half_close=rng.random() < 0.9)
        conns.insert(0, pub)
        return FuzzCase("media", conns, note=f"key {key}{' + player' if with_player else ''}")

    # -- session -------------------------------------------------------------------------------------------
    def gen_session(self, index: int) -> FuzzCase:
        rng = self.rng
        edit = ""
        if len(self._sessions) < 16 or (rng.random() < 0.5 and self.budget.allow()):
            t = time.monotonic()
            try:
                steps = self.drawer.draw(self.session_strategy)
            finally:
                self.budget.spent += time.monotonic() - t
            if len(self._sessions) < 256:
                self._sessions.append(steps)
            else:
                self._sessions[rng.randrange(256)] = steps
        else:  # a drawn session, edited: a step dropped, repeated or moved (missing / repeated / out of order)
            steps = list(rng.choice(self._sessions))
            if len(steps) > 1:
                i, j = rng.randrange(len(steps)), rng.randrange(len(steps))
                edit = rng.choice(("drop", "repeat", "move"))
                if edit == "drop":
                    del steps[i]
                elif edit == "repeat":
                    steps.insert(i, steps[i])
                else:
                    steps.insert(j, steps.pop(i))
        self._mark(*(f"session:{s.action}{'' if s.valid else '!'}" for s in steps))
        parts = [handshake(rng)]
        parts += build(steps, media=self.media_payload)
        n_bad = sum(1 for s in steps if not s.valid)
        return FuzzCase("session", [Conn(parts, half_close=rng.random() < 0.9)],
                    note=f"{len(steps)} steps, {n_bad} out of order{', edited: ' + edit if edit else ''}")

    # -- mutation of recorded sessions ---------------------------------------------------------------------
    def gen_mutate(self, index: int) -> FuzzCase:
        rng = self.rng
        seed = self.corpus.pick(rng)
        r = rng.random()
        if r < 0.5:
            data, notes = mutate_fields(rng, seed)
            how = "field"
        elif r < 0.9:
            data, notes = mutate_bytes(rng, seed.data, keep=seed.handshake_length if rng.random() < 0.9 else 0)
            how = "bytes"
        else:
            other = self.corpus.pick(rng)
            data, note = splice(rng, seed.data, other.data, keep=seed.handshake_length)
            notes = [note + f" ({other.origin})"]
            how = "splice"
        self._mark(f"mutate:{how}")
        note = f"{seed.origin}: " + "; ".join(notes)
        return FuzzCase("mutate", [Conn([Part(note[:200], data)], half_close=rng.random() < 0.95)], note=note[:300])
