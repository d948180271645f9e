"""The screens before the main one: connect, register (with an invite), login, and keystore
unlock/create, where the account call finally happens.

Connect picks the server, the user and what to do; register and login collect the account's
secrets; the keystore screen collects the passphrase of this machine's keystore and then registers,
logs in or adds this device (in a worker: scrypt and the network never block the UI).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, ClassVar, cast

import attrs
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from dialtone.client.explain import EXPECTED_ERRORS, explain
from dialtone.keystore import normalize_server_url, profile_path

if TYPE_CHECKING:
    from dialtone.client.app import DialtoneApp

__all__ = [
    "ConnectScreen",
    "KeystoreScreen",
    "LoginScreen",
    "RegisterScreen",
    "SignIn",
    "SignInMode",
]

MIN_PASSPHRASE = 8


class SignInMode(enum.Enum):
    """What the keystore screen finally does."""

    LOGIN = "login"
    REGISTER = "register"
    ADD_DEVICE = "add device"


@attrs.frozen(kw_only=True)
class SignIn:
    """What the sign-in screens collected so far.

    Attributes:
        mode: Log in, register, or add this machine as a new device.
        server_url: The server.
        username: The username.
        password: The account password.
        invite_token: The invite (register only).
        display_name: The display name to publish (register only).
    """

    mode: SignInMode
    server_url: str
    username: str
    password: str = attrs.field(default="", repr=False)
    invite_token: str = attrs.field(default="", repr=False)
    display_name: str | None = None


class FormScreen(Screen[None]):
    """A centred form with a title, an explanation and an error line."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]

    FORM_TITLE = ""
    FORM_HELP = ""

    def _frame(self, *rows: Widget) -> ComposeResult:
        with Vertical(classes="form"):
            yield Static(self.FORM_TITLE, classes="form-title")
            if self.FORM_HELP:
                yield Static(self.FORM_HELP, classes="form-help")
            yield from rows
            yield Label("", id="error", classes="form-error")

    @property
    def host(self) -> DialtoneApp:
        """The application."""
        return cast("DialtoneApp", self.app)

    def show_error(self, text: str) -> None:
        """Show a problem under the form.

        Args:
            text: The sentence.
        """
        self.query_one("#error", Label).update(text)

    def action_back(self) -> None:
        """Go back to the previous screen."""
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()


def _field(label: str, widget: Input) -> Horizontal:
    return Horizontal(Label(label, classes="field-label"), widget, classes="field")


class ConnectScreen(FormScreen):
    """Pick a server and a user, then log in, register, or add this machine as a device.

    Args:
        server_url: The server to suggest.
        username: The user to suggest.
    """

    FORM_TITLE = "Dialtone"
    FORM_HELP = "End-to-end encrypted chat. Pick a server and your username."

    def __init__(self, server_url: str, username: str = "") -> None:
        super().__init__()
        self._server_url = server_url
        self._username = username

    def compose(self) -> ComposeResult:
        """The form."""
        yield from self._frame(
            _field("Server", Input(self._server_url, id="server", placeholder="https://...")),
            _field("Username", Input(self._username, id="username", placeholder="alice")),
            Label("", id="profile-hint", classes="form-help"),
            Horizontal(
                Button("Log in", id="login", variant="primary"),
                Button("Register", id="register"),
                Button("Add this device", id="add-device"),
                classes="buttons",
            ),
            Label("", id="progress", classes="form-help"),
        )

    def on_mount(self) -> None:
        """Focus the first empty field."""
        target = "#username" if self._server_url else "#server"
        self.query_one(target, Input).focus()
        self._update_hint()

    def _values(self) -> tuple[str, str] | None:
        server = self.query_one("#server", Input).value.strip()
        username = self.query_one("#username", Input).value.strip()
        try:
            normalize_server_url(server)
        except ValueError as exc:
            self.show_error(f"server: {exc}")
            return None
        if not username:
            self.show_error("the username is missing")
            return None
        self.show_error("")
        return server, username

    def _has_profile(self, server: str, username: str) -> bool:
        try:
            path = profile_path(server, username, directory=self.host.options.data_dir)
        except ValueError:
            return False
        return path.exists()

    @on(Input.Changed)
    def _update_hint(self) -> None:
        server = self.query_one("#server", Input).value.strip()
        username = self.query_one("#username", Input).value.strip()
        hint = ""
        if server and username:
            hint = (
                f"This machine has a keystore for {username}: log in."
                if self._has_profile(server, username)
                else f"No keystore for {username} here yet: register with an invite, or add "
                "this machine as a new device of your account."
            )
        self.query_one("#profile-hint", Label).update(hint)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        values = self._values()
        if values is None:
            return
        mode = SignInMode.LOGIN if self._has_profile(*values) else SignInMode.REGISTER
        self._go(mode)

    @on(Button.Pressed, "#login")
    def _login_pressed(self) -> None:
        self._go(SignInMode.LOGIN)

    @on(Button.Pressed, "#register")
    def _register_pressed(self) -> None:
        self._go(SignInMode.REGISTER)

    @on(Button.Pressed, "#add-device")
    def _add_device_pressed(self) -> None:
        self._go(SignInMode.ADD_DEVICE)

    def _go(self, mode: SignInMode) -> None:
        values = self._values()
        if values is None:
            return
        server, username = values
        if mode is SignInMode.LOGIN and not self._has_profile(server, username):
            self.show_error(
                f"no keystore for {username} on this server here: register, or add this device"
            )
            return
        sign_in = SignIn(mode=mode, server_url=server, username=username)
        self._set_busy(True)
        self.query_one("#progress", Label).update(f"Checking {server}…")
        self._check_then_go(sign_in)

    def _set_busy(self, busy: bool) -> None:
        for button in self.query(Button):
            button.disabled = busy

    @work(exclusive=True, group="check-server", exit_on_error=False)
    async def _check_then_go(self, sign_in: SignIn) -> None:
        # The server is asked first: a wrong URL or another kind of server is said here, not
        # after the passwords and the keystore passphrase were typed.
        try:
            core = await self.host.core_for(sign_in.server_url)
            await core.check_server()
        except EXPECTED_ERRORS as exc:
            self.show_error(explain(exc))
            return
        finally:
            self._set_busy(False)
            self.query_one("#progress", Label).update("")
        if sign_in.mode is SignInMode.REGISTER:
            self.app.push_screen(RegisterScreen(sign_in, invite=self.host.options.invite_token))
        else:
            self.app.push_screen(LoginScreen(sign_in))


class RegisterScreen(FormScreen):
    """Create an account with an invite.

    Args:
        sign_in: What the connect screen collected.
        invite: An invite token to pre-fill.
    """

    FORM_TITLE = "Register"
    FORM_HELP = "An invite from the server's admin creates your account."

    def __init__(self, sign_in: SignIn, invite: str | None = None) -> None:
        super().__init__()
        self.sign_in = sign_in
        self._invite = invite or ""

    def compose(self) -> ComposeResult:
        """The form."""
        yield from self._frame(
            Static(f"{self.sign_in.username} on {self.sign_in.server_url}", classes="form-help"),
            _field("Invite", Input(self._invite, id="invite", placeholder="invite token")),
            _field("Password", Input(id="password", password=True)),
            _field("Repeat", Input(id="password2", password=True)),
            _field("Name", Input(id="display-name", placeholder="display name (optional)")),
            Horizontal(
                Button("Next", id="submit", variant="primary"),
                Button("Back", id="back"),
                classes="buttons",
            ),
        )

    def on_mount(self) -> None:
        """Focus the first empty field."""
        self.query_one("#password" if self._invite else "#invite", Input).focus()

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_back()

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        invite = self.query_one("#invite", Input).value.strip()
        password = self.query_one("#password", Input).value
        repeat = self.query_one("#password2", Input).value
        name = self.query_one("#display-name", Input).value.strip()
        if not invite:
            self.show_error("the invite token is missing")
        elif not password:
            self.show_error("choose a password")
        elif password != repeat:
            self.show_error("the passwords differ")
        else:
            self.show_error("")
            sign_in = attrs.evolve(
                self.sign_in, invite_token=invite, password=password, display_name=name or None
            )
            self.app.push_screen(KeystoreScreen(sign_in))


class LoginScreen(FormScreen):
    """The account password (log in, or add this machine as a device).

    Args:
        sign_in: What the connect screen collected.
    """

    FORM_TITLE = "Log in"

    def __init__(self, sign_in: SignIn) -> None:
        super().__init__()
        self.sign_in = sign_in
        if sign_in.mode is SignInMode.ADD_DEVICE:
            self.FORM_TITLE = "Add this device"
            self.FORM_HELP = (
                "This machine becomes a new device of your account. It gets no keys until one of "
                "your other devices approves it (/devices approve there)."
            )

    def compose(self) -> ComposeResult:
        """The form."""
        yield from self._frame(
            Static(f"{self.sign_in.username} on {self.sign_in.server_url}", classes="form-help"),
            _field("Password", Input(id="password", password=True)),
            Horizontal(
                Button("Next", id="submit", variant="primary"),
                Button("Back", id="back"),
                classes="buttons",
            ),
        )

    def on_mount(self) -> None:
        """Focus the password."""
        self.query_one("#password", Input).focus()

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_back()

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        password = self.query_one("#password", Input).value
        if not password:
            self.show_error("the password is missing")
            return
        self.show_error("")
        self.app.push_screen(KeystoreScreen(attrs.evolve(self.sign_in, password=password)))


class KeystoreScreen(FormScreen):
    """Unlock this machine's keystore (log in) or create it (register, add device), then do it.

    Args:
        sign_in: Everything but the passphrase.
    """

    def __init__(self, sign_in: SignIn) -> None:
        super().__init__()
        self.sign_in = sign_in
        self.creating = sign_in.mode is not SignInMode.LOGIN
        if self.creating:
            self.FORM_TITLE = "Create your keystore"
            self.FORM_HELP = (
                "The keystore keeps this device's private keys and your channel keys, encrypted "
                "with a passphrase that never leaves this machine. Losing it loses them."
            )
        else:
            self.FORM_TITLE = "Unlock your keystore"
            self.FORM_HELP = "The passphrase of this machine's keystore."

    def compose(self) -> ComposeResult:
        """The form."""
        rows: list[Widget] = [
            Static(f"{self.sign_in.username} on {self.sign_in.server_url}", classes="form-help"),
            _field("Passphrase", Input(id="passphrase", password=True)),
        ]
        if self.creating:
            rows.append(_field("Repeat", Input(id="passphrase2", password=True)))
        action = {
            SignInMode.LOGIN: "Unlock",
            SignInMode.REGISTER: "Create and register",
            SignInMode.ADD_DEVICE: "Create and add device",
        }[self.sign_in.mode]
        rows.append(
            Horizontal(
                Button(action, id="submit", variant="primary"),
                Button("Back", id="back"),
                classes="buttons",
            )
        )
        rows.append(Label("", id="progress", classes="form-help"))
        yield from self._frame(*rows)

    def on_mount(self) -> None:
        """Focus the passphrase."""
        self.query_one("#passphrase", Input).focus()

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_back()

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        passphrase = self.query_one("#passphrase", Input).value
        if not passphrase:
            self.show_error("the passphrase is missing")
            return
        if self.creating:
            if len(passphrase) < MIN_PASSPHRASE:
                self.show_error(f"use at least {MIN_PASSPHRASE} characters")
                return
            if passphrase != self.query_one("#passphrase2", Input).value:
                self.show_error("the passphrases differ")
                return
        self.show_error("")
        self.query_one("#submit", Button).disabled = True
        self.query_one("#progress", Label).update(
            "Unlocking…" if not self.creating else "Creating the keystore…"
        )
        self._sign_in(passphrase)

    @work(exclusive=True, group="sign-in", exit_on_error=False)
    async def _sign_in(self, passphrase: str) -> None:
        # Exclusive: a second press must not start a second registration beside the first.
        try:
            await self.host.sign_in(self.sign_in, passphrase)
        except EXPECTED_ERRORS as exc:
            self.query_one("#progress", Label).update("")
            self.query_one("#submit", Button).disabled = False
            self.show_error(explain(exc))
            return
        # Not awaited here: entering the main screen removes this screen and its workers.
        self.app.call_later(self.host.enter_main)
