"""Choosing a push-to-talk backend (``--ptt-backend auto|portal|hotkey|vad``) and saying why."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping

import attrs

from dialtone.ptt.backend import PttBackend
from dialtone.ptt.environment import (
    WAYLAND_HOTKEY_FALLBACK_VAR,
    hotkey_fallback_enabled,
    is_wayland,
)
from dialtone.ptt.errors import PttError
from dialtone.ptt.events import DEFAULT_QUEUE_SIZE
from dialtone.ptt.hotkey import HotkeyBackend
from dialtone.ptt.keys import DEFAULT_KEY, KeySpec, parse_key_spec
from dialtone.ptt.portal import DEFAULT_SHORTCUT_ID, PortalBackend

__all__ = ["BackendChoice", "BackendKind", "BackendSelection", "create_backend"]


class BackendChoice(enum.StrEnum):
    """What the user asked for with ``--ptt-backend``."""

    AUTO = "auto"
    """Portal first on Wayland, hotkey elsewhere; voice activity when neither starts."""
    PORTAL = "portal"
    HOTKEY = "hotkey"
    VAD = "vad"
    """No push-to-talk: voice activity detection decides when the user speaks."""


class BackendKind(enum.StrEnum):
    """What is in use; the values are the ``ptt_backend`` strings of the daemon's IPC events."""

    PORTAL = "portal"
    HOTKEY = "hotkey"
    VAD = "vad"
    """No push-to-talk backend: voice activity decides (chosen, or auto's fallback)."""
    NONE = "none"
    """A backend was requested explicitly and could not start. Nothing gates the microphone:
    the caller should report the reason and not transmit, rather than silently open the mic."""


@attrs.frozen
class BackendSelection:
    """The outcome of `create_backend`.

    Attributes:
        backend: The started backend, or None for `BackendKind.VAD` and `BackendKind.NONE`.
            The caller owns it and must ``await backend.stop()``.
        kind: What is in use.
        reason: One human sentence for the TUI: what was chosen and, after a fallback, why the
            preferred backends could not be used.
        requested: What was asked for.
        failures: The `PttError` of each backend that was tried and could not start, in order.
    """

    backend: PttBackend | None
    kind: BackendKind
    reason: str
    requested: BackendChoice
    failures: tuple[PttError, ...] = ()


async def create_backend(
    choice: BackendChoice | str,
    *,
    env: Mapping[str, str],
    key: KeySpec | str = DEFAULT_KEY,
    shortcut_id: str = DEFAULT_SHORTCUT_ID,
    call_timeout: float = 10.0,
    response_timeout: float = 120.0,
    clock: Callable[[], float] = time.monotonic,
    queue_size: int = DEFAULT_QUEUE_SIZE,
) -> BackendSelection:
    """Pick, start and return a push-to-talk backend, with the reason for the choice.

    - ``auto`` on Wayland (``WAYLAND_DISPLAY`` set or ``XDG_SESSION_TYPE=wayland``): the portal;
      if it cannot start, the hotkey when ``DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK=1``; else VAD.
    - ``auto`` elsewhere: the hotkey; if it cannot start, VAD.
    - ``portal`` / ``hotkey``: that backend, or `BackendKind.NONE` with the reason.
    - ``vad``: no backend.

    Starting the portal backend may wait for the user to answer the desktop's dialog (up to
    ``response_timeout``).

    Args:
        choice: ``auto``, ``portal``, ``hotkey`` or ``vad``.
        env: The environment (``os.environ`` in production).
        key: The push-to-talk key (the hotkey, and the portal's suggested trigger).
        shortcut_id: The portal shortcut id.
        call_timeout: Seconds for each D-Bus call.
        response_timeout: Seconds for each portal Response.
        clock: Source of `dialtone.ptt.events.PttEvent.at`.
        queue_size: Undelivered events a backend keeps.

    Returns:
        The selection; its backend, if any, is started.

    Raises:
        ValueError: If ``choice`` is not one of the four.
        dialtone.ptt.errors.InvalidKeySpecError: If ``key`` does not parse (any choice but vad).
    """
    try:
        requested = BackendChoice(choice)
    except ValueError:
        raise ValueError(
            f"unknown push-to-talk backend {choice!r}: use auto, portal, hotkey or vad"
        ) from None
    if requested is BackendChoice.VAD:
        return BackendSelection(
            backend=None,
            kind=BackendKind.VAD,
            reason="voice activity detection was chosen: no push-to-talk key",
            requested=requested,
        )
    spec = parse_key_spec(key) if isinstance(key, str) else key

    def portal() -> PortalBackend:
        return PortalBackend(
            env=env,
            key=spec,
            shortcut_id=shortcut_id,
            call_timeout=call_timeout,
            response_timeout=response_timeout,
            clock=clock,
            queue_size=queue_size,
        )

    def hotkey() -> HotkeyBackend:
        return HotkeyBackend(env=env, key=spec, clock=clock, queue_size=queue_size)

    if requested is BackendChoice.PORTAL:
        return await _explicit(requested, portal())
    if requested is BackendChoice.HOTKEY:
        return await _explicit(requested, hotkey())
    return await _auto(env, portal, hotkey)


async def _try_start(backend: PortalBackend | HotkeyBackend) -> PttError | None:
    try:
        await backend.start()
    except PttError as exc:
        return exc
    return None


async def _explicit(
    requested: BackendChoice, backend: PortalBackend | HotkeyBackend
) -> BackendSelection:
    failure = await _try_start(backend)
    if failure is None:
        return BackendSelection(
            backend=backend,
            kind=BackendKind(backend.name),
            reason=f"{backend.describe()} (requested)",
            requested=requested,
        )
    return BackendSelection(
        backend=None,
        kind=BackendKind.NONE,
        reason=f"push-to-talk backend {requested.value!r} cannot start: {failure.reason}",
        requested=requested,
        failures=(failure,),
    )


async def _auto(
    env: Mapping[str, str],
    portal: Callable[[], PortalBackend],
    hotkey: Callable[[], HotkeyBackend],
) -> BackendSelection:
    notes: list[str] = []
    if is_wayland(env):
        session = "Wayland session"
        candidates: list[PortalBackend | HotkeyBackend] = [portal()]
        if hotkey_fallback_enabled(env):
            candidates.append(hotkey())
        else:
            notes.append(f"set {WAYLAND_HOTKEY_FALLBACK_VAR}=1 to try the X11 hotkey as well")
    else:
        session = "X11 session" if env.get("DISPLAY") else "no Wayland session"
        candidates = [hotkey()]
    failures: list[PttError] = []
    tried: list[str] = []
    for backend in candidates:
        failure = await _try_start(backend)
        if failure is None:
            return BackendSelection(
                backend=backend,
                kind=BackendKind(backend.name),
                reason=f"{session}: " + "; ".join([*tried, backend.describe()]),
                requested=BackendChoice.AUTO,
                failures=tuple(failures),
            )
        failures.append(failure)
        tried.append(f"{backend.name} unavailable: {failure.reason}")
    fallback = "voice activity decides when you speak" + "".join(f" ({n})" for n in notes)
    return BackendSelection(
        backend=None,
        kind=BackendKind.VAD,
        reason=f"{session}: " + "; ".join([*tried, fallback]),
        requested=BackendChoice.AUTO,
        failures=tuple(failures),
    )
