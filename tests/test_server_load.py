"""Slow players never slow the publisher or the others (bounded queues, keyframe-safe dropping, disconnect);
memory stays bounded with 100 players (quick version of bench/fanout.py)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from endpoint import AAC_SEQ, AVC_SEQ, Endpoint, RefServer, aac_frame, audio, avc_frame, video
from test_server import player, publisher, run

from reference_server.config import Config
from reference_server.relay import Relay
from reference_server.relay_players import Player
from reference_server.session import CLOSE_GRACE
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.connection import Connection, Role, State


class FakeTransport:
    def __init__(self) -> None:
        self.queued = 0
        self.data = bytearray()

    def write(self, b: bytes) -> None:
        self.data += b

    def writelines(self, bufs) -> None:
        for b in bufs:
            self.data += b

    def get_write_buffer_size(self) -> int:
        return self.queued

    def is_closing(self) -> bool:
        return False


class FakeSession:
    def __init__(self, n: int) -> None:
        self.id, self.peer = n, f"fake:{n}"
        self.transport = FakeTransport()
        self.conn = Connection(Role.SERVER, handshake=False)
        self.conn.state = State.CONNECTED
        self.conn.writer.set_chunk_size(4096)
        self.closed = None

    def write(self, b: bytes) -> None:
        self.transport.write(b)

    def close(self, event, why=None, **kw) -> None:
        self.closed = (event, why)
        if self.player.stream is not None:
            self.player.stream.remove_player(self.player)

    def received(self) -> list:
        r = ChunkReader(chunk_size=4096)
        r.receive_data(bytes(self.transport.data))
        return [m for m in r if m.type_id in (8, 9)]


def test_drop_policy_is_keyframe_safe_in_process():
    async def main():
        cfg = Config(player_soft_limit=1000, player_hard_limit=5000, player_check_interval=0)
        relay = Relay(cfg)
        s = relay.get("live", "x")
        pub = FakeSession(0)
        s.start_publish(pub, 1)
        fast, slow = FakeSession(1), FakeSession(2)
        for fs in (fast, slow):
            fs.player = Player(fs, 1, "x")
            s.add_player(fs.player)
        s.on_media(video(AVC_SEQ, 0))
        t = 0
        for i in range(30):
            if i == 7:
                slow.transport.queued = 2000  # over the soft limit: drop non-key video
            if i == 12:
                slow.transport.queued = 0  # drained: video again from the next keyframe (i == 20)
            s.on_media(video(avc_frame(i % 10 == 0, 100, fill=i), t))
            s.on_media(audio(aac_frame(10, fill=i), t))
            s.flush()
            t += 40
        assert len([m for m in fast.received() if m.type_id == 9]) == 31
        got = [m.payload[5] for m in slow.received() if m.type_id == 9 and m.payload != AVC_SEQ]
        assert got == list(range(0, 7)) + list(range(20, 30)), got
        assert len([m for m in slow.received() if m.type_id == 8]) == 30  # audio kept flowing
        assert slow.player.dropped == 13
        slow.transport.queued = 6000  # over the hard limit: disconnected
        s.on_media(video(avc_frame(False, 10), t))
        s.flush()
        assert slow.closed and slow.closed[0] == "slow_player" and slow.player not in s.players
        assert fast.player in s.players
    run(main())


def test_slow_player_is_dropped_while_publisher_and_fast_player_go_on(tmp_path):
    with RefServer("--player-soft-limit", "1048576", "--player-hard-limit", "4194304",
                       "--player-lag-timeout", "0.5", log_path=str(tmp_path / "server.log")) as srv:
        async def main():
            pub, msid = await publisher(srv, "s")
            fast, _ = await player(srv, "s")
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.connect((srv.host, srv.port))
            slow = await Endpoint.open(None, None, sock=raw)
            await slow.connect("live")
            sm = await slow.create_stream()
            await slow.play("s", sm)
            slow.transport.pause_reading()
            pub.send(video(AVC_SEQ, 0, msid), audio(AAC_SEQ, 0, msid))
            frames = 400
            t0 = time.monotonic()
            for i in range(frames):
                pub.send(video(avc_frame(i % 25 == 0, 20000, fill=i), i * 40, msid), audio(aac_frame(), i * 40, msid))
                if i % 20 == 19:
                    await asyncio.sleep(0.02)
            sent_in = time.monotonic() - t0
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                n = sum(1 for e in fast.events if type(e).__name__ == "Video")
                if n >= frames + 1:
                    break
                await asyncio.sleep(0.05)
            assert n == frames + 1
            assert sent_in < 5
            for _ in range(100):
                if srv.events("slow_player"):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(CLOSE_GRACE + 0.2)
            slow.transport.resume_reading()
            await slow.wait_closed(5)
            assert not pub.closed.done()
            rss = srv.rss_kib()
            for p in (pub, fast, slow):
                p.close()
            return rss

        rss = run(main(), 40)
        assert rss < 200 * 1024
        ev = srv.events("slow_player")
        assert ev and "bytes queued" in ev[0]["what"]


@pytest.mark.slow
def test_100_players_memory_sanity(tmp_path):
    with RefServer(log_path=str(tmp_path / "server.log")) as srv:
        async def main():
            pub, msid = await publisher(srv, "m")
            counts = [0] * 100

            def counter(i):
                def on_media(m, i=i):
                    counts[i] += 1
                return on_media

            players = []
            for i in range(100):
                p = await Endpoint.open(srv.host, srv.port, keep=False, on_media=counter(i))
                await p.connect("live")
                sid = await p.create_stream()
                await p.play("m", sid)
                players.append(p)
            pub.send(video(AVC_SEQ, 0, msid), audio(AAC_SEQ, 0, msid))
            loop = asyncio.get_running_loop()
            start = loop.time()
            n = 0
            peak = 0
            while loop.time() - start < 3:  # ~4 Mbit/s: 25 fps x 20 kB + audio
                t = n * 40
                pub.send(video(avc_frame(n % 25 == 0, 20000, fill=n), t, msid), audio(aac_frame(300), t, msid))
                n += 1
                await asyncio.sleep(max(0, start + n * 0.04 - loop.time()))
                if n % 25 == 0:
                    peak = max(peak, srv.rss_kib())
            total = 2 + 2 * n
            deadline = loop.time() + 15
            while loop.time() < deadline and min(counts) < total:
                await asyncio.sleep(0.1)
            assert min(counts) == total
            for p in players + [pub]:
                p.close()
            return peak

        peak = run(main(), 60)
        assert peak < 100 * 1024, f"server RSS {peak} KiB"


def _late_joiner_setup():
    cfg = Config()
    relay = Relay(cfg)
    s = relay.get("live", "e")
    pub = FakeSession(0)
    s.start_publish(pub, 1)
    return s


def _join(s, n):
    fs = FakeSession(n)
    fs.player = Player(fs, 1, "e")
    s.add_player(fs.player)
    return fs


ERTMP = "/work/shared/media/ertmp-av1-opus-mptestsrc.flv"


def test_late_joiner_gets_ertmp_headers_and_gop_from_real_file():
    import os

    from rtmpspec import media
    from rtmpspec.flv import read_flv
    from rtmpspec.message_format import Message
    from rtmpspec.messages import DataMessage

    path = ERTMP if os.path.exists(ERTMP) else os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                                "media", "ertmp-av1-opus-mptestsrc.flv")
    if not os.path.exists(path):
        pytest.skip("shared E-RTMP media not available")
    _, tags = read_flv(path)

    async def main():
        s = _late_joiner_setup()
        keyframes = [i for i, t in enumerate(tags) if t.tag_type == 9 and media.is_keyframe(t.data)]
        cut = keyframes[-1] + 20  # join in the middle of the last GOP
        for i, t in enumerate(tags):
            if i == cut:
                late = _join(s, 1)
            if t.tag_type == 18:
                s.on_data(DataMessage.from_message(Message(18, t.data, t.timestamp, 1, 5)))
            else:
                s.on_media(Message(t.tag_type, t.data, t.timestamp, 1, 4))
            s.flush()
        got = late.received()
        kinds = [media.describe_video(m.payload) if m.type_id == 9 else media.describe_audio(m.payload)
                 for m in got]
        heads = [k for k in kinds if k.get("is_sequence_header")]
        names = {(k.get("fourcc"), k.get("packet_type_name")) for k in heads}
        assert {("av01", "SequenceStart"), ("Opus", "SequenceStart"), ("Opus", "MultichannelConfig")} <= names
        first_video = next(i for i, m in enumerate(got) if m.type_id == 9 and not kinds[i]["is_sequence_header"]
                           and kinds[i].get("packet_type_name") != "Metadata")
        assert kinds[first_video]["is_keyframe"]
        # from the keyframe on, every media tag of the file is relayed unchanged
        tail = [(t.tag_type, t.timestamp, t.data) for t in tags[keyframes[-1]:] if t.tag_type in (8, 9)]
        assert [(m.type_id, m.timestamp, m.payload) for m in got[first_video:]] == tail
    run(main())


def test_multitrack_sequence_headers_are_cached_per_track():
    mt_one = bytes([0x96, 0x00]) + b"av01" + bytes([2]) + b"cfg2"
    mt_many = (bytes([0x96, 0x10]) + b"av01" + bytes([0]) + (4).to_bytes(3, "big") + b"cfg0" + bytes([1])
               + (4).to_bytes(3, "big") + b"cfg1")
    key = (bytes([0x96, 0x11]) + b"av01" + bytes([0]) + (4).to_bytes(3, "big") + b"fra0" + bytes([1])
           + (4).to_bytes(3, "big") + b"fra1")

    async def main():
        s = _late_joiner_setup()
        for m in (video(AVC_SEQ, 0), video(mt_many, 0), video(mt_one, 0), video(key, 0), audio(AAC_SEQ, 0)):
            s.on_media(m)
        late = _join(s, 1)
        got = [m.payload for m in late.received()]
        assert set(got[:4]) == {AVC_SEQ, mt_many, mt_one, AAC_SEQ} and got[4:] == [key]
    run(main())


def test_metadata_forms_are_stored_unwrapped():
    from rtmpspec.amf0_values import AVMPlus, ECMAArray
    from rtmpspec.amf3_values import AMF3Object
    from rtmpspec.message_format import Message
    from rtmpspec.messages import DataMessage

    forms = [
        DataMessage(("@setDataFrame", "onMetaData", ECMAArray({"width": 1.0})), 1),
        DataMessage(("onMetaData", {"width": 1.0}), 1),
        DataMessage(("@setDataFrame", "onMetaData", AVMPlus(AMF3Object("", {}, {"width": 1.0}))), 1, amf3=True),
    ]

    async def main():
        for dm in forms:
            s = _late_joiner_setup()
            wire = dm.to_message()  # through the AMF encoder and back, as the server sees it
            s.on_data(DataMessage.from_message(Message(wire.type_id, wire.payload, 0, 1, 5)))
            assert dict(s.metadata) == {"width": 1.0}, dm
            late = _join(s, 1)
            from rtmpspec.chunkreader import ChunkReader
            r = ChunkReader(chunk_size=4096)
            r.receive_data(bytes(late.transport.data))
            [m] = [m for m in r if m.type_id == 18]
            assert DataMessage.from_message(m).values == ("onMetaData", {"width": 1.0})
    run(main())
