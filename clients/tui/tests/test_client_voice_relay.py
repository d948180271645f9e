"""The voice relay against an in-test daemon speaking the real IPC types over a real Unix socket:
signing outgoing offers, verifying incoming ones (a swapped DTLS fingerprint is refused), ICE and
rosters, TURN configuration and its renewal before the credentials expire (and after a
reconnect), a daemon that is missing or restarts, and joins that fail (no audio device, no
answer, refused by the server) leaving us in no room."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

import attrs
import pytest

from dialtone.client.core import sealing
from dialtone.client.core.errors import VoiceJoinError, VoiceUnavailableError
from dialtone.client.core.events import (
    ClientEvent,
    Error,
    Notice,
    SignalingRefused,
    Speaking,
    VoiceDaemonState,
    VoiceRoster,
    VoiceState,
)
from dialtone.client.core.ice import IceGrant, merge_ice_servers
from dialtone.client.core.voice import VoiceRelay
from dialtone.crypto import DeviceIdentity, PublicBundle
from dialtone.wire import Codec, ipc
from dialtone.wire import ws as wire_ws
from dialtone.wire.common import IceServer, VoiceParticipant

T = TypeVar("T")
CHANNEL = str(uuid.uuid4())
SDP = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:"
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n"
)
TURN = IceServer(urls=("turn:127.0.0.1:3478?transport=udp",), username="1:u", credential="pw")
TURN_2 = IceServer(urls=("turn:127.0.0.1:3478?transport=udp",), username="2:u", credential="pw2")
TURN_3 = IceServer(urls=("turn:127.0.0.1:3478?transport=udp",), username="3:u", credential="pw3")
WAIT = 5.0


class FakeDaemon:
    """A stand-in for dialtone-voiced: real socket, real NDJSON wire types, scripted answers."""

    def __init__(self, path: Path, codec: Codec) -> None:
        self.path = path
        self.codec = codec
        self.commands: asyncio.Queue[ipc.IpcCommand] = asyncio.Queue()
        self.channel_id: str | None = None
        self.join_answer: ipc.IpcEvent | Literal["connected"] | None = "connected"
        """What a ``voice.join`` gets: the real daemon's ``voice.connected``, an error, or
        nothing."""
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, str(self.path))

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._handlers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writer = writer
        try:
            while line := await reader.readline():
                command = self.codec.decode_ipc_command(line)
                if isinstance(command, ipc.Identify):
                    await self.send(
                        ipc.DaemonReady(
                            protocol_version=1,
                            daemon="fake-voiced",
                            ptt_backend="vad",
                            ptt_reason="test",
                            vad=True,
                            channel_id=self.channel_id,
                        )
                    )
                elif isinstance(command, ipc.VoiceJoinCommand):
                    if self.join_answer == "connected":
                        self.channel_id = command.channel_id
                        await self.send(ipc.VoiceConnected(channel_id=command.channel_id))
                    elif self.join_answer is not None:
                        await self.send(self.join_answer)
                await self.commands.put(command)
        finally:
            self._handlers.discard(task)
            writer.close()

    async def send(self, event: ipc.IpcEvent) -> None:
        assert self._writer is not None
        self._writer.write(self.codec.encode_ipc(event))
        await self._writer.drain()

    async def next(self, cls: type[T]) -> T:
        command = await asyncio.wait_for(self.commands.get(), WAIT)
        assert isinstance(command, cls), command
        return command


@attrs.define
class Peer:
    identity: DeviceIdentity
    user_id: str
    device_id: str

    @property
    def bundle(self) -> PublicBundle:
        return self.identity.public_bundle


def _peer() -> Peer:
    return Peer(DeviceIdentity.generate(), str(uuid.uuid4()), str(uuid.uuid4()))


@attrs.define
class Rig:
    relay: VoiceRelay
    daemon: FakeDaemon
    me: Peer
    bob: Peer
    sent: asyncio.Queue[wire_ws.ClientEvent]
    events: asyncio.Queue[ClientEvent]
    grants: list[IceGrant]
    """What the server hands out on each TURN fetch, in order (the last one again and again)."""

    async def next_sent(self, cls: type[T]) -> T:
        event = await asyncio.wait_for(self.sent.get(), WAIT)
        assert isinstance(event, cls), event
        return event

    async def next_event(self, cls: type[T]) -> T:
        while True:
            event = await asyncio.wait_for(self.events.get(), WAIT)
            if isinstance(event, cls):
                return event


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # Unix socket paths are limited to about 100 bytes: keep it short, not under pytest's tmp.
    path = Path(tempfile.mkdtemp(prefix="dtv", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def rig(socket_dir: Path) -> AsyncIterator[Rig]:
    codec = Codec()
    daemon = FakeDaemon(socket_dir / "voiced.sock", codec)
    await daemon.start()
    me, bob = _peer(), _peer()
    sent: asyncio.Queue[wire_ws.ClientEvent] = asyncio.Queue()
    events: asyncio.Queue[ClientEvent] = asyncio.Queue()

    async def send_ws(event: wire_ws.ClientEvent) -> bool:
        await sent.put(event)
        return True

    async def lookup(user_id: str, device_id: str) -> PublicBundle | None:
        return bob.bundle if (user_id, device_id) == (bob.user_id, bob.device_id) else None

    grants = [IceGrant(servers=(TURN,))]

    async def ice() -> IceGrant:
        return grants.pop(0) if len(grants) > 1 else grants[0]

    relay = VoiceRelay(
        codec,
        identity=me.identity,
        user_id=me.user_id,
        device_id=me.device_id,
        client_name="test",
        send_ws=send_ws,
        emit=events.put_nowait,
        lookup_bundle=lookup,
        ice_servers=ice,
        display_name=lambda user_id: f"user-{user_id[:4]}",
        relay_only=True,
    )
    rig = Rig(relay, daemon, me, bob, sent, events, grants)
    await relay.attach(daemon.path)
    await daemon.next(ipc.Identify)
    state = await rig.next_event(VoiceDaemonState)
    assert state.available
    assert state.ptt_backend == "vad"
    try:
        yield rig
    finally:
        await relay.detach()
        await daemon.stop()


async def joined(rig: Rig) -> None:
    await rig.relay.join(CHANNEL)
    config = await rig.daemon.next(ipc.IceConfig)
    assert config.ice_servers == (TURN,)
    assert config.relay_only
    join = await rig.daemon.next(ipc.VoiceJoinCommand)
    assert join.channel_id == CHANNEL
    assert (await rig.next_sent(wire_ws.VoiceJoin)).channel_id == CHANNEL


def relayed_offer(
    rig: Rig, sdp: str, *, signed_sdp: str | None = None
) -> wire_ws.WebRtcOfferRelayed:
    signature = sealing.sign_signal(
        rig.bob.identity,
        sealing.SignalKind.OFFER,
        channel_id=CHANNEL,
        call_id="call-1",
        from_device_id=rig.bob.device_id,
        to_device_id=rig.me.device_id,
        sdp=signed_sdp if signed_sdp is not None else sdp,
    )
    return wire_ws.WebRtcOfferRelayed(
        channel_id=CHANNEL,
        call_id="call-1",
        from_user_id=rig.bob.user_id,
        from_device_id=rig.bob.device_id,
        sdp=sdp,
        signature=signature,
    )


async def test_joining_hands_the_daemon_turn_config_then_joins_both_sides(rig: Rig) -> None:
    await joined(rig)
    state = await rig.next_event(VoiceState)
    assert (state.channel_id, state.connected) == (CHANNEL, True)
    assert rig.relay.channel_id == CHANNEL


async def test_turn_credentials_are_renewed_before_they_expire_until_we_leave(rig: Rig) -> None:
    rig.grants[:] = [
        IceGrant(servers=(TURN,), ttl_seconds=1.25),
        IceGrant(servers=(TURN_2,), ttl_seconds=1.25),
        IceGrant(servers=(TURN_3,), ttl_seconds=1.25),
    ]
    await joined(rig)
    started = time.monotonic()
    renewed = await rig.daemon.next(ipc.IceConfig)
    # At 80% of the lifetime (1 s), not sooner; in the room, without a new join.
    assert time.monotonic() - started >= 0.9
    assert (renewed.ice_servers, renewed.relay_only) == ((TURN_2,), True)
    assert rig.relay.channel_id == CHANNEL
    await rig.relay.leave()
    assert (await rig.daemon.next(ipc.VoiceLeaveCommand)).channel_id == CHANNEL
    await asyncio.sleep(1.5)
    assert rig.daemon.commands.empty()  # renewing stopped with the room


async def test_a_failed_renewal_keeps_the_credentials_says_so_once_and_retries(
    rig: Rig,
) -> None:
    rig.relay.ice.retry_delay = 0.1
    rig.grants[:] = [
        IceGrant(servers=(TURN,), ttl_seconds=1.25),
        IceGrant(servers=(), problem="the server cannot be reached"),
        IceGrant(servers=(), problem="the server cannot be reached"),
        IceGrant(servers=(TURN_2,), ttl_seconds=3600.0),
    ]
    await joined(rig)
    # The failed fetches hand the daemon nothing (its credentials may still work): the next
    # config is the one fetched once the server answered again.
    renewed = await rig.daemon.next(ipc.IceConfig)
    assert renewed.ice_servers == (TURN_2,)
    notices = [e.text for e in drain(rig.events) if isinstance(e, Notice)]
    assert notices == [
        "voice: could not renew the TURN credentials (the server cannot be reached); trying again"
    ]


async def test_a_reconnect_to_the_server_renews_the_turn_credentials_at_once(rig: Rig) -> None:
    rig.grants[:] = [
        IceGrant(servers=(TURN,), ttl_seconds=3600.0),
        IceGrant(servers=(TURN_2,), ttl_seconds=3600.0),
    ]
    await joined(rig)
    await rig.relay.rejoin_server()
    assert (await rig.next_sent(wire_ws.VoiceJoin)).channel_id == CHANNEL
    assert (await rig.daemon.next(ipc.IceConfig)).ice_servers == (TURN_2,)


async def test_a_join_without_turn_credentials_says_why_and_goes_on(rig: Rig) -> None:
    rig.grants[:] = [IceGrant(servers=(), problem="the server cannot be reached")]
    await rig.relay.join(CHANNEL)
    assert (await rig.daemon.next(ipc.IceConfig)).ice_servers == ()
    assert (await rig.daemon.next(ipc.VoiceJoinCommand)).channel_id == CHANNEL
    notices = [e.text for e in drain(rig.events) if isinstance(e, Notice)]
    assert notices == ["voice: no TURN credentials from the server (the server cannot be reached)"]


async def failed_join(rig: Rig) -> VoiceJoinError:
    """Join, expecting a failure; what the server and the UI were told must say: no room."""
    with pytest.raises(VoiceJoinError) as failure:
        await rig.relay.join(CHANNEL)
    await rig.daemon.next(ipc.IceConfig)
    assert (await rig.daemon.next(ipc.VoiceJoinCommand)).channel_id == CHANNEL
    assert (await rig.daemon.next(ipc.VoiceLeaveCommand)).channel_id == CHANNEL
    # The server never heard a join, only a (harmless) leave.
    assert isinstance(await rig.next_sent(wire_ws.VoiceLeave), wire_ws.VoiceLeave)
    assert rig.sent.empty()
    assert rig.relay.channel_id is None
    assert not rig.relay.connected
    states = [e.channel_id for e in drain(rig.events) if isinstance(e, VoiceState)]
    assert states[-1] is None
    return failure.value


def drain(queue: asyncio.Queue[ClientEvent]) -> list[ClientEvent]:
    """The events emitted so far."""
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


async def test_a_join_the_daemon_cannot_open_leaves_us_in_no_room(rig: Rig) -> None:
    rig.daemon.join_answer = ipc.DaemonError(
        code=ipc.IpcErrorCode.NO_AUDIO_DEVICE, message="no input audio device (default)"
    )
    error = await failed_join(rig)
    assert str(error) == "could not join the voice room: no input audio device (default)"
    # A later join that works is a normal join.
    rig.daemon.join_answer = "connected"
    await joined(rig)
    assert rig.relay.channel_id == CHANNEL


async def test_a_join_the_daemon_never_answers_is_given_up(rig: Rig) -> None:
    rig.daemon.join_answer = None
    rig.relay.join_timeout = 0.3
    error = await failed_join(rig)
    assert "did not open it within 0.3 s" in str(error)


async def test_a_join_the_server_refuses_is_undone_on_the_daemon_too(rig: Rig) -> None:
    await joined(rig)
    assert await rig.relay.server_refused("the voice room is full")
    assert (await rig.daemon.next(ipc.VoiceLeaveCommand)).channel_id == CHANNEL
    assert (await rig.next_sent(wire_ws.VoiceLeave)).channel_id == CHANNEL
    assert rig.relay.channel_id is None
    told = drain(rig.events)
    assert [e.text for e in told if isinstance(e, Error)] == [
        "voice: the server refused the voice room: the voice room is full"
    ]
    assert [e.channel_id for e in told if isinstance(e, VoiceState)][-1] is None
    # Once the server answered with the roster, a later error is not about the join.
    await joined(rig)
    await rig.relay.handle_ws(wire_ws.VoiceRoster(channel_id=CHANNEL, participants=()))
    assert not await rig.relay.server_refused("forbidden")
    assert rig.relay.channel_id == CHANNEL


async def test_a_refusal_about_another_room_leaves_the_pending_join_alone(rig: Rig) -> None:
    await joined(rig)
    assert not await rig.relay.server_refused("forbidden", ref=str(uuid.uuid4()))
    assert rig.relay.channel_id == CHANNEL
    assert await rig.relay.server_refused("the voice room is full", ref=CHANNEL)
    assert rig.relay.channel_id is None


async def test_the_daemons_offer_is_signed_with_the_device_key(rig: Rig) -> None:
    await joined(rig)
    await rig.daemon.send(
        ipc.PeerOffer(
            channel_id=CHANNEL,
            call_id="call-9",
            peer_user_id=rig.bob.user_id,
            peer_device_id=rig.bob.device_id,
            sdp=SDP,
        )
    )
    offer = await rig.next_sent(wire_ws.WebRtcOffer)
    assert (offer.to_device_id, offer.sdp, offer.call_id) == (rig.bob.device_id, SDP, "call-9")
    assert sealing.verify_signal(
        rig.me.identity.public_bundle,
        offer.signature,
        sealing.SignalKind.OFFER,
        channel_id=CHANNEL,
        call_id="call-9",
        from_device_id=rig.me.device_id,
        to_device_id=rig.bob.device_id,
        sdp=SDP,
    )


async def test_no_offer_goes_to_an_untrusted_device(rig: Rig) -> None:
    await joined(rig)
    stranger = _peer()
    await rig.daemon.send(
        ipc.PeerAnswer(
            channel_id=CHANNEL,
            call_id="call-2",
            peer_user_id=stranger.user_id,
            peer_device_id=stranger.device_id,
            sdp=SDP,
        )
    )
    refused = await rig.next_event(SignalingRefused)
    assert refused.kind == "answer"
    assert "not a trusted device" in refused.reason
    assert rig.sent.empty()


async def test_a_verified_offer_reaches_the_daemon(rig: Rig) -> None:
    await joined(rig)
    assert await rig.relay.handle_ws(relayed_offer(rig, SDP))
    offer = await rig.daemon.next(ipc.PeerOffer)
    assert (offer.peer_device_id, offer.sdp) == (rig.bob.device_id, SDP)


async def test_an_offer_with_a_swapped_dtls_fingerprint_is_refused(rig: Rig) -> None:
    await joined(rig)
    tampered = SDP.replace("AA:BB:CC", "66:66:66", 1)
    await rig.relay.handle_ws(relayed_offer(rig, tampered, signed_sdp=SDP))
    refused = await rig.next_event(SignalingRefused)
    assert refused.kind == "offer"
    assert refused.from_device_id == rig.bob.device_id
    assert "does not verify" in refused.reason
    # The daemon never saw the offer: the next thing it gets is the ICE candidate sent after it.
    await rig.relay.handle_ws(
        wire_ws.WebRtcIceRelayed(
            channel_id=CHANNEL,
            call_id="call-1",
            from_user_id=rig.bob.user_id,
            from_device_id=rig.bob.device_id,
            candidate="candidate:1 1 udp 1 127.0.0.1 4000 typ host",
            sdp_mid="0",
            sdp_mline_index=0,
        )
    )
    ice = await rig.daemon.next(ipc.PeerIce)
    assert ice.peer_device_id == rig.bob.device_id


async def test_an_offer_from_an_untrusted_device_is_refused(rig: Rig) -> None:
    await joined(rig)
    offer = attrs.evolve(relayed_offer(rig, SDP), from_device_id=str(uuid.uuid4()))
    await rig.relay.handle_ws(offer)
    refused = await rig.next_event(SignalingRefused)
    assert "not trusted" in refused.reason


async def test_rosters_and_speaking_flow_between_server_daemon_and_ui(rig: Rig) -> None:
    await joined(rig)
    now = datetime.now(UTC)
    participants = (
        VoiceParticipant(
            user_id=rig.me.user_id,
            device_id=rig.me.device_id,
            muted=False,
            deafened=False,
            joined_at=now,
        ),
        VoiceParticipant(
            user_id=rig.bob.user_id,
            device_id=rig.bob.device_id,
            muted=True,
            deafened=False,
            joined_at=now,
        ),
    )
    await rig.relay.handle_ws(wire_ws.VoiceRoster(channel_id=CHANNEL, participants=participants))
    roster = await rig.daemon.next(ipc.VoiceRosterCommand)
    assert {p.device_id for p in roster.participants} == {rig.me.device_id, rig.bob.device_id}
    shown = await rig.next_event(VoiceRoster)
    assert [m.muted for m in shown.members] == [False, True]
    await rig.daemon.send(
        ipc.Speaking(user_id=rig.bob.user_id, device_id=rig.bob.device_id, speaking=True)
    )
    assert (await rig.next_event(Speaking)).speaking


async def test_a_daemon_that_restarts_is_brought_back_into_the_room(rig: Rig) -> None:
    await joined(rig)
    await rig.daemon.stop()
    gone = await rig.next_event(VoiceDaemonState)
    assert not gone.available
    with pytest.raises(VoiceUnavailableError):
        await rig.relay.join(CHANNEL)
    rig.daemon.channel_id = None
    await rig.daemon.start()
    await rig.daemon.next(ipc.Identify)
    assert (await rig.next_event(VoiceDaemonState)).available
    await rig.daemon.next(ipc.IceConfig)
    assert (await rig.daemon.next(ipc.VoiceJoinCommand)).channel_id == CHANNEL


async def test_a_missing_daemon_is_an_event_not_a_crash(socket_dir: Path) -> None:
    events: list[ClientEvent] = []

    async def send_ws(_event: wire_ws.ClientEvent) -> bool:
        return True

    async def lookup(_user: str, _device: str) -> PublicBundle | None:
        return None

    async def ice() -> IceGrant:
        return IceGrant(servers=())

    me = _peer()
    relay = VoiceRelay(
        Codec(),
        identity=me.identity,
        user_id=me.user_id,
        device_id=me.device_id,
        client_name="test",
        send_ws=send_ws,
        emit=events.append,
        lookup_bundle=lookup,
        ice_servers=ice,
        display_name=str,
    )
    await relay.attach(socket_dir / "nobody.sock")
    try:
        assert not relay.available
        assert isinstance(events[0], VoiceDaemonState)
        assert not events[0].available
        assert "nobody.sock" in events[0].reason
        with pytest.raises(VoiceUnavailableError):
            await relay.join(CHANNEL)
    finally:
        await relay.detach()


def test_user_turn_urls_replace_the_servers_but_keep_its_credentials() -> None:
    stun = IceServer(urls=("stun:stun.example.org",))
    merged = merge_ice_servers(
        (stun, TURN), stun_urls=("stun:extra:3478",), turn_urls=("turn:mine:3478",)
    )
    assert merged == (
        stun,
        IceServer(urls=("turn:mine:3478",), username="1:u", credential="pw"),
        IceServer(urls=("stun:extra:3478",)),
    )
