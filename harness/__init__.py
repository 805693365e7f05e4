"""Servers under test as processes: start one, read its ``listening rtmp://HOST:PORT`` line, follow its log, stop and
restart it, read its RSS (:mod:`harness.process`); the real peers we start the same way (nginx-rtmp,
node-media-server, our reference server: :mod:`harness.peers`); and the one health probe (does it still complete a
handshake and answer ``connect``?, :mod:`harness.health`).

Used by the conformance battery, the fuzzer, the benchmarks and the tests. It imports :mod:`rtmpspec` (the probe is
a :class:`rtmpspec.connection.Connection`) and nothing else of the project: the reference server is started as a
process (``python -m reference_server``), never imported, so the battery that uses this package still never imports
it. See docs/design.md for the layers.
"""
