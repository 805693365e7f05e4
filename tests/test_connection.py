"""The sans-I/O Connection: handshake, control burst, acknowledgements, pings, errors (RTMP 5.2, 5.4, 7.1.7)."""

from __future__ import annotations

import random

import pytest

from rtmpspec import control
from rtmpspec import events as E
from rtmpspec import messages as M
from rtmpspec._state import State
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.chunkwriter import chunk_message
from rtmpspec.connection import Connection, Role
from rtmpspec.errors import ProtocolError
from rtmpspec.message_format import Message
from rtmpspec.sentinels import NEED_DATA


def drain(c):
    out = []
    while (ev := c.next_event()) is not NEED_DATA:
        out.append(ev)
    return out


def pump(a, b):
    data = a.data_to_send()
    if data:
        b.receive_data(data)
    return data


def handshaken(digest="auto"):
    srv = Connection(Role.SERVER, rng=random.Random(1), digest=digest)
    cli = Connection(Role.CLIENT, rng=random.Random(2), digest=digest if digest != "auto" else True)
    for _ in range(3):
        pump(cli, srv)
        drain(srv)
        pump(srv, cli)
        drain(cli)
    assert srv.state is State.AWAIT_CONNECT and cli.state is State.READY
    return srv, cli


def connected():
    srv, cli = handshaken()
    srv.receive_data(cli.send(M.connect("live", "rtmp://127.0.0.1/live")))
    [cmd] = drain(srv)
    assert cmd.name == "connect" and cmd.command_object["app"] == "live"
    cli.receive_data(srv.send(M.result(1, {"fmsVer": "FMS/3,0,1,123"}, {"code": "NetConnection.Connect.Success"})))
    [res] = drain(cli)
    assert srv.state is State.CONNECTED and cli.state is State.CONNECTED
    return srv, cli


@pytest.mark.parametrize("digest", ["auto", False])
def test_handshake_both_roles(digest):
    srv, cli = handshaken(digest)
    assert srv.handshake_info.peer_version == 3
    assert srv.handshake_info.digest is (digest == "auto")


def test_first_chunk_in_the_same_segment_as_c2():
    srv = Connection(Role.SERVER, rng=random.Random(1))
    cli = Connection(Role.CLIENT, rng=random.Random(2), digest=False)
    pump(cli, srv)
    drain(srv)
    pump(srv, cli)
    drain(cli)
    c2 = cli.data_to_send()
    srv.receive_data(c2 + cli.send(M.connect("live", "rtmp://h/live")))
    evs = drain(srv)
    assert isinstance(evs[0], E.HandshakeDone) and evs[1].name == "connect"


def test_acknowledgement_after_window():
    srv, cli = connected()
    srv.receive_data(cli.send(E.WindowAckSize(1000)))
    drain(srv)
    cli.data_to_send()
    payload = bytes(600)
    for i in range(4):
        srv.receive_data(cli.send(Message(9, payload, i * 40, 1, 6)))
        drain(srv)
    out = srv.data_to_send()
    r = ChunkReader(chunk_size=128)
    r.receive_data(out)
    acks = [int.from_bytes(m.payload, "big") for m in r if m.type_id == control.ACKNOWLEDGEMENT]
    assert acks, "the server acknowledges once the window is reached (RTMP 5.4.3)"
    assert all(a >= 1000 for a in acks)


def test_ping_request_is_answered():
    srv, cli = connected()
    cli.receive_data(srv.send(E.UserControl(control.PING_REQUEST, timestamp=4242)))
    [ev] = drain(cli)
    assert ev.event_type == control.PING_REQUEST and ev.timestamp == 4242
    srv.receive_data(cli.data_to_send())
    [pong] = drain(srv)
    assert pong.event_type == control.PING_RESPONSE and pong.timestamp == 4242


def test_set_peer_bandwidth_answered_with_window_ack_size():
    """RTMP 5.4.5: Hard and Soft limits are answered with Window Acknowledgement Size; a Dynamic one is treated as
    Hard after a Hard one and ignored otherwise (no answer, no limit)."""
    srv, cli = connected()
    cli.receive_data(srv.send(E.SetPeerBandwidth(2500000, 2)))  # Dynamic first: ignored
    [ev] = drain(cli)
    assert cli.data_to_send() == b"" and cli.output_limit is None
    cli.receive_data(srv.send(E.SetPeerBandwidth(60000, 0)))  # Hard
    drain(cli)
    srv.receive_data(cli.data_to_send())
    [was] = drain(srv)
    assert isinstance(was, E.WindowAckSize) and was.size == 60000 and cli.output_limit == 60000
    cli.receive_data(srv.send(E.SetPeerBandwidth(240000, 1)))  # Soft: the smaller limit stays
    drain(cli)
    assert cli.output_limit == 60000
    cli.receive_data(srv.send(E.SetPeerBandwidth(70000, 2)))  # Dynamic after Soft: ignored
    drain(cli)
    assert cli.output_limit == 60000 and cli.peer_bandwidth == (240000, 1)


def test_set_chunk_size_both_ways():
    srv, cli = connected()
    cli.receive_data(srv.send(E.SetChunkSize(4096)) + srv.send(Message(9, bytes(5000), 0, 1, 6)))
    evs = drain(cli)
    assert evs[0] == E.SetChunkSize(4096) and len(evs[1].payload) == 5000


def test_control_message_on_wrong_stream_is_rejected_in_strict_mode():
    srv, cli = connected()
    srv.receive_data(chunk_message(Message(5, (100).to_bytes(4, "big"), 0, 1, 2), 128))
    with pytest.raises(ProtocolError) as ei:
        drain(srv)
    assert ei.value.field == "messageStreamID" and ei.value.section == "RTMP 5.4"


def test_short_control_payload_names_the_field():
    srv, cli = connected()
    srv.receive_data(chunk_message(Message(3, b"\x00\x01", 0, 0, 2), 128))
    with pytest.raises(ProtocolError) as ei:
        drain(srv)
    assert ei.value.field == "messageLength" and ei.value.section == "RTMP 5.4.3"


def test_garbage_amf_is_a_protocol_error_with_offset():
    srv, cli = connected()
    srv.receive_data(chunk_message(Message(20, b"\x02\x00\x05pub", 0, 0, 3), 128))
    with pytest.raises(ProtocolError) as ei:
        drain(srv)
    assert ei.value.offset is not None


def test_eof_reports_connection_closed():
    srv, cli = connected()
    srv.receive_data(b"")
    [ev] = drain(srv)
    assert isinstance(ev, E.ConnectionClosed) and ev.clean
    assert srv.state is State.CLOSED


def test_eof_in_the_middle_of_a_message_is_unclean():
    srv, cli = connected()
    data = cli.send(Message(9, bytes(300), 0, 1, 6))
    srv.receive_data(data[:200])
    srv.receive_data(b"")
    [ev] = drain(srv)
    assert isinstance(ev, E.ConnectionClosed) and not ev.clean


def test_eof_during_handshake():
    srv = Connection(Role.SERVER)
    srv.receive_data(b"\x03" + bytes(100))
    srv.receive_data(b"")
    [ev] = drain(srv)
    assert isinstance(ev, E.ConnectionClosed) and not ev.clean


def test_bad_version_rejected():
    srv = Connection(Role.SERVER)
    srv.receive_data(b"\x06" + bytes(1536))
    with pytest.raises(ProtocolError) as ei:
        drain(srv)
    assert ei.value.field == "version" and ei.value.offset == 0


def test_connect_rejected_then_only_control():
    srv, cli = handshaken()
    srv.receive_data(cli.send(M.connect("nope", "rtmp://h/nope")))
    drain(srv)
    cli.receive_data(srv.send(M.error(1, "NetConnection.Connect.Rejected")))
    [err] = drain(cli)
    assert err.name == "_error" and err.code == "NetConnection.Connect.Rejected"
    assert srv.state is State.REJECTED and cli.state is State.REJECTED


def test_unacknowledged_bytes_tracked():
    srv, cli = connected()
    srv.send(Message(9, bytes(10000), 0, 1, 6))
    before = srv.unacknowledged
    srv.receive_data(cli.send(E.Acknowledgement(srv.bytes_sent)))
    drain(srv)
    assert before > 10000 and srv.unacknowledged == 0


def test_command_views_round_trip():
    for cmd in [M.connect("live", "rtmp://h/live", extra={"fourCcList": ["av01", "hvc1"]}), M.create_stream(2),
                M.publish("k"), M.play("k", -2, -1, True), M.delete_stream(1), M.release_stream("k", 2),
                M.fc_publish("k", 3), M.on_status("NetStream.Publish.Start", "ok")]:
        assert M.Command.from_message(cmd.to_message()) == cmd


def test_metadata_with_and_without_set_data_frame():
    md = {"width": 320.0, "height": 240.0}
    for wrapped in (True, False):
        d = M.DataMessage.from_message(M.set_data_frame(md, wrapped=wrapped).to_message())
        assert d.metadata == md


def test_metadata_in_amf3_is_recognised():
    from rtmpspec.amf0_values import AVMPlus
    from rtmpspec.amf3_values import AMF3Object

    d = M.DataMessage(("@setDataFrame", "onMetaData", AVMPlus(AMF3Object("", {}, {"width": 320.0}))), amf3=True)
    assert M.DataMessage.from_message(d.to_message()).metadata == {"width": 320.0}


def test_connect_with_nan_transaction_id_is_answered():
    # found by the fuzz campaign: the _result echoing a NaN id must still complete the connect
    srv, cli = handshaken()
    srv.receive_data(cli.send(M.connect("live", "rtmp://h/live", transaction_id=float("nan"))))
    [cmd] = drain(srv)
    srv.send(M.result(cmd.transaction_id, {"fmsVer": "x"}))
    assert srv.state is State.CONNECTED


def test_large_first_message_in_the_same_read_as_c2():
    # found by the conformance battery (5.2-byte-stream-c2-with-70k-connect)
    srv = Connection(Role.SERVER, rng=random.Random(1))
    cli = Connection(Role.CLIENT, rng=random.Random(2), digest=False)
    pump(cli, srv)
    drain(srv)
    pump(srv, cli)
    drain(cli)
    big = M.connect("live", "rtmp://h/live", extra={"pad": "p" * 70000})
    srv.receive_data(cli.data_to_send() + cli.send(big))
    evs = drain(srv)
    assert evs[1].command_object["pad"] == "p" * 70000


def test_window_set_together_with_the_data_it_covers_is_acknowledged():
    # found by the conformance battery (5.4.4-window-size-change)
    srv, cli = connected()
    srv.receive_data(cli.send(Message(9, bytes(3000), 0, 1, 6)) + cli.send(E.WindowAckSize(1000)))
    drain(srv)
    r = ChunkReader(chunk_size=128)
    r.receive_data(srv.data_to_send())
    assert any(m.type_id == control.ACKNOWLEDGEMENT for m in r)


# -- time: the handshake's time fields and the timers (handle_timer) ----------------------------------------------

def test_handshake_times_come_from_now():
    """C1/S1 carry the sender's time in ms (RTMP 5.2.3) and C2/S2 the time the peer's C1/S1 was read (5.2.4)."""
    cli = Connection(Role.CLIENT, now=12.345, digest=False, rng=random.Random(2))
    srv = Connection(Role.SERVER, now=100.0, digest=False, rng=random.Random(1))
    c0c1 = cli.data_to_send()
    assert int.from_bytes(c0c1[1:5], "big") == 12345
    srv.receive_data(c0c1, 100.5)
    drain(srv)
    s = srv.data_to_send()
    assert int.from_bytes(s[1:5], "big") == 100000  # S1 time: the server's now at creation
    assert int.from_bytes(s[1 + 1536 + 4:1 + 1536 + 8], "big") == 100500  # S2 time2: when C1 was read
    cli.receive_data(s, 13.0)
    drain(cli)
    c2 = cli.data_to_send()
    assert int.from_bytes(c2[4:8], "big") == 13000


def test_handshake_timer_ends_a_connection_that_never_connects():
    srv = Connection(Role.SERVER, now=5.0, handshake_timeout=10.0, idle_timeout=60.0)
    assert srv.next_timer() == 15.0
    srv.handle_timer(14.0)
    assert drain(srv) == [] and srv.state is State.HANDSHAKE
    srv.handle_timer(15.5)
    [ev] = drain(srv)
    assert ev == E.Timeout("handshake", 10.5, "HANDSHAKE") and srv.state is State.CLOSED
    assert srv.next_timer() is None


def test_idle_timer_pings_a_quiet_peer_then_ends_the_connection():
    srv, cli = connected()
    srv.handshake_timeout, srv.idle_timeout = 10.0, 60.0
    srv.last_receive = 100.0
    assert srv.next_timer() == 130.0  # half the idle timeout without input: a ping
    srv.handle_timer(129.0)
    assert srv.data_to_send() == b""
    srv.handle_timer(131.0)
    cli.receive_data(srv.data_to_send())
    [ping] = drain(cli)
    assert ping.event_type == control.PING_REQUEST and ping.timestamp == 131000
    assert srv.next_timer() == 146.0  # then every quarter of it
    srv.handle_timer(140.0)
    assert srv.data_to_send() == b""
    srv.receive_data(cli.data_to_send(), 141.0)  # the Ping Response
    [pong] = drain(srv)
    assert pong.event_type == control.PING_RESPONSE and pong.timestamp == 131000
    assert srv.next_timer() == 171.0
    srv.handle_timer(201.5)
    [ev] = drain(srv)
    assert ev.what == "idle" and ev.seconds == 60.5 and srv.state is State.CLOSED


def test_no_timers_without_timeouts():
    srv, _ = connected()
    assert srv.next_timer() is None
    srv.handle_timer(1e9)
    assert drain(srv) == [] and srv.data_to_send() == b""
