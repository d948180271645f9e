"""Fixtures of the daemon's tests: a private PulseAudio for the session, short socket paths."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialtone.voiced.testing import PulseAudio, private_pulseaudio


@pytest.fixture(scope="session")
def pulse() -> Iterator[PulseAudio]:
    """A private PulseAudio for the whole session, with one microphone and one speaker sink."""
    with private_pulseaudio() as server:
        server.add_null_sink("mic_t")
        server.add_null_sink("spk_t")
        yield server


@pytest.fixture
def sockets() -> Iterator[Path]:
    """A private directory with a short path (Unix socket paths are limited to 107 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="dtv-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
