"""Voice in the TUI, end to end: the app starts the real `dialtone-voiced` (--voice-auto), joins a
channel's voice room with another user (a client core with its own daemon), and its voice panel
shows who is in the room and who is speaking while a tone plays into that user's microphone
(PulseAudio null sinks stand in for sound cards)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from dialtone.client.app import DialtoneApp
from dialtone.client.core import ClientCore, ClientOptions
from dialtone.client.core.events import ChannelsChanged, ClientEvent, VoiceDaemonState
from dialtone.client.daemon import DaemonSettings, VoiceDaemonProcess
from dialtone.client.screens.forms import SignIn, SignInMode
from dialtone.client.screens.main import MainScreen
from dialtone.client.testing import screen_text, wait_until
from dialtone.keystore import ScryptParams
from dialtone.server.testing import ApiClient, RunningServer, StartServer, create_invite
from dialtone.voiced.testing import Coturn, PulseAudio, private_coturn, private_pulseaudio, tone

CHEAP: Final = ScryptParams(log2_n=4, r=1, p=1)
PASSWORD: Final = "correct horse battery"
PASSPHRASE: Final = "keystore passphrase"
WAIT: Final = 30.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pulse() -> Iterator[PulseAudio]:
    with private_pulseaudio() as server:
        for sink in ("mic_alice", "spk_alice", "mic_bob", "spk_bob"):
            server.add_null_sink(sink)
        yield server


@pytest.fixture(scope="module")
def turn() -> Iterator[Coturn]:
    with private_coturn() as server:
        yield server


@pytest.fixture
async def server(start_server: StartServer, turn: Coturn) -> RunningServer:
    """The server, handing out TURN credentials for a loopback coturn, as deployed."""
    return await start_server(turn_urls=(turn.url,), turn_secret=turn.secret, stun_urls=())


def daemon_command(pulse: PulseAudio, who: str) -> str:
    """`dialtone-voiced` with `who`'s microphone and speaker (the app runs this as --voiced)."""
    env = pulse.device_env(f"mic_{who}", f"spk_{who}")
    assignments = [f"{name}={value}" for name, value in env.items()]
    return shlex.join(["env", *assignments, sys.executable, "-m", "dialtone.voiced"])


def options(server: RunningServer, folder: Path, **extra: object) -> ClientOptions:
    return ClientOptions(
        server_url=server.base_url,
        data_dir=folder,
        keystore_params=CHEAP,
        reconnect_initial_delay=0.05,
        reconnect_max_delay=0.5,
        request_timeout=10.0,
        **extra,  # type: ignore[arg-type]
    )


async def test_the_voice_panel_shows_the_room_and_who_is_speaking(
    server: RunningServer, api: ApiClient, pulse: PulseAudio, tmp_path: Path
) -> None:
    admin = server.config.admin_token
    assert admin is not None
    bob = ClientCore(options(server, tmp_path / "bob"))
    bob_events: list[ClientEvent] = []
    bob.subscribe(bob_events.append)
    bob_daemon = VoiceDaemonProcess(
        DaemonSettings(
            executable=daemon_command(pulse, "bob"), socket_path=tmp_path / "bob.sock", vad=True
        ),
        on_exit=lambda reason: bob_events.append(VoiceDaemonState(available=False, reason=reason)),
    )
    app = DialtoneApp(
        options(
            server,
            tmp_path / "alice",
            voice_auto=True,
            voice_vad=True,
            voiced_command=daemon_command(pulse, "alice"),
            voice_ipc_path=tmp_path / "alice.sock",
        )
    )
    try:
        await bob.register(
            invite_token=await create_invite(api, admin),
            username="bob",
            password=PASSWORD,
            passphrase=PASSPHRASE,
            display_name="Bob",
        )
        await bob.connect()
        await bob_daemon.start()
        await bob.attach_voice(tmp_path / "bob.sock")
        async with app.run_test(size=(130, 40)) as pilot:
            sign_in = SignIn(
                mode=SignInMode.REGISTER,
                server_url=server.base_url,
                username="alice",
                password=PASSWORD,
                invite_token=await create_invite(api, admin),
                display_name="Alice",
            )
            await app.sign_in(sign_in, PASSPHRASE)
            await app.enter_main()
            await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), within=WAIT)

            def shows(*fragments: str) -> bool:
                text = screen_text(app)
                return all(fragment in text for fragment in fragments)

            await wait_until(pilot, lambda: shows("daemon: ready"), within=WAIT, what="daemon")
            screen = app.screen
            assert isinstance(screen, MainScreen)
            screen.composer.focus()
            await pilot.press(*"/channel create talk bob", "enter")
            await wait_until(pilot, lambda: shows("created #talk with bob"), within=WAIT)
            channel_id = screen.current
            assert channel_id is not None

            def bob_has_key() -> bool:
                return any(
                    isinstance(e, ChannelsChanged)
                    and any(c.channel_id == channel_id and c.has_key for c in e.channels)
                    for e in bob_events
                )

            await wait_until(pilot, bob_has_key, within=WAIT, what="Bob to get the key")
            await pilot.press(*"/voice join", "enter")
            await bob.voice_join(channel_id)
            await wait_until(
                pilot,
                lambda: shows(
                    "joined the voice room of #talk", "#talk: connected", "  Bob", "voice: #talk"
                ),
                within=WAIT,
                what="both in the room",
            )
            assert not shows("» Bob")
            player = pulse.play("mic_bob", tone(440, 6.0))
            try:
                await wait_until(pilot, lambda: shows("» Bob"), within=WAIT, what="Bob speaking")
            finally:
                player.wait(timeout=30)
            await wait_until(
                pilot, lambda: not shows("» Bob"), within=WAIT, what="Bob stops speaking"
            )
            await pilot.press(*"/voice mute", "enter")
            await wait_until(
                pilot,
                lambda: shows("microphone muted", "voice: #talk (muted)", "connected (muted)"),
                within=WAIT,
            )
            await pilot.press(*"/voice deafen", "enter")
            await wait_until(
                pilot, lambda: shows("voice: #talk (muted, deaf)"), within=WAIT, what="deafened"
            )
            await pilot.press(*"/voice unmute", "enter")
            await pilot.press(*"/voice undeafen", "enter")
            await wait_until(
                pilot,
                lambda: shows("microphone on", "sound on") and "(muted" not in screen_text(app),
                within=WAIT,
                what="unmuted and undeafened",
            )
            await pilot.press(*"/voice leave", "enter")
            await wait_until(pilot, lambda: shows("left the voice room"), within=WAIT)
    finally:
        await bob.close()
        await bob_daemon.stop()
