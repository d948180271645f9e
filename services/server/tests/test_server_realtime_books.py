"""Service-wide presence and voice-room bookkeeping, and the memory of ended sessions and
devices (pure state, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from dialtone.server.realtime.ended import RecentlyEnded
from dialtone.server.realtime.presence import PresenceBook, PresenceChange
from dialtone.server.realtime.voice import SeatChange, VoiceBook
from dialtone.wire.common import VoiceParticipant
from dialtone.wire.ws import CloseCode, VoiceChange

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def new_id() -> str:
    return str(uuid4())


def seat(user: str | None = None, *, at: int = 0, muted: bool = False) -> VoiceParticipant:
    return VoiceParticipant(
        user_id=user or new_id(),
        device_id=new_id(),
        muted=muted,
        deafened=False,
        joined_at=T0 + timedelta(seconds=at),
    )


def test_presence_changes_only_when_the_whole_service_changes() -> None:
    """A user online on two replicas goes offline only when the second one drops them."""
    here, there = new_id(), new_id()
    book = PresenceBook(here)
    user, channel = new_id(), new_id()
    assert book.set_local(user, [channel]) == PresenceChange(user, True, frozenset({channel}))
    assert book.apply_remote(there, user, True, [channel], now=1.0) is None
    assert book.clear_local(user) is None
    assert book.is_online(user)
    change = book.apply_remote(there, user, False, [channel], now=2.0)
    assert change == PresenceChange(user, False, frozenset({channel}))
    assert not book.is_online(user)


def test_presence_ignores_its_own_echo_and_reports_remote_arrivals() -> None:
    """Deltas a replica hears from itself change nothing; another replica's arrivals do."""
    here, there = new_id(), new_id()
    book = PresenceBook(here)
    user = new_id()
    assert book.apply_remote(here, user, True, [], now=0.0) is None
    assert not book.is_online(user)
    assert book.apply_remote(there, user, True, [], now=0.0) is not None
    assert book.online_among([user, new_id()]) == {user}


def test_presence_remembers_channels_of_online_users() -> None:
    """The channels recorded with a user are those of the replica that has them online."""
    here, there = new_id(), new_id()
    book = PresenceBook(here)
    local, remote, channel = new_id(), new_id(), new_id()
    book.set_local(local, [channel])
    book.apply_remote(there, remote, True, [channel], now=0.0)
    assert book.channels_of(local) == frozenset({channel})
    assert book.channels_of(remote) == frozenset({channel})
    assert book.channels_of(new_id()) == frozenset()
    assert book.local_snapshot() == {local: frozenset({channel})}


def test_presence_expires_a_silent_replica() -> None:
    """A replica that stops sending heartbeats is forgotten and its users go offline."""
    here, alive, dead = new_id(), new_id(), new_id()
    book = PresenceBook(here)
    shared, only_dead = new_id(), new_id()
    assert book.heard_from(alive, 0.0)
    assert not book.heard_from(alive, 0.0)
    book.apply_snapshot(dead, {shared: frozenset(), only_dead: frozenset()}, now=0.0)
    book.apply_remote(alive, shared, True, [], now=0.0)
    book.heard_from(alive, 20.0)
    gone, changes = book.expire(now=20.0, max_age=15.0)
    assert gone == [dead]
    assert changes == [PresenceChange(only_dead, False, frozenset())]
    assert book.is_online(shared)
    assert book.replicas() == [alive]


def test_voice_join_moves_between_rooms_and_relays_only_within_one() -> None:
    """A device is in one room at a time; `same_room` is the relay rule."""
    replica = new_id()
    book = VoiceBook()
    room_a, room_b = new_id(), new_id()
    alice, bob, carol = seat(at=1), seat(at=2), seat(at=3)
    assert book.join(room_a, alice, replica) == [SeatChange(room_a, alice, VoiceChange.JOINED)]
    assert book.join(room_a, alice, replica) == []
    book.join(room_a, bob, replica)
    book.join(room_b, carol, replica)
    assert book.same_room(alice.device_id, bob.device_id)
    assert not book.same_room(alice.device_id, carol.device_id)
    assert not book.same_room(alice.device_id, alice.device_id)
    assert book.join(room_b, bob, replica) == [
        SeatChange(room_a, bob, VoiceChange.LEFT),
        SeatChange(room_b, bob, VoiceChange.JOINED),
    ]
    assert book.roster(room_a) == [alice]
    assert book.roster(room_b) == [bob, carol]
    assert book.room_of(bob.device_id) == room_b


def test_voice_state_updates_keep_the_arrival_time() -> None:
    """Mute changes are updates; a repeated join with new state is an update too."""
    book = VoiceBook()
    room, replica = new_id(), new_id()
    alice = seat(at=5)
    book.join(room, alice, replica)
    change = book.update(alice.device_id, muted=True, deafened=False)
    assert change is not None
    assert change.change is VoiceChange.UPDATED
    assert change.participant.muted
    assert book.update(alice.device_id, muted=True, deafened=False) is None
    again = book.join(
        room,
        VoiceParticipant(
            user_id=alice.user_id,
            device_id=alice.device_id,
            muted=False,
            deafened=True,
            joined_at=T0 + timedelta(seconds=99),
        ),
        replica,
    )
    assert [c.change for c in again] == [VoiceChange.UPDATED]
    state = book.participant(alice.device_id)
    assert state is not None
    assert state.joined_at == alice.joined_at
    assert state.deafened
    assert book.update(new_id(), muted=True, deafened=True) is None


def test_voice_book_drops_a_replica_and_a_user_leaving_a_channel() -> None:
    """Devices of a vanished replica leave their rooms; a removed member leaves with all devices."""
    here, there = new_id(), new_id()
    book = VoiceBook()
    room = new_id()
    user = new_id()
    phone, laptop = seat(user, at=1), seat(user, at=2)
    remote = seat(at=3)
    book.join(room, phone, here)
    book.join(room, laptop, here)
    book.join(room, remote, there)
    assert book.replica_of(remote.device_id) == there
    assert sorted(p.device_id for _, p in book.held_by(here)) == sorted(
        [phone.device_id, laptop.device_id]
    )
    assert book.drop_replica(there) == [SeatChange(room, remote, VoiceChange.LEFT)]
    assert len(book.leave_user_room(user, room)) == 2
    assert book.roster(room) == []
    assert book.close_room(room) == []


def test_ended_sessions_and_devices_are_remembered_for_a_while() -> None:
    """A revoked device wins over its ended session; both are forgotten after `keep` seconds."""
    clock = [100.0]
    ended = RecentlyEnded(keep=10.0, now=lambda: clock[0])
    session, device, other = new_id(), new_id(), new_id()
    assert ended.close_code(session_id=session, device_id=device) is None
    ended.sessions_ended([session])
    assert ended.close_code(session_id=session, device_id=device) is CloseCode.UNAUTHORIZED
    clock[0] = 105.0
    ended.device_revoked(device)
    assert ended.close_code(session_id=session, device_id=device) is CloseCode.DEVICE_REVOKED
    assert ended.close_code(session_id=other, device_id=other) is None
    clock[0] = 110.0
    assert ended.close_code(session_id=session, device_id=other) is None
    assert ended.close_code(session_id=other, device_id=device) is CloseCode.DEVICE_REVOKED
    clock[0] = 115.0
    assert ended.close_code(session_id=session, device_id=device) is None
