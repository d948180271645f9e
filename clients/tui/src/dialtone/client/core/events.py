"""The typed events the client core emits, and the plain views they carry.

Everything here is a frozen attrs class holding plaintext already verified and decrypted by the
core (or the reason it could not be). The TUI consumes them through `ClientCore.events()` (an
async iterator) or `ClientCore.subscribe(callback)`; it never sees ciphertext or keys.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TypeAlias

import attrs

__all__ = [
    "AccountInfo",
    "ChannelKeysArrived",
    "ChannelView",
    "ChannelsChanged",
    "ClientEvent",
    "Connected",
    "ConnectionState",
    "DecryptedMessage",
    "DeviceKeyChanged",
    "DeviceTrust",
    "DeviceView",
    "DevicesChanged",
    "Error",
    "FailedMessage",
    "FailureReason",
    "HistoryItem",
    "HistoryLoaded",
    "HistoryPage",
    "KeyRotated",
    "MemberView",
    "MembersChanged",
    "MessageAcked",
    "MessageFailed",
    "MessageQueued",
    "MessageReceived",
    "MessageRejected",
    "NewDeviceNeedsApproval",
    "Notice",
    "Offline",
    "Presence",
    "ProfileChanged",
    "ReadMarker",
    "Reconnecting",
    "SafetyNumberView",
    "ServerInfo",
    "SignalingRefused",
    "Speaking",
    "Synced",
    "Typing",
    "VoiceDaemonState",
    "VoiceLevel",
    "VoiceMemberView",
    "VoiceMembers",
    "VoiceRoster",
    "VoiceState",
]


# --- views ---------------------------------------------------------------------------------------


class ConnectionState(enum.StrEnum):
    """The WebSocket connection as the header shows it."""

    ONLINE = "online"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"


class FailureReason(enum.StrEnum):
    """Why a message cannot be shown; it stays in place as a placeholder, never dropped."""

    NO_KEY_YET = "no key yet"
    """This device holds no key for the message's channel epoch (an envelope may still come)."""
    UNVERIFIED_SENDER = "unverified sender"
    """The sending device is unknown, pending, revoked, or its keys changed since pinned."""
    TAMPERED = "tampered"
    """The signature or a sealed field does not verify: altered in storage or in transit."""


class DeviceTrust(enum.StrEnum):
    """How far this client trusts a device."""

    OWN = "own"
    """This device."""
    VERIFIED = "verified"
    """Fingerprint compared out of band (safety number), or approved by a verified device."""
    FIRST_SEEN = "first-seen"
    """Pinned on first use; not yet verified."""
    CHANGED = "changed"
    """Its keys differ from the pinned ones: nothing is sent to it until the user re-verifies."""
    PENDING = "pending"
    """Awaiting approval by one of its owner's devices: no keys are sent to it."""
    REVOKED = "revoked"
    """Revoked by its owner."""
    UNTRUSTED = "untrusted"
    """Its approval chain does not verify."""


@attrs.frozen(kw_only=True)
class AccountInfo:
    """The logged-in account on this device.

    Attributes:
        server_url: The server.
        username: The username typed at login.
        user_id: The server's id of the user.
        device_id: This device's id.
        fingerprint: This device's fingerprint (8 groups of 4 base32 characters).
        approved: Whether this device is approved (a new device waits for approval).
        is_admin: Whether the user may create invites.
    """

    server_url: str
    username: str
    user_id: str
    device_id: str
    fingerprint: str
    approved: bool
    is_admin: bool

    @property
    def short_fingerprint(self) -> str:
        """The first two groups of the fingerprint, for the header."""
        return " ".join(self.fingerprint.split(" ")[:2])


@attrs.frozen(kw_only=True)
class ServerInfo:
    """A Dialtone server that answered its health check.

    Attributes:
        server_url: The URL it answered at.
        server_version: Its software version.
        protocol_version: The wire protocol version this client will speak with it.
    """

    server_url: str
    server_version: str
    protocol_version: int


@attrs.frozen(kw_only=True)
class ChannelView:
    """A channel as the sidebar shows it.

    Attributes:
        channel_id: The channel.
        name: The decrypted name, or None while it cannot be read (no key yet, tampered...).
        role: The user's role (``owner``, ``admin``, ``member``).
        epoch: The channel's current key epoch.
        has_key: Whether this device holds the current epoch's key (it can send).
        last_seq: The newest message's sequence number.
        read_seq: The user's read marker.
        unread: Messages after the read marker.
    """

    channel_id: str
    name: str | None
    role: str
    epoch: int
    has_key: bool
    last_seq: int
    read_seq: int
    unread: int

    @property
    def title(self) -> str:
        """The name, or a placeholder saying why there is none."""
        return self.name if self.name is not None else f"#{self.channel_id[:8]} (no key yet)"


@attrs.frozen(kw_only=True)
class MemberView:
    """A member of a channel.

    Attributes:
        user_id: The user.
        display_name: The directory name if readable, else a short form of the user id.
        role: Their role.
        presence: Their presence status (``online``, ``away``, ``dnd``, ``offline``).
    """

    user_id: str
    display_name: str
    role: str
    presence: str = "offline"


@attrs.frozen(kw_only=True)
class DeviceView:
    """A device of the user or of someone else, for ``/devices`` and ``/verify``.

    Attributes:
        user_id: Its owner.
        device_id: The device.
        fingerprint: Its fingerprint.
        status: The server's status (``pending``, ``approved``, ``revoked``).
        trust: How far this client trusts it.
        created_at: When it was registered.
        current: Whether it is this device.
    """

    user_id: str
    device_id: str
    fingerprint: str
    status: str
    trust: DeviceTrust
    created_at: datetime | None = None
    current: bool = False


@attrs.frozen(kw_only=True)
class SafetyNumberView:
    """What ``/verify <user>`` shows.

    Attributes:
        user_id: The other user.
        display_name: Their display name, if readable.
        safety_number: 60 digits in 12 groups of 5, identical on both sides.
        devices: The other user's devices, with fingerprints and trust.
    """

    user_id: str
    display_name: str
    safety_number: str
    devices: tuple[DeviceView, ...]


@attrs.frozen(kw_only=True)
class DecryptedMessage:
    """A message that verified and decrypted (or one of our own, pending until acked).

    Attributes:
        channel_id: The channel.
        seq: The server's sequence number; None while pending.
        client_msg_id: The sender's id of the message (stable across resends).
        sender_user_id: The sending user.
        sender_device_id: The sending device.
        sender_name: The display name sealed into the message (what the sender called themself).
        body: The text.
        server_ts: When the server stored it; None while pending.
        created_at: When this client first saw or wrote it.
        epoch: The key epoch it was sealed with.
        own: Whether this user sent it.
        pending: Whether it waits in the offline queue or for the server's ack.
        sender_trust: How far the sending device is trusted.
    """

    channel_id: str
    seq: int | None
    client_msg_id: str
    sender_user_id: str
    sender_device_id: str
    sender_name: str
    body: str
    server_ts: datetime | None
    created_at: datetime
    epoch: int
    own: bool = False
    pending: bool = False
    sender_trust: DeviceTrust = DeviceTrust.FIRST_SEEN

    @property
    def timestamp(self) -> datetime:
        """The time to show: the server's when known, else the local one."""
        return self.server_ts if self.server_ts is not None else self.created_at


@attrs.frozen(kw_only=True)
class FailedMessage:
    """A message that could not be shown, kept in its place with the reason.

    Attributes:
        channel_id: The channel.
        seq: The server's sequence number.
        client_msg_id: The sender's message id (as the server reports it).
        sender_user_id: The sending user (as the server reports it).
        sender_device_id: The sending device (as the server reports it).
        server_ts: When the server stored it.
        epoch: The key epoch it claims.
        reason: Why it cannot be shown.
        detail: A human explanation.
    """

    channel_id: str
    seq: int
    client_msg_id: str
    sender_user_id: str
    sender_device_id: str
    server_ts: datetime
    epoch: int
    reason: FailureReason
    detail: str

    @property
    def timestamp(self) -> datetime:
        """The time to show."""
        return self.server_ts


HistoryItem: TypeAlias = DecryptedMessage | FailedMessage
"""One line of a channel's message view."""


@attrs.frozen(kw_only=True)
class HistoryPage:
    """A page of history, oldest first.

    Attributes:
        channel_id: The channel.
        items: The messages, ascending by ``seq``.
        has_more: Whether older messages exist before the first item.
    """

    channel_id: str
    items: tuple[HistoryItem, ...]
    has_more: bool

    @property
    def oldest_seq(self) -> int | None:
        """The ``seq`` to pass as ``before`` for the next older page."""
        return self.items[0].seq if self.items else None


@attrs.frozen(kw_only=True)
class VoiceMemberView:
    """A device in the voice room.

    Attributes:
        user_id: The user.
        device_id: The device.
        display_name: Their display name.
        muted: Whether they muted their microphone.
        deafened: Whether they are deafened.
        speaking: Whether they are speaking now (from the daemon).
        state: The daemon's peer connection state (``new``... ``connected``), or None if unknown.
    """

    user_id: str
    device_id: str
    display_name: str
    muted: bool = False
    deafened: bool = False
    speaking: bool = False
    state: str | None = None


# --- events --------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Connected:
    """The WebSocket is up and authenticated (``ready`` received); resume follows.

    Attributes:
        user_id: The session's user.
        device_id: The session's device.
        protocol_version: The protocol version in use.
    """

    user_id: str
    device_id: str
    protocol_version: int


@attrs.frozen(kw_only=True)
class Synced:
    """The replay since the last known sequence numbers is complete; live events follow.

    Attributes:
        replayed: How many missed messages were delivered.
        sent_from_queue: How many queued messages were (re)sent.
    """

    replayed: int
    sent_from_queue: int


@attrs.frozen(kw_only=True)
class Reconnecting:
    """The connection dropped; the next attempt is scheduled.

    Attributes:
        attempt: The attempt number (1 for the first retry).
        delay: Seconds until the attempt.
        reason: Why the connection was lost.
    """

    attempt: int
    delay: float
    reason: str


@attrs.frozen(kw_only=True)
class Offline:
    """The client is not connected and not retrying (closed, logged out, or session invalid).

    Attributes:
        reason: Why.
    """

    reason: str


@attrs.frozen(kw_only=True)
class MessageReceived:
    """A message to show: a new one, a replayed one, or the server's copy of one of ours.

    Attributes:
        channel_id: The channel.
        message: The verified, decrypted message.
    """

    channel_id: str
    message: DecryptedMessage


@attrs.frozen(kw_only=True)
class MessageFailed:
    """A message arrived that cannot be shown as text; show the placeholder with its reason.

    Attributes:
        channel_id: The channel.
        message: The placeholder.
    """

    channel_id: str
    message: FailedMessage

    @property
    def reason(self) -> FailureReason:
        """Why the message cannot be shown."""
        return self.message.reason


@attrs.frozen(kw_only=True)
class MessageQueued:
    """One of our messages is pending: written, not yet acknowledged (perhaps offline).

    Attributes:
        channel_id: The channel.
        message: The message, with ``pending=True``.
    """

    channel_id: str
    message: DecryptedMessage


@attrs.frozen(kw_only=True)
class MessageAcked:
    """The server stored one of our messages.

    Attributes:
        channel_id: The channel.
        client_msg_id: The message's id.
        seq: Its sequence number.
        server_ts: When it was stored.
    """

    channel_id: str
    client_msg_id: str
    seq: int
    server_ts: datetime


@attrs.frozen(kw_only=True)
class MessageRejected:
    """The server refused one of our messages; it left the queue.

    Attributes:
        channel_id: The channel.
        client_msg_id: The message's id.
        code: The server's error code.
        message: A human explanation.
    """

    channel_id: str
    client_msg_id: str
    code: str
    message: str


@attrs.frozen(kw_only=True)
class HistoryLoaded:
    """A history page finished loading (also returned by `ClientCore.load_history`).

    Attributes:
        page: The page.
    """

    page: HistoryPage


@attrs.frozen(kw_only=True)
class ChannelsChanged:
    """The channel list changed (created, renamed, deleted, joined, left, unread counts).

    Attributes:
        channels: Every channel of the user, sorted by name.
    """

    channels: tuple[ChannelView, ...]


@attrs.frozen(kw_only=True)
class MembersChanged:
    """A channel's members changed.

    Attributes:
        channel_id: The channel.
        members: Its members now.
    """

    channel_id: str
    members: tuple[MemberView, ...]


@attrs.frozen(kw_only=True)
class KeyRotated:
    """A channel moved to a new key epoch.

    Attributes:
        channel_id: The channel.
        epoch: The new epoch.
        by_us: Whether this device rotated it.
        has_key: Whether this device already holds the new key.
    """

    channel_id: str
    epoch: int
    by_us: bool
    has_key: bool


@attrs.frozen(kw_only=True)
class ChannelKeysArrived:
    """This device received keys for a channel: redraw its "no key yet" placeholders (reload
    the history shown) and its name.

    Attributes:
        channel_id: The channel.
        epochs: The epochs whose keys arrived.
    """

    channel_id: str
    epochs: tuple[int, ...]


@attrs.frozen(kw_only=True)
class Typing:
    """Someone is typing (show for about 5 s).

    Attributes:
        channel_id: The channel.
        user_id: The user.
        display_name: Their display name.
    """

    channel_id: str
    user_id: str
    display_name: str


@attrs.frozen(kw_only=True)
class Presence:
    """A user's presence changed.

    Attributes:
        user_id: The user.
        status: ``online``, ``away``, ``dnd`` or ``offline``.
        last_seen_at: When they were last connected.
    """

    user_id: str
    status: str
    last_seen_at: datetime | None = None


@attrs.frozen(kw_only=True)
class ReadMarker:
    """The user's read marker moved (from this or another of their devices).

    Attributes:
        channel_id: The channel.
        seq: The newest sequence number read.
    """

    channel_id: str
    seq: int


@attrs.frozen(kw_only=True)
class ProfileChanged:
    """A user's display name is known or changed.

    Attributes:
        user_id: The user.
        display_name: The decrypted name.
    """

    user_id: str
    display_name: str


@attrs.frozen(kw_only=True)
class DeviceKeyChanged:
    """LOUD WARNING: a known user's device now has different keys than the ones pinned.

    Nothing is sent to the device and its messages show as "unverified sender" until the user
    compares safety numbers again (``/verify``).

    Attributes:
        user_id: The device's owner.
        display_name: Their display name.
        device_id: The device.
        old_fingerprint: The pinned fingerprint.
        new_fingerprint: The fingerprint the server now reports.
    """

    user_id: str
    display_name: str
    device_id: str
    old_fingerprint: str
    new_fingerprint: str


@attrs.frozen(kw_only=True)
class NewDeviceNeedsApproval:
    """A new device of this user is waiting: approve it (``/devices approve``) after comparing
    fingerprints, or revoke it. It gets no keys until approved.

    Attributes:
        device: The pending device.
    """

    device: DeviceView


@attrs.frozen(kw_only=True)
class DevicesChanged:
    """A user's devices changed (joined, approved, revoked).

    Attributes:
        user_id: The user.
        devices: Their devices now.
    """

    user_id: str
    devices: tuple[DeviceView, ...]


@attrs.frozen(kw_only=True)
class VoiceDaemonState:
    """Whether the voice daemon is reachable (a missing or crashed daemon is shown, not fatal).

    Attributes:
        available: Whether the IPC connection is up and identified.
        reason: Why it is not (or the daemon's PTT backend and reason when it is).
        ptt_backend: The daemon's push-to-talk backend, when available.
    """

    available: bool
    reason: str
    ptt_backend: str | None = None


@attrs.frozen(kw_only=True)
class VoiceState:
    """Our own voice state.

    Attributes:
        channel_id: The voice room we are in, or None.
        connected: Whether the daemon has the room's audio running.
        muted: Whether our microphone is muted.
        deafened: Whether we are deafened.
    """

    channel_id: str | None
    connected: bool
    muted: bool
    deafened: bool


@attrs.frozen(kw_only=True)
class VoiceRoster:
    """Who is in a channel's voice room (from the server).

    Attributes:
        channel_id: The channel.
        members: The participants.
    """

    channel_id: str
    members: tuple[VoiceMemberView, ...]


@attrs.frozen(kw_only=True)
class VoiceMembers:
    """The daemon's view of the peers of our voice room (connection states, speaking).

    Attributes:
        channel_id: The channel.
        members: The remote devices.
    """

    channel_id: str
    members: tuple[VoiceMemberView, ...]


@attrs.frozen(kw_only=True)
class Speaking:
    """Someone in our voice room (ourselves included) started or stopped speaking.

    Attributes:
        user_id: The user.
        device_id: The device.
        speaking: Whether they speak now.
    """

    user_id: str
    device_id: str
    speaking: bool


@attrs.frozen(kw_only=True)
class VoiceLevel:
    """Our microphone level (when the meter is on).

    Attributes:
        rms_dbfs: RMS level.
        peak_dbfs: Peak level.
        transmitting: Whether the microphone is being sent.
    """

    rms_dbfs: float
    peak_dbfs: float
    transmitting: bool


@attrs.frozen(kw_only=True)
class SignalingRefused:
    """A WebRTC offer or answer was refused: its signature did not verify against the sender's
    trusted device key (a server rewriting it, e.g. to swap the DTLS fingerprint), or the sender
    device is not trusted. The call to that device is not set up.

    Attributes:
        channel_id: The voice room.
        from_user_id: The claimed sender.
        from_device_id: The claimed sending device.
        kind: ``offer`` or ``answer``.
        reason: A human explanation.
    """

    channel_id: str
    from_user_id: str
    from_device_id: str
    kind: str
    reason: str


@attrs.frozen(kw_only=True)
class Notice:
    """Something the user should read (informational).

    Attributes:
        text: The notice.
    """

    text: str


@attrs.frozen(kw_only=True)
class Error:
    """Something failed in the background (a command's failure is raised to its caller instead).

    Attributes:
        text: A human explanation.
        code: The server's or daemon's error code, when there is one.
    """

    text: str
    code: str | None = None


ClientEvent: TypeAlias = (
    Connected
    | Synced
    | Reconnecting
    | Offline
    | MessageReceived
    | MessageFailed
    | MessageQueued
    | MessageAcked
    | MessageRejected
    | HistoryLoaded
    | ChannelsChanged
    | MembersChanged
    | KeyRotated
    | ChannelKeysArrived
    | Typing
    | Presence
    | ReadMarker
    | ProfileChanged
    | DeviceKeyChanged
    | NewDeviceNeedsApproval
    | DevicesChanged
    | VoiceDaemonState
    | VoiceState
    | VoiceRoster
    | VoiceMembers
    | Speaking
    | VoiceLevel
    | SignalingRefused
    | Notice
    | Error
)
"""Every event the core emits."""
