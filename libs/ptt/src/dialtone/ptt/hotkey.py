"""Push-to-talk from a global hotkey on X11, with a pynput keyboard listener.

pynput's X11 listener uses the RECORD extension, so it sees every key typed on the display
whatever window has focus; only the names of the push-to-talk key ever leave its thread. It runs
in its own thread and hands state changes to asyncio with ``loop.call_soon_threadsafe`` into a
bounded `EventChannel` (drops counted).

Under Wayland an X11 client only sees keys typed into XWayland windows, which makes a
push-to-talk key that silently works "sometimes"; the backend therefore refuses to start in a
Wayland session unless ``DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK=1``.

pynput is imported lazily: importing it without a reachable X display raises ImportError.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from dialtone.ptt.environment import (
    WAYLAND_HOTKEY_FALLBACK_VAR,
    hotkey_fallback_enabled,
    is_wayland,
)
from dialtone.ptt.errors import HotkeyUnavailableError, WaylandHotkeyRefusedError
from dialtone.ptt.events import DEFAULT_QUEUE_SIZE, EventChannel, PttEvent
from dialtone.ptt.keys import DEFAULT_KEY, KeySpec, key_name, parse_key_spec

__all__ = ["HotkeyBackend"]

log = logging.getLogger(__name__)


class HotkeyBackend:
    """Push-to-talk while a key (combination) is held on an X11 display.

    pynput connects to the display named by the PROCESS environment's ``DISPLAY``; the injected
    ``env`` decides policy (Wayland refusal, the opt-in variable) and must name the same display,
    which `start` checks.

    Example::

        backend = HotkeyBackend(env=os.environ, key="ctrl+space")
        await backend.start()
        async for event in backend.events():
            ...
        await backend.stop()
    """

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        key: KeySpec | str = DEFAULT_KEY,
        clock: Callable[[], float] = time.monotonic,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        start_timeout: float = 10.0,
    ) -> None:
        """Prepare the backend; no display is touched until `start`.

        Args:
            env: The environment (``DISPLAY``, ``WAYLAND_DISPLAY``, ``XDG_SESSION_TYPE`` and
                ``DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK`` are read).
            key: The push-to-talk key, parsed or as a specification like ``"ctrl+space"``.
            clock: Source of `PttEvent.at` (called in the listener thread).
            queue_size: Undelivered events kept for a slow consumer.
            start_timeout: Seconds to wait for the listener to be ready.

        Raises:
            dialtone.ptt.errors.InvalidKeySpecError: If ``key`` is a string that does not parse.
        """
        self._env = env
        self._key = parse_key_spec(key) if isinstance(key, str) else key
        self._clock = clock
        self._start_timeout = start_timeout
        self._channel = EventChannel(queue_size)
        self._held: set[str] = set()
        self._listener: Any = None
        self._display: str | None = None
        self._watcher: threading.Thread | None = None
        self._ended: str | None = None
        self._started = False
        self._stopping = False

    @property
    def name(self) -> str:
        """Always ``"hotkey"``."""
        return "hotkey"

    @property
    def key(self) -> KeySpec:
        """The push-to-talk key."""
        return self._key

    @property
    def dropped(self) -> int:
        """Events dropped because the consumer fell behind."""
        return self._channel.dropped

    @property
    def ended(self) -> str | None:
        """Why the event stream ended on its own (the listener died), if it did."""
        return self._ended

    def describe(self) -> str:
        """One sentence on what is listened to, for logs and the TUI.

        Returns:
            E.g. ``hotkey: ctrl+space via pynput on X11 display :0``.
        """
        where = f"X11 display {self._display}" if self._display else "X11"
        text = f"hotkey: {self._key} via pynput on {where}"
        if is_wayland(self._env):
            text += " (XWayland fallback: only keys typed into X11 windows are seen)"
        return f"{text} (ended: {self._ended})" if self._ended else text

    def events(self) -> AsyncIterator[PttEvent]:
        """Pressed/released events for the key until the backend stops.

        Returns:
            An async iterator of `PttEvent`.
        """
        return aiter(self._channel)

    async def start(self) -> None:
        """Check the session, load pynput and start the keyboard listener.

        Raises:
            WaylandHotkeyRefusedError: In a Wayland session without the opt-in variable.
            HotkeyUnavailableError: No ``DISPLAY``, the display cannot be reached, pynput cannot be
                imported, or its listener does not start.
            RuntimeError: If called twice.
        """
        if self._started:
            raise RuntimeError("HotkeyBackend.start() may only be called once")
        self._started = True
        try:
            await self._start()
        except BaseException:
            self._channel.close(self._clock())  # a backend that did not start has no events
            raise
        log.info("%s", self.describe())

    async def _start(self) -> None:
        wayland = is_wayland(self._env)
        if wayland and not hotkey_fallback_enabled(self._env):
            raise WaylandHotkeyRefusedError(
                "the X11 hotkey backend is refused in a Wayland session: it would only see keys "
                "typed into XWayland windows. Use the portal backend, or set "
                f"{WAYLAND_HOTKEY_FALLBACK_VAR}=1 to accept that limitation"
            )
        display = self._env.get("DISPLAY", "").strip()
        if not display:
            raise HotkeyUnavailableError(
                "no X display for the hotkey backend: DISPLAY is not set"
                + (" (a Wayland session needs XWayland for it)" if wayland else "")
            )
        if os.environ.get("DISPLAY", "").strip() != display:
            raise HotkeyUnavailableError(
                f"pynput listens on the process's DISPLAY "
                f"({os.environ.get('DISPLAY') or 'unset'}), not on {display!r} as configured"
            )
        keyboard = await asyncio.to_thread(_load_pynput_keyboard, display)
        loop = asyncio.get_running_loop()
        listener = keyboard.Listener(
            on_press=lambda key: self._hand_over(loop, key, down=True),
            on_release=lambda key: self._hand_over(loop, key, down=False),
        )
        listener.start()
        if not await asyncio.to_thread(_wait_ready, listener, self._start_timeout):
            if listener.is_alive():
                # stop() waits for readiness itself, so it must not block the caller either.
                threading.Thread(target=listener.stop, name="pynput-stop", daemon=True).start()
            raise HotkeyUnavailableError(
                f"the pynput keyboard listener did not start on X display {display!r} "
                f"within {self._start_timeout} s"
            )
        self._listener = listener
        self._display = display
        self._watcher = threading.Thread(
            target=self._watch_listener,
            args=(listener, loop),
            name="dialtone-ptt-hotkey-watch",
            daemon=True,
        )
        self._watcher.start()

    async def stop(self) -> None:
        """Stop the listener, wait for its thread and end the event stream (idempotent)."""
        if self._stopping:
            return
        self._stopping = True
        listener, self._listener = self._listener, None
        if listener is not None and self._display is not None and listener.is_alive():
            try:
                # Both talk to the X server: keep them off the event loop's thread.
                await asyncio.to_thread(listener.stop)
                await asyncio.to_thread(_end_recording, listener, self._display)
            except Exception:
                # The X server may be gone; the stream still has to end.
                log.warning("stopping the pynput keyboard listener failed", exc_info=True)
        if self._watcher is not None:
            await asyncio.to_thread(self._watcher.join, self._start_timeout)
        self._channel.close(self._clock())

    def _hand_over(self, loop: asyncio.AbstractEventLoop, key: object, *, down: bool) -> bool:
        # Runs in pynput's thread. Keys outside the shortcut are dropped here, so typing in
        # general never reaches the event loop.
        name = key_name(key)
        if name is None or name not in self._key.names:
            return True
        at = self._clock()
        try:
            loop.call_soon_threadsafe(self._on_key, name, down, at)
        except RuntimeError:
            return False  # the loop is closed: returning False stops the listener
        return True

    def _on_key(self, name: str, down: bool, at: float) -> None:
        if down:
            self._held.add(name)
        else:
            self._held.discard(name)
        self._channel.publish(self._key.names <= self._held, at)

    def _watch_listener(self, listener: Any, loop: asyncio.AbstractEventLoop) -> None:
        # Runs in its own thread for the listener's lifetime: the only way to learn, without
        # polling, that pynput's thread died (e.g. the X server went away). Thread.join, not
        # pynput's join(): that one also waits for an item pynput's thread only queues when it
        # ends cleanly, so it would wait forever after a crash.
        threading.Thread.join(listener)
        with contextlib.suppress(RuntimeError):  # the event loop is already closed
            loop.call_soon_threadsafe(self._listener_ended)

    def _listener_ended(self) -> None:
        if self._stopping:
            return
        self._ended = f"the keyboard listener on X display {self._display} stopped"
        log.warning("hotkey push-to-talk ended: %s", self._ended)
        self._channel.close(self._clock())


def _load_pynput_keyboard(display: str) -> Any:
    """Import ``pynput.keyboard`` and check the display answers (blocking: run in a thread)."""
    try:
        keyboard = importlib.import_module("pynput.keyboard")
    except ImportError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise HotkeyUnavailableError(
            f"pynput cannot be used on X display {display!r}: {first_line}"
        ) from exc
    # Once imported, pynput no longer checks the display; a listener on a dead one would never
    # become ready. Xlib comes with pynput on Linux.
    xlib_display = importlib.import_module("Xlib.display")
    try:
        connection = xlib_display.Display(display)
    except Exception as exc:
        raise HotkeyUnavailableError(f"cannot connect to X display {display!r}: {exc}") from exc
    connection.close()
    return keyboard


def _end_recording(listener: Any, display: str) -> None:
    """Make a stopped pynput listener's thread actually end (blocking: run in a thread).

    pynput (1.8) disables its X RECORD context on the connection its thread is blocked reading,
    without flushing, so the thread only notices at the next key event (pynput pull request
    583). Disabling the context from a connection of our own, as python-xlib's record demo
    does, ends the recording at once. The context id is pynput's private ``_context``.
    """
    context = getattr(listener, "_context", None)
    if context is None or not listener.is_alive():
        return
    xlib_display = importlib.import_module("Xlib.display")
    try:
        connection = xlib_display.Display(display)
    except Exception:
        log.warning("cannot reach X display %s to end key recording", display, exc_info=True)
        return
    try:
        connection.record_disable_context(context)
        connection.flush()
    finally:
        connection.close()


def _wait_ready(listener: Any, timeout: float) -> bool:
    """Wait for the listener to be ready, or to die, or for ``timeout`` (blocking)."""
    # Listener.wait() has no timeout and never returns if the thread dies before being ready,
    # so it runs in a helper thread (daemon: it is abandoned in that rare case).
    waiter = threading.Thread(target=listener.wait, name="pynput-ready", daemon=True)
    waiter.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiter.join(0.05)
        if not waiter.is_alive():
            return True
        if not listener.is_alive():
            return False
    return False
