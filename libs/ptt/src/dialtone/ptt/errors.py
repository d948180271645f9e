"""Why a push-to-talk backend could not start: one exception per failure kind.

Every exception carries ``reason``, one human sentence meant for the TUI ("the XDG Desktop Portal
is not on the session bus (...)"), so callers can report any `PttError` without knowing its kind.
"""

from __future__ import annotations

__all__ = [
    "HotkeyUnavailableError",
    "InvalidKeySpecError",
    "PortalDeclinedError",
    "PortalUnavailableError",
    "PortalVersionError",
    "PttError",
    "WaylandHotkeyRefusedError",
]


class PttError(Exception):
    """Base class of every push-to-talk failure.

    Attributes:
        reason: One human sentence saying what failed and, where possible, what to do about it.
    """

    def __init__(self, reason: str) -> None:
        """Create the error.

        Args:
            reason: The human explanation, reported to the user as is.
        """
        super().__init__(reason)
        self.reason = reason


class InvalidKeySpecError(PttError, ValueError):
    """A key specification such as ``"ctrl+space"`` could not be parsed."""


class PortalUnavailableError(PttError):
    """The GlobalShortcuts portal cannot be reached.

    Raised when there is no session bus, no ``org.freedesktop.portal.Desktop`` on it, no
    ``org.freedesktop.portal.GlobalShortcuts`` interface on the portal, the portal broke the
    protocol, or it did not answer in time.
    """


class PortalVersionError(PttError):
    """The portal's GlobalShortcuts ``version`` property is below what this library needs.

    Attributes:
        version: The version the portal reported.
        required: The lowest version this library accepts.
    """

    def __init__(self, reason: str, *, version: int, required: int) -> None:
        """Create the error.

        Args:
            reason: The human explanation.
            version: The version the portal reported.
            required: The lowest accepted version.
        """
        super().__init__(reason)
        self.version = version
        self.required = required


class PortalDeclinedError(PttError):
    """The portal answered a request with a non-zero Response code.

    Code 1 means the user cancelled the interaction (declined the shortcut); code 2 means the
    interaction ended in some other way (the portal refused it).

    Attributes:
        method: The portal method whose request was declined (``CreateSession``, ``BindShortcuts``).
        response_code: The ``Response`` code (1 or 2; other values are reported as they come).
    """

    def __init__(self, reason: str, *, method: str, response_code: int) -> None:
        """Create the error.

        Args:
            reason: The human explanation.
            method: The portal method whose request was declined.
            response_code: The non-zero ``Response`` code.
        """
        super().__init__(reason)
        self.method = method
        self.response_code = response_code


class WaylandHotkeyRefusedError(PttError):
    """The pynput hotkey backend was asked for in a Wayland session without the opt-in variable.

    X11 key grabbing under Wayland only sees keys typed into XWayland windows, so it is refused
    unless ``DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK=1`` says the user accepts that.
    """


class HotkeyUnavailableError(PttError):
    """The pynput hotkey backend cannot run.

    No X display, the display does not answer, or pynput cannot be imported or started.
    """
