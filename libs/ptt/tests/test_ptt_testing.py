"""The test helpers other suites rely on: the portal double's contract and process cleanup."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from dbus_next.aio.message_bus import MessageBus
from dbus_next.constants import MessageType
from dbus_next.message import Message
from dbus_next.signature import Variant

from dialtone.ptt.portal import (
    GLOBAL_SHORTCUTS_INTERFACE,
    PORTAL_BUS_NAME,
    PORTAL_OBJECT_PATH,
    REQUEST_INTERFACE,
    request_path,
)
from dialtone.ptt.testing import PortalDouble, SessionBus, private_session_bus, xvfb_display

pytestmark = pytest.mark.slow


async def _raw_bind(bus: Any) -> str:
    """CreateSession + BindShortcuts by hand, as a client other than PortalBackend would."""
    responses: asyncio.Queue[Message] = asyncio.Queue()

    def on_message(message: Message) -> None:
        if message.message_type is MessageType.SIGNAL and message.interface == REQUEST_INTERFACE:
            responses.put_nowait(message)

    bus.add_message_handler(on_message)

    async def call(member: str, signature: str, body: list[Any], token: str) -> Message:
        reply = await bus.call(
            Message(
                destination=PORTAL_BUS_NAME,
                path=PORTAL_OBJECT_PATH,
                interface=GLOBAL_SHORTCUTS_INTERFACE,
                member=member,
                signature=signature,
                body=body,
            )
        )
        assert reply.body[0] == request_path(bus.unique_name, token)
        async with asyncio.timeout(5):
            response = await responses.get()
        assert response.path == reply.body[0]
        assert response.body[0] == 0
        return response

    created = await call(
        "CreateSession",
        "a{sv}",
        [{"handle_token": Variant("s", "t1"), "session_handle_token": Variant("s", "s1")}],
        "t1",
    )
    session = str(created.body[1]["session_handle"].value)
    shortcuts = [["talk", {"description": Variant("s", "Talk")}]]
    await call(
        "BindShortcuts",
        "oa(sa{sv})sa{sv}",
        [session, shortcuts, "", {"handle_token": Variant("s", "t2")}],
        "t2",
    )
    return session


async def test_a_client_leaving_the_bus_closes_its_sessions(
    session_bus: SessionBus, portal: PortalDouble
) -> None:
    """Like the real portal: a vanished client's sessions are closed, so wait_bound waits again."""
    client: Any = await MessageBus(bus_address=session_bus.address).connect()
    session = await _raw_bind(client)
    async with asyncio.timeout(5):
        bound = await portal.wait_bound()
    assert (bound.handle, bound.shortcuts) == (session, {"talk": {"description": "Talk"}})
    client.disconnect()
    async with asyncio.timeout(5):
        while portal.sessions:  # noqa: ASYNC110 -- NameOwnerChanged arrives on the double's bus
            await asyncio.sleep(0.01)
    assert portal.closed_sessions == [session]
    with pytest.raises(LookupError):
        await portal.press()


async def test_the_double_is_introspectable(session_bus: SessionBus, portal: PortalDouble) -> None:
    """Tools such as gdbus or busctl see the GlobalShortcuts interface and its version."""
    client: Any = await MessageBus(bus_address=session_bus.address).connect()
    try:
        node = await client.introspect(PORTAL_BUS_NAME, PORTAL_OBJECT_PATH)
        (interface,) = [i for i in node.interfaces if i.name == GLOBAL_SHORTCUTS_INTERFACE]
        assert {m.name for m in interface.methods} == {
            "CreateSession",
            "BindShortcuts",
            "ListShortcuts",
        }
        assert {s.name for s in interface.signals} >= {"Activated", "Deactivated"}
        assert [p.name for p in interface.properties] == ["version"]
    finally:
        client.disconnect()


async def test_a_call_arriving_as_the_double_stops_leaves_no_failed_send_behind(
    session_bus: SessionBus, caplog: pytest.LogCaptureFixture
) -> None:
    """A client calls while the test's loop is busy (a daemon closing its session as the test
    waits for it to exit) and the double stops just after answering: the answer still goes out
    before the double leaves the bus, and no failed send is left for asyncio to report at
    garbage collection ("Future exception was never retrieved")."""
    double = PortalDouble()
    await double.start(session_bus.address)
    caller = subprocess.Popen(  # noqa: ASYNC220 -- started, then waited for in a thread
        [
            "dbus-send",
            f"--bus={session_bus.address}",
            "--print-reply",
            "--reply-timeout=2000",
            f"--dest={PORTAL_BUS_NAME}",
            PORTAL_OBJECT_PATH,
            "org.freedesktop.DBus.Introspectable.Introspect",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Block the loop, as a synchronous wait for a child process does, so the call waits in
        # the double's socket; then let the loop run twice: the double reads the call and queues
        # its answer, and stop() begins before the answer is written.
        time.sleep(0.5)  # noqa: ASYNC251 -- blocking the loop is the point
        for _ in range(2):
            await asyncio.sleep(0)
        await double.stop()
    finally:
        await asyncio.to_thread(caller.wait, 10)
    assert caller.returncode == 0
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
    assert not [r.getMessage() for r in caplog.records if r.name == "asyncio"]


async def test_the_name_cannot_be_owned_twice(
    session_bus: SessionBus, portal: PortalDouble
) -> None:
    """A second double on the same bus is a clear error, not a silent queue."""
    with pytest.raises(RuntimeError, match="already owned"):
        await PortalDouble().start(session_bus.address)


def test_private_session_bus_is_killed_and_cleaned_up() -> None:
    """The dbus-daemon is gone and its socket directory removed after the block."""
    with private_session_bus() as bus:
        socket_path = Path(bus.address.removeprefix("unix:path=").split(",")[0])
        assert socket_path.exists()
        assert Path(f"/proc/{bus.pid}").exists()
    assert not Path(f"/proc/{bus.pid}").exists()
    assert not socket_path.parent.exists()


def test_xvfb_display_is_killed_after_the_block() -> None:
    """Inside the block xdotool reaches the display; after it, nothing answers there."""
    with xvfb_display() as display:
        env = {**os.environ, "DISPLAY": display}
        subprocess.run(["xdotool", "getmouselocation"], env=env, check=True, capture_output=True)
    after = subprocess.run(
        ["xdotool", "getmouselocation"], env=env, capture_output=True, timeout=30, check=False
    )
    assert after.returncode != 0
