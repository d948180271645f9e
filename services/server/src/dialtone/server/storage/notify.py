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

import asyncpg
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


@attrs.frozen
class NotifyTemplate:
    """How to build the commit notification of a stored range `a..b` inside the statement.

    The payload is `before + str(a) + between + str(b) + after`; the range is only known once
    the counter row is locked, in the middle of the statement.

    Attributes:
        before: Text before the first sequence number.
        between: Text between the first and the last.
        after: Text after the last.
    """

    before: str
    between: str
    after: str


# One statement, one round trip, one commit: the checks, the counter, the rows and the
# notification. Classification reads the statement's snapshot; the counter UPDATE then takes
# the channel's row lock (re-reading the latest counter if it had to wait), so batches of a
# channel get consecutive numbers and commit in sequence order. A message id that a concurrent
# batch stored after our snapshot was taken trips the unique constraint; `append_batch` retries
# the whole statement, which then sees it as a duplicate.
_APPEND_SQL = f"""
WITH input AS (
    SELECT * FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::int[], $6::bytea[],
                         $7::bytea[], $8::bytea[])
        WITH ORDINALITY AS t(msg_id, user_id, device_id, epoch, body, name, sig, ord)
),
chan AS (SELECT key_epoch FROM channels WHERE id = $1),
classified AS (
    SELECT i.*, e.seq AS old_seq, e.server_ts AS old_ts,
        CASE
            WHEN NOT EXISTS (SELECT 1 FROM chan) THEN 'no_channel'
            WHEN NOT EXISTS (SELECT 1 FROM channel_members m
                             WHERE m.channel_id = $1 AND m.user_id = i.user_id) THEN 'not_member'
            WHEN e.seq IS NOT NULL THEN 'duplicate'
            WHEN i.epoch <> (SELECT key_epoch FROM chan) THEN 'stale_epoch'
            ELSE 'new'
        END AS status
    FROM input i
    LEFT JOIN messages e ON e.channel_id = $1 AND e.sender_device_id = i.device_id
                        AND e.client_msg_id = i.msg_id
),
fresh AS (
    SELECT *, row_number() OVER (ORDER BY ord) AS n FROM classified WHERE status = 'new'
),
counted AS (SELECT count(*) AS k FROM fresh),
bumped AS (
    UPDATE channel_sequences SET last_seq = last_seq + (SELECT k FROM counted)
    WHERE channel_id = $1 AND (SELECT k FROM counted) > 0
    RETURNING last_seq
),
stored AS (
    INSERT INTO messages ({_rows.MESSAGE_COLUMNS})
    SELECT $1, b.last_seq - c.k + f.n, f.msg_id, f.user_id, f.device_id, f.epoch, f.body,
           f.name, f.sig, $9
    FROM fresh f, bumped b, counted c
    RETURNING sender_device_id, client_msg_id, seq
),
notified AS (
    SELECT pg_notify($10, $11 || (b.last_seq - c.k + 1) || $12 || b.last_seq || $13) AS sent
    FROM bumped b, counted c
    WHERE $11::text IS NOT NULL
)
SELECT c.status, COALESCE(s.seq, c.old_seq) AS seq, c.old_ts,
       (SELECT count(*) FROM notified) AS notices
FROM classified c
LEFT JOIN stored s ON s.sender_device_id = c.device_id AND s.client_msg_id = c.msg_id
ORDER BY c.ord
"""  # noqa: S608 - the only interpolation is the constant column list


class MessageLog:
    """Group commit of channel messages: one statement per batch, notification included.

    Args:
        pool: The asyncpg pool.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._releases: set[asyncio.Task[None]] = set()

    async def append_batch(
        self,
        channel_id: str,
        messages: Sequence[NewMessage],
        *,
        now: datetime,
        notify: NotifyTemplate | None = None,
    ) -> list[AppendOutcome]:
        """Store a batch of messages of one channel under consecutive sequence numbers.

        One autocommit statement checks each message (channel exists, sender is a member, not a
        resend, current key epoch), numbers the new ones after the channel's counter (whose row
        lock serializes batches of a channel exactly as single appends), stores them and, when
        anything new was stored and `notify` is given, sends the commit notification of the new
        range in the same transaction. Returns only after the commit.

        Args:
            channel_id: The channel every message belongs to.
            messages: The messages, in the order their senders submitted them.
            now: Server time recorded as `server_ts`.
            notify: Builds the notification payload of the stored range, or `None`.

        Returns:
            One outcome per message, in order.
        """
        # A device that sends one message id twice in a batch gets one row: the later copies
        # take the first one's outcome (as a duplicate when it was stored).
        first_of: dict[tuple[str, str], int] = {}
        unique: list[NewMessage] = []
        position: list[int] = []
        for message in messages:
            key = (message.sender_device_id, message.client_msg_id)
            if key not in first_of:
                first_of[key] = len(unique)
                unique.append(message)
            position.append(first_of[key])
        args = (
            channel_id,
            [m.client_msg_id for m in unique],
            [m.sender_user_id for m in unique],
            [m.sender_device_id for m in unique],
            [m.key_epoch for m in unique],
            [m.sealed_body for m in unique],
            [m.sealed_sender_name for m in unique],
            [m.signature for m in unique],
            now,
            EVENTS_CHANNEL,
            None if notify is None else notify.before,
            None if notify is None else notify.between,
            None if notify is None else notify.after,
        )
        conn = await self._pool.acquire()
        try:
            try:
                rows = await conn.fetch(_APPEND_SQL, *args)
            except asyncpg.UniqueViolationError:
                # A concurrent batch stored one of these ids after this statement's snapshot:
                # run again, it is a duplicate now.
                rows = await conn.fetch(_APPEND_SQL, *args)
        except BaseException:
            await self._pool.release(conn)
            raise
        # The commit is done: answer now, and give the connection back (the pool's reset
        # query is one more round trip) without making the senders wait for it.
        task = asyncio.get_running_loop().create_task(self._pool.release(conn))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)
        outcomes = [_outcome(message, row, now) for message, row in zip(unique, rows, strict=True)]
        result: list[AppendOutcome] = []
        for index, message_index in enumerate(position):
            outcome = outcomes[message_index]
            if index != message_index and isinstance(outcome, Appended):
                outcome = Appended(outcome.message, duplicate=True)
            result.append(outcome)
        return result

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


def _outcome(message: NewMessage, row: Any, now: datetime) -> AppendOutcome:
    status = row["status"]
    if status not in ("new", "duplicate"):
        return Rejected(status)
    record = MessageRecord(
        channel_id=message.channel_id,
        seq=row["seq"],
        client_msg_id=message.client_msg_id,
        sender_user_id=message.sender_user_id,
        sender_device_id=message.sender_device_id,
        key_epoch=message.key_epoch,
        sealed_body=message.sealed_body,
        sealed_sender_name=message.sealed_sender_name,
        signature=message.signature,
        server_ts=now if status == "new" else row["old_ts"],
    )
    return Appended(record, duplicate=status == "duplicate")


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
