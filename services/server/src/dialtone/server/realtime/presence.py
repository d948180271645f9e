"""Who is online across every replica of the service.

Each replica knows its own connections exactly and learns the others' through the event stream:
a delta when a user's first connection opens or last one closes there, a periodic heartbeat, and a
full snapshot when a replica starts. A replica that stops sending heartbeats (killed, partitioned)
is forgotten after an expiry, and the users only it had go offline.

A user's entry carries the channels the user belongs to: whoever shares one of them is told when
the user comes or goes, on every replica, without asking the database. The status a user chose
(away, dnd, invisible) is not kept here: it lives in the database with the directory.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from dialtone.wire.fields import ChannelId, UserId

Channels = frozenset[ChannelId]


@attrs.define
class _Replica:
    last_seen: float
    users: dict[UserId, Channels] = attrs.field(factory=dict)


@attrs.frozen
class PresenceChange:
    """A user who came online or went offline as far as the whole service is concerned.

    Attributes:
        user_id: The user.
        online: The new state.
        channels: The user's channels (whose members are told).
    """

    user_id: UserId
    online: bool
    channels: Channels


class PresenceBook:
    """Online users of this replica and of the others it hears from.

    Args:
        replica_id: This replica's identifier (deltas from it are ignored as already applied).
    """

    def __init__(self, replica_id: str) -> None:
        self.replica_id = replica_id
        self._local: dict[UserId, Channels] = {}
        self._remote: dict[str, _Replica] = {}

    def is_online(self, user_id: UserId) -> bool:
        """Whether `user_id` has a connection to any replica."""
        if user_id in self._local:
            return True
        return any(user_id in replica.users for replica in self._remote.values())

    def channels_of(self, user_id: UserId) -> Channels:
        """Return the channels recorded for an online user (empty when unknown)."""
        channels = self._local.get(user_id)
        if channels is not None:
            return channels
        for replica in self._remote.values():
            channels = replica.users.get(user_id)
            if channels is not None:
                return channels
        return frozenset()

    def online_among(self, user_ids: Iterable[UserId]) -> set[UserId]:
        """Return those of `user_ids` who are online anywhere."""
        return {user_id for user_id in user_ids if self.is_online(user_id)}

    def local_snapshot(self) -> dict[UserId, Channels]:
        """Return this replica's online users with their channels."""
        return dict(self._local)

    def set_local(self, user_id: UserId, channels: Iterable[ChannelId]) -> PresenceChange | None:
        """Record that `user_id` has a connection here (first one, or new channels).

        Args:
            user_id: The user.
            channels: The user's channels.

        Returns:
            The change to announce to co-members, if the user was offline everywhere.
        """
        was_online = self.is_online(user_id)
        channel_set = frozenset(channels)
        self._local[user_id] = channel_set
        return None if was_online else PresenceChange(user_id, True, channel_set)

    def clear_local(self, user_id: UserId) -> PresenceChange | None:
        """Record that the last connection of `user_id` here has closed.

        Args:
            user_id: The user.

        Returns:
            The change to announce, if the user is now offline everywhere.
        """
        channels = self._local.pop(user_id, None)
        if channels is None or self.is_online(user_id):
            return None
        return PresenceChange(user_id, False, channels)

    def apply_remote(
        self,
        replica_id: str,
        user_id: UserId,
        online: bool,
        channels: Iterable[ChannelId],
        now: float,
    ) -> PresenceChange | None:
        """Apply a delta heard from another replica.

        Args:
            replica_id: The replica it came from.
            user_id: The user.
            online: Whether the user now has a connection there.
            channels: The user's channels.
            now: The current monotonic time.

        Returns:
            The change to announce to local co-members, if the service-wide state changed.
        """
        if replica_id == self.replica_id:
            return None
        replica = self._seen(replica_id, now)
        was_online = self.is_online(user_id)
        channel_set = frozenset(channels)
        if online:
            replica.users[user_id] = channel_set
        else:
            replica.users.pop(user_id, None)
        is_online = self.is_online(user_id)
        if was_online == is_online:
            return None
        return PresenceChange(user_id, is_online, channel_set)

    def apply_snapshot(
        self, replica_id: str, users: dict[UserId, Channels], now: float
    ) -> list[PresenceChange]:
        """Merge (part of) a snapshot of another replica's online users.

        Args:
            replica_id: The replica it came from.
            users: Online users there, with their channels.
            now: The current monotonic time.

        Returns:
            The users who came online service-wide.
        """
        changes = []
        for user_id, channels in users.items():
            change = self.apply_remote(replica_id, user_id, True, channels, now)
            if change is not None:
                changes.append(change)
        return changes

    def heard_from(self, replica_id: str, now: float) -> bool:
        """Note a heartbeat from another replica.

        Args:
            replica_id: The replica.
            now: The current monotonic time.

        Returns:
            True when the replica was unknown (it should be asked for a snapshot).
        """
        if replica_id == self.replica_id:
            return False
        known = replica_id in self._remote
        self._seen(replica_id, now)
        return not known

    def _seen(self, replica_id: str, now: float) -> _Replica:
        replica = self._remote.get(replica_id)
        if replica is None:
            replica = self._remote[replica_id] = _Replica(now)
        else:
            replica.last_seen = now
        return replica

    def forget(self, replica_id: str) -> list[PresenceChange]:
        """Drop everything known about a replica (it said goodbye or expired).

        Args:
            replica_id: The replica.

        Returns:
            The users who went offline service-wide.
        """
        replica = self._remote.pop(replica_id, None)
        if replica is None:
            return []
        return [
            PresenceChange(user_id, False, channels)
            for user_id, channels in replica.users.items()
            if not self.is_online(user_id)
        ]

    def expire(self, now: float, max_age: float) -> tuple[list[str], list[PresenceChange]]:
        """Forget replicas not heard from for `max_age` seconds.

        Args:
            now: The current monotonic time.
            max_age: Seconds of silence after which a replica counts as gone.

        Returns:
            The expired replicas and the users who went offline service-wide.
        """
        gone = [rid for rid, replica in self._remote.items() if now - replica.last_seen > max_age]
        changes: list[PresenceChange] = []
        for replica_id in gone:
            changes.extend(self.forget(replica_id))
        return gone, changes

    def replicas(self) -> list[str]:
        """Return the other replicas currently known."""
        return list(self._remote)
