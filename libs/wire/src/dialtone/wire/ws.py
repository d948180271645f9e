"""WebSocket events of ``/v1/ws``, both directions.

Each event is one JSON object in one text frame, tagged by its ``type`` field. `ClientEvent` is
what a client may send, `ServerEvent` what a server may send; a tag may appear in both directions
with a different shape (``channel.typing``, ``webrtc.offer``...), so decode with the direction's
function.
"""

import enum
from typing import Annotated, Final, Literal, TypeAlias

import attrs

from dialtone.wire import limits
from dialtone.wire.common import (
    ChannelCursor,
    DeviceInfo,
    Ping,
    Pong,
    PresenceStatus,
    Role,
    VoiceParticipant,
)
from dialtone.wire.fields import (
    CallId,
    ChannelId,
    ClientMsgId,
    Code,
    DeviceId,
    Epoch,
    HumanText,
    IceCandidateLine,
    Items,
    Millis,
    MLineIndex,
    Name,
    ProtocolVersion,
    Sdp,
    SealedBody,
    SealedName,
    Seq,
    Signature,
    Timestamp,
    UserId,
)
from dialtone.wire.http import ChannelMessage, ChannelName, ProfileInfo


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses; 4000-4999 are Dialtone's own."""

    NORMAL = 1000
    GOING_AWAY = 1001
    """Server shutdown or restart: reconnect (after ``server.going_away``'s delay) and resume."""
    PROTOCOL_ERROR = 1002
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    UNAUTHORIZED = 4001
    """Missing, bad or expired session: log in again, do not retry as is."""
    UNSUPPORTED_VERSION = 4002
    SLOW_CONSUMER = 4003
    """The client fell too far behind; reconnect and resume (nothing is lost)."""
    IDLE_TIMEOUT = 4004
    DEVICE_REVOKED = 4005
    RATE_LIMITED = 4006
    HELLO_REQUIRED = 4007
    """The first frame was not ``hello``."""


# --- client -> server ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Hello:
    """The first frame a client sends; the server answers ``ready`` (or closes with 4002).

    Attributes:
        protocol_versions: Every protocol version the client speaks.
        client: The client's software name and version.
        resume: The last sequence number held per channel; the server replays what came after,
            in order, then sends ``resume.done``, then live events.
    """

    type: Literal["hello"] = "hello"
    protocol_versions: Annotated[
        tuple[ProtocolVersion, ...], Items(limits.MAX_PROTOCOL_VERSIONS, 1)
    ]
    client: Name
    resume: Annotated[tuple[ChannelCursor, ...], Items(limits.MAX_CHANNELS_PER_USER)] = ()


@attrs.frozen(kw_only=True)
class MessageSend:
    """Send an encrypted message; answered by ``channel.message.ack`` or an ``error`` with this
    ``client_msg_id`` as ``ref``. Resending the same ``client_msg_id`` is safe: the server acks the
    stored message again instead of storing it twice.

    Attributes:
        channel_id: The channel.
        client_msg_id: The client's id for the message.
        key_epoch: The channel key epoch used (must be current).
        sealed_body: The sealed body.
        sealed_sender_name: The sender's display name, sealed.
        signature: The device's signature.
    """

    type: Literal["channel.message.send"] = "channel.message.send"
    channel_id: ChannelId
    client_msg_id: ClientMsgId
    key_epoch: Epoch
    sealed_body: SealedBody
    sealed_sender_name: SealedName
    signature: Signature


@attrs.frozen(kw_only=True)
class TypingStart:
    """The user is typing in a channel (send at most every 3 s; shown for `TYPING_TTL_MS`).

    Attributes:
        channel_id: The channel.
    """

    type: Literal["channel.typing"] = "channel.typing"
    channel_id: ChannelId


@attrs.frozen(kw_only=True)
class ReadMarkSet:
    """The user has read a channel up to `seq` (markers never move back).

    Attributes:
        channel_id: The channel.
        seq: The newest sequence number read.
    """

    type: Literal["channel.read"] = "channel.read"
    channel_id: ChannelId
    seq: Seq


@attrs.frozen(kw_only=True)
class PresenceSet:
    """Set the user's presence.

    Attributes:
        status: The new status.
    """

    type: Literal["presence.set"] = "presence.set"
    status: PresenceStatus


@attrs.frozen(kw_only=True)
class VoiceJoin:
    """Join a channel's voice room; answered by ``voice.roster``.

    Attributes:
        channel_id: The channel.
        muted: Whether the microphone starts muted.
        deafened: Whether the device starts deafened.
    """

    type: Literal["voice.join"] = "voice.join"
    channel_id: ChannelId
    muted: bool = False
    deafened: bool = False


@attrs.frozen(kw_only=True)
class VoiceLeave:
    """Leave a channel's voice room.

    Attributes:
        channel_id: The channel.
    """

    type: Literal["voice.leave"] = "voice.leave"
    channel_id: ChannelId


@attrs.frozen(kw_only=True)
class VoiceStateSet:
    """Tell the room about mute and deafen changes.

    Attributes:
        channel_id: The channel.
        muted: Whether the microphone is muted.
        deafened: Whether the device is deafened.
    """

    type: Literal["voice.state"] = "voice.state"
    channel_id: ChannelId
    muted: bool
    deafened: bool


@attrs.frozen(kw_only=True)
class WebRtcOffer:
    """An SDP offer to one device in the same voice room, signed by the sending device.

    Attributes:
        channel_id: The voice room's channel.
        call_id: The offerer's id for this negotiation.
        to_device_id: The device it is for.
        sdp: The offer.
        signature: The sender's signature over (channel, call, both devices, SDP).
    """

    type: Literal["webrtc.offer"] = "webrtc.offer"
    channel_id: ChannelId
    call_id: CallId
    to_device_id: DeviceId
    sdp: Sdp
    signature: Signature


@attrs.frozen(kw_only=True)
class WebRtcAnswer:
    """An SDP answer to a device's offer, signed by the answering device.

    Attributes:
        channel_id: The voice room's channel.
        call_id: The offer's call id.
        to_device_id: The offering device.
        sdp: The answer.
        signature: The sender's signature.
    """

    type: Literal["webrtc.answer"] = "webrtc.answer"
    channel_id: ChannelId
    call_id: CallId
    to_device_id: DeviceId
    sdp: Sdp
    signature: Signature


@attrs.frozen(kw_only=True)
class WebRtcIce:
    """A trickled ICE candidate for one device (the DTLS fingerprint in the signed SDP protects
    the call, so candidates are not signed).

    Attributes:
        channel_id: The voice room's channel.
        call_id: The negotiation.
        to_device_id: The device it is for.
        candidate: The candidate line; empty at the end of candidates.
        sdp_mid: The media stream id.
        sdp_mline_index: The m-line index.
    """

    type: Literal["webrtc.ice"] = "webrtc.ice"
    channel_id: ChannelId
    call_id: CallId
    to_device_id: DeviceId
    candidate: IceCandidateLine
    sdp_mid: Name | None = None
    sdp_mline_index: MLineIndex | None = None


ClientEvent: TypeAlias = (
    Hello
    | Ping
    | Pong
    | MessageSend
    | TypingStart
    | ReadMarkSet
    | PresenceSet
    | VoiceJoin
    | VoiceLeave
    | VoiceStateSet
    | WebRtcOffer
    | WebRtcAnswer
    | WebRtcIce
)
"""Every event a client may send."""


# --- server -> client ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Ready:
    """The server's answer to ``hello``.

    Attributes:
        protocol_version: The version chosen (the highest both speak).
        user_id: The session's user.
        device_id: The session's device.
        session_expires_at: When the session ends.
        heartbeat_interval_ms: How often the server pings; answer each ``ping`` with ``pong``.
        idle_timeout_ms: A connection silent this long is closed with 4004.
        server_time: The server's clock, for display skew.
    """

    type: Literal["ready"] = "ready"
    protocol_version: ProtocolVersion
    user_id: UserId
    device_id: DeviceId
    session_expires_at: Timestamp
    heartbeat_interval_ms: Millis
    idle_timeout_ms: Millis
    server_time: Timestamp


@attrs.frozen(kw_only=True)
class ResumeDone:
    """The replay asked for in ``hello`` is complete; live events follow.

    Attributes:
        cursors: The newest sequence number of each of the user's channels.
        truncated: Channels whose gap was too long to replay: fetch them with
            ``GET /v1/channels/{id}/messages?after=``.
    """

    type: Literal["resume.done"] = "resume.done"
    cursors: Annotated[tuple[ChannelCursor, ...], Items(limits.MAX_CHANNELS_PER_USER)]
    truncated: Annotated[tuple[ChannelId, ...], Items(limits.MAX_CHANNELS_PER_USER)] = ()


@attrs.frozen(kw_only=True)
class MessageAck:
    """The server stored a ``channel.message.send``.

    Attributes:
        channel_id: The channel.
        client_msg_id: The sender's message id.
        seq: The sequence number assigned.
        server_ts: The time stored.
    """

    type: Literal["channel.message.ack"] = "channel.message.ack"
    channel_id: ChannelId
    client_msg_id: ClientMsgId
    seq: Seq
    server_ts: Timestamp


@attrs.frozen(kw_only=True)
class MessageNew:
    """A new message in one of the user's channels (the sender's own devices get it too).

    Attributes:
        message: The message, as stored.
    """

    type: Literal["channel.message.new"] = "channel.message.new"
    message: ChannelMessage


@attrs.frozen(kw_only=True)
class ChannelUpdated:
    """A channel's name or key epoch changed.

    Attributes:
        channel_id: The channel.
        name: The sealed name.
        current_epoch: The current key epoch.
        updated_at: When it changed.
    """

    type: Literal["channel.updated"] = "channel.updated"
    channel_id: ChannelId
    name: ChannelName
    current_epoch: Epoch
    updated_at: Timestamp


@attrs.frozen(kw_only=True)
class ChannelDeleted:
    """A channel was deleted.

    Attributes:
        channel_id: The channel.
        deleted_by: Who deleted it.
    """

    type: Literal["channel.deleted"] = "channel.deleted"
    channel_id: ChannelId
    deleted_by: UserId


@attrs.frozen(kw_only=True)
class MemberAdded:
    """A user was added to a channel (when it is you, fetch the channel).

    Attributes:
        channel_id: The channel.
        user_id: The new member.
        role: Their role.
        added_by: Who added them.
    """

    type: Literal["channel.member.added"] = "channel.member.added"
    channel_id: ChannelId
    user_id: UserId
    role: Role
    added_by: UserId


@attrs.frozen(kw_only=True)
class MemberUpdated:
    """A member's role changed.

    Attributes:
        channel_id: The channel.
        user_id: The member.
        role: The new role.
        updated_by: Who changed it.
    """

    type: Literal["channel.member.updated"] = "channel.member.updated"
    channel_id: ChannelId
    user_id: UserId
    role: Role
    updated_by: UserId


@attrs.frozen(kw_only=True)
class MemberRemoved:
    """A member left or was removed (remaining members rotate the key).

    Attributes:
        channel_id: The channel.
        user_id: The former member.
        removed_by: Who removed them (themselves when leaving).
    """

    type: Literal["channel.member.removed"] = "channel.member.removed"
    channel_id: ChannelId
    user_id: UserId
    removed_by: UserId


@attrs.frozen(kw_only=True)
class Typing:
    """Someone is typing.

    Attributes:
        channel_id: The channel.
        user_id: The user typing.
    """

    type: Literal["channel.typing"] = "channel.typing"
    channel_id: ChannelId
    user_id: UserId


@attrs.frozen(kw_only=True)
class ReadMarker:
    """The user's read marker moved (sent to the user's other devices only).

    Attributes:
        channel_id: The channel.
        seq: The newest sequence number read.
    """

    type: Literal["channel.read"] = "channel.read"
    channel_id: ChannelId
    seq: Seq


@attrs.frozen(kw_only=True)
class KeyRotated:
    """A channel moved to a new key epoch; fetch your envelope for it.

    Attributes:
        channel_id: The channel.
        key_epoch: The new epoch.
        rotated_by: The device that rotated it.
    """

    type: Literal["channel.key.rotated"] = "channel.key.rotated"
    channel_id: ChannelId
    key_epoch: Epoch
    rotated_by: DeviceId


@attrs.frozen(kw_only=True)
class EnvelopeAvailable:
    """A channel key envelope for this device was stored.

    Attributes:
        channel_id: The channel.
        key_epoch: The epoch of the key inside.
        sender_device_id: The device that made it.
    """

    type: Literal["channel.envelope.available"] = "channel.envelope.available"
    channel_id: ChannelId
    key_epoch: Epoch
    sender_device_id: DeviceId


@attrs.frozen(kw_only=True)
class DirectoryEnvelopeAvailable:
    """A directory key envelope for this device was stored.

    Attributes:
        owner_user_id: The user whose directory key is inside.
        key_epoch: Its epoch.
        sender_device_id: The device that made it.
    """

    type: Literal["directory.envelope.available"] = "directory.envelope.available"
    owner_user_id: UserId
    key_epoch: Epoch
    sender_device_id: DeviceId


@attrs.frozen(kw_only=True)
class DeviceJoined:
    """A device was approved for a user you share a channel with (or for yourself): verify it and
    send it envelopes once trusted.

    Attributes:
        device: The device.
    """

    type: Literal["device.joined"] = "device.joined"
    device: DeviceInfo


@attrs.frozen(kw_only=True)
class DeviceRevoked:
    """A device was revoked (channels it was in rotate their keys).

    Attributes:
        user_id: Its owner.
        device_id: The device.
    """

    type: Literal["device.revoked"] = "device.revoked"
    user_id: UserId
    device_id: DeviceId


@attrs.frozen(kw_only=True)
class ProfileUpdated:
    """A user you share a channel with changed their directory profile.

    Attributes:
        profile: The new profile.
    """

    type: Literal["profile.updated"] = "profile.updated"
    profile: ProfileInfo


@attrs.frozen(kw_only=True)
class PresenceChanged:
    """A user's presence changed.

    Attributes:
        user_id: The user.
        status: The new status.
        last_seen_at: When they were last connected.
    """

    type: Literal["presence"] = "presence"
    user_id: UserId
    status: PresenceStatus
    last_seen_at: Timestamp | None = None


@attrs.frozen(kw_only=True)
class VoiceRoster:
    """Everyone in a voice room, sent to a device that joins it (offer to each of them).

    Attributes:
        channel_id: The channel.
        participants: Everyone in the room, the joiner included.
    """

    type: Literal["voice.roster"] = "voice.roster"
    channel_id: ChannelId
    participants: Annotated[tuple[VoiceParticipant, ...], Items(limits.MAX_VOICE_PARTICIPANTS)]


class VoiceChange(enum.StrEnum):
    """What happened to a voice room participant."""

    JOINED = "joined"
    LEFT = "left"
    UPDATED = "updated"


@attrs.frozen(kw_only=True)
class VoicePresence:
    """Someone joined, left, or muted in a voice room (sent to all channel members).

    Attributes:
        channel_id: The channel.
        change: What happened.
        participant: The participant's state after the change.
    """

    type: Literal["voice.presence"] = "voice.presence"
    channel_id: ChannelId
    change: VoiceChange
    participant: VoiceParticipant


@attrs.frozen(kw_only=True)
class WebRtcOfferRelayed:
    """An offer from another device of the room; verify the signature before use.

    Attributes:
        channel_id: The voice room's channel.
        call_id: The negotiation.
        from_user_id: The sending user.
        from_device_id: The sending device (the server fills both from its session).
        sdp: The offer.
        signature: The sender's signature.
    """

    type: Literal["webrtc.offer"] = "webrtc.offer"
    channel_id: ChannelId
    call_id: CallId
    from_user_id: UserId
    from_device_id: DeviceId
    sdp: Sdp
    signature: Signature


@attrs.frozen(kw_only=True)
class WebRtcAnswerRelayed:
    """An answer from another device of the room; verify the signature before use.

    Attributes:
        channel_id: The voice room's channel.
        call_id: The negotiation.
        from_user_id: The sending user.
        from_device_id: The sending device.
        sdp: The answer.
        signature: The sender's signature.
    """

    type: Literal["webrtc.answer"] = "webrtc.answer"
    channel_id: ChannelId
    call_id: CallId
    from_user_id: UserId
    from_device_id: DeviceId
    sdp: Sdp
    signature: Signature


@attrs.frozen(kw_only=True)
class WebRtcIceRelayed:
    """An ICE candidate from another device of the room.

    Attributes:
        channel_id: The voice room's channel.
        call_id: The negotiation.
        from_user_id: The sending user.
        from_device_id: The sending device.
        candidate: The candidate line; empty at the end of candidates.
        sdp_mid: The media stream id.
        sdp_mline_index: The m-line index.
    """

    type: Literal["webrtc.ice"] = "webrtc.ice"
    channel_id: ChannelId
    call_id: CallId
    from_user_id: UserId
    from_device_id: DeviceId
    candidate: IceCandidateLine
    sdp_mid: Name | None = None
    sdp_mline_index: MLineIndex | None = None


@attrs.frozen(kw_only=True)
class ErrorEvent:
    """Something the client sent failed; the connection stays open unless a close follows.

    Attributes:
        code: An `ErrorCode` value.
        message: A human explanation.
        ref: The ``client_msg_id`` (or ``call_id``; the channel id for ``voice.join``) of the failed
            request, when there is one.
    """

    type: Literal["error"] = "error"
    code: Code
    message: HumanText
    ref: ClientMsgId | None = None


@attrs.frozen(kw_only=True)
class GoingAway:
    """The server is shutting down: reconnect after the delay and resume; nothing is lost.

    Attributes:
        reason: A human explanation.
        reconnect_after_ms: How long to wait before reconnecting (spread by the server).
    """

    type: Literal["server.going_away"] = "server.going_away"
    reason: HumanText
    reconnect_after_ms: Millis


ServerEvent: TypeAlias = (
    Ready
    | ResumeDone
    | Ping
    | Pong
    | MessageAck
    | MessageNew
    | ChannelUpdated
    | ChannelDeleted
    | MemberAdded
    | MemberUpdated
    | MemberRemoved
    | Typing
    | ReadMarker
    | KeyRotated
    | EnvelopeAvailable
    | DirectoryEnvelopeAvailable
    | DeviceJoined
    | DeviceRevoked
    | ProfileUpdated
    | PresenceChanged
    | VoiceRoster
    | VoicePresence
    | WebRtcOfferRelayed
    | WebRtcAnswerRelayed
    | WebRtcIceRelayed
    | ErrorEvent
    | GoingAway
)
"""Every event a server may send."""

TYPING_TTL_MS: Final = 5000
"""How long a client shows "typing" after the last ``channel.typing``."""
