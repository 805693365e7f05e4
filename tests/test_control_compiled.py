"""The compiled control schemas (rtmpspec.control.CONTROL_COMPILED, the receive path of every protocol control and
user control message) are the interpreted schemas on every payload the receive path hands them: parse_control checks
the exact length first (CONTROL_LENGTHS) and parse_user_control frames the event data to what its type needs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpspec import control
from rtmpspec.errors import ProtocolError

FIXED = sorted(control.CONTROL_LENGTHS)


@pytest.mark.parametrize("type_id", FIXED)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_compiled_parse_is_the_schema(type_id, data):
    payload = data.draw(st.binary(min_size=control.CONTROL_LENGTHS[type_id], max_size=control.CONTROL_LENGTHS[type_id]))
    assert control.parse_control(type_id, payload) == control.CONTROL_SCHEMAS[type_id].parse(payload)


EVENT_TYPES = st.one_of(st.sampled_from(sorted(control.USER_CONTROL_DATA) + [26, 27, 31, 32]),
                        st.integers(0, 0xFFFF))


@settings(max_examples=1000, deadline=None)
@given(etype=EVENT_TYPES, body=st.binary(max_size=12))
def test_compiled_user_control_parse_is_the_schema(etype, body):
    payload = etype.to_bytes(2, "big") + body
    need = control.USER_CONTROL_DATA.get(etype)
    if need is not None and len(body) < need[0]:
        with pytest.raises(ProtocolError):
            control.parse_user_control(payload)
        return
    framed = payload[:2 + need[0]] if need is not None else payload
    assert control.parse_user_control(payload) == (etype, control.UserControlMessage.parse(framed).eventData)


@pytest.mark.parametrize("type_id", FIXED)
def test_wrong_lengths_are_refused_before_the_schema(type_id):
    n = control.CONTROL_LENGTHS[type_id]
    for payload in (b"", bytes(n - 1), bytes(n + 1)):
        with pytest.raises(ProtocolError) as ei:
            control.parse_control(type_id, payload)
        assert ei.value.field == "messageLength"
