"""Helpers (no tests) for the interop tests: a real H.264/AAC sample FLV, ffprobe, the CLI as a subprocess (our
reference server as a subprocess is :class:`endpoint.RefServer`). Everything binds to / connects to 127.0.0.1 only
and every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_SECONDS = 5
SAMPLE_FPS = 25


def need(*binaries: str) -> None:
    """Skip the test when a real peer is not installed (.ci/run installs them)."""
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.setdefault("PYTHONUNBUFFERED", "1")
    return e


def make_sample_flv(path: Path, seconds: int = SAMPLE_SECONDS) -> Path:
    """lavfi testsrc2 + sine, libx264 (a key frame every second) + AAC, in FLV."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={SAMPLE_FPS}",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
           "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", str(SAMPLE_FPS),
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv", str(path)]
    subprocess.run(cmd, check=True, timeout=60, stdin=subprocess.DEVNULL)
    return path


_sample: list[Path] = []


def sample(tmp_path_factory) -> Path:
    """The sample FLV, made once per process (the ``sample_flv`` fixture of tests/conftest.py)."""
    need("ffmpeg", "ffprobe")
    if not _sample:
        _sample.append(make_sample_flv(tmp_path_factory.mktemp("sample") / "sample.flv"))
    return _sample[0]


def probe_counts(path: str | os.PathLike) -> dict[str, int]:
    """{codec_name: packets} as ffprobe counts them ({} when ffprobe cannot read the file)."""
    r = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                        "stream=codec_name,nb_read_packets", "-of", "csv=p=0", str(path)],
                       capture_output=True, text=True, timeout=30)
    out: dict[str, int] = {}
    for line in r.stdout.splitlines():
        parts = line.strip().split(",")
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = out.get(parts[0], 0) + int(parts[1])
    return out


def probe_duration(path: str | os.PathLike) -> float:
    """Seconds from the first to the last packet (ignores the onMetaData duration, which may be stale)."""
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0",
                        str(path)], capture_output=True, text=True, timeout=30)
    times = [float(x.strip().rstrip(",")) for x in r.stdout.split() if x.strip().rstrip(",") not in ("", "N/A")]
    return max(times) - min(times) if times else 0.0


def assert_close(got: dict[str, int], sent: dict[str, int], *, lose: float = 0.03, extra: int = 2) -> None:
    """h264 + aac present with packet counts close to what was sent."""
    assert set(got) >= {"h264", "aac"}, got
    for codec in ("h264", "aac"):
        want = sent[codec]
        assert want - max(2, int(want * lose)) <= got[codec] <= want + extra, (codec, got, sent)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "reference_server.client_cli", *args]


def start(cmd: list[str], log: Path, **kw) -> subprocess.Popen:
    with open(log, "ab") as f:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=kw.pop("stdout", subprocess.DEVNULL),
                                stderr=f, cwd=REPO, env=env(), **kw)


def finish(proc: subprocess.Popen, timeout: float) -> int:
    """Wait for a process we started; on timeout stop it (INT, then KILL) and fail."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail(f"{proc.args[:3]}... did not finish within {timeout} s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT, grace: float = 5) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_text(path: Path, text: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"{text!r} did not appear in {path} within {timeout} s:\n{path.read_text(errors='replace')[-2000:]}"
                if path.exists() else f"{path} never appeared")


def ffmpeg_publish_cmd(src: Path, url: str) -> list[str]:
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re", "-i", str(src), "-c", "copy",
            "-f", "flv", url]


def ffmpeg_play_cmd(url: str, out: Path, rw_timeout_s: float = 3) -> list[str]:
    return ["timeout", "-s", "INT", "-k", "3", "30", "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
            "-rw_timeout", str(int(rw_timeout_s * 1_000_000)), "-i", url, "-c", "copy", "-f", "flv", "-y", str(out)]
