"""Mention notifications: a desktop notification over a real (private) session D-Bus, with a
stand-in for the desktop's notification service; the bell when there is no service or no bus."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from dbus_next.aio.message_bus import MessageBus
from dbus_next.constants import MessageType
from dbus_next.message import Message

from dialtone.client.notify import (
    BUS_NAME,
    OBJECT_PATH,
    BellNotifier,
    DesktopNotifier,
    NotificationError,
    NotifyMode,
    SilentNotifier,
    make_notifier,
)


@pytest.fixture
def session_bus() -> Iterator[str]:
    """A private session bus (its own dbus-daemon), stopped after the test."""
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        address = daemon.stdout.readline().strip()
        assert address.startswith("unix:")
        yield address
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


class NotificationService:
    """What a desktop runs: owns org.freedesktop.Notifications and records each Notify."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []
        self.bus: MessageBus | None = None

    def handle(self, message: Message) -> Message | None:
        if (
            message.message_type is MessageType.METHOD_CALL
            and message.interface == BUS_NAME
            and message.path == OBJECT_PATH
            and message.member == "Notify"
        ):
            self.calls.append(list(message.body))
            return Message.new_method_return(message, "u", [len(self.calls)])
        return None

    async def start(self, address: str) -> None:
        self.bus = await MessageBus(bus_address=address).connect()
        self.bus.add_message_handler(self.handle)
        await self.bus.request_name(BUS_NAME)

    def stop(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()  # type: ignore[no-untyped-call]


@pytest.fixture
async def service(session_bus: str) -> AsyncIterator[NotificationService]:
    running = NotificationService()
    await running.start(session_bus)
    try:
        yield running
    finally:
        running.stop()


async def test_a_desktop_notification_names_who_and_where_but_not_the_text(
    session_bus: str, service: NotificationService
) -> None:
    bells: list[int] = []
    notifier = DesktopNotifier(lambda: bells.append(1), bus_address=session_bus)
    try:
        await notifier.notify("Alice mentioned you in #ops")
        await notifier.notify("Bob mentioned you in #ops")
    finally:
        await notifier.close()
    assert not bells
    first, second = service.calls
    app_name, replaces_id, _icon, summary, body, actions, _hints, timeout = first
    assert (app_name, replaces_id, summary, body) == (
        "Dialtone",
        0,
        "Dialtone",
        "Alice mentioned you in #ops",
    )
    assert actions == []
    assert timeout == -1
    # The second replaces the first instead of piling up.
    assert second[1] == 1


async def test_without_a_notification_service_the_bell_rings_and_the_user_is_told_once(
    session_bus: str,
) -> None:
    bells: list[int] = []
    reasons: list[str] = []
    notifier = DesktopNotifier(lambda: bells.append(1), reasons.append, bus_address=session_bus)
    try:
        with pytest.raises(NotificationError, match="ServiceUnknown"):
            await notifier.send("nobody listens")
        await notifier.notify("one")
        await notifier.notify("two")
    finally:
        await notifier.close()
    assert len(bells) == 2
    assert len(reasons) == 1
    assert reasons[0].startswith("desktop notifications unavailable")


async def test_without_a_bus_the_bell_rings(tmp_path: Any) -> None:
    bells: list[int] = []
    notifier = DesktopNotifier(lambda: bells.append(1), bus_address=f"unix:path={tmp_path}/no-bus")
    await notifier.notify("hello")
    await notifier.close()
    assert bells == [1]


async def test_the_modes_pick_their_notifier() -> None:
    bells: list[int] = []
    ring = bells.append
    assert isinstance(make_notifier(NotifyMode.BELL, lambda: ring(1)), BellNotifier)
    assert isinstance(make_notifier(NotifyMode.DESKTOP, lambda: ring(1)), DesktopNotifier)
    silent = make_notifier(NotifyMode.OFF, lambda: ring(1))
    assert isinstance(silent, SilentNotifier)
    await silent.notify("ignored")
    bell = make_notifier(NotifyMode.BELL, lambda: ring(1))
    await bell.notify("ring")
    await silent.close()
    assert bells == [1]
