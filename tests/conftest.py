"""Fixtures shared by the test modules (helpers that are not fixtures live in ``endpoint.py``, ``peers.py``,
``interop_helpers.py``, ``nonservers.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_helpers import sample
from peers import nginx_binary, start_nginx_rtmp


@pytest.fixture(scope="session")
def sample_flv(tmp_path_factory) -> Path:
    """A real H.264/AAC FLV made by ffmpeg (skips when ffmpeg is not installed), once per process."""
    return sample(tmp_path_factory)


@pytest.fixture
def nginx_rtmp(tmp_path: Path) -> Iterator[int]:
    """Port of a fresh nginx-rtmp on 127.0.0.1 (skips if nginx or its rtmp module is missing); its error log is
    ``tmp_path / "nginx" / "error.log"``."""
    if nginx_binary() is None:
        pytest.skip("nginx with ngx_rtmp_module is not installed")
    port, stop = start_nginx_rtmp(tmp_path / "nginx")
    try:
        yield port
    finally:
        stop()
