"""Crafted chunk layouts, built from the rtmpspec chunk header schemas (RTMP 5.3.1, errata 4-5).

:func:`rtmpspec.chunkstream.build_header` always picks the shortest basic header; here the basic header form can
be forced (``form=2`` or ``3``: csid 64..319 may be written in either, RTMP 5.3.1.1), and a message can be cut into
chunks with any first-chunk fmt and any chunk size.
"""

from __future__ import annotations

from rtmpspec.chunk import (
    EXTENDED_TIMESTAMP_MARK,
    ChunkBasicHeader,
    ChunkMessageHeaderType0,
    ChunkMessageHeaderType1,
    ChunkMessageHeaderType2,
    ChunkMessageHeaderType3,
    basic_header_fields,
)


def basic_header(fmt: int, csid: int, form: int | None = None) -> bytes:
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
    ext = timestamp >= EXTENDED_TIMESTAMP_MARK
    field = EXTENDED_TIMESTAMP_MARK if ext else timestamp
    ext_value = timestamp if ext else None
    if fmt == 0:
        return ChunkMessageHeaderType0.build({"timestamp": field, "messageLength": length, "messageTypeID": type_id,
                                              "messageStreamID": msid, "extendedTimestamp": ext_value})
    if fmt == 1:
        return ChunkMessageHeaderType1.build({"timestampDelta": field, "messageLength": length,
                                              "messageTypeID": type_id, "extendedTimestamp": ext_value})
    if fmt == 2:
        return ChunkMessageHeaderType2.build({"timestampDelta": field, "extendedTimestamp": ext_value})
    return ChunkMessageHeaderType3.build({"extendedTimestamp": type3_extended},
                                         type3_extended=type3_extended is not None)


def header(fmt: int, csid: int, *, form: int | None = None, **kw) -> bytes:
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


def message(csid: int, type_id: int, payload: bytes, *, chunk_size: int, fmt: int = 0, timestamp: int = 0,
            msid: int = 0, form: int | None = None, cont_form: int | None = None, ext_on_type3: bool = True,
            prev_ext: int | None = None, limit: int | None = None) -> bytes:
    """One message as chunks: a fmt ``fmt`` first header, Type 3 continuations. With an extended timestamp in use
    the continuation headers repeat it (errata 5.1) unless ``ext_on_type3`` is False (the pre-errata mistake).
    For ``fmt == 3`` ``prev_ext`` is the extended value in force on the chunk stream (None: not in use)."""
    if fmt == 3:
        first = basic_header(3, csid, form) + message_header(3, type3_extended=prev_ext)
        ext_value = prev_ext
    else:
        first = header(fmt, csid, form=form, timestamp=timestamp, length=len(payload), type_id=type_id, msid=msid)
        ext_value = timestamp if timestamp >= EXTENDED_TIMESTAMP_MARK else None
    cont = basic_header(3, csid, cont_form if cont_form is not None else form) + message_header(
        3, type3_extended=ext_value if ext_on_type3 else None)
    return chunked(payload, chunk_size, first, cont, limit=limit)
