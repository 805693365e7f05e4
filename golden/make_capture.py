"""Golden chunk streams captured from a real session: ffmpeg 5.1 publishing to nginx-rtmp 1.2.2 and a second
ffmpeg playing it back, both through the recording loopback relay of tests/relay.py.

    python golden/make_capture.py             # rebuild golden/capture/manifest.json from the committed .bin files
    python golden/make_capture.py --capture   # redo the capture (ffmpeg, nginx + rtmp module) and re-cut the .bin files

Every vector is one direction of one connection *after the handshake* (codec ``chunk.stream``; the handshakes
are covered by golden/handshake). Long directions are cut at a message boundary, after the first few coded
audio and video frames, so each file stays well under 40 KB. ``expected`` is recomputed from the bytes; the
tests (tests/test_capture.py) also check these files against tshark's RTMP dissector.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "golden" / "capture"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _common import Manifest  # noqa: E402

from rtmpspec.chunkreader import ChunkReader  # noqa: E402
from rtmpspec.sentinels import NEED_DATA  # noqa: E402

SOURCE = "ffmpeg 5.1 -> nginx-rtmp 1.2.2 (captured)"
SECTION = "RTMP 5.3; RTMP 7.2"
HANDSHAKE = 1 + 2 * 1536
MAX_VECTOR = 40 * 1024
CODED_FRAMES = 3  # keep this many coded video frames and as many coded audio frames in a cut vector

# id -> (role, direction, cut?, note)
VECTORS = {
    "ffmpeg-publish-c2s-head": (
        "publish", "c2s", True,
        "ffmpeg publishing, client->server, cut after the first coded frames: connect, Set Chunk Size 4096, "
        "releaseStream, FCPublish, createStream, publish, @setDataFrame onMetaData, AVC and AAC sequence "
        "headers, first key frame (one message over two 4096-byte chunks) and following frames"),
    "nginx-publish-s2c": (
        "publish", "s2c", False,
        "nginx-rtmp to the publisher, server->client, whole session: Window Ack Size, Set Peer Bandwidth, "
        "Set Chunk Size, _result (connect), _result (createStream), onStatus Publish.Start, then "
        "onStatus Unpublish.Success"),
    "ffmpeg-play-c2s": (
        "play", "c2s", False,
        "ffmpeg playing, client->server, whole session: connect, Window Ack Size, createStream, getStreamLength, "
        "play, Set Buffer Length (User Control 3), deleteStream"),
    "nginx-play-s2c-head": (
        "play", "s2c", True,
        "nginx-rtmp to the player, server->client, cut after the first coded frames: control burst, _result "
        "(connect, createStream), Stream Begin, onStatus Play.Start, |RtmpSampleAccess, onMetaData, AVC and AAC "
        "sequence headers, key frame, following frames"),
}


def _is_coded(type_id: int, payload: bytes) -> bool:
    """A coded audio/video frame (not a sequence header or end of sequence)."""
    if type_id == 9:
        return len(payload) > 5 and payload[1] == 1
    if type_id == 8:
        return len(payload) > 2 and payload[1] == 1
    return False


def cut_head(stream: bytes, frames: int = CODED_FRAMES) -> bytes:
    """The prefix of a post-handshake chunk stream that ends with the message completing the first ``frames``
    coded video and ``frames`` coded audio frames."""
    r = ChunkReader(strict=False)
    r.receive_data(stream)
    seen = {8: 0, 9: 0}
    while True:
        m = r.next_message()
        if m is NEED_DATA:
            raise ValueError(f"stream has fewer than {frames} coded audio and video frames")
        if _is_coded(m.type_id, m.payload):
            seen[m.type_id] += 1
        if min(seen.values()) >= frames:
            return stream[:r.offset]


def capture(workdir: Path) -> None:
    """Redo the real capture and cut the vectors into golden/capture/."""
    from relay import capture_session

    cap = capture_session(workdir, stream="golden")
    if cap.publish_rc != 0:
        raise SystemExit(f"ffmpeg publisher exited with {cap.publish_rc}")
    OUT.mkdir(parents=True, exist_ok=True)
    for vid, (role, direction, cut, _note) in VECTORS.items():
        conn = cap.publish if role == "publish" else cap.play
        stream = conn.stream(direction)[HANDSHAKE:]
        data = cut_head(stream) if cut else stream
        (OUT / f"{vid}.bin").write_bytes(data)
        print(f"{vid}: {len(data)} bytes")


def rebuild() -> None:
    m = Manifest("capture")
    for vid, (_role, _direction, _cut, note) in VECTORS.items():
        data = (OUT / f"{vid}.bin").read_bytes()
        if len(data) > MAX_VECTOR:
            raise SystemExit(f"{vid}: {len(data)} bytes is over the {MAX_VECTOR}-byte budget")
        m.add(vid, data, "chunk.stream", SECTION, source=SOURCE, note=note)
    m.write()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--capture", action="store_true", help="redo the capture with ffmpeg and nginx-rtmp first")
    args = p.parse_args()
    if args.capture:
        with tempfile.TemporaryDirectory(prefix="rtmp-capture-") as tmp:
            capture(Path(tmp))
    rebuild()


if __name__ == "__main__":
    main()
