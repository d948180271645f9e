"""Group commit of channel messages: every message persisted before it is acknowledged.

Each channel with messages waiting has one writer task. While a batch is being stored, new
messages of the channel queue up and go together in the next transaction, so the number of
transactions per second stays bounded however many clients send. A sender is acknowledged only
after the transaction holding its message committed; the fan-out follows from the commit
notification (see `stream.MessageStream`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable

import attrs

from dialtone.server.clock import Clock
from dialtone.server.realtime.connection import Connection
from dialtone.server.realtime.stream import Item, MessageStream
from dialtone.server.storage.notify import (
    Appended,
    AppendOutcome,
    MessageLog,
    NotifyTemplate,
    Rejected,
)
from dialtone.server.storage.records import NewMessage
from dialtone.wire.common import ErrorCode
from dialtone.wire.fields import ChannelId

log = logging.getLogger(__name__)

REJECTIONS: dict[str, tuple[ErrorCode, str]] = {
    "no_channel": (ErrorCode.NOT_FOUND, "no such channel"),
    "not_member": (ErrorCode.FORBIDDEN, "not a member of this channel"),
    "stale_epoch": (ErrorCode.STALE_EPOCH, "the channel key was rotated; fetch your envelope"),
}
"""Error code and message for each reason `MessageLog.append_batch` rejects a message."""


@attrs.frozen
class Submission:
    """A message waiting to be stored.

    Attributes:
        conn: The connection that sent it (acknowledged or told the error).
        message: What to store.
    """

    conn: Connection
    message: NewMessage


Reply = Callable[[Submission, AppendOutcome | None], None]
"""Tells the sender how its message fared (None: the database failed, try again)."""


class MessagePipeline:
    """Per-channel writers batching messages into transactions.

    Args:
        log: The batched append.
        stream: Receives the rows of each stored batch.
        clock: Time stamped on stored messages.
        pointer: Builds the commit notification template of a batch: `(channel, token)`.
        reply: Acknowledges or refuses each message after its batch.
        max_batch: Most messages per transaction.
    """

    def __init__(
        self,
        *,
        log: MessageLog,
        stream: MessageStream,
        clock: Clock,
        pointer: Callable[[ChannelId, int], NotifyTemplate],
        reply: Reply,
        max_batch: int,
    ) -> None:
        self._log = log
        self._stream = stream
        self._clock = clock
        self._pointer = pointer
        self._reply = reply
        self._max_batch = max_batch
        self._queues: dict[ChannelId, deque[Submission]] = {}
        self._writers: dict[ChannelId, asyncio.Task[None]] = {}
        self._tokens = itertools.count(1)
        self.batches = 0
        """Transactions committed so far (for the benchmark's profile)."""

    def submit(self, submission: Submission) -> None:
        """Queue a message for its channel's next transaction (returns at once).

        Args:
            submission: The message and its sender's connection.
        """
        channel_id = submission.message.channel_id
        queue = self._queues.get(channel_id)
        if queue is None:
            queue = self._queues[channel_id] = deque()
        queue.append(submission)
        if channel_id not in self._writers:
            task = asyncio.get_running_loop().create_task(self._write(channel_id, queue))
            self._writers[channel_id] = task

    async def _write(self, channel_id: ChannelId, queue: deque[Submission]) -> None:
        try:
            while queue:
                batch = [queue.popleft() for _ in range(min(len(queue), self._max_batch))]
                await self._store(channel_id, batch)
        finally:
            del self._writers[channel_id]
            if not queue:
                self._queues.pop(channel_id, None)

    async def _store(self, channel_id: ChannelId, batch: list[Submission]) -> None:
        token = next(self._tokens)
        try:
            outcomes = await self._log.append_batch(
                channel_id,
                [s.message for s in batch],
                now=self._clock.now(),
                notify=self._pointer(channel_id, token),
            )
        except Exception as exc:
            # The transaction may or may not have committed: if its notification arrives the rows
            # are read back; the senders retry with the same message ids, which is idempotent.
            log.warning("storing %d messages failed (%s)", len(batch), type(exc).__name__)
            self._stream.stored(token, None)
            for submission in batch:
                self._reply(submission, None)
            return
        self.batches += 1
        items: list[Item] = [
            (outcome.message, submission.conn)
            for submission, outcome in zip(batch, outcomes, strict=True)
            if isinstance(outcome, Appended) and not outcome.duplicate
        ]
        if items:
            self._stream.stored(token, items)
        for submission, outcome in zip(batch, outcomes, strict=True):
            self._reply(submission, outcome)

    @property
    def busy(self) -> bool:
        """Whether messages are waiting or being stored."""
        return bool(self._writers)

    async def drain(self, within: float) -> bool:
        """Wait until every queued message has been stored (or refused).

        Args:
            within: Seconds to wait at most.

        Returns:
            Whether everything was stored in time.
        """
        writers = list(self._writers.values())
        if not writers:
            return True
        _done, pending = await asyncio.wait(writers, timeout=within)
        return not pending


__all__ = ["REJECTIONS", "MessagePipeline", "Rejected", "Submission"]
