"""Handshake cases (RTMP 1.0 section 5.2; the digest handshake is de facto)."""

from __future__ import annotations

import time

from rtmpspec import handshake as hs

from .case import Case, parametrize
from .driver import Closed, StepTimeout
from .verdicts import Verdict, fail, observed, unsupported

V = Verdict


def check_s0_version(ctx):
    """Plain C0(3)+C1; S0 must be 3."""
    s = ctx.session(handshake=False)
    s.send_c0c1()
    s0, _, _ = s.read_s0s1s2()
    if s0 != hs.RTMP_VERSION:
        fail("S0 version 3", f"S0 version {s0}", offending=s.s1[:16] if s.s1 else None)


def check_s1_s2_size(ctx):
    """After the 3073 handshake bytes the server's chunk stream decodes: connect gets a well-formed answer."""
    s = ctx.session()
    res = s.connect()
    first = s.inbox[0]
    if first.offset != hs.FLIGHT_SIZE:
        fail(f"the first chunk at stream offset {hs.FLIGHT_SIZE}", f"first chunk at offset {first.offset}",
             offending=first)
    if res.name not in ("_result", "_error"):
        fail("_result or _error for connect", f"{res.name}", offending=res)


def check_s1_zero(ctx):
    """A plain C1 (zero field 0): S1's zero field must be 0."""
    s = ctx.session(handshake=False)
    s.send_c0c1()
    _, s1, _ = s.read_s0s1s2()
    zero = int.from_bytes(s1[4:8], "big")
    if zero != 0:
        fail("S1 zero field 0x00000000", f"S1 zero field 0x{zero:08x}", offending=s1[:16])


def check_s2_echo(ctx, c1_time: int):
    """C1 with time ``c1_time`` and random bytes; S2 must carry both back."""
    s = ctx.session(handshake=False)
    c1 = hs.make_plain_challenge(time=c1_time, rng=s.rng)
    s.send_c0c1(c1=c1)
    _, _, s2 = s.read_s0s1s2()
    if s2[:4] != c1[:4]:
        fail(f"S2 time = C1 time {c1_time}", f"S2 time {int.from_bytes(s2[:4], 'big')}", offending=s2[:16])
    if s2[8:] != c1[8:]:
        diff = next(i for i in range(8, hs.PACKET_SIZE) if s2[i] != c1[i])
        fail("S2 random echo = C1 random bytes", f"S2 differs from C1 from byte {diff} on",
             offending=s2[max(0, diff - 8):diff + 24])
    s.send_c2()
    s.connected()


def check_waits_for_c0(ctx, quiet: float):
    """Connect the TCP socket and send nothing for ``quiet`` seconds: the server must not speak first."""
    s = ctx.session(handshake=False)
    deadline = time.monotonic() + quiet
    while time.monotonic() < deadline and not s.closed:
        s.pump(deadline - time.monotonic())
    if s.bytes_in:
        fail("no bytes before C0", f"{s.bytes_in} bytes before C0", offending=s.hs_in[:32])
    s.send_c0c1()
    s.read_s0s1s2()


def check_s2_after_c1(ctx, split: int, quiet: float):
    """C0 + the first ``split`` bytes of C1, then a pause: at most S0+S1 may arrive; S2 only after the rest."""
    s = ctx.session(handshake=False)
    c1 = s.send_c0c1(c1_length=split)
    deadline = time.monotonic() + quiet
    while time.monotonic() < deadline and not s.closed:
        s.pump(deadline - time.monotonic())
    early = len(s.hs_in)
    if early > 1 + hs.PACKET_SIZE:
        fail("at most S0+S1 (1537 bytes) before C1 is complete", f"{early} bytes before C1 was complete",
             offending=s.hs_in[1 + hs.PACKET_SIZE:1 + hs.PACKET_SIZE + 32])
    s.send_raw(c1[split:], "rest of C1")
    _, _, s2 = s.read_s0s1s2()
    if not hs.echo_matches(s2, c1):
        fail("S2 echoing the complete C1", "S2 does not echo C1", offending=s2[:32])
    s.send_c2()
    s.connected()


def check_no_chunk_before_c2(ctx, quiet: float):
    """C0+C1, read S0+S1+S2, then wait ``quiet`` seconds without sending C2: no byte may follow S2 (the server sends
    no chunk before the handshake is done); then C2 and connect work."""
    s = ctx.session(handshake=False)
    with ctx.setup("C0+C1, S0+S1+S2"):
        s.send_c0c1()
        s.read_s0s1s2()
    deadline = time.monotonic() + quiet
    while time.monotonic() < deadline and not s.closed:
        s.pump(deadline - time.monotonic())
    extra = len(s._hs_buf) - hs.FLIGHT_SIZE
    if extra > 0:
        fail("nothing after S2 until C2 has arrived (RTMP 1.0 5.2.1: MUST)",
             f"{extra} bytes after S2 before C2 was sent", offending=bytes(s._hs_buf[hs.FLIGHT_SIZE:][:64]))
    with ctx.setup("C2 and connect"):
        s.send_c2()
        s.connected()


def check_s2_time2(ctx, pause: float):
    """C0 and 1000 bytes of C1, a ``pause``, then the rest of C1: S2's time2 (the time the server read C1, in S1's
    time base) is at least ``pause`` after S1's time when S1 came before the pause, and never later than the end of
    the handshake."""
    s = ctx.session(handshake=False)
    c1 = hs.make_plain_challenge(time=0, rng=s.rng)
    t0 = time.monotonic()
    s.send_c0c1(c1=c1, c1_length=1000)
    deadline = t0 + pause
    while time.monotonic() < deadline and not s.closed:
        s.pump(deadline - time.monotonic())
    early = len(s._hs_buf) >= 1 + hs.PACKET_SIZE
    s.send_raw(c1[1000:], "rest of C1")
    s.c1 = c1
    _, s1, s2 = s.read_s0s1s2()
    elapsed = (time.monotonic() - t0) * 1000
    s1_time, time2 = int.from_bytes(s1[:4], "big"), int.from_bytes(s2[4:8], "big")
    d = (time2 - s1_time) & 0xFFFFFFFF
    d = d - (1 << 32) if d >= 1 << 31 else d
    low = pause * 1000 - 100 if early else -100
    if not low <= d <= elapsed + 1000:
        when = (f"S1 arrived before the pause, so C1 was read at least {pause * 1000:.0f} ms after S1's time"
                if early else "S1 came after C1")
        fail(f"time2 - S1 time within [{low:.0f}, {elapsed + 1000:.0f}] ms ({when})",
             f"S1 time {s1_time}, S2 time2 {time2} (difference {d} ms)", offending=s2[:16])
    s.send_c2()
    with ctx.setup("connect"):
        s.connected()


def check_s1_random(ctx):
    """Two handshakes: S1's random field is not all zeros, differs between the two sessions, and is not our C1."""
    fields = []
    for i in range(2):
        s = ctx.session(f"hs{i + 1}", handshake=False)
        with ctx.setup("C0+C1, S0+S1+S2"):
            c1 = s.send_c0c1()
            _, s1, _ = s.read_s0s1s2()
        if s1[8:] == c1[8:]:
            fail("S1 random bytes of the server's own", "S1's random field is our C1's", offending=s1[:32])
        fields.append(s1[8:])
    if not any(fields[0]):
        fail("random bytes in S1", "S1's random field is all zeros", offending=fields[0][:32])
    if fields[0] == fields[1]:
        fail("a different S1 random field for each session", "both sessions got the same S1 random field",
             offending=fields[0][:32])


def check_byte_stream(ctx, mode: str):
    """The handshake split or joined in unusual ways."""
    s = ctx.session(handshake=False)
    c1 = hs.make_plain_challenge(time=0, rng=s.rng)
    c0 = hs.C0.build({"version": 3})
    if mode == "bytewise":
        for b in c0 + c1:
            s.write(bytes([b]))
        s.log.add(s.label, "out", "C0+C1", "sent one byte per write (1537 writes)", c0 + c1)
        s.c1 = c1
        s.read_s0s1s2()
        s.send_c2()
        s.connected()
    elif mode in ("c2-with-connect", "c2-with-big-connect"):
        s.send_c0c1(c1=c1)
        s.read_s0s1s2()
        from rtmpspec import messages

        c2 = hs.make_echo_response(s.s1, time2=0)
        s.hs_done = True  # from here on our bytes are chunks
        # two plain AMF0 strings (< 65536 characters each: no long-string marker) make a 70 KB connect
        extra = {"x-padding-1": "p" * 35000, "x-padding-2": "q" * 35000} if mode == "c2-with-big-connect" else None
        connect = s.writer.write(messages.connect(ctx.target.app, ctx.target.tc_url(), extra=extra).to_message())
        s.log.add(s.label, "out", "C2+connect", f"C2 and a {len(connect)}-byte connect command in one write",
                  c2 + connect)
        s.write(c2 + connect)
        s.decode_sent(connect, log=True)
        s.finish_handshake()
        res = s.expect(lambda m: m.name in ("_result", "_error"), "_result for connect")
        if res.name != "_result":
            fail("_result for connect", f"{res.name} {res.code}", offending=res)
    elif mode == "c0-then-c1":
        s.send_raw(c0, "C0 alone")
        s.pump(0.05)
        s.send_raw(c1[:1000], "C1 part 1")
        s.send_raw(c1[1000:], "C1 part 2")
        s.c1 = c1
        s.read_s0s1s2()
        s.send_c2()
        s.connected()


def observe_version(ctx, version: int):
    """C0 with ``version``: the server answers S0 version 3 (and continues) or closes."""
    s = ctx.session(handshake=False)
    s.send_c0c1(version=version)
    try:
        s0 = s.read_s0(ctx.step_timeout)
    except Closed:
        return observed("closed", f"closed the connection on C0 version {version}")
    except StepTimeout:
        if s.wait_closed(0.1):
            return observed("closed", "closed the connection")
        return observed("silent", f"no S0 and no close within {ctx.step_timeout} s")
    if s0 == 3:
        return observed("s0-3", f"answered S0 version 3 to C0 version {version}")
    if s0 == version:
        return observed("s0-requested", f"answered S0 version {s0} (the version asked for)")
    return observed("s0-other", f"answered S0 version {s0}", offending=s.hs_in[:16])


def observe_digest(ctx, scheme: int):
    """A digest C1 (Flash Player key, scheme ``scheme``); judge S1's digest and S2's signature."""
    s = ctx.session(handshake=False)
    c1 = hs.make_challenge(time=0, version=hs.CLIENT_DIGEST_VERSION, key=hs.GENUINE_FP_KEY_PARTIAL, scheme=scheme,
                           rng=s.rng)
    s.send_c0c1(c1=c1, digest=True)
    _, s1, s2 = s.read_s0s1s2()
    found = hs.find_digest(s1, hs.GENUINE_FMS_KEY_PARTIAL)
    if not found:
        if hs.echo_matches(s2, c1):
            s.send_c2()
            s.connected()
            return observed("plain", "S1 has no FMS digest; S2 is the spec echo of C1")
        return observed("broken", "S1 has no FMS digest and S2 is not an echo of C1", offending=s2[:32])
    off = hs.digest_offset(c1, scheme)
    our_digest = c1[off:off + hs.DIGEST_SIZE]
    if not hs.validate_digest_response(s2, our_digest, hs.GENUINE_FMS_KEY):
        if hs.echo_matches(s2, c1):
            behaviour = "digest-s1-echo-s2"
        else:
            return observed("bad-signature", "S1 has a valid digest but S2 is not signed over our C1 digest",
                            offending=s2[-32:])
    else:
        behaviour = "digest"
    peer_digest = s1[found[1]:found[1] + hs.DIGEST_SIZE]
    c2 = hs.make_digest_response(peer_digest, hs.GENUINE_FP_KEY, time=int.from_bytes(s1[:4], "big"), time2=0,
                                 rng=s.rng)
    s.send_c2(c2, "C2 signed over S1's digest")
    s.connected()
    return observed(behaviour, f"S1 digest scheme {found[0]}")


def observe_c2(ctx, kind: str):
    """A C2 that is not the echo of S1; then connect."""
    s = ctx.session(handshake=False)
    digest = kind == "plain-echo-after-digest"
    with ctx.setup("C0+C1, S0+S1+S2"):
        s.send_c0c1(digest=digest)
        s.read_s0s1s2()
    if kind == "random":
        c2 = hs.C2.build({"time": 1, "time2": 2, "random_echo": s.rng.randbytes(hs.RANDOM_SIZE)})
        note = "C2 of random bytes (no echo of S1)"
    else:
        c2 = hs.make_echo_response(s.s1, time2=0)
        note = "digest C1, then a plain echo C2 (what ffmpeg does as a publisher)"
    s.send_c2(c2, note)
    try:
        res = s.connect()
    except Closed:
        return observed("closed", "the server closed the connection after our C2")
    except StepTimeout:
        return observed("stalled", "no answer to connect after our C2")
    return observed("accepted" if res.name == "_result" else "rejected", f"connect answered {res.name}")


def observe_version_no_digest(ctx):
    """C1 with zero = Flash Player version but random bytes without a digest."""
    s = ctx.session(handshake=False)
    c1 = hs.C1.build({"time": 0, "zero": hs.CLIENT_DIGEST_VERSION, "random": s.rng.randbytes(hs.RANDOM_SIZE)})
    s.send_c0c1(c1=c1)
    try:
        _, s1, s2 = s.read_s0s1s2()
    except Closed:
        return observed("closed", "closed the connection")
    if not hs.echo_matches(s2, c1):
        return observed("no-echo", "S2 does not echo C1", offending=s2[:32])
    s.send_c2()
    s.connected()
    return observed("echo", "spec handshake")


CASES = [
    Case("5.2.1-server-waits-for-c0", "5.2.1-server-waits-for-c0", check_waits_for_c0, {"quiet": 0.25}),
    Case("5.2.1-s2-after-c1-split-700", "5.2.1-s2-after-c1", check_s2_after_c1, {"split": 700, "quiet": 0.25},
         doc="C0 + 700 bytes of C1, pause, rest of C1 (a slow C1): S2 only after C1 is complete"),
    Case("5.2.1-s2-after-c1-split-1535", "5.2.1-s2-after-c1", check_s2_after_c1, {"split": 1535, "quiet": 0.2},
         doc="C1 one byte short, pause, then the last byte"),
    Case("5.2.2-s0-version-3", "5.2.2-s0-version", check_s0_version),
    Case("5.2.1-no-chunk-before-c2", "5.2.1-no-chunk-before-c2", check_no_chunk_before_c2, {"quiet": 0.3}),
    Case("5.2.4-s2-time2-read-time", "5.2.4-s2-time2", check_s2_time2, {"pause": 0.3},
         doc="C0 + 1000 bytes of C1, 300 ms, the rest of C1: S2 time2 = when the server read C1"),
    Case("5.2.3-s1-random-bytes", "5.2.3-s1-random", check_s1_random),
    Case("5.2.3-s1-s2-size", "5.2.3-s1-s2-size", check_s1_s2_size),
    Case("5.2.3-s1-zero-plain-c1", "5.2.3-s1-zero", check_s1_zero),
    Case("5.2.4-s2-echo-time-0", "5.2.4-s2-echo", check_s2_echo, {"c1_time": 0}),
    Case("5.2.4-s2-echo-time-nonzero", "5.2.4-s2-echo", check_s2_echo, {"c1_time": 0x12345678}),
    Case("5.2-byte-stream-bytewise", "5.2-byte-stream", check_byte_stream, {"mode": "bytewise"},
         doc="C0+C1 written one byte at a time (1537 segments)"),
    Case("5.2-byte-stream-c2-with-connect", "5.2-byte-stream", check_byte_stream, {"mode": "c2-with-connect"},
         doc="C2 and the connect command in one write: the bytes after C2 are the chunk stream"),
    Case("5.2-byte-stream-c2-with-70k-connect", "5.2-byte-stream", check_byte_stream,
         {"mode": "c2-with-big-connect"},
         doc="C2 and a 70 KB connect (549 chunks) in one write: a server must not bound what follows C2 in its read "
             "buffer below one legitimate message"),
    Case("5.2-byte-stream-c0-alone", "5.2-byte-stream", check_byte_stream, {"mode": "c0-then-c1"},
         doc="C0 alone, then C1 in two pieces"),
]

_VERSIONS = {
    4: "reserved (4-31)",
    6: "RTMPE (encrypted RTMP)",
    31: "reserved (4-31)",
    0x47: "'G': an HTTP request on the RTMP port (32-255 are not allowed)",
    255: "not allowed (32-255)",
}
for _v, _why in _VERSIONS.items():
    CASES.append(Case(
        f"5.2.2-unsupported-version-{_v}", "5.2.2-unsupported-version", observe_version, {"version": _v},
        accept={"closed": V.PASS, "s0-3": V.PASS,
                "s0-requested": (V.INFORMATIONAL, "the server speaks this version") if _v == 6 else V.FAIL,
                "s0-other": V.FAIL, "silent": (V.NON_STRICT, "neither answered nor closed")},
        doc=f"C0 version {_v}, {_why}: S0 version 3 or a closed connection; a second session must still work",
        healthy_after=True))

CASES += [
    Case("5.2.3-digest-handshake-scheme-0", "5.2.3-digest-handshake", observe_digest, {"scheme": 0},
         accept={"digest": V.PASS, "plain": (V.UNSUPPORTED, "spec echo handshake only"),
                 "digest-s1-echo-s2": (V.INFORMATIONAL, "S1 digest but S2 is the plain echo"),
                 "bad-signature": V.FAIL, "broken": V.FAIL},
         doc="digest offset base 8 (what ffmpeg and Flash Player use)"),
    Case("5.2.3-digest-handshake-scheme-1", "5.2.3-digest-handshake", observe_digest, {"scheme": 1},
         accept={"digest": V.PASS, "plain": (V.UNSUPPORTED, "spec echo handshake only"),
                 "digest-s1-echo-s2": (V.INFORMATIONAL, "S1 digest but S2 is the plain echo"),
                 "bad-signature": V.FAIL, "broken": V.FAIL},
         doc="digest offset base 772 (the second scheme Flash Player 10 uses)"),
    Case("5.2.4-c2-leniency-random", "5.2.4-c2-leniency", observe_c2, {"kind": "random"},
         accept={"accepted": V.PASS, "rejected": (V.FAIL, "connect refused after a C2 that is not an exact echo: "
                                                          "functionality limited (errata 3: SHOULD NOT)"),
                 "closed": V.FAIL, "stalled": V.FAIL},
         doc="a C2 of random bytes: errata 3 (and ffmpeg, nginx-rtmp, FMS): the session goes on unlimited",
         healthy_after=True),
    Case("5.2.4-c2-leniency-plain-echo-after-digest", "5.2.4-c2-leniency", observe_c2,
         {"kind": "plain-echo-after-digest"},
         accept={"accepted": V.PASS, "rejected": (V.FAIL, "connect refused after a plain echo C2: functionality "
                                                          "limited (errata 3: SHOULD NOT)"),
                 "closed": V.FAIL, "stalled": V.FAIL},
         doc="digest C1, then a plain echo C2 instead of a signed one: exactly what ffmpeg sends as a publisher",
         healthy_after=True),
    Case("5.2.3-c1-version-without-digest", "5.2.3-c1-version-without-digest", observe_version_no_digest,
         accept={"echo": V.PASS, "no-echo": V.FAIL, "closed": V.FAIL},
         doc="C1 zero field = 9.0.124.2 but no digest in it (old librtmp/Flash without FP9 handshake)",
         healthy_after=True),
]


@parametrize(CASES)
def test_handshake(case, conformance):
    conformance.run(case)


__all__ = ["CASES", "unsupported"]
