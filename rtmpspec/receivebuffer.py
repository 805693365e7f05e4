"""The receive buffer of every sans-I/O reader in rtmpspec (h11's ``ReceiveBuffer``): the handshake, the chunk
reader and the FLV reader keep what arrived and is not consumed yet here, with its offset in the whole stream (what
error messages report).

Readers look at ``data[pos:]`` directly (the chunk reader's hot loop works on ``data`` and ``pos`` as locals and
writes ``pos`` back), consume by moving ``pos`` and let :meth:`compact` drop consumed bytes; the bytes in the buffer
are bounded by each reader (a ``LimitExceeded`` names the limit).
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]


class ReceiveBuffer:
    __slots__ = ("data", "pos", "base", "received")

    def __init__(self, offset: int = 0) -> None:
        self.data = bytearray()
        self.pos = 0  # next unconsumed byte in data
        self.base = offset  # stream offset of data[0]
        self.received = 0  # bytes appended, in all

    def append(self, data: bytes) -> None:
        self.data += data
        self.received += len(data)

    def __len__(self) -> int:
        """Bytes received and not consumed yet."""
        return len(self.data) - self.pos

    @property
    def offset(self) -> int:
        """Stream offset of the next unconsumed byte."""
        return self.base + self.pos

    def peek(self, n: int | None = None) -> bytes:
        """The next ``n`` unconsumed bytes (all of them when None), not consumed."""
        end = len(self.data) if n is None else self.pos + n
        return bytes(self.data[self.pos:end])

    def consume(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer when fewer are there), consumed."""
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += len(out)
        return out

    def consume_all(self) -> bytes:
        out = bytes(self.data[self.pos:])
        self.pos = len(self.data)
        self.compact()
        return out

    def compact(self) -> None:
        """Drop the consumed bytes (their offsets stay right)."""
        if self.pos:
            del self.data[:self.pos]
            self.base += self.pos
            self.pos = 0

    def compact_if_worth(self, threshold: int = 65536) -> None:
        """Compact once the consumed part is large and most of the buffer (amortised: no move per event)."""
        if self.pos > threshold and self.pos * 2 > len(self.data):
            self.compact()
