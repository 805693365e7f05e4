"""FLV files: Adobe FLV and F4V File Format Specification v10.1, Annex E (E.2 header, E.3 body, E.4.1 tags).

- Schemas: ``FLVHeader`` (E.2), ``PreviousTagSize`` (E.3), ``FLVTagHeader`` (E.4.1), ``FLVTAG`` (header + data +
  the PreviousTagSize that follows it) and ``FLVFile``.
- ``FLVReader``: sans-I/O, h11 style. ``receive_data(bytes)`` (``b""`` = end of file), ``next_event()`` ->
  ``FLVHeaderEvent`` | ``FLVTag`` | ``NEED_DATA`` | ``END``. A tag is returned once its PreviousTagSize has been
  read and checked. Errors are ``DecodeError``/``LimitExceeded`` with the byte offset; the reader is then
  poisoned. ``lenient=True`` records PreviousTagSize / StreamID mismatches and a truncated end in ``issues``.
- ``FLVWriter``: ``header()`` and ``tag()`` return bytes; every tag carries its PreviousTagSize, so a file cut
  after any complete ``tag()`` is a valid FLV (what ffprobe reads of a recording still being written).
- ``describe_flv(path_or_bytes)``: one JSON-able dict per header / tag, for the ``flv`` command.
- Codec ``flv.file`` (streaming): bytes -> {"header", "PreviousTagSize0", "tags"[, "unconsumed"]} -> bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import construct
from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Container,
    GreedyRange,
    Int8ub,
    Int24ub,
    Int32ub,
    ListContainer,
    Struct,
    this,
)

from . import amf0, media
from .errors import DecodeError, LimitExceeded, LocalProtocolError, ProtocolError
from .jsonable import to_jsonable
from .message_format import MessageType
from .receivebuffer import ReceiveBuffer
from .registry import Codec, register
from .sentinels import END, NEED_DATA, Sentinel

SEC_HEADER = "FLV E.2"
SEC_BODY = "FLV E.3"
SEC_TAG = "FLV E.4.1"

# TagType (E.4.1; 15 = AMF3 script data, E-RTMP v2): the RTMP message type ids of the same payloads
AUDIO, VIDEO, SCRIPT, SCRIPT_AMF3 = MessageType.AUDIO, MessageType.VIDEO, MessageType.DATA_AMF0, MessageType.DATA_AMF3
TAG_TYPE_NAMES = {AUDIO: "audio", VIDEO: "video", SCRIPT: "script", SCRIPT_AMF3: "script_amf3"}
DEFAULT_MAX_DATA_SIZE = 16 * 1024 * 1024
HEADER_SIZE = 9  # FLV version 1 DataOffset
TAG_HEADER_SIZE = 11

FLVHeader = Struct(
    "Signature" / Const(b"FLV"),  # E.2 "FLV"
    "Version" / Int8ub,  # E.2: 1
    "TypeFlags" / BitStruct(
        "TypeFlagsReserved" / BitsInteger(5),  # E.2: shall be 0
        "TypeFlagsAudio" / BitsInteger(1),  # E.2: audio tags are present
        "TypeFlagsReserved2" / BitsInteger(1),  # E.2 (second TypeFlagsReserved): shall be 0
        "TypeFlagsVideo" / BitsInteger(1),  # E.2: video tags are present
    ),
    "DataOffset" / Int32ub,  # E.2: the length of this header in bytes (9 for version 1)
    "HeaderExtra" / Bytes(this.DataOffset - 9),  # bytes up to DataOffset (none in version 1)
)
PreviousTagSize = Int32ub  # E.3: size of the previous tag, header included (11 + DataSize); 0 before the first
FLVTagHeader = Struct(
    "TagFlags" / BitStruct(
        "Reserved" / BitsInteger(2),  # E.4.1: reserved for FMS, should be 0
        "Filter" / BitsInteger(1),  # E.4.1: 1 = pre-processing (encryption) needed
        "TagType" / BitsInteger(5),  # E.4.1: 8 audio, 9 video, 18 script data
    ),
    "DataSize" / Int24ub,  # E.4.1: bytes after StreamID to the end of the tag
    "Timestamp" / Int24ub,  # E.4.1: lower 24 bits of the time in milliseconds
    "TimestampExtended" / Int8ub,  # E.4.1: upper 8 bits of the timestamp
    "StreamID" / Int24ub,  # E.4.1: always 0
)
FLVTAG = Struct(  # E.4.1 FLVTAG, with the PreviousTagSize that follows it in the body (E.3)
    "header" / FLVTagHeader,
    "Data" / Bytes(this.header.DataSize),  # E.4.1: AUDIODATA / VIDEODATA / SCRIPTDATA
    "PreviousTagSize" / PreviousTagSize,  # E.3
)
FLVFile = Struct("header" / FLVHeader, "PreviousTagSize0" / PreviousTagSize, "tags" / GreedyRange(FLVTAG))


class TagData(bytes):
    """Tag data whose JSON spelling stays short: ``{"$bytes": hex}`` up to 64 bytes, else length + SHA-256."""

    def __json__(self) -> dict:
        if len(self) <= 64:
            return {"$bytes": self.hex()}
        return {"$len": len(self), "$sha256": hashlib.sha256(self).hexdigest()}


@dataclass(frozen=True)
class FLVHeaderEvent:
    version: int
    has_audio: bool
    has_video: bool
    data_offset: int
    previous_tag_size0: int = 0
    offset: int = 0
    fields: Any = field(default=None, repr=False, compare=False)  # the FLVHeader Container

    def __json__(self) -> dict:
        return {"kind": "header", "version": self.version, "audio": self.has_audio, "video": self.has_video,
                "data_offset": self.data_offset, "previous_tag_size0": self.previous_tag_size0}


@dataclass(frozen=True)
class FLVTag:
    tag_type: int
    timestamp: int  # 32 bits: TimestampExtended << 24 | Timestamp, milliseconds
    stream_id: int
    data: bytes
    offset: int  # of the tag header in the file
    filter: int = 0
    reserved: int = 0
    previous_tag_size: int | None = None  # the PreviousTagSize after this tag (None: missing at end of file)

    def __json__(self) -> dict:
        return {"kind": "tag", "offset": self.offset, "type": self.tag_type,
                "type_name": TAG_TYPE_NAMES.get(self.tag_type), "timestamp": self.timestamp,
                "size": len(self.data), "stream_id": self.stream_id, "filter": self.filter,
                "data": TagData(self.data).__json__()}


class FLVReader:
    """Sans-I/O FLV reader. Feed bytes with ``receive_data``; pull events with ``next_event``."""

    def __init__(self, *, max_data_size: int = DEFAULT_MAX_DATA_SIZE, lenient: bool = False) -> None:
        self.max_data_size = max_data_size
        self.lenient = lenient
        self.issues: list[ProtocolError] = []  # problems recorded instead of raised (lenient)
        self._in = ReceiveBuffer()
        self._header_done = False
        self._eof = False
        self._error: ProtocolError | None = None

    @property
    def offset(self) -> int:
        """File offset of the next unread byte."""
        return self._in.offset

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned in an event."""
        return len(self._in)

    def buffered(self) -> bytes:
        return self._in.peek()

    def receive_data(self, data: bytes) -> None:
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("receive_data after end of file")
        self._in.compact_if_worth()
        self._in.append(data)

    def next_event(self) -> FLVHeaderEvent | FLVTag | Sentinel:
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except ProtocolError as exc:
            self._error = exc
            raise

    def events(self) -> Iterator[FLVHeaderEvent | FLVTag]:
        while True:
            ev = self.next_event()
            if ev is NEED_DATA or ev is END:
                return
            yield ev

    def _problem(self, err: ProtocolError) -> None:
        if not self.lenient:
            raise err
        self.issues.append(err)

    def _end(self, what: str, section: str) -> Sentinel:
        if not self._eof:
            return NEED_DATA
        if self.pending == 0 and self._header_done:
            return END
        err = DecodeError(f"file ends inside the {what} ({self.pending} bytes left)", offset=self.offset,
                          section=section)
        self._problem(err)
        self._in.pos = len(self._in.data)
        return END

    def _next(self) -> FLVHeaderEvent | FLVTag | Sentinel:
        rb = self._in
        buf, pos, avail = rb.data, rb.pos, len(rb)
        if not self._header_done:
            if avail < HEADER_SIZE:
                if avail >= 3 and buf[pos:pos + 3] != b"FLV":
                    raise DecodeError("not an FLV file: bad Signature", offset=self.offset, field="Signature",
                                      section=SEC_HEADER)
                return self._end("FLV header", SEC_HEADER)
            if buf[pos:pos + 3] != b"FLV":
                raise DecodeError(f"not an FLV file: bad Signature {bytes(buf[pos:pos + 3])!r}", offset=self.offset,
                                  field="Signature", section=SEC_HEADER)
            data_offset = int.from_bytes(buf[pos + 5:pos + 9], "big")
            if data_offset < HEADER_SIZE:
                raise DecodeError(f"DataOffset {data_offset} is shorter than the header", offset=self.offset + 5,
                                  field="DataOffset", section=SEC_HEADER)
            if data_offset - HEADER_SIZE > self.max_data_size:
                raise LimitExceeded(f"DataOffset {data_offset} over the limit", offset=self.offset + 5,
                                    field="DataOffset", section=SEC_HEADER)
            if avail < data_offset + 4:
                return self._end("FLV header", SEC_HEADER)
            fields = FLVHeader.parse(bytes(buf[pos:pos + data_offset]))
            prev0 = int.from_bytes(buf[pos + data_offset:pos + data_offset + 4], "big")
            if prev0 != 0:
                self._problem(DecodeError(f"PreviousTagSize0 is {prev0}, not 0", offset=self.offset + data_offset,
                                          field="PreviousTagSize0", section=SEC_BODY))
            ev = FLVHeaderEvent(fields.Version, bool(fields.TypeFlags.TypeFlagsAudio),
                                bool(fields.TypeFlags.TypeFlagsVideo), data_offset, prev0, self.offset, fields)
            rb.pos += data_offset + 4
            self._header_done = True
            return ev
        if avail < TAG_HEADER_SIZE:
            return self._end("tag header", SEC_TAG)
        # the 11 bytes of FLVTagHeader, unpacked by hand on this hot path (tests check it against the schema)
        b0 = buf[pos]
        size = int.from_bytes(buf[pos + 1:pos + 4], "big")
        timestamp = int.from_bytes(buf[pos + 4:pos + 7], "big") | buf[pos + 7] << 24
        stream_id = int.from_bytes(buf[pos + 8:pos + 11], "big")
        if size > self.max_data_size:
            raise LimitExceeded(f"DataSize {size} over the limit of {self.max_data_size}", offset=self.offset + 1,
                                field="DataSize", section=SEC_TAG)
        end = TAG_HEADER_SIZE + size
        if avail < end + 4:
            if not (self._eof and avail >= end and self.lenient):
                return self._end("tag", SEC_TAG)
            self._problem(DecodeError("file ends before the last PreviousTagSize", offset=self.offset + end,
                                      field="PreviousTagSize", section=SEC_BODY))
            prev = None
        else:
            prev = int.from_bytes(buf[pos + end:pos + end + 4], "big")
            if prev != end:
                self._problem(DecodeError(f"PreviousTagSize {prev} != 11 + DataSize = {end}",
                                          offset=self.offset + end, field="PreviousTagSize", section=SEC_BODY))
        if stream_id != 0:
            self._problem(DecodeError(f"StreamID is {stream_id}, not 0", offset=self.offset + 8, field="StreamID",
                                      section=SEC_TAG))
        tag = FLVTag(b0 & 0x1F, timestamp, stream_id, bytes(buf[pos + TAG_HEADER_SIZE:pos + end]), self.offset,
                     b0 >> 5 & 1, b0 >> 6, prev)
        rb.pos += end + (4 if prev is not None else 0)
        return tag


class FLVWriter:
    """Build an FLV file: ``header()`` once, then ``tag()`` per tag. Keeps ``offset`` (bytes produced)."""

    def __init__(self) -> None:
        self.offset = 0

    def header(self, *, audio: bool = True, video: bool = True, version: int = 1) -> bytes:
        """The FLV header (E.2) followed by PreviousTagSize0 = 0 (E.3)."""
        out = b"FLV" + bytes((version, (4 if audio else 0) | (1 if video else 0))) + HEADER_SIZE.to_bytes(4, "big")
        out += b"\x00\x00\x00\x00"
        self.offset += len(out)
        return out

    def tag(self, tag_type: int, timestamp: int, data: bytes) -> bytes:
        """One tag (E.4.1, StreamID 0) followed by its PreviousTagSize (E.3)."""
        size = len(data)
        if not 0 <= tag_type < 32:
            raise LocalProtocolError(f"TagType {tag_type} does not fit in 5 bits")
        if not 0 <= timestamp <= 0xFFFFFFFF:
            raise LocalProtocolError(f"timestamp {timestamp} does not fit in 32 bits")
        if size > 0xFFFFFF:
            raise LocalProtocolError(f"tag data of {size} bytes does not fit DataSize (UI24)")
        out = b"".join((bytes((tag_type,)), size.to_bytes(3, "big"), (timestamp & 0xFFFFFF).to_bytes(3, "big"),
                        bytes((timestamp >> 24,)), b"\x00\x00\x00", data, (TAG_HEADER_SIZE + size).to_bytes(4, "big")))
        self.offset += len(out)
        return out


def _chunks(source: str | os.PathLike | bytes | bytearray | memoryview, size: int = 1 << 16) -> Iterator[bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield bytes(source)
        return
    with open(source, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def describe_tag(tag: FLVTag) -> dict:
    """A tag as the ``flv`` command prints it: the tag header and the decoded audio/video header or script."""
    out = {"kind": "tag", "offset": tag.offset, "type": tag.tag_type, "type_name": TAG_TYPE_NAMES.get(tag.tag_type),
           "timestamp": tag.timestamp, "size": len(tag.data), "stream_id": tag.stream_id}
    if tag.filter:
        out["filter"] = tag.filter  # encrypted (Annex F): the payload is not decoded
        return out
    try:
        if tag.tag_type == AUDIO:
            out["audio"] = media.describe_audio(tag.data)
        elif tag.tag_type == VIDEO:
            out["video"] = media.describe_video(tag.data)
        elif tag.tag_type == SCRIPT:
            out["script"] = to_jsonable(amf0.decode_all(tag.data))
    except ProtocolError as exc:
        out["error"] = exc.to_dict()
    except Exception as exc:  # a decoder's own exception: report it, keep going through the file
        out["error"] = {"error": type(exc).__name__, "what": str(exc)}
    return out


def describe_flv(source: str | os.PathLike | bytes, *, lenient: bool = False,
                 max_data_size: int = DEFAULT_MAX_DATA_SIZE) -> Iterator[dict]:
    """Yield the header, then one dict per tag (offset, type, timestamp, size, decoded tag header / AMF0
    values). Reader errors raise (after yielding what came before); with ``lenient`` they are yielded as
    ``{"kind": "issue", ...}`` dicts instead."""
    reader = FLVReader(lenient=lenient, max_data_size=max_data_size)
    seen = 0
    for chunk in [*_chunks(source), b""]:
        reader.receive_data(chunk)
        for ev in reader.events():
            yield ev.__json__() if isinstance(ev, FLVHeaderEvent) else describe_tag(ev)
            while seen < len(reader.issues):
                yield {"kind": "issue", **reader.issues[seen].to_dict()}
                seen += 1
    while seen < len(reader.issues):
        yield {"kind": "issue", **reader.issues[seen].to_dict()}
        seen += 1


def read_flv(source: str | os.PathLike | bytes, **kw: Any) -> tuple[FLVHeaderEvent, list[FLVTag]]:
    """The whole file: (header, tags). Keyword arguments go to FLVReader."""
    reader = FLVReader(**kw)
    header, tags = None, []
    for chunk in [*_chunks(source), b""]:
        reader.receive_data(chunk)
        for ev in reader.events():
            if isinstance(ev, FLVHeaderEvent):
                header = ev
            else:
                tags.append(ev)
    if header is None:
        raise DecodeError("no FLV header", offset=0, section=SEC_HEADER)
    return header, tags


# --- codec "flv.file" -----------------------------------------------------------------------------------------
def _parse_pieces(pieces: Iterable[bytes]) -> Container:
    reader = FLVReader()
    header, tags = None, ListContainer()
    for piece in pieces:
        reader.receive_data(piece)
        for ev in reader.events():
            if isinstance(ev, FLVHeaderEvent):
                header = ev
                continue
            ts = ev.timestamp
            tags.append(Container(
                header=Container(TagFlags=Container(Reserved=ev.reserved, Filter=ev.filter, TagType=ev.tag_type),
                                 DataSize=len(ev.data), Timestamp=ts & 0xFFFFFF, TimestampExtended=ts >> 24,
                                 StreamID=ev.stream_id),
                Data=TagData(ev.data), PreviousTagSize=ev.previous_tag_size))
    if header is None:
        raise DecodeError(f"FLV header incomplete ({reader.pending} bytes)", offset=0, section=SEC_HEADER)
    fields = header.fields
    value = Container(header=Container(Signature=fields.Signature, Version=fields.Version,
                                       TypeFlags=fields.TypeFlags, DataOffset=fields.DataOffset,
                                       HeaderExtra=fields.HeaderExtra),
                      PreviousTagSize0=header.previous_tag_size0, tags=tags)
    if reader.pending:
        value["unconsumed"] = reader.buffered()
    return value


def _build(value: Any) -> bytes:
    try:
        out = FLVFile.build(value)
    except construct.ConstructError as exc:
        raise LocalProtocolError(f"cannot build FLV file: {exc}") from exc
    return out + bytes(value.get("unconsumed", b""))


register(Codec("flv.file", lambda data: _parse_pieces([data]), _build, f"{SEC_HEADER}; {SEC_BODY}; {SEC_TAG}", streaming=True,
               parse_pieces=_parse_pieces))
