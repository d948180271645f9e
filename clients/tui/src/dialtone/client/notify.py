"""Telling the user they were mentioned in another channel: the terminal bell, or (opt-in) a desktop
notification through ``org.freedesktop.Notifications`` on the session D-Bus.

A desktop notification says who mentioned the user and where, never what they wrote: the text
stays inside the client (notification daemons keep histories and logs).
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable
from typing import Protocol

from dbus_next.aio.message_bus import MessageBus
from dbus_next.constants import BusType, MessageType
from dbus_next.errors import DBusError
from dbus_next.message import Message

__all__ = [
    "BellNotifier",
    "DesktopNotifier",
    "NotificationError",
    "Notifier",
    "NotifyMode",
    "SilentNotifier",
    "make_notifier",
]

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
APP_NAME = "Dialtone"
_EXPIRE_DEFAULT = -1


class NotifyMode(enum.StrEnum):
    """How mentions in other channels are signalled (``--notify``)."""

    BELL = "bell"
    DESKTOP = "desktop"
    OFF = "off"


class NotificationError(Exception):
    """The desktop notification service could not be reached or refused the notification."""


class Notifier(Protocol):
    """Something that tells the user about a mention."""

    async def notify(self, summary: str) -> None:
        """Signal a mention.

        Args:
            summary: E.g. ``Alice mentioned you in #ops``.
        """

    async def close(self) -> None:
        """Release what the notifier holds."""


class SilentNotifier:
    """``--notify off``: mentions show only as a marker in the sidebar."""

    async def notify(self, summary: str) -> None:
        """Do nothing.

        Args:
            summary: Ignored.
        """

    async def close(self) -> None:
        """Nothing to release."""


class BellNotifier:
    """Rings the terminal bell.

    Args:
        bell: The function ringing it (the app's ``bell``).
    """

    def __init__(self, bell: Callable[[], None]) -> None:
        self._bell = bell

    async def notify(self, summary: str) -> None:
        """Ring the bell.

        Args:
            summary: Not shown (the sidebar marks the channel).
        """
        self._bell()

    async def close(self) -> None:
        """Nothing to release."""


class DesktopNotifier:
    """Sends ``org.freedesktop.Notifications.Notify`` over the session bus; falls back to the bell
    (once reporting why through `on_failure`) when the service is missing.

    Args:
        bell: The fallback.
        on_failure: Called with a reason the first time a notification fails.
        bus_address: The bus to use (None: the session bus from the environment).
    """

    def __init__(
        self,
        bell: Callable[[], None],
        on_failure: Callable[[str], None] | None = None,
        *,
        bus_address: str | None = None,
    ) -> None:
        self._bell = bell
        self._on_failure = on_failure
        self._bus_address = bus_address
        self._bus: MessageBus | None = None
        self._replaces_id = 0
        self._failed = False

    async def _connect(self) -> MessageBus:
        if self._bus is None or not self._bus.connected:
            try:
                bus = (
                    MessageBus(bus_address=self._bus_address)
                    if self._bus_address is not None
                    else MessageBus(bus_type=BusType.SESSION)
                )
                self._bus = await bus.connect()
            except (OSError, ValueError, DBusError) as exc:
                raise NotificationError(f"no session D-Bus ({exc})") from exc
        return self._bus

    async def send(self, summary: str) -> int:
        """Send one notification (replacing the previous one of this client).

        Args:
            summary: The notification's summary line.

        Returns:
            The id the notification service gave it.

        Raises:
            NotificationError: No bus, no notification service, or it refused.
        """
        bus = await self._connect()
        message = Message(
            destination=BUS_NAME,
            path=OBJECT_PATH,
            interface=BUS_NAME,
            member="Notify",
            signature="susssasa{sv}i",
            body=[APP_NAME, self._replaces_id, "", "Dialtone", summary, [], {}, _EXPIRE_DEFAULT],
        )
        try:
            reply = await bus.call(message)
        except (OSError, DBusError) as exc:
            raise NotificationError(str(exc)) from exc
        if reply is None:
            raise NotificationError("no reply from the notification service")
        if reply.message_type is MessageType.ERROR:
            detail = reply.body[0] if reply.body else ""
            raise NotificationError(f"{reply.error_name}: {detail}".rstrip(": "))
        self._replaces_id = int(reply.body[0])
        return self._replaces_id

    async def notify(self, summary: str) -> None:
        """Show a desktop notification, or ring the bell if that is impossible.

        Args:
            summary: E.g. ``Alice mentioned you in #ops``.
        """
        try:
            await self.send(summary)
        except NotificationError as exc:
            self._bell()
            if not self._failed:
                self._failed = True
                log.info("desktop notification failed: %s", exc)
                if self._on_failure is not None:
                    self._on_failure(f"desktop notifications unavailable ({exc}); using the bell")

    async def close(self) -> None:
        """Disconnect from the bus."""
        bus, self._bus = self._bus, None
        if bus is not None:
            with contextlib.suppress(Exception):
                bus.disconnect()  # type: ignore[no-untyped-call]
                await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


def make_notifier(
    mode: NotifyMode, bell: Callable[[], None], on_failure: Callable[[str], None] | None = None
) -> Notifier:
    """The notifier for a ``--notify`` mode.

    Args:
        mode: The mode.
        bell: Rings the terminal bell.
        on_failure: Told once when desktop notifications do not work.

    Returns:
        The notifier.
    """
    if mode is NotifyMode.DESKTOP:
        return DesktopNotifier(bell, on_failure)
    if mode is NotifyMode.BELL:
        return BellNotifier(bell)
    return SilentNotifier()
