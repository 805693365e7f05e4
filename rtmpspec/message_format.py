"""RTMP 1.0 section 6.1: the message format. :class:`Message` (the message header's fields plus the payload) and
:class:`MessageType`, the one table of message type ids (RTMP 5.4, 6.2, 7.1) every other module uses.

The chunk stream (:mod:`rtmpspec.chunkreader`, :mod:`rtmpspec.chunkwriter`) carries messages; protocol control
(:mod:`rtmpspec.control`), commands and data (:mod:`rtmpspec.messages`) and media (:mod:`rtmpspec.media`) give
their payloads meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Message", "MessageType", "CONTROL_TYPES", "COMMAND_TYPES", "DATA_TYPES", "MEDIA_TYPES",
           "SHARED_OBJECT_TYPES", "CSID_CONTROL", "CSID_COMMAND", "CSID_AUDIO", "CSID_VIDEO", "CSID_DATA"]


class MessageType(IntEnum):
    """RTMP message type ids (RTMP 5.4 protocol control, 6.2 user control, 7.1 the others)."""

    SET_CHUNK_SIZE = 1  # 5.4.1
    ABORT = 2  # 5.4.2
    ACKNOWLEDGEMENT = 3  # 5.4.3
    USER_CONTROL = 4  # 6.2, 7.1.7
    WINDOW_ACK_SIZE = 5  # 5.4.4
    SET_PEER_BANDWIDTH = 6  # 5.4.5
    AUDIO = 8  # 7.1.4
    VIDEO = 9  # 7.1.5
    DATA_AMF3 = 15  # 7.1.2
    SHARED_OBJECT_AMF3 = 16  # 7.1.3
    COMMAND_AMF3 = 17  # 7.1.1
    DATA_AMF0 = 18  # 7.1.2
    SHARED_OBJECT_AMF0 = 19  # 7.1.3
    COMMAND_AMF0 = 20  # 7.1.1
    AGGREGATE = 22  # 7.1.6


T = MessageType
CONTROL_TYPES = (T.SET_CHUNK_SIZE, T.ABORT, T.ACKNOWLEDGEMENT, T.USER_CONTROL, T.WINDOW_ACK_SIZE,
                 T.SET_PEER_BANDWIDTH)  # on chunk stream 2, message stream 0 (RTMP 5.4)
COMMAND_TYPES = (T.COMMAND_AMF0, T.COMMAND_AMF3)
DATA_TYPES = (T.DATA_AMF0, T.DATA_AMF3)
MEDIA_TYPES = (T.AUDIO, T.VIDEO, T.AGGREGATE)
SHARED_OBJECT_TYPES = (T.SHARED_OBJECT_AMF0, T.SHARED_OBJECT_AMF3)
del T

# chunk stream ids conventionally used (ffmpeg, nginx-rtmp, OBS): 2 control (RTMP 5.4), 3 commands, 4 audio,
# 5 data, 6 video
CSID_CONTROL = 2
CSID_COMMAND = 3
CSID_AUDIO = 4
CSID_DATA = 5
CSID_VIDEO = 6


@dataclass(frozen=True, slots=True)
class Message:
    """One RTMP message (RTMP 6.1): header fields plus the payload bytes. ``csid`` is the chunk stream it travels
    on (RTMP 5.3.1.1), not part of the message header proper."""

    type_id: int
    payload: bytes
    timestamp: int = 0
    msid: int = 0
    csid: int = CSID_COMMAND

    @property
    def length(self) -> int:
        return len(self.payload)
