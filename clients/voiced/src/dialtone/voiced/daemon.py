"""The daemon: IPC commands in, voice state and events out.

`VoiceDaemon` is the one owner of the daemon's state -- the connected TUIs, the push-to-talk
backend, the ICE settings and the current `VoiceCall` -- and carries out the TUI's commands:

- ``identify`` is answered with ``ready``, the current state, so a TUI that reconnects learns
  whether a call is up (and, if push-to-talk is unavailable, why, in an ``error``);
- ``voice.join`` opens the audio devices and the room; ``voice.roster`` and the signaling
  commands drive the room's peer connections; ``voice.leave`` closes them;
- the TUI that joined is the call's controller: offers and answers go to it, and when it
  disconnects the call ends, cleanly, as if it had left. State events go to every TUI.

Failures are ``error`` events; the daemon stays up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from dialtone.voiced import __version__
from dialtone.voiced.call import VoiceCall
from dialtone.voiced.config import DaemonConfig
from dialtone.voiced.errors import (
    NotIdentifiedError,
    NotInVoiceError,
    TurnUnavailableError,
    VoicedError,
)
from dialtone.voiced.ipc_server import IpcConnection, IpcServer
from dialtone.voiced.peer import IceSettings, RemoteDevice
from dialtone.voiced.talk import PushToTalk, TalkGate, TalkMode
from dialtone.wire import PROTOCOL_VERSION, Codec, ProtocolError, negotiate_version
from dialtone.wire.common import Ping, Pong
from dialtone.wire.ipc import (
    DaemonError,
    DaemonReady,
    Deafen,
    IceConfig,
    Identify,
    IpcCommand,
    IpcErrorCode,
    IpcEvent,
    Level,
    Mute,
    PeerAnswer,
    PeerIce,
    PeerOffer,
    Speaking,
    Stats,
    Undeafen,
    Unmute,
    VoiceConnected,
    VoiceDisconnected,
    VoiceJoinCommand,
    VoiceLeaveCommand,
    VoiceMembers,
    VoiceRosterCommand,
)

__all__ = ["DAEMON_NAME", "VoiceDaemon"]

log = logging.getLogger(__name__)

DAEMON_NAME = f"dialtone-voiced/{__version__}"
"""The ``daemon`` field of ``ready``."""


class VoiceDaemon:
    """The voice daemon's state and command handling.

    Args:
        config: The configuration.
        env: The environment (push-to-talk detection, D-Bus).
        codec: The wire codec (one per process).
    """

    def __init__(
        self, config: DaemonConfig, env: Mapping[str, str], codec: Codec | None = None
    ) -> None:
        self.config = config
        self._codec = codec if codec is not None else Codec()
        self.server = IpcServer(config.socket_path, self._codec, self)
        self.gate = TalkGate()
        self.ptt = PushToTalk(
            choice=config.ptt_backend,
            key=config.ptt_key,
            env=env,
            gate=self.gate,
            on_change=self._announce,
            on_error=self.error,
        )
        self.ice = IceSettings(relay_only=config.relay_only)
        self.call: VoiceCall | None = None
        self._controller: IpcConnection | None = None
        self._call_lock = asyncio.Lock()

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the IPC socket and start choosing the push-to-talk backend.

        Raises:
            ConfigError: If the socket cannot be set up (see `IpcServer.start`).
            OSError: If the socket cannot be created.
        """
        await self.server.start()
        self.ptt.start()

    async def stop(self) -> None:
        """Leave any call, stop push-to-talk, close every connection and the socket."""
        async with self._call_lock:
            await self._leave("the voice daemon is stopping")
        await self.ptt.stop()
        await self.server.close()

    # --- IpcHandler ----------------------------------------------------------------------------

    def connected(self, connection: IpcConnection) -> None:
        """A TUI connected (it must identify before anything but ``ping``)."""

    async def disconnected(self, connection: IpcConnection) -> None:
        """A TUI went away: if it controlled the call, the call ends."""
        if connection is self._controller:
            async with self._call_lock:
                if connection is self._controller:
                    await self._leave("the TUI disconnected")

    async def command(self, connection: IpcConnection, command: IpcCommand) -> None:
        """Carry out one command.

        Args:
            connection: Who sent it.
            command: The command.

        Raises:
            VoicedError: Reported to that TUI as an ``error`` event.
        """
        if isinstance(command, Ping):
            connection.send(Pong(ping_id=command.ping_id))
            return
        if isinstance(command, Identify):
            self._identify(connection, command)
            return
        if not connection.identified:
            raise NotIdentifiedError(f"send identify before {command.type}")
        if isinstance(command, IceConfig):
            self.ice = IceSettings(
                servers=command.ice_servers,
                relay_only=command.relay_only or self.config.relay_only,
            )
            if self.call is not None:
                # Fresh TURN credentials, or a fixed server: used by the next connections.
                self.call.set_ice(self.ice)
        elif isinstance(command, VoiceJoinCommand):
            await self._join(connection, command)
        elif isinstance(command, VoiceLeaveCommand):
            await self._leave_command(command)
        elif isinstance(command, VoiceRosterCommand):
            self._in_room(command.channel_id).room.update_roster(command.participants)
        elif isinstance(command, (Mute, Unmute)):
            self.gate.muted = isinstance(command, Mute)
        elif isinstance(command, (Deafen, Undeafen)):
            self._deafen(isinstance(command, Deafen))
        elif isinstance(command, PeerOffer):
            self._in_room(command.channel_id).room.on_offer(command)
        elif isinstance(command, PeerAnswer):
            self._in_room(command.channel_id).room.on_answer(command)
        elif isinstance(command, PeerIce):
            self._in_room(command.channel_id).room.on_ice(command)

    # --- commands ------------------------------------------------------------------------------

    def _identify(self, connection: IpcConnection, command: Identify) -> None:
        try:
            negotiate_version([command.protocol_version])
        except ProtocolError as exc:
            connection.send(DaemonError(code=IpcErrorCode.UNSUPPORTED_VERSION, message=exc.detail))
            return
        connection.identified = True
        connection.user_id = command.user_id
        connection.device_id = command.device_id
        log.info(
            "IPC %d: identified as %s (user %s, device %s)",
            connection.number,
            command.client,
            command.user_id,
            command.device_id,
        )
        connection.send(self.ready())
        if self.ptt.error is not None:
            connection.send(self._error_event(self.ptt.error))

    def ready(self) -> DaemonReady:
        """The ``ready`` event: the daemon's current state.

        Returns:
            The event.
        """
        call = self.call
        return DaemonReady(
            protocol_version=PROTOCOL_VERSION,
            daemon=DAEMON_NAME,
            ptt_backend=self.ptt.kind,
            ptt_reason=_clip(self.ptt.reason),
            vad=self.gate.mode is TalkMode.VAD,
            channel_id=call.channel_id if call is not None else None,
            muted=self.gate.muted,
            deafened=self.gate.deafened,
            input_device=_clip(call.input_device) if call and call.input_device else None,
            output_device=_clip(call.output_device) if call and call.output_device else None,
        )

    async def _join(self, connection: IpcConnection, command: VoiceJoinCommand) -> None:
        async with self._call_lock:
            call = self.call
            if call is not None and call.channel_id == command.channel_id:
                # The same room again (a TUI that reconnected): take over, report the state.
                self._controller = connection
                connection.send(VoiceConnected(channel_id=call.channel_id))
                connection.send(call.room.members())
                return
            await self._leave("joined another voice room")
            user_id, device_id = connection.user_id, connection.device_id
            if user_id is None or device_id is None:
                raise NotIdentifiedError("send identify before voice.join")
            if self.ice.relay_only and not self.ice.has_turn:
                raise TurnUnavailableError(
                    "relay-only mode needs a TURN server and none was configured (ice.config "
                    "has no turn: URL with credentials); not joining"
                )
            self.gate.muted = command.muted
            self.gate.deafened = command.deafened
            call = VoiceCall(
                channel_id=command.channel_id,
                local=RemoteDevice(user_id, device_id),
                config=self.config,
                ice=self.ice,
                gate=self.gate,
                events=self,
            )
            call.set_deafened(command.deafened)
            await call.open()
            self.call = call
            self._controller = connection
        self._broadcast(VoiceConnected(channel_id=call.channel_id))
        self._broadcast(call.room.members())

    async def _leave_command(self, command: VoiceLeaveCommand) -> None:
        async with self._call_lock:
            call = self.call
            if call is None:
                return
            if call.channel_id != command.channel_id:
                raise NotInVoiceError(
                    f"not in voice room {command.channel_id} (in {call.channel_id})"
                )
            await self._leave("left the voice room")

    async def _leave(self, reason: str) -> None:
        call, self.call = self.call, None
        self._controller = None
        if call is None:
            return
        await call.close()
        log.info("left voice room %s: %s", call.channel_id, reason)
        self._broadcast(VoiceDisconnected(channel_id=call.channel_id, reason=reason))

    def _in_room(self, channel_id: str) -> VoiceCall:
        call = self.call
        if call is None:
            raise NotInVoiceError(f"not in a voice room (the command is for {channel_id})")
        if call.channel_id != channel_id:
            raise NotInVoiceError(f"not in voice room {channel_id} (in {call.channel_id})")
        return call

    def _deafen(self, deafened: bool) -> None:
        self.gate.deafened = deafened
        if self.call is not None:
            self.call.set_deafened(deafened)

    # --- events (CallEvents) -------------------------------------------------------------------

    def signal(self, message: PeerOffer | PeerAnswer) -> None:
        """Send an offer or answer to the controlling TUI, which signs and relays it."""
        controller = self._controller
        if controller is None or controller.closed:
            log.warning("no TUI to relay the %s to device %s", message.type, message.peer_device_id)
            return
        controller.send(message)

    def event(self, message: VoiceMembers | Speaking) -> None:
        """Send a state event to every identified TUI."""
        self._broadcast(message)

    def meter(self, message: Level | Stats) -> None:
        """Send a level or stats event to every identified TUI (dropped for slow ones)."""
        self._broadcast(message, droppable=True)

    def error(self, error: VoicedError) -> None:
        """Report a failure to every identified TUI."""
        log.info("error (%s): %s", error.code, error.message)
        self._broadcast(self._error_event(error))

    @staticmethod
    def _error_event(error: VoicedError) -> DaemonError:
        return DaemonError(code=error.code, message=_clip(error.message))

    def _broadcast(self, event: IpcEvent, *, droppable: bool = False) -> None:
        for connection in self.server.connections:
            if connection.identified:
                connection.send(event, droppable=droppable)

    def _announce(self) -> None:
        # Push-to-talk was chosen (or stopped) after TUIs identified: tell them the new state.
        self._broadcast(self.ready())


def _clip(text: str) -> str:
    return text if len(text) <= 1000 else text[:997] + "..."
