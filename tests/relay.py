"""A recording loopback TCP relay and a pcap writer for its recordings (test helper, not part of rtmpspec).

``Relay(upstream_port)`` listens on a free 127.0.0.1 port; for each accepted connection it opens one connection
to ``127.0.0.1:upstream_port`` and forwards both directions, recording every ``recv()`` as a
:class:`Segment` ``(time, direction, data)`` where direction is ``"c2s"`` (client to server) or ``"s2c"``.
``Relay.connections`` lists one :class:`Connection` per accepted client, in accept order.

``write_pcap(path, connections, server_port)`` turns the recordings into a classic pcap file (Ethernet / IPv4 /
TCP, one TCP segment per recorded ``recv()``, segments over 65000 bytes split, a SYN/SYN-ACK/ACK opening and
FINs at the end, correct seq/ack numbers per direction) that tshark can dissect. It returns, per connection and
direction, the stream offsets at which each emitted TCP segment starts, so a test can tell whether a message
straddles a segment boundary.

``capture_session(...)`` runs the real thing used by the tests and by golden/make_capture.py: nginx-rtmp, ffmpeg
publishing through the relay, ffmpeg playing through the relay at the same time.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

C2S = "c2s"
S2C = "s2c"
MAX_SEGMENT = 65000  # bytes of TCP payload per synthesized segment (IPv4 total length must stay < 65536)


@dataclass(frozen=True)
class Segment:
    time: float  # time.time() when recv() returned
    direction: str  # C2S or S2C
    data: bytes


@dataclass
class Connection:
    index: int
    client_addr: tuple[str, int]
    upstream_addr: tuple[str, int] | None = None  # our local address towards the upstream
    segments: list[Segment] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)

    def stream(self, direction: str) -> bytes:
        """All bytes of one direction, in order."""
        return b"".join(s.data for s in self.segments if s.direction == direction)

    def boundaries(self, direction: str) -> list[int]:
        """Stream offsets at which each recorded recv() started."""
        out, pos = [], 0
        for s in self.segments:
            if s.direction == direction:
                out.append(pos)
                pos += len(s.data)
        return out


class Relay:
    """Threaded recording relay 127.0.0.1:port -> 127.0.0.1:upstream_port. Use as a context manager."""

    def __init__(self, upstream_port: int, *, recv_size: int = 65536, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self.recv_size = recv_size
        self.connections: list[Connection] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(8)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="relay-accept", daemon=True)

    def __enter__(self) -> Relay:
        self._accept_thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                conn = Connection(len(self.connections), addr, upstream.getsockname())
                self.connections.append(conn)
                self._socks += [client, upstream]
            done = [0]

            def pump(src: socket.socket, dst: socket.socket, direction: str, conn: Connection = conn,
                     done: list = done) -> None:
                try:
                    while True:
                        data = src.recv(self.recv_size)
                        if not data:
                            break
                        with self._lock:  # time taken under the lock: list order == time order
                            conn.segments.append(Segment(time.time(), direction, data))
                        dst.sendall(data)
                except OSError:
                    pass
                finally:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    with self._lock:
                        done[0] += 1
                        if done[0] == 2:
                            conn.closed.set()

            for args in ((client, upstream, C2S), (upstream, client, S2C)):
                t = threading.Thread(target=pump, args=args, name=f"relay-{conn.index}-{args[2]}", daemon=True)
                t.start()
                self._threads.append(t)

    def wait_closed(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for c in list(self.connections):
            if not c.closed.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def close(self) -> None:
        self._stopping.set()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in self._threads:
            t.join(timeout=2)
        if self._accept_thread.is_alive():
            self._accept_thread.join(timeout=2)


# -- pcap ------------------------------------------------------------------------------------------------------

def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


_MAC_CLIENT = bytes.fromhex("020000000001")
_MAC_SERVER = bytes.fromhex("020000000002")
_ACK, _PSH, _SYN, _FIN = 0x10, 0x08, 0x02, 0x01


def _frame(src_ip: bytes, dst_ip: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
           payload: bytes, ip_id: int) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
    csum = _checksum(pseudo + tcp + payload)
    tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ip_id & 0xFFFF, 0x4000, 64, 6, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    src_mac, dst_mac = (_MAC_CLIENT, _MAC_SERVER) if src_ip.endswith(b"\x01") else (_MAC_SERVER, _MAC_CLIENT)
    return dst_mac + src_mac + b"\x08\x00" + ip + tcp + payload


def write_pcap(path: str | os.PathLike, connections: list[Connection], server_port: int, *,
               mss: int = MAX_SEGMENT) -> dict:
    """Write a pcap of ``connections`` (client 127.0.0.1:ephemeral -> 127.0.0.2:server_port, so the two ends
    have distinct addresses). Each recorded recv() becomes one TCP segment, or several of at most ``mss``
    bytes (a smaller ``mss`` re-cuts the same bytes the way a real network would). Returns
    ``{(conn.index, direction): [segment start offsets]}`` for the TCP segments actually written."""
    if not 0 < mss <= MAX_SEGMENT:
        raise ValueError(f"mss must be 1..{MAX_SEGMENT}")
    client_ip, server_ip = bytes([127, 0, 0, 1]), bytes([127, 0, 0, 2])
    records: list[tuple[float, bytes]] = []
    starts: dict = {}
    ip_id = 1
    for conn in connections:
        cport = conn.client_addr[1]
        isn = {C2S: 1000 + conn.index * 7919, S2C: 500000 + conn.index * 104729}
        nxt = {C2S: isn[C2S] + 1, S2C: isn[S2C] + 1}
        t0 = conn.segments[0].time - 0.001 if conn.segments else time.time()
        ends = {
            C2S: (client_ip, server_ip, cport, server_port),
            S2C: (server_ip, client_ip, server_port, cport),
        }
        other = {C2S: S2C, S2C: C2S}

        def emit(t: float, d: str, flags: int, payload: bytes, seq: int | None = None, *, ends: dict = ends,
                 nxt: dict = nxt, other: dict = other) -> None:
            nonlocal ip_id
            src, dst, sp, dp = ends[d]
            ack = nxt[other[d]] if flags & _ACK else 0
            records.append((t, _frame(src, dst, sp, dp, nxt[d] if seq is None else seq, ack, flags, payload,
                                      ip_id)))
            ip_id += 1

        emit(t0, C2S, _SYN, b"", seq=isn[C2S])
        emit(t0 + 0.0001, S2C, _SYN | _ACK, b"", seq=isn[S2C])
        emit(t0 + 0.0002, C2S, _ACK, b"")
        pos = {C2S: 0, S2C: 0}
        t = t0
        for seg in conn.segments:  # recorded order (times are taken under the relay's lock: same order)
            d = seg.direction
            t = max(seg.time, t + 1e-6)  # strictly increasing, whatever the clock did: the sort keeps this order
            lst = starts.setdefault((conn.index, d), [])
            for i in range(0, len(seg.data), mss):
                piece = seg.data[i:i + mss]
                lst.append(pos[d])
                emit(t, d, _ACK | _PSH, piece)
                t += 1e-6
                nxt[d] += len(piece)
                pos[d] += len(piece)
        t_end = t + 0.001
        emit(t_end, C2S, _FIN | _ACK, b"")
        nxt[C2S] += 1
        emit(t_end + 0.0001, S2C, _FIN | _ACK, b"")
        nxt[S2C] += 1
        emit(t_end + 0.0002, C2S, _ACK, b"")
    records.sort(key=lambda r: r[0])  # stable: the per-connection order is kept for equal times
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))  # LINKTYPE_ETHERNET
        for t, frame in records:
            sec = int(t)
            usec = int(round((t - sec) * 1e6))
            if usec >= 1000000:
                sec, usec = sec + 1, usec - 1000000
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            f.write(frame)
    return starts


# -- the real session ------------------------------------------------------------------------------------------

PUBLISH_ARGS = ["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
                "-t", "3", "-c:v", "libx264", "-g", "25", "-c:a", "aac", "-f", "flv"]


@dataclass
class Capture:
    publish: Connection
    play: Connection
    relay_port: int
    flv_path: Path  # what the player wrote
    publish_rc: int
    play_rc: int


def capture_session(workdir: str | os.PathLike, *, stream: str = "cap", timeout: float = 25.0,
                    rw_timeout_us: int = 5000000) -> Capture:
    """nginx-rtmp + relay; ffmpeg publishes ``live/<stream>`` through the relay while a second ffmpeg plays it
    through the relay into ``workdir/out.flv``. Returns both recorded connections (raises on failure)."""
    try:
        from tests import peers
    except ImportError:  # run from tests/ on sys.path
        import peers

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    port, stop_nginx = peers.start_nginx_rtmp(work / "nginx")
    procs: list[subprocess.Popen] = []
    try:
        with Relay(port) as relay:
            url = f"rtmp://127.0.0.1:{relay.port}/live/{stream}"
            out = work / "out.flv"
            with open(work / "publish.log", "wb") as plog:
                pub = subprocess.Popen(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "info", *PUBLISH_ARGS,
                                        url], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=plog)
            procs.append(pub)
            # the player starts once the publisher is through publish (nginx has no GOP cache: it would
            # otherwise wait for the next keyframe; here it gets metadata + sequence headers at once)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if relay.connections and b"publish" in relay.connections[0].stream(C2S)[3073:]:
                    break
                if pub.poll() is not None:
                    raise RuntimeError(f"publisher exited early ({pub.returncode}): "
                                       f"{(work / 'publish.log').read_text()[-2000:]}")
                time.sleep(0.02)
            else:
                raise RuntimeError("publisher never sent publish")
            time.sleep(0.2)
            with open(work / "play.log", "wb") as llog:
                play = subprocess.Popen(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "info", "-rw_timeout",
                                         str(rw_timeout_us), "-i", url, "-c", "copy", "-f", "flv", "-y", str(out)],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=llog)
            procs.append(play)
            pub_rc = pub.wait(timeout=timeout)
            # nginx keeps the player's connection open after the publisher leaves (it only sends Stream EOF):
            # the player ends on its rw_timeout, with a complete file, then sends deleteStream.
            play_rc = play.wait(timeout=timeout)
            relay.wait_closed(5)
            conns = list(relay.connections)
        if len(conns) != 2:
            raise RuntimeError(f"expected 2 connections through the relay, saw {len(conns)}")
        return Capture(conns[0], conns[1], relay.port, out, pub_rc, play_rc)
    finally:
        for p in procs:
            peers.stop(p)
        stop_nginx()


# -- keeping a capture on disk (golden/make_capture.py, and one capture shared by all test workers) -------------

def save_capture(cap: Capture, directory: str | os.PathLike) -> None:
    """``capture.json`` (segment times, directions, lengths) + ``conn<i>.segments.bin`` (their bytes in order)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    conns = []
    for role, conn in (("publish", cap.publish), ("play", cap.play)):
        (d / f"conn{conn.index}.segments.bin").write_bytes(b"".join(s.data for s in conn.segments))
        conns.append({"role": role, "index": conn.index, "client_addr": list(conn.client_addr),
                      "segments": [[s.time, s.direction, len(s.data)] for s in conn.segments]})
    meta = {"relay_port": cap.relay_port, "flv": str(cap.flv_path), "publish_rc": cap.publish_rc,
            "play_rc": cap.play_rc, "connections": conns}
    (d / "capture.json.tmp").write_text(json.dumps(meta))
    os.replace(d / "capture.json.tmp", d / "capture.json")


def load_capture(directory: str | os.PathLike) -> Capture:
    d = Path(directory)
    meta = json.loads((d / "capture.json").read_text())
    conns = {}
    for c in meta["connections"]:
        blob = (d / f"conn{c['index']}.segments.bin").read_bytes()
        conn = Connection(c["index"], tuple(c["client_addr"]))
        pos = 0
        for t, direction, n in c["segments"]:
            conn.segments.append(Segment(t, direction, blob[pos:pos + n]))
            pos += n
        conn.closed.set()
        conns[c["role"]] = conn
    return Capture(conns["publish"], conns["play"], meta["relay_port"], Path(meta["flv"]), meta["publish_rc"],
                   meta["play_rc"])


def shared_capture(tmp_path_factory, *, rw_timeout_us: int = 2000000) -> Capture:
    """One real capture per test session, shared by every pytest-xdist worker (file lock in the session's common
    temporary directory); a failure is recorded so that other workers fail at once instead of retrying.

    The player's -rw_timeout is 2 s here (the brief's 5 s costs 10 s of idle waiting: ffmpeg 5.1 waits it twice
    after the publisher leaves, because nginx-rtmp keeps the player's connection open)."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    d = base / "rtmp-relay-capture"
    d.mkdir(parents=True, exist_ok=True)
    with open(base / "rtmp-relay-capture.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (d / "capture.json").exists():
                return load_capture(d)
            if (d / "failed.txt").exists():
                raise RuntimeError("the shared capture failed in another worker: " + (d / "failed.txt").read_text())
            try:
                cap = capture_session(d / "work", rw_timeout_us=rw_timeout_us)
            except Exception as exc:
                (d / "failed.txt").write_text(f"{type(exc).__name__}: {exc}")
                raise
            save_capture(cap, d)
            return load_capture(d)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
