"""``python -m rtmpspec``: a dissector users can point at bytes.

  python -m rtmpspec dump FILE [--from client|server] [--no-handshake] [--strict]
  python -m rtmpspec flv FILE

One JSON object per line. On bad input: every message decoded before the error is printed, then the error
(with its byte offset) goes to stderr and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import RTMPError


def _print(obj) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n")


def cmd_dump(args) -> int:
    from .dissect import dissect_stream

    with open(args.file, "rb") as f:
        data = f.read()
    try:
        for item in dissect_stream(data, direction=args.from_, handshake=not args.no_handshake,
                                   strict=args.strict):
            if "handshake" in item and not args.show_handshake:
                continue
            _print(item)
    except RTMPError as exc:
        sys.stdout.flush()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_flv(args) -> int:
    from .flv import describe_flv

    try:
        for item in describe_flv(args.file):
            _print(item)
    except RTMPError as exc:
        sys.stdout.flush()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rtmpspec", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump", help="decode one direction of a raw RTMP TCP stream")
    d.add_argument("file")
    d.add_argument("--from", dest="from_", choices=["client", "server"], default="client",
                   help="client: the stream starts with C0/C1/C2; server: with S0/S1/S2")
    d.add_argument("--no-handshake", action="store_true", help="the file starts at the first chunk")
    d.add_argument("--strict", action="store_true", help="no interop leniency (e.g. nginx-rtmp's missing "
                   "extended timestamps on continuation chunks)")
    d.add_argument("--show-handshake", action="store_true", help="also print the handshake as the first line")
    d.set_defaults(func=cmd_dump)
    f = sub.add_parser("flv", help="print an FLV file's header and one line per tag")
    f.add_argument("file")
    f.set_defaults(func=cmd_flv)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
