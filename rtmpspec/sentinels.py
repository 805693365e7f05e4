"""The sentinels every sans-I/O reader of rtmpspec returns instead of an event (h11 style: one object each).

``NEED_DATA``: feed more bytes with ``receive_data`` (the chunk reader, the FLV reader, the handshake and
:class:`rtmpspec.connection.Connection` all return this same object). ``PAUSED``: the handshake is complete, later
bytes belong to the chunk stream. ``END``: the FLV reader got ``receive_data(b"")`` and has nothing more.

Compare with ``is``: ``while (ev := conn.next_event()) is not NEED_DATA: ...``.
"""

from __future__ import annotations

__all__ = ["Sentinel", "NeedData", "NEED_DATA", "PAUSED", "END"]


class Sentinel:
    """A named singleton; each kind is its own class so that type hints can name it (``Event | NeedData``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return type(self).__name__.upper()

    def __reduce__(self) -> str:  # pickles (and copies) as the same object
        return _NAMES[type(self)]


class NeedData(Sentinel):
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


class Paused(Sentinel):
    __slots__ = ()


class End(Sentinel):
    __slots__ = ()


NEED_DATA = NeedData()
PAUSED = Paused()
END = End()
_NAMES = {NeedData: "NEED_DATA", Paused: "PAUSED", End: "END"}
