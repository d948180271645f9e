"""The client core's small parts: the event bus, the offline queue, reconnect backoff, options."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from dialtone.client.core import ClientOptions
from dialtone.client.core.bus import EventBus
from dialtone.client.core.errors import OutboxFullError
from dialtone.client.core.events import DecryptedMessage, Notice
from dialtone.client.core.link import backoff_delay
from dialtone.client.core.outbox import Outbox, Outgoing, Pacer
from dialtone.wire.ws import MessageSend

CHANNEL = "0a04ddd7-62db-5282-9fb1-b70c24756f3c"
OTHER = "1ed06be1-66c6-5a2d-82bb-b8328b249813"


async def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = EventBus()
    first, second = bus.stream(), bus.stream()
    seen: list[str] = []
    bus.subscribe(lambda e: seen.append(e.text) if isinstance(e, Notice) else None)
    for n in range(3):
        bus.emit(Notice(text=str(n)))
    bus.close()
    got_first = [e async for e in first]
    got_second = [e async for e in second]
    assert got_first == got_second == [Notice(text="0"), Notice(text="1"), Notice(text="2")]
    assert seen == ["0", "1", "2"]


async def test_a_failing_callback_does_not_stop_delivery() -> None:
    bus = EventBus()
    stream = bus.stream()

    def broken(_event: object) -> None:
        raise RuntimeError("UI bug")

    bus.subscribe(broken)
    bus.emit(Notice(text="still delivered"))
    assert await asyncio.wait_for(anext(stream), 1) == Notice(text="still delivered")


async def test_an_unsubscribed_callback_gets_nothing_more() -> None:
    bus = EventBus()
    seen: list[object] = []
    unsubscribe = bus.subscribe(seen.append)
    bus.emit(Notice(text="a"))
    unsubscribe()
    bus.emit(Notice(text="b"))
    assert seen == [Notice(text="a")]


def _outgoing(client_msg_id: str, channel_id: str = CHANNEL) -> Outgoing:
    frame = MessageSend(
        channel_id=channel_id,
        client_msg_id=client_msg_id,
        key_epoch=1,
        sealed_body=b"x",
        sealed_sender_name=b"y",
        signature=b"z",
    )
    view = DecryptedMessage(
        channel_id=channel_id,
        seq=None,
        client_msg_id=client_msg_id,
        sender_user_id=OTHER,
        sender_device_id=OTHER,
        sender_name="me",
        body="hi",
        server_ts=None,
        created_at=datetime.now(UTC),
        epoch=1,
        own=True,
        pending=True,
    )
    return Outgoing(frame=frame, view=view)


def test_the_outbox_keeps_the_order_written_and_its_limit() -> None:
    outbox = Outbox(limit=3)
    for name in ("a", "b"):
        outbox.add(_outgoing(name))
    outbox.add(_outgoing("c", OTHER))
    with pytest.raises(OutboxFullError):
        outbox.add(_outgoing("d"))
    assert [item.client_msg_id for item in outbox] == ["a", "b", "c"]
    assert [item.client_msg_id for item in outbox.of_channel(CHANNEL)] == ["a", "b"]
    popped = outbox.pop("a")
    assert popped is not None
    assert popped.client_msg_id == "a"
    assert outbox.pop("a") is None
    assert [item.client_msg_id for item in outbox.drop_channel(CHANNEL)] == ["b"]
    assert len(outbox) == 1


@pytest.mark.parametrize(
    ("attempt", "jitter", "expected"),
    [(1, 0.0, 0.25), (1, 0.999999, 0.5), (2, 0.0, 0.5), (4, 0.0, 2.0), (20, 0.0, 15.0)],
)
def test_backoff_doubles_up_to_the_cap_with_jitter(
    attempt: int, jitter: float, expected: float
) -> None:
    assert backoff_delay(attempt, 0.5, 30.0, jitter) == pytest.approx(expected, rel=1e-5)


def test_options_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        ClientOptions(server_url="http://x", request_timeout=0)
    with pytest.raises(ValueError, match="history_page_size"):
        ClientOptions(server_url="http://x", history_page_size=500)
    assert ClientOptions(server_url="http://x").history_page_size == 50


def test_the_pacer_lets_a_burst_through_then_spaces_sends() -> None:
    now = [100.0]
    pacer = Pacer(rate=10.0, burst=3, clock=lambda: now[0])
    assert [pacer.delay() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.delay() == pytest.approx(0.1)
    assert pacer.delay() == pytest.approx(0.2)
    now[0] += 1.0
    assert pacer.delay() == 0.0
