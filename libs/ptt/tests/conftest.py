"""Fixtures for the push-to-talk tests: a private D-Bus session bus, the portal double, Xvfb."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from dialtone.ptt.testing import PortalDouble, SessionBus, private_session_bus, xvfb_display


@pytest.fixture
def session_bus() -> Iterator[SessionBus]:
    """A private dbus-daemon, killed after the test."""
    with private_session_bus() as bus:
        yield bus


@pytest.fixture
async def portal(session_bus: SessionBus) -> AsyncIterator[PortalDouble]:
    """The GlobalShortcuts portal double, with default behaviour, on the private bus."""
    async with PortalDouble().running(session_bus.address) as double:
        yield double


@pytest.fixture
def x_display(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An Xvfb display, also set as the process's DISPLAY (pynput reads it from there)."""
    with xvfb_display() as display:
        monkeypatch.setenv("DISPLAY", display)
        yield display


@pytest.fixture
def ticks() -> Callable[[], float]:
    """A clock that counts 1.0, 2.0, 3.0... so tests can tell which event came when."""
    counter = itertools.count(1)
    return lambda: float(next(counter))
