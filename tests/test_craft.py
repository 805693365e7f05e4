"""rtmpspec.craft, the one crafting module: what it makes parses back with the schemas and says what was asked."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpspec import control, craft
from rtmpspec import handshake as hs
from rtmpspec.chunkheader import ChunkHeader, csid_of
from rtmpspec.chunkreader import ChunkReader
from rtmpspec.chunkwriter import chunk_message
from rtmpspec.message_format import Message, MessageType
from rtmpspec.messages import Command


@given(st.integers(0, 3), st.integers(64, 319), st.sampled_from((2, 3)))
def test_basic_header_in_a_longer_form_parses_to_the_same_csid(fmt, csid, form):
    h = craft.header(fmt, csid, form=form, timestamp=7, length=3, type_id=20, msid=1)
    parsed = ChunkHeader.parse(h, type3_extended=False)
    assert csid_of(parsed.basic) == csid and parsed.basic.head.fmt == fmt
    assert len(h) == form + (11, 7, 3, 0)[fmt]


@settings(max_examples=200)
@given(st.integers(2, 65599), st.sampled_from((8, 9, 18, 20)), st.binary(max_size=700),
       st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF), st.sampled_from((1, 60, 128, 4096)))
def test_a_plain_crafted_message_is_what_the_writer_makes_statelessly(csid, t, payload, ts, msid, size):
    msg = Message(t, payload, ts, msid, csid)
    assert craft.message(csid, t, payload, chunk_size=size, timestamp=ts, msid=msid) == chunk_message(msg, size)
    assert b"".join(craft.message_chunks(csid, t, payload, chunk_size=size, timestamp=ts, msid=msid)) == \
        chunk_message(msg, size)


def test_lying_length_and_unfinished_message():
    data = craft.message(3, 20, bytes(300), length=1000, limit=2)
    r = ChunkReader()
    r.receive_data(data)
    assert list(r) == [] and r.held == 256  # two chunks of a message that claims 1000 bytes
    h = ChunkHeader.parse(data[:12], type3_extended=False)
    assert h.message.messageLength == 1000


def test_type3_without_the_extended_timestamp_is_the_pre_errata_mistake():
    ts = 0x1000000
    good = craft.message(6, 9, bytes(200), timestamp=ts, msid=1)
    bad = craft.message(6, 9, bytes(200), timestamp=ts, msid=1, ext_on_type3=False)
    assert len(good) - len(bad) == 4  # one continuation chunk, its 4-byte extended timestamp left out
    r = ChunkReader()
    r.receive_data(good)
    [m] = list(r)
    assert m.timestamp == ts and m.payload == bytes(200)


@given(st.integers(0, 0xFFFFFFFF))
def test_control_payloads_with_any_value_parse_back(value):
    scs = control.SetChunkSize.parse(craft.control_payload(MessageType.SET_CHUNK_SIZE, value))
    assert (scs.reserved << 31 | scs.chunkSize) == value
    assert control.Acknowledgement.parse(craft.control_payload(3, value)).sequenceNumber == value
    assert control.SetPeerBandwidth.parse(craft.control_payload(6, value, 2)).acknowledgementWindowSize == value
    uc = control.UserControlMessage.parse(craft.control_payload(4, value, control.PING_REQUEST))
    assert uc.eventData.timestamp == value
    uc = control.UserControlMessage.parse(craft.control_payload(4, value, control.SET_BUFFER_LENGTH, 250))
    assert (uc.eventData.streamID, uc.eventData.bufferLength) == (value, 250)


def test_handshake_flight_and_session_prefix():
    rng = random.Random(4)
    f = craft.flight(rng, digest=True)
    assert len(f) == hs.FLIGHT_SIZE and f[0] == 3
    assert hs.find_digest(f[1:1 + hs.PACKET_SIZE], hs.GENUINE_FP_KEY_PARTIAL) is not None
    parts = craft.prefix("playing", random.Random(1), app="app1", key="k1", digest=False)
    assert [label for label, _ in parts] == ["handshake C0+C1+C2", "connect", "createStream", "play k1"]
    r = ChunkReader()
    r.receive_data(b"".join(d for _, d in parts[1:]))
    cmds = [Command.from_message(m) for m in r]
    assert [(c.name, c.transaction_id) for c in cmds] == [("connect", 1), ("createStream", 2), ("play", 3)]
    assert cmds[0].command_object["app"] == "app1" and cmds[2].msid == craft.STREAM_ID
