"""The sign-in screens through Pilot: connect, register, login, add device and keystore
unlock/create; their checks, their navigation, inline errors, and snapshots.

Signing in against a real server is in tests/test_e2e_tui_chat.py; here the server is a closed
port, so the last step fails the way an unreachable server does.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label

from dialtone.client.app import DialtoneApp
from dialtone.client.core import ClientOptions
from dialtone.client.screens.forms import (
    ConnectScreen,
    KeystoreScreen,
    LoginScreen,
    RegisterScreen,
    SignInMode,
)
from dialtone.client.testing import assert_snapshot, screen_text, wait_until
from dialtone.keystore import profile_path

SNAPSHOTS = Path(__file__).parent / "snapshots"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@attrs.define
class Rig:
    app: DialtoneApp
    pilot: Pilot[int]
    server: str
    data_dir: Path

    def error(self) -> str:
        return str(self.app.screen.query_one("#error", Label).render())

    async def fill(self, selector: str, value: str) -> None:
        field = self.app.screen.query_one(selector, Input)
        field.value = value
        await self.pilot.pause()

    async def press(self, selector: str) -> None:
        button = self.app.screen.query_one(selector, Button)
        # A button ignores clicks during its 0.2 s "pressed" effect, as it does for a person.
        await wait_until(self.pilot, lambda: not button.has_class("-active"), within=2)
        await self.pilot.click(selector)
        await self.pilot.pause()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    server = f"http://127.0.0.1:{closed_port()}"
    options = ClientOptions(
        server_url=server, data_dir=tmp_path / "profiles", invite_token="inv-123"
    )
    app = DialtoneApp(options)
    async with app.run_test(size=(100, 36)) as pilot:
        await pilot.pause()
        yield Rig(app, pilot, server, tmp_path / "profiles")


async def test_the_connect_screen_comes_first_with_the_server_filled_in(rig: Rig) -> None:
    assert isinstance(rig.app.screen, ConnectScreen)
    assert rig.app.screen.query_one("#server", Input).value == rig.server
    assert rig.app.focused is rig.app.screen.query_one("#username", Input)


async def test_a_bad_server_url_or_missing_username_is_refused_inline(rig: Rig) -> None:
    await rig.press("#register")
    assert rig.error() == "the username is missing"
    await rig.fill("#username", "alice")
    await rig.fill("#server", "ftp://nowhere")
    await rig.press("#register")
    assert rig.error().startswith("server: server URL must start with http://")
    assert isinstance(rig.app.screen, ConnectScreen)


async def test_logging_in_without_a_keystore_here_says_what_to_do(rig: Rig) -> None:
    await rig.fill("#username", "alice")
    assert "No keystore for alice here yet" in screen_text(rig.app)
    await rig.press("#login")
    assert rig.error() == "no keystore for alice on this server here: register, or add this device"


async def test_with_a_keystore_here_enter_goes_to_login(rig: Rig) -> None:
    path = profile_path(rig.server, "alice", directory=rig.data_dir)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"placeholder")
    await rig.fill("#username", "alice")
    assert "This machine has a keystore for alice: log in." in screen_text(rig.app)
    rig.app.screen.query_one("#username", Input).focus()
    await rig.pilot.press("enter")
    screen = rig.app.screen
    assert isinstance(screen, LoginScreen)
    assert screen.sign_in.mode is SignInMode.LOGIN
    await rig.fill("#password", "pw")
    await rig.pilot.press("enter")
    keystore = rig.app.screen
    assert isinstance(keystore, KeystoreScreen)
    assert not keystore.creating
    assert not keystore.query("#passphrase2")


async def test_register_checks_its_fields_and_prefills_the_invite(rig: Rig) -> None:
    await rig.fill("#username", "alice")
    await rig.press("#register")
    assert isinstance(rig.app.screen, RegisterScreen)
    assert rig.app.screen.query_one("#invite", Input).value == "inv-123"
    await rig.press("#submit")
    assert rig.error() == "choose a password"
    await rig.fill("#password", "one")
    await rig.fill("#password2", "two")
    await rig.press("#submit")
    assert rig.error() == "the passwords differ"
    await rig.fill("#invite", "")
    await rig.press("#submit")
    assert rig.error() == "the invite token is missing"


async def test_escape_and_back_return_to_the_previous_screen(rig: Rig) -> None:
    await rig.fill("#username", "alice")
    await rig.press("#add-device")
    assert isinstance(rig.app.screen, LoginScreen)
    assert "Add this device" in screen_text(rig.app)
    await rig.pilot.press("escape")
    assert isinstance(rig.app.screen, ConnectScreen)
    await rig.press("#register")
    await rig.press("#back")
    assert isinstance(rig.app.screen, ConnectScreen)
    await rig.pilot.press("escape")
    assert isinstance(rig.app.screen, ConnectScreen)


async def go_to_keystore(rig: Rig) -> KeystoreScreen:
    await rig.fill("#username", "alice")
    await rig.press("#register")
    await rig.fill("#password", "secret password")
    await rig.fill("#password2", "secret password")
    await rig.fill("#display-name", "Alice")
    await rig.press("#submit")
    screen = rig.app.screen
    assert isinstance(screen, KeystoreScreen)
    return screen


async def test_a_new_keystore_needs_a_long_enough_repeated_passphrase(rig: Rig) -> None:
    screen = await go_to_keystore(rig)
    assert screen.creating
    assert screen.sign_in.display_name == "Alice"
    await rig.fill("#passphrase", "short")
    await rig.press("#submit")
    assert rig.error() == "use at least 8 characters"
    await rig.fill("#passphrase", "long enough phrase")
    await rig.fill("#passphrase2", "another phrase")
    await rig.press("#submit")
    assert rig.error() == "the passphrases differ"


async def test_an_unreachable_server_is_an_inline_error_and_leaves_no_keystore(rig: Rig) -> None:
    await go_to_keystore(rig)
    await rig.fill("#passphrase", "long enough phrase")
    await rig.fill("#passphrase2", "long enough phrase")
    await rig.press("#submit")
    await wait_until(rig.pilot, lambda: "cannot reach the server" in rig.error(), within=20)
    assert not rig.app.screen.query_one("#submit", Button).disabled
    assert not profile_path(rig.server, "alice", directory=rig.data_dir).exists()


async def test_snapshot_of_the_connect_screen(rig: Rig) -> None:
    await rig.fill("#server", "http://127.0.0.1:8470")
    await rig.fill("#username", "alice")
    assert_snapshot(rig.app, SNAPSHOTS, "connect_screen")


async def test_snapshot_of_the_register_screen(rig: Rig) -> None:
    await rig.fill("#server", "http://127.0.0.1:8470")
    await rig.fill("#username", "alice")
    await rig.press("#register")
    assert_snapshot(rig.app, SNAPSHOTS, "register_screen")


async def test_snapshot_of_the_keystore_screen(rig: Rig) -> None:
    await rig.fill("#server", "http://127.0.0.1:8470")
    await go_to_keystore(rig)
    assert_snapshot(rig.app, SNAPSHOTS, "keystore_create_screen")
