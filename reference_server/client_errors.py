"""The RTMP client's errors and the status codes it acts on (see :mod:`reference_server.client`)."""

from __future__ import annotations

from typing import Any

from rtmpspec.messages import Command

PUBLISH_FLASH_VER = "FMLE/3.0 (compatible; rtmpspec)"
PLAY_FLASH_VER = "LNX 9,0,124,2"

# onStatus codes that end a play (RTMP 7.2.2.1 / what servers send in practice)
PLAY_END_CODES = frozenset({"NetStream.Play.Stop", "NetStream.Play.UnpublishNotify", "NetStream.Play.Complete",
                            "NetConnection.Connect.Closed"})
PLAY_FAIL_CODES = frozenset({"NetStream.Play.StreamNotFound", "NetStream.Play.Failed", "NetStream.Play.BadName",
                             "NetStream.Play.Forbidden", "NetStream.Play.FileNotFound"})
RECONNECT_REQUEST = "NetConnection.Connect.ReconnectRequest"  # E-RTMP v2 "Reconnect Request"
END_OF_STREAM = object()  # the end-of-stream marker on a client's media queue


class ClientError(Exception):
    """Base class of the client's own errors."""


class StatusError(ClientError):
    """The server refused: a ``_error`` reply or an onStatus with level ``error`` (e.g. Publish.BadName)."""

    def __init__(self, code: str | None, description: str = "", *, level: str = "error", command: Any = None,
                 what: str = "") -> None:
        self.code = code
        self.description = description or ""
        self.level = level
        self.command = command
        self.what = what
        text = f"{code or 'error'}"
        if self.description:
            text += f": {self.description}"
        if what:
            text = f"{what}: {text}"
        super().__init__(text)

    @classmethod
    def from_command(cls, cmd: Command, what: str = "") -> StatusError:
        info = cmd.status or {}
        return cls(info.get("code") if isinstance(info.get("code"), str) else None,
                   str(info.get("description") or ""), level=str(info.get("level") or "error"), command=cmd,
                   what=what)


class RTMPTimeout(ClientError, TimeoutError):
    """A wait (connect, handshake, a reply, media) took longer than its timeout."""


class ConnectionFailed(ClientError):
    """The TCP (or TLS) connection could not be made."""


class ConnectionLost(ClientError):
    """The server closed the connection (or it broke) while the client still needed it."""


