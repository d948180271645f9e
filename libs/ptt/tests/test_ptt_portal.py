"""The portal backend against a real dbus-daemon and the GlobalShortcuts portal double."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from dialtone.ptt import (
    PortalBackend,
    PortalDeclinedError,
    PortalUnavailableError,
    PortalVersionError,
    PttEvent,
)
from dialtone.ptt.portal import request_path, session_path
from dialtone.ptt.testing import PortalDouble, SessionBus

pytestmark = pytest.mark.slow


def _backend(bus: SessionBus, **kwargs: Any) -> PortalBackend:
    return PortalBackend(
        env={"DBUS_SESSION_BUS_ADDRESS": bus.address},
        call_timeout=5.0,
        response_timeout=5.0,
        **kwargs,
    )


async def _next(events: AsyncIterator[PttEvent]) -> PttEvent:
    async with asyncio.timeout(5):
        return await anext(events)


async def _rest(events: AsyncIterator[PttEvent]) -> list[PttEvent]:
    async with asyncio.timeout(5):
        return [event async for event in events]


async def test_bind_follows_the_request_pattern_and_reports_the_binding(
    session_bus: SessionBus, portal: PortalDouble
) -> None:
    """CreateSession and BindShortcuts carry handle tokens; the shortcut is bound as asked."""
    backend = _backend(session_bus, key="ctrl+space", shortcut_id="ptt")
    await backend.start()
    try:
        bound = portal.sessions
        assert len(bound) == 1
        assert bound[0].handle == backend.session_handle
        assert bound[0].shortcuts == {
            "ptt": {
                "description": "Dialtone push-to-talk (hold to speak)",
                "preferred_trigger": "CTRL+space",
            }
        }
        assert [call.method for call in portal.calls] == ["CreateSession", "BindShortcuts"]
        for call in portal.calls:
            # The client computed the Request path in advance: it passed the token it used.
            assert call.expected_handle == call.request_handle
            assert call.request_handle.startswith(request_path(call.sender, ""))
        assert backend.session_handle is not None
        assert backend.session_handle.startswith(session_path(bound[0].sender, "dialtone_ptt_"))
        assert backend.version == 1
        assert backend.trigger_description == "Ctrl+Space"
        assert backend.describe() == (
            "portal: GlobalShortcuts v1 shortcut 'ptt' bound to Ctrl+Space"
        )
    finally:
        await backend.stop()


@pytest.mark.parametrize("unicast", [True, False], ids=["unicast-signals", "broadcast-signals"])
@pytest.mark.parametrize("delay", [None, 0.2], ids=["response-before-reply", "response-later"])
async def test_press_and_release_become_events(
    session_bus: SessionBus, unicast: bool, delay: float | None, ticks: Callable[[], float]
) -> None:
    """Activated/Deactivated map to pressed/released, whatever the Response and signal timing."""
    double = PortalDouble(unicast_signals=unicast, response_delay=delay)
    async with double.running(session_bus.address):
        backend = _backend(session_bus, clock=ticks)
        await backend.start()
        events = backend.events()
        await double.press()
        assert await _next(events) == PttEvent(pressed=True, at=1.0)
        await double.release()
        assert await _next(events) == PttEvent(pressed=False, at=2.0)
        await backend.stop()
        assert await _rest(events) == []


async def test_a_repeated_activation_is_one_press(
    session_bus: SessionBus, portal: PortalDouble
) -> None:
    """Only changes of state are events."""
    backend = _backend(session_bus)
    await backend.start()
    events = backend.events()
    await portal.press()
    await portal.press()
    await portal.release()
    await portal.release()
    await backend.stop()
    assert [event.pressed for event in await _rest(events)] == [True, False]


async def test_other_sessions_and_shortcuts_are_ignored(session_bus: SessionBus) -> None:
    """With broadcast signals a client sees everyone's activations and must pick its own."""
    double = PortalDouble(unicast_signals=False)
    async with double.running(session_bus.address):
        first = _backend(session_bus)
        await first.start()
        second = _backend(session_bus)
        await second.start()
        assert first.session_handle is not None
        assert second.session_handle is not None
        second_events = second.events()
        await double.press(session=first.session_handle)
        await double.release(session=first.session_handle)
        await double.press(session=second.session_handle)
        assert (await _next(second_events)).pressed
        await double.release(session=second.session_handle)
        assert not (await _next(second_events)).pressed
        await double.emit_foreign_activation(second.session_handle, "another-shortcut")
        await double.emit_foreign_activation(
            "/org/freedesktop/portal/desktop/session/1_99/other", "push-to-talk"
        )
        await second.stop()
        await first.stop()
        assert await _rest(second_events) == []


@pytest.mark.parametrize(("code", "wording"), [(1, "the user declined"), (2, "ended the request")])
async def test_declined_bind_gives_the_reason(
    session_bus: SessionBus, code: int, wording: str
) -> None:
    """Response code 1 (user cancelled) or 2 (other) to BindShortcuts is reported as declined."""
    async with PortalDouble(bind_response=code).running(session_bus.address) as double:
        backend = _backend(session_bus)
        with pytest.raises(PortalDeclinedError) as caught:
            await backend.start()
        assert caught.value.method == "BindShortcuts"
        assert caught.value.response_code == code
        assert wording in caught.value.reason
        assert f"Response code {code}" in caught.value.reason
        assert double.sessions == []


async def test_declined_session_gives_the_reason(session_bus: SessionBus) -> None:
    """A CreateSession the portal refuses stops before any shortcut is bound."""
    async with PortalDouble(create_session_response=2).running(session_bus.address) as double:
        with pytest.raises(PortalDeclinedError) as caught:
            await _backend(session_bus).start()
        assert caught.value.method == "CreateSession"
        assert [call.method for call in double.calls] == ["CreateSession"]


async def test_a_bind_without_our_shortcut_counts_as_declined(session_bus: SessionBus) -> None:
    """Code 0 but our shortcut left out (the user removed it): not bound, so declined."""
    async with PortalDouble(bind_leaves_out_shortcuts=True).running(session_bus.address):
        with pytest.raises(PortalDeclinedError, match="did not bind"):
            await _backend(session_bus).start()


async def test_missing_portal_service_gives_the_reason(session_bus: SessionBus) -> None:
    """Nothing owns org.freedesktop.portal.Desktop on the bus."""
    with pytest.raises(PortalUnavailableError) as caught:
        await _backend(session_bus).start()
    assert "is not on the session bus" in caught.value.reason
    assert "org.freedesktop.portal.Desktop" in caught.value.reason


async def test_portal_without_global_shortcuts_gives_the_reason(session_bus: SessionBus) -> None:
    """The portal is there, but its desktop backend has no GlobalShortcuts interface."""
    double = PortalDouble(implements_global_shortcuts=False)
    async with double.running(session_bus.address):
        with pytest.raises(PortalUnavailableError) as caught:
            await _backend(session_bus).start()
    assert "does not implement org.freedesktop.portal.GlobalShortcuts" in caught.value.reason
    assert double.calls == []


@pytest.mark.parametrize(
    ("env", "wording"),
    [
        ({}, "no D-Bus session bus"),
        ({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"}, "cannot connect"),
    ],
    ids=["no-address", "dead-address"],
)
async def test_no_session_bus_gives_the_reason(
    tmp_path: Path, env: dict[str, str], wording: str
) -> None:
    """No bus address at all, or one nobody listens on."""
    backend = PortalBackend(env={"XDG_RUNTIME_DIR": str(tmp_path), **env}, call_timeout=5.0)
    with pytest.raises(PortalUnavailableError) as caught:
        await backend.start()
    assert wording in caught.value.reason


async def test_version_too_low_is_refused(session_bus: SessionBus) -> None:
    """GlobalShortcuts version 0 is below the version 1 this backend needs."""
    async with PortalDouble(version=0).running(session_bus.address) as double:
        with pytest.raises(PortalVersionError) as caught:
            await _backend(session_bus).start()
        assert (caught.value.version, caught.value.required) == (0, 1)
        assert "version 0" in caught.value.reason
        assert double.calls == []


async def test_a_newer_version_is_accepted(session_bus: SessionBus) -> None:
    """Version 2 (the current specification) works like version 1."""
    async with PortalDouble(version=2).running(session_bus.address) as double:
        backend = _backend(session_bus)
        await backend.start()
        events = backend.events()
        await double.press()
        assert (await _next(events)).pressed
        assert backend.describe().startswith("portal: GlobalShortcuts v2 ")
        await backend.stop()


async def test_no_response_in_time_gives_the_reason(session_bus: SessionBus) -> None:
    """A Response that never comes (a dialog left open) ends in a timeout, not a hang."""
    async with PortalDouble(response_delay=30).running(session_bus.address):
        backend = PortalBackend(
            env={"DBUS_SESSION_BUS_ADDRESS": session_bus.address}, response_timeout=0.3
        )
        with pytest.raises(PortalUnavailableError, match=r"did not answer the CreateSession"):
            await backend.start()


async def test_stop_closes_the_session_and_releases_a_held_key(
    session_bus: SessionBus, portal: PortalDouble
) -> None:
    """Stopping while pressed delivers a release, ends the stream and closes the session."""
    backend = _backend(session_bus)
    await backend.start()
    events = backend.events()
    await portal.press()
    assert (await _next(events)).pressed
    await backend.stop()
    assert [event.pressed for event in await _rest(events)] == [False]
    assert portal.closed_sessions == [backend.session_handle]
    await backend.stop()  # idempotent


async def test_the_portal_closing_the_session_ends_the_stream(
    session_bus: SessionBus, portal: PortalDouble
) -> None:
    """Session::Closed (the user revoked the shortcut) ends the stream with a release."""
    backend = _backend(session_bus)
    await backend.start()
    events = backend.events()
    await portal.press()
    assert (await _next(events)).pressed
    await portal.close_session()
    assert [event.pressed for event in await _rest(events)] == [False]
    assert backend.ended == "the portal closed the push-to-talk session"
    await backend.stop()


async def test_losing_the_bus_ends_the_stream(
    session_bus: SessionBus, portal: PortalDouble
) -> None:
    """The dbus-daemon dying ends the stream instead of leaving the key silently dead."""
    backend = _backend(session_bus)
    await backend.start()
    events = backend.events()
    os.kill(session_bus.pid, signal.SIGKILL)
    assert await _rest(events) == []
    assert backend.ended == "the D-Bus session bus connection was lost"
    await backend.stop()


async def test_a_slow_consumer_loses_the_oldest_events_only(
    session_bus: SessionBus, portal: PortalDouble
) -> None:
    """The queue is bounded; drops are counted and the last state always arrives."""
    backend = _backend(session_bus, queue_size=4)
    await backend.start()
    events = backend.events()
    for _ in range(10):
        await portal.press()
        await portal.release()
    await backend.stop()
    kept = await _rest(events)
    assert [event.pressed for event in kept] == [True, False, True, False]
    assert backend.dropped == 16


async def test_start_twice_is_an_error(session_bus: SessionBus, portal: PortalDouble) -> None:
    """A backend is started once; a second start is a programming error."""
    backend = _backend(session_bus)
    await backend.start()
    with pytest.raises(RuntimeError):
        await backend.start()
    await backend.stop()
