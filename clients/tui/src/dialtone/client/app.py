"""`DialtoneApp`: the Textual application. Sign-in screens, then the main screen fed by the core.

The app owns the one `ClientCore` (created for the server chosen on the connect screen), pumps its
events to the main screen from a long-lived worker, starts the voice daemon for ``--voice-auto``,
and closes everything (core, daemon, notifier) when it stops.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import ClassVar

import attrs
from textual import events
from textual.app import App
from textual.binding import Binding, BindingType

from dialtone.client.core import ClientCore, ClientOptions
from dialtone.client.core.events import AccountInfo, ClientEvent, Notice
from dialtone.client.daemon import (
    DaemonSettings,
    VoiceDaemonError,
    VoiceDaemonProcess,
    default_socket_path,
)
from dialtone.client.explain import EXPECTED_ERRORS, explain
from dialtone.client.messages import CoreEvent, VoiceDaemonExited
from dialtone.client.notify import Notifier, NotifyMode, make_notifier
from dialtone.client.quiet_gc import QuietCollector
from dialtone.client.screens.forms import ConnectScreen, SignIn, SignInMode
from dialtone.client.screens.help import HelpScreen
from dialtone.client.screens.main import MainScreen
from dialtone.keystore import normalize_server_url

__all__ = ["DEFAULT_THEME", "DialtoneApp"]

DEFAULT_THEME = "ansi-dark"
"""Textual's theme made of the terminal's own ANSI colours: it looks like the user's terminal."""

_EARLY_EVENTS_LIMIT = 10_000


class DialtoneApp(App[int]):
    """The Dialtone terminal client.

    Args:
        options: The core's options and the TUI's (voice daemon, notifications, theme...).
        tz: Time zone of timestamps (None: local; tests pin one).
        clock: The time of local lines (None: now; tests pin one).
    """

    # Absolute: Textual resolves relative paths against the module of a subclass.
    CSS_PATH = Path(__file__).parent / "styles" / "dialtone.tcss"
    TITLE = "Dialtone"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1,ctrl+slash,ctrl+underscore", "help", "Help", priority=True),
    ]

    def __init__(
        self,
        options: ClientOptions,
        *,
        tz: tzinfo | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.options = options
        self.tz = tz
        self.clock = clock
        self.core: ClientCore | None = None
        self.main: MainScreen | None = None
        self.daemon: VoiceDaemonProcess | None = None
        self.notifier: Notifier = make_notifier(
            NotifyMode(options.notify), self._ring, self._notify_failed
        )
        self._early: list[ClientEvent] = []
        self._client_closed = False
        self.quiet_gc = QuietCollector()

    def on_mount(self) -> None:
        """Apply the theme and show the connect screen."""
        self.theme = self.options.theme
        self.push_screen(ConnectScreen(self.options.server_url, self.options.username or ""))

    # --- the core --------------------------------------------------------------------------------

    async def core_for(self, server_url: str) -> ClientCore:
        """The core for a server, made (and its events pumped) on first use.

        Args:
            server_url: The server.

        Returns:
            The core.
        """
        wanted = normalize_server_url(server_url)
        core = self.core
        if core is not None and normalize_server_url(core.options.server_url) == wanted:
            return core
        if core is not None:
            await core.close()
        core = self.core = ClientCore(attrs.evolve(self.options, server_url=server_url))
        # Subscribed here, before any call: no event of the sign-in is missed.
        stream = core.events()
        self.run_worker(
            self._pump(stream), name="core events", group="core-events", exit_on_error=False
        )
        return core

    async def _pump(self, stream: AsyncIterator[ClientEvent]) -> None:
        # The long-lived worker of the core's events: they go to the main screen once it exists,
        # and wait in order until then.
        async for event in stream:
            main = self.main
            if main is not None:
                main.post_message(CoreEvent(event))
            elif len(self._early) < _EARLY_EVENTS_LIMIT:
                self._early.append(event)
                if isinstance(event, Notice):
                    self.notify(event.text, timeout=10)

    async def sign_in(self, sign_in: SignIn, passphrase: str) -> AccountInfo:
        """Register, log in or add this device, then connect.

        Args:
            sign_in: What the sign-in screens collected.
            passphrase: The keystore passphrase.

        Returns:
            The account.

        Raises:
            CoreError: The server refused, or cannot be reached.
            KeystoreError: The keystore cannot be opened or created.
            ValueError: A value is invalid (a bad server URL).
        """
        core = await self.core_for(sign_in.server_url)
        if sign_in.mode is SignInMode.REGISTER:
            account = await core.register(
                invite_token=sign_in.invite_token,
                username=sign_in.username,
                password=sign_in.password,
                passphrase=passphrase,
                display_name=sign_in.display_name,
            )
        elif sign_in.mode is SignInMode.ADD_DEVICE:
            account = await core.add_device(
                username=sign_in.username, password=sign_in.password, passphrase=passphrase
            )
        else:
            account = await core.login(
                username=sign_in.username, password=sign_in.password, passphrase=passphrase
            )
        await core.connect()
        return account

    async def enter_main(self) -> None:
        """Replace the sign-in screens with the main screen, then start voice if asked."""
        core = self.core
        if core is None or core.account is None:
            return
        main = self.make_main_screen(core)
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        await self.push_screen(main)
        early, self._early = self._early, []
        for event in early:
            main.post_message(CoreEvent(event))
        self.main = main
        self.quiet_gc.start()
        self.set_interval(1.0, self.quiet_gc.tick)
        if self.options.voice_auto or self.options.voice_ipc_path is not None:
            self.run_worker(self._start_voice(core), group="voice", exit_on_error=False)

    def make_main_screen(self, core: ClientCore) -> MainScreen:
        """The main screen for a core, with this app's notifier, time zone and clock.

        Args:
            core: The core (logged in, or not yet for tests of the screen alone).

        Returns:
            The screen (not shown yet).
        """
        extra = {"clock": self.clock} if self.clock is not None else {}
        return MainScreen(
            core,
            notifier=self.notifier,
            tz=self.tz,
            voice_meter=self.options.voice_meter,
            **extra,
        )

    # --- voice -----------------------------------------------------------------------------------

    async def _start_voice(self, core: ClientCore) -> None:
        options = self.options
        socket_path = options.voice_ipc_path
        if options.voice_auto:
            socket_path = socket_path or default_socket_path()
            daemon = VoiceDaemonProcess(
                DaemonSettings(
                    executable=options.voiced_command,
                    socket_path=socket_path,
                    debug=options.voice_debug,
                    log_path=options.voice_log,
                    ptt_key=options.voice_ptt,
                    ptt_backend=options.voice_ptt_backend,
                    vad=options.voice_vad,
                    meter=options.voice_meter,
                ),
                on_exit=self._voice_exited,
            )
            try:
                await daemon.start()
            except VoiceDaemonError as exc:
                self._voice_exited(str(exc))
                return
            self.daemon = daemon
        assert socket_path is not None
        try:
            await core.attach_voice(socket_path)
        except EXPECTED_ERRORS as exc:
            self._voice_exited(explain(exc))

    def _voice_exited(self, reason: str) -> None:
        if self.main is not None and not self._client_closed:
            self.main.post_message(VoiceDaemonExited(reason))

    def _ring(self) -> None:
        self.bell()

    def _notify_failed(self, reason: str) -> None:
        self.notify(reason, severity="warning")

    # --- actions and shutdown --------------------------------------------------------------------

    def action_help(self) -> None:
        """Show the help overlay (not over another overlay)."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Close the core (saving the keystore), stop the voice daemon, and exit."""
        await self.close_client()
        self.exit(0)

    async def close_client(self) -> None:
        """Close the core, the voice daemon and the notifier (safe to call twice)."""
        if self._client_closed:
            return
        self._client_closed = True
        core, self.core = self.core, None
        if core is not None:
            with contextlib.suppress(Exception):
                await core.close()
        daemon, self.daemon = self.daemon, None
        if daemon is not None:
            await daemon.stop()
        await self.notifier.close()

    async def on_event(self, event: events.Event) -> None:
        """Note user input (full garbage collections wait for a pause in it), then handle it.

        Args:
            event: The event.
        """
        if isinstance(event, events.Key | events.MouseEvent):
            self.quiet_gc.saw_input()
        await super().on_event(event)

    async def on_unmount(self) -> None:
        """However the app stops, nothing it started outlives it."""
        self.quiet_gc.stop()
        await self.close_client()
