"""RTMP handshake (RTMP 1.0 section 5.2) plus the Flash "digest" handshake.

Wire format: C0/S0 is one version byte, C1/S1 and C2/S2 are 1536 bytes each. The spec handshake is an
echo: C2 repeats S1 and S2 repeats C1.

The digest ("complex") handshake used by Flash Player, Flash Media Server, ffmpeg and nginx-rtmp is not in
the spec. It reuses the same packets:

- C1/S1: ``zero`` carries a version (ffmpeg 9.0.124.2 = 0x09007C02) and a 32-byte HMAC-SHA256 digest hides in
  ``random``. Its offset is ``sum(packet[base:base+4]) % 728 + base + 4``, with base 8 (scheme 0) or 772
  (scheme 1); the HMAC covers the 1536 bytes minus the 32 digest bytes. The key is the first 30 bytes of
  ``GENUINE_FP_KEY`` for a client, the first 36 bytes of ``GENUINE_FMS_KEY`` for a server.
  (SRS calls base 8 "schema1" and base 772 "schema0"; we follow ffmpeg/librtmp: scheme 0 = base 8.)
- C2/S2: the last 32 bytes are ``HMAC(HMAC(full_key, peer_digest), packet[:1504])``, where ``peer_digest`` is
  the digest found in the peer's C1/S1 and ``full_key`` is the *other* side's full key: the server signs S2
  with ``GENUINE_FMS_KEY`` (68 bytes) over the client's digest, the client signs C2 with ``GENUINE_FP_KEY``
  (62 bytes) over the server's. We keep ``time``/``time2`` of C2/S2 spec-conformant (ffmpeg and nginx fill
  them with random bytes; nobody checks them) and sign over them.

Lenience, as deployed peers behave: neither ffmpeg nor nginx-rtmp checks the C2 echo, and ffmpeg as a
publisher answers a digest S1 with a plain echo C2. So a bad C2/S2 is reported (``echo_ok``/``digest_ok`` in
``HandshakeComplete``), not fatal, except for a client created with ``digest=True`` whose S2 signature fails
(ffmpeg aborts there too). Any C0/S0 version other than 3 is fatal (6, 8, 9 are RTMPE: unsupported).

The state machines are sans-I/O, h11 style: ``receive_data`` buffers, ``next_event`` parses and returns an
event or ``NEED_DATA`` (``PAUSED`` after ``HandshakeComplete``), ``data_to_send`` drains what must be
written. After a ``ProtocolError`` every call raises it again.
"""

from __future__ import annotations

import enum
import hmac
import random as _random
from dataclasses import dataclass, field
from typing import Any, Literal

from construct import Bytes, ConstructError, Int8ub, Int32ub, Struct

from .errors import DecodeError, LimitExceeded, LocalProtocolError, ProtocolError
from .events import Event
from .receivebuffer import ReceiveBuffer
from .registry import Codec, register, register_schema
from .sentinels import NEED_DATA, PAUSED, Sentinel

RTMP_VERSION = 3  # RTMP 5.2.2
RTMPE_VERSIONS = (6, 8, 9)  # encrypted RTMP (not supported)
PACKET_SIZE = 1536  # RTMP 5.2.3
RANDOM_SIZE = 1528
DIGEST_SIZE = 32
FLIGHT_SIZE = 1 + 2 * PACKET_SIZE  # C0+C1+C2 (or S0+S1+S2)

_KEY_TAIL = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
GENUINE_FP_KEY = b"Genuine Adobe Flash Player 001" + _KEY_TAIL  # 62 bytes
GENUINE_FMS_KEY = b"Genuine Adobe Flash Media Server 001" + _KEY_TAIL  # 68 bytes
GENUINE_FP_KEY_PARTIAL = GENUINE_FP_KEY[:30]  # signs/validates C1
GENUINE_FMS_KEY_PARTIAL = GENUINE_FMS_KEY[:36]  # signs/validates S1

CLIENT_DIGEST_VERSION = 0x09007C02  # what ffmpeg puts in C1.zero (Flash Player 9.0.124.2)
SERVER_DIGEST_VERSION = 0x0D0E0A0D  # what nginx-rtmp puts in S1.zero; ffmpeg wants the first byte >= 3
SCHEME_BASES = {0: 8, 1: 772}

# --- schemas -------------------------------------------------------------------------------------------

C0 = Struct(
    "version" / Int8ub,  # RTMP 5.2.2 (3 = RTMP, 6 = RTMPE)
)
C1 = Struct(
    "time" / Int32ub,  # RTMP 5.2.3
    "zero" / Int32ub,  # RTMP 5.2.3; the peer's version in the digest handshake
    "random" / Bytes(RANDOM_SIZE),  # RTMP 5.2.3; holds the digest in the digest handshake
)
C2 = Struct(
    "time" / Int32ub,  # RTMP 5.2.4
    "time2" / Int32ub,  # RTMP 5.2.4
    "random_echo" / Bytes(RANDOM_SIZE),  # RTMP 5.2.4; signature in its last 32 bytes (digest handshake)
)
S0, S1, S2 = C0, C1, C2

# --- digest --------------------------------------------------------------------------------------------


def digest_offset(packet: bytes, scheme: int) -> int:
    """Offset of the digest in a C1/S1 (1536 bytes) under ``scheme`` 0 (base 8) or 1 (base 772)."""
    base = SCHEME_BASES[scheme]
    return sum(packet[base : base + 4]) % 728 + base + 4


def compute_digest(packet: bytes, offset: int, key: bytes) -> bytes:
    """HMAC-SHA256 of the packet without the 32 bytes at ``offset``."""
    return hmac.digest(key, packet[:offset] + packet[offset + DIGEST_SIZE :], "sha256")


def find_digest(packet: bytes, key: bytes) -> tuple[int, int] | None:
    """``(scheme, offset)`` of a valid digest in a C1/S1 keyed with the partial ``key``, else None."""
    if len(packet) != PACKET_SIZE:
        return None
    for scheme in SCHEME_BASES:
        offset = digest_offset(packet, scheme)
        if hmac.compare_digest(compute_digest(packet, offset, key), packet[offset : offset + DIGEST_SIZE]):
            return scheme, offset
    return None


def make_challenge(
    *, time: int, version: int, key: bytes, scheme: int = 0, rng: _random.Random | None = None
) -> bytes:
    """A C1/S1 with a valid digest (``key``: ``GENUINE_FP_KEY_PARTIAL`` or ``GENUINE_FMS_KEY_PARTIAL``)."""
    rng = rng or _random.Random()
    packet = bytearray(C1.build({"time": time, "zero": version, "random": rng.randbytes(RANDOM_SIZE)}))
    offset = digest_offset(packet, scheme)
    packet[offset : offset + DIGEST_SIZE] = compute_digest(bytes(packet), offset, key)
    return bytes(packet)


def make_plain_challenge(*, time: int, rng: _random.Random | None = None) -> bytes:
    """A spec C1/S1: zero = 0, random bytes."""
    rng = rng or _random.Random()
    return C1.build({"time": time, "zero": 0, "random": rng.randbytes(RANDOM_SIZE)})


def _response_signature(body: bytes, peer_digest: bytes, full_key: bytes) -> bytes:
    return hmac.digest(hmac.digest(full_key, peer_digest, "sha256"), body, "sha256")


def make_digest_response(
    peer_digest: bytes, full_key: bytes, *, time: int, time2: int, rng: _random.Random | None = None
) -> bytes:
    """A C2/S2 for the digest handshake: time, time2, random, then the signature in the last 32 bytes.

    Server (S2): ``full_key=GENUINE_FMS_KEY``, ``peer_digest`` from C1. Client (C2): ``GENUINE_FP_KEY``, from S1.
    """
    rng = rng or _random.Random()
    body = Int32ub.build(time) + Int32ub.build(time2) + rng.randbytes(PACKET_SIZE - 8 - DIGEST_SIZE)
    return body + _response_signature(body, peer_digest, full_key)


def validate_digest_response(response: bytes, peer_digest: bytes, full_key: bytes) -> bool:
    """Whether a C2/S2 carries the signature for ``peer_digest`` (the digest *we* sent in C1/S1)."""
    if len(response) != PACKET_SIZE:
        return False
    body, sig = response[:-DIGEST_SIZE], response[-DIGEST_SIZE:]
    return hmac.compare_digest(_response_signature(body, peer_digest, full_key), sig)


def make_echo_response(peer_challenge: bytes, *, time2: int) -> bytes:
    """A spec C2/S2 (RTMP 5.2.4): the peer's time, our read time, the peer's random bytes."""
    return peer_challenge[:4] + Int32ub.build(time2) + peer_challenge[8:]


def echo_matches(response: bytes, our_challenge: bytes) -> bool:
    """RTMP 5.2.4: time and random echo equal what we sent in C1/S1 (time2 is the peer's)."""
    return response[:4] == our_challenge[:4] and response[8:] == our_challenge[8:]


# --- state machines ------------------------------------------------------------------------------------


# next_event() returns NEED_DATA (feed more bytes with receive_data()) or, once HandshakeComplete was returned,
# PAUSED (later bytes belong to the chunk stream): the package's sentinels (rtmpspec.sentinels)


@dataclass(frozen=True)
class VersionReceived(Event):
    """C0 (server side) or S0 (client side) arrived."""

    version: int


@dataclass(frozen=True)
class _ChallengeReceived(Event):
    time: int
    zero: int  # a version in the digest handshake
    random: bytes = field(repr=False)
    digest: bool  # a valid digest was found
    scheme: int | None
    digest_offset: int | None

    def __json__(self) -> dict[str, Any]:
        return {
            "$type": type(self).__name__,
            "time": self.time,
            "zero": self.zero,
            "digest": self.digest,
            "scheme": self.scheme,
            "digest_offset": self.digest_offset,
        }


@dataclass(frozen=True)
class C1Received(_ChallengeReceived):
    """The server got C1. ``digest``: C1 carries a Flash Player digest."""


@dataclass(frozen=True)
class S1Received(_ChallengeReceived):
    """The client got S1. ``digest``: S1 carries a Flash Media Server digest."""


@dataclass(frozen=True)
class HandshakeComplete(Event):
    """C2 (server) / S2 (client) arrived. ``leftover``: bytes after it, the start of the chunk stream.

    ``echo_ok``: the peer echoed our C1/S1 (RTMP 5.2.4). ``digest_ok``: None unless both sides used the
    digest handshake, then whether the peer's C2/S2 carried the right signature.
    """

    peer_time: int
    echo_ok: bool
    digest_ok: bool | None
    leftover: bytes = field(repr=False)


HandshakeEvent = VersionReceived | C1Received | S1Received | HandshakeComplete


class HandshakeState(enum.Enum):
    WAIT_C0 = "WAIT_C0"
    WAIT_C1 = "WAIT_C1"
    WAIT_C2 = "WAIT_C2"
    WAIT_S0 = "WAIT_S0"
    WAIT_S1 = "WAIT_S1"
    WAIT_S2 = "WAIT_S2"
    DONE = "DONE"
    ERROR = "ERROR"


# (state, packet received) -> next state. RTMP 5.2.5: the server sends S0+S1+S2 once it has C1 (5.2.1 lets
# it wait for C1); the client sends C0+C1 at once and C2 after S1. Anything else is a ProtocolError.
SERVER_TRANSITIONS: dict[tuple[HandshakeState, str], HandshakeState] = {
    (HandshakeState.WAIT_C0, "C0"): HandshakeState.WAIT_C1,
    (HandshakeState.WAIT_C1, "C1"): HandshakeState.WAIT_C2,
    (HandshakeState.WAIT_C2, "C2"): HandshakeState.DONE,
}
CLIENT_TRANSITIONS: dict[tuple[HandshakeState, str], HandshakeState] = {
    (HandshakeState.WAIT_S0, "S0"): HandshakeState.WAIT_S1,
    (HandshakeState.WAIT_S1, "S1"): HandshakeState.WAIT_S2,
    (HandshakeState.WAIT_S2, "S2"): HandshakeState.DONE,
}
_EXPECTED = {
    HandshakeState.WAIT_C0: ("C0", 1),
    HandshakeState.WAIT_C1: ("C1", PACKET_SIZE),
    HandshakeState.WAIT_C2: ("C2", PACKET_SIZE),
    HandshakeState.WAIT_S0: ("S0", 1),
    HandshakeState.WAIT_S1: ("S1", PACKET_SIZE),
    HandshakeState.WAIT_S2: ("S2", PACKET_SIZE),
}
_SECTIONS = {"0": "RTMP 5.2.2", "1": "RTMP 5.2.3", "2": "RTMP 5.2.4"}

DigestMode = Literal["auto"] | bool


class _Handshake:
    _transitions: dict[tuple[HandshakeState, str], HandshakeState]
    _initial: HandshakeState

    def __init__(
        self,
        *,
        now_ms: int = 0,
        digest: DigestMode = "auto",
        rng: _random.Random | None = None,
        max_leftover: int = 65536,
    ) -> None:
        if digest not in ("auto", True, False):
            raise ValueError("digest must be 'auto', True or False")
        self.digest_mode = digest
        self.now_ms = now_ms & 0xFFFFFFFF
        self.epoch = self.now_ms  # our C1/S1 time
        self.rng = rng or _random.Random()
        self.max_leftover = max_leftover
        self.state = self._initial
        self.our_challenge: bytes | None = None  # the C1/S1 we sent
        self.peer_challenge: bytes | None = None  # the C1/S1 we got
        self.our_digest: bytes | None = None  # digest in our C1/S1, when we use the digest handshake
        self.peer_digest: bytes | None = None  # digest in the peer's C1/S1, when valid
        self._in = ReceiveBuffer()
        self._out = bytearray()
        self._error: ProtocolError | None = None

    # -- public API --

    def receive_data(self, data: bytes, *, now_ms: int | None = None) -> None:
        """Buffer bytes from the peer; ``b""`` means the peer closed. ``now_ms``: when they were read."""
        self._check_error()
        if self.state is HandshakeState.DONE:
            raise LocalProtocolError("handshake complete: feed later bytes to the chunk stream")
        if now_ms is not None:
            self.now_ms = now_ms & 0xFFFFFFFF
        if not data:
            self._fail(
                ProtocolError(
                    f"peer closed the connection in state {self.state.value}",
                    offset=self._in.offset + len(self._in),
                    section="RTMP 5.2.1",
                )
            )
        self._in.append(data)
        if len(self._in) - self._still_needed() > self.max_leftover:
            self._fail(
                LimitExceeded(
                    f"more than {self.max_leftover} bytes beyond the handshake before it completed",
                    offset=self._in.offset + len(self._in),
                    section="RTMP 5.2.1",
                )
            )

    def next_event(self) -> HandshakeEvent | Sentinel:
        """The next event, ``NEED_DATA``, or ``PAUSED`` once ``HandshakeComplete`` was returned."""
        self._check_error()
        if self.state is HandshakeState.DONE:
            return PAUSED
        name, size = _EXPECTED[self.state]
        if len(self._in) < size:
            return NEED_DATA
        offset = self._in.offset
        packet = self._in.consume(size)
        self._in.compact()
        new_state = self._transitions.get((self.state, name))
        if new_state is None:  # pragma: no cover - _EXPECTED and the tables agree
            self._fail(ProtocolError(f"unexpected {name} in state {self.state.value}", offset=offset))
        try:
            event = self._handle(name, packet, offset)
        except ProtocolError as exc:
            self._fail(exc)
        self.state = new_state
        return event

    def data_to_send(self) -> bytes:
        self._check_error()
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def complete(self) -> bool:
        return self.state is HandshakeState.DONE

    # -- internals --

    def _still_needed(self) -> int:
        """Bytes the handshake still needs from the peer (what is buffered beyond that is leftover)."""
        order = [state for state, _ in self._transitions]
        if self.state not in order:
            return 0
        return sum(_EXPECTED[state][1] for state in order[order.index(self.state) :])

    def _check_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _fail(self, exc: ProtocolError) -> None:
        self._error = exc
        self.state = HandshakeState.ERROR
        raise exc

    def _handle(self, name: str, packet: bytes, offset: int) -> HandshakeEvent:
        if name[1] == "0":
            version = packet[0]
            if version != RTMP_VERSION:
                kind = (
                    "RTMPE, not supported"
                    if version in RTMPE_VERSIONS
                    else "not RTMP (32-255 are not allowed)"
                    if version >= 32
                    else "reserved or deprecated"
                )
                raise ProtocolError(
                    f"{name} asks for RTMP version {version} ({kind}); only 3 is supported",
                    offset=offset,
                    field="version",
                    section="RTMP 5.2.2",
                )
            return VersionReceived(version)
        if name[1] == "1":
            self.peer_challenge = packet
            found = find_digest(packet, self._peer_partial_key)
            if found:
                self.peer_digest = packet[found[1] : found[1] + DIGEST_SIZE]
            values = C1.parse(packet)
            event_cls = C1Received if name == "C1" else S1Received
            event = event_cls(
                values.time,
                values.zero,
                values.random,
                found is not None,
                found[0] if found else None,
                found[1] if found else None,
            )
            self._on_challenge(event, offset)
            return event
        return self._on_response(packet, offset)

    def _our_challenge(self, *, scheme: int, version: int, key: bytes, digest: bool) -> bytes:
        if digest:
            packet = make_challenge(time=self.epoch, version=version, key=key, scheme=scheme, rng=self.rng)
            off = digest_offset(packet, scheme)
            self.our_digest = packet[off : off + DIGEST_SIZE]
        else:
            packet = make_plain_challenge(time=self.epoch, rng=self.rng)
        self.our_challenge = packet
        return packet

    def _response(self, full_key: bytes) -> bytes:
        assert self.peer_challenge is not None
        peer_time = int.from_bytes(self.peer_challenge[:4], "big")
        if self.our_digest is not None and self.peer_digest is not None:
            return make_digest_response(
                self.peer_digest, full_key, time=peer_time, time2=self.now_ms, rng=self.rng
            )
        return make_echo_response(self.peer_challenge, time2=self.now_ms)

    def _complete(self, packet: bytes, full_key: bytes) -> HandshakeComplete:
        assert self.our_challenge is not None and self.peer_challenge is not None
        digest_ok = None
        if self.our_digest is not None and self.peer_digest is not None:
            digest_ok = validate_digest_response(packet, self.our_digest, full_key)
        leftover = self._in.consume_all()
        return HandshakeComplete(
            int.from_bytes(self.peer_challenge[:4], "big"),
            echo_matches(packet, self.our_challenge),
            digest_ok,
            leftover,
        )

    _peer_partial_key: bytes

    def _on_challenge(self, event: _ChallengeReceived, offset: int) -> None:
        raise NotImplementedError

    def _on_response(self, packet: bytes, offset: int) -> HandshakeComplete:
        raise NotImplementedError


class HandshakeServer(_Handshake):
    """Server side: reads C0 C1 C2, sends S0+S1+S2 once C1 is known.

    ``digest``: 'auto' answers a digest C1 with a digest S1/S2 and a plain C1 with the spec echo; True
    requires a digest C1 (ProtocolError otherwise); False always uses the spec echo.
    """

    _transitions = SERVER_TRANSITIONS
    _initial = HandshakeState.WAIT_C0
    _peer_partial_key = GENUINE_FP_KEY_PARTIAL

    def __init__(self, *, version: int = SERVER_DIGEST_VERSION, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version = version  # S1.zero in the digest handshake

    def _on_challenge(self, event: _ChallengeReceived, offset: int) -> None:
        if self.digest_mode is True and not event.digest:
            raise ProtocolError(
                "C1 has no valid Flash Player digest (scheme 0 or 1) and digest=True",
                offset=offset + 8,
                field="random",
                section="RTMP 5.2.3",
            )
        use_digest = event.digest and self.digest_mode is not False
        s1 = self._our_challenge(
            scheme=event.scheme or 0, version=self.version, key=GENUINE_FMS_KEY_PARTIAL, digest=use_digest
        )
        self._out += S0.build({"version": RTMP_VERSION}) + s1 + self._response(GENUINE_FMS_KEY)

    def _on_response(self, packet: bytes, offset: int) -> HandshakeComplete:
        return self._complete(packet, GENUINE_FP_KEY)  # C2 is never fatal: peers differ


class HandshakeClient(_Handshake):
    """Client side: C0+C1 are ready in ``data_to_send()`` at once; C2 follows S1.

    ``digest``: 'auto' and True send a digest C1 (``scheme``, ``version``); with 'auto' a server that does not
    answer with a digest S1 gets the spec echo, with True that and a bad S2 signature are ProtocolErrors.
    False sends a spec C1 (zero = 0).
    """

    _transitions = CLIENT_TRANSITIONS
    _initial = HandshakeState.WAIT_S0
    _peer_partial_key = GENUINE_FMS_KEY_PARTIAL

    def __init__(self, *, version: int = CLIENT_DIGEST_VERSION, scheme: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if scheme not in SCHEME_BASES:
            raise ValueError("scheme must be 0 or 1")
        self.version = version
        self.scheme = scheme
        c1 = self._our_challenge(
            scheme=scheme, version=version, key=GENUINE_FP_KEY_PARTIAL, digest=self.digest_mode is not False
        )
        self._out += C0.build({"version": RTMP_VERSION}) + c1

    def _on_challenge(self, event: _ChallengeReceived, offset: int) -> None:
        if self.digest_mode is True and not event.digest:
            raise ProtocolError(
                "S1 has no valid Flash Media Server digest (scheme 0 or 1) and digest=True",
                offset=offset + 8,
                field="random",
                section="RTMP 5.2.3",
            )
        self._out += self._response(GENUINE_FP_KEY)

    def _on_response(self, packet: bytes, offset: int) -> HandshakeComplete:
        event = self._complete(packet, GENUINE_FMS_KEY)
        if self.digest_mode is True and not event.digest_ok:
            raise ProtocolError(
                "S2 signature does not match the digest of our C1",
                offset=offset + PACKET_SIZE - DIGEST_SIZE,
                field="random_echo",
                section="RTMP 5.2.4",
            )
        return event


# --- codecs --------------------------------------------------------------------------------------------


def _parse_flight(data: bytes, side: str, packets: int) -> tuple[dict[str, Any], int]:
    """Parse C0[+C1[+C2]] (side "c") or S0.. (side "s") from the start of ``data``."""
    sizes = (1, PACKET_SIZE, PACKET_SIZE)[:packets]
    total = sum(sizes)
    if len(data) < total:
        raise DecodeError(
            f"handshake truncated: {len(data)} of {total} bytes", offset=len(data), section="RTMP 5.2"
        )
    out: dict[str, Any] = {}
    pos = 0
    for i, (schema, size) in enumerate(zip((C0, C1, C2), sizes, strict=False)):
        try:
            out[f"{side}{i}"] = schema.parse(data[pos : pos + size])
        except ConstructError as exc:  # pragma: no cover - fixed sizes always parse
            raise DecodeError(str(exc), offset=pos, section=_SECTIONS[str(i)]) from exc
        pos += size
    key = GENUINE_FP_KEY_PARTIAL if side == "c" else GENUINE_FMS_KEY_PARTIAL
    found = find_digest(data[1 : 1 + PACKET_SIZE], key)
    out["digest"] = {"scheme": found[0], "offset": found[1]} if found else None
    return out, total


def _build_flight(value: dict[str, Any], side: str, packets: int) -> bytes:
    packets_bytes = b"".join(
        schema.build(value[f"{side}{i}"]) for i, schema in enumerate((C0, C1, C2)[:packets])
    )
    return packets_bytes + bytes(value.get("unconsumed", b""))


def _flight_codec(name: str, side: str, packets: int, section: str, streaming: bool) -> Codec:
    """Streaming codecs put the bytes after C2/S2 (the chunk stream's start) in ``unconsumed``; the C0+C1
    codec is a fixed-size one (``parse_prefix`` tells how much it used, ``parse`` wants the exact size)."""

    def parse_prefix(data: bytes) -> tuple[dict[str, Any], int]:
        return _parse_flight(bytes(data), side, packets)

    def parse(data: bytes) -> dict[str, Any]:
        value, used = parse_prefix(data)
        if streaming:
            value["unconsumed"] = bytes(data[used:])
        elif used != len(data):
            raise DecodeError(f"{len(data) - used} bytes after C1", offset=used, section=section)
        return value

    def parse_pieces(pieces: list[bytes]) -> dict[str, Any]:
        buf = bytearray()
        for piece in pieces:
            buf += piece
        return parse(bytes(buf))

    def build(value: dict[str, Any]) -> bytes:
        return _build_flight(value, side, packets)

    return register(
        Codec(
            name,
            parse,
            build,
            section,
            streaming=streaming,
            parse_pieces=parse_pieces if streaming else None,
            parse_prefix=parse_prefix,
        )
    )


register_schema("handshake.c0", C0, "RTMP 5.2.2")
register_schema("handshake.c1", C1, "RTMP 5.2.3")
register_schema("handshake.c2", C2, "RTMP 5.2.4")
_flight_codec("handshake.client", "c", 3, "RTMP 5.2", True)  # C0+C1+C2, digest = C1's
_flight_codec("handshake.server", "s", 3, "RTMP 5.2", True)  # S0+S1+S2, digest = S1's
_flight_codec("handshake.c0c1", "c", 2, "RTMP 5.2", False)  # a client's opening C0+C1
