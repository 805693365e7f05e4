"""The RTMP session state machine, as one table (h2 style): ``(role, state, input) -> next state``.

Anything not in the table is a protocol error: received input raises :class:`ProtocolError` (the peer broke
the protocol), sent input raises :class:`LocalProtocolError` (we were asked to do something out of order).
Inputs are coarse kinds of events; the connection maps each event to its kind.
"""

from __future__ import annotations

from enum import Enum


class Role(Enum):
    CLIENT = "client"
    SERVER = "server"


class State(Enum):
    HANDSHAKE = "HANDSHAKE"  # RTMP 5.2: C0/C1/C2 <-> S0/S1/S2 not finished
    AWAIT_CONNECT = "AWAIT_CONNECT"  # server: handshake done, no connect yet
    READY = "READY"  # client: handshake done, connect not sent yet
    CONNECT_PENDING = "CONNECT_PENDING"  # connect sent (client) / received (server), no answer yet
    CONNECTED = "CONNECTED"  # NetConnection established (RTMP 7.2.1.1)
    REJECTED = "REJECTED"  # connect answered with _error: only control traffic until close
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class Input(Enum):
    HANDSHAKE_DONE = "handshake_done"
    RECV_CONNECT = "recv_connect"  # a connect command
    RECV_CONNECT_RESULT = "recv_connect_result"  # _result to our connect
    RECV_CONNECT_ERROR = "recv_connect_error"  # _error to our connect
    RECV_COMMAND = "recv_command"  # any other command (incl. _result/_error/onStatus)
    RECV_CONTROL = "recv_control"  # protocol control (1,2,3,5,6) and user control (4)
    RECV_DATA = "recv_data"  # data messages 15/18
    RECV_MEDIA = "recv_media"  # audio 8, video 9, aggregate 22
    RECV_OTHER = "recv_other"  # shared objects, unknown types
    RECV_EOF = "recv_eof"
    SEND_CONNECT = "send_connect"
    SEND_CONNECT_RESULT = "send_connect_result"
    SEND_CONNECT_ERROR = "send_connect_error"
    SEND_COMMAND = "send_command"
    SEND_CONTROL = "send_control"
    SEND_DATA = "send_data"
    SEND_MEDIA = "send_media"
    CLOSE = "close"


S, I, C, V = State, Input, Role.CLIENT, Role.SERVER  # noqa: E741

_ANY_TIME = (I.RECV_CONTROL, I.SEND_CONTROL)
_ESTABLISHED = (I.RECV_COMMAND, I.RECV_DATA, I.RECV_MEDIA, I.RECV_OTHER, I.SEND_COMMAND, I.SEND_DATA, I.SEND_MEDIA,
                *_ANY_TIME)

TABLE: dict[tuple[Role, State, Input], State] = {}


def _add(role: Role, state: State, inputs, target: State | None = None) -> None:
    for i in inputs if isinstance(inputs, tuple) else (inputs,):
        TABLE[(role, state, i)] = target or state


# -- server -------------------------------------------------------------------------------------------------
_add(V, S.HANDSHAKE, I.HANDSHAKE_DONE, S.AWAIT_CONNECT)
_add(V, S.AWAIT_CONNECT, _ANY_TIME)
_add(V, S.AWAIT_CONNECT, I.RECV_CONNECT, S.CONNECT_PENDING)
# the control burst (Window Ack Size, Set Peer Bandwidth, Set Chunk Size) goes out before _result; clients may
# pipeline commands behind connect (RTMP 7.2.1.1 does not forbid it)
_add(V, S.CONNECT_PENDING, (*_ANY_TIME, I.RECV_COMMAND, I.RECV_DATA, I.SEND_COMMAND))
_add(V, S.CONNECT_PENDING, I.SEND_CONNECT_RESULT, S.CONNECTED)
_add(V, S.CONNECT_PENDING, I.SEND_CONNECT_ERROR, S.REJECTED)
_add(V, S.CONNECTED, _ESTABLISHED)
_add(V, S.REJECTED, (*_ANY_TIME, I.RECV_COMMAND, I.SEND_COMMAND))

# -- client -------------------------------------------------------------------------------------------------
_add(C, S.HANDSHAKE, I.HANDSHAKE_DONE, S.READY)
_add(C, S.READY, _ANY_TIME)
_add(C, S.READY, I.SEND_CONNECT, S.CONNECT_PENDING)
# servers send onBWDone / _onbwcheck and control messages before the connect _result
_add(C, S.CONNECT_PENDING, (*_ANY_TIME, I.RECV_COMMAND, I.RECV_DATA, I.SEND_COMMAND))
_add(C, S.CONNECT_PENDING, I.RECV_CONNECT_RESULT, S.CONNECTED)
_add(C, S.CONNECT_PENDING, I.RECV_CONNECT_ERROR, S.REJECTED)
_add(C, S.CONNECTED, _ESTABLISHED)
_add(C, S.REJECTED, (*_ANY_TIME, I.RECV_COMMAND, I.SEND_COMMAND))

# -- both: the end ------------------------------------------------------------------------------------------
for _role in Role:
    for _state in State:
        if _state is not S.ERROR:
            TABLE[(_role, _state, I.RECV_EOF)] = S.CLOSED
            TABLE[(_role, _state, I.CLOSE)] = S.CLOSED
    TABLE[(_role, S.CLOSED, I.SEND_CONTROL)] = S.CLOSED  # harmless: nothing will be written
    # bytes that were in flight when we closed are not the peer's fault: discarded, no event
    for _i in (I.RECV_COMMAND, I.RECV_CONTROL, I.RECV_DATA, I.RECV_MEDIA, I.RECV_OTHER):
        TABLE[(_role, S.CLOSED, _i)] = S.CLOSED
    TABLE[(_role, S.ERROR, I.CLOSE)] = S.ERROR  # the shell closes a poisoned connection; it stays poisoned
TABLE[(V, S.CLOSED, I.RECV_CONNECT)] = S.CLOSED

SECTION = {
    I.RECV_CONNECT: "RTMP 7.2.1.1",
    I.RECV_COMMAND: "RTMP 7.2.1.1",
    I.RECV_MEDIA: "RTMP 7.2.2.6",
    I.RECV_DATA: "RTMP 7.1.2",
}


def transition(role: Role, state: State, inp: Input) -> State | None:
    """Next state, or None when ``inp`` is not allowed in ``state``."""
    return TABLE.get((role, state, inp))
