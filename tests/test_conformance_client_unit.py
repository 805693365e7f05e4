"""Client mode of the battery, without real clients: command templates, presets, the client catalog, the input
variants, the stage's evidence (extended timestamps on Type 3 chunks, fed through a socket pair), and which cases
a run selects in server and in client mode."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from conformance import catalog
from conformance.case import REGISTRY
from conformance.client import inputs, judge
from conformance.client.presets import PRESETS, role_of
from conformance.client.process import ClientCommandError, render
from conformance.client.runner import SCENARIOS
from conformance.client.scenario import ClientSpec
from conformance.client.stage import Peer
from conformance.selftest import ROOT
from conformance.wire import WireLog
from rtmpspec import handshake as hs
from rtmpspec.chunkheader import build_header
from rtmpspec.chunkwriter import ChunkWriter
from rtmpspec.flv import read_flv
from rtmpspec.message_format import Message


def test_render_substitutes_each_argument():
    argv = render("tool -i {input} --out '{output}' {url}", url="rtmp://h:1/live/k", input="/a b.flv",
                  output="/o.flv")
    assert argv == ["tool", "-i", "/a b.flv", "--out", "/o.flv", "rtmp://h:1/live/k"]
    assert render("{python} -m x {url}", url="u")[0] == sys.executable


def test_render_rejects_unknown_placeholders_and_empty_commands():
    with pytest.raises(ClientCommandError, match=r"\{nope\}"):
        render("tool {nope} {url}", url="u")
    with pytest.raises(ClientCommandError):
        render("   ", url="u")


def test_client_spec_presets_and_custom_commands():
    spec = ClientSpec.parse("ffmpeg-publish")
    assert (spec.name, spec.role) == ("ffmpeg-publish", "publish")
    assert ClientSpec.parse("x -i {input} {url}").role == "publish"
    assert ClientSpec.parse("y {url} -o {output}").role == "play"
    assert ClientSpec.parse("y {url}", "play").role == "play"
    with pytest.raises(ValueError, match="url"):
        ClientSpec.parse("no-placeholder")
    with pytest.raises(ValueError):
        ClientSpec.parse("ffmpeg-publish", "play")
    assert role_of("a {output}") == "play"


def test_every_preset_has_a_role_a_url_and_a_baseline():
    for p in PRESETS.values():
        assert p.role in ("publish", "play") and "{url}" in p.template
        assert ("{input}" in p.template) == (p.role == "publish"), p.name
        assert ("{output}" in p.template) == (p.role == "play"), p.name
        assert (ROOT / "conformance" / "baselines" / "clients" / f"{p.name}.json").exists(), p.name


def test_client_catalog_is_separate_and_every_client_case_uses_it():
    client = catalog.for_who("client")
    server = catalog.for_who("server")
    assert len(client) >= 40 and len(server) >= 110
    assert all(r.id.startswith("client-") for r in client.values())
    assert not any(r.id.startswith("client-") for r in server.values())
    import conformance.test_client_play  # noqa: F401
    import conformance.test_client_publish  # noqa: F401

    client_cases = [c for c in REGISTRY.values() if c.id.startswith("client-")]
    assert len(client_cases) >= 60
    assert {c.req for c in client_cases} == set(client), "every client requirement has a case, and only those"
    for c in client_cases:
        params = c.params
        if "scenario" in params:
            assert params["scenario"] in SCENARIOS, c.id


def test_input_variants_keep_the_media_and_move_the_timestamps(tmp_path):
    base = inputs.media_items("av")
    ext = inputs.media_items("ext-ts")
    wrap = inputs.media_items("wrap")
    assert [i.payload for i in base] == [i.payload for i in ext] == [i.payload for i in wrap]
    assert max(i.timestamp for i in ext) > 1 << 24 and min(i.timestamp for i in ext) == 0
    assert wrap[0].timestamp == (1 << 32) - 1000 and min(i.timestamp for i in wrap) < 1000
    _, tags = read_flv(inputs.write_variant("wrap", tmp_path))
    assert [(t.tag_type, t.timestamp, t.data) for t in tags] == inputs.variant_tags("wrap")


def _peer_fed_with(chunks: bytes) -> Peer:
    a, b = socket.socketpair()
    peer = Peer(a, WireLog(), step_timeout=2.0)
    c1 = hs.make_plain_challenge(time=0)
    b.sendall(b"\x03" + c1)
    peer.pump(1.0)
    s1 = bytes(peer.hs_out[1:1 + hs.PACKET_SIZE])
    b.sendall(hs.make_echo_response(s1, time2=0) + chunks)
    deadline_reads = 20
    while deadline_reads and peer.recorder.bytes_received < len(chunks):
        peer.pump(0.2)
        deadline_reads -= 1
    b.close()
    return peer


def test_type3_extended_timestamp_evidence():
    """A message with timestamp 2**24 + 5 over 3 chunks: a right writer puts the extended timestamp on both
    Type 3 chunks; a writer that leaves it out is caught on each of them, with offsets and header bytes."""
    msg = Message(9, bytes(range(256)) + bytes(100), (1 << 24) + 5, 1, 6)
    good = _peer_fed_with(ChunkWriter().write(msg))
    needed, bad = judge.type3_extended_violations(good)
    assert (needed, bad) == (2, [])
    assert good.inbox[0].payload == msg.payload

    first = build_header(0, 6, msg.timestamp, len(msg.payload), 9, 1)
    cont = build_header(3, 6)  # no extended timestamp: the fault
    p = msg.payload
    faulty = _peer_fed_with(first + p[:128] + cont + p[128:256] + cont + p[256:])
    needed, bad = judge.type3_extended_violations(faulty)
    assert needed == 2 and len(bad) == 2
    assert bad[0]["decoded"]["extended_timestamp"] is None
    assert bad[0]["decoded"]["expected_extended_timestamp"] == msg.timestamp
    assert faulty.inbox[0].payload == msg.payload  # the lenient recorder still reads the message


def test_compare_media_and_timestamps():
    from conformance.payloads import Item

    sent = [Item(9, 0, b"k"), Item(8, 0, b"a0"), Item(8, 23, b"a1"), Item(9, 40, b"i")]
    same = [Item(9, 100, b"k"), Item(8, 100, b"a0"), Item(8, 123, b"a1"), Item(9, 140, b"i")]
    assert judge.compare_media(sent, same, what="x") is None
    assert judge.compare_timestamps(sent, same, what="x") is None
    lost = same[:-1]
    assert "1 of 2 video" in judge.compare_media(sent, lost, what="x")[0]
    shifted = [Item(9, 100, b"k"), Item(8, 100, b"a0"), Item(8, 124, b"a1"), Item(9, 140, b"i")]
    assert "audio message 23 ms" in judge.compare_timestamps(sent, shifted, what="x")[0]
    eos = Item(9, 150, bytes((0x17, 2, 0, 0, 0)))
    assert judge.compare_media(sent, same + [eos], what="x", trailer_ok=True) is None
    assert judge.compare_media(sent, same + [eos], what="x") is not None
    wrapped_sent = [Item(9, 0xFFFFFFF0, b"k"), Item(9, 0x10, b"i")]
    wrapped_got = [Item(9, 0, b"k"), Item(9, 0x20, b"i")]
    assert judge.compare_timestamps(wrapped_sent, wrapped_got, what="x") is None


def _collect(*args: str) -> list[str]:
    r = subprocess.run([sys.executable, "-m", "pytest", "conformance", "--collect-only", "-q", "-p",
                        "no:cacheprovider", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return [ln for ln in r.stdout.splitlines() if "::" in ln]


def test_server_mode_runs_no_client_case_and_client_mode_only_its_role(tmp_path):
    server = _collect("--reports-dir", str(tmp_path / "s"))
    assert server and not any("test_client_" in n for n in server)
    pub = _collect("--client", "rtmp-client-publish", "--reports-dir", str(tmp_path / "p"))
    assert pub and all("test_client_publish.py" in n for n in pub)
    play = _collect("--client", "rtmp-client-play", "--reports-dir", str(tmp_path / "q"))
    assert play and all("test_client_play.py" in n for n in play)
