"""Reference RTMP server (and client) on :mod:`rtmpspec`: a thin asyncio shell over the sans-I/O Connection."""
