"""Errors raised by rtmpspec codecs.

Every decoding error says *what* was wrong, *where* (byte offset into the
stream or buffer, and the field), and *which spec section* defines the rule
that was broken, so a user can find the text in seconds.
"""

from __future__ import annotations


class RTMPError(Exception):
    """Base class for every error rtmpspec raises on purpose."""


class ProtocolError(RTMPError):
    """The peer sent bytes that break the protocol.

    A connection that raised ``ProtocolError`` is poisoned: every later call
    raises the same error again (h11 style).
    """

    def __init__(
        self,
        what: str,
        *,
        offset: int | None = None,
        field: str | None = None,
        section: str | None = None,
        data: bytes | None = None,
    ) -> None:
        self.what = what
        self.offset = offset
        self.field = field
        self.section = section
        self.data = data
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [self.what]
        where = []
        if self.offset is not None:
            where.append(f"byte offset {self.offset}")
        if self.field:
            where.append(f"field {self.field}")
        if where:
            parts.append("at " + ", ".join(where))
        if self.section:
            parts.append(f"[{self.section}]")
        return " ".join(parts)

    def to_dict(self) -> dict:
        return {
            "error": type(self).__name__,
            "what": self.what,
            "offset": self.offset,
            "field": self.field,
            "section": self.section,
        }


class LimitExceeded(ProtocolError):
    """A configured bound (message size, chunk streams, chunk size, buffer) was hit."""


class LocalProtocolError(RTMPError):
    """We were asked to send something the protocol or our state forbids."""


class DecodeError(ProtocolError):
    """A payload (AMF, control message, tag header) did not decode."""
