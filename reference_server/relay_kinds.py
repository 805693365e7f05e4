"""What the relay makes of a published message (:mod:`reference_server.relay`): its kind, the key its sequence
header is cached under for late joiners, the chunk stream it goes out on, and the data message players get.

Kinds
    ``AUDIO``, ``AUDIO_SEQ`` (AAC config, E-RTMP SequenceStart / MultichannelConfig), ``VIDEO_KEY``, ``VIDEO_SEQ``
    (sequence headers and E-RTMP Metadata frames: cached, never dropped), ``VIDEO_INTER``, ``DATA``; ``NESTED`` is a
    multitrack message nesting another multitrack (E-RTMP v2), never relayed. :func:`classify` decides them with
    rtmpspec.media, memoised for legacy tags by their first two bytes.

Data messages
    are relayed without the ``@setDataFrame`` wrapper (nginx-rtmp PR 755), as AMF0 where their values have an AMF0
    spelling, else as the publisher's own values in an AMF3 data message (:func:`data_message`).
"""

from __future__ import annotations

from rtmpspec import media
from rtmpspec.errors import DecodeError, RTMPError
from rtmpspec.message_format import Message
from rtmpspec.messages import CSID_AUDIO, CSID_DATA, CSID_VIDEO, DataMessage, plain

# kinds of relayed messages (NESTED: a multitrack message nesting another, never relayed, E-RTMP v2)
AUDIO, AUDIO_SEQ, VIDEO_KEY, VIDEO_SEQ, VIDEO_INTER, DATA = range(6)
NESTED = -1
IS_AUDIO = (True, True, False, False, False, False)  # indexed by kind (not NESTED): an audio kind?
IS_VIDEO = (False, False, True, True, True, False)  # indexed by kind (not NESTED): a video kind?
CSID_OF_TYPE = {8: CSID_AUDIO, 9: CSID_VIDEO}  # the chunk stream relayed audio / video goes out on (else CSID_DATA)


_LEGACY_KINDS: dict[int, tuple[int, tuple | None]] = {}  # type id and the first two bytes -> kind, header key


def classify(type_id: int, payload: bytes) -> tuple[int, tuple | None]:
    """(kind, header cache key or None) of an audio/video payload, decided by rtmpspec.media.

    A legacy (non E-RTMP) tag's kind depends only on its first two bytes (FLV E.4.2.1 SoundFormat/AACPacketType,
    E.4.3.1 FrameType/CodecID/AVCPacketType), so rtmpspec's answer is memoised by them; E-RTMP tags (FourCC,
    multitrack) are parsed every time. Header keys separate tracks and packet types (SequenceStart vs
    MultichannelConfig) so that every one of them is replayed to late joiners.
    """
    legacy = len(payload) >= 2 and ((payload[0] & 0x80) == 0 if type_id == 9 else (payload[0] >> 4) != 9)
    if legacy:
        memo = _LEGACY_KINDS.get((type_id << 16) | (payload[0] << 8) | payload[1])
        if memo is not None:
            return memo
    kind: int = AUDIO if type_id == 8 else VIDEO_INTER
    hkey: tuple | None = None
    try:
        if type_id == 9:
            tag = media.parse_video_tag(payload)
            if tag.multitrack_type is not None and any(tr.packet_type == 6 for tr in tag.tracks):
                return NESTED, None  # E-RTMP v2: the per-track packet type is never Multitrack again
            if tag.is_sequence_header:
                kind = VIDEO_SEQ
                hkey = (9, tuple((tr.track_id, tr.packet_type) for tr in tag.tracks))
            elif tag.is_keyframe:
                kind = VIDEO_KEY
            elif tag.enhanced and tag.packet_type == media.VideoPacketType.Metadata:
                kind = VIDEO_SEQ  # E-RTMP colorInfo etc.: cached for late joiners, never dropped
                hkey = (9, "metadata")
        elif type_id == 8 and payload:
            tag = media.parse_audio_tag(payload)
            if tag.multitrack_type is not None and any(tr.packet_type == 5 for tr in tag.tracks):
                return NESTED, None
            if tag.is_sequence_header:  # AAC config, E-RTMP SequenceStart / MultichannelConfig (per track)
                kind = AUDIO_SEQ
                hkey = (8, tuple((tr.track_id, tr.packet_type) for tr in tag.tracks))
    except DecodeError:
        return kind, None
    if legacy:
        if len(_LEGACY_KINDS) > 1024:
            _LEGACY_KINDS.clear()
        _LEGACY_KINDS[(type_id << 16) | (payload[0] << 8) | payload[1]] = (kind, hkey)
    return kind, hkey


def data_message(values: tuple, timestamp: int, original: tuple) -> tuple[Message, tuple, bool]:
    """The data message to relay, its values and whether it is AMF3: ``values`` as AMF0 when they have an AMF0
    spelling, else the publisher's own ``original`` values (without @setDataFrame) as AMF3 (type 15)."""
    try:
        return DataMessage(values, 0, timestamp).to_message(CSID_DATA), values, False
    except (TypeError, ValueError, OverflowError, RTMPError):
        values = unwrapped(original)
        return DataMessage(values, 0, timestamp, amf3=True).to_message(CSID_DATA), values, True


def unwrapped(values: tuple) -> tuple:
    """Without the ``@setDataFrame`` wrapper (nginx-rtmp PR 755: players get the bare data message)."""
    if values and plain(values[0]) == "@setDataFrame":
        return tuple(values[1:])
    return tuple(values)
