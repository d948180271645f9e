"""One authenticated WebSocket as the hub sees it: a bounded send queue in front of a transport.

Frames arrive already encoded (see `frames.text_frame`). While the peer keeps up, a frame is
handed to the transport from the fan-out loop without a task switch; the frames a connection gets
within one turn of the event loop are joined into one write (one system call for a whole batch of
messages instead of one per message: the `WriteBatcher`). When the
transport is backed up, frames wait in a per-connection queue emptied by a writer task that
awaits the transport's drain. A queue that reaches its limit means the peer cannot keep up: the
connection is closed with `SLOW_CONSUMER` and the client catches up from the database when it
resumes. No frame is ever dropped while the connection stays open.

Channel messages carry their per-channel sequence number. The connection remembers the last one
it sent per channel, which makes the switch from database catch-up to live traffic exact: a live
message already sent from the database is skipped, and a hole (which the ordered event stream
should never produce) closes the connection with `RESYNC` instead of silently losing a message.

A close started by the server completes the WebSocket close handshake: the frames due before it
are written, the session's reader steps aside (`receive` returns None), and the socket stays open
until the client's answering close frame arrives (or the close timeout cuts it). A client that
is still writing meanwhile therefore reads the close code (4005 after a revocation, 4001 after a
logout) rather than a connection reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import WSMessage, WSMsgType, web

from dialtone.wire.fields import ChannelId, DeviceId, UserId
from dialtone.wire.ws import CloseCode

log = logging.getLogger(__name__)

# Bytes the transport may hold before new frames go to the queue instead. asyncio's default
# high-water mark is 64 KiB; staying under it keeps the direct path free of flow control.
DIRECT_WRITE_LIMIT = 64 * 1024

RESYNC = CloseCode.TRY_AGAIN_LATER
"""Close code when the server cannot vouch for an unbroken stream: reconnect and resume."""

_END_OF_FRAMES = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED})


class WriteBatcher:
    """Joins the frames each connection gets during one event-loop turn into a single write.

    A fan-out of a batch of k messages to a connection then costs one `send` system call instead
    of k. Frames wait at most until the end of the current turn (`call_soon`).
    """

    __slots__ = ("_dirty", "_scheduled")

    def __init__(self) -> None:
        self._dirty: list[Connection] = []
        self._scheduled = False

    def mark(self, conn: Connection) -> None:
        """Flush `conn`'s pending frames at the end of this turn."""
        self._dirty.append(conn)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write every marked connection's pending frames now."""
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush_pending()


class Connection:
    """A live WebSocket of one device, with its send queue and per-channel delivery position.

    Args:
        conn_id: Identifier unique within this server process.
        user_id: The authenticated user.
        device_id: The authenticated device.
        session_id: The session the connection was authenticated with.
        session_expires_at: When the session ends (the connection is closed then).
        ws: The prepared WebSocket response.
        transport: The socket transport under `ws`.
        drain: Waits until the transport has room again (the payload writer's `drain`).
        batcher: Coalesces this process's writes per event-loop turn.
        queue_limit: Frames that may wait in the queue before the peer counts as too slow.
        close_timeout: Seconds to wait for queued frames and the close handshake when closing.
    """

    __slots__ = (
        "_batcher",
        "_close_task",
        "_close_timeout",
        "_delivered",
        "_discard",
        "_drain",
        "_held",
        "_idle",
        "_pending",
        "_queue",
        "_queue_limit",
        "_reader_gone",
        "_receiving",
        "_transport",
        "_writer_task",
        "_ws",
        "channels",
        "close_code",
        "conn_id",
        "device_id",
        "inflight",
        "last_seen",
        "session_expires_at",
        "session_id",
        "user_id",
        "voice_room",
    )

    def __init__(
        self,
        *,
        conn_id: int,
        user_id: UserId,
        device_id: DeviceId,
        session_id: str,
        session_expires_at: datetime,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        drain: Callable[[], Awaitable[None]],
        batcher: WriteBatcher,
        queue_limit: int,
        close_timeout: float,
    ) -> None:
        self.conn_id = conn_id
        self.user_id = user_id
        self.device_id = device_id
        self.session_id = session_id
        self.session_expires_at = session_expires_at
        self.channels: set[ChannelId] = set()
        self.voice_room: ChannelId | None = None
        # Monotonic time of the last frame from the client (idle timeout).
        self.last_seen = 0.0
        # Messages of this connection waiting to be stored.
        self.inflight = 0
        self.close_code: int | None = None
        self._ws = ws
        self._transport = transport
        self._drain = drain
        self._batcher = batcher
        # Frames for this turn's single write (see `WriteBatcher`); empty between turns.
        self._pending: list[bytes] = []
        # Set when closing without draining: frames that cannot be written at once are dropped.
        self._discard = False
        self._queue: deque[bytes] = deque()
        self._queue_limit = queue_limit
        self._close_timeout = close_timeout
        self._writer_task: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self._delivered: dict[ChannelId, int] = {}
        # Live frames kept back while the database catch-up is being sent; `None` when live.
        self._held: list[tuple[ChannelId | None, int, bytes]] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        # The read in progress in `receive`, and an event set while there is none (see `_close`).
        self._receiving: asyncio.Future[WSMessage] | None = None
        self._reader_gone = asyncio.Event()
        self._reader_gone.set()

    def __repr__(self) -> str:
        return f"<Connection {self.conn_id} user={self.user_id} device={self.device_id}>"

    @property
    def closing(self) -> bool:
        """Whether the connection has started closing (it accepts no more frames)."""
        return self.close_code is not None

    @property
    def queued(self) -> int:
        """Frames waiting in the send queue (not yet handed to the transport)."""
        return len(self._queue)

    # -- sending ------------------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """Send one frame now, or queue it behind frames that are still waiting.

        Overflowing the queue closes the connection with `SLOW_CONSUMER`.

        Args:
            frame: A complete WebSocket frame.
        """
        if self.close_code is not None:
            return
        if self._held is not None:
            self._hold(None, 0, frame)
            return
        self._write(frame)

    def send_now(self, frame: bytes) -> None:
        """Send one frame even while live traffic is held back (replies, server notices).

        Args:
            frame: A complete WebSocket frame.
        """
        if self.close_code is None:
            self._write(frame)

    def send_message(self, channel_id: ChannelId, seq: int, frame: bytes) -> None:
        """Send the channel message `seq` unless this connection already has it.

        Args:
            channel_id: The channel of the message.
            seq: Its per-channel sequence number.
            frame: The encoded `channel.message.new` event.
        """
        # The innermost loop of every fan-out: `_advance` and `_write` inlined.
        if self.close_code is not None:
            return
        if self._held is not None:
            self._hold(channel_id, seq, frame)
            return
        delivered = self._delivered
        last = delivered.get(channel_id)
        if last is not None and seq != last + 1:
            self._advance(channel_id, seq)  # a repeat (skipped) or a hole (closes)
            return
        delivered[channel_id] = seq
        if not self._queue:
            pending = self._pending
            if pending:
                pending.append(frame)
                return
            if self._transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT:
                pending.append(frame)
                self._batcher.mark(self)
                return
        self._enqueue(frame)

    def note_own_message(self, channel_id: ChannelId, seq: int) -> None:
        """Record that this connection sent message `seq` (it got an ack instead of the event).

        Args:
            channel_id: The channel of the message.
            seq: Its per-channel sequence number.
        """
        if self.close_code is not None:
            return
        if self._held is not None:
            self._hold(channel_id, seq, b"")
            return
        self._advance(channel_id, seq)

    def delivered(self, channel_id: ChannelId) -> int | None:
        """Return the last sequence number of `channel_id` sent on this connection, if any."""
        return self._delivered.get(channel_id)

    def _advance(self, channel_id: ChannelId, seq: int) -> bool:
        last = self._delivered.get(channel_id)
        if last is not None:
            if seq <= last:
                return False
            if seq != last + 1:
                log.warning(
                    "connection %s: channel %s jumped from seq %d to %d; asking it to resume",
                    self.conn_id,
                    channel_id,
                    last,
                    seq,
                )
                self.close(RESYNC)
                return False
        self._delivered[channel_id] = seq
        return True

    def _write(self, frame: bytes) -> None:
        queue = self._queue
        if not queue:
            pending = self._pending
            if pending:
                pending.append(frame)
                return
            if self._transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT:
                pending.append(frame)
                self._batcher.mark(self)
                return
        self._enqueue(frame)

    def flush_pending(self) -> None:
        """Hand this turn's frames to the transport in one write (called by the batcher)."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        transport = self._transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() >= DIRECT_WRITE_LIMIT:
            if self._discard:
                return  # closing without draining: a backed-up peer resumes from the database
            # The peer fell behind during this turn: the frames wait in the queue instead.
            for frame in pending:
                self._enqueue(frame)
            return
        transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def _enqueue(self, frame: bytes) -> None:
        if self._discard:
            return
        queue = self._queue
        if len(queue) >= self._queue_limit:
            log.info(
                "connection %s: send queue full (%d frames); closing as slow consumer",
                self.conn_id,
                len(queue),
            )
            self.close(CloseCode.SLOW_CONSUMER)
            return
        queue.append(frame)
        if self._writer_task is None:
            self._idle.clear()
            self._writer_task = asyncio.get_running_loop().create_task(self._write_queue())

    async def _write_queue(self) -> None:
        queue = self._queue
        transport = self._transport
        try:
            while queue:
                await self._drain()
                while queue and transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT:
                    if transport.is_closing():
                        queue.clear()
                        return
                    transport.write(queue.popleft())
        except ConnectionError:
            queue.clear()
        finally:
            self._writer_task = None
            self._idle.set()

    async def flush(self) -> None:
        """Wait until every queued frame has been handed to the transport."""
        self.flush_pending()
        await self._idle.wait()

    # -- catch-up gate ------------------------------------------------------------------------

    def hold_live(self) -> None:
        """Keep live frames back until `release_live` (while the catch-up is being sent)."""
        if self._held is None:
            self._held = []

    def _hold(self, channel_id: ChannelId | None, seq: int, frame: bytes) -> None:
        held = self._held
        assert held is not None
        if len(held) >= self._queue_limit:
            log.info("connection %s: too many live frames during catch-up", self.conn_id)
            self.close(CloseCode.SLOW_CONSUMER)
            return
        held.append((channel_id, seq, frame))

    def send_catch_up(self, channel_id: ChannelId, seq: int, frame: bytes) -> None:
        """Send a message read from the database during the catch-up (bypasses the gate).

        Args:
            channel_id: The channel of the message.
            seq: Its per-channel sequence number (strictly increasing per channel).
            frame: The encoded `channel.message.new` event.
        """
        if self.close_code is not None:
            return
        previous = self._delivered.get(channel_id)
        if previous is not None and seq <= previous:
            return
        self._delivered[channel_id] = seq
        self._write(frame)

    def set_position(self, channel_id: ChannelId, seq: int) -> None:
        """Declare that the client already has every message of `channel_id` up to `seq`.

        Args:
            channel_id: The channel.
            seq: The last sequence number the client holds (0: none).
        """
        previous = self._delivered.get(channel_id)
        if previous is None or seq > previous:
            self._delivered[channel_id] = seq

    def release_live(self) -> None:
        """Send the live frames held back during the catch-up and go live."""
        held = self._held
        self._held = None
        if held is None:
            return
        for channel_id, seq, frame in held:
            if self.close_code is not None:
                return
            if channel_id is None:
                self._write(frame)
            elif not frame:
                self._advance(channel_id, seq)
            elif self._advance(channel_id, seq):
                self._write(frame)

    # -- receiving ----------------------------------------------------------------------------

    async def receive(self) -> WSMessage | None:
        """Return the client's next frame, or None once the connection is closing (either side).

        Only one task may read; it must read through this method, so that a close started by
        the server (`close`) can take the reader's place and wait for the client's answering close
        frame itself (see `_close`).

        Returns:
            A text, binary or error frame; None when the client closed, the socket is gone, or the
            server has started closing.
        """
        if self.close_code is not None:
            return None
        # A task of its own, so that `_close` can stop this read without touching the caller.
        receiving = asyncio.ensure_future(self._ws.receive())
        self._receiving = receiving
        self._reader_gone.clear()
        try:
            msg = await receiving
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if receiving.cancelled() and current is not None and not current.cancelling():
                return None  # stopped by `_close`; a frame already parsed stays in aiohttp's queue
            receiving.cancel()
            raise
        finally:
            self._receiving = None
            self._reader_gone.set()
        if msg.type in _END_OF_FRAMES:
            return None
        return msg

    # -- closing ------------------------------------------------------------------------------

    def close(
        self,
        code: int,
        *,
        drain: bool = False,
        timeout: float | None = None,
        await_reply: bool = True,
    ) -> None:
        """Start closing the connection with `code` (idempotent; the first code wins).

        Args:
            code: The close code the client receives.
            drain: Hand queued frames to the transport before the close frame (graceful shutdown,
                revocation notices); otherwise frames still queued for a backed-up peer are
                discarded (the client resumes from the database).
            timeout: Seconds for the queue and the close handshake before the socket is cut
                (default: the connection's close timeout).
            await_reply: Keep the socket open until the client's answering close frame arrives,
                so the client reliably reads `code`. False when the server no longer reads from
                its sockets (shutdown): the socket is then closed right after the close frame.
        """
        if self.close_code is not None:
            return
        self.close_code = code
        self._held = None
        if not drain:
            self._discard = True
            self._queue.clear()
        # This turn's frames were due before the close frame in any case.
        self.flush_pending()
        limit = self._close_timeout if timeout is None else timeout
        self._close_task = asyncio.get_running_loop().create_task(
            self._close(code, limit, await_reply)
        )

    async def _close(self, code: int, limit: float, await_reply: bool) -> None:
        ws = self._ws
        try:
            async with asyncio.timeout(limit):
                await self._idle.wait()
                if await_reply:
                    # aiohttp's `close` waits for the client's close frame only when no other task
                    # is reading; with a concurrent reader it closes the socket right after its
                    # own close frame, and a client still writing then gets a reset (and reports
                    # 1006) instead of `code`. So the reader steps aside first.
                    receiving = self._receiving
                    if receiving is not None:
                        receiving.cancel()
                    await self._reader_gone.wait()
                reason = CloseCode(code).name if code in set(CloseCode) else ""
                await ws.close(code=code, message=reason.encode())
        except TimeoutError:
            log.info("connection %s: close handshake timed out; aborting", self.conn_id)
        except ConnectionError:
            pass
        finally:
            self._queue.clear()
            if self._writer_task is not None:
                self._writer_task.cancel()
            if not self._transport.is_closing():
                self._transport.abort()

    async def wait_closed(self) -> None:
        """Wait until a close started with `close` has finished."""
        task = self._close_task
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
