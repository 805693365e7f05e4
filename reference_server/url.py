"""RTMP URLs as ffmpeg reads them (``rtmp_open`` in libavformat/rtmpproto.c): :func:`parse_url` gives host, port,
app, playpath and tcUrl; :func:`resolve_tc_url` resolves an E-RTMP Reconnect Request's tcUrl. See
:mod:`reference_server.client` for the rules."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

__all__ = ["RTMPURL", "DEFAULT_PORTS", "parse_url", "split_app_playpath", "resolve_tc_url"]

DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}


@dataclass(frozen=True)
class RTMPURL:
    scheme: str  # "rtmp" or "rtmps"
    host: str
    port: int
    app: str
    playpath: str  # the stream key ("" when the URL has only an app)
    tc_url: str

    @property
    def tls(self) -> bool:
        return self.scheme == "rtmps"

    def __str__(self) -> str:
        return f"{self.tc_url}/{self.playpath}" if self.playpath else self.tc_url


def resolve_tc_url(current: str, ref: str | None) -> str:
    """The tcUrl of an E-RTMP Reconnect Request resolved against the current one: absent -> the current one;
    absolute (``rtmp://h/app``), network-path (``//h/app``) or path (``/app``) references as RFC 3986 says."""
    if not ref:
        return current
    scheme, sep, rest = current.partition("://")
    if "://" in ref:
        return ref.rstrip("/")
    if ref.startswith("//"):
        return f"{scheme}:{ref}".rstrip("/")
    authority = rest.split("/", 1)[0]
    if ref.startswith("/"):
        return f"{scheme}://{authority}{ref}".rstrip("/")
    base = current.rsplit("/", 1)[0] if "/" in rest else current
    return f"{base}/{ref}".rstrip("/")


def split_app_playpath(path: str) -> tuple[str, str]:
    """ffmpeg's split of a URL path (query string included) into (app, playpath); see the module docstring."""
    qmark = path.find("?")
    if qmark >= 0 and "slist=" in path[qmark:]:
        app = path[1:qmark]
        fname = path[path.index("slist=") + 6:].split("&", 1)[0]
    elif path.startswith("/ondemand/"):
        app, fname = "ondemand", path[10:]
    else:
        nxt = path[1:] if path else path
        p = nxt.find("/")
        if p < 0:
            app, fname = nxt, ""
        else:
            rest = nxt[p + 1:]
            colon, slash = rest.find(":"), rest.find("/")
            if slash < 0 or (0 <= colon < slash):
                app, fname = nxt[:p], rest
            else:
                app, fname = nxt[:p + 1 + slash], rest[slash + 1:]
    if ":" not in fname and fname.endswith((".f4v", ".mp4")):
        fname = "mp4:" + fname
    elif fname.endswith(".flv"):
        fname = fname[:-4]
    return app, fname


def parse_url(url: str) -> RTMPURL:
    """Parse ``rtmp[s]://host[:port]/app[/instance]/key`` like ffmpeg (ValueError when it is not one)."""
    try:
        u = urllib.parse.urlsplit(url)
        port = u.port
    except ValueError as exc:
        raise ValueError(f"bad RTMP URL {url!r}: {exc}") from None
    scheme = u.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"bad RTMP URL {url!r}: scheme must be rtmp:// or rtmps://")
    host = u.hostname
    if not host:
        raise ValueError(f"bad RTMP URL {url!r}: no host")
    if port is None:
        port = DEFAULT_PORTS[scheme]
    path = u.path + (f"?{u.query}" if u.query else "")
    app, playpath = split_app_playpath(urllib.parse.unquote(path))
    if not app:
        raise ValueError(f"bad RTMP URL {url!r}: no application name")
    host_part = f"[{host}]" if ":" in host else host
    return RTMPURL(scheme, host, port, app, playpath, f"{scheme}://{host_part}:{port}/{app}")


