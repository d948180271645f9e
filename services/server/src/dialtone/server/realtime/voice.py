"""Voice rooms across every replica: who is in which room, and on which replica.

A voice room belongs to a channel (its id is the channel id) and only members of the channel may
join. A device is in at most one room. Signaling (offer, answer, ICE candidate) is relayed only
from a device in a room to another device in the same room; the book answers that question and
says which replica holds the target.
"""

from __future__ import annotations

from uuid import UUID

import attrs


@attrs.frozen(order=True)
class Participant:
    """One device in a voice room.

    Attributes:
        user_id: The user.
        device_id: The device (a user may be in a room from one device at a time per room).
    """

    user_id: UUID
    device_id: UUID


@attrs.frozen
class VoiceChange:
    """A device that joined or left a room.

    Attributes:
        room_id: The room (the channel id).
        participant: The device.
        joined: True for a join, False for a leave.
    """

    room_id: UUID
    participant: Participant
    joined: bool


class VoiceBook:
    """Voice room membership of the whole service, as this replica knows it."""

    def __init__(self) -> None:
        self._rooms: dict[UUID, dict[Participant, UUID]] = {}
        self._where: dict[Participant, UUID] = {}

    def room_of(self, participant: Participant) -> UUID | None:
        """Return the room a device is in, if any."""
        return self._where.get(participant)

    def roster(self, room_id: UUID) -> list[Participant]:
        """Return the devices in a room, in a stable order."""
        return sorted(self._rooms.get(room_id, ()))

    def replica_of(self, participant: Participant) -> UUID | None:
        """Return the replica the device is connected to, if it is in a room."""
        room_id = self._where.get(participant)
        if room_id is None:
            return None
        return self._rooms[room_id].get(participant)

    def same_room(self, a: Participant, b: Participant) -> bool:
        """Whether two distinct devices are in the same room."""
        room_id = self._where.get(a)
        return a != b and room_id is not None and self._where.get(b) == room_id

    def join(self, room_id: UUID, participant: Participant, replica_id: UUID) -> list[VoiceChange]:
        """Put a device in a room (leaving the room it was in, if another).

        Args:
            room_id: The room.
            participant: The device.
            replica_id: The replica the device is connected to.

        Returns:
            The changes: a leave of the previous room, then the join (empty if already there).
        """
        changes: list[VoiceChange] = []
        current = self._where.get(participant)
        if current == room_id:
            self._rooms[room_id][participant] = replica_id
            return changes
        if current is not None:
            changes.extend(self.leave(participant))
        self._rooms.setdefault(room_id, {})[participant] = replica_id
        self._where[participant] = room_id
        changes.append(VoiceChange(room_id, participant, True))
        return changes

    def leave(self, participant: Participant) -> list[VoiceChange]:
        """Take a device out of its room.

        Args:
            participant: The device.

        Returns:
            The leave, or nothing if the device was in no room.
        """
        room_id = self._where.pop(participant, None)
        if room_id is None:
            return []
        room = self._rooms[room_id]
        room.pop(participant, None)
        if not room:
            del self._rooms[room_id]
        return [VoiceChange(room_id, participant, False)]

    def leave_user_room(self, user_id: UUID, room_id: UUID) -> list[VoiceChange]:
        """Take every device of a user out of one room (the user left the channel).

        Args:
            user_id: The user.
            room_id: The room.

        Returns:
            The leaves.
        """
        changes: list[VoiceChange] = []
        for participant in [p for p in self._rooms.get(room_id, ()) if p.user_id == user_id]:
            changes.extend(self.leave(participant))
        return changes

    def close_room(self, room_id: UUID) -> list[VoiceChange]:
        """Empty a room (its channel was deleted).

        Args:
            room_id: The room.

        Returns:
            The leaves.
        """
        changes: list[VoiceChange] = []
        for participant in list(self._rooms.get(room_id, ())):
            changes.extend(self.leave(participant))
        return changes

    def drop_replica(self, replica_id: UUID) -> list[VoiceChange]:
        """Take out every device connected to a replica that is gone.

        Args:
            replica_id: The replica.

        Returns:
            The leaves.
        """
        changes: list[VoiceChange] = []
        for room in list(self._rooms.values()):
            for participant, where in list(room.items()):
                if where == replica_id:
                    changes.extend(self.leave(participant))
        return changes

    def held_by(self, replica_id: UUID) -> list[tuple[UUID, Participant]]:
        """Return the (room, device) pairs connected to one replica (for snapshots)."""
        return [
            (room_id, participant)
            for room_id, room in self._rooms.items()
            for participant, where in room.items()
            if where == replica_id
        ]
