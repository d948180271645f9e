"""Voice rooms across every replica: who is in which room, in what state, on which replica.

A voice room belongs to a channel (the room id is the channel id) and only members of the channel
may join. A device is in at most one room. Signaling (offer, answer, ICE candidate) is relayed only
from a device in a room to another device of the same room; the book answers that question and
says which replica holds the target.
"""

from __future__ import annotations

import attrs

from dialtone.wire.common import VoiceParticipant
from dialtone.wire.fields import ChannelId, DeviceId, UserId
from dialtone.wire.ws import VoiceChange


@attrs.frozen
class SeatChange:
    """A device that joined, left or changed state in a room.

    Attributes:
        room_id: The room (the channel id).
        participant: The device's state after the change (its last state for a leave).
        change: Joined, left or updated.
    """

    room_id: ChannelId
    participant: VoiceParticipant
    change: VoiceChange


@attrs.define
class _Seat:
    participant: VoiceParticipant
    replica_id: str


class VoiceBook:
    """Voice room membership of the whole service, as this replica knows it."""

    def __init__(self) -> None:
        self._rooms: dict[ChannelId, dict[DeviceId, _Seat]] = {}
        self._where: dict[DeviceId, ChannelId] = {}

    def room_of(self, device_id: DeviceId) -> ChannelId | None:
        """Return the room a device is in, if any."""
        return self._where.get(device_id)

    def participant(self, device_id: DeviceId) -> VoiceParticipant | None:
        """Return a device's state in its room, if it is in one."""
        seat = self._seat(device_id)
        return None if seat is None else seat.participant

    def replica_of(self, device_id: DeviceId) -> str | None:
        """Return the replica a device in a room is connected to."""
        seat = self._seat(device_id)
        return None if seat is None else seat.replica_id

    def _seat(self, device_id: DeviceId) -> _Seat | None:
        room_id = self._where.get(device_id)
        return None if room_id is None else self._rooms[room_id][device_id]

    def roster(self, room_id: ChannelId) -> list[VoiceParticipant]:
        """Return the devices in a room, oldest arrival first."""
        seats = self._rooms.get(room_id, {}).values()
        return sorted(
            (seat.participant for seat in seats), key=lambda p: (p.joined_at, p.device_id)
        )

    def same_room(self, a: DeviceId, b: DeviceId) -> bool:
        """Whether two distinct devices are in the same room."""
        room_id = self._where.get(a)
        return a != b and room_id is not None and self._where.get(b) == room_id

    def join(
        self, room_id: ChannelId, participant: VoiceParticipant, replica_id: str
    ) -> list[SeatChange]:
        """Put a device in a room (leaving the room it was in, if another).

        Args:
            room_id: The room.
            participant: The device and its initial state.
            replica_id: The replica the device is connected to.

        Returns:
            The changes: a leave of the previous room, then the join or, when the device was
            already in this room, an update.
        """
        changes: list[SeatChange] = []
        device_id = participant.device_id
        current = self._where.get(device_id)
        if current == room_id:
            seat = self._rooms[room_id][device_id]
            seat.replica_id = replica_id
            kept = attrs.evolve(participant, joined_at=seat.participant.joined_at)
            if kept != seat.participant:
                seat.participant = kept
                changes.append(SeatChange(room_id, kept, VoiceChange.UPDATED))
            return changes
        if current is not None:
            changes.extend(self.leave(device_id))
        self._rooms.setdefault(room_id, {})[device_id] = _Seat(participant, replica_id)
        self._where[device_id] = room_id
        changes.append(SeatChange(room_id, participant, VoiceChange.JOINED))
        return changes

    def update(self, device_id: DeviceId, *, muted: bool, deafened: bool) -> SeatChange | None:
        """Change a device's mute and deafen state.

        Args:
            device_id: The device.
            muted: Whether its microphone is muted.
            deafened: Whether it hears nothing.

        Returns:
            The update, or None when the device is in no room or nothing changed.
        """
        seat = self._seat(device_id)
        if seat is None:
            return None
        new = attrs.evolve(seat.participant, muted=muted, deafened=deafened)
        if new == seat.participant:
            return None
        seat.participant = new
        return SeatChange(self._where[device_id], new, VoiceChange.UPDATED)

    def leave(self, device_id: DeviceId) -> list[SeatChange]:
        """Take a device out of its room.

        Args:
            device_id: The device.

        Returns:
            The leave, or nothing if the device was in no room.
        """
        room_id = self._where.pop(device_id, None)
        if room_id is None:
            return []
        room = self._rooms[room_id]
        seat = room.pop(device_id)
        if not room:
            del self._rooms[room_id]
        return [SeatChange(room_id, seat.participant, VoiceChange.LEFT)]

    def leave_user_room(self, user_id: UserId, room_id: ChannelId) -> list[SeatChange]:
        """Take every device of a user out of one room (the user left the channel).

        Args:
            user_id: The user.
            room_id: The room.

        Returns:
            The leaves.
        """
        devices = [
            d for d, s in self._rooms.get(room_id, {}).items() if s.participant.user_id == user_id
        ]
        return [change for device_id in devices for change in self.leave(device_id)]

    def close_room(self, room_id: ChannelId) -> list[SeatChange]:
        """Empty a room (its channel was deleted).

        Args:
            room_id: The room.

        Returns:
            The leaves.
        """
        devices = list(self._rooms.get(room_id, ()))
        return [change for device_id in devices for change in self.leave(device_id)]

    def drop_replica(self, replica_id: str) -> list[SeatChange]:
        """Take out every device connected to a replica that is gone.

        Args:
            replica_id: The replica.

        Returns:
            The leaves.
        """
        devices = [
            device_id
            for room in self._rooms.values()
            for device_id, seat in room.items()
            if seat.replica_id == replica_id
        ]
        return [change for device_id in devices for change in self.leave(device_id)]

    def held_by(self, replica_id: str) -> list[tuple[ChannelId, VoiceParticipant]]:
        """Return the (room, participant) pairs connected to one replica (for snapshots)."""
        return [
            (room_id, seat.participant)
            for room_id, room in self._rooms.items()
            for seat in room.values()
            if seat.replica_id == replica_id
        ]
