"""Fuzzing campaigns against RTMP servers and in-process fuzzing of the rtmpspec parsers.

Modules:

- :mod:`fuzz.draw`: draws values from the schema-derived hypothesis strategies (``rtmpspec.strategies``) with a
  seeded random source, and counts the schema fields exercised.
- :mod:`fuzz.generators`: one generator per layer (handshake, chunk headers, control, AMF0, commands, media, session,
  corpus mutation); each returns a :class:`fuzz.case.FuzzCase` (exact bytes per connection).
- :mod:`fuzz.session`: the session state machine (connect -> createStream -> publish/play, with steps out of order,
  repeated or missing) and a hypothesis ``RuleBasedStateMachine`` over the same rules.
- :mod:`fuzz.mutators`: field-aware and byte-level mutations of recorded sessions.
- :mod:`fuzz.netio`: running a case over TCP (asyncio, loopback only).
- :mod:`fuzz.target`: the server under fuzzing (a :mod:`harness` process or an address) and its log watcher.
- :mod:`fuzz.runner`: the campaign loop (bounded by time and count), triage of suspects, progress line.
- :mod:`fuzz.findings`, :mod:`fuzz.minimize`: reproducers (save, load, replay), deduplication, delta debugging.
- :mod:`fuzz.inproc`: in-process fuzzing of ChunkReader, Connection, AMF0/AMF3, FLV and media tag parsers.
- :mod:`fuzz.report`: JSON and HTML summaries in ``reports/fuzz/``.
- :mod:`fuzz.case`, :mod:`fuzz.hostile`, :mod:`fuzz.corpus`, :mod:`fuzz.oracle`: cases, hostile AMF, seed corpus,
  detection (probe + exit + log + RSS).
- :mod:`fuzz.capture`: ffmpeg sessions recorded through a loopback proxy.

Every crafted byte comes from :mod:`rtmpspec.craft` (handshake flights, chunked messages, the valid prefixes of a
session); servers are started and probed by :mod:`harness` (presets: reference, nginx-rtmp, node-media-server).

See ``docs/fuzzing.md``.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
