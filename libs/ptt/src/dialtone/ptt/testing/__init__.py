"""Test helpers for push-to-talk, against real programs.

- `PortalDouble`: a GlobalShortcuts portal on a real D-Bus bus (Request/Response, ``version``,
  ``Activated``/``Deactivated`` on `PortalDouble.press`/`PortalDouble.release`).
- `private_session_bus`: a private ``dbus-daemon`` session bus.
- `xvfb_display` and `xdotool`: an Xvfb X server and key presses on it.

Example (a voice daemon's end-to-end test)::

    with private_session_bus() as bus:
        async with PortalDouble().running(bus.address) as portal:
            start_daemon(env={"DBUS_SESSION_BUS_ADDRESS": bus.address, "WAYLAND_DISPLAY": "w"})
            await portal.wait_bound()
            await portal.press()      # push-to-talk held
            await portal.release()
"""

from dialtone.ptt.testing.portal_double import BoundSession, PortalDouble, PortalDoubleCall
from dialtone.ptt.testing.processes import SessionBus, private_session_bus, xdotool, xvfb_display

__all__ = [
    "BoundSession",
    "PortalDouble",
    "PortalDoubleCall",
    "SessionBus",
    "private_session_bus",
    "xdotool",
    "xvfb_display",
]
