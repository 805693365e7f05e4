"""Decode one direction of a raw RTMP TCP stream into JSON-able dicts (the ``dump`` command's engine)."""

from __future__ import annotations

from collections.abc import Iterator

from . import control
from .chunkreader import ChunkReader
from .errors import ProtocolError, RTMPError
from .jsonable import to_jsonable
from .message_format import COMMAND_TYPES, DATA_TYPES, Message, MessageType
from .messages import decode_values
from .sentinels import NEED_DATA

HANDSHAKE_LENGTH = 1 + 1536 + 1536  # C0+C1+C2 or S0+S1+S2 (RTMP 5.2)


def describe_message(msg: Message) -> dict:
    """One message as the dissector prints it."""
    out = {"csid": msg.csid, "msid": msg.msid, "timestamp": msg.timestamp, "type": msg.type_id,
           "length": len(msg.payload)}
    try:
        out["type_name"] = MessageType(msg.type_id).name
    except ValueError:
        out["type_name"] = "UNKNOWN"
    t = msg.type_id
    try:
        if t in COMMAND_TYPES or t in DATA_TYPES:
            out["values"] = to_jsonable(decode_values(t, msg.payload))
        elif t == MessageType.AUDIO:
            from .media import describe_audio

            out["tag"] = to_jsonable(describe_audio(msg.payload))
        elif t == MessageType.VIDEO:
            from .media import describe_video

            out["tag"] = to_jsonable(describe_video(msg.payload))
        elif t in control.CONTROL_SCHEMAS:
            out["control"] = to_jsonable(control.CONTROL_SCHEMAS[t].parse(msg.payload))
        elif t == MessageType.AGGREGATE:
            from .messages import split_aggregate

            out["submessages"] = [describe_message(m) for m in split_aggregate(msg)]
    except RTMPError as exc:
        out["decode_error"] = str(exc)
    except Exception as exc:  # a payload the schemas reject: report, keep going
        out["decode_error"] = f"{type(exc).__name__}: {exc}"
    return out


def describe_handshake(data: bytes, direction: str = "client") -> dict:
    """C0/C1/C2 (or S0/S1/S2) as the dissector prints it: versions, times, digest; random bytes left out."""
    from . import registry

    side = "c" if direction == "client" else "s"
    v = registry.get("handshake.client" if side == "c" else "handshake.server").parse(bytes(data[:HANDSHAKE_LENGTH]))
    p0, p1, p2 = v[f"{side}0"], v[f"{side}1"], v[f"{side}2"]
    return {"direction": direction, f"{side}0": {"version": p0["version"]},
            f"{side}1": {"time": p1["time"], "zero": p1["zero"]},
            f"{side}2": {"time": p2["time"], "time2": p2["time2"]},
            "digest": to_jsonable(v["digest"])}


def dissect_stream(data: bytes, *, direction: str = "client", handshake: bool = True,
                   strict: bool = False) -> Iterator[dict]:
    """Yield a dict per message; raise ProtocolError (after yielding what decoded) on bad input.

    ``direction`` only labels the handshake (C0/C1/C2 or S0/S1/S2); both directions use the same layout."""
    offset = 0
    if handshake:
        if len(data) < HANDSHAKE_LENGTH:
            raise ProtocolError(f"stream ends inside the handshake ({len(data)} of {HANDSHAKE_LENGTH} bytes)",
                                offset=len(data), section="RTMP 5.2")
        info = describe_handshake(data[:HANDSHAKE_LENGTH], direction)
        yield {"handshake": info}
        offset = HANDSHAKE_LENGTH
    reader = ChunkReader(strict=strict, offset=offset, max_chunk_streams=65600)
    reader.receive_data(data[offset:])
    while True:
        msg = reader.next_message()
        if msg is NEED_DATA:
            break
        yield describe_message(msg)
    if reader.pending:
        raise ProtocolError(f"stream ends inside a chunk ({reader.pending} bytes left over)", offset=reader.offset,
                            section="RTMP 5.3.1")
