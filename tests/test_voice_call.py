"""Two real voice daemons in a call, through real parts: a private PulseAudio whose null sinks are
their microphones and speakers, coturn forced to relay-only with TURN REST credentials, a private
D-Bus bus with the GlobalShortcuts portal double for A's push-to-talk, and an in-test signaling
relay standing in for the TUIs and the server.

A 440 Hz tone played into A's microphone is heard at B's speaker while A holds push-to-talk and
not after A lets go; speaking events and counters reach both IPC clients; muting wins over the key
and a deafened B plays nothing; a revoked shortcut stops transmission; an SDP altered on the way
never carries audio; a connection that does not come up is retried with a new call; a TURN server
that cannot be reached is reported at both ends, and the daemons join again once it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import attrs
import pytest

from dialtone.ptt.testing import PortalDouble, SessionBus, private_session_bus
from dialtone.voiced.testing import (
    Coturn,
    IpcClient,
    PulseAudio,
    Recorder,
    SignalingRelay,
    dominant_frequency,
    private_coturn,
    private_pulseaudio,
    rms_dbfs,
    running_daemon,
    tone,
)
from dialtone.voiced.testing.relay import Signal
from dialtone.wire.common import IceServer, Ping, Pong
from dialtone.wire.ipc import (
    DaemonError,
    DaemonReady,
    Deafen,
    IceConfig,
    IpcErrorCode,
    Level,
    Mute,
    PeerAnswer,
    PeerOffer,
    PeerState,
    Speaking,
    Stats,
    Undeafen,
    Unmute,
    VoiceDisconnected,
    VoiceLeaveCommand,
    VoiceMembers,
)

pytestmark = pytest.mark.slow

RATE = 48_000


@pytest.fixture(scope="module")
def pulse() -> Iterator[PulseAudio]:
    """One PulseAudio for the module: A's and B's microphones and speakers are separate sinks."""
    with private_pulseaudio() as server:
        for sink in ("mic_a", "spk_a", "mic_b", "spk_b"):
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
def folder() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="dtvc-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


MakeCall = Callable[..., contextlib.AbstractAsyncContextManager["Call"]]


@attrs.define
class Call:
    """Two daemons in one room: A talks with push-to-talk through the portal, B listens."""

    a: IpcClient
    b: IpcClient
    relay: SignalingRelay
    a_user: str
    a_device: str
    b_device: str
    speaker_b: Recorder


def connected(peers: int = 1) -> Callable[[VoiceMembers], bool]:
    def check(event: VoiceMembers) -> bool:
        return len(event.members) == peers and all(
            m.state is PeerState.CONNECTED for m in event.members
        )

    return check


@pytest.fixture
def make_call(
    pulse: PulseAudio, turn: Coturn, bus: SessionBus, portal: PortalDouble, folder: Path
) -> MakeCall:
    """Start A (portal push-to-talk, meter on) and B (voice activity), join them through the
    relay in relay-only mode, and wait until both see the other connected."""

    @contextlib.asynccontextmanager
    async def start(
        tamper: Callable[[Signal], Signal | None] | None = None,
        extra: tuple[str, ...] = (),
        wait_connected: bool = True,
        ice_servers: tuple[IceServer, ...] | None = None,
    ) -> AsyncIterator[Call]:
        a_env = {
            **pulse.device_env("mic_a", "spk_a"),
            "DBUS_SESSION_BUS_ADDRESS": bus.address,
            "WAYLAND_DISPLAY": "wayland-test",
        }
        with (
            running_daemon(
                folder / "a.sock",
                ["--ptt-backend", "portal", "--meter", "--debug", "--stats-interval", "1", *extra],
                env=a_env,
            ) as daemon_a,
            running_daemon(
                folder / "b.sock",
                ["--vad", "--debug", "--stats-interval", "1", *extra],
                env=pulse.device_env("mic_b", "spk_b"),
            ) as daemon_b,
        ):
            a = await IpcClient.connect(daemon_a.socket_path)
            b = await IpcClient.connect(daemon_b.socket_path)
            try:
                a_user, a_device, b_user, b_device = (str(uuid.uuid4()) for _ in range(4))
                await a.identify(a_user, a_device)
                await b.identify(b_user, b_device)
                async with asyncio.timeout(15):
                    await portal.wait_bound()
                ready = await a.wait_for(DaemonReady, lambda r: r.ptt_backend == "portal")
                assert "GlobalShortcuts" in ready.ptt_reason
                relay = SignalingRelay(str(uuid.uuid4()), tamper=tamper)
                relay.add(a, a_user, a_device)
                relay.add(b, b_user, b_device)
                servers = ice_servers if ice_servers is not None else (turn.ice_server(a_user),)
                await relay.join_all(servers, relay_only=True)
                if wait_connected:
                    await a.wait_for(VoiceMembers, connected(), within=20)
                    await b.wait_for(VoiceMembers, connected(), within=20)
                yield Call(a, b, relay, a_user, a_device, b_device, pulse.record("spk_b"))
            except BaseException:
                # Shown by pytest with the failure: what each daemon logged.
                for name, daemon in (("A", daemon_a), ("B", daemon_b)):
                    status = daemon.process.poll()
                    print(
                        f"---- daemon {name} (exit {status}) ----\n{daemon.log()}", file=sys.stderr
                    )
                raise
            finally:
                await a.close()
                await b.close()
                # Stopped off the loop: the portal double runs on it and answers A's
                # Session.Close while A shuts down.
                await asyncio.gather(
                    *(asyncio.to_thread(daemon.stop) for daemon in (daemon_a, daemon_b))
                )
            for daemon in (daemon_a, daemon_b):
                assert "Traceback" not in daemon.log(), daemon.log()

    return start


async def talk_into_a(pulse: PulseAudio, call: Call, seconds: float = 1.5) -> tuple[float, float]:
    """Play a 440 Hz tone into A's microphone; return what B's speaker played meanwhile."""
    start = call.speaker_b.sample_count
    player = pulse.play("mic_a", tone(440, seconds, amplitude=0.5))
    await asyncio.to_thread(player.wait, seconds + 10)
    await asyncio.sleep(0.3)  # the tail of the sound still on its way
    heard = call.speaker_b.samples(start)
    # The first 100 ms may hold the end of what was there before.
    heard = heard[RATE // 10 :]
    return dominant_frequency(heard), rms_dbfs(heard)


async def test_a_tone_is_heard_while_push_to_talk_is_held_and_silence_when_released(
    make_call: Callable[..., contextlib.AbstractAsyncContextManager[Call]],
    pulse: PulseAudio,
    portal: PortalDouble,
) -> None:
    async with make_call() as call:
        # Relay-only: no offer or answer reveals a host or reflexive address.
        sdps = [s.sdp for s in call.relay.relayed if isinstance(s, (PeerOffer, PeerAnswer))]
        assert len(sdps) == 2
        for sdp in sdps:
            candidates = re.findall(r"^a=candidate:.*$", sdp, re.MULTILINE)
            assert candidates
            assert all(" typ relay " in c for c in candidates), candidates

        # Not held: A hears the tone itself (meter) but sends nothing.
        frequency, level = await talk_into_a(pulse, call)
        assert level < -60, (frequency, level)
        assert call.a.find(Speaking) is None
        mark_a, mark_b = call.a.mark(), call.b.mark()

        await portal.press()
        frequency, level = await talk_into_a(pulse, call)
        assert frequency == pytest.approx(440, abs=5)
        assert level > -20
        local = await call.a.wait_for(Speaking, after=mark_a)
        assert local == Speaking(user_id=call.a_user, device_id=call.a_device, speaking=True)
        remote = await call.b.wait_for(Speaking, after=mark_b)
        assert remote == Speaking(user_id=call.a_user, device_id=call.a_device, speaking=True)
        members = await call.b.wait_for(
            VoiceMembers, lambda m: any(x.speaking for x in m.members), after=mark_b
        )
        assert members.members[0].device_id == call.a_device
        assert call.a.find(Level, lambda e: e.transmitting and e.peak_dbfs > -10, after=mark_a)
        # The counters reach the TUI: audio in and out, and the connection to A.
        stats = await call.b.wait_for(
            Stats, lambda e: any(p.bytes_received > 0 for p in e.peers), after=mark_b
        )
        assert stats.frames_captured > 0
        assert stats.frames_played > 0
        (peer,) = stats.peers
        assert (peer.device_id, peer.state) == (call.a_device, PeerState.CONNECTED)

        # Speaking follows the voice, not the key: the tone ended, both ends say so.
        quiet = Speaking(user_id=call.a_user, device_id=call.a_device, speaking=False)
        assert await call.a.wait_for(Speaking, lambda e: not e.speaking, after=mark_a) == quiet
        assert await call.b.wait_for(Speaking, lambda e: not e.speaking, after=mark_b) == quiet

        mark_a = call.a.mark()
        await portal.release()
        frequency, level = await talk_into_a(pulse, call)
        assert level < -60, (frequency, level)
        assert call.a.find(Level, lambda e: not e.transmitting and e.peak_dbfs > -10, after=mark_a)
        assert call.a.find(Speaking, after=mark_a) is None


async def test_muting_wins_over_a_held_key_and_a_deafened_listener_hears_nothing(
    make_call: Callable[..., contextlib.AbstractAsyncContextManager[Call]],
    pulse: PulseAudio,
    portal: PortalDouble,
) -> None:
    async with make_call() as call:
        await call.a.send(Mute())
        await portal.press()
        _, level = await talk_into_a(pulse, call, 1.0)
        assert level < -60
        await call.a.send(Unmute())
        frequency, level = await talk_into_a(pulse, call, 1.0)
        assert frequency == pytest.approx(440, abs=5)
        assert level > -20
        # A still sends; B, deafened, plays nothing, and plays again once undeafened.
        await call.b.send(Deafen())
        mark = call.a.mark()
        _, level = await talk_into_a(pulse, call, 1.0)
        assert level < -60
        assert call.a.find(Level, lambda e: e.transmitting, after=mark)
        await call.b.send(Undeafen())
        frequency, level = await talk_into_a(pulse, call, 1.0)
        assert frequency == pytest.approx(440, abs=5)
        assert level > -20


async def test_a_revoked_shortcut_stops_transmission_and_is_reported(
    make_call: Callable[..., contextlib.AbstractAsyncContextManager[Call]],
    pulse: PulseAudio,
    portal: PortalDouble,
) -> None:
    async with make_call() as call:
        await portal.press()
        frequency, _ = await talk_into_a(pulse, call, 1.0)
        assert frequency == pytest.approx(440, abs=5)
        mark = call.a.mark()
        await portal.close_session()
        error = await call.a.wait_for(DaemonError, after=mark)
        assert error.code == IpcErrorCode.PTT_UNAVAILABLE
        assert "stopped" in error.message
        ready = await call.a.wait_for(DaemonReady, after=mark)
        assert ready.ptt_backend == "none"
        _, level = await talk_into_a(pulse, call, 1.0)
        assert level < -60


def swap_fingerprint(signal: Signal) -> Signal | None:
    """A server in the middle: put another DTLS certificate's fingerprint in every offer."""
    if not isinstance(signal, PeerOffer):
        return signal
    forged = re.sub(
        r"^(a=fingerprint:sha-256 )([0-9A-Fa-f:]+)(\r?)$",
        lambda m: m.group(1) + ":".join(["AB"] * 32) + m.group(3),
        signal.sdp,
        flags=re.MULTILINE,
    )
    assert forged != signal.sdp
    return attrs.evolve(signal, sdp=forged)


async def test_an_offer_with_a_swapped_fingerprint_never_carries_audio(
    make_call: Callable[..., contextlib.AbstractAsyncContextManager[Call]],
    pulse: PulseAudio,
    portal: PortalDouble,
) -> None:
    async with make_call(
        tamper=swap_fingerprint, extra=("--connect-timeout", "5"), wait_connected=False
    ) as call:
        # B joined second and offers; A checks B's DTLS certificate against the forged
        # fingerprint and drops the connection (B, the DTLS server, may believe it is up until
        # consent checks fail). A's own retry offer is forged the same way. No audio, ever.
        error = await call.a.wait_for(
            DaemonError, lambda e: e.code == IpcErrorCode.ICE_FAILED, within=20
        )
        assert call.b_device[:8] in error.message
        assert call.a.find(VoiceMembers, connected()) is None
        await portal.press()
        _, level = await talk_into_a(pulse, call, 1.0)
        assert level < -60


async def test_a_connection_that_does_not_come_up_is_retried_with_a_new_call(
    make_call: Callable[..., contextlib.AbstractAsyncContextManager[Call]],
    pulse: PulseAudio,
    portal: PortalDouble,
) -> None:
    dropped: list[str] = []

    def lose_first_answer(signal: Signal) -> Signal | None:
        if isinstance(signal, PeerAnswer) and not dropped:
            dropped.append(signal.call_id)
            return None
        return signal

    async with make_call(
        tamper=lose_first_answer, extra=("--connect-timeout", "3"), wait_connected=False
    ) as call:
        # B joined second, so B offers; its first offer is never answered.
        error = await call.b.wait_for(
            DaemonError, lambda e: e.code == IpcErrorCode.ICE_FAILED, within=15
        )
        assert "after 3 s" in error.message
        await call.a.wait_for(VoiceMembers, connected(), within=20)
        await call.b.wait_for(VoiceMembers, connected(), within=20)
        offers = [s.call_id for s in call.relay.relayed if isinstance(s, PeerOffer)]
        assert len(offers) == 2
        assert offers[0] == dropped[0]
        assert offers[1] != offers[0]
        await portal.press()
        frequency, level = await talk_into_a(pulse, call, 1.0)
        assert frequency == pytest.approx(440, abs=5)
        assert level > -20


def unreachable_turn() -> IceServer:
    """A TURN server that never answers: a UDP port on loopback nobody listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return IceServer(
        urls=(f"turn:127.0.0.1:{port}?transport=udp",), username="1:nobody", credential="x"
    )


async def test_an_unreachable_turn_server_is_reported_at_both_ends_and_the_daemons_stay_usable(
    make_call: Callable[..., contextlib.AbstractAsyncContextManager[Call]],
    turn: Coturn,
) -> None:
    """Relay-only with a TURN server that does not answer: each daemon reports it when it joins,
    neither waits silently for a connection that cannot come (A, which waits for B's offer, is
    told none came and tries itself), and once the TUIs send a working TURN server the next
    attempts connect, without leaving the room; leaving and joining again works too."""
    async with make_call(
        ice_servers=(unreachable_turn(),), extra=("--connect-timeout", "2"), wait_connected=False
    ) as call:
        for tui in (call.a, call.b):
            error = await tui.wait_for(
                DaemonError, lambda e: e.code == IpcErrorCode.TURN_UNAVAILABLE, within=15
            )
            assert "no TURN relay could be allocated" in error.message
        # A joined first and waits for B's offer: after B's connect timeout and a grace it is
        # told that none came, and the member is shown failed rather than new for ever.
        missing = await call.a.wait_for(
            DaemonError, lambda e: e.code == IpcErrorCode.ICE_FAILED, within=20
        )
        assert f"no offer from device {call.b_device[:8]}" in missing.message
        await call.a.wait_for(
            VoiceMembers, lambda m: [x.state for x in m.members] == [PeerState.FAILED]
        )
        assert call.a.find(VoiceMembers, connected()) is None
        assert call.b.find(VoiceMembers, connected()) is None
        marks = (call.a.mark(), call.b.mark())
        working = IceConfig(ice_servers=(turn.ice_server(call.a_user),), relay_only=True)
        for tui in (call.a, call.b):
            await tui.send(working)
        await call.a.wait_for(VoiceMembers, connected(), after=marks[0], within=30)
        await call.b.wait_for(VoiceMembers, connected(), after=marks[1], within=30)
        for number, tui in enumerate((call.a, call.b)):
            mark = tui.mark()
            await tui.send(Ping(ping_id=number))
            await tui.wait_for(Pong, after=mark)
            await tui.send(VoiceLeaveCommand(channel_id=call.relay.channel_id))
            await tui.wait_for(VoiceDisconnected, after=mark)
        marks = (call.a.mark(), call.b.mark())
        await call.relay.join_all((turn.ice_server(call.a_user),), relay_only=True)
        await call.a.wait_for(VoiceMembers, connected(), after=marks[0], within=20)
        await call.b.wait_for(VoiceMembers, connected(), after=marks[1], within=20)
