"""Scenarios for publishing clients: the battery plays a live server and records what the client sends.

Every scenario accepts the client's connection, answers connect / createStream / publish (with the knobs of
:class:`Behaviour` turned as the scenario needs) and records the media that follows until the client closes or
goes quiet. What each one provokes is in its docstring; the cases in ``conformance/test_client_publish.py`` judge
the recordings.
"""

from __future__ import annotations

import time

from rtmpspec import control, events, messages
from rtmpspec.chunkheader import build_header
from rtmpspec.messages import Command

from .scenario import Run, ScenarioError, register
from .script import Behaviour, Script
from .stage import Peer

MEDIA_QUIET = 1.0  # a publisher that sends nothing for this long has finished its input
MEDIA_LIMIT = 12.0  # bound on one publish session
PING_VALUE = 0x5AFE1234
RECONNECT_APP = "live2"
OBSERVE = 5.0  # how long a rejected / cut-off client is watched


def start_publish(run: Run, behaviour: Behaviour, *, peer: Peer | None = None) -> tuple[Peer, Script]:
    """Accept, handshake, connect, answer until publish; ScenarioError when the client gets no further."""
    peer = peer or run.accept()
    s = Script(peer, behaviour)
    try:
        s.accept_connect(run.step_timeout * 2)
        s.serve_until_start(run.step_timeout * 2, wanted=("publish", "play"))
    except Exception as exc:
        raise ScenarioError(f"the publish sequence did not complete: {type(exc).__name__}: {exc}") from exc
    if s.started.name != "publish":
        raise ScenarioError(f"the client sent {s.started.name}, not publish: is it a playing client?")
    run.data["publish_time"] = time.monotonic()
    run.data["publish_answered"] = s.answered_at
    return peer, s


def collect(peer: Peer, quiet: float = MEDIA_QUIET, limit: float = MEDIA_LIMIT) -> None:
    """Read media until the client closes, says goodbye (deleteStream) or sends nothing for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not peer.closed:
        before = peer.bytes_in
        peer.pump(min(quiet, max(0.0, deadline - time.monotonic())))
        if peer.bytes_in == before:
            return
        if any(m.name == "deleteStream" for m in peer.inbox[-4:]):
            peer.drain(0.1, 0.5)
            return


def basic(run: Run, **behaviour) -> None:
    """A plain live server (as nginx-rtmp answers); the client publishes its input. (pub-basic answers publish
    0.3 s late: media sent before the answer shows.)"""
    peer, _ = start_publish(run, Behaviour(**behaviour))
    collect(peer)


def ack_window(run: Run, window: int = 128) -> None:
    """Window Acknowledgement Size ``window`` (tiny) and Set Peer Bandwidth of the same size (servers send the
    two alike, nginx-rtmp 5000000 each), then a connect _result of 1.2 KB: the window is crossed several times
    before the client can go on (the checkpoint: what the client must have acknowledged, less one window)."""
    peer = run.accept()
    s = Script(peer, Behaviour(window=window, peer_bandwidth=window, result_padding=1000))
    try:
        s.accept_connect(run.step_timeout * 2)
        run.data["checkpoint_sent"] = peer.bytes_out
        s.serve_until_start(run.step_timeout * 2, wanted=("publish",))
    except Exception as exc:
        raise ScenarioError(f"the publish sequence did not complete: {type(exc).__name__}: {exc}") from exc
    run.data["window"] = window
    run.data["publish_time"] = time.monotonic()
    collect(peer)


def ping(run: Run) -> None:
    """A PingRequest right after the connect _result (a publisher that sends its file as fast as it can may be
    gone before a later one): the PingResponse must carry its timestamp."""
    peer = run.accept()
    s = Script(peer, Behaviour())
    try:
        s.accept_connect(run.step_timeout * 2)
        peer.send(events.UserControl(control.PING_REQUEST, timestamp=PING_VALUE))
        run.data["ping_sent"] = time.monotonic()
        s.serve_until_start(run.step_timeout * 2, wanted=("publish",))
    except Exception as exc:
        raise ScenarioError(f"the publish sequence did not complete: {type(exc).__name__}: {exc}") from exc
    run.data["publish_time"] = time.monotonic()
    collect(peer)


def abort(run: Run) -> None:
    """createStream is answered through an Abort: on the reply chunk stream the first chunk of a decoy (an _error
    for the same transaction, as long as the real answer), then Abort Message for that chunk stream, then the real
    _result as a NEW message with a Type 3 header (same length, type, stream, delta 0). A client that honours the
    Abort reads the _result and goes on to publish; one that ignores it glues the decoy's first chunk to the
    _result's bytes."""
    peer = run.accept()
    s = Script(peer, Behaviour(chunk_size=None))

    def on_create(m) -> None:
        s.create_stream = m
        tid = m.command.transaction_id
        real = Command("_result", tid, None, (float(s.b.stream_id),))
        decoy = messages.error(tid, "NetStream.Create.Failed", "decoy: must be aborted")
        real_p, decoy_p = real.to_message().payload, decoy.to_message().payload
        # pad the shorter one with a trailing AMF0 string argument so both have the same length (> 1 chunk)
        width = max(len(real_p), len(decoy_p), 300)
        real_p = _padded(real, width)
        decoy_p = _padded(decoy, width)
        csid = 7
        first = build_header(0, csid, 0, width, 20, 0) + decoy_p[:128]
        peer.send_raw(first, f"decoy _error (tid {tid:g}): its first chunk only ({width} bytes announced)")
        peer.send(events.Abort(csid))
        chunks = [build_header(3, csid) + real_p[i:i + 128] for i in range(0, width, 128)]
        peer.send_raw(b"".join(chunks), f"the real _result (tid {tid:g}) as a new message with Type 3 headers",
                      forget=(csid,))
        run.data["abort_sent"] = time.monotonic()

    s.handlers["createStream"] = on_create
    try:
        s.accept_connect(run.step_timeout * 2)
        s.serve_until_start(run.step_timeout * 2, wanted=("publish",))
    except Exception as exc:
        raise ScenarioError(f"no publish after the aborted answer: {type(exc).__name__}: {exc}") from exc
    run.data["publish_time"] = time.monotonic()
    collect(peer)


def _padded(cmd: Command, width: int) -> bytes:
    base = cmd.to_message().payload
    if len(base) >= width:
        return base
    # an AMF0 string argument costs 3 bytes of header
    pad = width - len(base) - 3
    return Command(cmd.name, cmd.transaction_id, cmd.command_object, cmd.args + ("x" * pad,)).to_message().payload


def rejected(run: Run, answer: str) -> None:
    """publish answered with ``answer`` (badname: onStatus NetStream.Publish.BadName level error; error: _error
    for publish's transaction; close: the server closes the TCP connection). Watched for OBSERVE seconds:
    connections, media after the answer, the client's exit."""
    peer, s = start_publish(run, Behaviour(publish_answer=answer))
    t0 = run.data["publish_time"]
    run.data["answer"] = answer
    deadline = t0 + OBSERVE
    while time.monotonic() < deadline:
        left = deadline - time.monotonic()
        for p in run.peers:
            p.pump(0)
        if run.stage.connection_waiting():
            extra = run.stage.accept(0.1)
            if extra is not None:
                run.data.setdefault("reconnects", []).append(time.monotonic() - t0)
                # a reconnecting client gets the same answer, so the count measures its loop
                Script(extra, Behaviour(publish_answer=answer))
        if not run.proc.alive() and all(p.closed or p.sock is None for p in run.peers):
            break
        time.sleep(min(0.02, max(0.0, left)))
    for p in run.peers[1:]:
        p.drain(0.05, 0.2)
    run.data["closed_at"] = (time.monotonic() - t0) if (peer.closed or peer.sock is None) else None
    run.data["exit"] = run.proc.returncode
    run.data["observed"] = time.monotonic() - t0


def reconnect(run: Run) -> None:
    """E-RTMP v2 Reconnect Request right after NetStream.Publish.Start (a publisher sending a file as fast as it
    can would be done before a later one): onStatus NetConnection.Connect.ReconnectRequest (stream 0,
    transaction 0) with tcUrl rtmp://127.0.0.1:PORT/live2. Only sent to a client that announced capsEx Reconnect
    in connect (E-RTMP v2: the capability shows in connect)."""
    peer, s = start_publish(run, Behaviour(connect_extra={"capsEx": 1.0}))
    obj = s.connect.command.command_object if s.connect is not None else None
    caps = obj.get("capsEx") if isinstance(obj, dict) else None
    run.data["caps_ex"] = caps
    if not isinstance(caps, (int, float)) or not int(caps) & 1:
        run.data["announced"] = False
        collect(peer, 0.3, 3)
        return
    run.data["announced"] = True
    new_tc = run.stage.tc_url(RECONNECT_APP)
    run.data["tc_url"] = new_tc
    s.reply(messages.on_status("NetConnection.Connect.ReconnectRequest", "The conformance battery asks you to "
                               "reconnect.", msid=0, extra={"tcUrl": new_tc}))
    run.data["request_sent"] = time.monotonic()
    second = run.stage.accept(OBSERVE, alive=run.proc.alive)
    if second is None:
        run.data["second"] = None
        collect(peer, 0.3, 2)
        return
    run.data["second"] = second
    s2 = Script(second, Behaviour())
    try:
        s2.accept_connect(run.step_timeout * 2)
        s2.serve_until_start(run.step_timeout * 2, wanted=("publish",))
        run.data["second_publish"] = s2.started
        second.wait_until(lambda: len(second.media()) >= 3, "media on the new connection", run.step_timeout)
    except Exception as exc:  # noqa: BLE001
        run.data["second_error"] = f"{type(exc).__name__}: {exc}"
    run.data["second_connect"] = s2.connect
    peer.drain(0.2, 2)
    run.data["old_closed"] = peer.closed
    collect(second, 0.5, 4)


register("pub-basic", "publish", basic, publish_delay=0.3)
register("pub-ack", "publish", ack_window)
register("pub-ping", "publish", ping)
register("pub-scs-1", "publish", basic, chunk_size=1)
register("pub-scs-65536", "publish", basic, chunk_size=65536, result_padding=70000)
register("pub-scs-2147483647", "publish", basic, chunk_size=2147483647, result_padding=70000)
register("pub-abort", "publish", abort)
register("pub-csid-2byte", "publish", basic, reply_csid=100)
register("pub-csid-3byte", "publish", basic, reply_csid=1000)
register("pub-server-ext-ts", "publish", basic, reply_timestamp=0x1000005, chunk_size=None)
register("pub-ext-ts", "publish", basic, input="ext-ts")
register("pub-wrap", "publish", basic, input="wrap")
register("pub-badname", "publish", rejected, answer="badname")
register("pub-error", "publish", rejected, answer="error")
register("pub-close", "publish", rejected, answer="close")
register("pub-reconnect", "publish", reconnect)
