"""The mesh logic of a voice room, with real aiortc peer connections in one process (host
candidates, no TURN) and the signaling passed directly between rooms: who offers, offers that
cross, a participant leaving, audio and speaking state across a link, a link that fails, and a
TURN server that cannot be reached in relay-only mode."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from dialtone.voiced.audio.frames import FRAME_SAMPLES
from dialtone.voiced.audio.mixer import Mixer
from dialtone.voiced.audio.opus import OpusFrameEncoder
from dialtone.voiced.errors import NotInVoiceError, VoicedError
from dialtone.voiced.peer import IceSettings, RemoteDevice
from dialtone.voiced.room import VoiceRoom
from dialtone.voiced.testing import tone
from dialtone.wire.common import IceServer, VoiceParticipant
from dialtone.wire.ipc import (
    IpcErrorCode,
    PeerAnswer,
    PeerIce,
    PeerOffer,
    PeerState,
    Speaking,
    VoiceMembers,
)

CHANNEL = str(uuid.uuid4())
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@attrs.define
class Side:
    """One room and everything it reported."""

    device: RemoteDevice
    joined_at: datetime
    mixer: Mixer = attrs.field(factory=Mixer)
    room: VoiceRoom | None = None
    signals: list[PeerOffer | PeerAnswer] = attrs.field(factory=list)
    events: list[VoiceMembers | Speaking] = attrs.field(factory=list)
    errors: list[VoicedError] = attrs.field(factory=list)
    peer: Side | None = None
    deliver: bool = True
    changed: asyncio.Event = attrs.field(factory=asyncio.Event)

    @property
    def participant(self) -> VoiceParticipant:
        return VoiceParticipant(
            user_id=self.device.user_id,
            device_id=self.device.device_id,
            muted=False,
            deafened=False,
            joined_at=self.joined_at,
        )

    # RoomEvents
    def signal(self, message: PeerOffer | PeerAnswer) -> None:
        self.signals.append(message)
        peer = self.peer
        if peer is None or not self.deliver:
            return
        # As the TUIs and the server would: the receiver sees the sender as the peer.
        relayed = attrs.evolve(
            message, peer_user_id=self.device.user_id, peer_device_id=self.device.device_id
        )
        asyncio.get_running_loop().call_soon(peer.receive, relayed)
        self.changed.set()

    def event(self, message: VoiceMembers | Speaking) -> None:
        self.events.append(message)
        self.changed.set()

    def error(self, error: VoicedError) -> None:
        self.errors.append(error)
        self.changed.set()

    def receive(self, message: PeerOffer | PeerAnswer) -> None:
        assert self.room is not None
        if isinstance(message, PeerOffer):
            self.room.on_offer(message)
        else:
            self.room.on_answer(message)

    async def until(self, check: Callable[[], bool], within: float = 15.0) -> None:
        async with asyncio.timeout(within):
            while not check():
                self.changed.clear()
                await self.changed.wait()

    def connected(self) -> bool:
        members = [e for e in self.events if isinstance(e, VoiceMembers)]
        return bool(members) and any(m.state is PeerState.CONNECTED for m in members[-1].members)


def side(name: str, joined: int, device_id: str | None = None) -> Side:
    device = RemoteDevice(str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), device_id or str(uuid.uuid4()))
    return Side(device, EPOCH + timedelta(seconds=joined))


@pytest.fixture
async def pair() -> AsyncIterator[Callable[..., tuple[Side, Side]]]:
    opened: list[VoiceRoom] = []

    def make(
        first: Side,
        second: Side,
        connect_timeout: float = 20.0,
        ice: IceSettings | None = None,
    ) -> tuple[Side, Side]:
        for this, other in ((first, second), (second, first)):
            this.peer = other
            this.room = VoiceRoom(
                channel_id=CHANNEL,
                local=this.device,
                ice=ice if ice is not None else IceSettings(),
                events=this,
                mixer=this.mixer,
                connect_timeout=connect_timeout,
            )
            opened.append(this.room)
        return first, second

    yield make
    await asyncio.gather(*(room.close() for room in opened))


async def test_the_later_joiner_offers_and_both_connect(
    pair: Callable[..., tuple[Side, Side]],
) -> None:
    early, late = pair(side("early", 0), side("late", 1))
    roster = (early.participant, late.participant)
    assert early.room is not None
    assert late.room is not None
    early.room.update_roster(roster)
    late.room.update_roster(roster)
    await early.until(early.connected)
    await late.until(late.connected)
    assert [type(s) for s in late.signals] == [PeerOffer]
    assert [type(s) for s in early.signals] == [PeerAnswer]
    assert early.signals[0].call_id == late.signals[0].call_id
    assert not early.errors
    assert not late.errors


async def test_offers_that_cross_leave_one_connection(
    pair: Callable[..., tuple[Side, Side]],
) -> None:
    small, large = pair(side("small", 0, "00000000-0000-4000-8000-000000000001"), side("large", 0))
    assert small.room is not None
    assert large.room is not None
    # Each is told the other joined first, so both offer at once.
    small.room.update_roster(
        (small.participant, attrs.evolve(large.participant, joined_at=EPOCH - timedelta(1)))
    )
    large.room.update_roster(
        (large.participant, attrs.evolve(small.participant, joined_at=EPOCH - timedelta(1)))
    )
    await small.until(small.connected)
    await large.until(large.connected)
    offer = next(s for s in small.signals if isinstance(s, PeerOffer))
    assert any(isinstance(s, PeerOffer) for s in large.signals)  # both offered
    # The smaller device id's offer wins: the connection is the one of its call id.
    assert small.room.links[large.device.device_id].call_id == offer.call_id
    assert large.room.links[small.device.device_id].call_id == offer.call_id


async def test_a_participant_that_leaves_is_disconnected(
    pair: Callable[..., tuple[Side, Side]],
) -> None:
    early, late = pair(side("early", 0), side("late", 1))
    assert early.room is not None
    assert late.room is not None
    for room in (early.room, late.room):
        room.update_roster((early.participant, late.participant))
    await late.until(late.connected)
    late.room.update_roster((late.participant,))
    assert late.room.links == {}
    assert late.events[-1] == VoiceMembers(channel_id=CHANNEL, members=())


async def test_audio_reaches_the_other_mixer_with_speaking_events(
    pair: Callable[..., tuple[Side, Side]],
) -> None:
    early, late = pair(side("early", 0), side("late", 1))
    assert early.room is not None
    assert late.room is not None
    for room in (early.room, late.room):
        room.update_roster((early.participant, late.participant))
    await early.until(early.connected)
    await late.until(late.connected)
    encoder = OpusFrameEncoder(32_000)
    signal = tone(440, 0.6)
    for index in range(30):
        frame = signal[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES]
        for packet in encoder.encode(frame, index * FRAME_SAMPLES):
            late.room.send(packet)
        await asyncio.sleep(0.02)
    talking = Speaking(user_id=late.device.user_id, device_id=late.device.device_id, speaking=True)
    await early.until(lambda: talking in early.events)
    assert early.mixer.buffered_blocks(late.device.device_id) > 0
    # Nothing more arrives: the speaker is marked silent after a short while.
    await early.until(lambda: attrs.evolve(talking, speaking=False) in early.events, within=5)


async def test_signaling_for_another_room_is_refused(
    pair: Callable[..., tuple[Side, Side]],
) -> None:
    early, _ = pair(side("early", 0), side("late", 1))
    assert early.room is not None
    with pytest.raises(NotInVoiceError):
        early.room.on_ice(
            PeerIce(
                channel_id=str(uuid.uuid4()),
                call_id="c",
                peer_user_id=str(uuid.uuid4()),
                peer_device_id=str(uuid.uuid4()),
                candidate="",
            )
        )


async def test_an_unanswered_offer_fails_and_is_retried_with_a_new_call(
    pair: Callable[..., tuple[Side, Side]],
) -> None:
    early, late = pair(side("early", 0), side("late", 1), connect_timeout=1.0)
    assert early.room is not None
    assert late.room is not None
    late.deliver = False  # the first offer is lost on the way
    for room in (early.room, late.room):
        room.update_roster((early.participant, late.participant))
    await late.until(lambda: bool(late.errors))
    assert late.errors[0].code is IpcErrorCode.ICE_FAILED
    assert any(
        m.state is PeerState.FAILED
        for e in late.events
        if isinstance(e, VoiceMembers)
        for m in e.members
    )
    late.deliver = True
    await late.until(late.connected)
    offers = [s.call_id for s in late.signals if isinstance(s, PeerOffer)]
    assert len(offers) == 2
    assert offers[0] != offers[1]


def closed_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_with_no_turn_server_reachable_both_sides_report_it_and_none_stays_new(
    pair: Callable[..., tuple[Side, Side]],
) -> None:
    """Relay-only with a TURN server that refuses connections: the side that should offer
    cannot (no relay), and the side waiting for its offer does not wait in silence: after the
    connect timeout and a grace it reports the missing offer and tries to offer itself."""
    turn = IceServer(
        urls=(f"turn:127.0.0.1:{closed_tcp_port()}?transport=tcp",),
        username="1:user",
        credential="secret",
    )
    ice = IceSettings(servers=(turn,), relay_only=True)
    early, late = pair(side("early", 0), side("late", 1), connect_timeout=1.0, ice=ice)
    assert early.room is not None
    assert late.room is not None
    for room in (early.room, late.room):
        room.update_roster((early.participant, late.participant))
    await late.until(lambda: bool(late.errors))
    assert late.errors[0].code is IpcErrorCode.TURN_UNAVAILABLE
    assert "no TURN relay could be allocated" in late.errors[0].message

    def no_offer() -> bool:
        return any(e.code is IpcErrorCode.ICE_FAILED for e in early.errors)

    await early.until(no_offer, within=10)
    (missing,) = [e for e in early.errors if e.code is IpcErrorCode.ICE_FAILED]
    assert f"no offer from device {late.device.device_id[:8]} within 6 s" in missing.message
    assert "TURN server" in missing.message
    assert any(
        m.device_id == late.device.device_id and m.state is PeerState.FAILED
        for e in early.events
        if isinstance(e, VoiceMembers)
        for m in e.members
    )
    # Its own offer fails for the same reason, and says so.
    await early.until(
        lambda: any(e.code is IpcErrorCode.TURN_UNAVAILABLE for e in early.errors), within=10
    )
    assert not early.connected()
    assert not late.connected()
