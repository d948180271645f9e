"""What the process environment says about the desktop session (always an injected mapping)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = [
    "WAYLAND_HOTKEY_FALLBACK_VAR",
    "hotkey_fallback_enabled",
    "is_wayland",
    "session_bus_address",
]

WAYLAND_HOTKEY_FALLBACK_VAR: Final = "DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK"
"""Set to ``1`` to allow the X11 (pynput) hotkey backend in a Wayland session."""

_TRUE: Final = frozenset({"1", "true", "yes", "on"})


def is_wayland(env: Mapping[str, str]) -> bool:
    """Whether the session is a Wayland one.

    Args:
        env: The environment (``os.environ`` or a test's mapping).

    Returns:
        True when ``WAYLAND_DISPLAY`` is set and non-empty or ``XDG_SESSION_TYPE`` is ``wayland``.
    """
    return bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE", "").lower() == "wayland"


def hotkey_fallback_enabled(env: Mapping[str, str]) -> bool:
    """Whether the user allowed the X11 hotkey backend under Wayland.

    Args:
        env: The environment.

    Returns:
        True when `WAYLAND_HOTKEY_FALLBACK_VAR` is ``1`` (``true``, ``yes`` and ``on`` also count).
    """
    return env.get(WAYLAND_HOTKEY_FALLBACK_VAR, "").strip().lower() in _TRUE


def session_bus_address(env: Mapping[str, str]) -> str | None:
    """The D-Bus session bus address, found the way libdbus and sd-bus find it.

    Args:
        env: The environment.

    Returns:
        ``DBUS_SESSION_BUS_ADDRESS`` when set, else ``unix:path=$XDG_RUNTIME_DIR/bus`` when that
        socket exists (systemd user sessions), else None.
    """
    address = env.get("DBUS_SESSION_BUS_ADDRESS", "").strip()
    if address:
        return address
    runtime_dir = env.get("XDG_RUNTIME_DIR", "").strip()
    if runtime_dir and (Path(runtime_dir) / "bus").exists():
        return f"unix:path={Path(runtime_dir) / 'bus'}"
    return None
