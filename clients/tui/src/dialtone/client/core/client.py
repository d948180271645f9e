"""`ClientCore`: the one facade of the UI-free client core.

The TUI creates one `ClientCore(options)`, unlocks it with `login` / `register` / `add_device`,
calls `connect()`, and then reads typed events (dialtone.client.core.events) from `events()` or a
callback given to `subscribe`. Every method is a coroutine run on the TUI's event loop; CPU-heavy
work (scrypt, batches of signature checks and decryption) runs in worker threads so the loop never
blocks. The core never imports textual.

`ClientCore` itself holds the account and session, the connection and the voice daemon; the rest
is done by collaborators sharing one `CoreState` (dialtone.client.core.state): `KeyExchange`
(devices seen, key envelopes, profiles), `OutboxSender` (the offline queue and sending),
`ChannelOps` (channels, members, key rotation), `Messaging` (messages and history), `Devices`
(approval, revocation, verification) and `ServerEvents` (the realtime link's callbacks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from dialtone.client import __version__
from dialtone.client.core import sealing
from dialtone.client.core.channels import ChannelOps
from dialtone.client.core.devices import Devices
from dialtone.client.core.errors import (
    ChannelNotFoundError,
    CoreError,
    IncompatibleServerError,
    VoiceUnavailableError,
)
from dialtone.client.core.events import (
    AccountInfo,
    ChannelView,
    ClientEvent,
    ConnectionState,
    DecryptedMessage,
    DeviceView,
    Error,
    HistoryItem,
    HistoryPage,
    MemberView,
    Notice,
    Offline,
    SafetyNumberView,
    ServerInfo,
)
from dialtone.client.core.ice import IceGrant, fetch_grant
from dialtone.client.core.keyexchange import DIRECTORY_EPOCH, KeyExchange
from dialtone.client.core.keyring import KeyRing
from dialtone.client.core.link import RealtimeLink
from dialtone.client.core.messaging import Messaging
from dialtone.client.core.options import ClientOptions
from dialtone.client.core.outbox_store import OutboxStore, outbox_path
from dialtone.client.core.sending import OutboxSender
from dialtone.client.core.server_events import ServerEvents
from dialtone.client.core.session import (
    Session,
    create_keystore,
    discard_keystore,
    identity_from_keys,
    open_keystore,
    store_identity,
)
from dialtone.client.core.state import CoreState
from dialtone.client.core.trust import DeviceBook
from dialtone.client.core.voice import VoiceRelay
from dialtone.crypto import ChannelKey, DeviceIdentity, Scope
from dialtone.keystore import KeystoreExists, profile_path
from dialtone.wire import SUPPORTED_PROTOCOL_VERSIONS, ProtocolError, negotiate_version
from dialtone.wire import http as wire
from dialtone.wire import ws as wire_ws
from dialtone.wire.common import ChannelCursor, DeviceStatus

__all__ = ["ClientCore"]

log = logging.getLogger(__name__)

# One worker: Ed25519 verification holds the GIL, so a second worker would not add throughput,
# only contention with the event loop for the GIL.
_DECRYPT_WORKERS = 1


class ClientCore:
    """HTTP + WebSocket client, keystore, all crypto flows, device trust, offline queue, history,
    and the voice daemon's signaling relay.

    Args:
        options: The settings.
    """

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self._state = CoreState(options)
        self._keys = KeyExchange(self._state)
        self._sending = OutboxSender(self._state)
        self._channel_ops = ChannelOps(self._state, self._keys, self._sending)
        self._messaging = Messaging(self._state, self._keys, self._channel_ops, self._sending)
        self._devices = Devices(self._state, self._keys, self._channel_ops)
        self._events = ServerEvents(self._state, self._keys, self._channel_ops, self._sending)
        self._approval_task: asyncio.Task[None] | None = None
        self._closed = False

    # --- events -----------------------------------------------------------------------------------

    def events(self) -> AsyncIterator[ClientEvent]:
        """A new subscription to every event emitted from now on, in order, until `close()`.

        Returns:
            An async iterator; each call makes an independent subscription (none is dropped).
        """
        return self._state.bus.stream()

    def subscribe(self, callback: Callable[[ClientEvent], None]) -> Callable[[], None]:
        """Call `callback` (on the event loop) with every event emitted from now on.

        Args:
            callback: A function taking one event; exceptions it raises are logged and ignored.

        Returns:
            A function that removes the subscription.
        """
        return self._state.bus.subscribe(callback)

    # --- state ------------------------------------------------------------------------------------

    @property
    def account(self) -> AccountInfo | None:
        """The logged-in account, or None before login."""
        return self._state.session.account if self._state.session is not None else None

    @property
    def connection_state(self) -> ConnectionState:
        """Online, reconnecting or offline."""
        return self._state.connection

    @property
    def channels(self) -> tuple[ChannelView, ...]:
        """The user's channels as last known, sorted by name."""
        return self._state.channel_views()

    def channel(self, channel_id_or_name: str) -> ChannelView:
        """Find one of the user's channels by id, or by exact (then unique prefix) name.

        Raises:
            ChannelNotFoundError: No such channel.
        """
        found = self._state.channels.get(channel_id_or_name)
        if found is not None:
            return self._state.view(found)
        wanted = channel_id_or_name.lstrip("#").casefold()
        exact = [c for c in self._state.channels.values() if (c.name or "").casefold() == wanted]
        if len(exact) == 1:
            return self._state.view(exact[0])
        prefix = [
            c for c in self._state.channels.values() if (c.name or "").casefold().startswith(wanted)
        ]
        if len(prefix) == 1 and wanted:
            return self._state.view(prefix[0])
        by_id = [
            c for c in self._state.channels.values() if c.channel_id.startswith(channel_id_or_name)
        ]
        if len(by_id) == 1:
            return self._state.view(by_id[0])
        raise ChannelNotFoundError(f"no channel {channel_id_or_name!r}")

    def display_name(self, user_id: str) -> str:
        """The user's directory display name if readable, else a short form of their id."""
        return self._state.display_name(user_id)

    def presence(self, user_id: str) -> str:
        """A user's presence as last known (``offline`` when nothing is known).

        Args:
            user_id: The user.

        Returns:
            ``online``, ``away``, ``dnd`` or ``offline``.
        """
        return self._state.presence(user_id)

    def pending_messages(self, channel_id: str) -> tuple[DecryptedMessage, ...]:
        """Our messages of a channel not yet acknowledged (offline queue included), oldest first."""
        return tuple(item.view for item in self._sending.queue.of_channel(channel_id))

    # --- account and session ----------------------------------------------------------------------

    async def check_server(self) -> ServerInfo:
        """Ask the server's health check whether it is a Dialtone server we can talk to, before
        any account call (the connect screen does this, so a wrong URL fails there).

        Returns:
            The server's version and the protocol version to speak.

        Raises:
            ServerUnreachableError: Nothing answers at the URL.
            NotDialtoneServerError: Something answers, but not as a Dialtone server does.
            IncompatibleServerError: A Dialtone server that speaks none of our protocol versions.
            ApiError: The server answered an error (``unavailable``: its database is down).
        """
        health = await self._state.api.health()
        try:
            version = negotiate_version(health.protocol_versions)
        except ProtocolError as exc:
            raise IncompatibleServerError(
                f"the server (Dialtone {health.server_version}) speaks protocol versions "
                f"{list(health.protocol_versions)}, this client "
                f"{list(SUPPORTED_PROTOCOL_VERSIONS)}: update the older one"
            ) from exc
        return ServerInfo(
            server_url=self._state.options.server_url,
            server_version=health.server_version,
            protocol_version=version,
        )

    def has_profile(self, username: str) -> bool:
        """Whether a keystore for `username` on this server exists on this machine (unlock it
        with `login`; otherwise `register` or `add_device` creates one)."""
        return self.profile_path(username).exists()

    def profile_path(self, username: str) -> Path:
        """Where the keystore of `username` on this server lives."""
        return profile_path(
            self._state.options.server_url, username, directory=self._state.options.data_dir
        )

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
        if display_name is not None:
            sealing.check_text(display_name, sealing.MAX_NAME_BYTES, "display name")
        identity = DeviceIdentity.generate()
        request = wire.RegisterRequest(
            invite_token=invite_token,
            username=username,
            password=password,
            device=sealing.device_keys(identity),
        )
        auth = await self._new_device(
            username, passphrase, identity, self._state.api.register(request)
        )
        session = self._state.require()
        directory_key = ChannelKey.generate(Scope.directory(auth.user_id), DIRECTORY_EPOCH)
        session.keys.put_directory_key(auth.user_id, directory_key)
        await self._state.persist()
        own = await self._keys.observe_own_devices()
        await self._keys.share_directory_key(own)
        if display_name:
            await self._keys.set_display_name(display_name)
        return session.account

    async def login(self, *, username: str, password: str, passphrase: str) -> AccountInfo:
        """Unlock this device's keystore and log in with its device.

        Raises:
            KeystoreNotFound: No keystore for this user here (use `add_device`).
            WrongPassphrase: The passphrase does not unlock it.
            KeystoreLocked: Another client has it open.
            ApiError: ``invalid_credentials``, ``device_revoked``...
            ServerUnreachableError: The server cannot be reached.
        """
        await self._logout_locally()
        store, stored = await asyncio.to_thread(
            open_keystore, self.profile_path(username), passphrase
        )
        try:
            identity = identity_from_keys(stored)
            auth = await self._state.api.login(
                wire.LoginRequest(username=username, password=password, device_id=stored.device_id)
            )
        except BaseException:
            await asyncio.to_thread(store.close)
            raise
        self._start_session(store, identity, auth, username)
        await self._sending.restore_outbox()
        return self._state.require().account

    async def add_device(self, *, username: str, password: str, passphrase: str) -> AccountInfo:
        """Make this machine a new device of an existing account. It stays pending (no keys)
        until one of the user's approved devices approves it; `NewDeviceNeedsApproval` is shown
        there.

        Raises:
            KeystoreExists: This machine already has a keystore for the user (use `login`).
            ApiError: ``invalid_credentials``, ``too_many_devices``...
            ServerUnreachableError: The server cannot be reached.
        """
        identity = DeviceIdentity.generate()
        request = wire.DeviceAddRequest(
            username=username, password=password, device=sealing.device_keys(identity)
        )
        await self._new_device(username, passphrase, identity, self._state.api.add_device(request))
        return self._state.require().account

    async def _new_device(
        self,
        username: str,
        passphrase: str,
        identity: DeviceIdentity,
        call: Coroutine[Any, Any, wire.AuthResponse],
    ) -> wire.AuthResponse:
        await self._logout_locally()
        path = self.profile_path(username)
        if path.exists():
            call.close()
            raise KeystoreExists(17, "a keystore for this user already exists here", str(path))
        store = await asyncio.to_thread(
            create_keystore, path, passphrase, self._state.options.keystore_params
        )
        try:
            auth = await call
        except BaseException:
            await asyncio.to_thread(discard_keystore, store)
            raise
        store.set_device_keys(store_identity(auth.device_id, identity))
        await asyncio.to_thread(store.save)
        self._start_session(store, identity, auth, username)
        if self._sending.store is not None:
            # A queue left by an earlier device of this name cannot be opened by this one.
            await asyncio.to_thread(self._sending.store.clear)
        return auth

    def _start_session(
        self, store: Any, identity: DeviceIdentity, auth: wire.AuthResponse, username: str
    ) -> None:
        account = AccountInfo(
            server_url=self._state.options.server_url,
            username=username,
            user_id=auth.user_id,
            device_id=auth.device_id,
            fingerprint=identity.public_bundle.fingerprint,
            approved=auth.device_status is DeviceStatus.APPROVED,
            is_admin=auth.is_admin,
        )
        self._state.api.token = auth.token
        self._state.session = Session(
            store=store,
            identity=identity,
            account=account,
            token=auth.token,
            book=DeviceBook(
                store, self._state.server, user_id=auth.user_id, device_id=auth.device_id
            ),
            keys=KeyRing(store, self._state.server, user_id=auth.user_id),
        )
        self._state.executor = ThreadPoolExecutor(
            max_workers=_DECRYPT_WORKERS, thread_name_prefix="dialtone-decrypt"
        )
        self._sending.store = OutboxStore(
            outbox_path(self.profile_path(username)),
            identity,
            server=self._state.server,
            user_id=auth.user_id,
            device_id=auth.device_id,
            codec=self._state.codec,
        )

    async def logout(self) -> None:
        """End the session on the server, disconnect, and lock the keystore."""
        if self._state.session is not None:
            with contextlib.suppress(CoreError):
                await self._state.api.logout()
        await self._logout_locally()
        self._state.emit(Offline(reason="logged out"))

    async def _logout_locally(self) -> None:
        await self.disconnect()
        if self._state.voice is not None:
            await self._state.voice.detach()
            self._state.voice = None
        for task in list(self._state.tasks):
            task.cancel()
        for task in list(self._state.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._sending.close_outbox()
        session, self._state.session = self._state.session, None
        if session is not None:
            async with self._state.save_lock:
                await asyncio.to_thread(session.store.close)
        if self._state.executor is not None:
            self._state.executor.shutdown(wait=False, cancel_futures=True)
            self._state.executor = None
        self._state.api.token = None
        self._state.forget()
        self._sending.reset()

    async def close(self) -> None:
        """Disconnect, detach the voice daemon, save and lock the keystore. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._logout_locally()
        await self._state.api.close()
        self._state.bus.close()

    # --- connection -------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Load channels, keys and profiles, then keep a WebSocket up (reconnecting with backoff
        and resuming from the last sequence numbers) until `disconnect` or `close`.

        A device still waiting for approval checks back every ``approval_poll_interval``
        seconds and connects once approved.

        Returns once the first connection attempt finished (online or reconnecting).

        Raises:
            NotLoggedInError: No session.
        """
        session = self._state.require()
        if not session.account.approved:
            if self._approval_task is None or self._approval_task.done():
                self._approval_task = asyncio.get_running_loop().create_task(
                    self._await_approval(), name="dialtone: approval"
                )
            self._state.emit(
                Offline(
                    reason="waiting for one of your other devices to approve this one "
                    f"(fingerprint {session.account.fingerprint})"
                )
            )
            return
        await self._load()
        await self._start_link()

    async def _await_approval(self) -> None:
        while self._state.session is not None and not self._state.session.account.approved:
            try:
                devices = await self._state.api.own_devices()
            except CoreError as exc:
                log.info("approval check failed: %s", exc)
                devices = ()
            session = self._state.session
            if session is None:
                return
            mine = next((d for d in devices if d.device_id == session.account.device_id), None)
            if mine is not None and mine.status is DeviceStatus.APPROVED:
                session.account = attrs.evolve(session.account, approved=True)
                self._state.emit(Notice(text="this device was approved; loading your channels"))
                try:
                    await self._load()
                    await self._start_link()
                except CoreError as exc:
                    self._state.emit(Error(text=f"loading after approval failed: {exc}"))
                return
            if mine is not None and mine.status is DeviceStatus.REVOKED:
                self._state.emit(Offline(reason="this device was revoked"))
                return
            await asyncio.sleep(self._state.options.approval_poll_interval)

    async def _start_link(self) -> None:
        if self._state.link is None:
            self._state.link = RealtimeLink(
                self._state.api,
                self._state.codec,
                self,
                client_name=f"{self._state.options.client_name}/{__version__}",
                initial_delay=self._state.options.reconnect_initial_delay,
                max_delay=self._state.options.reconnect_max_delay,
            )
        await self._state.link.start()

    async def disconnect(self) -> None:
        """Close the WebSocket and stop reconnecting (messages sent meanwhile are queued)."""
        if self._approval_task is not None:
            self._approval_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._approval_task
            self._approval_task = None
        link, self._state.link = self._state.link, None
        if link is not None:
            await link.stop()
        if self._state.connection is not ConnectionState.OFFLINE:
            self._state.connection = ConnectionState.OFFLINE

    async def reconnect_now(self) -> None:
        """Skip the remaining backoff delay and try to connect at once."""
        if self._state.link is not None:
            self._state.link.reconnect_now()

    async def _load(self) -> None:
        await self._channel_ops.refresh_channels()
        await self._keys.observe_own_devices()
        for channel_id in list(self._state.channels):
            await self._keys.observe_channel_devices(channel_id)
        await self._keys.fetch_envelopes()
        await self._keys.fetch_directory()
        self._keys.decrypt_names()
        for channel in self._state.channels.values():
            self._state.cursors.setdefault(channel.channel_id, channel.last_seq)
        await self._keys.share_directory_key(self._keys.co_member_devices())
        await self._keys.refresh_profiles(self._keys.co_member_ids())
        await self._state.persist()
        self._state.channels_changed()

    # --- realtime link callbacks (LinkHandler) ----------------------------------------------------

    def resume_cursors(self) -> tuple[ChannelCursor, ...]:
        """The last sequence number held per channel, for ``hello`` (LinkHandler)."""
        return self._events.resume_cursors()

    async def on_connected(self, ready: wire_ws.Ready, generation: int) -> None:
        """A connection was authenticated (LinkHandler)."""
        await self._events.on_connected(ready, generation)

    def on_down(self, reason: str, attempt: int, delay: float) -> None:
        """The connection is down; a retry follows (LinkHandler)."""
        self._events.on_down(reason, attempt, delay)

    def on_stopped(self, reason: str) -> None:
        """The link gave up or was stopped (LinkHandler)."""
        self._events.on_stopped(reason)

    async def on_event(self, event: wire_ws.ServerEvent) -> None:
        """One server event, in order (LinkHandler)."""
        await self._events.on_event(event)

    # --- channels and members ---------------------------------------------------------------------

    async def refresh_channels(self) -> tuple[ChannelView, ...]:
        """Fetch the channel list (and any envelopes waiting for this device)."""
        return await self._channel_ops.refresh_channels()

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
        return await self._channel_ops.create_channel(name, members)

    async def rename_channel(self, channel_id: str, name: str) -> ChannelView:
        """Seal and set a new name (owner or admin).

        Raises:
            NoChannelKeyError: This device lacks the current key.
            ApiError: ``forbidden``...
        """
        return await self._channel_ops.rename_channel(channel_id, name)

    async def delete_channel(self, channel_id: str) -> None:
        """Delete a channel (owner) and forget its keys."""
        await self._channel_ops.delete_channel(channel_id)

    async def members(self, channel_id: str) -> tuple[MemberView, ...]:
        """Fetch a channel's members."""
        return await self._channel_ops.members(channel_id)

    async def add_member(self, channel_id: str, username: str, *, role: str = "member") -> None:
        """Add a user: the current key is sealed to each of their trusted devices (pinned on first
        use), and our directory key too.

        Raises:
            UserNotFoundError: No such user.
            NoChannelKeyError: This device lacks the current key.
            ApiError: ``forbidden``, ``conflict``...
        """
        await self._channel_ops.add_member(channel_id, username, role=role)

    async def remove_member(self, channel_id: str, user: str) -> None:
        """Remove a member (or leave, for ourselves) and rotate the channel to a new key epoch
        shared with the remaining trusted devices.

        Args:
            channel_id: The channel.
            user: A user id or username.
        """
        await self._channel_ops.remove_member(channel_id, user)

    async def rotate_key(self, channel_id: str) -> int:
        """Start a new key epoch for a channel, shared with every remaining trusted member device.

        If another device rotated first, its new key is fetched instead.

        Returns:
            The epoch now current.
        """
        return await self._channel_ops.rotate_key(channel_id)

    # --- messages ---------------------------------------------------------------------------------

    async def send_message(self, channel_id: str, body: str) -> DecryptedMessage:
        """Seal, sign and send a message; offline, it is queued and sent on reconnect with the
        same client message id (the server stores it once).

        Returns:
            The pending message (`MessageQueued` is emitted, then `MessageAcked`).

        Raises:
            NoChannelKeyError: This device lacks the channel's current key.
            OutboxFullError: Too many messages wait already.
            ValueError: The body is empty or too long.
        """
        return await self._messaging.send_message(channel_id, body)

    async def open_channel(self, channel_id: str) -> HistoryPage:
        """The newest page of a channel, verified and decrypted in worker threads; the presence
        of its members is loaded too (`Presence` events), and kept up to date from then on.
        """
        return await self._messaging.open_channel(channel_id)

    async def load_history(
        self, channel_id: str, *, before: int | None = None, limit: int | None = None
    ) -> HistoryPage:
        """A page of history older than `before` (newest page if None), decrypted off the loop.

        Args:
            channel_id: The channel.
            before: Exclusive upper bound on ``seq``.
            limit: Page size (default: the options' ``history_page_size``).
        """
        return await self._messaging.load_history(channel_id, before=before, limit=limit)

    async def decrypt_messages(
        self, channel_id: str, messages: Sequence[wire.ChannelMessage]
    ) -> list[HistoryItem]:
        """Verify and decrypt messages of one channel in worker-thread batches.

        The keys and sender devices are snapshotted on the loop first, so workers never touch
        shared state; batches run in parallel and come back in order.

        Args:
            channel_id: The channel.
            messages: The messages, as the server delivered them.

        Returns:
            One item per message, in order.
        """
        return await self._messaging.decrypt_messages(channel_id, messages)

    async def mark_read(self, channel_id: str, seq: int) -> None:
        """Move the read marker (never backwards)."""
        await self._messaging.mark_read(channel_id, seq)

    async def send_typing(self, channel_id: str) -> None:
        """Tell the channel we are typing (rate-limited to one per 3 s; dropped when offline)."""
        await self._messaging.send_typing(channel_id)

    async def set_presence(self, status: str) -> None:
        """Set our presence (``online``, ``away``, ``dnd``, ``offline``)."""
        await self._messaging.set_presence(status)

    # --- profiles ---------------------------------------------------------------------------------

    async def set_display_name(self, name: str) -> None:
        """Seal our display name with our directory key and publish it."""
        await self._keys.set_display_name(name)

    # --- devices and trust ------------------------------------------------------------------------

    async def devices(self) -> tuple[DeviceView, ...]:
        """Our own devices with their status and fingerprints."""
        return await self._devices.devices()

    async def approve_device(self, device_id: str) -> None:
        """Approve one of our pending devices (compare its fingerprint first) and send it every
        channel key and our directory key.

        Raises:
            UntrustedDeviceError: This device is not approved itself, or the target is not a
                pending device of ours with valid keys.
            ApiError: The server refused.
        """
        await self._devices.approve_device(device_id)

    async def revoke_device(self, device_id: str) -> None:
        """Revoke one of our devices; every channel it could read rotates to a new key epoch
        (revoking this device ends the session here)."""
        if await self._devices.revoke_device(device_id):
            await self._logout_locally()
            self._state.emit(Offline(reason="this device was revoked"))

    async def verify_user(self, user: str) -> SafetyNumberView:
        """The safety number of us and `user` (id or username) and their devices' fingerprints.

        Raises:
            UserNotFoundError: No such user.
        """
        return await self._devices.verify_user(user)

    async def mark_verified(self, user: str) -> SafetyNumberView:
        """Mark `user`'s current devices verified (after comparing the safety number), which also
        re-trusts devices whose keys changed; their pending channel keys are then sent.
        """
        return await self._devices.mark_verified(user)

    # --- invites ----------------------------------------------------------------------------------

    async def create_invite(
        self, *, ttl_seconds: int | None = None, note: str | None = None
    ) -> str:
        """Create an invite (admin) and return its token."""
        self._state.require()
        request = (
            wire.InviteCreateRequest(note=note)
            if ttl_seconds is None
            else wire.InviteCreateRequest(ttl_seconds=ttl_seconds, note=note)
        )
        return (await self._state.api.create_invite(request)).token

    # --- voice ------------------------------------------------------------------------------------

    def _voice_socket(self, socket_path: Path | None) -> Path:
        if socket_path is not None:
            return socket_path
        if self._state.options.voice_ipc_path is not None:
            return self._state.options.voice_ipc_path
        runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
        return Path(runtime) / "dialtone" / "voiced.sock"

    async def _ice_servers(self) -> IceGrant:
        options = self._state.options
        return await fetch_grant(
            self._state.api, stun_urls=options.voice_stun_urls, turn_urls=options.voice_turn_urls
        )

    async def _send_ws(self, event: wire_ws.ClientEvent) -> bool:
        link = self._state.link
        return link is not None and await link.send(event)

    async def attach_voice(self, socket_path: Path | None = None) -> None:
        """Connect to the voice daemon's IPC socket (or the options' path) and relay signaling.
        A missing or crashed daemon emits `VoiceDaemonState(available=False)`; this core keeps
        retrying in the background until `detach_voice`.
        """
        session = self._state.require()
        if self._state.voice is None:
            self._state.voice = VoiceRelay(
                self._state.codec,
                identity=session.identity,
                user_id=session.account.user_id,
                device_id=session.account.device_id,
                client_name=f"{self._state.options.client_name}/{__version__}",
                send_ws=self._send_ws,
                emit=self._state.emit,
                lookup_bundle=self._keys.trusted_bundle,
                ice_servers=self._ice_servers,
                display_name=self._state.display_name,
                relay_only=self._state.options.voice_relay_only,
            )
        await self._state.voice.attach(self._voice_socket(socket_path))

    async def detach_voice(self) -> None:
        """Disconnect from the voice daemon (leaving any voice room first)."""
        voice, self._state.voice = self._state.voice, None
        if voice is not None:
            await voice.detach()

    def _require_voice(self) -> VoiceRelay:
        if self._state.voice is None:
            raise VoiceUnavailableError("no voice daemon attached (start it with --voice-auto)")
        return self._state.voice

    async def voice_join(self, channel_id: str) -> None:
        """Join a channel's voice room: TURN credentials to the daemon, the daemon opens the
        audio devices and the room, then the server lists us in it. A join that fails leaves
        us in no room (`VoiceState` with no channel), and a join the server refuses afterwards
        too (an `Error` says why).

        Raises:
            VoiceUnavailableError: The daemon is not connected.
            VoiceJoinError: The daemon could not open the room.
        """
        self._state.channel_state(channel_id)
        await self._require_voice().join(channel_id)

    async def voice_leave(self) -> None:
        """Leave the voice room."""
        if self._state.voice is not None:
            await self._state.voice.leave()

    async def voice_mute(self, muted: bool = True) -> None:
        """Mute (or unmute) the microphone."""
        await self._require_voice().set_muted(muted)

    async def voice_deafen(self, deafened: bool = True) -> None:
        """Deafen (or undeafen)."""
        await self._require_voice().set_deafened(deafened)
