"""Service-wide presence and voice-room bookkeeping (pure state, no I/O)."""

from __future__ import annotations

from uuid import uuid4

from dialtone.server.realtime.presence import PresenceBook, PresenceChange
from dialtone.server.realtime.voice import Participant, VoiceBook, VoiceChange


def test_presence_changes_only_when_the_whole_service_changes() -> None:
    """A user online on two replicas goes offline only when the second one drops them."""
    here, there = uuid4(), uuid4()
    book = PresenceBook(here)
    user, channel = uuid4(), uuid4()
    assert book.set_local(user, [channel]) == PresenceChange(user, True, frozenset({channel}))
    assert book.apply_remote(there, user, True, [channel], now=1.0) is None
    assert book.clear_local(user) is None
    assert book.is_online(user)
    change = book.apply_remote(there, user, False, [channel], now=2.0)
    assert change == PresenceChange(user, False, frozenset({channel}))
    assert not book.is_online(user)


def test_presence_ignores_its_own_echo_and_reports_remote_arrivals() -> None:
    """Deltas a replica hears from itself change nothing; another replica's arrivals do."""
    here, there = uuid4(), uuid4()
    book = PresenceBook(here)
    user = uuid4()
    assert book.apply_remote(here, user, True, [], now=0.0) is None
    assert not book.is_online(user)
    assert book.apply_remote(there, user, True, [], now=0.0) is not None
    assert book.online_among([user, uuid4()]) == {user}


def test_presence_expires_a_silent_replica() -> None:
    """A replica that stops sending heartbeats is forgotten and its users go offline."""
    here, alive, dead = uuid4(), uuid4(), uuid4()
    book = PresenceBook(here)
    shared, only_dead = uuid4(), uuid4()
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
    replica = uuid4()
    book = VoiceBook()
    room_a, room_b = uuid4(), uuid4()
    alice, bob, carol = (Participant(uuid4(), uuid4()) for _ in range(3))
    assert book.join(room_a, alice, replica) == [VoiceChange(room_a, alice, True)]
    assert book.join(room_a, alice, replica) == []
    book.join(room_a, bob, replica)
    book.join(room_b, carol, replica)
    assert book.same_room(alice, bob)
    assert not book.same_room(alice, carol)
    assert not book.same_room(alice, alice)
    assert book.join(room_b, bob, replica) == [
        VoiceChange(room_a, bob, False),
        VoiceChange(room_b, bob, True),
    ]
    assert book.roster(room_a) == [alice]
    assert book.roster(room_b) == sorted([bob, carol])
    assert book.room_of(bob) == room_b


def test_voice_book_drops_a_replica_and_a_user_leaving_a_channel() -> None:
    """Devices of a vanished replica leave their rooms; a removed member leaves with all devices."""
    here, there = uuid4(), uuid4()
    book = VoiceBook()
    room = uuid4()
    user = uuid4()
    phone, laptop = Participant(user, uuid4()), Participant(user, uuid4())
    remote = Participant(uuid4(), uuid4())
    book.join(room, phone, here)
    book.join(room, laptop, here)
    book.join(room, remote, there)
    assert book.replica_of(remote) == there
    assert book.held_by(here) == [(room, phone), (room, laptop)] or book.held_by(here) == [
        (room, laptop),
        (room, phone),
    ]
    assert book.drop_replica(there) == [VoiceChange(room, remote, False)]
    assert len(book.leave_user_room(user, room)) == 2
    assert book.roster(room) == []
    assert book.close_room(room) == []
