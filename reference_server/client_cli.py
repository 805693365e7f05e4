"""``rtmp-client``: publish an FLV file to an RTMP server, or play a stream into an FLV file.

    rtmp-client publish rtmp://host[:port]/app/key FILE.flv [--realtime] [--loop N]
    rtmp-client play rtmp://host[:port]/app/key -o OUT.flv [--duration S]

``rtmps://`` works too (``--tls-insecure`` skips certificate checks). ``publish`` sends the file's onMetaData
(as ``@setDataFrame onMetaData``) and its audio/video tags with the tags' timestamps; ``--realtime`` paces them
by timestamp, ``--loop N`` sends the file N times (0: until interrupted) with timestamps continuing across
passes. ``play`` writes an FLV (header, onMetaData, tags, timestamps rebased so the first media tag is at 0 unless
``--keep-timestamps``) and stops cleanly when the stream ends (onStatus Play.Stop / UnpublishNotify, User Control
Stream EOF, the server closing the connection), after ``--duration`` seconds (of media or of wall-clock time,
whichever comes first), after ``--idle-timeout`` seconds without media, or on SIGINT/SIGTERM.

Exit status: 0 ok; 1 protocol or server error (the onStatus code and description are printed); 2 usage (bad
arguments, unreadable input file); 3 connection failure or timeout. Logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from typing import Any, BinaryIO

from rtmpspec import amf0, media
from rtmpspec import events as E
from rtmpspec.errors import ProtocolError
from rtmpspec.flv import AUDIO, SCRIPT, VIDEO, FLVReader, FLVTag, FLVWriter
from rtmpspec.messages import DataMessage
from rtmpspec.sentinels import END as FLV_END
from rtmpspec.sentinels import NEED_DATA as FLV_NEED_DATA

from .client import (
    ClientError,
    ConnectionFailed,
    ConnectionLost,
    RTMPClient,
    RTMPTimeout,
    StatusError,
    parse_url,
)

log = logging.getLogger("rtmp-client")

EXIT_OK, EXIT_PROTOCOL, EXIT_USAGE, EXIT_CONNECTION = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input given by the user (exit status 2)."""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="seconds to wait for the connection and for each server reply (default 10)")
    common.add_argument("--tls-insecure", action="store_true", help="rtmps: do not verify the server certificate")
    common.add_argument("--handshake", choices=("digest", "digest-strict", "plain"), default="digest",
                        help="handshake flavour (default digest, falling back to the spec echo like ffmpeg)")
    common.add_argument("--strict", action="store_true",
                        help="reject server wire quirks instead of tolerating them (see reference_server.client)")
    common.add_argument("--enhanced", action="store_true",
                        help="announce Enhanced RTMP codecs (fourCcList, capsEx) in connect")
    common.add_argument("--retry-for", type=float, default=0.0, metavar="S",
                        help="retry a refused TCP connection for S seconds")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    common.add_argument("-q", "--quiet", action="store_true", help="errors only")

    p = argparse.ArgumentParser(prog="rtmp-client", description="RTMP publish/play client (rtmpspec)")
    sub = p.add_subparsers(dest="command", required=True, metavar="{publish,play}")

    pub = sub.add_parser("publish", parents=[common], help="publish an FLV file")
    pub.add_argument("url", help="rtmp[s]://host[:port]/app[/instance]/key")
    pub.add_argument("file", help="FLV file to send")
    pub.add_argument("--realtime", action="store_true", help="pace the tags by their timestamps")
    pub.add_argument("--loop", type=int, default=1, metavar="N", help="send the file N times (0: for ever)")
    pub.add_argument("--key", help="stream key (default: the playpath of the URL)")
    pub.add_argument("--type", dest="kind", default="live", help="publishing type: live, record, append")

    play = sub.add_parser("play", parents=[common], help="play a stream into an FLV file")
    play.add_argument("url", help="rtmp[s]://host[:port]/app[/instance]/key")
    play.add_argument("-o", "--output", required=True, help="FLV file to write ('-' for stdout)")
    play.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    play.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                      help="stop when no media arrives for S seconds (default: --timeout)")
    play.add_argument("--start", type=float, default=-2, help="play start argument (default -2: live or recorded)")
    play.add_argument("--key", help="stream key (default: the playpath of the URL)")
    play.add_argument("--keep-timestamps", action="store_true", help="do not rebase timestamps to start at 0")
    return p


def _client(args: argparse.Namespace) -> RTMPClient:
    return RTMPClient(timeout=args.timeout, handshake=args.handshake, strict=args.strict,
                      tls_insecure=args.tls_insecure, enhanced=args.enhanced)


def _install_stop(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / not supported
            pass


def _remove_stop() -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.remove_signal_handler(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass


# -- publish --------------------------------------------------------------------------------------------------

def _read_tags(path: str):
    """Yield the tags of an FLV file (streaming; UsageError if it is not one)."""
    reader = FLVReader()
    try:
        f = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    with f:
        while True:
            chunk = f.read(1 << 16)
            try:
                reader.receive_data(chunk)
                while (ev := reader.next_event()) is not FLV_NEED_DATA:
                    if ev is FLV_END:
                        return
                    if isinstance(ev, FLVTag):
                        yield ev
            except ProtocolError as exc:
                raise UsageError(f"{path} is not a valid FLV file: {exc}") from exc


def check_flv(path: str) -> int:
    """Validate the whole input before connecting; returns the tag count."""
    n = sum(1 for _ in _read_tags(path))
    if n == 0:
        raise UsageError(f"{path} has no tags")
    return n


async def publish(args: argparse.Namespace) -> int:
    check_flv(args.file)
    stop = asyncio.Event()
    _install_stop(stop)
    client = _client(args)
    sent = {"audio": 0, "video": 0, "data": 0}
    try:
        await client.connect(args.url, purpose="publish", retry_for=args.retry_for)
        sid = await client.publish(args.key, args.kind)
        log.info("publishing %s (stream %d)", client.publishing, sid)
        loop = asyncio.get_running_loop()
        replay: dict = {}  # metadata and sequence headers, sent again after an E-RTMP reconnect
        seen_video = False
        offset = 0  # added to the file's timestamps on later passes
        start_wall: float | None = None
        first_ts: int | None = None
        npass = 0
        while (args.loop <= 0 or npass < args.loop) and not stop.is_set():
            file_first = file_last = None
            gap, prev = 0, {}  # gap: the last positive timestamp step (video preferred), to space the passes
            for tag in _read_tags(args.file):
                if stop.is_set():
                    break
                if tag.tag_type not in (AUDIO, VIDEO, SCRIPT) or (tag.tag_type == SCRIPT and npass):
                    continue  # metadata once, other tag types never
                ts = tag.timestamp + offset
                if first_ts is None:
                    first_ts, start_wall = ts, loop.time()
                if args.realtime:
                    delay = start_wall + (ts - first_ts) / 1000 - loop.time()
                    if delay > 0:
                        try:
                            await asyncio.wait_for(stop.wait(), delay)
                            break
                        except TimeoutError:
                            pass
                if client.reconnect_request and _media_boundary(tag, seen_video):
                    client = await _reconnect(args, client, replay)
                if tag.tag_type == VIDEO:
                    seen_video = True
                _remember(replay, tag, ts)
                if tag.tag_type == AUDIO:
                    await client.send_audio(ts, tag.data)
                    sent["audio"] += 1
                elif tag.tag_type == VIDEO:
                    await client.send_video(ts, tag.data)
                    sent["video"] += 1
                else:
                    try:
                        values = amf0.decode_all(tag.data)
                    except ProtocolError as exc:
                        log.warning("skipping a script tag that does not decode: %s", exc)
                        continue
                    if values and values[0] == "onMetaData":
                        values = ["@setDataFrame", *values]
                    await client.send_data(values, timestamp=ts)
                    sent["data"] += 1
                    continue
                step = tag.timestamp - prev.get(tag.tag_type, tag.timestamp)
                if step > 0 and (tag.tag_type == VIDEO or VIDEO not in prev):
                    gap = step
                prev[tag.tag_type] = tag.timestamp
                file_first = tag.timestamp if file_first is None else min(file_first, tag.timestamp)
                file_last = tag.timestamp if file_last is None else max(file_last, tag.timestamp)
            npass += 1
            if file_first is not None:
                offset += file_last - file_first + (gap or 40)
        log.info("sent %d video, %d audio, %d data messages", sent["video"], sent["audio"], sent["data"])
        return EXIT_OK
    finally:
        _remove_stop()
        await client.close()


def _media_boundary(tag: FLVTag, seen_video: bool) -> bool:
    """Where an E-RTMP reconnect may happen: before a video keyframe (any tag of an audio-only file)."""
    if tag.tag_type == VIDEO:
        return media.is_keyframe(tag.data)
    return tag.tag_type == AUDIO and not seen_video


def _remember(replay: dict, tag: FLVTag, ts: int) -> None:
    if tag.tag_type == SCRIPT:
        replay["script"] = (tag, ts)
    elif tag.tag_type in (AUDIO, VIDEO) and media.is_sequence_header(tag.tag_type, tag.data):
        replay[tag.tag_type] = (tag, ts)


async def _reconnect(args: argparse.Namespace, old: RTMPClient, replay: dict) -> RTMPClient:
    """E-RTMP v2 Reconnect Request: publish the same key on the tcUrl the server gave, replay the metadata and
    sequence headers there, then leave the old connection."""
    target = f"{old.reconnect_request}/{old.publishing}"
    log.info("reconnecting to %s (E-RTMP reconnect request)", target)
    new = _client(args)
    try:
        await new.connect(target, purpose="publish")
        await new.publish(old.publishing, args.kind)
    except BaseException:
        await new.close()
        old.reconnect_request = None  # stay on the old connection
        raise
    for key in ("script", VIDEO, AUDIO):
        if key in replay:
            tag, ts = replay[key]
            if key == "script":
                values = amf0.decode_all(tag.data)
                if values and values[0] == "onMetaData":
                    values = ["@setDataFrame", *values]
                await new.send_data(values, timestamp=ts)
            elif key == VIDEO:
                await new.send_video(ts, tag.data)
            else:
                await new.send_audio(ts, tag.data)
    await old.close()
    return new


# -- play -----------------------------------------------------------------------------------------------------

class FLVOutput:
    """Writes received messages as FLV tags (header written with the first tag)."""

    def __init__(self, f: BinaryIO, *, rebase: bool = True) -> None:
        self.f = f
        self.writer = FLVWriter()
        self.rebase = rebase
        self.base: int | None = None
        self.header_done = False
        self.counts = {"audio": 0, "video": 0, "data": 0}
        self.last_ts = 0
        self.first_media_ts: int | None = None

    def _header(self, metadata: dict | None) -> None:
        audio = video = True
        if metadata and ("videocodecid" in metadata or "audiocodecid" in metadata):
            video = "videocodecid" in metadata
            audio = "audiocodecid" in metadata
        self.f.write(self.writer.header(audio=audio, video=video))
        self.header_done = True

    def _ts(self, ts: int, media: bool) -> int:
        if not self.rebase:
            return ts
        if self.base is None:
            if not media:
                return 0
            self.base = ts
        # serial number arithmetic (RTMP 4): a stream may cross the 32-bit wrap; a message slightly older than
        # the first media message (audio before the first video frame) is written at 0
        delta = (ts - self.base) & 0xFFFFFFFF
        return 0 if delta >= 1 << 31 else delta

    def write(self, ev: Any) -> None:
        if isinstance(ev, DataMessage):
            vals = list(ev.values)
            if vals and vals[0] == "@setDataFrame":
                vals = vals[1:]
            if not vals or (isinstance(vals[0], str) and vals[0].startswith("|")):
                return  # |RtmpSampleAccess and the like are not file content
            if not self.header_done:
                self._header(ev.metadata)
            self.f.write(self.writer.tag(SCRIPT, self._ts(ev.timestamp, False), amf0.encode_all(vals)))
            self.counts["data"] += 1
            return
        if not self.header_done:
            self._header(None)
        kind = VIDEO if isinstance(ev, E.Video) else AUDIO
        ts = self._ts(ev.timestamp, True)
        if self.first_media_ts is None:
            self.first_media_ts = ev.timestamp
        self.last_ts = ev.timestamp
        self.f.write(self.writer.tag(kind, ts, ev.payload))
        self.counts["video" if kind == VIDEO else "audio"] += 1

    def finish(self) -> None:
        if not self.header_done:
            self._header(None)
        self.f.flush()

    @property
    def media_span_ms(self) -> int:
        return 0 if self.first_media_ts is None else self.last_ts - self.first_media_ts


async def play(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    _install_stop(stop)
    idle = args.idle_timeout if args.idle_timeout is not None else args.timeout
    client = _client(args)
    out_f: BinaryIO | None = None
    out: FLVOutput | None = None
    try:
        if args.output == "-":
            out_f = sys.stdout.buffer
        else:
            try:
                out_f = open(args.output, "wb")  # noqa: SIM115
            except OSError as exc:
                raise UsageError(f"cannot write {args.output}: {exc}") from exc
        out = FLVOutput(out_f, rebase=not args.keep_timestamps)
        await client.connect(args.url, purpose="play", retry_for=args.retry_for)
        sid = await client.play(args.key, args.start)
        log.info("playing %s (stream %d)", client.playing, sid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.duration if args.duration is not None else None
        stopper = asyncio.ensure_future(stop.wait())
        reason = None
        try:
            while True:
                wait = idle
                if deadline is not None:
                    wait = min(wait, deadline - loop.time())
                    if wait <= 0:
                        reason = "duration reached"
                        break
                reader = asyncio.ensure_future(client.read(None))
                done, _ = await asyncio.wait({reader, stopper}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                if reader not in done:
                    reader.cancel()
                    if stopper in done:
                        reason = "interrupted"
                        break
                    if deadline is not None and loop.time() >= deadline - 0.001:
                        reason = "duration reached"
                        break
                    if sum(out.counts.values()) == 0:
                        raise RTMPTimeout(f"no media within {idle} s")
                    reason = f"no media for {idle} s"
                    break
                ev = reader.result()
                if ev is None:
                    reason = f"stream ended ({client.end_reason})"
                    break
                out.write(ev)
                if args.duration is not None and out.media_span_ms >= args.duration * 1000:
                    reason = "duration reached"
                    break
        finally:
            stopper.cancel()
        out.finish()
        c = out.counts
        log.info("%s: wrote %d video, %d audio, %d data tags", reason, c["video"], c["audio"], c["data"])
        return EXIT_OK
    finally:
        _remove_stop()
        if out is not None and not out.header_done and out_f is not None:
            try:
                out.finish()
            except OSError:
                pass
        await client.close()
        if out_f is not None and out_f is not sys.stdout.buffer:
            out_f.close()


# -- main -----------------------------------------------------------------------------------------------------

def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.ERROR if args.quiet else (logging.DEBUG if args.verbose >= 2 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("rtmp-client: %(message)s"))
    for name in ("rtmp-client", "reference_server.client"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level if name == "rtmp-client" or args.verbose >= 2 else max(level, logging.WARNING))
        lg.propagate = False


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    _setup_logging(args)
    try:
        parse_url(args.url)
    except ValueError as exc:
        log.error("error: %s", exc)
        return EXIT_USAGE
    t0 = time.monotonic()
    try:
        return asyncio.run(publish(args) if args.command == "publish" else play(args))
    except UsageError as exc:
        log.error("error: %s", exc)
        return EXIT_USAGE
    except StatusError as exc:
        log.error("error: server said %s", exc)
        return EXIT_PROTOCOL
    except ProtocolError as exc:
        log.error("error: protocol error: %s", exc)
        return EXIT_PROTOCOL
    except (RTMPTimeout, ConnectionFailed, ConnectionLost) as exc:
        log.error("error: %s", exc)
        return EXIT_CONNECTION
    except ClientError as exc:
        log.error("error: %s", exc)
        return EXIT_PROTOCOL
    except KeyboardInterrupt:
        return 130
    finally:
        log.debug("done in %.2f s", time.monotonic() - t0)


if __name__ == "__main__":
    sys.exit(main())
