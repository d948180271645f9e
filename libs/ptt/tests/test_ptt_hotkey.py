"""The pynput hotkey backend on a real Xvfb display, driven by xdotool."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable

import pytest

from dialtone.ptt import (
    HotkeyBackend,
    HotkeyUnavailableError,
    PttEvent,
    WaylandHotkeyRefusedError,
)
from dialtone.ptt.testing import xdotool, xvfb_display

pytestmark = pytest.mark.slow


async def _next(events: AsyncIterator[PttEvent]) -> PttEvent:
    async with asyncio.timeout(10):
        return await anext(events)


async def _rest(events: AsyncIterator[PttEvent]) -> list[PttEvent]:
    async with asyncio.timeout(10):
        return [event async for event in events]


async def _xdotool(display: str, *args: str) -> None:
    await asyncio.to_thread(xdotool, display, *args)


@pytest.mark.parametrize(
    ("spec", "xdotool_keys"),
    [("ctrl+space", "ctrl+space"), ("f9", "F9"), ("a", "a"), ("shift+a", "shift+a")],
)
async def test_keydown_and_keyup_become_events(
    x_display: str, spec: str, xdotool_keys: str, ticks: Callable[[], float]
) -> None:
    """Holding the key (combination) is pressed, letting go is released."""
    backend = HotkeyBackend(env={"DISPLAY": x_display}, key=spec, clock=ticks)
    await backend.start()
    try:
        events = backend.events()
        await _xdotool(x_display, "keydown", xdotool_keys)
        pressed = await _next(events)
        await _xdotool(x_display, "keyup", xdotool_keys)
        released = await _next(events)
        assert (pressed.pressed, released.pressed) == (True, False)
        assert pressed.at < released.at
    finally:
        await backend.stop()
    assert await _rest(events) == []


async def test_other_keys_are_ignored(x_display: str) -> None:
    """Typing other keys, or the key without its modifier, is no push-to-talk."""
    backend = HotkeyBackend(env={"DISPLAY": x_display}, key="ctrl+a")
    await backend.start()
    events = backend.events()
    await _xdotool(x_display, "key", "b", "a", "ctrl+b", "shift+a")
    await _xdotool(x_display, "keydown", "ctrl+a")
    assert (await _next(events)).pressed
    await _xdotool(x_display, "keyup", "ctrl+a")
    assert not (await _next(events)).pressed
    await _xdotool(x_display, "key", "b", "a")
    await backend.stop()
    assert await _rest(events) == []


async def test_the_combination_counts_in_any_order(x_display: str) -> None:
    """Space then Ctrl also holds ctrl+space; letting go of either releases it."""
    backend = HotkeyBackend(env={"DISPLAY": x_display}, key="ctrl+space")
    await backend.start()
    events = backend.events()
    await _xdotool(x_display, "keydown", "space")
    await _xdotool(x_display, "keydown", "ctrl")
    assert (await _next(events)).pressed
    await _xdotool(x_display, "keyup", "ctrl")
    assert not (await _next(events)).pressed
    await _xdotool(x_display, "keyup", "space")
    await backend.stop()
    assert await _rest(events) == []


async def test_auto_repeat_while_held_is_one_press(x_display: str) -> None:
    """Holding a key past the X server's auto-repeat delay repeats its press: still one event."""
    backend = HotkeyBackend(env={"DISPLAY": x_display}, key="f9")
    await backend.start()
    events = backend.events()
    await _xdotool(x_display, "keydown", "F9", "sleep", "1.2", "keyup", "F9")
    await backend.stop()
    assert [event.pressed for event in await _rest(events)] == [True, False]


async def test_stop_while_held_delivers_a_release(x_display: str) -> None:
    """The consumer is never left transmitting because the backend stopped."""
    backend = HotkeyBackend(env={"DISPLAY": x_display}, key="f9")
    await backend.start()
    events = backend.events()
    await _xdotool(x_display, "keydown", "F9")
    assert (await _next(events)).pressed
    await backend.stop()
    await _xdotool(x_display, "keyup", "F9")
    assert [event.pressed for event in await _rest(events)] == [False]
    await backend.stop()  # idempotent


async def test_a_slow_consumer_loses_the_oldest_events_only(x_display: str) -> None:
    """Thread to loop hand-over is bounded; drops are counted, the last state arrives."""
    backend = HotkeyBackend(env={"DISPLAY": x_display}, key="f9", queue_size=4)
    await backend.start()
    events = backend.events()
    await _xdotool(x_display, *(["keydown", "F9", "keyup", "F9"] * 10))
    async with asyncio.timeout(10):
        # Nothing to await without consuming (which would change what is dropped): poll.
        while backend.dropped < 16:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await backend.stop()
    assert [event.pressed for event in await _rest(events)] == [True, False, True, False]
    assert backend.dropped == 16


@pytest.mark.parametrize(
    "wayland", [{"WAYLAND_DISPLAY": "wayland-0"}, {"XDG_SESSION_TYPE": "wayland"}]
)
async def test_refused_on_wayland_without_the_opt_in(
    x_display: str, wayland: dict[str, str]
) -> None:
    """Under Wayland the X11 hotkey would only see XWayland windows: refused with the fix."""
    backend = HotkeyBackend(env={"DISPLAY": x_display, **wayland})
    with pytest.raises(WaylandHotkeyRefusedError) as caught:
        await backend.start()
    assert "DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK=1" in caught.value.reason


async def test_wayland_opt_in_allows_the_hotkey(x_display: str) -> None:
    """DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK=1 lets it run (on XWayland) and says so."""
    env = {
        "DISPLAY": x_display,
        "WAYLAND_DISPLAY": "wayland-0",
        "DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK": "1",
    }
    backend = HotkeyBackend(env=env, key="f9")
    await backend.start()
    events = backend.events()
    await _xdotool(x_display, "keydown", "F9")
    assert (await _next(events)).pressed
    assert "XWayland fallback" in backend.describe()
    await backend.stop()


async def test_no_display_gives_the_reason() -> None:
    """Without DISPLAY there is nothing to listen to."""
    with pytest.raises(HotkeyUnavailableError, match="DISPLAY is not set"):
        await HotkeyBackend(env={}).start()


async def test_a_display_that_does_not_answer_gives_the_reason(
    x_display: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DISPLAY names a display whose server has gone (pynput already imported here)."""
    with xvfb_display() as gone:
        pass
    monkeypatch.setenv("DISPLAY", gone)
    with pytest.raises(HotkeyUnavailableError, match=f"cannot connect to X display '{gone}'"):
        await HotkeyBackend(env={"DISPLAY": gone}).start()


async def test_a_display_other_than_the_process_one_is_refused(x_display: str) -> None:
    """pynput listens on the process's DISPLAY; a different configured one would be a lie."""
    with pytest.raises(HotkeyUnavailableError, match="pynput listens on the process's DISPLAY"):
        await HotkeyBackend(env={"DISPLAY": x_display + ".0"}).start()


def test_pynput_import_failure_becomes_a_reason() -> None:
    """In a fresh process pynput's own ImportError (no X server) is turned into the reason."""
    with xvfb_display() as gone:
        pass
    script = textwrap.dedent(
        """
        import asyncio, os, sys
        from dialtone.ptt import HotkeyBackend, HotkeyUnavailableError
        assert "pynput" not in sys.modules
        try:
            asyncio.run(HotkeyBackend(env=os.environ).start())
        except HotkeyUnavailableError as exc:
            print(exc.reason)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        # PYTHONPATH: the child must import what this process imports (also inside a PEX).
        env={**os.environ, "DISPLAY": gone, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.startswith(f"pynput cannot be used on X display '{gone}'")


# pynput's listener thread dies with Xlib's ConnectionClosedError when the server goes: that
# crash is the situation under test, not a fault of the test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_the_x_server_going_away_ends_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the X server dies the stream ends (with a release) instead of going silent."""
    with xvfb_display() as display:
        monkeypatch.setenv("DISPLAY", display)
        backend = HotkeyBackend(env={"DISPLAY": display}, key="f9")
        await backend.start()
        events = backend.events()
        await _xdotool(display, "keydown", "F9")
        assert (await _next(events)).pressed
    assert [event.pressed for event in await _rest(events)] == [False]
    assert backend.ended is not None
    assert "stopped" in backend.ended
    await backend.stop()
