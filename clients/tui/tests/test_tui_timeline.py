"""The timeline of a channel's view: order, de-duplication, acks, rejections and history pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialtone.client.core.events import (
    DecryptedMessage,
    FailedMessage,
    FailureReason,
    HistoryPage,
)
from dialtone.client.timeline import ChangeKind, LineLevel, LocalLine, Timeline

T0 = datetime(2025, 11, 26, 9, 0, tzinfo=UTC)
CHANNEL = "c0ffee00-0000-4000-8000-000000000001"


def message(
    seq: int | None, body: str = "", *, own: bool = False, msg_id: str = ""
) -> DecryptedMessage:
    return DecryptedMessage(
        channel_id=CHANNEL,
        seq=seq,
        client_msg_id=msg_id or f"m{seq}",
        sender_user_id="me" if own else "alice",
        sender_device_id="d1",
        sender_name="Me" if own else "Alice",
        body=body or f"message {seq}",
        server_ts=None if seq is None else T0 + timedelta(seconds=seq),
        created_at=T0,
        epoch=1,
        own=own,
        pending=seq is None,
    )


def failed(seq: int) -> FailedMessage:
    return FailedMessage(
        channel_id=CHANNEL,
        seq=seq,
        client_msg_id=f"m{seq}",
        sender_user_id="alice",
        sender_device_id="d1",
        server_ts=T0 + timedelta(seconds=seq),
        epoch=2,
        reason=FailureReason.NO_KEY_YET,
        detail="epoch 2",
    )


def page(*items: DecryptedMessage | FailedMessage, has_more: bool) -> HistoryPage:
    return HistoryPage(channel_id=CHANNEL, items=items, has_more=has_more)


def bodies(timeline: Timeline) -> list[str]:
    out = []
    for entry in timeline:
        item = entry.item
        if isinstance(item, DecryptedMessage):
            out.append(item.body)
        elif isinstance(item, FailedMessage):
            out.append(f"failed {item.seq}")
        else:
            out.append(f"local {item.text}")
    return out


def test_live_messages_append_in_arrival_order() -> None:
    timeline = Timeline(CHANNEL)
    first = timeline.add(message(1))
    second = timeline.add(message(2))
    assert first.kind is second.kind is ChangeKind.APPENDED
    assert bodies(timeline) == ["message 1", "message 2"]
    assert (timeline.oldest_seq, timeline.newest_seq) == (1, 2)


def test_a_replayed_message_replaces_its_entry_instead_of_showing_twice() -> None:
    timeline = Timeline(CHANNEL)
    timeline.add(message(1))
    change = timeline.add(message(1))
    assert change.kind is ChangeKind.UPDATED
    assert len(timeline) == 1


def test_our_pending_message_is_acked_in_place_then_replaced_by_the_servers_copy() -> None:
    timeline = Timeline(CHANNEL)
    timeline.add(message(1))
    pending = message(None, "hello", own=True, msg_id="mine")
    timeline.add(pending)
    timeline.add(message(2))
    entry = timeline.entries[1]
    change = timeline.ack("mine", 3, T0 + timedelta(seconds=3))
    assert change.kind is ChangeKind.UPDATED
    assert change.entries == (entry,)
    acked = entry.item
    assert isinstance(acked, DecryptedMessage)
    assert (acked.seq, acked.pending) == (3, False)
    version = entry.version
    server_copy = DecryptedMessage(
        channel_id=CHANNEL,
        seq=3,
        client_msg_id="mine",
        sender_user_id="me",
        sender_device_id="d1",
        sender_name="Me",
        body="hello",
        server_ts=T0 + timedelta(seconds=3),
        created_at=T0,
        epoch=1,
        own=True,
    )
    assert timeline.add(server_copy).kind is ChangeKind.UPDATED
    assert entry.version == version + 1
    assert bodies(timeline) == ["message 1", "hello", "message 2"]


def test_a_rejected_message_stays_with_the_reason() -> None:
    timeline = Timeline(CHANNEL)
    timeline.add(message(None, "too late", own=True, msg_id="x"))
    change = timeline.reject("x", "the channel was deleted")
    assert change.kind is ChangeKind.UPDATED
    entry = timeline.entries[0]
    assert entry.note == "not sent: the channel was deleted"
    assert isinstance(entry.item, DecryptedMessage)
    assert not entry.item.pending


def test_acks_and_rejections_of_unknown_messages_change_nothing() -> None:
    timeline = Timeline(CHANNEL)
    assert timeline.ack("nope", 1, T0).kind is ChangeKind.NONE
    assert timeline.reject("nope", "why").kind is ChangeKind.NONE


def test_the_first_page_goes_before_live_messages_and_local_lines() -> None:
    timeline = Timeline(CHANNEL)
    timeline.add(message(5))
    timeline.add_local(LocalLine(text="hi", at=T0, level=LineLevel.INFO))
    change = timeline.merge_page(page(message(3), message(4), has_more=True))
    assert change.kind is ChangeKind.PREPENDED
    assert bodies(timeline) == ["message 3", "message 4", "message 5", "local hi"]
    assert timeline.loaded
    assert timeline.has_more


def test_older_pages_prepend_until_the_first_message() -> None:
    timeline = Timeline(CHANNEL)
    first = timeline.merge_page(page(message(3), message(4), has_more=True))
    assert first.kind is ChangeKind.APPENDED
    older = timeline.merge_page(page(message(1), message(2), has_more=False))
    assert older.kind is ChangeKind.PREPENDED
    assert [e.seq for e in timeline] == [1, 2, 3, 4]
    assert not timeline.has_more


def test_an_empty_page_means_nothing_older() -> None:
    timeline = Timeline(CHANNEL)
    timeline.merge_page(page(message(3), has_more=True))
    assert timeline.merge_page(page(has_more=False)).kind is ChangeKind.NONE
    assert not timeline.has_more


def test_a_reloaded_page_replaces_placeholders_that_can_be_read_now() -> None:
    timeline = Timeline(CHANNEL)
    timeline.merge_page(page(message(1), failed(2), has_more=False))
    change = timeline.merge_page(page(message(1), message(2, "readable now"), has_more=False))
    assert change.kind is ChangeKind.UPDATED
    assert bodies(timeline) == ["message 1", "readable now"]


def test_a_page_overlapping_live_messages_is_merged_in_order() -> None:
    timeline = Timeline(CHANNEL)
    timeline.add(message(2))
    timeline.add(message(6))
    change = timeline.merge_page(page(message(4), message(5), message(6), has_more=True))
    assert change.kind is ChangeKind.RESET
    assert [e.seq for e in timeline] == [2, 4, 5, 6]


def test_clear_forgets_everything() -> None:
    timeline = Timeline(CHANNEL)
    timeline.merge_page(page(message(1), has_more=False))
    assert timeline.clear().kind is ChangeKind.RESET
    assert len(timeline) == 0
    assert timeline.oldest_seq is None
    assert not timeline.loaded
    assert timeline.has_more
