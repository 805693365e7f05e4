"""Regenerate golden/chunk and golden/control: chunk headers, chunk streams, control messages (builder-made).

Real-tool vectors (an ffmpeg -> nginx-rtmp session) live in golden/capture, made by tests/test_capture.py.
"""

from __future__ import annotations

from _common import Manifest

from rtmpspec import control
from rtmpspec.chunkheader import build_header
from rtmpspec.chunkwriter import ChunkWriter, chunk_message
from rtmpspec.message_format import Message
from rtmpspec.messages import SubMessage, build_aggregate


def headers(m: Manifest) -> None:
    for csid, form in [(2, "1byte"), (63, "1byte"), (64, "2byte"), (319, "2byte"), (320, "3byte"),
                       (65599, "3byte")]:
        for fmt in range(4):
            b = build_header(fmt, csid, 1000, 300, 9, 1)
            m.add(f"header-fmt{fmt}-csid{csid}", b, "chunk.header", "RTMP 5.3.1.1, 5.3.1.2",
                  note=f"{form} basic header")
    # hand-checked: Type 0, csid 3, timestamp 0, length 0x0000c8, type 20, msid 0
    m.add("header-type0-connect", bytes.fromhex("03000000" "0000c8" "14" "00000000"), "chunk.header",
          "RTMP 5.3.1.2.1", expected_by_hand={
              "basic": {"head": {"fmt": 0, "provisionalChunkStreamID": 3}, "chunkStreamIDMinus64": None},
              "message": {"timestamp": 0, "messageLength": 200, "messageTypeID": 20, "messageStreamID": 0,
                          "extendedTimestamp": None}})
    # hand-checked: 3-byte form little-endian (errata 4.1): 0x41 = fmt 1, csid form 1; 0x10 0x27 -> 10000 + 64
    m.add("header-type1-csid10064-le", bytes.fromhex("411027" "000021" "000100" "08"), "chunk.header",
          "errata 4.1", expected_by_hand={
              "basic": {"head": {"fmt": 1, "provisionalChunkStreamID": 1}, "chunkStreamIDMinus64": 10000},
              "message": {"timestampDelta": 33, "messageLength": 256, "messageTypeID": 8}})
    for fmt in range(3):
        b = build_header(fmt, 6, 0x01020304, 100, 9, 1)
        m.add(f"header-fmt{fmt}-extended-timestamp", b, "chunk.header", "RTMP 5.3.1.3")
    m.add("header-fmt3-extended-timestamp", bytes.fromhex("c6" "01020304"), "chunk.header_type3_extended",
          "RTMP 5.3.1.3, errata 5.1", expected_by_hand={"message": {"extendedTimestamp": 0x01020304}})


def streams(m: Manifest) -> None:
    w = ChunkWriter(128)
    msgs = [Message(8, bytes([i]) * 10, 23 * i, 1, 4) for i in range(4)]
    m.add("stream-audio-fmt0-2-3", b"".join(w.write(x) for x in msgs), "chunk.stream", "RTMP 5.3.2.1",
          note="RTMP 5.3.2.1 example 1 shape: Type 0, Type 2, Type 3, Type 3")
    w = ChunkWriter(128)
    m.add("stream-video-307-bytes", w.write(Message(9, bytes(range(256)) + bytes(51), 1000, 1, 6)), "chunk.stream",
          "RTMP 5.3.2.2", note="RTMP 5.3.2.2 example 2: one message over three chunks")
    m.add("stream-fmt3-extended-timestamp", chunk_message(Message(9, bytes(300), 0x01000000, 1, 6), 128),
          "chunk.stream", "RTMP 5.3.1.3, errata 5.1", note="extended timestamp repeated on every Type 3 chunk")
    w = ChunkWriter(128)
    m.add("stream-delta-extended", b"".join(w.write(x) for x in [
        Message(8, b"ab", 0, 1, 4), Message(8, b"cd", 0x01000000, 1, 4), Message(8, b"ef", 0x02000000, 1, 4)]),
        "chunk.stream", "RTMP 5.3.1.3", note="extended timestamp delta on Type 2, then Type 3")
    w = ChunkWriter(128)
    data = w.write(Message(1, control.build_set_chunk_size(4096), 0, 0, 2))
    w.set_chunk_size(4096)
    data += w.write(Message(9, bytes(5000), 40, 1, 6))
    m.add("stream-chunk-size-change", data, "chunk.stream", "RTMP 5.4.1",
          note="Set Chunk Size 4096 then a 5000-byte message in two chunks")
    a, b = chunk_message(Message(9, b"\x01" * 300, 0, 1, 6), 128), chunk_message(Message(8, b"\x02" * 300, 0, 1, 4), 128)
    m.add("stream-interleaved", a[:140] + b[:140] + a[140:269] + b[140:269] + b[269:] + a[269:], "chunk.stream",
          "RTMP 5.3.2", note="chunks of two chunk streams interleaved")
    part = build_header(0, 6, 0, 300, 9, 1) + bytes(128)
    abort = chunk_message(Message(2, control.build_abort(6), 0, 0, 2), 128)
    fresh = build_header(0, 6, 10, 3, 9, 1) + b"new"
    m.add("stream-abort", part + abort + fresh, "chunk.stream", "RTMP 5.4.2, errata 6")
    w = ChunkWriter(128)
    m.add("stream-timestamp-wrap", b"".join(w.write(x) for x in [
        Message(8, b"a", 0xFFFFFFF0, 1, 4), Message(8, b"b", 0x10, 1, 4)]), "chunk.stream", "errata 7")
    data = b"".join(chunk_message(Message(20, bytes([c % 256]) * 3, 0, 0, c), 128)
                    for c in (2, 63, 64, 319, 320, 65599))
    m.add("stream-csid-edges", data, "chunk.stream", "RTMP 5.3.1.1", note="csid 2, 63, 64, 319, 320, 65599")


def controls(m: Manifest) -> None:
    m.add("set-chunk-size-4096", control.build_set_chunk_size(4096), "control.set_chunk_size", "RTMP 5.4.1",
          expected_by_hand={"reserved": 0, "chunkSize": 4096})
    m.add("set-chunk-size-max", control.build_set_chunk_size(0x7FFFFFFF), "control.set_chunk_size", "RTMP 5.4.1")
    m.add("abort-csid-6", control.build_abort(6), "control.abort", "RTMP 5.4.2")
    m.add("ack-wrapped", control.build_ack(0xFFFFFFFF), "control.acknowledgement", "RTMP 5.4.3")
    m.add("window-ack-5000000", bytes.fromhex("004c4b40"), "control.window_ack_size", "RTMP 5.4.4",
          expected_by_hand={"acknowledgementWindowSize": 5000000})
    for lt in ("Hard", "Soft", "Dynamic"):
        m.add(f"set-peer-bandwidth-{lt.lower()}", control.build_set_peer_bandwidth(2500000, lt),
              "control.set_peer_bandwidth", "RTMP 5.4.5")
    uc = [("stream-begin", "StreamBegin", {"streamID": 1}), ("stream-eof", "StreamEOF", {"streamID": 1}),
          ("stream-dry", "StreamDry", {"streamID": 1}),
          ("set-buffer-length", "SetBufferLength", {"streamID": 1, "bufferLength": 3000}),
          ("stream-is-recorded", "StreamIsRecorded", {"streamID": 1}),
          ("ping-request", "PingRequest", {"timestamp": 123456}),
          ("ping-response", "PingResponse", {"timestamp": 123456}),
          ("buffer-empty", "BufferEmpty", {"streamID": 1}), ("buffer-ready", "BufferReady", {"streamID": 1})]
    for vid, et, data in uc:
        m.add(f"user-control-{vid}", control.build_user_control(et, **data), "control.user_control", "RTMP 7.1.7")
    m.add("user-control-set-buffer-length-by-hand", bytes.fromhex("0003" "00000001" "00000bb8"),
          "control.user_control", "RTMP 7.1.7",
          expected_by_hand={"eventType": "SetBufferLength", "eventData": {"streamID": 1, "bufferLength": 3000}})
    agg = build_aggregate([SubMessage(9, 1000, 0, b"\x17\x01\x00\x00\x00abc"), SubMessage(8, 1010, 0, b"\xaf\x01xy")])
    m.add("aggregate-two", agg, "messages.aggregate", "RTMP 7.1.6")


if __name__ == "__main__":
    ch = Manifest("chunk")
    headers(ch)
    streams(ch)
    ch.write()
    co = Manifest("control")
    controls(co)
    co.write()
