"""The chunk stream as a streaming codec for the golden vectors and the dissector: bytes <-> every chunk header
(as on the wire) plus the reassembled messages, with exact round trips (RTMP 5.3)."""

from __future__ import annotations

from .chunk import ChunkHeader
from .chunkstream import ChunkReader
from .registry import Codec, register

# -- registry: the chunk stream as a streaming codec ------------------------------------------------------

def _parse_stream(data: bytes) -> dict:
    return _parse_pieces([data])


def _parse_pieces(pieces) -> dict:
    r = ChunkReader(record_chunks=True, max_chunk_streams=65600)
    msgs = []
    for p in pieces:
        r.receive_data(p)
        msgs.extend(r)
    return {
        "chunks": [dict({"offset": c.offset, "fmt": c.fmt, "csid": c.csid, "header": c.header_fields,
                         "payload_length": c.payload_length},
                        **({"discarded_payload": c.payload} if c.discarded else {}))
                   for c in r.chunks],
        "messages": [{"csid": m.csid, "msid": m.msid, "timestamp": m.timestamp, "type": m.type_id,
                      "payload": m.payload} for m in msgs],
        "unconsumed": r.pending,
    }


def _build_stream(value: dict) -> bytes:
    """Rebuild the exact bytes from the recorded chunk headers and the message payloads."""
    from .jsonable import to_jsonable  # noqa: F401  (kept symmetrical with parse)

    out = bytearray()
    # payload bytes per csid, consumed in order
    queues: dict[int, list[bytes]] = {}
    for m in value["messages"]:
        p = m["payload"]
        if isinstance(p, dict):
            p = bytes.fromhex(p["$bytes"])
        queues.setdefault(m["csid"], []).append(p)
    cursor: dict[int, int] = {}
    ext3: dict[int, bool] = {}
    for c in value["chunks"]:
        h = c["header"]
        fmt = c["fmt"]
        built = ChunkHeader.build(h, type3_extended=h["message"].get("extendedTimestamp") is not None
                                  if fmt == 3 else False)
        if fmt < 3:
            ext3[c["csid"]] = h["message"].get("extendedTimestamp") is not None
        out += built
        if "discarded_payload" in c:  # a chunk of a message that an Abort discarded
            p = c["discarded_payload"]
            out += bytes.fromhex(p["$bytes"]) if isinstance(p, dict) else p
            continue
        q = queues[c["csid"]]
        pos = cursor.get(c["csid"], 0)
        cur = q[0]
        out += cur[pos:pos + c["payload_length"]]
        pos += c["payload_length"]
        if pos >= len(cur):
            q.pop(0)
            pos = 0
        cursor[c["csid"]] = pos
    return bytes(out)


register(Codec("chunk.stream", _parse_stream, _build_stream, "RTMP 5.3", streaming=True,
               parse_pieces=_parse_pieces))
