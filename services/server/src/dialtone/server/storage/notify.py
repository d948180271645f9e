"""PostgreSQL LISTEN/NOTIFY: the event stream that joins replicas, and the batched message append.

Every server process LISTENs on one channel. A payload is a short text (PostgreSQL caps it at
8000 bytes): a pointer to rows (channel id and a sequence range) or a small event. PostgreSQL
delivers the notifications of a transaction only if it commits, and delivers notifications in
commit order, so a message batch that notifies inside its own insert transaction gives every
replica a stream that is complete (nothing committed goes unannounced) and ordered (the per-channel
counter row serializes appends, so commit order is sequence order).

The append lives here rather than in `storage.messages` because the NOTIFY must run in the same
transaction as the insert; `MessageStore.append` (one message, no notification) remains the
store's general-purpose path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs

from dialtone.server.storage import _rows
from dialtone.server.storage.records import MessageRecord, NewMessage

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "dialtone_events"
"""The LISTEN/NOTIFY channel shared by every replica."""

MAX_PAYLOAD_BYTES = 7999
"""Largest NOTIFY payload PostgreSQL accepts (the limit is "shorter than 8000 bytes")."""


@attrs.frozen
class Appended:
    """A message of the batch that is now stored, or was already (same client message id).

    Attributes:
        message: The stored message.
        duplicate: True when the device had sent this message id before: nothing new was
            stored and the original seq is acknowledged again.
    """

    message: MessageRecord
    duplicate: bool


@attrs.frozen
class Rejected:
    """A message of the batch that was not stored.

    Attributes:
        reason: `no_channel` (the channel is gone), `not_member` (the sender left or was removed)
            or `stale_epoch` (the channel key was rotated; fetch the new envelope and re-seal).
    """

    reason: str


AppendOutcome = Appended | Rejected


class MessageLog:
    """Group commit of channel messages: one transaction per batch, notification included.

    Args:
        pool: The asyncpg pool.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def append_batch(
        self,
        channel_id: str,
        messages: Sequence[NewMessage],
        *,
        now: datetime,
        notify: Callable[[int, int], str] | None = None,
    ) -> list[AppendOutcome]:
        """Store a batch of messages of one channel under consecutive sequence numbers.

        The channel's counter row is locked first, so batches of one channel serialize exactly as
        single appends do; the membership, epoch and duplicate checks run after the lock. When
        anything new is stored and `notify` is given, `pg_notify(EVENTS_CHANNEL, notify(a, b))`
        runs in the same transaction for the new range `a..b`.

        Args:
            channel_id: The channel every message belongs to.
            messages: The messages, in the order their senders submitted them.
            now: Server time recorded as `created_at`.
            notify: Builds the notification payload for the stored range, or `None`.

        Returns:
            One outcome per message, in order.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            head = await conn.fetchrow(
                "SELECT s.last_seq, c.key_epoch, ARRAY(SELECT m.user_id FROM channel_members m "
                "WHERE m.channel_id = $1 AND m.user_id = ANY($2::uuid[])) AS members "
                "FROM channel_sequences s JOIN channels c ON c.id = s.channel_id "
                "WHERE s.channel_id = $1 FOR UPDATE OF s",
                channel_id,
                list({m.sender_user_id for m in messages}),
            )
            if head is None:
                return [Rejected("no_channel") for _ in messages]
            members = {str(user_id) for user_id in head["members"]}
            # A new statement, so a new snapshot: it sees whatever the previous holder of the
            # counter lock committed.
            rows = await conn.fetch(
                f"SELECT {_rows.MESSAGE_COLUMNS} FROM messages "  # noqa: S608 - constant columns
                "WHERE channel_id = $1 AND (sender_device_id, client_msg_id) IN "
                "(SELECT * FROM unnest($2::uuid[], $3::text[]))",
                channel_id,
                [m.sender_device_id for m in messages],
                [m.client_msg_id for m in messages],
            )
            existing = {
                (record.sender_device_id, record.client_msg_id): record
                for record in map(_rows.message, rows)
            }
            outcomes: list[AppendOutcome] = []
            new: list[MessageRecord] = []
            seq = head["last_seq"]
            for message in messages:
                key = (message.sender_device_id, message.client_msg_id)
                if message.sender_user_id not in members:
                    outcomes.append(Rejected("not_member"))
                elif key in existing:
                    outcomes.append(Appended(existing[key], duplicate=True))
                elif message.key_epoch != head["key_epoch"]:
                    outcomes.append(Rejected("stale_epoch"))
                else:
                    seq += 1
                    record = MessageRecord(
                        channel_id=channel_id,
                        seq=seq,
                        client_msg_id=message.client_msg_id,
                        sender_user_id=message.sender_user_id,
                        sender_device_id=message.sender_device_id,
                        key_epoch=message.key_epoch,
                        sealed_body=message.sealed_body,
                        sealed_sender_name=message.sealed_sender_name,
                        signature=message.signature,
                        server_ts=now,
                    )
                    # A device that sends one message id twice in one batch gets one row.
                    existing[key] = record
                    outcomes.append(Appended(record, duplicate=False))
                    new.append(record)
            if not new:
                return outcomes
            await conn.execute(
                "WITH stored AS (INSERT INTO messages (channel_id, seq, client_msg_id, "
                "sender_user_id, sender_device_id, key_epoch, sealed_body, sealed_sender_name, "
                "signature, server_ts) SELECT $1, s, m, u, d, e, b, n, g, $9 FROM unnest("
                "$2::bigint[], $3::text[], $4::uuid[], $5::uuid[], $6::int[], $7::bytea[], "
                "$8::bytea[], $10::bytea[]) AS t(s, m, u, d, e, b, n, g)), "
                "counted AS (UPDATE channel_sequences SET last_seq = $11 WHERE channel_id = $1) "
                "SELECT CASE WHEN $12::text IS NULL THEN NULL ELSE pg_notify($13, $12) END",
                channel_id,
                [r.seq for r in new],
                [r.client_msg_id for r in new],
                [r.sender_user_id for r in new],
                [r.sender_device_id for r in new],
                [r.key_epoch for r in new],
                [r.sealed_body for r in new],
                [r.sealed_sender_name for r in new],
                now,
                [r.signature for r in new],
                seq,
                None if notify is None else notify(new[0].seq, seq),
                EVENTS_CHANNEL,
            )
        return outcomes

    async def messages_between(self, channel_id: str, first: int, last: int) -> list[MessageRecord]:
        """Return the messages `first..last` (inclusive) of a channel, oldest first.

        Args:
            channel_id: The channel.
            first: The first sequence number.
            last: The last sequence number.

        Returns:
            The messages that exist in that range.
        """
        rows = await self._pool.fetch(
            f"SELECT {_rows.MESSAGE_COLUMNS} FROM messages "  # noqa: S608 - constant columns
            "WHERE channel_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
            channel_id,
            first,
            last,
        )
        return [_rows.message(row) for row in rows]


class Notifier:
    """Sends notifications to every replica (this one included).

    Args:
        pool: The asyncpg pool.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def publish(self, payloads: Sequence[str]) -> None:
        """Notify `payloads`, in order, in one transaction (they are delivered together).

        Args:
            payloads: Texts of at most `MAX_PAYLOAD_BYTES` UTF-8 bytes each.
        """
        if not payloads:
            return
        await self._pool.execute(
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n",
            EVENTS_CHANNEL,
            list(payloads),
        )


class NotifyListener:
    """Holds one pooled connection LISTENing on `EVENTS_CHANNEL`, and replaces it when it dies.

    Payloads are handed to `on_payload` in the order PostgreSQL delivered them. When the listening
    connection is lost, notifications sent meanwhile are lost with it: `on_gap` is called once the
    new connection listens, so the caller can make clients resume from the database.

    Args:
        pool: The asyncpg pool the connection is taken from.
        on_payload: Called with each payload.
        on_gap: Called after a reconnection (not after the first connection).
        retry_delay: Seconds between reconnection attempts.
    """

    def __init__(
        self,
        pool: Any,
        *,
        on_payload: Callable[[str], None],
        on_gap: Callable[[], None],
        retry_delay: float = 1.0,
    ) -> None:
        self._pool = pool
        self._on_payload = on_payload
        self._on_gap = on_gap
        self._retry_delay = retry_delay
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._lost = asyncio.Event()

    async def start(self) -> None:
        """Start listening; returns once the first LISTEN is in place."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        listening = asyncio.ensure_future(self._listening.wait())
        await asyncio.wait([listening, self._task], return_when=asyncio.FIRST_COMPLETED)
        if not listening.done():
            listening.cancel()
            await self._task  # re-raises why the first connection failed

    def reconnect(self) -> None:
        """Drop the listening connection and listen again (notifications may have been missed)."""
        self._lost.set()

    async def _run(self) -> None:
        first = True
        while True:
            try:
                await self._listen_once(first)
            except (TimeoutError, OSError) as exc:
                if first and not self._listening.is_set():
                    raise
                log.warning("event listener connection failed (%s); retrying", type(exc).__name__)
            except Exception as exc:  # asyncpg errors share no base class with OSError
                if first and not self._listening.is_set():
                    raise
                log.warning("event listener failed (%s); retrying", type(exc).__name__)
            first = False
            await asyncio.sleep(self._retry_delay)

    async def _listen_once(self, first: bool) -> None:
        self._lost.clear()
        async with self._pool.acquire() as conn:

            def lost(_conn: Any) -> None:
                self._lost.set()

            def received(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
                self._on_payload(payload)

            conn.add_termination_listener(lost)
            await conn.add_listener(EVENTS_CHANNEL, received)
            try:
                self._listening.set()
                if not first:
                    self._on_gap()
                await self._lost.wait()
            finally:
                conn.remove_termination_listener(lost)
                with contextlib.suppress(Exception):
                    await conn.remove_listener(EVENTS_CHANNEL, received)
                if not conn.is_closed():
                    # The connection may be healthy (a forced reconnect): make sure the pool
                    # does not hand out a connection still subscribed.
                    with contextlib.suppress(Exception):
                        await conn.execute("UNLISTEN *")

    async def close(self) -> None:
        """Stop listening and return the connection to the pool."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
