"""Client presets: ``pytest conformance --client NAME`` for the real clients (Debian packages) and our own.

Each preset is a command template (see :mod:`conformance.client.process`) and a role: a publishing client gets
``{input}`` (an FLV to send), a playing client ``{output}`` (the FLV it must write). Every command bounds itself
where the tool allows it (``-rw_timeout``, ``-m``, ``idle-timeout``); the battery also stops it (SIGINT, then
SIGKILL) when a scenario is over.

A custom ``--client "CMD"`` is a publisher unless it has ``{output}`` (or ``--client-role play``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    role: str  # publish | play
    template: str
    needs: tuple[str, ...]  # executables that must be installed
    implementation: str  # what it is, for reports and the matrix
    gst_elements: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        out = [b for b in self.needs if shutil.which(b) is None]
        if not out and self.gst_elements:
            import subprocess

            for el in self.gst_elements:
                try:
                    r = subprocess.run(["gst-inspect-1.0", el], capture_output=True, timeout=20)
                except (OSError, subprocess.TimeoutExpired):
                    out.append(f"gst element {el}")
                    continue
                if r.returncode != 0:
                    out.append(f"gst element {el} (gstreamer1.0-plugins-bad/good)")
        return out


_GST_DEMUX = ("filesrc location={input} ! flvdemux name=d d.video ! queue ! h264parse ! flvmux name=m "
              "streamable=true ! %s d.audio ! queue ! aacparse ! m.")

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("ffmpeg-publish", "publish",
           "ffmpeg -nostdin -hide_banner -loglevel warning -copyts -i {input} -c copy -rw_timeout 5000000 "
           "-f flv {url}", ("ffmpeg",), "ffmpeg 5.1 (libavformat rtmpproto), publishing"),
    Preset("ffmpeg-play", "play",
           "ffmpeg -nostdin -hide_banner -loglevel warning -rw_timeout 3000000 -i {url} -c copy -f flv -y {output}",
           ("ffmpeg",), "ffmpeg 5.1 (libavformat rtmpproto), playing"),
    Preset("rtmpdump-play", "play", "rtmpdump -q -r {url} -v -o {output} -m 5", ("rtmpdump",),
           "rtmpdump 2.4 (librtmp), playing"),
    Preset("flvstreamer-play", "play", "flvstreamer -q -r {url} -v -o {output} -m 5", ("flvstreamer",),
           "flvstreamer 2.1 (librtmp), playing"),
    Preset("gst-rtmp2sink-publish", "publish",
           "gst-launch-1.0 -q " + _GST_DEMUX % "rtmp2sink location={url} sync=false",
           ("gst-launch-1.0",), "GStreamer 1.22 rtmp2sink (flvdemux ! flvmux pipeline), publishing",
           ("rtmp2sink", "flvdemux", "flvmux", "h264parse", "aacparse")),
    Preset("gst-rtmp2src-play", "play",
           "gst-launch-1.0 -q rtmp2src location={url} idle-timeout=3 ! filesink location={output}",
           ("gst-launch-1.0",), "GStreamer 1.22 rtmp2src, playing", ("rtmp2src",)),
    Preset("gst-rtmpsink-publish", "publish",
           "gst-launch-1.0 -q filesrc location={input} ! video/x-flv ! rtmpsink location={url}",
           ("gst-launch-1.0",), "GStreamer 1.22 rtmpsink (librtmp 2.4), publishing an FLV file", ("rtmpsink",)),
    Preset("rtmp-client-publish", "publish",
           "{python} -m reference_server.client_cli publish {url} {input} --enhanced --timeout 5 -q", (),
           "our rtmp-client (reference_server), publishing"),
    Preset("rtmp-client-play", "play",
           "{python} -m reference_server.client_cli play {url} -o {output} --enhanced --timeout 5 "
           "--idle-timeout 3 -q", (), "our rtmp-client (reference_server), playing"),
]}


def role_of(template: str, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in ("publish", "play"):
            raise ValueError(f"--client-role {explicit!r}: publish or play")
        return explicit
    return "play" if "{output}" in template else "publish"
