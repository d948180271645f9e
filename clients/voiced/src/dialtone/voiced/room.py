"""The mesh of a voice room: one `PeerLink` per remote device, who offers to whom, rejoins.

Who offers: the device that joined the room later offers to each device that joined before it
(ordered by ``joined_at``, then device id), so two devices never both offer. If both do anyway
(their rosters disagreed for a moment) the offer of the device with the smaller id wins.

Rejoin: when a link fails it is closed and reported; if the device is still in the room, the
side that offers opens a new link (a fresh call id) after a back-off of 1, 2, 4... up to 30 s.
The other side waits for that offer, and offers itself after a few seconds more if none comes, so
a failure only one side noticed still heals.

Waiting is bounded too: a device this side waits for an offer from (it joined later) that has
sent none within the connect timeout and that grace -- its TURN server unreachable, its offers
lost -- is
reported (``ice_failed``, the member ``failed``), and this side offers itself. No member stays
``new`` without a word.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Final, Protocol

from dialtone.voiced.audio.frames import Frame
from dialtone.voiced.audio.mixer import Mixer
from dialtone.voiced.audio.opus import OpusPacket
from dialtone.voiced.audio.vad import SpeakingDetector
from dialtone.voiced.errors import IceFailedError, NotInVoiceError, VoicedError
from dialtone.voiced.peer import (
    CONNECT_TIMEOUT_S,
    IceSettings,
    PeerLink,
    PeerRole,
    RemoteDevice,
)
from dialtone.wire.common import VoiceParticipant
from dialtone.wire.ipc import (
    PeerAnswer,
    PeerIce,
    PeerOffer,
    PeerState,
    PeerStats,
    Speaking,
    VoiceMember,
    VoiceMembers,
)

__all__ = ["RoomEvents", "VoiceRoom"]

log = logging.getLogger(__name__)

_REJOIN_FIRST_S: Final = 1.0
_REJOIN_MAX_S: Final = 30.0
_ANSWERER_GRACE_S: Final = 5.0
# A speaker whose audio stops without a trailing silence (connection lost, packets dropped) is
# marked silent after this long; normally the sender's silence tail ends it sooner.
_SPEAKING_TIMEOUT_S: Final = 0.6


class RoomEvents(Protocol):
    """What the room reports to the daemon (in the loop)."""

    def signal(self, message: PeerOffer | PeerAnswer) -> None:
        """An offer or answer for the TUI to sign and relay."""

    def event(self, message: VoiceMembers | Speaking) -> None:
        """A state event for every connected TUI."""

    def error(self, error: VoicedError) -> None:
        """A failure to report (the room goes on)."""


class VoiceRoom:
    """The peer connections of one voice room.

    Args:
        channel_id: The room.
        local: This device.
        ice: STUN/TURN settings for new links.
        events: Where signals, state events and errors go.
        mixer: Where remote audio goes (unless deafened).
        vad_aggressiveness: For remote speaking detection.
        connect_timeout: Seconds a link may take to connect.
        new_call_id: Makes call ids (injectable for tests).
    """

    def __init__(
        self,
        *,
        channel_id: str,
        local: RemoteDevice,
        ice: IceSettings,
        events: RoomEvents,
        mixer: Mixer,
        vad_aggressiveness: int = 2,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        new_call_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.channel_id = channel_id
        self.local = local
        self.ice = ice
        self._events = events
        self._mixer = mixer
        self._vad_aggressiveness = vad_aggressiveness
        self._connect_timeout = connect_timeout
        self._new_call_id = new_call_id
        self.deafened = False
        self._participants: dict[str, VoiceParticipant] = {}
        self._local_participant: VoiceParticipant | None = None
        self._links: dict[str, PeerLink] = {}
        self._detectors: dict[str, SpeakingDetector] = {}
        self._backoff: dict[str, float] = {}
        self._rejoins: dict[str, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._last_audio: dict[str, float] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False

    # --- roster ------------------------------------------------------------------------------

    @property
    def _offer_wait(self) -> float:
        # As long as the offering side may take to give up on a link, and the grace after.
        return self._connect_timeout + _ANSWERER_GRACE_S

    @property
    def links(self) -> dict[str, PeerLink]:
        """The open links by remote device id (a copy)."""
        return dict(self._links)

    def update_roster(self, participants: tuple[VoiceParticipant, ...]) -> None:
        """Take the room's participants: connect to new ones, drop the ones who left.

        Args:
            participants: Everyone in the room, this device included.
        """
        if self._closed:
            return
        self._local_participant = next(
            (p for p in participants if p.device_id == self.local.device_id), None
        )
        remote = {p.device_id: p for p in participants if p.device_id != self.local.device_id}
        for device_id in set(self._participants) - set(remote):
            self._forget(device_id)
        self._participants = remote
        for device_id, participant in remote.items():
            if device_id in self._links:
                continue
            if self._we_offer(participant):
                self._open_offer(participant)
            elif device_id not in self._rejoins:
                self._await_offer(device_id)
        self._emit_members()

    def _we_offer(self, participant: VoiceParticipant) -> bool:
        local = self._local_participant
        if local is None:
            # Not in the roster yet: we are the newcomer.
            return True
        return (participant.joined_at, participant.device_id) < (local.joined_at, local.device_id)

    def _await_offer(self, device_id: str) -> None:
        loop = asyncio.get_running_loop()
        self._rejoins[device_id] = loop.call_later(self._offer_wait, self._no_offer, device_id)

    def _no_offer(self, device_id: str) -> None:
        # The device that should offer has not: say so, and offer ourselves.
        self._rejoins.pop(device_id, None)
        participant = self._participants.get(device_id)
        if self._closed or participant is None or device_id in self._links:
            return
        hint = " (relay-only: is the TURN server reachable?)" if self.ice.relay_only else ""
        self._events.error(
            IceFailedError(
                f"no offer from device {device_id[:8]} within {self._offer_wait:g} s"
                f"{hint}; offering to it instead"
            )
        )
        self._emit_members(failed=RemoteDevice(participant.user_id, device_id))
        self._open_offer(participant)
        self._emit_members()

    def _forget(self, device_id: str) -> None:
        handle = self._rejoins.pop(device_id, None)
        if handle is not None:
            handle.cancel()
        self._backoff.pop(device_id, None)
        link = self._links.pop(device_id, None)
        if link is not None:
            self._close_later(link)
            self._drop_audio(link)

    def _drop_audio(self, link: PeerLink) -> None:
        device_id = link.remote.device_id
        self._mixer.remove(device_id)
        self._detectors.pop(device_id, None)
        if link.speaking:
            link.speaking = False
            self._events.event(
                Speaking(user_id=link.remote.user_id, device_id=device_id, speaking=False)
            )

    # --- links -------------------------------------------------------------------------------

    def _new_link(self, remote: RemoteDevice, call_id: str, role: PeerRole) -> PeerLink:
        link = PeerLink(
            channel_id=self.channel_id,
            remote=remote,
            call_id=call_id,
            role=role,
            ice=self.ice,
            events=self,
            connect_timeout=self._connect_timeout,
        )
        self._links[remote.device_id] = link
        self._detectors[remote.device_id] = SpeakingDetector(self._vad_aggressiveness)
        return link

    def _open_offer(self, participant: VoiceParticipant) -> None:
        remote = RemoteDevice(participant.user_id, participant.device_id)
        link = self._new_link(remote, self._new_call_id(), PeerRole.OFFERER)
        link.start_offer()

    def _replace(self, device_id: str) -> None:
        old = self._links.pop(device_id, None)
        if old is not None:
            self._close_later(old)
            self._drop_audio(old)

    def _close_later(self, link: PeerLink) -> None:
        task = asyncio.ensure_future(link.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def on_offer(self, offer: PeerOffer) -> None:
        """A verified offer from a remote device: answer it (a new call replaces an old one).

        Args:
            offer: The offer.

        Raises:
            NotInVoiceError: If it is for another room.
        """
        self._check_channel(offer.channel_id)
        existing = self._links.get(offer.peer_device_id)
        if existing is not None:
            if existing.call_id == offer.call_id:
                log.debug("duplicate offer %s ignored", offer.call_id)
                return
            glare = existing.role is PeerRole.OFFERER and not existing.answered
            if glare and self.local.device_id < offer.peer_device_id:
                log.info("both offered to each other: ours (smaller device id) wins")
                return
            self._replace(offer.peer_device_id)
        handle = self._rejoins.pop(offer.peer_device_id, None)
        if handle is not None:
            handle.cancel()
        remote = RemoteDevice(offer.peer_user_id, offer.peer_device_id)
        link = self._new_link(remote, offer.call_id, PeerRole.ANSWERER)
        link.accept_offer(offer.sdp)
        self._emit_members()

    def on_answer(self, answer: PeerAnswer) -> None:
        """A verified answer to one of our offers.

        Args:
            answer: The answer.

        Raises:
            NotInVoiceError: If it is for another room.
        """
        self._check_channel(answer.channel_id)
        link = self._links.get(answer.peer_device_id)
        if link is None or link.call_id != answer.call_id or link.role is not PeerRole.OFFERER:
            log.info("answer for an old or unknown call %s ignored", answer.call_id)
            return
        link.accept_answer(answer.sdp)

    def on_ice(self, ice: PeerIce) -> None:
        """A trickled ICE candidate.

        Args:
            ice: The candidate.

        Raises:
            NotInVoiceError: If it is for another room.
            PeerNegotiationError: If the candidate line does not parse.
        """
        self._check_channel(ice.channel_id)
        link = self._links.get(ice.peer_device_id)
        if link is None or link.call_id != ice.call_id:
            log.debug("candidate for an old or unknown call %s ignored", ice.call_id)
            return
        link.add_candidate(ice.candidate, ice.sdp_mid, ice.sdp_mline_index)

    def _check_channel(self, channel_id: str) -> None:
        if channel_id != self.channel_id:
            raise NotInVoiceError(
                f"signaling for voice room {channel_id} while in room {self.channel_id}"
            )

    # --- PeerEvents --------------------------------------------------------------------------

    def signal(self, message: PeerOffer | PeerAnswer) -> None:
        """Pass a link's offer or answer on (`PeerEvents`)."""
        if not self._closed:
            self._events.signal(message)

    def state_changed(self, link: PeerLink) -> None:
        """Report a link's new state (`PeerEvents`)."""
        if self._links.get(link.remote.device_id) is not link:
            return
        if link.state is PeerState.CONNECTED:
            self._backoff.pop(link.remote.device_id, None)
        self._emit_members()

    def audio(self, link: PeerLink, frame: Frame) -> None:
        """Take one decoded frame of a link (`PeerEvents`)."""
        device_id = link.remote.device_id
        if self._links.get(device_id) is not link:
            return
        detector = self._detectors.get(device_id)
        if detector is not None:
            self._set_speaking(link, detector.update(frame))
        if link.speaking:
            self._last_audio[device_id] = asyncio.get_running_loop().time()
            self._schedule_sweep()
        if not self.deafened:
            self._mixer.push(device_id, frame)

    def _set_speaking(self, link: PeerLink, speaking: bool) -> None:
        if speaking == link.speaking:
            return
        link.speaking = speaking
        remote = link.remote
        self._events.event(
            Speaking(user_id=remote.user_id, device_id=remote.device_id, speaking=speaking)
        )
        self._emit_members()

    def _schedule_sweep(self) -> None:
        if self._sweep is None and not self._closed:
            loop = asyncio.get_running_loop()
            self._sweep = loop.call_later(_SPEAKING_TIMEOUT_S / 2, self._sweep_speaking)

    def _sweep_speaking(self) -> None:
        self._sweep = None
        now = asyncio.get_running_loop().time()
        still = False
        for device_id, link in self._links.items():
            if not link.speaking:
                continue
            if now - self._last_audio.get(device_id, now) > _SPEAKING_TIMEOUT_S:
                detector = self._detectors.get(device_id)
                if detector is not None:
                    detector.reset()
                self._set_speaking(link, False)
            else:
                still = True
        if still:
            self._schedule_sweep()

    def failed(self, link: PeerLink, error: VoicedError) -> None:
        """A link gave up: report it, and plan a rejoin (`PeerEvents`)."""
        device_id = link.remote.device_id
        if self._links.get(device_id) is not link or self._closed:
            return
        self._events.error(error)
        del self._links[device_id]
        self._drop_audio(link)
        self._emit_members(failed=link.remote)
        participant = self._participants.get(device_id)
        if participant is None:
            return
        delay = self._backoff.get(device_id, _REJOIN_FIRST_S)
        self._backoff[device_id] = min(delay * 2, _REJOIN_MAX_S)
        if not self._we_offer(participant):
            delay += _ANSWERER_GRACE_S
        log.info("rejoining device %s in %.1f s", device_id, delay)
        loop = asyncio.get_running_loop()
        previous = self._rejoins.pop(device_id, None)
        if previous is not None:
            previous.cancel()
        self._rejoins[device_id] = loop.call_later(delay, self._rejoin, device_id)

    def _rejoin(self, device_id: str) -> None:
        self._rejoins.pop(device_id, None)
        participant = self._participants.get(device_id)
        if self._closed or participant is None or device_id in self._links:
            return
        self._open_offer(participant)
        self._emit_members()

    # --- audio out, state --------------------------------------------------------------------

    def send(self, packet: OpusPacket) -> None:
        """Give one Opus packet to every link.

        Args:
            packet: The packet (shared, not copied).
        """
        for link in self._links.values():
            if link.state is PeerState.CONNECTED:
                link.track.push(packet)

    @property
    def has_listeners(self) -> bool:
        """Whether any link is connected (worth encoding for)."""
        return any(link.state is PeerState.CONNECTED for link in self._links.values())

    def set_deafened(self, deafened: bool) -> None:
        """Stop (or resume) handing remote audio to the mixer.

        Args:
            deafened: Whether output is deafened.
        """
        self.deafened = deafened
        if deafened:
            self._mixer.clear()

    def members(self, failed: RemoteDevice | None = None) -> VoiceMembers:
        """The remote devices and their states.

        Args:
            failed: A device whose link just failed (or that sent no offer in time), listed as
                ``failed`` unless it has a link again.

        Returns:
            The ``voice.members`` event.
        """
        members: dict[str, VoiceMember] = {}
        for device_id, participant in self._participants.items():
            members[device_id] = VoiceMember(
                user_id=participant.user_id,
                device_id=device_id,
                state=PeerState.NEW,
                speaking=False,
            )
        for device_id, link in self._links.items():
            members[device_id] = VoiceMember(
                user_id=link.remote.user_id,
                device_id=device_id,
                state=link.state,
                speaking=link.speaking,
            )
        if failed is not None and failed.device_id not in self._links:
            members[failed.device_id] = VoiceMember(
                user_id=failed.user_id,
                device_id=failed.device_id,
                state=PeerState.FAILED,
                speaking=False,
            )
        return VoiceMembers(channel_id=self.channel_id, members=tuple(members.values()))

    def _emit_members(self, failed: RemoteDevice | None = None) -> None:
        if not self._closed:
            self._events.event(self.members(failed))

    async def stats(self) -> tuple[PeerStats, ...]:
        """Every link's counters.

        Returns:
            One entry per link.
        """
        links = list(self._links.values())
        return tuple(await asyncio.gather(*(link.stats() for link in links)))

    async def close(self) -> None:
        """Close every link (all at once) and wait for them; safe to call more than once."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for handle in self._rejoins.values():
            handle.cancel()
        self._rejoins.clear()
        links = list(self._links.values())
        self._links.clear()
        for device_id in list(self._detectors):
            self._mixer.remove(device_id)
        self._detectors.clear()
        closing = [link.close() for link in links]
        results = await asyncio.gather(*closing, *self._closing, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.warning("closing a peer connection: %r", result)
