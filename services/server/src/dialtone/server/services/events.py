"""The notifier interface HTTP services use to tell realtime clients that state changed.

The realtime side (hub, LISTEN/NOTIFY fan-out across replicas) implements `EventPublisher` and
stores it under `EVENTS_KEY`; `create_app` refuses to start without it. HTTP services call it after
their database transaction committed, so a client that hears an event can fetch the new state.

Events are `dialtone.wire` server-to-client event objects (e.g. channel updated, member added,
key rotated, envelope available, device joined, profile updated). Ended sessions (logout) are not
an event: their connections are closed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol


class EventPublisher(Protocol):
    """Delivers server events to connected clients (on every replica)."""

    async def publish_channel_event(self, channel_id: str, event: object) -> None:
        """Send `event` to every connected device of every current member of a channel.

        Args:
            channel_id: The channel whose members should hear it.
            event: A `dialtone.wire` server event.
        """
        ...

    async def publish_user_event(self, user_ids: Collection[str], event: object) -> None:
        """Send `event` to every connected device of the given users.

        Args:
            user_ids: Recipients (e.g. a removed member, or a user's own other devices).
            event: A `dialtone.wire` server event.
        """
        ...

    async def end_sessions(self, session_ids: Collection[str]) -> None:
        """Close the live connections of sessions that just ended (logout), on every replica.

        Their clients get close code 4001 (`unauthorized`: log in again).

        Args:
            session_ids: The sessions, already deleted from the database.
        """
        ...


class PresenceSource(Protocol):
    """Answers "who is online" for the HTTP presence view (implemented by the realtime side)."""

    async def online_user_ids(self, user_ids: Collection[str]) -> set[str]:
        """Return which of `user_ids` have at least one connected device (on any replica).

        Args:
            user_ids: The users asked about.

        Returns:
            The subset that is online.
        """
        ...
