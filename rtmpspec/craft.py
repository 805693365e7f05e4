"""Crafted bytes: chunk headers in every form, messages chunked any way (lying lengths, unfinished, Type 3 without
the extended timestamp), control payloads with any field values, handshake flights and the blind valid prefix of a
client session. The one crafting module: the conformance battery (``conformance.craft`` is this module) and the
fuzzer build every deliberately unusual byte here, from the schemas.

:func:`rtmpspec.chunkheader.build_header` always picks the shortest basic header and the writer always keeps a
message whole; here the basic header form can be forced (``form=2`` or ``3``: csid 64..319 may be written in either,
RTMP 5.3.1.1) and a message can be cut into chunks with any first-chunk fmt, any chunk size and any header values.
Field values are taken modulo their field's width (a crafting module writes whatever bits it is asked for).
"""

from __future__ import annotations

import random

from construct import Int32ub

from . import control
from . import handshake as hs
from . import messages as m
from .chunkheader import (
    EXTENDED_TIMESTAMP_MARK,
    ChunkBasicHeader,
    ChunkMessageHeaderType0,
    ChunkMessageHeaderType1,
    ChunkMessageHeaderType2,
    ChunkMessageHeaderType3,
    basic_header_fields,
)
from .chunkwriter import chunk_message
from .message_format import CSID_COMMAND, CSID_CONTROL, Message, MessageType

__all__ = ["basic_header", "message_header", "header", "chunked", "chunk_list", "message", "message_chunks", "command",
           "raw",
           "control_payload", "set_chunk_size", "c0", "c1", "c1_random_digest", "c2_echo", "c2_random", "flight",
           "tc_url", "connect", "prefix", "LEVELS", "STREAM_ID"]

_U32 = 0xFFFFFFFF


# -- chunk headers (RTMP 5.3.1) ------------------------------------------------------------------------------------

def basic_header(fmt: int, csid: int, form: int | None = None) -> bytes:
    """A basic header (RTMP 5.3.1.1) in its shortest form, or in ``form`` 1, 2 or 3 (bytes) when given."""
    if form is None:
        fields = basic_header_fields(fmt, csid)
    elif form == 1:
        fields = {"head": {"fmt": fmt, "provisionalChunkStreamID": csid}, "chunkStreamIDMinus64": None}
    elif form == 2:
        fields = {"head": {"fmt": fmt, "provisionalChunkStreamID": 0}, "chunkStreamIDMinus64": csid - 64}
    elif form == 3:
        fields = {"head": {"fmt": fmt, "provisionalChunkStreamID": 1}, "chunkStreamIDMinus64": csid - 64}
    else:
        raise ValueError(f"basic header form {form} (1, 2 or 3 bytes)")
    return ChunkBasicHeader.build(fields)


def message_header(fmt: int, *, timestamp: int = 0, length: int = 0, type_id: int = 0, msid: int = 0,
                   type3_extended: int | None = None) -> bytes:
    """The message header (+ extended timestamp) of one chunk; ``timestamp`` is the absolute timestamp for fmt 0
    and the delta for fmt 1/2; for fmt 3 ``type3_extended`` is the extended timestamp field (or None)."""
    timestamp &= _U32
    ext = timestamp >= EXTENDED_TIMESTAMP_MARK
    field = EXTENDED_TIMESTAMP_MARK if ext else timestamp
    ext_value = timestamp if ext else None
    length &= 0xFFFFFF
    type_id &= 0xFF
    if fmt == 0:
        return ChunkMessageHeaderType0.build({"timestamp": field, "messageLength": length, "messageTypeID": type_id,
                                              "messageStreamID": msid & _U32, "extendedTimestamp": ext_value})
    if fmt == 1:
        return ChunkMessageHeaderType1.build({"timestampDelta": field, "messageLength": length,
                                              "messageTypeID": type_id, "extendedTimestamp": ext_value})
    if fmt == 2:
        return ChunkMessageHeaderType2.build({"timestampDelta": field, "extendedTimestamp": ext_value})
    return ChunkMessageHeaderType3.build({"extendedTimestamp": type3_extended},
                                         type3_extended=type3_extended is not None)


def header(fmt: int, csid: int, *, form: int | None = None, **kw) -> bytes:
    """A whole chunk header: :func:`basic_header` + :func:`message_header`."""
    return basic_header(fmt, csid, form) + message_header(fmt, **kw)


def chunked(payload: bytes, chunk_size: int, first: bytes, cont: bytes, *, limit: int | None = None) -> bytes:
    """``first`` + the first chunk of ``payload``, then ``cont`` before every following chunk. ``limit``: stop
    after that many chunks (to leave a message unfinished)."""
    parts = [first, payload[:chunk_size]]
    n = 1
    for i in range(chunk_size, len(payload), chunk_size):
        if limit is not None and n >= limit:
            break
        parts += [cont, payload[i:i + chunk_size]]
        n += 1
    return b"".join(parts)


def chunk_list(payload: bytes, chunk_size: int, first: bytes, cont: bytes) -> list[bytes]:
    """Each chunk (header + data) of one message, for interleaving with other chunk streams."""
    out = [first + payload[:chunk_size]]
    for i in range(chunk_size, len(payload), chunk_size):
        out.append(cont + payload[i:i + chunk_size])
    return out


def _headers(csid: int, type_id: int, n: int, *, fmt: int, timestamp: int, msid: int, form: int | None,
             cont_form: int | None, ext_on_type3: bool, prev_ext: int | None, length: int | None
             ) -> tuple[bytes, bytes]:
    """The first chunk's header and the continuation chunks' header of one message (see :func:`message`)."""
    timestamp &= _U32
    if fmt == 3:
        first = basic_header(3, csid, form) + message_header(3, type3_extended=prev_ext)
        ext_value = prev_ext
    else:
        first = header(fmt, csid, form=form, timestamp=timestamp, length=n if length is None else length,
                       type_id=type_id, msid=msid)
        ext_value = timestamp if timestamp >= EXTENDED_TIMESTAMP_MARK else None
    cont = basic_header(3, csid, cont_form if cont_form is not None else form) + message_header(
        3, type3_extended=ext_value if ext_on_type3 else None)
    return first, cont


def message(csid: int, type_id: int, payload: bytes, *, chunk_size: int = 128, fmt: int = 0, timestamp: int = 0,
            msid: int = 0, form: int | None = None, cont_form: int | None = None, ext_on_type3: bool = True,
            prev_ext: int | None = None, limit: int | None = None, length: int | None = None) -> bytes:
    """One message as chunks: a fmt ``fmt`` first header, Type 3 continuations. With an extended timestamp in use
    the continuation headers repeat it (errata 5.1) unless ``ext_on_type3`` is False (the pre-errata mistake).
    For ``fmt == 3`` ``prev_ext`` is the extended value in force on the chunk stream (None: not in use).
    ``length``: the messageLength the header claims instead of the payload's (the payload is still cut at
    ``chunk_size``: a lying length makes the receiver wait for or misread bytes). ``limit``: stop after that many
    chunks (an unfinished message)."""
    first, cont = _headers(csid, type_id, len(payload), fmt=fmt, timestamp=timestamp, msid=msid, form=form,
                           cont_form=cont_form, ext_on_type3=ext_on_type3, prev_ext=prev_ext, length=length)
    return chunked(payload, chunk_size, first, cont, limit=limit)


def message_chunks(csid: int, type_id: int, payload: bytes, *, chunk_size: int = 128, fmt: int = 0,
                   timestamp: int = 0, msid: int = 0, form: int | None = None, cont_form: int | None = None,
                   ext_on_type3: bool = True, prev_ext: int | None = None, length: int | None = None) -> list[bytes]:
    """:func:`message` as its list of chunks (header + data each), to interleave with other chunk streams."""
    first, cont = _headers(csid, type_id, len(payload), fmt=fmt, timestamp=timestamp, msid=msid, form=form,
                           cont_form=cont_form, ext_on_type3=ext_on_type3, prev_ext=prev_ext, length=length)
    return chunk_list(payload, chunk_size, first, cont)


def command(cmd: m.Command, chunk_size: int = 128, csid: int = CSID_COMMAND) -> bytes:
    """A command chunked statelessly (Type 0, then Type 3: valid whatever was sent before on ``csid``)."""
    return chunk_message(cmd.to_message(csid), chunk_size)


# -- protocol control payloads with any values (RTMP 5.4, 7.1.7) ----------------------------------------------------

def control_payload(type_id: int, value: int, event: int = 0, buffer_length: int = 100) -> bytes:
    """The payload of protocol control message ``type_id`` (1-6) with any 32-bit ``value``: Set Chunk Size (bit 31
    too), Abort, Acknowledgement, Window Acknowledgement Size (``value``), Set Peer Bandwidth (``value`` and limit
    type ``event``), User Control (event type ``event`` and a 4-byte ``value``; Set Buffer Length also
    ``buffer_length``). Built by the :mod:`rtmpspec.control` schemas."""
    value &= _U32
    t = MessageType(type_id)
    if t is MessageType.SET_CHUNK_SIZE:
        return control.SetChunkSize.build({"reserved": value >> 31, "chunkSize": value & 0x7FFFFFFF})
    if t is MessageType.ABORT:
        return control.build_abort(value)
    if t is MessageType.ACKNOWLEDGEMENT:
        return control.build_ack(value)
    if t is MessageType.WINDOW_ACK_SIZE:
        return control.build_window_ack_size(value)
    if t is MessageType.SET_PEER_BANDWIDTH:
        return control.build_set_peer_bandwidth(value, event & 0xFF)
    event &= 0xFFFF
    if event == control.SET_BUFFER_LENGTH:
        return control.build_user_control(event, streamID=value, bufferLength=buffer_length & _U32)
    need = control.USER_CONTROL_DATA.get(event)
    if need is not None:  # the event's own 4-byte field (streamID or timestamp)
        return control.build_user_control(event, **{need[1]: value})
    return control.build_user_control(event, data=Int32ub.build(value))


def set_chunk_size(size: int, csid: int = CSID_CONTROL) -> bytes:
    """A whole Set Chunk Size message (one chunk) with any 32-bit value, bit 31 included (RTMP 5.4.1)."""
    return message(csid, MessageType.SET_CHUNK_SIZE, control_payload(MessageType.SET_CHUNK_SIZE, size))


# -- handshake flights (RTMP 5.2) -------------------------------------------------------------------------------

def c0(version: int = hs.RTMP_VERSION) -> bytes:
    return hs.C0.build({"version": version & 0xFF})


def c1(rng: random.Random, *, digest: bool = False, time: int = 0, scheme: int = 0) -> bytes:
    """A C1: plain (RTMP 5.2.3: ``time``, zero 0, random bytes) or with a Flash Player digest in ``scheme``."""
    if digest:
        return hs.make_challenge(time=time, version=hs.CLIENT_DIGEST_VERSION, key=hs.GENUINE_FP_KEY_PARTIAL,
                                 scheme=scheme, rng=rng)
    return hs.make_plain_challenge(time=time, rng=rng)


def c2_echo(s1: bytes, *, time2: int = 0) -> bytes:
    """The spec C2 (RTMP 5.2.4): the echo of S1."""
    return hs.make_echo_response(s1, time2=time2)


def c2_random(rng: random.Random) -> bytes:
    """A C2 that echoes nothing (time 0, random bytes): servers do not check C2, so a blind session may send it
    with C0+C1 before S1 has arrived."""
    return hs.C2.build({"time": 0, "time2": 0, "random_echo": rng.randbytes(hs.RANDOM_SIZE)})


def c1_random_digest(rng: random.Random) -> bytes:
    """A digest C1 with a random time and scheme."""
    return c1(rng, digest=True, time=rng.getrandbits(32), scheme=rng.randrange(2))


def flight(rng: random.Random, *, digest: bool = False) -> bytes:
    """C0+C1+C2 in one go (a blind client: see :func:`c2_random`); a digest C1 gets a random time and scheme."""
    return c0() + (c1_random_digest(rng) if digest else c1(rng)) + c2_random(rng)


# -- the valid prefix of a blind client session ---------------------------------------------------------------------

LEVELS = ("raw", "handshake", "connected", "stream", "publishing", "playing")
STREAM_ID = 1  # what createStream returns first on every server we know


def tc_url(app: str = "live", host: str = "127.0.0.1", port: int = 1935) -> str:
    return f"rtmp://{host}:{port}/{app}"


def connect(app: str = "live", url: str | None = None) -> bytes:
    """``connect`` (transaction id 1) to ``app``, chunked at 128."""
    return command(m.connect(app, url or tc_url(app)))


def prefix(level: str, rng: random.Random, *, app: str = "live", url: str | None = None, key: str = "fuzz",
           digest: bool | None = None) -> list[tuple[str, bytes]]:
    """The valid start of a client session up to ``level`` (one of :data:`LEVELS`), as labelled pieces written
    without waiting for answers: the handshake flight, ``connect`` (transaction id 1), ``createStream`` (2), then
    ``publish`` or ``play`` of ``key`` (3) on message stream :data:`STREAM_ID`. ``digest`` None: a digest C1 three
    times in ten."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    if level == "raw":
        return []
    if digest is None:
        digest = rng.random() < 0.3
    parts = [("handshake C0+C1+C2" + (" (digest)" if digest else ""), flight(rng, digest=digest))]
    if level == "handshake":
        return parts
    parts.append(("connect", connect(app, url)))
    if level == "connected":
        return parts
    parts.append(("createStream", command(m.create_stream(2))))
    if level == "stream":
        return parts
    if level == "publishing":
        parts.append((f"publish {key}", command(m.publish(key, msid=STREAM_ID, transaction_id=3))))
    else:
        parts.append((f"play {key}", command(m.play(key, msid=STREAM_ID, transaction_id=3))))
    return parts


def raw(msg: Message, chunk_size: int = 128) -> bytes:
    """A message chunked statelessly (:func:`rtmpspec.chunkwriter.chunk_message`)."""
    return chunk_message(msg, chunk_size)
