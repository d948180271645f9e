"""The message store: per-channel sequence numbers, idempotent appends, history pages, markers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from dialtone.server.storage import Storage
from dialtone.server.storage.errors import NotMemberError, StaleEpochError
from dialtone.server.storage.records import ChannelName, DeviceKeys, NewMessage

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEYS = DeviceKeys(x25519_public=b"x" * 32, ed25519_public=b"e" * 32, key_signature=b"s" * 64)


@pytest.fixture
async def storage(db_url: str) -> AsyncIterator[Storage]:
    pool: Any = await asyncpg.create_pool(db_url, min_size=1, max_size=8)
    try:
        yield Storage(pool)
    finally:
        await pool.close()


async def _user(storage: Storage) -> tuple[str, str]:
    digest = uuid.uuid4().bytes
    await storage.invites.create(
        invite_id=str(uuid.uuid4()),
        token_digest=digest,
        created_by=None,
        note=None,
        now=NOW,
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    user, device = await storage.users.register(
        invite_digest=digest,
        user_id=str(uuid.uuid4()),
        username_hash=uuid.uuid4().bytes,
        password_hash="x",
        device_id=str(uuid.uuid4()),
        device_keys=KEYS,
        now=NOW,
    )
    return user.user_id, device.device_id


async def _channel(storage: Storage, owner: str, device: str) -> str:
    channel_id = str(uuid.uuid4())
    name = ChannelName(key_epoch=1, device_id=device, sealed_name=b"n", signature=b"s")
    await storage.channels.create(
        channel_id=channel_id,
        name=name,
        owner_id=owner,
        owner_device_id=device,
        envelopes=(),
        now=NOW,
    )
    return channel_id


def _message(channel_id: str, user: str, device: str, msg_id: str, epoch: int = 1) -> NewMessage:
    return NewMessage(
        channel_id=channel_id,
        client_msg_id=msg_id,
        sender_user_id=user,
        sender_device_id=device,
        key_epoch=epoch,
        sealed_body=b"body-" + msg_id.encode(),
        sealed_sender_name=b"name",
        signature=b"sig",
    )


async def test_append_assigns_increasing_sequence_numbers(storage: Storage) -> None:
    user, device = await _user(storage)
    channel = await _channel(storage, user, device)
    seqs = [
        (
            await storage.messages.append(_message(channel, user, device, f"m{i}"), now=NOW)
        ).message.seq
        for i in range(5)
    ]
    assert seqs == [1, 2, 3, 4, 5]
    assert await storage.messages.last_seq(channel) == 5


async def test_repeated_client_id_is_stored_once_and_acked_with_the_first_seq(
    storage: Storage,
) -> None:
    user, device = await _user(storage)
    channel = await _channel(storage, user, device)
    first = await storage.messages.append(_message(channel, user, device, "same"), now=NOW)
    again = await storage.messages.append(_message(channel, user, device, "same"), now=NOW)
    assert not first.duplicate
    assert again.duplicate
    assert again.message.seq == first.message.seq == 1
    later = await storage.messages.append(_message(channel, user, device, "next"), now=NOW)
    assert later.message.seq == 2  # the duplicate did not burn a number


async def test_concurrent_appends_are_gap_free_and_each_stored_once(storage: Storage) -> None:
    user, device = await _user(storage)
    channel = await _channel(storage, user, device)
    ids = [f"c{i}" for i in range(40)] * 2  # every id twice, racing
    results = await asyncio.gather(
        *(storage.messages.append(_message(channel, user, device, i), now=NOW) for i in ids)
    )
    stored = [r.message.seq for r in results if not r.duplicate]
    assert sorted(stored) == list(range(1, 41))
    by_id = {r.message.client_msg_id: r.message.seq for r in results}
    assert len(by_id) == 40
    page, has_more = await storage.messages.history(channel, limit=200)
    assert [m.seq for m in page] == list(range(1, 41))
    assert not has_more


async def test_non_member_and_stale_epoch_are_refused(storage: Storage) -> None:
    owner, owner_device = await _user(storage)
    stranger, stranger_device = await _user(storage)
    channel = await _channel(storage, owner, owner_device)
    with pytest.raises(NotMemberError):
        await storage.messages.append(_message(channel, stranger, stranger_device, "x"), now=NOW)
    with pytest.raises(StaleEpochError) as stale:
        await storage.messages.append(_message(channel, owner, owner_device, "y", 2), now=NOW)
    assert stale.value.current_epoch == 1
    with pytest.raises(NotMemberError):
        await storage.messages.append(
            _message(str(uuid.uuid4()), owner, owner_device, "z"), now=NOW
        )
    assert await storage.messages.last_seq(channel) == 0


async def test_history_pages_before_after_and_since(storage: Storage) -> None:
    user, device = await _user(storage)
    channel = await _channel(storage, user, device)
    for i in range(10):
        await storage.messages.append(_message(channel, user, device, f"h{i}"), now=NOW)
    newest, more = await storage.messages.history(channel, limit=3)
    assert [m.seq for m in newest] == [8, 9, 10]
    assert more
    older, more = await storage.messages.history(channel, before=8, limit=3)
    assert [m.seq for m in older] == [5, 6, 7]
    assert more
    oldest, more = await storage.messages.history(channel, before=3, limit=3)
    assert [m.seq for m in oldest] == [1, 2]
    assert not more
    after, more = await storage.messages.history(channel, after=7, limit=2)
    assert [m.seq for m in after] == [8, 9]
    assert more
    between, _ = await storage.messages.history(channel, after=2, before=6, limit=10)
    assert [m.seq for m in between] == [3, 4, 5]
    assert [m.seq for m in await storage.messages.since(channel, 8, limit=10)] == [9, 10]
    assert await storage.messages.last_seqs_for_user(user) == {channel: 10}


async def test_read_marker_only_moves_forward_and_not_past_the_end(storage: Storage) -> None:
    user, device = await _user(storage)
    channel = await _channel(storage, user, device)
    for i in range(3):
        await storage.messages.append(_message(channel, user, device, f"r{i}"), now=NOW)
    assert (await storage.messages.set_read_marker(user, channel, 2, now=NOW)).seq == 2
    assert (await storage.messages.set_read_marker(user, channel, 1, now=NOW)).seq == 2
    assert (await storage.messages.set_read_marker(user, channel, 99, now=NOW)).seq == 3
    assert [m.seq for m in await storage.messages.read_markers(user)] == [3]


async def test_membership_lookups(storage: Storage) -> None:
    owner, owner_device = await _user(storage)
    other, _ = await _user(storage)
    channel = await _channel(storage, owner, owner_device)
    assert await storage.channels.is_member(owner, channel)
    assert not await storage.channels.is_member(other, channel)
    await storage.channels.add_member(
        channel,
        other,
        role="member",
        added_by=owner,
        key_epoch=1,
        sender_device_id=owner_device,
        envelopes=(),
        now=NOW,
    )
    assert await storage.channels.member_user_ids(channel) == sorted([owner, other])
    assert await storage.channels.channel_ids_of_user(other) == [channel]
    assert await storage.channels.role_of(other, channel) == "member"
