"""``python -m rtmpspec dump`` and ``python -m rtmpspec flv`` run as subprocesses on real bytes: the captured
ffmpeg <-> nginx-rtmp streams of golden/capture, the ffmpeg-made FLV of golden/flv, and (interop) a live capture
through the relay of tests/relay.py with the FLV its player wrote. Bad input: a clear message with the byte
offset on stderr, a non-zero exit status, and every message decoded before the error still on stdout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

try:
    from tests import peers, relay
except ImportError:
    import peers
    import relay

from rtmpspec.chunkreader import ChunkReader
from rtmpspec.dissect import HANDSHAKE_LENGTH
from rtmpspec.sentinels import NEED_DATA

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT / "golden" / "capture"
FFMPEG_FLV = ROOT / "golden" / "flv" / "ffmpeg-h264-aac-160x120.bin"
TIMEOUT = 60
HEADER_FIELDS = ("csid", "msid", "timestamp", "type", "length")


def rtmpspec(*args: str | Path) -> tuple[int, list[dict], str]:
    p = subprocess.run([sys.executable, "-m", "rtmpspec", *map(str, args)], cwd=ROOT, capture_output=True,
                       text=True, timeout=TIMEOUT)
    return p.returncode, [json.loads(line) for line in p.stdout.splitlines()], p.stderr


def vector(vid: str) -> tuple[bytes, dict]:
    manifest = json.loads((CAPTURE / "manifest.json").read_text())
    v = next(v for v in manifest["vectors"] if v["id"] == vid)
    return (CAPTURE / v["file"]).read_bytes(), v


def complete_messages(data: bytes, base: int = 0) -> list[tuple]:
    """(csid, msid, timestamp, type, length) of every message complete in ``data`` (lenient reader)."""
    r = ChunkReader(strict=False, offset=base, max_chunk_streams=65600)
    r.receive_data(data)
    out = []
    try:
        while (m := r.next_message()) is not NEED_DATA:
            out.append((m.csid, m.msid, m.timestamp, m.type_id, len(m.payload)))
    except Exception:
        pass
    return out


def keys(lines: list[dict]) -> list[tuple]:
    return [tuple(d[k] for k in HEADER_FIELDS) for d in lines]


def error_offset(stderr: str) -> int:
    assert stderr.startswith("error: "), stderr
    assert "byte offset " in stderr, stderr
    return int(stderr.split("byte offset ")[1].split()[0].rstrip(","))


# -- dump on the captured vectors (post-handshake chunk streams) -------------------------------------------------

@pytest.mark.parametrize("vid", ["ffmpeg-publish-c2s-head", "nginx-publish-s2c", "ffmpeg-play-c2s",
                                 "nginx-play-s2c-head"])
def test_dump_captured_vector(vid):
    data, v = vector(vid)
    rc, lines, err = rtmpspec("dump", CAPTURE / v["file"], "--no-handshake")
    assert rc == 0 and err == ""
    want = [(m["csid"], m["msid"], m["timestamp"], m["type"], len(bytes.fromhex(m["payload"]["$bytes"])))
            for m in v["expected"]["messages"]]
    assert keys(lines) == want
    for d in lines:
        assert "decode_error" not in d, d
        if d["type"] in (15, 17, 18, 20):
            assert isinstance(d["values"], list) and d["values"], d
        elif d["type"] in (8, 9):
            assert "tag" in d, d
        elif d["type"] in (1, 3, 4, 5, 6):
            assert "control" in d, d


def test_dump_publish_commands_and_media():
    rc, lines, _ = rtmpspec("dump", CAPTURE / "ffmpeg-publish-c2s-head.bin", "--no-handshake")
    assert rc == 0
    connect = lines[0]
    assert (connect["type"], connect["csid"], connect["msid"]) == (20, 3, 0)
    name, tid, obj = connect["values"][:3]
    assert (name, tid) == ("connect", 1.0)
    assert obj["app"] == "live"
    assert obj["tcUrl"].startswith("rtmp://127.0.0.1:") and obj["tcUrl"].endswith("/live")
    assert obj["flashVer"].startswith("FMLE/3.0") and obj["type"] == "nonprivate"
    assert lines[1]["control"]["chunkSize"] == 4096  # ffmpeg's Set Chunk Size, applied to what follows
    cmds = [d["values"][0] for d in lines if d["type"] in (18, 20)]
    assert cmds == ["connect", "releaseStream", "FCPublish", "createStream", "publish", "@setDataFrame"]
    publish = next(d for d in lines if d["type"] == 20 and d["values"][0] == "publish")
    assert publish["msid"] == 1 and publish["values"][4] == "live" and publish["values"][3]  # stream key
    meta = next(d for d in lines if d["type"] == 18)
    assert meta["values"][1] == "onMetaData"
    props = meta["values"][2]["properties"]
    assert (props["width"], props["height"], props["videocodecid"], props["audiocodecid"]) == (320, 240, 7, 10)
    video = [d["tag"] for d in lines if d["type"] == 9]
    audio = [d["tag"] for d in lines if d["type"] == 8]
    assert video[0]["codec"] == "Avc" and video[0]["is_sequence_header"]
    assert video[1]["frame_type_name"] == "KeyFrame" and video[1]["is_keyframe"]
    assert audio[0]["codec"] == "Aac" and audio[0]["is_sequence_header"]
    assert all(t["sound_rate_hz"] == 44100 for t in audio)


def test_dump_server_side_of_play():
    rc, lines, _ = rtmpspec("dump", CAPTURE / "nginx-play-s2c-head.bin", "--no-handshake")
    assert rc == 0
    assert [d["type_name"] for d in lines[:3]] == ["WINDOW_ACK_SIZE", "SET_PEER_BANDWIDTH", "SET_CHUNK_SIZE"]
    assert lines[0]["control"]["acknowledgementWindowSize"] == 5000000
    result = lines[3]["values"]
    assert result[0] == "_result" and result[2]["fmsVer"] == "FMS/3,0,1,123"
    assert result[3]["code"] == "NetConnection.Connect.Success"
    by_name = {d["values"][0]: d for d in lines if d["type"] in (18, 20)}
    assert by_name["onStatus"]["values"][3]["code"] == "NetStream.Play.Start"
    assert by_name["|RtmpSampleAccess"]["values"][1:] == [True, True]
    assert by_name["onMetaData"]["values"][1]["Server"].startswith("NGINX RTMP")
    stream_begin = next(d for d in lines if d["type"] == 4)
    assert stream_begin["control"]["eventType"] == "StreamBegin"


# -- dump on bad input -----------------------------------------------------------------------------------------------

def test_dump_truncated_in_the_middle_of_a_chunk(tmp_path):
    data, _ = vector("ffmpeg-publish-c2s-head")
    cut = data[:len(data) - 100]
    f = tmp_path / "cut.bin"
    f.write_bytes(cut)
    rc, lines, err = rtmpspec("dump", f, "--no-handshake")
    assert rc != 0
    assert "inside a chunk" in err
    # the offset is where the incomplete chunk starts; everything complete before it was printed
    assert keys(lines) == complete_messages(cut)
    off = error_offset(err)
    assert complete_messages(cut[:off]) == keys(lines)
    assert 0 < off < len(cut)


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
def test_dump_huge_message_length(tmp_path, strict):
    """The @setDataFrame message's fmt 0 header claims 16777215 bytes: the reader then takes payload bytes for
    chunk headers and stops at the first impossible one. The 6 messages before it are printed."""
    data, v = vector("ffmpeg-publish-c2s-head")
    r = ChunkReader(record_chunks=True)
    r.receive_data(data)
    msgs = list(r)
    idx = next(i for i, m in enumerate(msgs) if m.type_id == 18)
    chunk = next(c for c in r.chunks if c.csid == msgs[idx].csid and c.fmt == 0 and c.offset > 0)
    bad = bytearray(data)
    hdr = chunk.offset + 1  # one-byte basic header, then timestamp(3), length(3)
    bad[hdr + 3:hdr + 6] = b"\xff\xff\xff"
    f = tmp_path / "huge.bin"
    f.write_bytes(bytes(bad))
    args = ["dump", f, "--no-handshake"] + (["--strict"] if strict else [])
    rc, lines, err = rtmpspec(*args)
    assert rc != 0, lines
    off = error_offset(err)
    assert off > chunk.offset
    assert keys(lines)[:idx] == [(m.csid, m.msid, m.timestamp, m.type_id, len(m.payload)) for m in msgs[:idx]]
    assert all(k[3] != 18 for k in keys(lines))


def test_dump_fmt1_on_a_new_chunk_stream(tmp_path):
    """A Type 1 header on a chunk stream never seen: an error with --strict, tolerated by default (the lenient
    mode accepts it as the start of the chunk stream)."""
    data, _ = vector("ffmpeg-publish-c2s-head")
    r = ChunkReader()
    r.receive_data(data)
    r.next_message()
    boundary = r.offset  # after connect
    bad = data[:boundary] + bytes([0x40 | 9]) + bytes(7) + data[boundary:]
    f = tmp_path / "fmt1.bin"
    f.write_bytes(bad)
    rc, lines, err = rtmpspec("dump", f, "--no-handshake", "--strict")
    assert rc != 0
    assert error_offset(err) == boundary
    assert "chunk stream 9" in err and "fmt 1" in err and "RTMP 5.3.1.2" in err
    assert [d["values"][0] for d in lines] == ["connect"]
    rc, lines, err = rtmpspec("dump", f, "--no-handshake")
    assert rc == 0 and err == ""
    assert (lines[1]["csid"], lines[1]["length"]) == (9, 0)
    assert len(lines) == len(complete_messages(data)) + 1


def test_dump_stream_shorter_than_the_handshake(tmp_path):
    f = tmp_path / "short.bin"
    f.write_bytes(b"\x03" + bytes(1000))
    rc, lines, err = rtmpspec("dump", f)
    assert rc != 0 and lines == []
    assert "handshake" in err and error_offset(err) == 1001


# -- flv on ffmpeg-made files ------------------------------------------------------------------------------------------

def test_flv_on_ffmpeg_file():
    rc, lines, err = rtmpspec("flv", FFMPEG_FLV)
    assert rc == 0 and err == ""
    assert lines[0]["kind"] == "header" and lines[0]["audio"] and lines[0]["video"]
    tags = lines[1:]
    manifest = json.loads((FFMPEG_FLV.parent / "manifest.json").read_text())
    v = next(v for v in manifest["vectors"] if v["file"] == FFMPEG_FLV.name)
    assert [(t["type"], t["size"]) for t in tags] == [(x["header"]["TagFlags"]["TagType"], x["header"]["DataSize"])
                                                      for x in v["expected"]["tags"]]
    assert tags[0]["script"][0] == "onMetaData"
    assert all("video" in t for t in tags if t["type"] == 9) and all("audio" in t for t in tags if t["type"] == 8)
    offsets = [t["offset"] for t in tags]
    assert offsets[0] == 13 and offsets == sorted(offsets)


def test_flv_truncated(tmp_path):
    data = FFMPEG_FLV.read_bytes()
    rc, lines, _ = rtmpspec("flv", FFMPEG_FLV)
    tags = lines[1:]
    victim = tags[len(tags) // 2]
    cut = data[:victim["offset"] + 11 + victim["size"] // 2]  # inside the tag's data
    f = tmp_path / "cut.flv"
    f.write_bytes(cut)
    rc, got, err = rtmpspec("flv", f)
    assert rc != 0
    assert error_offset(err) == victim["offset"]
    assert got == lines[:1 + len(tags) // 2]  # the header and every tag before the cut one


# -- interop: a live capture through the relay, with its handshakes, and the player's FLV ---------------------------

@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> relay.Capture:
    if shutil.which("ffmpeg") is None or peers.nginx_binary() is None:
        pytest.skip("ffmpeg, nginx or its rtmp module is not installed")
    return relay.shared_capture(tmp_path_factory)


DIRECTIONS = [("publish", relay.C2S), ("publish", relay.S2C), ("play", relay.C2S), ("play", relay.S2C)]


@pytest.mark.interop
@pytest.mark.parametrize("role,direction", DIRECTIONS, ids=[f"{r}-{d}" for r, d in DIRECTIONS])
def test_dump_live_capture(capture, tmp_path, role, direction):
    conn = capture.publish if role == "publish" else capture.play
    data = conn.stream(direction)
    f = tmp_path / f"{role}-{direction}.bin"
    f.write_bytes(data)
    side = "client" if direction == relay.C2S else "server"
    rc, lines, err = rtmpspec("dump", f, "--from", side, "--show-handshake")
    assert rc == 0 and err == ""
    hs = lines[0]["handshake"]
    assert hs["direction"] == side and hs[f"{side[0]}0"]["version"] == 3 and hs["digest"] is not None
    assert keys(lines[1:]) == complete_messages(data[HANDSHAKE_LENGTH:], HANDSHAKE_LENGTH)
    rc, plain, _ = rtmpspec("dump", f, "--from", side)
    assert plain == lines[1:]
    first = plain[0]
    if side == "server":
        assert first["type_name"] == "WINDOW_ACK_SIZE"
    else:
        assert first["values"][0] == "connect" and first["values"][2]["app"] == "live"
        assert first["values"][2]["tcUrl"] == f"rtmp://127.0.0.1:{capture.relay_port}/live"


@pytest.mark.interop
def test_dump_live_capture_truncated(capture, tmp_path):
    data = capture.publish.stream(relay.C2S)
    cut = data[:len(data) * 2 // 3]
    f = tmp_path / "cut.bin"
    f.write_bytes(cut)
    rc, lines, err = rtmpspec("dump", f)
    expected = complete_messages(cut[HANDSHAKE_LENGTH:], HANDSHAKE_LENGTH)
    if rc == 0:  # the cut fell exactly on a chunk boundary
        assert keys(lines) == expected
        return
    off = error_offset(err)
    assert HANDSHAKE_LENGTH <= off < len(cut)  # offsets count from the start of the file, handshake included
    assert keys(lines) == expected


@pytest.mark.interop
def test_flv_on_player_output(capture, tmp_path):
    """The player's out.flv (ffmpeg -c copy) holds the audio/video messages of its connection, tag for tag."""
    rc, lines, err = rtmpspec("flv", capture.flv_path)
    assert rc == 0 and err == ""
    tags = [t for t in lines[1:] if t["type"] in (8, 9)]
    f = tmp_path / "play-s2c.bin"
    f.write_bytes(capture.play.stream(relay.S2C))
    rc, msgs, _ = rtmpspec("dump", f, "--from", "server")
    assert rc == 0
    media = [m for m in msgs if m["type"] in (8, 9)]

    def norm(items, size_key):
        t0 = min(x["timestamp"] for x in items)
        return Counter((x["type"], x["timestamp"] - t0, x[size_key]) for x in items)

    assert norm(tags, "size") == norm(media, "length")
    assert sum(t["type"] == 9 and t["video"]["is_keyframe"] for t in tags) == \
        sum(m["type"] == 9 and m["tag"]["is_keyframe"] for m in media) >= 3
