"""``create_backend``: the auto selection matrix and explicit choices, against the real things.

"Portal available" is the GlobalShortcuts double on a private dbus-daemon; "portal missing" is
that bus without the double; "hotkey available" is an Xvfb display.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dialtone.ptt import (
    BackendChoice,
    BackendKind,
    BackendSelection,
    HotkeyBackend,
    InvalidKeySpecError,
    PortalBackend,
    PortalDeclinedError,
    PortalUnavailableError,
    WaylandHotkeyRefusedError,
    create_backend,
)
from dialtone.ptt.testing import PortalDouble, SessionBus

pytestmark = pytest.mark.slow

WAYLAND = {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}
FALLBACK = {"DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK": "1"}


@pytest.fixture
async def select() -> AsyncIterator[list[BackendSelection]]:
    """Selections made in a test; their backends are stopped afterwards.

    Tests list it LAST among their fixtures, so it is torn down first: backends stop while the
    bus and the X server they use still run.
    """
    made: list[BackendSelection] = []
    yield made
    for selection in made:
        if selection.backend is not None:
            await selection.backend.stop()


async def _create(
    made: list[BackendSelection], choice: str, env: dict[str, str]
) -> BackendSelection:
    selection = await create_backend(choice, env=env, key="f9", response_timeout=5.0)
    made.append(selection)
    return selection


# --- auto on Wayland ----------------------------------------------------------------------------


async def test_auto_on_wayland_picks_the_portal(
    session_bus: SessionBus, portal: PortalDouble, x_display: str, select: list[BackendSelection]
) -> None:
    """Portal first on Wayland, even when the hotkey fallback is also allowed."""
    env = {**WAYLAND, **FALLBACK, "DBUS_SESSION_BUS_ADDRESS": session_bus.address}
    env["DISPLAY"] = x_display
    selection = await _create(select, "auto", env)
    assert selection.kind is BackendKind.PORTAL
    assert isinstance(selection.backend, PortalBackend)
    assert selection.requested is BackendChoice.AUTO
    assert selection.failures == ()
    assert selection.reason.startswith("Wayland session: portal: GlobalShortcuts v1")
    assert portal.sessions[0].shortcuts["push-to-talk"]["preferred_trigger"] == "F9"


async def test_auto_on_wayland_without_portal_falls_back_to_vad(
    session_bus: SessionBus, x_display: str, select: list[BackendSelection]
) -> None:
    """No portal and no opt-in: voice activity decides, and the reason says how to opt in."""
    env = {**WAYLAND, "DBUS_SESSION_BUS_ADDRESS": session_bus.address, "DISPLAY": x_display}
    selection = await _create(select, "auto", env)
    assert selection.kind is BackendKind.VAD
    assert selection.backend is None
    assert [type(f) for f in selection.failures] == [PortalUnavailableError]
    assert selection.reason.startswith("Wayland session: portal unavailable: the XDG Desktop")
    assert "voice activity decides when you speak" in selection.reason
    assert "DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK=1" in selection.reason


async def test_auto_on_wayland_with_a_declined_portal_falls_back_to_vad(
    session_bus: SessionBus, select: list[BackendSelection]
) -> None:
    """The user saying no in the portal dialog is a reason to fall back, reported as such."""
    async with PortalDouble(bind_response=1).running(session_bus.address):
        env = {**WAYLAND, "DBUS_SESSION_BUS_ADDRESS": session_bus.address}
        selection = await _create(select, "auto", env)
    assert selection.kind is BackendKind.VAD
    assert [type(f) for f in selection.failures] == [PortalDeclinedError]
    assert "the user declined" in selection.reason


async def test_auto_on_wayland_with_opt_in_falls_back_to_the_hotkey(
    session_bus: SessionBus, x_display: str, select: list[BackendSelection]
) -> None:
    """No portal, DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK=1: the X11 hotkey, with both reasons."""
    env = {**WAYLAND, **FALLBACK, "DBUS_SESSION_BUS_ADDRESS": session_bus.address}
    env["DISPLAY"] = x_display
    selection = await _create(select, "auto", env)
    assert selection.kind is BackendKind.HOTKEY
    assert isinstance(selection.backend, HotkeyBackend)
    assert [type(f) for f in selection.failures] == [PortalUnavailableError]
    assert selection.reason.startswith("Wayland session: portal unavailable: ")
    assert "; hotkey: f9 via pynput on X11 display" in selection.reason
    assert "XWayland fallback" in selection.reason


async def test_auto_on_wayland_with_opt_in_but_nothing_works_falls_back_to_vad(
    session_bus: SessionBus, select: list[BackendSelection]
) -> None:
    """No portal and no X display either: VAD, with the portal's and the hotkey's reasons."""
    env = {**WAYLAND, **FALLBACK, "DBUS_SESSION_BUS_ADDRESS": session_bus.address}
    selection = await _create(select, "auto", env)
    assert selection.kind is BackendKind.VAD
    assert len(selection.failures) == 2
    assert "portal unavailable: " in selection.reason
    assert "hotkey unavailable: no X display" in selection.reason
    assert selection.reason.endswith("voice activity decides when you speak")


# --- auto elsewhere -----------------------------------------------------------------------------


async def test_auto_on_x11_picks_the_hotkey(
    session_bus: SessionBus, portal: PortalDouble, x_display: str, select: list[BackendSelection]
) -> None:
    """Outside Wayland the hotkey is first, even with a portal on the bus."""
    env = {"DISPLAY": x_display, "DBUS_SESSION_BUS_ADDRESS": session_bus.address}
    selection = await _create(select, "auto", env)
    assert selection.kind is BackendKind.HOTKEY
    assert selection.reason == f"X11 session: hotkey: f9 via pynput on X11 display {x_display}"
    assert portal.calls == []


async def test_auto_without_any_display_falls_back_to_vad(select: list[BackendSelection]) -> None:
    """No Wayland and no X display (a console or SSH login): VAD."""
    selection = await _create(select, "auto", {})
    assert selection.kind is BackendKind.VAD
    assert selection.reason.startswith("no Wayland session: hotkey unavailable: no X display")


# --- explicit choices ---------------------------------------------------------------------------


async def test_vad_is_no_backend(select: list[BackendSelection]) -> None:
    """``vad`` starts nothing and says so."""
    selection = await _create(select, "vad", {})
    assert (selection.kind, selection.backend) == (BackendKind.VAD, None)
    assert "no push-to-talk key" in selection.reason


async def test_explicit_portal_failure_is_none_not_vad(
    session_bus: SessionBus, select: list[BackendSelection]
) -> None:
    """An explicit choice that cannot start is ``none``: the mic must not silently open."""
    env = {"DBUS_SESSION_BUS_ADDRESS": session_bus.address}
    selection = await _create(select, "portal", env)
    assert (selection.kind, selection.backend) == (BackendKind.NONE, None)
    assert selection.reason.startswith("push-to-talk backend 'portal' cannot start: ")


async def test_explicit_portal_works_outside_wayland(
    session_bus: SessionBus, portal: PortalDouble, select: list[BackendSelection]
) -> None:
    """A portal on an X11 desktop can be asked for explicitly."""
    env = {"DISPLAY": ":99", "DBUS_SESSION_BUS_ADDRESS": session_bus.address}
    selection = await _create(select, "portal", env)
    assert selection.kind is BackendKind.PORTAL
    assert selection.reason.endswith("(requested)")


async def test_explicit_hotkey_on_wayland_needs_the_opt_in(
    x_display: str, select: list[BackendSelection]
) -> None:
    """``hotkey`` on Wayland is refused without the variable and works with it."""
    refused = await _create(select, "hotkey", {**WAYLAND, "DISPLAY": x_display})
    assert refused.kind is BackendKind.NONE
    assert [type(f) for f in refused.failures] == [WaylandHotkeyRefusedError]
    allowed = await _create(select, "hotkey", {**WAYLAND, **FALLBACK, "DISPLAY": x_display})
    assert allowed.kind is BackendKind.HOTKEY


async def test_unknown_choice_and_bad_key_are_errors() -> None:
    """Configuration mistakes raise instead of being reported as a fallback."""
    with pytest.raises(ValueError, match="unknown push-to-talk backend 'keyboard'"):
        await create_backend("keyboard", env={})
    with pytest.raises(InvalidKeySpecError):
        await create_backend("auto", env={}, key="ctrl+")
