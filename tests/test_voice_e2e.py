"""Voice end to end: two headless client cores, a real server on PostgreSQL, two real voice
daemons started the way the TUI starts them, coturn forced to relay-only, PulseAudio null sinks as
microphones and speakers, and the GlobalShortcuts portal double for A's push-to-talk.

The cores fetch TURN credentials from the server, hand them to their daemons, relay the daemons'
offers and answers through the server's WebSocket, signing what goes out and verifying what comes
in. A 440 Hz tone played into Alice's microphone is heard at Bob's speaker while her push-to-talk
is held, and silence after she lets go; speaking events reach both cores. A server that rewrites a
relayed offer (a swapped DTLS fingerprint, to sit in the middle of the call) is caught by the
receiving core, the call to that device is not set up, and nothing is heard.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Final, TypeVar

import aiohttp
import attrs
import pytest
from aiohttp import web

from dialtone.client.core import ClientCore, ClientOptions
from dialtone.client.core.events import (
    ChannelsChanged,
    ClientEvent,
    SignalingRefused,
    Speaking,
    Synced,
    VoiceDaemonState,
    VoiceMembers,
    VoiceState,
)
from dialtone.client.daemon import DaemonSettings, VoiceDaemonProcess
from dialtone.keystore import ScryptParams
from dialtone.ptt.testing import PortalDouble, SessionBus, private_session_bus
from dialtone.server.testing import ApiClient, RunningServer, StartServer, create_invite
from dialtone.voiced.testing import (
    Coturn,
    PulseAudio,
    Recorder,
    dominant_frequency,
    private_coturn,
    private_pulseaudio,
    rms_dbfs,
    tone,
)

pytestmark = pytest.mark.slow

T = TypeVar("T")
CHEAP: Final = ScryptParams(log2_n=4, r=1, p=1)
RATE: Final = 48_000
WAIT: Final = 20.0


# --- real parts ----------------------------------------------------------------------------------


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
def bus() -> Iterator[SessionBus]:
    with private_session_bus() as session:
        yield session


@pytest.fixture
async def portal(bus: SessionBus) -> AsyncIterator[PortalDouble]:
    async with PortalDouble().running(bus.address) as double:
        yield double


@pytest.fixture
async def voice_server(start_server: StartServer, turn: Coturn) -> RunningServer:
    """The server, handing out TURN REST credentials for the loopback coturn (no STUN)."""
    return await start_server(turn_urls=(turn.url,), turn_secret=turn.secret, stun_urls=())


@pytest.fixture
def folder() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="dtve-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --- clients -------------------------------------------------------------------------------------


class Seen:
    """Every event a core emitted, and a way to wait for one."""

    def __init__(self, core: ClientCore) -> None:
        self.events: list[ClientEvent] = []
        self._changed = asyncio.Event()
        core.subscribe(self._record)

    def _record(self, event: ClientEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def mark(self) -> int:
        return len(self.events)

    def find(
        self, cls: type[T], where: Callable[[T], bool] = lambda _: True, since: int = 0
    ) -> T | None:
        for event in self.events[since:]:
            if isinstance(event, cls) and where(event):
                return event
        return None

    async def wait(
        self,
        cls: type[T],
        where: Callable[[T], bool] = lambda _: True,
        *,
        since: int = 0,
        within: float = WAIT,
    ) -> T:
        async with asyncio.timeout(within):
            while (event := self.find(cls, where, since)) is None:
                self._changed.clear()
                await self._changed.wait()
        return event


@attrs.define
class User:
    name: str
    core: ClientCore
    seen: Seen
    microphone: str
    speaker: str

    @property
    def user_id(self) -> str:
        assert self.core.account is not None
        return self.core.account.user_id

    @property
    def device_id(self) -> str:
        assert self.core.account is not None
        return self.core.account.device_id


@attrs.define
class Room:
    server: RunningServer
    folder: Path
    pulse: PulseAudio
    bus: SessionBus
    users: list[User] = attrs.field(factory=list)
    daemons: list[VoiceDaemonProcess] = attrs.field(factory=list)

    async def user(self, name: str, url: str | None = None) -> User:
        core = ClientCore(
            ClientOptions(
                server_url=url or self.server.base_url,
                data_dir=self.folder / name,
                keystore_params=CHEAP,
                reconnect_initial_delay=0.05,
                reconnect_max_delay=0.5,
                request_timeout=10.0,
                voice_relay_only=True,
            )
        )
        user = User(name, core, Seen(core), f"mic_{name}", f"spk_{name}")
        self.users.append(user)
        async with aiohttp.ClientSession() as session:
            admin = self.server.config.admin_token
            assert admin is not None
            invite = await create_invite(ApiClient(session, self.server.base_url), admin)
        await core.register(
            invite_token=invite,
            username=name,
            password="correct horse battery",
            passphrase="keystore passphrase",
            display_name=name.capitalize(),
        )
        await core.connect()
        await user.seen.wait(Synced)
        return user

    async def channel(self, owner: User, *members: User) -> str:
        view = await owner.core.create_channel("voice", [m.name for m in members])
        for member in members:
            await member.seen.wait(
                ChannelsChanged,
                lambda e: any(c.channel_id == view.channel_id for c in e.channels),
            )
        return view.channel_id

    async def start_daemon(
        self, user: User, monkeypatch: pytest.MonkeyPatch, *, push_to_talk: bool
    ) -> Path:
        """Start the user's daemon as the TUI does (its --voice-* flags), and attach the core."""
        settings = DaemonSettings(
            executable=f"{shlex.quote(sys.executable)} -m dialtone.voiced",
            socket_path=self.folder / "run" / f"{user.name}.sock",
            debug=True,
            log_path=self.folder / f"{user.name}.log",
            ptt_key="ctrl+space" if push_to_talk else None,
            ptt_backend="portal" if push_to_talk else "auto",
            vad=not push_to_talk,
            meter=True,
        )
        # The TUI's daemon inherits the TUI's environment.
        with monkeypatch.context() as env:
            env.setenv("PYTHONPATH", os.pathsep.join(sys.path))
            for key, value in self.pulse.device_env(user.microphone, user.speaker).items():
                env.setenv(key, value)
            env.setenv("DBUS_SESSION_BUS_ADDRESS", self.bus.address)
            env.setenv("WAYLAND_DISPLAY", "wayland-test")
            process = VoiceDaemonProcess(settings, on_exit=lambda why: print(why, file=sys.stderr))
            await process.start()
        self.daemons.append(process)
        await user.core.attach_voice(settings.socket_path)
        backend = "portal" if push_to_talk else "vad"
        await user.seen.wait(
            VoiceDaemonState, lambda e: e.available and e.ptt_backend == backend, within=30
        )
        return settings.socket_path

    def logs(self) -> str:
        return "\n".join(
            f"---- {path.name} ----\n{path.read_text(errors='replace')}"
            for path in sorted(self.folder.glob("*.log"))
        )

    async def close(self) -> None:
        for user in self.users:
            await user.core.close()
        for daemon in self.daemons:
            await daemon.stop()


@pytest.fixture
async def room(
    voice_server: RunningServer, folder: Path, pulse: PulseAudio, bus: SessionBus
) -> AsyncIterator[Room]:
    rig = Room(voice_server, folder, pulse, bus)
    try:
        yield rig
    except BaseException:
        print(rig.logs(), file=sys.stderr)
        raise
    finally:
        await rig.close()
    logs = rig.logs()
    assert "Traceback" not in logs, logs


def connected(peer: User) -> Callable[[VoiceMembers], bool]:
    return lambda e: any(
        m.device_id == peer.device_id and m.state == "connected" for m in e.members
    )


async def talk(
    pulse: PulseAudio, speaker: User, ear: Recorder, seconds: float = 1.5
) -> tuple[float, float]:
    """Play a 440 Hz tone into the speaker's microphone; what did the ear hear meanwhile?"""
    start = ear.sample_count
    player = pulse.play(speaker.microphone, tone(440, seconds, amplitude=0.5))
    await asyncio.to_thread(player.wait, seconds + 10)
    await asyncio.sleep(0.3)
    heard = ear.samples(start)[RATE // 10 :]
    return dominant_frequency(heard), rms_dbfs(heard)


# --- a server in the middle ----------------------------------------------------------------------


class Proxy:
    """A reverse proxy in front of the server that can rewrite server-to-client WebSocket frames."""

    def __init__(self, upstream: str, rewrite: Callable[[str], str]) -> None:
        self.upstream = upstream
        self.rewrite = rewrite
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        for task in list(self._pumps):
            task.cancel()
        if self._pumps:
            await asyncio.wait(self._pumps)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _headers(self, request: web.Request) -> dict[str, str]:
        return {
            k: request.headers[k] for k in ("Authorization", "Content-Type") if k in request.headers
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        if request.path == "/v1/ws":
            return await self._websocket(request)
        body = await request.read()
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            data=body or None,
            headers=self._headers(request),
        ) as answer:
            headers = {}
            if "Content-Type" in answer.headers:
                headers["Content-Type"] = answer.headers["Content-Type"]
            return web.Response(status=answer.status, body=await answer.read(), headers=headers)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        upstream = await self._session.ws_connect(
            self.upstream.replace("http://", "ws://") + "/v1/ws", headers=self._headers(request)
        )
        client = web.WebSocketResponse()
        await client.prepare(request)

        async def to_server() -> None:
            async for message in client:
                if message.type is aiohttp.WSMsgType.TEXT:
                    await upstream.send_str(message.data)

        async def to_client() -> None:
            async for message in upstream:
                if message.type is aiohttp.WSMsgType.TEXT:
                    await client.send_str(self.rewrite(message.data))

        pumps = {asyncio.ensure_future(to_server()), asyncio.ensure_future(to_client())}
        self._pumps.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._pumps.difference_update(pumps)
            await upstream.close()
            await client.close()
        return client


def swap_fingerprint(frame: str) -> str:
    event = json.loads(frame)
    if event.get("type") == "webrtc.offer":
        event["sdp"] = re.sub(
            r"a=fingerprint:sha-256 [0-9A-Fa-f:]+",
            "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
            event["sdp"],
        )
    return json.dumps(event)


# --- tests ---------------------------------------------------------------------------------------


async def test_alice_is_heard_by_bob_while_her_push_to_talk_is_held(
    room: Room, pulse: PulseAudio, portal: PortalDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await room.user("alice")
    bob = await room.user("bob")
    channel_id = await room.channel(alice, bob)
    await room.start_daemon(alice, monkeypatch, push_to_talk=True)
    await room.start_daemon(bob, monkeypatch, push_to_talk=False)
    async with asyncio.timeout(10):
        await portal.wait_bound()

    await alice.core.voice_join(channel_id)
    await alice.seen.wait(VoiceState, lambda e: e.connected)
    await bob.core.voice_join(channel_id)
    await bob.seen.wait(VoiceState, lambda e: e.connected)
    await alice.seen.wait(VoiceMembers, connected(bob), within=30)
    await bob.seen.wait(VoiceMembers, connected(alice), within=30)
    assert alice.seen.find(SignalingRefused) is None
    assert bob.seen.find(SignalingRefused) is None
    ear = pulse.record(bob.speaker)

    since_alice, since_bob = alice.seen.mark(), bob.seen.mark()
    await portal.press()
    frequency, level = await talk(pulse, alice, ear)
    assert frequency == pytest.approx(440, abs=5)
    assert level > -20
    mine = Speaking(user_id=alice.user_id, device_id=alice.device_id, speaking=True)
    assert await alice.seen.wait(Speaking, since=since_alice) == mine
    assert await bob.seen.wait(Speaking, since=since_bob) == mine
    await bob.seen.wait(
        VoiceMembers,
        lambda e: any(m.device_id == alice.device_id and m.speaking for m in e.members),
        since=since_bob,
    )

    await portal.release()
    await asyncio.sleep(0.3)
    _, level = await talk(pulse, alice, ear)
    assert level < -60

    await alice.core.voice_leave()
    await alice.seen.wait(VoiceState, lambda e: e.channel_id is None)


async def test_an_offer_rewritten_by_the_server_is_refused_and_nothing_is_heard(
    room: Room, pulse: PulseAudio, portal: PortalDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = Proxy(room.server.base_url, swap_fingerprint)
    await proxy.start()
    try:
        # Alice joins first, so Bob's daemon offers to her, through the server, through the proxy.
        alice = await room.user("alice", url=proxy.url)
        bob = await room.user("bob")
        channel_id = await room.channel(alice, bob)
        await room.start_daemon(alice, monkeypatch, push_to_talk=True)
        await room.start_daemon(bob, monkeypatch, push_to_talk=False)
        async with asyncio.timeout(10):
            await portal.wait_bound()
        await alice.core.voice_join(channel_id)
        await alice.seen.wait(VoiceState, lambda e: e.connected)
        await bob.core.voice_join(channel_id)
        await bob.seen.wait(VoiceState, lambda e: e.connected)

        refused = await alice.seen.wait(SignalingRefused, within=30)
        assert (refused.kind, refused.from_device_id) == ("offer", bob.device_id)
        assert "does not verify" in refused.reason

        ear = pulse.record(bob.speaker)
        await portal.press()
        _, level = await talk(pulse, alice, ear)
        assert level < -60
        assert alice.seen.find(VoiceMembers, connected(bob)) is None
        assert bob.seen.find(VoiceMembers, connected(alice)) is None
    finally:
        await proxy.stop()
