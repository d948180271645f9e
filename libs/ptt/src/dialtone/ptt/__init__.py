"""Push-to-talk backends: XDG Desktop Portal GlobalShortcuts, pynput hotkey, VAD fallback.

One small interface, `PttBackend` (``start``, ``stop``, ``events()``, ``describe()``), two
backends (`PortalBackend` for Wayland, `HotkeyBackend` for X11) and a factory,
`create_backend`, that picks one for ``auto|portal|hotkey|vad`` and says why. pynput is only
imported when the hotkey backend starts. `dialtone.ptt.testing` has a GlobalShortcuts portal test
double and helpers that start a private D-Bus session bus and an Xvfb display.

Example::

    selection = await create_backend("auto", env=os.environ, key="ctrl+space")
    report(selection.kind, selection.reason)
    if selection.backend is not None:
        async for event in selection.backend.events():
            set_transmitting(event.pressed)
"""

from dialtone.ptt.backend import PttBackend
from dialtone.ptt.environment import (
    WAYLAND_HOTKEY_FALLBACK_VAR,
    hotkey_fallback_enabled,
    is_wayland,
    session_bus_address,
)
from dialtone.ptt.errors import (
    HotkeyUnavailableError,
    InvalidKeySpecError,
    PortalDeclinedError,
    PortalUnavailableError,
    PortalVersionError,
    PttError,
    WaylandHotkeyRefusedError,
)
from dialtone.ptt.events import PttEvent
from dialtone.ptt.hotkey import HotkeyBackend
from dialtone.ptt.keys import DEFAULT_KEY, KeySpec, parse_key_spec
from dialtone.ptt.portal import MIN_PORTAL_VERSION, PortalBackend
from dialtone.ptt.selection import BackendChoice, BackendKind, BackendSelection, create_backend

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_KEY",
    "MIN_PORTAL_VERSION",
    "WAYLAND_HOTKEY_FALLBACK_VAR",
    "BackendChoice",
    "BackendKind",
    "BackendSelection",
    "HotkeyBackend",
    "HotkeyUnavailableError",
    "InvalidKeySpecError",
    "KeySpec",
    "PortalBackend",
    "PortalDeclinedError",
    "PortalUnavailableError",
    "PortalVersionError",
    "PttBackend",
    "PttError",
    "PttEvent",
    "WaylandHotkeyRefusedError",
    "create_backend",
    "hotkey_fallback_enabled",
    "is_wayland",
    "parse_key_spec",
    "session_bus_address",
]
