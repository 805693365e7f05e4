"""The real :class:`rtmpspec.Connection` driven in every state with every input (h2's state-machine tests, on the
object the server and client use rather than on the table alone).

For each role, each state and each kind of input the table names, the test brings a fresh Connection to that
state by a fixed path, performs a concrete action of that kind (a chunked message received, an event sent, end of
input, close) and checks the outcome against ``rtmpspec._state.TABLE``: an allowed input moves the connection to
the table's next state; a received input the table does not allow raises ProtocolError and poisons the connection;
a sent one raises LocalProtocolError. Hypothesis then drives random sequences of those actions and checks every
step the same way.

Two kinds of input are only meaningful in one state and are classified by the Connection from context: the
``_result``/``_error`` answering a pending connect (elsewhere the same command is an ordinary command), and a
``connect`` a client sends from READY (elsewhere an ordinary command). The test classifies actions itself, from
role and state, so a Connection that misclassified them would fail it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpspec import events as E
from rtmpspec import messages as M
from rtmpspec._state import TABLE, Input, Role, State, transition
from rtmpspec.chunkwriter import chunk_message
from rtmpspec.connection import Connection
from rtmpspec.errors import LocalProtocolError, ProtocolError
from rtmpspec.message_format import Message
from rtmpspec.sentinels import NEED_DATA

I = Input  # noqa: E741
CONNECT_TID = 1.0

RECEIVED = {
    I.RECV_CONNECT: M.connect("live", "rtmp://127.0.0.1/live", transaction_id=CONNECT_TID).to_message(),
    I.RECV_CONNECT_RESULT: M.result(CONNECT_TID, {"fmsVer": "FMS/3,0,1,123"},
                                    {"code": "NetConnection.Connect.Success"}).to_message(),
    I.RECV_CONNECT_ERROR: M.error(CONNECT_TID, "NetConnection.Connect.Rejected").to_message(),
    I.RECV_COMMAND: M.create_stream(5).to_message(),
    I.RECV_CONTROL: Message(5, (2500000).to_bytes(4, "big"), 0, 0, 2),
    I.RECV_DATA: M.set_data_frame({"width": 320.0}, msid=1).to_message(),
    I.RECV_MEDIA: Message(8, b"\xaf\x01\x21\x00", 0, 1, 4),
    I.RECV_OTHER: Message(19, b"\x00\x02so\x00\x00\x00\x00\x00\x00\x00\x00", 0, 0, 3),
}


def _sent(inp: Input):
    if inp is I.SEND_CONNECT:
        return M.connect("live", "rtmp://127.0.0.1/live", transaction_id=CONNECT_TID)
    if inp is I.SEND_CONNECT_RESULT:
        return M.result(CONNECT_TID, {"fmsVer": "FMS/3,0,1,123"}, {"code": "NetConnection.Connect.Success"})
    if inp is I.SEND_CONNECT_ERROR:
        return M.error(CONNECT_TID, "NetConnection.Connect.Rejected")
    if inp is I.SEND_COMMAND:
        return M.create_stream(7)
    if inp is I.SEND_CONTROL:
        return E.WindowAckSize(2500000)
    if inp is I.SEND_DATA:
        return M.set_data_frame({"width": 320.0}, msid=1)
    if inp is I.SEND_MEDIA:
        return Message(8, b"\xaf\x01\x21\x00", 0, 1, 4)
    raise AssertionError(inp)


def producible(role: Role, state: State, inp: Input) -> bool:
    """Whether an action of kind ``inp`` exists in ``state`` (see the module docstring)."""
    if inp is I.HANDSHAKE_DONE:
        return state is State.HANDSHAKE
    if inp in (I.RECV_EOF, I.CLOSE):
        return True
    if inp.value.startswith("recv_") and state is State.HANDSHAKE:
        return False  # bytes received during the handshake are handshake bytes
    if inp is I.RECV_CONNECT:
        return role is Role.SERVER
    if inp in (I.RECV_CONNECT_RESULT, I.RECV_CONNECT_ERROR):
        return role is Role.CLIENT and state is State.CONNECT_PENDING
    if inp is I.SEND_CONNECT:
        return role is Role.CLIENT and state is State.READY
    if inp in (I.SEND_CONNECT_RESULT, I.SEND_CONNECT_ERROR):
        return role is Role.SERVER and state is State.CONNECT_PENDING
    return True


def _drain(conn: Connection) -> list:
    evs = []
    while (ev := conn.next_event()) is not NEED_DATA:
        evs.append(ev)
    return evs


def _handshake(conn: Connection) -> list:
    """Complete ``conn``'s handshake against a peer Connection of the other role."""
    peer = Connection(Role.CLIENT if conn.role is Role.SERVER else Role.SERVER)
    evs = []
    for _ in range(6):
        out = peer.data_to_send()
        if out:
            conn.receive_data(out)
        evs += _drain(conn)
        back = conn.data_to_send()
        if back:
            peer.receive_data(back)
        _drain(peer)
        if conn.state is not State.HANDSHAKE:
            break
    return evs


def act(conn: Connection, inp: Input) -> list:
    """Perform one action of kind ``inp``; the events it produced."""
    if inp is I.HANDSHAKE_DONE:
        return _handshake(conn)
    if inp is I.RECV_EOF:
        conn.receive_data(b"")
        return _drain(conn)
    if inp is I.CLOSE:
        conn.close()
        return []
    if inp in RECEIVED:
        conn.receive_data(chunk_message(RECEIVED[inp], 128))
        return _drain(conn)
    conn.send(_sent(inp))
    return []


PATHS = {
    Role.SERVER: {
        State.AWAIT_CONNECT: [],
        State.CONNECT_PENDING: [I.RECV_CONNECT],
        State.CONNECTED: [I.RECV_CONNECT, I.SEND_CONNECT_RESULT],
        State.REJECTED: [I.RECV_CONNECT, I.SEND_CONNECT_ERROR],
        State.CLOSED: [I.CLOSE],
        State.ERROR: [I.RECV_MEDIA],  # media before connect: a protocol error (RTMP 7.2.2.6)
    },
    Role.CLIENT: {
        State.READY: [],
        State.CONNECT_PENDING: [I.SEND_CONNECT],
        State.CONNECTED: [I.SEND_CONNECT, I.RECV_CONNECT_RESULT],
        State.REJECTED: [I.SEND_CONNECT, I.RECV_CONNECT_ERROR],
        State.CLOSED: [I.CLOSE],
        State.ERROR: [I.RECV_MEDIA],
    },
}


def connection_in(role: Role, state: State) -> Connection:
    if state is State.HANDSHAKE:
        conn = Connection(role)
    else:
        conn = Connection(role, handshake=False)
        for step in PATHS[role][state]:
            try:
                act(conn, step)
            except ProtocolError:
                pass
    assert conn.state is state
    return conn


def check(conn: Connection, inp: Input) -> None:
    """``inp`` on ``conn`` does what the table says."""
    before = conn.state
    nxt = transition(conn.role, before, inp)
    received = inp.value.startswith("recv_") or inp is I.HANDSHAKE_DONE
    if nxt is None:
        with pytest.raises(ProtocolError if received else LocalProtocolError) as ei:
            act(conn, inp)
        if received:
            assert type(ei.value) is ProtocolError and ei.value.section, "a protocol error names its section"
            assert conn.state is State.ERROR
            with pytest.raises(ProtocolError):  # poisoned: every later call says so
                conn.next_event()
            with pytest.raises(ProtocolError):
                conn.receive_data(b"\x00")
        else:
            assert conn.state is before, "a refused send changes nothing"
        return
    evs = act(conn, inp)
    assert conn.state is nxt, f"{before.value} --{inp.value}--> {conn.state.value}, the table says {nxt.value}"
    if inp is I.RECV_EOF and before is not State.CLOSED:
        assert any(isinstance(e, E.ConnectionClosed) for e in evs)
    elif before is State.CLOSED:
        assert evs == [], "input after close is discarded"
    elif inp.value.startswith("recv_") and inp is not I.RECV_EOF:
        assert len(evs) == 1, evs  # one message, one event
        assert isinstance(evs[0], E.Event)


CASES = [(role, state, inp) for role in Role for state in State
         if state is State.HANDSHAKE or state in PATHS[role] for inp in Input if producible(role, state, inp)]


def test_every_state_and_input_kind_is_exercised():
    """Every (role, state, input) the table names is among the cases, and every state of each role is."""
    exercised = {(r, s, i) for r, s, i in CASES}
    states = {r: {State.HANDSHAKE, *PATHS[r]} for r in Role}  # the table also lets the other role's own
    assert {k for k in TABLE if k[1] in states[k[0]]} <= exercised  # states end; those are never reached
    for role in Role:
        assert {s for r, s, _ in CASES if r is role} == {s for s in State if s is State.HANDSHAKE
                                                          or s in PATHS[role]}


@pytest.mark.parametrize(("role", "state", "inp"), CASES, ids=[f"{r.value}-{s.value}-{i.value}" for r, s, i in CASES])
def test_every_state_every_input(role, state, inp):
    check(connection_in(role, state), inp)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Role)), st.data())
def test_random_action_sequences_follow_the_table(role, data):
    conn = Connection(role)
    for _ in range(data.draw(st.integers(0, 12))):
        state = conn.state
        options = [i for i in Input if producible(role, state, i)]
        inp = data.draw(st.sampled_from(options))
        check(conn, inp)
