"""The local hub: which connections of this process may receive what, and the fan-out itself.

The hub knows only this process's connections. Everything that crosses replicas (the ordered
message stream, presence, voice rooms) is layered on top of it by `realtime.service`. The hub never
decides who is a member of a channel: subscriptions come from the database at connect time and
from membership events afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator

from dialtone.server.realtime.connection import Connection, WriteBatcher
from dialtone.wire.fields import ChannelId, DeviceId, UserId

log = logging.getLogger(__name__)


class Hub:
    """Registry and fan-out of the WebSocket connections of one server process."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.batcher = WriteBatcher()
        """Shared by this process's connections: one write per connection per loop turn."""
        self._connections: set[Connection] = set()
        self._by_user: dict[UserId, set[Connection]] = {}
        self._by_channel: dict[ChannelId, set[Connection]] = {}
        self._closed = False

    # -- registry -----------------------------------------------------------------------------

    def next_id(self) -> int:
        """Return a connection identifier unique within this process."""
        return next(self._ids)

    @property
    def accepting(self) -> bool:
        """Whether new connections are accepted (false once shutdown has begun)."""
        return not self._closed

    def __len__(self) -> int:
        return len(self._connections)

    def __iter__(self) -> Iterator[Connection]:
        return iter(tuple(self._connections))

    def attach(self, conn: Connection, channels: Iterable[ChannelId]) -> bool:
        """Register a connection and subscribe it to the channels its user belongs to.

        Args:
            conn: The new connection.
            channels: The channels the user is a member of.

        Returns:
            True when it is the first connection of its user in this process.
        """
        self._connections.add(conn)
        user_conns = self._by_user.setdefault(conn.user_id, set())
        first = not user_conns
        user_conns.add(conn)
        for channel_id in channels:
            conn.channels.add(channel_id)
            self._by_channel.setdefault(channel_id, set()).add(conn)
        return first

    def detach(self, conn: Connection) -> bool:
        """Unregister a connection (when its handler ends).

        Args:
            conn: The connection.

        Returns:
            True when it was the last connection of its user in this process.
        """
        if conn not in self._connections:
            return False
        self._connections.discard(conn)
        for channel_id in conn.channels:
            subs = self._by_channel.get(channel_id)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self._by_channel[channel_id]
        user_conns = self._by_user.get(conn.user_id)
        if user_conns is None:
            return False
        user_conns.discard(conn)
        if user_conns:
            return False
        del self._by_user[conn.user_id]
        return True

    def is_local(self, user_id: UserId) -> bool:
        """Whether `user_id` has a connection to this process."""
        return user_id in self._by_user

    def local_users(self) -> list[UserId]:
        """Return the users with at least one connection to this process."""
        return list(self._by_user)

    def connections_of(self, user_id: UserId) -> tuple[Connection, ...]:
        """Return the local connections of `user_id`."""
        return tuple(self._by_user.get(user_id, ()))

    def device(self, user_id: UserId, device_id: DeviceId) -> Connection | None:
        """Return the open local connection of one device, if any."""
        for conn in self._by_user.get(user_id, ()):
            if conn.device_id == device_id and not conn.closing:
                return conn
        return None

    def subscribers(self, channel_id: ChannelId) -> tuple[Connection, ...]:
        """Return the local connections subscribed to `channel_id`."""
        return tuple(self._by_channel.get(channel_id, ()))

    def has_subscribers(self, channel_id: ChannelId) -> bool:
        """Whether any local connection is subscribed to `channel_id`."""
        return channel_id in self._by_channel

    # -- membership ---------------------------------------------------------------------------

    def subscribe(self, channel_id: ChannelId, user_id: UserId) -> None:
        """Subscribe the local connections of a user who became a member of a channel.

        Args:
            channel_id: The channel.
            user_id: The new member.
        """
        for conn in self._by_user.get(user_id, ()):
            conn.channels.add(channel_id)
            self._by_channel.setdefault(channel_id, set()).add(conn)

    def unsubscribe(self, channel_id: ChannelId, user_id: UserId) -> None:
        """Unsubscribe the local connections of a user who left (or was removed from) a channel.

        Args:
            channel_id: The channel.
            user_id: The former member.
        """
        subs = self._by_channel.get(channel_id)
        for conn in self._by_user.get(user_id, ()):
            conn.channels.discard(channel_id)
            if subs is not None:
                subs.discard(conn)
        if subs is not None and not subs:
            del self._by_channel[channel_id]

    def drop_channel(self, channel_id: ChannelId) -> None:
        """Forget a deleted channel.

        Args:
            channel_id: The channel.
        """
        for conn in self._by_channel.pop(channel_id, ()):
            conn.channels.discard(channel_id)

    # -- fan-out ------------------------------------------------------------------------------

    def fanout_message(
        self, channel_id: ChannelId, seq: int, frame: bytes, origin: Connection | None
    ) -> int:
        """Send a channel message to every local subscriber but the connection that sent it.

        Args:
            channel_id: The channel.
            seq: The message's sequence number.
            frame: The encoded `channel.message.new` event.
            origin: The local connection that sent it (it was acked instead), if any.

        Returns:
            How many connections it was handed to.
        """
        subs = self._by_channel.get(channel_id)
        if not subs:
            return 0
        count = 0
        for conn in subs:
            if conn is origin:
                conn.note_own_message(channel_id, seq)
            else:
                conn.send_message(channel_id, seq, frame)
                count += 1
        return count

    def fanout(
        self, channel_id: ChannelId, frame: bytes, *, exclude_device: DeviceId | None = None
    ) -> int:
        """Send an unsequenced event to the local subscribers of a channel.

        Args:
            channel_id: The channel.
            frame: The encoded event.
            exclude_device: A device that must not receive it (the one that caused it).

        Returns:
            How many connections it was handed to.
        """
        count = 0
        for conn in self._by_channel.get(channel_id, ()):
            if conn.device_id != exclude_device:
                conn.send(frame)
                count += 1
        return count

    def fanout_channels(
        self,
        channel_ids: Iterable[ChannelId],
        frame: bytes,
        *,
        exclude_user: UserId | None = None,
    ) -> int:
        """Send an event once to every local connection subscribed to any of `channel_ids`.

        Args:
            channel_ids: The channels.
            frame: The encoded event.
            exclude_user: A user whose connections must not receive it.

        Returns:
            How many connections it was handed to.
        """
        seen: set[Connection] = set()
        for channel_id in channel_ids:
            seen.update(self._by_channel.get(channel_id, ()))
        count = 0
        for conn in seen:
            if conn.user_id != exclude_user:
                conn.send(frame)
                count += 1
        return count

    def to_user(
        self, user_id: UserId, frame: bytes, *, exclude_device: DeviceId | None = None
    ) -> int:
        """Send an event to every local connection of a user.

        Args:
            user_id: The user.
            frame: The encoded event.
            exclude_device: A device that must not receive it.

        Returns:
            How many connections it was handed to.
        """
        count = 0
        for conn in self._by_user.get(user_id, ()):
            if conn.device_id != exclude_device:
                conn.send(frame)
                count += 1
        return count

    def to_device(self, user_id: UserId, device_id: DeviceId, frame: bytes) -> bool:
        """Send an event to the local connection of one device.

        Args:
            user_id: The user owning the device.
            device_id: The device.
            frame: The encoded event.

        Returns:
            Whether the device is connected here.
        """
        conn = self.device(user_id, device_id)
        if conn is None:
            return False
        conn.send(frame)
        return True

    # -- closing ------------------------------------------------------------------------------

    def close_where(self, match: Callable[[Connection], bool], code: int) -> int:
        """Close every local connection `match` selects.

        Args:
            match: Selects the connections to close.
            code: The close code they receive.

        Returns:
            How many connections were closed.
        """
        chosen = [conn for conn in self._connections if match(conn)]
        for conn in chosen:
            conn.close(code)
        return len(chosen)

    def begin_shutdown(self) -> None:
        """Refuse new connections from now on."""
        self._closed = True

    async def close_all(
        self,
        code: int,
        *,
        notice: bytes | None = None,
        within: float,
        handshake: float | None = None,
    ) -> None:
        """Close every connection after handing it `notice` and its queued frames.

        Meant for shutdown, when aiohttp no longer reads from the sockets: the clients' answering
        close frames cannot arrive, so each socket is closed right after the server's close frame.

        Args:
            code: The close code.
            notice: A frame sent to each connection first (for example "reconnect"), or `None`.
            within: Seconds to wait for all closes; stragglers are aborted by their own timeout.
            handshake: Seconds each close may take (default: the connection's close timeout).
        """
        conns = tuple(self._connections)
        for conn in conns:
            if notice is not None:
                conn.send_now(notice)
            conn.close(code, drain=True, timeout=handshake, await_reply=False)
        if conns:
            waits = [asyncio.ensure_future(conn.wait_closed()) for conn in conns]
            _done, pending = await asyncio.wait(waits, timeout=within)
            for task in pending:
                task.cancel()
            log.info("closed %d WebSocket connections (%d late)", len(conns), len(pending))
