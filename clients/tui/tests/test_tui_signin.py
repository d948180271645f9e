"""The sign-in screens through Pilot: connect (which asks the server's health check first),
register, login, add device and keystore unlock/create; their checks, their navigation, inline
errors, and snapshots.

Signing in against a real server is in tests/test_e2e_tui_chat.py. Here the server is a small web
server answering only the health check (with the real wire type), which then goes away, so the
last step fails the way an unreachable server does; and other web servers, which are not Dialtone
servers.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs
import pytest
from aiohttp import web
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label

from dialtone.client.app import DialtoneApp
from dialtone.client.core import ClientOptions
from dialtone.client.screens.forms import (
    ConnectScreen,
    KeystoreScreen,
    LoginScreen,
    RegisterScreen,
    SignIn,
    SignInMode,
)
from dialtone.client.testing import assert_snapshot, screen_text, wait_until
from dialtone.keystore import profile_path
from dialtone.wire import SUPPORTED_PROTOCOL_VERSIONS, Codec
from dialtone.wire.http import HealthResponse

SNAPSHOTS = Path(__file__).parent / "snapshots"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def dialtone_health(_request: web.Request) -> web.Response:
    health = HealthResponse(
        server_version="0.1.0", protocol_versions=tuple(SUPPORTED_PROTOCOL_VERSIONS)
    )
    return web.Response(body=Codec().encode_http(health), content_type="application/json")


class WebServer:
    """A web server on 127.0.0.1 answering GET /v1/health with `handler`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/v1/health", self.handler)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@attrs.define
class Rig:
    app: DialtoneApp
    pilot: Pilot[int]
    server: str
    data_dir: Path
    web: WebServer

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

    def progress(self) -> str:
        return str(self.app.screen.query_one("#progress", Label).render())

    async def shows_error(self, fragment: str) -> None:
        await wait_until(self.pilot, lambda: fragment in self.error(), within=20, what=fragment)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    health = WebServer(dialtone_health)
    server = await health.start()
    options = ClientOptions(
        server_url=server, data_dir=tmp_path / "profiles", invite_token="inv-123"
    )
    app = DialtoneApp(options)
    try:
        async with app.run_test(size=(100, 36)) as pilot:
            await pilot.pause()
            yield Rig(app, pilot, server, tmp_path / "profiles", health)
    finally:
        await health.stop()


async def next_screen(rig: Rig, kind: type[object]) -> None:
    await wait_until(
        rig.pilot, lambda: isinstance(rig.app.screen, kind), within=20, what=kind.__name__
    )


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
    await next_screen(rig, LoginScreen)
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
    await next_screen(rig, RegisterScreen)
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
    await next_screen(rig, LoginScreen)
    assert "Add this device" in screen_text(rig.app)
    await rig.pilot.press("escape")
    assert isinstance(rig.app.screen, ConnectScreen)
    await rig.press("#register")
    await next_screen(rig, RegisterScreen)
    await rig.press("#back")
    assert isinstance(rig.app.screen, ConnectScreen)
    await rig.pilot.press("escape")
    assert isinstance(rig.app.screen, ConnectScreen)


async def go_to_keystore(rig: Rig) -> KeystoreScreen:
    await rig.fill("#username", "alice")
    await rig.press("#register")
    await next_screen(rig, RegisterScreen)
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


async def test_a_server_gone_by_the_last_step_is_an_inline_error_and_leaves_no_keystore(
    rig: Rig,
) -> None:
    await go_to_keystore(rig)
    await rig.web.stop()
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


# The screens after the connect screen are shown directly: the server they name in their text
# must be the same in every run, and no server listens there.
SNAPSHOT_SIGN_IN = SignIn(
    mode=SignInMode.REGISTER, server_url="http://127.0.0.1:8470", username="alice"
)


async def test_snapshot_of_the_register_screen(rig: Rig) -> None:
    await rig.app.push_screen(RegisterScreen(SNAPSHOT_SIGN_IN, invite="inv-123"))
    await rig.pilot.pause()
    assert_snapshot(rig.app, SNAPSHOTS, "register_screen")


async def test_snapshot_of_the_keystore_screen(rig: Rig) -> None:
    sign_in = attrs.evolve(SNAPSHOT_SIGN_IN, password="secret password", display_name="Alice")
    await rig.app.push_screen(KeystoreScreen(sign_in))
    await rig.pilot.pause()
    assert_snapshot(rig.app, SNAPSHOTS, "keystore_create_screen")


async def test_an_unreachable_server_is_said_on_the_connect_screen(rig: Rig) -> None:
    await rig.fill("#server", f"http://127.0.0.1:{closed_port()}")
    await rig.fill("#username", "alice")
    await rig.press("#register")
    await rig.shows_error("cannot reach the server: http://127.0.0.1:")
    assert isinstance(rig.app.screen, ConnectScreen)
    assert rig.progress() == ""
    assert not rig.app.screen.query_one("#register", Button).disabled


async def not_dialtone(_request: web.Request) -> web.Response:
    return web.Response(text="<html><body>It works!</body></html>", content_type="text/html")


async def missing(_request: web.Request) -> web.Response:
    return web.Response(status=404, text="<h1>Not Found</h1>", content_type="text/html")


@pytest.mark.parametrize(
    ("handler", "said"),
    [
        (not_dialtone, "answered, but not as a Dialtone server does: check the URL"),
        (missing, "answered HTTP 404 where a Dialtone server answers its health check"),
    ],
    ids=["another-web-page", "not-found"],
)
async def test_another_kind_of_server_is_said_on_the_connect_screen(
    rig: Rig, handler: Handler, said: str
) -> None:
    other = WebServer(handler)
    url = await other.start()
    try:
        await rig.fill("#server", url)
        await rig.fill("#username", "alice")
        await rig.press("#add-device")
        await rig.shows_error("not a Dialtone server: ")
        assert said in rig.error()
        assert isinstance(rig.app.screen, ConnectScreen)
        # Pointed at the right server, the same button goes on.
        await rig.fill("#server", rig.server)
        await rig.press("#add-device")
        await next_screen(rig, LoginScreen)
    finally:
        await other.stop()
