"""IPC between the TUI and the voice daemon (``dialtone-voiced``), over a Unix socket.

Newline-delimited JSON: each message is one JSON object on one line, UTF-8, ending in ``\\n``.
`IpcCommand` goes from the TUI to the daemon, `IpcEvent` from the daemon to the TUI. The daemon
holds no keys: the TUI relays signaling between the WebSocket and the daemon, signing what goes out
and verifying what comes in, so the SDP messages here carry no signatures.
"""

import enum
from typing import Annotated, Literal, TypeAlias

import attrs

from dialtone.wire import limits
from dialtone.wire.common import IceServer, Ping, Pong, VoiceParticipant
from dialtone.wire.errors import ProtocolError, Reason
from dialtone.wire.fields import (
    CallId,
    ChannelId,
    Code,
    Count,
    Dbfs,
    DeviceId,
    HumanText,
    IceCandidateLine,
    Items,
    Milliseconds,
    MLineIndex,
    Name,
    ProtocolVersion,
    Sdp,
    UserId,
)


class IpcErrorCode(enum.StrEnum):
    """Codes of the daemon's ``error`` events."""

    BAD_COMMAND = "bad_command"
    UNSUPPORTED_VERSION = "unsupported_version"
    NOT_IDENTIFIED = "not_identified"
    NOT_IN_VOICE = "not_in_voice"
    NO_AUDIO_DEVICE = "no_audio_device"
    AUDIO_FAILED = "audio_failed"
    PTT_UNAVAILABLE = "ptt_unavailable"
    TURN_UNAVAILABLE = "turn_unavailable"
    ICE_FAILED = "ice_failed"
    PEER_FAILED = "peer_failed"
    INTERNAL_ERROR = "internal_error"


class PeerState(enum.StrEnum):
    """The state of the peer connection to one remote device (WebRTC's connectionState)."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    CLOSED = "closed"


# --- shared by both directions -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PeerOffer:
    """An SDP offer: from the daemon, for the TUI to sign and send to `peer_device_id`; to the
    daemon, verified by the TUI, from `peer_device_id`.

    Attributes:
        channel_id: The voice room's channel.
        call_id: The offerer's id of this negotiation.
        peer_user_id: The remote user.
        peer_device_id: The remote device.
        sdp: The offer.
    """

    type: Literal["webrtc.offer"] = "webrtc.offer"
    channel_id: ChannelId
    call_id: CallId
    peer_user_id: UserId
    peer_device_id: DeviceId
    sdp: Sdp


@attrs.frozen(kw_only=True)
class PeerAnswer:
    """An SDP answer, in either direction (see `PeerOffer`).

    Attributes:
        channel_id: The voice room's channel.
        call_id: The offer's call id.
        peer_user_id: The remote user.
        peer_device_id: The remote device.
        sdp: The answer.
    """

    type: Literal["webrtc.answer"] = "webrtc.answer"
    channel_id: ChannelId
    call_id: CallId
    peer_user_id: UserId
    peer_device_id: DeviceId
    sdp: Sdp


@attrs.frozen(kw_only=True)
class PeerIce:
    """An ICE candidate, in either direction (see `PeerOffer`).

    Attributes:
        channel_id: The voice room's channel.
        call_id: The negotiation.
        peer_user_id: The remote user.
        peer_device_id: The remote device.
        candidate: The candidate line; empty at the end of candidates.
        sdp_mid: The media stream id.
        sdp_mline_index: The m-line index.
    """

    type: Literal["webrtc.ice"] = "webrtc.ice"
    channel_id: ChannelId
    call_id: CallId
    peer_user_id: UserId
    peer_device_id: DeviceId
    candidate: IceCandidateLine
    sdp_mid: Name | None = None
    sdp_mline_index: MLineIndex | None = None


# --- TUI -> daemon -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Identify:
    """The TUI's first command: who is using the daemon; answered by ``ready``.

    Attributes:
        protocol_version: The TUI's protocol version.
        user_id: The local user.
        device_id: The local device (so the daemon can tell itself from peers in a roster).
        client: The TUI's software name and version.
    """

    type: Literal["identify"] = "identify"
    protocol_version: ProtocolVersion
    user_id: UserId
    device_id: DeviceId
    client: Name


@attrs.frozen(kw_only=True)
class IceConfig:
    """The STUN/TURN servers to use from now on (TURN credentials come from the server).

    Attributes:
        ice_servers: The servers.
        relay_only: Use only TURN relays (hides the host's addresses from peers).
    """

    type: Literal["ice.config"] = "ice.config"
    ice_servers: Annotated[tuple[IceServer, ...], Items(limits.MAX_ICE_SERVERS)]
    relay_only: bool = False


@attrs.frozen(kw_only=True)
class VoiceJoinCommand:
    """Join a voice room: open the audio devices and wait for peers.

    Attributes:
        channel_id: The channel.
        muted: Whether the microphone starts muted.
        deafened: Whether output starts deafened.
    """

    type: Literal["voice.join"] = "voice.join"
    channel_id: ChannelId
    muted: bool = False
    deafened: bool = False


@attrs.frozen(kw_only=True)
class VoiceRosterCommand:
    """The room's participants as the server reported them; the daemon connects to each one it
    is not connected to (offering to those who joined before it) and drops the others.

    Attributes:
        channel_id: The channel.
        participants: Everyone in the room, the local device included.
    """

    type: Literal["voice.roster"] = "voice.roster"
    channel_id: ChannelId
    participants: Annotated[tuple[VoiceParticipant, ...], Items(limits.MAX_VOICE_PARTICIPANTS)]


@attrs.frozen(kw_only=True)
class VoiceLeaveCommand:
    """Leave the voice room: close every peer connection and the audio devices.

    Attributes:
        channel_id: The channel.
    """

    type: Literal["voice.leave"] = "voice.leave"
    channel_id: ChannelId


@attrs.frozen(kw_only=True)
class Mute:
    """Stop sending the microphone."""

    type: Literal["voice.mute"] = "voice.mute"


@attrs.frozen(kw_only=True)
class Unmute:
    """Send the microphone again (still gated by push-to-talk or VAD)."""

    type: Literal["voice.unmute"] = "voice.unmute"


@attrs.frozen(kw_only=True)
class Deafen:
    """Stop playing remote audio (and mute)."""

    type: Literal["voice.deafen"] = "voice.deafen"


@attrs.frozen(kw_only=True)
class Undeafen:
    """Play remote audio again."""

    type: Literal["voice.undeafen"] = "voice.undeafen"


IpcCommand: TypeAlias = (
    Identify
    | Ping
    | IceConfig
    | VoiceJoinCommand
    | VoiceRosterCommand
    | VoiceLeaveCommand
    | Mute
    | Unmute
    | Deafen
    | Undeafen
    | PeerOffer
    | PeerAnswer
    | PeerIce
)
"""Every command the TUI may send to the daemon."""


# --- daemon -> TUI -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DaemonReady:
    """The answer to ``identify``, and the daemon's current state (for a TUI that reconnects).

    Attributes:
        protocol_version: The daemon's protocol version.
        daemon: The daemon's software name and version.
        ptt_backend: The push-to-talk backend in use (``portal``, ``hotkey``, ``vad``, ``none``).
        ptt_reason: Why that backend was chosen.
        vad: Whether voice activity detection gates the microphone.
        channel_id: The voice room the daemon is in, if any.
        muted: Whether the microphone is muted.
        deafened: Whether output is deafened.
        input_device: The capture device's name, if open.
        output_device: The playback device's name, if open.
    """

    type: Literal["ready"] = "ready"
    protocol_version: ProtocolVersion
    daemon: Name
    ptt_backend: Name
    ptt_reason: HumanText
    vad: bool
    channel_id: ChannelId | None = None
    muted: bool = False
    deafened: bool = False
    input_device: HumanText | None = None
    output_device: HumanText | None = None


@attrs.frozen(kw_only=True)
class VoiceConnected:
    """The daemon is in the voice room with its audio devices open.

    Attributes:
        channel_id: The channel.
    """

    type: Literal["voice.connected"] = "voice.connected"
    channel_id: ChannelId


@attrs.frozen(kw_only=True)
class VoiceDisconnected:
    """The daemon left the voice room (asked to, or because it failed).

    Attributes:
        channel_id: The channel.
        reason: A human explanation.
    """

    type: Literal["voice.disconnected"] = "voice.disconnected"
    channel_id: ChannelId
    reason: HumanText


@attrs.frozen(kw_only=True)
class VoiceMember:
    """One remote device as the daemon sees it.

    Attributes:
        user_id: The user.
        device_id: The device.
        state: The peer connection's state.
        speaking: Whether their audio is above the speaking threshold now.
    """

    user_id: UserId
    device_id: DeviceId
    state: PeerState
    speaking: bool


@attrs.frozen(kw_only=True)
class VoiceMembers:
    """The remote devices of the room and their connection states (sent on every change).

    Attributes:
        channel_id: The channel.
        members: The remote devices.
    """

    type: Literal["voice.members"] = "voice.members"
    channel_id: ChannelId
    members: Annotated[tuple[VoiceMember, ...], Items(limits.MAX_VOICE_PARTICIPANTS)]


@attrs.frozen(kw_only=True)
class Speaking:
    """Someone (the local user included) started or stopped speaking.

    Attributes:
        user_id: The user.
        device_id: The device.
        speaking: Whether they are speaking now.
    """

    type: Literal["voice.speaking"] = "voice.speaking"
    user_id: UserId
    device_id: DeviceId
    speaking: bool


@attrs.frozen(kw_only=True)
class Level:
    """The local microphone level, for a meter (sent about ten times a second when asked).

    Attributes:
        rms_dbfs: RMS level of the last frames, dBFS.
        peak_dbfs: Peak level of the last frames, dBFS.
        transmitting: Whether the microphone is being sent (PTT held or VAD open, not muted).
    """

    type: Literal["voice.level"] = "voice.level"
    rms_dbfs: Dbfs
    peak_dbfs: Dbfs
    transmitting: bool


@attrs.frozen(kw_only=True)
class DaemonError:
    """Something failed; unless `fatal`, the daemon stays up and keeps serving.

    Attributes:
        code: An `IpcErrorCode` value.
        message: A human explanation.
        fatal: Whether the daemon is exiting.
    """

    type: Literal["error"] = "error"
    code: Code
    message: HumanText
    fatal: bool = False


@attrs.frozen(kw_only=True)
class PeerStats:
    """Counters of one peer connection.

    Attributes:
        user_id: The user.
        device_id: The device.
        state: The connection's state.
        rtt_ms: Round-trip time, if measured.
        jitter_ms: Receive jitter, if measured.
        packets_lost: Packets lost on receive.
        bytes_sent: Bytes sent.
        bytes_received: Bytes received.
        send_dropped: Outgoing packets dropped because this connection's sender fell behind.
    """

    user_id: UserId
    device_id: DeviceId
    state: PeerState
    rtt_ms: Milliseconds | None = None
    jitter_ms: Milliseconds | None = None
    packets_lost: Count = 0
    bytes_sent: Count = 0
    bytes_received: Count = 0
    send_dropped: Count = 0


@attrs.frozen(kw_only=True)
class Stats:
    """Audio and network counters; drops are counted, never silent.

    Attributes:
        frames_captured: Microphone frames read.
        capture_dropped: Microphone frames dropped (queue full).
        frames_played: Frames played.
        playback_dropped: Frames dropped before playback.
        playback_underflows: Times the output device ran dry because audio came late.
        events_dropped: Level and stats events this TUI missed because it was not reading.
        peers: One entry per peer connection.
    """

    type: Literal["stats"] = "stats"
    frames_captured: Count
    capture_dropped: Count
    frames_played: Count
    playback_dropped: Count
    playback_underflows: Count = 0
    events_dropped: Count = 0
    peers: Annotated[tuple[PeerStats, ...], Items(limits.MAX_VOICE_PARTICIPANTS)] = ()


IpcEvent: TypeAlias = (
    DaemonReady
    | Pong
    | VoiceConnected
    | VoiceDisconnected
    | VoiceMembers
    | Speaking
    | Level
    | DaemonError
    | Stats
    | PeerOffer
    | PeerAnswer
    | PeerIce
)
"""Every event the daemon may send to the TUI."""


class LineSplitter:
    """Split a byte stream into NDJSON lines, bounding each line.

    One instance per connection, owned by its reader. After an oversize line, the rest of that line
    is skipped and splitting resumes at the next newline, so one bad line costs one error.

    Args:
        max_line_bytes: The longest line accepted, newline excluded.
    """

    def __init__(self, max_line_bytes: int = limits.MAX_IPC_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | ProtocolError]:
        """Add received bytes and return what they complete, in order.

        Args:
            data: Bytes as read from the socket.

        Returns:
            Complete lines without their newline (blank lines are dropped) and, in the place of
            each line over the limit, a ``too_large`` `ProtocolError` to answer (not raised, so
            the lines around it are not lost).
        """
        self._buffer += data
        items: list[bytes | ProtocolError] = []
        start = 0
        while (end := self._buffer.find(b"\n", start)) >= 0:
            line = bytes(self._buffer[start:end])
            start = end + 1
            if self._skipping:
                # The tail of a line already reported as too large.
                self._skipping = False
            elif len(line) > self._max:
                items.append(self._too_large())
            elif line.strip():
                items.append(line)
        del self._buffer[:start]
        if len(self._buffer) > self._max:
            self._buffer.clear()
            if not self._skipping:
                self._skipping = True
                items.append(self._too_large())
        return items

    def _too_large(self) -> ProtocolError:
        return ProtocolError(Reason.TOO_LARGE, f"line over {self._max} bytes")
