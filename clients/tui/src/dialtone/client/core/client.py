"""`ClientCore`: the one facade of the UI-free client core.

The TUI creates one `ClientCore(options)`, unlocks it with `login` / `register` / `add_device`,
calls `connect()`, and then reads typed events (dialtone.client.core.events) from `events()` or a
callback given to `subscribe`. Every method is a coroutine run on the TUI's event loop; CPU-heavy
work (scrypt, batches of signature checks and decryption) runs in worker threads so the loop never
blocks. The core never imports textual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from dialtone.client.core.events import (
    AccountInfo,
    ChannelView,
    ClientEvent,
    ConnectionState,
    DecryptedMessage,
    DeviceView,
    HistoryPage,
    MemberView,
    SafetyNumberView,
)
from dialtone.client.core.options import ClientOptions

__all__ = ["ClientCore"]


class ClientCore:
    """HTTP + WebSocket client, keystore, all crypto flows, device trust, offline queue, history,
    and the voice daemon's signaling relay.

    Args:
        options: The settings.
    """

    def __init__(self, options: ClientOptions) -> None:
        raise NotImplementedError

    # --- events ----------------------------------------------------------------------------------

    def events(self) -> AsyncIterator[ClientEvent]:
        """A new subscription to every event emitted from now on, in order, until `close()`.

        Returns:
            An async iterator; each call makes an independent subscription (none is dropped).
        """
        raise NotImplementedError

    def subscribe(self, callback: Callable[[ClientEvent], None]) -> Callable[[], None]:
        """Call `callback` (on the event loop) with every event emitted from now on.

        Args:
            callback: A function taking one event; exceptions it raises are logged and ignored.

        Returns:
            A function that removes the subscription.
        """
        raise NotImplementedError

    # --- state -----------------------------------------------------------------------------------

    @property
    def account(self) -> AccountInfo | None:
        """The logged-in account, or None before login."""
        raise NotImplementedError

    @property
    def connection_state(self) -> ConnectionState:
        """Online, reconnecting or offline."""
        raise NotImplementedError

    @property
    def channels(self) -> tuple[ChannelView, ...]:
        """The user's channels as last known, sorted by name."""
        raise NotImplementedError

    def channel(self, channel_id_or_name: str) -> ChannelView:
        """Find one of the user's channels by id, or by exact (then unique prefix) name.

        Raises:
            ChannelNotFoundError: No such channel.
        """
        raise NotImplementedError

    def display_name(self, user_id: str) -> str:
        """The user's directory display name if readable, else a short form of their id."""
        raise NotImplementedError

    def pending_messages(self, channel_id: str) -> tuple[DecryptedMessage, ...]:
        """Our messages of a channel not yet acknowledged (offline queue included), oldest first."""
        raise NotImplementedError

    # --- account and session ---------------------------------------------------------------------

    def has_profile(self, username: str) -> bool:
        """Whether a keystore for `username` on this server exists on this machine (unlock it
        with `login`; otherwise `register` or `add_device` creates one)."""
        raise NotImplementedError

    def profile_path(self, username: str) -> Path:
        """Where the keystore of `username` on this server lives."""
        raise NotImplementedError

    async def register(
        self,
        *,
        invite_token: str,
        username: str,
        password: str,
        passphrase: str,
        display_name: str | None = None,
    ) -> AccountInfo:
        """Create the account with an invite: new device keys, a new keystore, registration.

        Args:
            invite_token: The single-use invite.
            username: The username.
            password: The account password (sent to the server, which keeps a hash).
            passphrase: The new keystore's passphrase (never leaves this machine).
            display_name: The profile name to publish, sealed with a new directory key.

        Returns:
            The account.

        Raises:
            KeystoreExists: A keystore for this user and server already exists.
            ApiError: ``invalid_invite``, ``username_taken``, ``bad_request``...
            ServerUnreachableError: The server cannot be reached.
        """
        raise NotImplementedError

    async def login(self, *, username: str, password: str, passphrase: str) -> AccountInfo:
        """Unlock this device's keystore and log in with its device.

        Raises:
            KeystoreNotFound: No keystore for this user here (use `add_device`).
            WrongPassphrase: The passphrase does not unlock it.
            KeystoreLocked: Another client has it open.
            ApiError: ``invalid_credentials``, ``device_revoked``...
            ServerUnreachableError: The server cannot be reached.
        """
        raise NotImplementedError

    async def add_device(self, *, username: str, password: str, passphrase: str) -> AccountInfo:
        """Make this machine a new device of an existing account. It stays pending (no keys)
        until one of the user's approved devices approves it; `NewDeviceNeedsApproval` is shown
        there.

        Raises:
            KeystoreExists: This machine already has a keystore for the user (use `login`).
            ApiError: ``invalid_credentials``, ``too_many_devices``...
            ServerUnreachableError: The server cannot be reached.
        """
        raise NotImplementedError

    async def logout(self) -> None:
        """End the session on the server, disconnect, and lock the keystore."""
        raise NotImplementedError

    async def close(self) -> None:
        """Disconnect, detach the voice daemon, save and lock the keystore. Safe to call twice."""
        raise NotImplementedError

    # --- connection ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Load channels, keys and profiles, then keep a WebSocket up (reconnecting with backoff
        and resuming from the last sequence numbers) until `disconnect` or `close`.

        Returns once the first connection attempt finished (online or reconnecting).

        Raises:
            NotLoggedInError: No session.
        """
        raise NotImplementedError

    async def disconnect(self) -> None:
        """Close the WebSocket and stop reconnecting (messages sent meanwhile are queued)."""
        raise NotImplementedError

    # --- channels --------------------------------------------------------------------------------

    async def refresh_channels(self) -> tuple[ChannelView, ...]:
        """Fetch the channel list (and any envelopes waiting for this device)."""
        raise NotImplementedError

    async def create_channel(self, name: str, members: Sequence[str] = ()) -> ChannelView:
        """Create a channel: a new key, the name sealed with it, envelopes to our trusted devices,
        then each of `members` added.

        Args:
            name: The channel name (sealed; the server never sees it).
            members: Usernames to add.

        Raises:
            UserNotFoundError: A member does not exist.
            ApiError: The server refused.
        """
        raise NotImplementedError

    async def rename_channel(self, channel_id: str, name: str) -> ChannelView:
        """Seal and set a new name (owner or admin).

        Raises:
            NoChannelKeyError: This device lacks the current key.
            ApiError: ``forbidden``...
        """
        raise NotImplementedError

    async def delete_channel(self, channel_id: str) -> None:
        """Delete a channel (owner) and forget its keys."""
        raise NotImplementedError

    async def members(self, channel_id: str) -> tuple[MemberView, ...]:
        """Fetch a channel's members."""
        raise NotImplementedError

    async def add_member(self, channel_id: str, username: str, *, role: str = "member") -> None:
        """Add a user: the current key is sealed to each of their trusted devices (pinned on first
        use), and our directory key too.

        Raises:
            UserNotFoundError: No such user.
            NoChannelKeyError: This device lacks the current key.
            ApiError: ``forbidden``, ``conflict``...
        """
        raise NotImplementedError

    async def remove_member(self, channel_id: str, user: str) -> None:
        """Remove a member (or leave, for ourselves) and rotate the channel to a new key epoch
        shared with the remaining trusted devices.

        Args:
            channel_id: The channel.
            user: A user id or username.
        """
        raise NotImplementedError

    async def rotate_key(self, channel_id: str) -> int:
        """Start a new key epoch for a channel, shared with every remaining trusted member device.

        Returns:
            The new epoch.
        """
        raise NotImplementedError

    # --- messages --------------------------------------------------------------------------------

    async def send_message(self, channel_id: str, body: str) -> DecryptedMessage:
        """Seal, sign and send a message; offline, it is queued and sent on reconnect with the
        same client message id (the server stores it once).

        Returns:
            The pending message (`MessageQueued` is emitted, then `MessageAcked`).

        Raises:
            NoChannelKeyError: This device lacks the channel's current key.
            OutboxFullError: Too many messages wait already.
        """
        raise NotImplementedError

    async def open_channel(self, channel_id: str) -> HistoryPage:
        """The newest page of a channel, verified and decrypted in worker threads."""
        raise NotImplementedError

    async def load_history(
        self, channel_id: str, *, before: int | None = None, limit: int | None = None
    ) -> HistoryPage:
        """A page of history older than `before` (newest page if None), decrypted off the loop.

        Args:
            channel_id: The channel.
            before: Exclusive upper bound on ``seq``.
            limit: Page size (default: the options' ``history_page_size``).
        """
        raise NotImplementedError

    async def mark_read(self, channel_id: str, seq: int) -> None:
        """Move the read marker (never backwards)."""
        raise NotImplementedError

    async def send_typing(self, channel_id: str) -> None:
        """Tell the channel we are typing (rate-limited to one per 3 s; dropped when offline)."""
        raise NotImplementedError

    async def set_presence(self, status: str) -> None:
        """Set our presence (``online``, ``away``, ``dnd``, ``offline``)."""
        raise NotImplementedError

    # --- profiles --------------------------------------------------------------------------------

    async def set_display_name(self, name: str) -> None:
        """Seal our display name with our directory key and publish it."""
        raise NotImplementedError

    # --- devices and trust -----------------------------------------------------------------------

    async def devices(self) -> tuple[DeviceView, ...]:
        """Our own devices with their status and fingerprints."""
        raise NotImplementedError

    async def approve_device(self, device_id: str) -> None:
        """Approve one of our pending devices (compare its fingerprint first) and send it every
        channel key and our directory key.

        Raises:
            UntrustedDeviceError: This device is not approved itself.
            ApiError: The server refused.
        """
        raise NotImplementedError

    async def revoke_device(self, device_id: str) -> None:
        """Revoke one of our devices; every channel it could read rotates to a new key epoch."""
        raise NotImplementedError

    async def verify_user(self, user: str) -> SafetyNumberView:
        """The safety number of us and `user` (id or username) and their devices' fingerprints.

        Raises:
            UserNotFoundError: No such user.
        """
        raise NotImplementedError

    async def mark_verified(self, user: str) -> SafetyNumberView:
        """Mark `user`'s current devices verified (after comparing the safety number), which also
        re-trusts devices whose keys changed; their pending channel keys are then sent.
        """
        raise NotImplementedError

    # --- invites ---------------------------------------------------------------------------------

    async def create_invite(
        self, *, ttl_seconds: int | None = None, note: str | None = None
    ) -> str:
        """Create an invite (admin) and return its token."""
        raise NotImplementedError

    # --- voice -----------------------------------------------------------------------------------

    async def attach_voice(self, socket_path: Path | None = None) -> None:
        """Connect to the voice daemon's IPC socket (or the options' path) and relay signaling.
        A missing or crashed daemon emits `VoiceDaemonState(available=False)`; this core keeps
        retrying in the background until `detach_voice`.
        """
        raise NotImplementedError

    async def detach_voice(self) -> None:
        """Disconnect from the voice daemon (leaving any voice room first)."""
        raise NotImplementedError

    async def voice_join(self, channel_id: str) -> None:
        """Join a channel's voice room: TURN credentials to the daemon, then join on both sides.

        Raises:
            VoiceUnavailableError: The daemon is not connected.
        """
        raise NotImplementedError

    async def voice_leave(self) -> None:
        """Leave the voice room."""
        raise NotImplementedError

    async def voice_mute(self, muted: bool = True) -> None:
        """Mute (or unmute) the microphone."""
        raise NotImplementedError

    async def voice_deafen(self, deafened: bool = True) -> None:
        """Deafen (or undeafen)."""
        raise NotImplementedError
