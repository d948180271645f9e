"""The voice relay: an IPC client of ``dialtone-voiced`` and the signaling bridge to the server.

The daemon holds no keys and no server credentials. This relay:

- talks to it over its Unix socket (NDJSON, dialtone.wire.ipc types), reconnecting when it goes
  away (a missing or crashed daemon is an event, never an exception in the UI's face);
- hands it the STUN/TURN configuration (short-lived TURN credentials from the server), renewed
  during a call before they expire (dialtone.client.core.ice);
- signs the daemon's outgoing offers and answers with this device's Ed25519 key before they go to
  the server, and sends them only to devices this client trusts;
- verifies incoming offers and answers against the sender's trusted device key and refuses the
  ones that do not verify (`SignalingRefused`): a server that rewrites an SDP to swap the DTLS
  fingerprint and sit in the middle of the call is caught here;
- forwards rosters and ICE candidates both ways (candidates need no signature: the DTLS
  fingerprint in the signed SDP authenticates the media whatever path it takes).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from dialtone.client.core.errors import VoiceJoinError, VoiceUnavailableError
from dialtone.client.core.events import (
    ClientEvent,
    Error,
    Notice,
    SignalingRefused,
    Speaking,
    VoiceDaemonState,
    VoiceLevel,
    VoiceMembers,
    VoiceMemberView,
    VoiceRoster,
    VoiceState,
)
from dialtone.client.core.ice import IceGrant, IceRenewal, IceSource
from dialtone.client.core.sealing import SignalKind, sign_signal, verify_signal
from dialtone.crypto import DeviceIdentity, PublicBundle
from dialtone.wire import PROTOCOL_VERSION, Codec, ProtocolError, ipc
from dialtone.wire import ws as wire_ws
from dialtone.wire.common import VoiceParticipant

__all__ = ["VoiceRelay"]

log = logging.getLogger(__name__)

_READ_CHUNK = 64 * 1024
_RETRY_MIN_S = 0.5
_RETRY_MAX_S = 10.0
# Opening the audio devices and the room takes the daemon well under a second; past this, the
# join is given up rather than shown as joined.
_JOIN_TIMEOUT_S = 15.0

SendWs = Callable[[wire_ws.ClientEvent], Awaitable[bool]]
LookupBundle = Callable[[str, str], Awaitable[PublicBundle | None]]


class VoiceRelay:
    """The bridge between the voice daemon and the server, for one logged-in device.

    Args:
        codec: The wire codec.
        identity: This device's keys (signs offers and answers).
        user_id: Our user.
        device_id: This device's server id.
        client_name: Sent in ``identify``.
        send_ws: Sends a WebSocket event (False when offline).
        emit: Emits a core event.
        lookup_bundle: The trusted bundle of a (user, device), None if not trusted.
        ice_servers: Fetches the ICE servers with fresh TURN credentials (never raises: a
            failure is the grant's `problem`).
        display_name: A user's display name.
        relay_only: Ask the daemon for TURN relays only.
    """

    def __init__(
        self,
        codec: Codec,
        *,
        identity: DeviceIdentity,
        user_id: str,
        device_id: str,
        client_name: str,
        send_ws: SendWs,
        emit: Callable[[ClientEvent], None],
        lookup_bundle: LookupBundle,
        ice_servers: IceSource,
        display_name: Callable[[str], str],
        relay_only: bool = False,
    ) -> None:
        self._codec = codec
        self._identity = identity
        self._user_id = user_id
        self._device_id = device_id
        self._client_name = client_name
        self._send_ws = send_ws
        self._emit = emit
        self._lookup = lookup_bundle
        self._display_name = display_name
        self._relay_only = relay_only
        self._writer: asyncio.StreamWriter | None = None
        self._ready = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_reason = ""
        self._rosters: dict[str, dict[str, VoiceParticipant]] = {}
        self.ice = IceRenewal(ice_servers, hand_over=self._hand_ice_over, emit=emit)
        """The ICE servers handed to the daemon, renewed during a call."""
        self._daemon_joining: asyncio.Future[None] | None = None
        self._server_joining: str | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.join_timeout = _JOIN_TIMEOUT_S
        """Seconds the daemon may take to open a room before the join is given up."""
        self.channel_id: str | None = None
        """The voice room we are in, if any."""
        self.connected = False
        """Whether the daemon reports the room's audio running."""
        self.muted = False
        self.deafened = False
        self.ptt_backend: str | None = None

    # --- daemon connection ---------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """Whether the daemon is connected and identified."""
        return self._writer is not None and self._ready

    async def attach(self, path: Path) -> None:
        """Connect to the daemon at `path` and keep reconnecting until `detach`.

        Returns after the first attempt (check `available`).
        """
        if self._task is not None and not self._task.done():
            return
        self._stopping = False
        first = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._run(path, first), name="dialtone-voiced-ipc"
        )
        waiter = asyncio.ensure_future(first.wait())
        await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()

    async def detach(self) -> None:
        """Leave the voice room and disconnect from the daemon."""
        if self.channel_id is not None:
            await self.leave()
        self._stopping = True
        writer = self._writer
        if writer is not None:
            writer.close()
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        await self.ice.stop()
        for background in list(self._background):
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background

    async def _run(self, path: Path, first: asyncio.Event) -> None:
        delay = _RETRY_MIN_S
        while not self._stopping:
            try:
                reader, writer = await asyncio.open_unix_connection(str(path))
            except OSError as exc:
                self._unavailable(f"no voice daemon at {path} ({exc.strerror or exc})")
                first.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            delay = _RETRY_MIN_S
            self._writer = writer
            try:
                await self._command(
                    ipc.Identify(
                        protocol_version=PROTOCOL_VERSION,
                        user_id=self._user_id,
                        device_id=self._device_id,
                        client=self._client_name,
                    )
                )
                await self._read(reader, first)
            except (ConnectionError, OSError) as exc:
                log.info("voice daemon connection lost: %s", exc)
            finally:
                self._writer = None
                self._ready = False
                writer.close()
                first.set()
            if not self._stopping:
                self._unavailable("the voice daemon went away; reconnecting")
                await asyncio.sleep(delay)

    def _unavailable(self, reason: str) -> None:
        self._daemon_join_failed(reason)
        if reason != self._last_reason:
            self._last_reason = reason
            self._emit(VoiceDaemonState(available=False, reason=reason))
        if self.connected:
            self.connected = False
            self._emit_state()

    async def _read(self, reader: asyncio.StreamReader, first: asyncio.Event) -> None:
        splitter = ipc.LineSplitter()
        while True:
            chunk = await reader.read(_READ_CHUNK)
            if not chunk:
                return
            for line in splitter.feed(chunk):
                if isinstance(line, ProtocolError):
                    log.warning("voice daemon sent an oversize line")
                    continue
                try:
                    event = self._codec.decode_ipc_event(line)
                except ProtocolError as exc:
                    log.warning("voice daemon sent a line the protocol does not allow: %s", exc)
                    continue
                await self._on_daemon(event)
                if isinstance(event, ipc.DaemonReady):
                    first.set()

    async def _command(self, command: ipc.IpcCommand) -> None:
        writer = self._writer
        if writer is None:
            raise VoiceUnavailableError("the voice daemon is not connected")
        writer.write(self._codec.encode_ipc(command))
        await writer.drain()

    async def _try_command(self, command: ipc.IpcCommand) -> bool:
        try:
            await self._command(command)
        except (VoiceUnavailableError, ConnectionError, OSError):
            return False
        return True

    # --- daemon -> us --------------------------------------------------------------------------

    async def _on_daemon(self, event: ipc.IpcEvent) -> None:
        if isinstance(event, ipc.DaemonReady):
            await self._on_ready(event)
        elif isinstance(event, ipc.PeerOffer):
            await self._outgoing(SignalKind.OFFER, event)
        elif isinstance(event, ipc.PeerAnswer):
            await self._outgoing(SignalKind.ANSWER, event)
        elif isinstance(event, ipc.PeerIce):
            await self._send_ws(
                wire_ws.WebRtcIce(
                    channel_id=event.channel_id,
                    call_id=event.call_id,
                    to_device_id=event.peer_device_id,
                    candidate=event.candidate,
                    sdp_mid=event.sdp_mid,
                    sdp_mline_index=event.sdp_mline_index,
                )
            )
        elif isinstance(event, ipc.VoiceConnected):
            self.connected = event.channel_id == self.channel_id
            joining = self._daemon_joining
            if self.connected and joining is not None and not joining.done():
                joining.set_result(None)
            self._emit_state()
        elif isinstance(event, ipc.VoiceDisconnected):
            self.connected = False
            self._emit(Notice(text=f"voice disconnected: {event.reason}"))
            self._emit_state()
        elif isinstance(event, ipc.VoiceMembers):
            self._emit(VoiceMembers(channel_id=event.channel_id, members=self._members(event)))
        elif isinstance(event, ipc.Speaking):
            self._emit(
                Speaking(user_id=event.user_id, device_id=event.device_id, speaking=event.speaking)
            )
        elif isinstance(event, ipc.Level):
            self._emit(
                VoiceLevel(
                    rms_dbfs=event.rms_dbfs,
                    peak_dbfs=event.peak_dbfs,
                    transmitting=event.transmitting,
                )
            )
        elif isinstance(event, ipc.DaemonError) and not self._daemon_join_failed(event.message):
            # (An error during a join is the join's failure, reported by `join` itself.)
            self._emit(Error(text=f"voice: {event.message}", code=event.code))

    async def _on_ready(self, ready: ipc.DaemonReady) -> None:
        self._ready = True
        self.ptt_backend = ready.ptt_backend
        self._last_reason = ""
        self._emit(
            VoiceDaemonState(
                available=True,
                reason=f"push-to-talk: {ready.ptt_backend} ({ready.ptt_reason})",
                ptt_backend=ready.ptt_backend,
            )
        )
        if self.channel_id is not None and ready.channel_id != self.channel_id:
            # The daemon restarted while we were in a room: bring it back in. Its answer comes
            # through this very reader, so it is not awaited here.
            channel_id = self.channel_id
            joining = self._daemon_joining = asyncio.get_running_loop().create_future()
            joining.add_done_callback(functools.partial(self._rejoin_done, channel_id))
            try:
                await self._daemon_join(channel_id)
            except (VoiceUnavailableError, ConnectionError, OSError) as exc:
                self._daemon_join_failed(str(exc))
                return
            roster = self._rosters.get(self.channel_id)
            if roster is not None:
                await self._try_command(
                    ipc.VoiceRosterCommand(
                        channel_id=self.channel_id, participants=tuple(roster.values())
                    )
                )
        elif ready.channel_id is not None and ready.channel_id == self.channel_id:
            self.connected = True
            self._emit_state()

    def _members(self, event: ipc.VoiceMembers) -> tuple[VoiceMemberView, ...]:
        roster = self._rosters.get(event.channel_id, {})
        views = []
        for member in event.members:
            participant = roster.get(member.device_id)
            views.append(
                VoiceMemberView(
                    user_id=member.user_id,
                    device_id=member.device_id,
                    display_name=self._display_name(member.user_id),
                    muted=participant.muted if participant else False,
                    deafened=participant.deafened if participant else False,
                    speaking=member.speaking,
                    state=str(member.state),
                )
            )
        return tuple(views)

    async def _outgoing(self, kind: SignalKind, event: ipc.PeerOffer | ipc.PeerAnswer) -> None:
        if await self._lookup(event.peer_user_id, event.peer_device_id) is None:
            self._emit(
                SignalingRefused(
                    channel_id=event.channel_id,
                    from_user_id=self._user_id,
                    from_device_id=self._device_id,
                    kind=kind.value,
                    reason=(
                        f"not sending an {kind.value} to device {event.peer_device_id[:8]} of "
                        f"{self._display_name(event.peer_user_id)}: it is not a trusted device"
                    ),
                )
            )
            return
        signature = sign_signal(
            self._identity,
            kind,
            channel_id=event.channel_id,
            call_id=event.call_id,
            from_device_id=self._device_id,
            to_device_id=event.peer_device_id,
            sdp=event.sdp,
        )
        frame: wire_ws.ClientEvent
        if kind is SignalKind.OFFER:
            frame = wire_ws.WebRtcOffer(
                channel_id=event.channel_id,
                call_id=event.call_id,
                to_device_id=event.peer_device_id,
                sdp=event.sdp,
                signature=signature,
            )
        else:
            frame = wire_ws.WebRtcAnswer(
                channel_id=event.channel_id,
                call_id=event.call_id,
                to_device_id=event.peer_device_id,
                sdp=event.sdp,
                signature=signature,
            )
        if not await self._send_ws(frame):
            self._emit(Notice(text=f"voice: offline, the {kind.value} could not be sent"))

    # --- server -> us --------------------------------------------------------------------------

    async def handle_ws(self, event: wire_ws.ServerEvent) -> bool:
        """Take a voice event from the server.

        Args:
            event: Any server event.

        Returns:
            Whether it was a voice event (handled here).
        """
        if isinstance(event, wire_ws.VoiceRoster):
            if event.channel_id == self._server_joining:
                self._server_joining = None
            self._rosters[event.channel_id] = {p.device_id: p for p in event.participants}
            await self._roster_changed(event.channel_id)
        elif isinstance(event, wire_ws.VoicePresence):
            roster = self._rosters.setdefault(event.channel_id, {})
            participant = event.participant
            if event.change is wire_ws.VoiceChange.LEFT:
                roster.pop(participant.device_id, None)
            else:
                roster[participant.device_id] = participant
            await self._roster_changed(event.channel_id)
        elif isinstance(event, wire_ws.WebRtcOfferRelayed):
            await self._incoming(SignalKind.OFFER, event)
        elif isinstance(event, wire_ws.WebRtcAnswerRelayed):
            await self._incoming(SignalKind.ANSWER, event)
        elif isinstance(event, wire_ws.WebRtcIceRelayed):
            if event.channel_id == self.channel_id:
                await self._try_command(
                    ipc.PeerIce(
                        channel_id=event.channel_id,
                        call_id=event.call_id,
                        peer_user_id=event.from_user_id,
                        peer_device_id=event.from_device_id,
                        candidate=event.candidate,
                        sdp_mid=event.sdp_mid,
                        sdp_mline_index=event.sdp_mline_index,
                    )
                )
        else:
            return False
        return True

    async def _roster_changed(self, channel_id: str) -> None:
        roster = self._rosters.get(channel_id, {})
        self._emit(
            VoiceRoster(
                channel_id=channel_id,
                members=tuple(
                    VoiceMemberView(
                        user_id=p.user_id,
                        device_id=p.device_id,
                        display_name=self._display_name(p.user_id),
                        muted=p.muted,
                        deafened=p.deafened,
                    )
                    for p in sorted(roster.values(), key=lambda p: p.joined_at)
                ),
            )
        )
        if channel_id == self.channel_id and self.available:
            await self._try_command(
                ipc.VoiceRosterCommand(channel_id=channel_id, participants=tuple(roster.values()))
            )

    async def _incoming(
        self,
        kind: SignalKind,
        event: wire_ws.WebRtcOfferRelayed | wire_ws.WebRtcAnswerRelayed,
    ) -> None:
        def refuse(reason: str) -> None:
            self._emit(
                SignalingRefused(
                    channel_id=event.channel_id,
                    from_user_id=event.from_user_id,
                    from_device_id=event.from_device_id,
                    kind=kind.value,
                    reason=reason,
                )
            )

        if event.channel_id != self.channel_id:
            refuse(f"an {kind.value} for a voice room we are not in")
            return
        who = self._display_name(event.from_user_id)
        bundle = await self._lookup(event.from_user_id, event.from_device_id)
        if bundle is None:
            refuse(
                f"{kind.value} from {who} refused: device {event.from_device_id[:8]} is not "
                "trusted (verify them with /verify)"
            )
            return
        if not verify_signal(
            bundle,
            event.signature,
            kind,
            channel_id=event.channel_id,
            call_id=event.call_id,
            from_device_id=event.from_device_id,
            to_device_id=self._device_id,
            sdp=event.sdp,
        ):
            refuse(
                f"{kind.value} from {who} refused: its signature does not verify, so it was "
                "altered on the way (for example a swapped DTLS fingerprint); the call to that "
                "device is not set up"
            )
            return
        command: ipc.IpcCommand
        if kind is SignalKind.OFFER:
            command = ipc.PeerOffer(
                channel_id=event.channel_id,
                call_id=event.call_id,
                peer_user_id=event.from_user_id,
                peer_device_id=event.from_device_id,
                sdp=event.sdp,
            )
        else:
            command = ipc.PeerAnswer(
                channel_id=event.channel_id,
                call_id=event.call_id,
                peer_user_id=event.from_user_id,
                peer_device_id=event.from_device_id,
                sdp=event.sdp,
            )
        if not await self._try_command(command):
            self._emit(Notice(text=f"voice: the daemon is gone, the {kind.value} was not used"))

    # --- commands ------------------------------------------------------------------------------

    async def _daemon_join(self, channel_id: str) -> None:
        grant = self.ice.grant or await self.ice.fetch()
        await self._command(self._ice_config(grant))
        await self._command(
            ipc.VoiceJoinCommand(channel_id=channel_id, muted=self.muted, deafened=self.deafened)
        )

    async def join(self, channel_id: str) -> None:
        """Join a channel's voice room: the daemon opens the audio devices and the room, then
        the server lists us in it. A failure on the daemon's side (no audio device, TURN
        needed but missing, no answer in time) leaves us in no room, on either side.

        Raises:
            VoiceUnavailableError: The daemon is not connected.
            VoiceJoinError: The daemon could not open the room (its reason is in the message).
        """
        if not self.available:
            raise VoiceUnavailableError(self._last_reason or "the voice daemon is not connected")
        if self.channel_id is not None and self.channel_id != channel_id:
            await self.leave()
        grant = await self.ice.fetch()
        if grant.problem is not None:
            self._emit(Notice(text=f"voice: no TURN credentials from the server ({grant.problem})"))
        self.channel_id = channel_id
        self.connected = False
        joining = self._daemon_joining = asyncio.get_running_loop().create_future()
        try:
            # The daemon first: only once it has the audio devices and the room open does the
            # server list us in the room, so a failure leaves no trace on either side.
            await self._daemon_join(channel_id)
            await asyncio.wait_for(asyncio.shield(joining), self.join_timeout)
        except TimeoutError:  # before OSError, of which it is a subclass
            await self._abandon_join(channel_id)
            raise VoiceJoinError(
                f"could not join the voice room: the voice daemon did not open it within "
                f"{self.join_timeout:g} s"
            ) from None
        except (VoiceJoinError, VoiceUnavailableError, ConnectionError, OSError) as exc:
            await self._abandon_join(channel_id)
            raise VoiceJoinError(f"could not join the voice room: {exc}") from exc
        finally:
            if self._daemon_joining is joining:
                self._daemon_joining = None
            if not joining.done():
                joining.cancel()
            elif not joining.cancelled():
                joining.exception()  # seen: it was raised above, or the join had failed anyway
        if await self._send_ws(
            wire_ws.VoiceJoin(channel_id=channel_id, muted=self.muted, deafened=self.deafened)
        ):
            self._server_joining = channel_id
        self.ice.renew_after(grant)
        self._emit_state()

    def _rejoin_done(self, channel_id: str, joining: asyncio.Future[None]) -> None:
        if self._daemon_joining is joining:
            self._daemon_joining = None
        if joining.cancelled() or joining.exception() is None:
            return

        async def give_up() -> None:
            await self._abandon_join(channel_id)
            self._emit(
                Error(
                    text=f"voice: the restarted voice daemon could not rejoin the room: "
                    f"{joining.exception()}"
                )
            )

        task = asyncio.get_running_loop().create_task(give_up(), name="dialtone-voice-rejoin")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _daemon_join_failed(self, reason: str) -> bool:
        """Fail a join the daemon has not confirmed yet; whether there was one."""
        joining = self._daemon_joining
        if joining is None or joining.done():
            return False
        joining.set_exception(VoiceJoinError(reason))
        return True

    async def _abandon_join(self, channel_id: str) -> None:
        """Undo a join that failed: nothing says we are in the room any more."""
        if self.channel_id == channel_id:
            self.channel_id = None
        self.connected = False
        self._server_joining = None
        await self.ice.stop()
        await self._try_command(ipc.VoiceLeaveCommand(channel_id=channel_id))
        # Harmless when the server never listed us: it ignores a leave of a room we are not in.
        await self._send_ws(wire_ws.VoiceLeave(channel_id=channel_id))
        self._emit_state()

    async def server_refused(self, message: str, *, ref: str | None = None) -> bool:
        """The server refused our join of a room (not a member, room full): leave on the
        daemon's side too.

        Args:
            message: The server's explanation.
            ref: The error's ``ref``: the refused room's channel id (None from servers that did
                not send one; the error is then taken to be about the join waiting for an answer).

        Returns:
            Whether the error was about the join waiting for the server.
        """
        channel_id = self._server_joining
        if channel_id is None or (ref is not None and ref != channel_id):
            return False
        await self._abandon_join(channel_id)
        self._emit(Error(text=f"voice: the server refused the voice room: {message}"))
        return True

    async def leave(self) -> None:
        """Leave the voice room (both sides)."""
        self._daemon_join_failed("left before the room was open")
        channel_id = self.channel_id
        if channel_id is None:
            return
        self.channel_id = None
        self.connected = False
        self._server_joining = None
        await self.ice.stop()
        await self._try_command(ipc.VoiceLeaveCommand(channel_id=channel_id))
        await self._send_ws(wire_ws.VoiceLeave(channel_id=channel_id))
        self._emit_state()

    async def set_muted(self, muted: bool) -> None:
        """Mute or unmute the microphone."""
        self.muted = muted
        await self._try_command(ipc.Mute() if muted else ipc.Unmute())
        await self._announce()

    async def set_deafened(self, deafened: bool) -> None:
        """Deafen or undeafen."""
        self.deafened = deafened
        await self._try_command(ipc.Deafen() if deafened else ipc.Undeafen())
        await self._announce()

    async def rejoin_server(self) -> None:
        """After a WebSocket reconnect: join the server's voice room again (rooms are per
        connection on the server), and renew the TURN credentials at once (a renewal may have
        failed while the server was away)."""
        if self.channel_id is None:
            return
        if await self._send_ws(
            wire_ws.VoiceJoin(channel_id=self.channel_id, muted=self.muted, deafened=self.deafened)
        ):
            self._server_joining = self.channel_id
        self.ice.renew_now()

    # --- TURN credential renewal ---------------------------------------------------------------

    def _ice_config(self, grant: IceGrant) -> ipc.IceConfig:
        return ipc.IceConfig(ice_servers=grant.servers, relay_only=self._relay_only)

    async def _hand_ice_over(self, grant: IceGrant) -> bool:
        # A daemon away now gets the grant when it comes back (`_daemon_join`).
        return await self._try_command(self._ice_config(grant))

    async def _announce(self) -> None:
        if self.channel_id is not None:
            await self._send_ws(
                wire_ws.VoiceStateSet(
                    channel_id=self.channel_id, muted=self.muted, deafened=self.deafened
                )
            )
        self._emit_state()

    def _emit_state(self) -> None:
        self._emit(
            VoiceState(
                channel_id=self.channel_id,
                connected=self.connected,
                muted=self.muted,
                deafened=self.deafened,
            )
        )
