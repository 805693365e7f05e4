"""Write golden/handshake/*.bin and manifest.json (RTMP 5.2 handshake).

    python golden/make_handshake.py             # rebuild our vectors (deterministic), keep captured ones
    python golden/make_handshake.py --capture   # also capture from real ffmpeg and nginx-rtmp (loopback)

Builder vectors come from our own state machines with fixed seeds. Captured vectors ("source" names the tool)
are kept as they are; only their "expected" is recomputed from the bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "golden" / "handshake"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from rtmpspec import registry  # noqa: E402
from rtmpspec.handshake import (  # noqa: E402
    GENUINE_FP_KEY_PARTIAL,
    NEED_DATA,
    PACKET_SIZE,
    HandshakeClient,
    HandshakeServer,
    make_challenge,
)
from rtmpspec.jsonable import to_jsonable  # noqa: E402

SEED = 20240501
FFMPEG_SOURCE = "ffmpeg 5.1"
NGINX_SOURCE = "nginx-rtmp 1.2.2"


def _exchange(client: HandshakeClient, server: HandshakeServer) -> tuple[bytes, bytes]:
    """Run both machines against each other in memory; return (client flight, server flight)."""
    c_out = client.data_to_send()
    server.receive_data(c_out)
    while server.next_event() is not NEED_DATA:
        pass
    s_out = server.data_to_send()
    client.receive_data(s_out)
    while not client.complete:
        client.next_event()
    c2 = client.data_to_send()
    server.receive_data(c2)
    while not server.complete:
        server.next_event()
    return c_out + c2, s_out


def builder_vectors() -> list[tuple[dict, bytes]]:
    rng = random.Random(SEED)
    out: list[tuple[dict, bytes]] = []

    def add(id_: str, codec: str, section: str, data: bytes, note: str) -> None:
        out.append(({"id": id_, "codec": codec, "section": section, "source": "builder", "note": note}, data))

    client = HandshakeClient(digest=False, now_ms=1000, rng=random.Random(rng.random()))
    server = HandshakeServer(digest=False, now_ms=2000, rng=random.Random(rng.random()))
    c, s = _exchange(client, server)
    add("simple-c0c1c2", "handshake.client", "RTMP 5.2", c, "spec handshake: C1 zero = 0, C2 echoes S1")
    add("simple-s0s1s2", "handshake.server", "RTMP 5.2", s, "spec handshake: S2 echoes C1")
    add("simple-c0", "handshake.c0", "RTMP 5.2.2", c[:1], "version 3")
    add("simple-c1", "handshake.c1", "RTMP 5.2.3", c[1 : 1 + PACKET_SIZE], "plain C1")
    add("simple-c2", "handshake.c2", "RTMP 5.2.4", c[1 + PACKET_SIZE :], "C2 echoing S1")

    client = HandshakeClient(digest=True, scheme=0, now_ms=1000, rng=random.Random(rng.random()))
    server = HandshakeServer(digest=True, now_ms=2000, rng=random.Random(rng.random()))
    c, s = _exchange(client, server)
    add("digest-c0c1c2", "handshake.client", "RTMP 5.2", c, "digest handshake: C1 digest scheme 0, C2 signed")
    add("digest-s0s1s2", "handshake.server", "RTMP 5.2", s, "digest handshake: S1 digest scheme 0, S2 signed")

    for scheme in (0, 1):
        c1 = make_challenge(
            time=0,
            version=0x09007C02,
            key=GENUINE_FP_KEY_PARTIAL,
            scheme=scheme,
            rng=random.Random(rng.random()),
        )
        add(
            f"digest-scheme{scheme}-c0c1",
            "handshake.c0c1",
            "RTMP 5.2.3",
            b"\x03" + c1,
            f"C0+C1 with a Flash Player digest at scheme {scheme} (base {8 if scheme == 0 else 772})",
        )
    return out


def capture_ffmpeg_c0c1() -> bytes:
    from peers import start_ffmpeg_publish, stop

    with socket.socket() as srv, tempfile.TemporaryDirectory() as tmp:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.settimeout(30)
        proc = start_ffmpeg_publish(
            f"rtmp://127.0.0.1:{srv.getsockname()[1]}/live/x", Path(tmp) / "ffmpeg.log"
        )
        try:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(10)
                data = b""
                while len(data) < 1 + PACKET_SIZE:
                    piece = conn.recv(65536)
                    if not piece:
                        raise RuntimeError("ffmpeg closed early")
                    data += piece
        finally:
            stop(proc)
    return data[: 1 + PACKET_SIZE]


def capture_nginx_s0s1s2() -> bytes:
    """nginx-rtmp's answer to a scheme-0 digest C0+C1 (our client's)."""
    from peers import start_nginx_rtmp

    with tempfile.TemporaryDirectory() as tmp:
        port, stop = start_nginx_rtmp(tmp)
        try:
            client = HandshakeClient(digest=True, rng=random.Random(SEED))
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(client.data_to_send())
                data = b""
                while len(data) < 1 + 2 * PACKET_SIZE:
                    piece = sock.recv(65536)
                    if not piece:
                        raise RuntimeError("nginx closed early")
                    data += piece
        finally:
            stop()
    return data


CAPTURED = {
    "ffmpeg-c0c1": (
        "handshake.c0c1",
        "RTMP 5.2.3",
        FFMPEG_SOURCE,
        "C0+C1 ffmpeg sent when publishing to rtmp://127.0.0.1/live/x (digest scheme 0, version 9.0.124.2)",
        capture_ffmpeg_c0c1,
    ),
    "nginx-s0s1s2": (
        "handshake.server",
        "RTMP 5.2",
        NGINX_SOURCE,
        "S0+S1+S2 nginx-rtmp sent to a digest C1 (S1 digest scheme 0; S2 random + signature, no echo)",
        capture_nginx_s0s1s2,
    ),
}


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__).parse_known_args(argv)[1]
    capture = "--capture" in args
    OUT.mkdir(parents=True, exist_ok=True)
    vectors = []
    for meta, data in builder_vectors():
        vectors.append((meta, data))
    for id_, (codec, section, source, note, grab) in CAPTURED.items():
        path = OUT / f"{id_}.bin"
        if capture:
            path.write_bytes(grab())
        if not path.exists():
            print(f"skip {id_}: not captured yet (run with --capture)", file=sys.stderr)
            continue
        meta = {"id": id_, "codec": codec, "section": section, "source": source, "note": note}
        vectors.append((meta, path.read_bytes()))

    manifest = []
    for meta, data in vectors:
        file = f"{meta['id']}.bin"
        if meta["source"] == "builder":
            (OUT / file).write_bytes(data)
        codec = registry.get(meta["codec"])
        value = codec.parse(data)
        assert codec.build(value) == data, meta["id"]
        entry = {
            "id": meta["id"],
            "file": file,
            "codec": meta["codec"],
            "section": meta["section"],
            "source": meta["source"],
            "expected": to_jsonable(value),
            "note": meta["note"],
        }
        manifest.append(entry)
    (OUT / "manifest.json").write_text(json.dumps({"vectors": manifest}, indent=1) + "\n")
    print(f"wrote {len(manifest)} vectors to {OUT}")


if __name__ == "__main__":
    main()
