"""The session state table (rtmpspec/_state.py), driven in every state with every input (h2 style), and the
Connection enforcing it on real messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpspec import events as E
from rtmpspec import messages as M
from rtmpspec._state import TABLE, Input, Role, State, transition
from rtmpspec.connection import Connection
from rtmpspec.errors import LocalProtocolError, ProtocolError
from rtmpspec.message_format import Message
from rtmpspec.sentinels import NEED_DATA


def reachable(role):
    seen = {State.HANDSHAKE}
    todo = [State.HANDSHAKE]
    while todo:
        s = todo.pop()
        for (r, st_, _i), nxt in TABLE.items():
            if r is role and st_ is s and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.mark.parametrize("role", list(Role))
def test_every_state_but_error_is_reachable(role):
    expected = {State.HANDSHAKE, State.CONNECT_PENDING, State.CONNECTED, State.REJECTED, State.CLOSED,
                State.AWAIT_CONNECT if role is Role.SERVER else State.READY}
    assert reachable(role) == expected


@pytest.mark.parametrize("role", list(Role))
def test_error_is_final_and_closed_takes_only_control(role):
    """A poisoned connection (ERROR) accepts nothing but its shell closing it, and stays poisoned; a closed one
    takes harmless control sends, another close or end of input, and discards what was in flight."""
    assert {i for i in Input if transition(role, State.ERROR, i) is not None} == {Input.CLOSE}
    assert transition(role, State.ERROR, Input.CLOSE) is State.ERROR
    sends = {i for i in Input if i.value.startswith("send_")}
    role_only = {Input.RECV_CONNECT_RESULT, Input.RECV_CONNECT_ERROR} if role is Role.SERVER else \
        {Input.RECV_CONNECT, Input.RECV_CONNECT_RESULT, Input.RECV_CONNECT_ERROR}  # never classified so there
    assert {i for i in Input if transition(role, State.CLOSED, i) is None} == (sends - {Input.SEND_CONTROL}) | {
        Input.HANDSHAKE_DONE} | role_only
    assert all(transition(role, State.CLOSED, i) in (State.CLOSED, None) for i in Input)


def test_nothing_but_control_before_connect():
    for inp in (Input.RECV_COMMAND, Input.RECV_MEDIA, Input.RECV_DATA):
        assert transition(Role.SERVER, State.AWAIT_CONNECT, inp) is None
    assert transition(Role.SERVER, State.AWAIT_CONNECT, Input.RECV_CONTROL) is State.AWAIT_CONNECT


# -- the Connection enforces the table on real messages ------------------------------------------------

RECEIVED = {
    "connect": M.connect("live", "rtmp://127.0.0.1/live").to_message(),
    "createStream": M.create_stream(2).to_message(),
    "publish": M.publish("key", msid=1).to_message(),
    "audio": Message(8, b"\xaf\x01\x00", 0, 1, 4),
    "video": Message(9, b"\x17\x01\x00\x00\x00", 0, 1, 6),
    "data": M.set_data_frame({"width": 320.0}).to_message(),
    "window": Message(5, (2500000).to_bytes(4, "big"), 0, 0, 2),
    "ping": Message(4, b"\x00\x06\x00\x00\x00\x07", 0, 0, 2),
    "shared-object": Message(19, b"\x00", 0, 0, 3),
}


def _feed(conn: Connection, msg: Message):
    from rtmpspec.chunkwriter import chunk_message

    conn.receive_data(chunk_message(msg, 128))
    evs = []
    while (ev := conn.next_event()) is not NEED_DATA:
        evs.append(ev)
    return evs


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(RECEIVED)), max_size=8), st.booleans())
def test_server_connection_follows_table(names, accept):
    conn = Connection(Role.SERVER, handshake=False)
    for name in names:
        before = conn.state
        try:
            evs = _feed(conn, RECEIVED[name])
        except ProtocolError as exc:
            assert exc.section, "protocol errors name a spec section"
            # poisoned from now on
            with pytest.raises(ProtocolError):
                conn.next_event()
            with pytest.raises(ProtocolError):
                conn.receive_data(b"\x00")
            return
        assert len(evs) == 1
        if name == "connect" and before is State.AWAIT_CONNECT:
            assert conn.state is State.CONNECT_PENDING
            reply = M.result(1, {"fmsVer": "x"}) if accept else M.error(1, "NetConnection.Connect.Rejected")
            conn.send(reply)
            assert conn.state is (State.CONNECTED if accept else State.REJECTED)


def test_publish_before_connect_is_a_protocol_error():
    conn = Connection(Role.SERVER, handshake=False)
    with pytest.raises(ProtocolError) as ei:
        _feed(conn, RECEIVED["publish"])
    assert "publish" in str(ei.value) and "AWAIT_CONNECT" in str(ei.value)


def test_client_cannot_publish_before_connect():
    conn = Connection(Role.CLIENT, handshake=False)
    with pytest.raises(LocalProtocolError):
        conn.send(M.publish("key"))
    conn.send(M.connect("live", "rtmp://h/live"))
    assert conn.state is State.CONNECT_PENDING
    with pytest.raises(LocalProtocolError):
        conn.send(Message(8, b"\xaf\x01", 0, 1, 4))


def test_one_event_base_siblings_not_subclasses():
    """h11's rule: one Event base, concrete events never subclass one another (isinstance dispatch is exact);
    commands and data messages are events too."""
    concrete = [getattr(E, n) for n in E.__all__ if n not in ("Event", "MessageEvent")] + [M.Command, M.DataMessage]
    for a in concrete:
        assert issubclass(a, E.Event), a
        for b in concrete:
            assert a is b or not issubclass(a, b), (a, b)
    assert not isinstance(E.Video(Message(9, b"")), E.Audio)
