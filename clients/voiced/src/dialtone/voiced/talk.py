"""When the microphone is sent: push-to-talk, voice activity, mute and deafen.

`TalkGate` holds the decision's inputs; `PushToTalk` starts the backend `dialtone.ptt` picks and
feeds its key events into the gate. Muting (or deafening, which mutes) always wins; in
push-to-talk mode the key decides; in VAD mode the speaking detector does; with no usable
backend (an explicitly requested one that cannot start, or one that stopped) nothing is sent --
opening the microphone when the user expects a key to control it would be worse than silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable, Mapping

from dialtone.ptt import BackendChoice, BackendKind, PttBackend, create_backend
from dialtone.voiced.errors import PttUnavailableError

__all__ = ["PushToTalk", "TalkGate", "TalkMode"]

log = logging.getLogger(__name__)


class TalkMode(enum.Enum):
    """What decides when the microphone is sent."""

    STARTING = "starting"
    """The push-to-talk backend is starting (the portal may be asking the user)."""
    PUSH_TO_TALK = "ptt"
    VAD = "vad"
    NONE = "none"
    """Nothing: the requested backend is unavailable."""


class TalkGate:
    """The inputs of the transmit decision (loop thread only)."""

    def __init__(self) -> None:
        self.mode = TalkMode.STARTING
        self.held = False
        """Whether the push-to-talk key is down."""
        self.muted = False
        self.deafened = False

    def transmitting(self, voice: bool) -> bool:
        """Whether to send the microphone now.

        Args:
            voice: Whether the speaking detector hears speech.

        Returns:
            True to send the captured audio, False to send silence.
        """
        if self.muted or self.deafened:
            return False
        if self.mode is TalkMode.PUSH_TO_TALK:
            return self.held
        if self.mode is TalkMode.VAD:
            return voice
        return False


class PushToTalk:
    """Runs the push-to-talk backend and keeps the gate's ``mode`` and ``held`` current.

    Args:
        choice: ``--ptt-backend``.
        key: ``--ptt``.
        env: The environment (Wayland/X11 detection, D-Bus address).
        gate: The gate to drive.
        on_change: Called after the backend is chosen or stops (to re-announce the state).
        on_error: Called with the reason when push-to-talk is unavailable.
    """

    def __init__(
        self,
        *,
        choice: BackendChoice,
        key: str,
        env: Mapping[str, str],
        gate: TalkGate,
        on_change: Callable[[], None],
        on_error: Callable[[PttUnavailableError], None],
    ) -> None:
        self._choice = choice
        self._key = key
        self._env = env
        self._gate = gate
        self._on_change = on_change
        self._on_error = on_error
        self._backend: PttBackend | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.kind = "none"
        """The backend in use, as the IPC ``ready`` event names it."""
        self.reason = "push-to-talk is starting"
        """Why (one sentence for the TUI)."""
        self.error: PttUnavailableError | None = None
        """Why push-to-talk is unavailable, if it is (told to every TUI that identifies)."""

    def start(self) -> None:
        """Choose and start the backend in the background (a portal may wait for the user)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="push-to-talk")

    async def _run(self) -> None:
        try:
            selection = await create_backend(self._choice, env=self._env, key=self._key)
        except Exception as exc:
            log.exception("push-to-talk could not be set up")
            self._unavailable(f"push-to-talk could not be set up: {exc}")
            return
        if self._stopping:
            if selection.backend is not None:
                await selection.backend.stop()
            return
        self.kind = selection.kind.value
        self.reason = selection.reason
        log.info("push-to-talk: %s (%s)", self.kind, self.reason)
        if selection.kind is BackendKind.VAD:
            self._gate.mode = TalkMode.VAD
            self._on_change()
            return
        if selection.backend is None:
            self._unavailable(selection.reason)
            return
        self._backend = selection.backend
        self._gate.mode = TalkMode.PUSH_TO_TALK
        self._on_change()
        async for event in selection.backend.events():
            self._gate.held = event.pressed
            log.debug("push-to-talk %s", "pressed" if event.pressed else "released")
        self._gate.held = False
        if not self._stopping:
            ended = getattr(selection.backend, "ended", None) or "its event stream ended"
            self._unavailable(f"push-to-talk ({self.kind}) stopped: {ended}")

    def _unavailable(self, reason: str) -> None:
        self._gate.mode = TalkMode.NONE
        self._gate.held = False
        self.kind = BackendKind.NONE.value
        self.reason = reason
        self.error = PttUnavailableError(f"{reason}; the microphone is not sent")
        self._on_error(self.error)
        self._on_change()

    async def stop(self) -> None:
        """Stop the backend and its task; safe to call more than once."""
        self._stopping = True
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                await backend.stop()
            except Exception:
                log.debug("stopping the push-to-talk backend", exc_info=True)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
