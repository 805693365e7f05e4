"""RTMP conformance battery: a pytest plugin (``conformance.plugin``), the requirement catalog
(``catalog.toml``), a socket driver over rtmpspec (``driver``), case tables (``test_*.py``), reports and baselines.
See docs/conformance.md."""
