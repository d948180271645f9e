"""The bounded event channel every backend delivers events through."""

from __future__ import annotations

import asyncio

import pytest

from dialtone.ptt import PttEvent
from dialtone.ptt.events import EventChannel


async def _drain(channel: EventChannel) -> list[PttEvent]:
    async with asyncio.timeout(5):
        return [event async for event in channel]


async def test_only_changes_of_state_are_events() -> None:
    """A press while pressed, or a release while released, is no event."""
    channel = EventChannel()
    for pressed, at in [(False, 1.0), (True, 2.0), (True, 3.0), (False, 4.0), (False, 5.0)]:
        channel.publish(pressed, at)
    channel.close(6.0)
    assert await _drain(channel) == [PttEvent(True, 2.0), PttEvent(False, 4.0)]


async def test_close_releases_a_held_key_and_ends_the_stream() -> None:
    """Closing while pressed queues a release; nothing is published after close."""
    channel = EventChannel()
    channel.publish(True, 1.0)
    channel.close(2.0)
    channel.publish(True, 3.0)
    channel.close(4.0)
    assert await _drain(channel) == [PttEvent(True, 1.0), PttEvent(False, 2.0)]
    assert channel.closed


async def test_a_full_queue_drops_the_oldest_and_counts() -> None:
    """With nobody reading, the newest ``maxsize`` events stay; the rest are counted."""
    channel = EventChannel(maxsize=3)
    for n in range(10):
        channel.publish(n % 2 == 0, float(n))
    channel.close(10.0)
    assert await _drain(channel) == [
        PttEvent(False, 7.0),
        PttEvent(True, 8.0),
        PttEvent(False, 9.0),
    ]
    assert channel.dropped == 7


async def test_a_waiting_consumer_is_woken() -> None:
    """A consumer blocked on the stream gets events as they are published."""
    channel = EventChannel()
    consumer = asyncio.create_task(_drain(channel))
    await asyncio.sleep(0)
    channel.publish(True, 1.0)
    await asyncio.sleep(0)
    channel.publish(False, 2.0)
    channel.close(3.0)
    assert await consumer == [PttEvent(True, 1.0), PttEvent(False, 2.0)]


def test_queue_size_must_be_positive() -> None:
    """A zero-size queue could never deliver the current state."""
    with pytest.raises(ValueError, match="at least 1"):
        EventChannel(maxsize=0)
