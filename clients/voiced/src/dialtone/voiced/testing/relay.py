"""An in-test signaling relay between daemons: what the TUIs and the server do together.

Each daemon has an `IpcClient` standing in for its TUI. The relay forwards the offers, answers
and ICE candidates one daemon emits for a peer device to that device's daemon, with the
``peer_*`` fields rewritten to name the sender, exactly as the client core does after the server
relayed and the receiving TUI verified them. A `tamper` hook can rewrite an SDP on the way (a
malicious server) to check what a daemon does with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs

from dialtone.voiced.testing.client import IpcClient
from dialtone.wire.common import IceServer, VoiceParticipant
from dialtone.wire.ipc import (
    IceConfig,
    IpcEvent,
    PeerAnswer,
    PeerIce,
    PeerOffer,
    VoiceConnected,
    VoiceJoinCommand,
    VoiceRosterCommand,
)

__all__ = ["Member", "SignalingRelay"]

Signal = PeerOffer | PeerAnswer | PeerIce


@attrs.define
class Member:
    """One daemon in the relay's room.

    Attributes:
        client: Its IPC connection (identified).
        user_id: Its user.
        device_id: Its device.
        joined_at: When it joined the room (orders who offers to whom).
    """

    client: IpcClient
    user_id: str
    device_id: str
    joined_at: datetime = attrs.field(factory=lambda: datetime.now(UTC))

    def participant(self) -> VoiceParticipant:
        """This member as a roster entry.

        Returns:
            The participant.
        """
        return VoiceParticipant(
            user_id=self.user_id,
            device_id=self.device_id,
            muted=False,
            deafened=False,
            joined_at=self.joined_at,
        )


class SignalingRelay:
    """Relays signaling between the daemons of one voice room.

    Args:
        channel_id: The room.
        tamper: Called with each relayed signal; returns what to deliver (or None to drop it).
    """

    def __init__(
        self, channel_id: str, tamper: Callable[[Signal], Signal | None] | None = None
    ) -> None:
        self.channel_id = channel_id
        self.members: dict[str, Member] = {}
        self.relayed: list[Signal] = []
        """Every signal delivered, as delivered."""
        self._tamper = tamper
        self._base = datetime.now(UTC)

    def add(self, client: IpcClient, user_id: str, device_id: str) -> Member:
        """Put a daemon in the room (joined after the ones added before it).

        Args:
            client: Its identified IPC connection.
            user_id: Its user.
            device_id: Its device.

        Returns:
            The member.
        """
        member = Member(
            client,
            user_id,
            device_id,
            joined_at=self._base + timedelta(seconds=len(self.members)),
        )
        self.members[device_id] = member
        client.listeners.append(lambda event: self._forward(member, event))
        return member

    async def _forward(self, sender: Member, event: IpcEvent) -> None:
        if not isinstance(event, (PeerOffer, PeerAnswer, PeerIce)):
            return
        target = self.members.get(event.peer_device_id)
        if target is None:
            return
        relayed: Signal | None = attrs.evolve(
            event, peer_user_id=sender.user_id, peer_device_id=sender.device_id
        )
        if self._tamper is not None and relayed is not None:
            relayed = self._tamper(relayed)
        if relayed is None:
            return
        self.relayed.append(relayed)
        await target.client.send(relayed)

    def roster(self) -> VoiceRosterCommand:
        """The room's roster command.

        Returns:
            Every member.
        """
        return VoiceRosterCommand(
            channel_id=self.channel_id,
            participants=tuple(m.participant() for m in self.members.values()),
        )

    async def join_all(
        self, ice_servers: tuple[IceServer, ...], *, relay_only: bool = True, within: float = 15.0
    ) -> None:
        """Have every member's daemon join the room, then send everyone the roster.

        Args:
            ice_servers: The ``ice.config`` servers.
            relay_only: Relay-only mode.
            within: Seconds to wait for each ``voice.connected``.
        """
        for member in self.members.values():
            mark = member.client.mark()
            await member.client.send(IceConfig(ice_servers=ice_servers, relay_only=relay_only))
            await member.client.send(VoiceJoinCommand(channel_id=self.channel_id))
            await member.client.wait_for(VoiceConnected, after=mark, within=within)
        roster = self.roster()
        await asyncio.gather(*(m.client.send(roster) for m in self.members.values()))
