"""One WebRTC peer connection to one remote device, and the one object that owns it.

`PeerLink` creates its ``RTCPeerConnection``, negotiates it (as offerer or answerer), receives
the remote audio, reports state changes, and closes it: when told to, when it fails, or when it
does not connect in time. Negotiation steps run one after the other on a per-link worker, so an
ICE candidate never overtakes the offer it belongs to, and a slow step (gathering from an
unreachable TURN server takes seconds) never holds up the daemon's IPC.

aiortc puts every candidate it gathered in the SDP, so the daemon sends no separate ICE
candidates; it does apply the ones a peer trickles.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

import attrs
import av
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp
from aiortc.stats import (
    RTCInboundRtpStreamStats,
    RTCRemoteInboundRtpStreamStats,
    RTCTransportStats,
)

from dialtone.voiced.audio.frames import FRAME_SAMPLES, SAMPLE_RATE, Frame
from dialtone.voiced.errors import (
    IceFailedError,
    PeerNegotiationError,
    TurnUnavailableError,
    VoicedError,
)
from dialtone.voiced.internals import use_pass_through_jitter_buffer
from dialtone.voiced.tracks import OutboundAudioTrack
from dialtone.wire.common import IceServer
from dialtone.wire.ipc import PeerAnswer, PeerOffer, PeerState, PeerStats

__all__ = [
    "CONNECT_TIMEOUT_S",
    "IceSettings",
    "PeerEvents",
    "PeerLink",
    "PeerRole",
    "RemoteDevice",
    "relay_available",
]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S: Final = 20.0
"""A connection that is not up this long after its local description is set counts as failed."""


@attrs.frozen
class RemoteDevice:
    """Who is at the other end.

    Attributes:
        user_id: The remote user.
        device_id: The remote device.
    """

    user_id: str
    device_id: str


@attrs.frozen
class IceSettings:
    """STUN/TURN servers for new peer connections.

    Attributes:
        servers: The servers (from the TUI's ``ice.config``).
        relay_only: Use only TURN relay candidates.
    """

    servers: tuple[IceServer, ...] = ()
    relay_only: bool = False

    @property
    def has_turn(self) -> bool:
        """Whether any server is a TURN server with credentials."""
        return any(
            url.startswith(("turn:", "turns:"))
            for server in self.servers
            if server.username is not None and server.credential is not None
            for url in server.urls
        )

    def configuration(self) -> RTCConfiguration:
        """The aiortc configuration.

        Returns:
            ``RTCConfiguration`` with these servers and, in relay-only mode, the relay policy.
        """
        return RTCConfiguration(
            iceServers=[
                RTCIceServer(
                    urls=list(server.urls),
                    username=server.username,
                    credential=server.credential,
                )
                for server in self.servers
            ],
            iceTransportPolicy=(
                RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
            ),
        )

    def relay_only_configuration(self) -> RTCConfiguration:
        """The aiortc configuration with these servers, relay candidates only.

        Returns:
            ``RTCConfiguration`` with the relay policy.
        """
        return attrs.evolve(self, relay_only=True).configuration()

    def turn_urls(self) -> str:
        """The TURN URLs, for messages.

        Returns:
            Comma-separated URLs, or ``"none"``.
        """
        urls = [url for server in self.servers for url in server.urls if url.startswith("turn")]
        return ", ".join(urls) or "none"


async def relay_available(ice: IceSettings) -> bool:
    """Whether a TURN relay can be allocated with these settings (a throw-away allocation).

    Gathering gives up on a server that does not answer after aioice's 5 s, so this returns
    within about that long.

    Args:
        ice: The settings (their TURN servers and credentials).

    Returns:
        True if a relay candidate was gathered.
    """
    pc = RTCPeerConnection(configuration=ice.relay_only_configuration())
    try:
        pc.addTransceiver("audio", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp: str = pc.localDescription.sdp
        return " typ relay" in sdp
    finally:
        await pc.close()


class PeerRole(enum.Enum):
    """Which side of the negotiation this end is."""

    OFFERER = "offerer"
    ANSWERER = "answerer"


class PeerEvents(Protocol):
    """What a `PeerLink` reports to its owner (the voice room). All calls are in the loop."""

    def signal(self, message: PeerOffer | PeerAnswer) -> None:
        """Send an offer or answer to the remote device (through the TUI)."""

    def state_changed(self, link: PeerLink) -> None:
        """The connection's state changed."""

    def audio(self, link: PeerLink, frame: Frame) -> None:
        """One decoded 20 ms frame from the remote device."""

    def failed(self, link: PeerLink, error: VoicedError) -> None:
        """The link gave up (it is closing itself)."""


def _install_pass_through_jitter(pc: RTCPeerConnection) -> None:
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "audio":
            use_pass_through_jitter_buffer(transceiver.receiver)


def _prefer_opus(pc: RTCPeerConnection) -> None:
    capabilities = RTCRtpSender.getCapabilities("audio")
    opus = [codec for codec in capabilities.codecs if codec.mimeType.lower() == "audio/opus"]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "audio":
            transceiver.setCodecPreferences(opus)


def to_mono_frames(frame: av.AudioFrame) -> list[Frame]:
    """Turn one decoded ``av.AudioFrame`` (s16, mono or stereo) into 20 ms mono frames.

    Args:
        frame: The decoded frame (aiortc's Opus decoder gives 960 stereo samples).

    Returns:
        One frame per 20 ms (the last padded with silence).
    """
    samples: np.ndarray = frame.to_ndarray()
    channels = len(frame.layout.channels)
    flat = samples.reshape(-1)
    mono: Frame = (flat[::channels] if channels > 1 else flat).astype(np.int16, copy=False)
    if mono.size == FRAME_SAMPLES:
        return [mono.copy()]
    frames = []
    for start in range(0, mono.size, FRAME_SAMPLES):
        chunk = mono[start : start + FRAME_SAMPLES]
        if chunk.size < FRAME_SAMPLES:
            chunk = np.concatenate((chunk, np.zeros(FRAME_SAMPLES - chunk.size, np.int16)))
        frames.append(chunk.copy())
    return frames


class PeerLink:
    """The peer connection to one remote device in a voice room.

    Args:
        channel_id: The room.
        remote: The remote user and device.
        call_id: This negotiation's id (the offerer's).
        role: Offerer or answerer.
        ice: STUN/TURN settings.
        events: The owner, told about signals, states, audio and failure.
        connect_timeout: Seconds to wait for the connection to come up.
    """

    def __init__(
        self,
        *,
        channel_id: str,
        remote: RemoteDevice,
        call_id: str,
        role: PeerRole,
        ice: IceSettings,
        events: PeerEvents,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.channel_id = channel_id
        self.remote = remote
        self.call_id = call_id
        self.role = role
        self._ice = ice
        self._events = events
        self._connect_timeout = connect_timeout
        self.track = OutboundAudioTrack()
        self.state = PeerState.NEW
        self.speaking = False
        """Whether the remote device is speaking (set by the owner)."""
        self.answered = role is PeerRole.ANSWERER
        """Offerer: whether the answer was applied. Answerer: always True."""
        self.frames_received = 0
        """Decoded 20 ms frames received."""
        self._pc = RTCPeerConnection(configuration=ice.configuration())
        self._pc.on("connectionstatechange", self._on_connection_state)
        self._pc.on("track", self._on_track)
        self._operations: asyncio.Queue[Callable[[], Awaitable[None]] | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._close_task: asyncio.Task[None] | None = None
        self._spawn(self._work(), "negotiation")

    # --- public operations (queued, in order) ------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether `close` was called (or the link closed itself)."""
        return self._closed

    def start_offer(self) -> None:
        """Create the offer and signal it (offerer)."""
        self._enqueue(self._offer)

    def accept_offer(self, sdp: str) -> None:
        """Apply the remote offer, answer it and signal the answer (answerer).

        Args:
            sdp: The offer.
        """
        self._enqueue(lambda: self._answer(sdp))

    def accept_answer(self, sdp: str) -> None:
        """Apply the remote answer (offerer).

        Args:
            sdp: The answer.
        """
        self._enqueue(lambda: self._apply_answer(sdp))

    def add_candidate(
        self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        """Apply a trickled ICE candidate.

        Args:
            candidate: The candidate line (``candidate:...``); empty at the end of candidates.
            sdp_mid: Its media stream id.
            sdp_mline_index: Its m-line index.

        Raises:
            PeerNegotiationError: If the line is not an ICE candidate (the link goes on).
        """
        text = candidate.strip()
        if not text:
            return
        text = text.removeprefix("a=").removeprefix("candidate:")
        try:
            parsed = candidate_from_sdp(text)
        except (ValueError, IndexError) as exc:
            raise PeerNegotiationError(
                f"malformed ICE candidate from device {self.remote.device_id[:8]} ignored "
                f"({type(exc).__name__}): {candidate[:80]!r}"
            ) from None
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        self._enqueue(lambda: self._add_candidate(parsed))

    async def _add_candidate(self, candidate: RTCIceCandidate) -> None:
        try:
            await self._pc.addIceCandidate(candidate)
        except Exception as exc:
            # One candidate aiortc cannot use (an unknown m-line...) is no reason to drop a call.
            log.info("peer %s: candidate ignored: %s", self.remote.device_id, exc)

    def _enqueue(self, operation: Callable[[], Awaitable[None]]) -> None:
        if not self._closed:
            self._operations.put_nowait(operation)

    # --- negotiation -------------------------------------------------------------------------

    async def _work(self) -> None:
        while (operation := await self._operations.get()) is not None:
            try:
                await operation()
            except VoicedError as exc:
                self._fail(exc)
                return
            except Exception as exc:
                log.debug("negotiation with %s failed", self.remote.device_id, exc_info=True)
                self._fail(
                    PeerNegotiationError(
                        f"negotiation with device {self.remote.device_id[:8]} failed: "
                        f"{type(exc).__name__}: {exc}"
                    )
                )
                return

    async def _offer(self) -> None:
        self._pc.addTrack(self.track)
        _prefer_opus(self._pc)
        _install_pass_through_jitter(self._pc)
        await self._pc.setLocalDescription(await self._pc.createOffer())
        sdp = self._local_sdp()
        self._arm_connect_timeout()
        self._events.signal(
            PeerOffer(
                channel_id=self.channel_id,
                call_id=self.call_id,
                peer_user_id=self.remote.user_id,
                peer_device_id=self.remote.device_id,
                sdp=sdp,
            )
        )

    async def _answer(self, sdp: str) -> None:
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        self._pc.addTrack(self.track)
        _prefer_opus(self._pc)
        _install_pass_through_jitter(self._pc)
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        answer = self._local_sdp()
        self._arm_connect_timeout()
        self._events.signal(
            PeerAnswer(
                channel_id=self.channel_id,
                call_id=self.call_id,
                peer_user_id=self.remote.user_id,
                peer_device_id=self.remote.device_id,
                sdp=answer,
            )
        )

    async def _apply_answer(self, sdp: str) -> None:
        if self.answered:
            log.debug("ignoring a second answer from %s", self.remote.device_id)
            return
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        self.answered = True

    def _local_sdp(self) -> str:
        description = self._pc.localDescription
        sdp: str = description.sdp
        if self._ice.relay_only and " typ relay" not in sdp:
            raise TurnUnavailableError(
                "relay-only mode: no TURN relay could be allocated "
                f"(servers: {self._ice.turn_urls()}; unreachable, or the credentials were "
                "refused)"
            )
        return sdp

    def _arm_connect_timeout(self) -> None:
        self._spawn(self._connect_watchdog(), "connect watchdog")

    async def _connect_watchdog(self) -> None:
        await asyncio.sleep(self._connect_timeout)
        if self.state is not PeerState.CONNECTED and not self._closed:
            hint = " (relay-only: is the TURN server reachable?)" if self._ice.relay_only else ""
            self._fail(
                IceFailedError(
                    f"no connection to device {self.remote.device_id[:8]} after "
                    f"{self._connect_timeout:g} s{hint}"
                )
            )

    # --- aiortc events -----------------------------------------------------------------------

    def _on_connection_state(self) -> None:
        try:
            state = PeerState(self._pc.connectionState)
        except ValueError:
            return
        if self._closed and state is not PeerState.CLOSED:
            return
        self.state = state
        self._events.state_changed(self)
        if state is PeerState.FAILED:
            self._fail(
                IceFailedError(f"the connection to device {self.remote.device_id[:8]} failed")
            )

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._receive(track), "receive")

    async def _receive(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            for mono in to_mono_frames(frame):
                self.frames_received += 1
                self._events.audio(self, mono)

    # --- lifecycle ---------------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[None], what: str) -> None:
        task = asyncio.ensure_future(coroutine)
        task.set_name(f"peer {self.remote.device_id[:8]}: {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fail(self, error: VoicedError) -> None:
        if self._closed:
            return
        log.info("peer %s: %s", self.remote.device_id, error.message)
        self.state = PeerState.FAILED
        self._events.failed(self, error)
        self._close_task = asyncio.ensure_future(self.close())

    async def close(self) -> None:
        """Close the connection and stop its tasks; safe to call more than once."""
        if self._closed:
            if self._close_task is not None and self._close_task is not asyncio.current_task():
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._close_task)
            return
        self._closed = True
        self._operations.put_nowait(None)
        self.track.stop()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        try:
            await self._pc.close()
        except Exception:
            log.debug("closing the connection to %s", self.remote.device_id, exc_info=True)
        pending = [task for task in self._tasks if task is not current]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self.state is not PeerState.FAILED:
            self.state = PeerState.CLOSED

    async def stats(self) -> PeerStats:
        """The connection's counters.

        Returns:
            Round-trip time, jitter, losses and bytes, as far as measured.
        """
        rtt_ms: float | None = None
        jitter_ms: float | None = None
        lost = 0
        sent = 0
        received = 0
        if not self._closed:
            try:
                items = list((await self._pc.getStats()).values())
            except Exception:
                items = []
            for item in items:
                if isinstance(item, RTCRemoteInboundRtpStreamStats):
                    rtt_ms = max(0.0, item.roundTripTime * 1000.0)
                elif isinstance(item, RTCInboundRtpStreamStats):
                    jitter_ms = max(0.0, item.jitter * 1000.0 / SAMPLE_RATE)
                    lost += max(0, item.packetsLost)
                elif isinstance(item, RTCTransportStats):
                    sent += item.bytesSent
                    received += item.bytesReceived
        return PeerStats(
            user_id=self.remote.user_id,
            device_id=self.remote.device_id,
            state=self.state,
            rtt_ms=rtt_ms,
            jitter_ms=jitter_ms,
            packets_lost=lost,
            bytes_sent=sent,
            bytes_received=received,
            send_dropped=self.track.dropped,
        )
