"""`ClientCore`: the one facade of the UI-free client core.

The TUI creates one `ClientCore(options)`, unlocks it with `login` / `register` / `add_device`,
calls `connect()`, and then reads typed events (dialtone.client.core.events) from `events()` or a
callback given to `subscribe`. Every method is a coroutine run on the TUI's event loop; CPU-heavy
work (scrypt, batches of signature checks and decryption) runs in worker threads so the loop never
blocks. The core never imports textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from dialtone.client import __version__
from dialtone.client.core import sealing
from dialtone.client.core.api import HttpApi
from dialtone.client.core.bus import EventBus
from dialtone.client.core.decrypt import SenderSnapshot, decrypt_batch, decrypt_one
from dialtone.client.core.errors import (
    ApiError,
    ChannelNotFoundError,
    CoreError,
    IncompatibleServerError,
    NoChannelKeyError,
    NotLoggedInError,
    OutboxFullError,
    UntrustedDeviceError,
    UserNotFoundError,
    VoiceUnavailableError,
)
from dialtone.client.core.events import (
    AccountInfo,
    ChannelKeysArrived,
    ChannelsChanged,
    ChannelView,
    ClientEvent,
    Connected,
    ConnectionState,
    DecryptedMessage,
    DevicesChanged,
    DeviceTrust,
    DeviceView,
    Error,
    FailedMessage,
    HistoryItem,
    HistoryLoaded,
    HistoryPage,
    KeyRotated,
    MembersChanged,
    MemberView,
    MessageAcked,
    MessageFailed,
    MessageQueued,
    MessageReceived,
    MessageRejected,
    NewDeviceNeedsApproval,
    Notice,
    Offline,
    Presence,
    ProfileChanged,
    ReadMarker,
    Reconnecting,
    SafetyNumberView,
    ServerInfo,
    Synced,
    Typing,
)
from dialtone.client.core.keyring import KeyRing
from dialtone.client.core.link import RealtimeLink
from dialtone.client.core.options import ClientOptions
from dialtone.client.core.outbox import Outbox, Outgoing, Pacer
from dialtone.client.core.outbox_store import (
    OutboxStore,
    SavedMessage,
    UnreadableOutboxError,
    outbox_path,
)
from dialtone.client.core.session import (
    Session,
    create_keystore,
    discard_keystore,
    identity_from_keys,
    open_keystore,
    store_identity,
)
from dialtone.client.core.trust import DeviceBook, KnownDevice
from dialtone.client.core.voice import VoiceRelay, merge_ice_servers
from dialtone.crypto import ChannelKey, DeviceIdentity, PublicBundle, Scope, new_message_id
from dialtone.crypto import safety_number as compute_safety_number
from dialtone.crypto.errors import DecryptionError, InvalidSignature
from dialtone.keystore import KeyConflict, KeystoreExists, normalize_server_url, profile_path
from dialtone.wire import (
    SUPPORTED_PROTOCOL_VERSIONS,
    Codec,
    ErrorCode,
    ProtocolError,
    limits,
    negotiate_version,
)
from dialtone.wire import http as wire
from dialtone.wire import ws as wire_ws
from dialtone.wire.common import (
    ChannelCursor,
    DeviceInfo,
    DeviceStatus,
    IceServer,
    PresenceStatus,
    Role,
)

__all__ = ["ClientCore"]

log = logging.getLogger(__name__)

_TYPING_INTERVAL_S = 3.0
_CATCH_UP_PAGES = 50
_DIRECTORY_EPOCH = 1
_FIRST_EPOCH = 1
# One worker: Ed25519 verification holds the GIL, so a second worker would not add throughput,
# only contention with the event loop for the GIL.
_DECRYPT_WORKERS = 1
# Below the server's default per-connection event rate (200/s, burst 400), leaving room for
# typing, read markers and voice signaling on the same connection.
_SEND_RATE = 120.0
_SEND_BURST = 200
_RETRY_MIN_S = 0.5
_RETRY_MAX_S = 8.0


def _now() -> datetime:
    return datetime.now(UTC)


@attrs.define
class _Channel:
    """What this client knows of one channel."""

    info: wire.ChannelInfo
    name: str | None = None
    last_seq: int = 0
    read_seq: int = 0
    members: dict[str, wire.MemberInfo] | None = None
    needs_rotation: bool = False

    @property
    def channel_id(self) -> str:
        return self.info.channel_id

    @property
    def epoch(self) -> int:
        return self.info.current_epoch


class ClientCore:
    """HTTP + WebSocket client, keystore, all crypto flows, device trust, offline queue, history,
    and the voice daemon's signaling relay.

    Args:
        options: The settings.
    """

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self._codec = Codec()
        self._bus = EventBus()
        self._api = HttpApi(options.server_url, self._codec, timeout=options.request_timeout)
        self._server = normalize_server_url(options.server_url)
        self._session: Session | None = None
        self._channels: dict[str, _Channel] = {}
        self._cursors: dict[str, int] = {}
        self._profiles: dict[str, str] = {}
        self._presence: dict[str, Presence] = {}
        self._presence_watched: set[str] = set()
        self._outbox = Outbox(options.outbox_limit, self._outbox_changed)
        self._outbox_store: OutboxStore | None = None
        self._outbox_dirty = False
        self._outbox_saver: asyncio.Task[None] | None = None
        self._pacer = Pacer(_SEND_RATE, _SEND_BURST)
        self._retry_delay = _RETRY_MIN_S
        self._retry_pending = False
        self._link: RealtimeLink | None = None
        self._state = ConnectionState.OFFLINE
        self._executor: ThreadPoolExecutor | None = None
        self._voice: VoiceRelay | None = None
        self._typing_sent: dict[str, float] = {}
        self._save_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._approval_task: asyncio.Task[None] | None = None
        self._dir_shared: set[tuple[str, int]] = set()
        self._replayed = 0
        self._synced_once = False
        self._revoked = False
        self._closed = False

    # --- events ----------------------------------------------------------------------------------

    def events(self) -> AsyncIterator[ClientEvent]:
        """A new subscription to every event emitted from now on, in order, until `close()`.

        Returns:
            An async iterator; each call makes an independent subscription (none is dropped).
        """
        return self._bus.stream()

    def subscribe(self, callback: Callable[[ClientEvent], None]) -> Callable[[], None]:
        """Call `callback` (on the event loop) with every event emitted from now on.

        Args:
            callback: A function taking one event; exceptions it raises are logged and ignored.

        Returns:
            A function that removes the subscription.
        """
        return self._bus.subscribe(callback)

    def _emit(self, event: ClientEvent) -> None:
        self._bus.emit(event)

    # --- state -----------------------------------------------------------------------------------

    @property
    def account(self) -> AccountInfo | None:
        """The logged-in account, or None before login."""
        return self._session.account if self._session is not None else None

    @property
    def connection_state(self) -> ConnectionState:
        """Online, reconnecting or offline."""
        return self._state

    @property
    def channels(self) -> tuple[ChannelView, ...]:
        """The user's channels as last known, sorted by name."""
        views = [self._view(channel) for channel in self._channels.values()]
        return tuple(
            sorted(views, key=lambda v: (v.name is None, (v.name or "").casefold(), v.channel_id))
        )

    def channel(self, channel_id_or_name: str) -> ChannelView:
        """Find one of the user's channels by id, or by exact (then unique prefix) name.

        Raises:
            ChannelNotFoundError: No such channel.
        """
        found = self._channels.get(channel_id_or_name)
        if found is not None:
            return self._view(found)
        wanted = channel_id_or_name.lstrip("#").casefold()
        exact = [c for c in self._channels.values() if (c.name or "").casefold() == wanted]
        if len(exact) == 1:
            return self._view(exact[0])
        prefix = [
            c for c in self._channels.values() if (c.name or "").casefold().startswith(wanted)
        ]
        if len(prefix) == 1 and wanted:
            return self._view(prefix[0])
        by_id = [c for c in self._channels.values() if c.channel_id.startswith(channel_id_or_name)]
        if len(by_id) == 1:
            return self._view(by_id[0])
        raise ChannelNotFoundError(f"no channel {channel_id_or_name!r}")

    def display_name(self, user_id: str) -> str:
        """The user's directory display name if readable, else a short form of their id."""
        name = self._profiles.get(user_id)
        if name:
            return name
        session = self._session
        if session is not None and user_id == session.account.user_id:
            return session.account.username
        return f"user-{user_id[:8]}"

    def pending_messages(self, channel_id: str) -> tuple[DecryptedMessage, ...]:
        """Our messages of a channel not yet acknowledged (offline queue included), oldest first."""
        return tuple(item.view for item in self._outbox.of_channel(channel_id))

    def _view(self, channel: _Channel) -> ChannelView:
        session = self._session
        has_key = session is not None and (
            session.keys.channel_key(channel.channel_id, channel.epoch) is not None
        )
        return ChannelView(
            channel_id=channel.channel_id,
            name=channel.name,
            role=str(channel.info.role),
            epoch=channel.epoch,
            has_key=has_key,
            last_seq=channel.last_seq,
            read_seq=channel.read_seq,
            unread=max(0, channel.last_seq - channel.read_seq),
        )

    def _require(self) -> Session:
        if self._session is None:
            raise NotLoggedInError("log in or register first")
        return self._session

    def _channel_state(self, channel_id: str) -> _Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise ChannelNotFoundError(f"no channel {channel_id!r}")
        return channel

    def _channels_changed(self) -> None:
        self._emit(ChannelsChanged(channels=self.channels))

    # --- account and session ---------------------------------------------------------------------

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
        health = await self._api.health()
        try:
            version = negotiate_version(health.protocol_versions)
        except ProtocolError as exc:
            raise IncompatibleServerError(
                f"the server (Dialtone {health.server_version}) speaks protocol versions "
                f"{list(health.protocol_versions)}, this client "
                f"{list(SUPPORTED_PROTOCOL_VERSIONS)}: update the older one"
            ) from exc
        return ServerInfo(
            server_url=self.options.server_url,
            server_version=health.server_version,
            protocol_version=version,
        )

    def has_profile(self, username: str) -> bool:
        """Whether a keystore for `username` on this server exists on this machine (unlock it
        with `login`; otherwise `register` or `add_device` creates one)."""
        return self.profile_path(username).exists()

    def profile_path(self, username: str) -> Path:
        """Where the keystore of `username` on this server lives."""
        return profile_path(self.options.server_url, username, directory=self.options.data_dir)

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
        auth = await self._new_device(username, passphrase, identity, self._api.register(request))
        session = self._require()
        directory_key = ChannelKey.generate(Scope.directory(auth.user_id), _DIRECTORY_EPOCH)
        session.keys.put_directory_key(auth.user_id, directory_key)
        await self._persist()
        own = await self._observe_own_devices()
        await self._share_directory_key(own)
        if display_name:
            await self.set_display_name(display_name)
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
            auth = await self._api.login(
                wire.LoginRequest(username=username, password=password, device_id=stored.device_id)
            )
        except BaseException:
            await asyncio.to_thread(store.close)
            raise
        self._start_session(store, identity, auth, username)
        await self._restore_outbox()
        return self._require().account

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
        await self._new_device(username, passphrase, identity, self._api.add_device(request))
        return self._require().account

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
            create_keystore, path, passphrase, self.options.keystore_params
        )
        try:
            auth = await call
        except BaseException:
            await asyncio.to_thread(discard_keystore, store)
            raise
        store.set_device_keys(store_identity(auth.device_id, identity))
        await asyncio.to_thread(store.save)
        self._start_session(store, identity, auth, username)
        if self._outbox_store is not None:
            # A queue left by an earlier device of this name cannot be opened by this one.
            await asyncio.to_thread(self._outbox_store.clear)
        return auth

    def _start_session(
        self, store: Any, identity: DeviceIdentity, auth: wire.AuthResponse, username: str
    ) -> None:
        account = AccountInfo(
            server_url=self.options.server_url,
            username=username,
            user_id=auth.user_id,
            device_id=auth.device_id,
            fingerprint=identity.public_bundle.fingerprint,
            approved=auth.device_status is DeviceStatus.APPROVED,
            is_admin=auth.is_admin,
        )
        self._api.token = auth.token
        self._session = Session(
            store=store,
            identity=identity,
            account=account,
            token=auth.token,
            book=DeviceBook(store, self._server, user_id=auth.user_id, device_id=auth.device_id),
            keys=KeyRing(store, self._server, user_id=auth.user_id),
        )
        self._executor = ThreadPoolExecutor(
            max_workers=_DECRYPT_WORKERS, thread_name_prefix="dialtone-decrypt"
        )
        self._outbox_store = OutboxStore(
            outbox_path(self.profile_path(username)),
            identity,
            server=self._server,
            user_id=auth.user_id,
            device_id=auth.device_id,
            codec=self._codec,
        )

    async def logout(self) -> None:
        """End the session on the server, disconnect, and lock the keystore."""
        if self._session is not None:
            with contextlib.suppress(CoreError):
                await self._api.logout()
        await self._logout_locally()
        self._emit(Offline(reason="logged out"))

    async def _logout_locally(self) -> None:
        await self.disconnect()
        if self._voice is not None:
            await self._voice.detach()
            self._voice = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._close_outbox()
        session, self._session = self._session, None
        if session is not None:
            async with self._save_lock:
                await asyncio.to_thread(session.store.close)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._api.token = None
        self._channels.clear()
        self._cursors.clear()
        self._profiles.clear()
        self._presence.clear()
        self._presence_watched.clear()
        self._dir_shared.clear()
        self._outbox = Outbox(self.options.outbox_limit, self._outbox_changed)
        self._synced_once = False
        self._revoked = False

    async def close(self) -> None:
        """Disconnect, detach the voice daemon, save and lock the keystore. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._logout_locally()
        await self._api.close()
        self._bus.close()

    async def _persist(self) -> None:
        session = self._session
        if session is None or not session.store.dirty:
            return
        async with self._save_lock:
            if not session.store.closed and session.store.dirty:
                await asyncio.to_thread(session.store.save)

    # --- the offline queue on disk ----------------------------------------------------------------

    def _outbox_changed(self) -> None:
        """Save the queue soon (writes in a row coalesce into one)."""
        if self._outbox_store is None:
            return
        self._outbox_dirty = True
        if self._outbox_saver is None or self._outbox_saver.done():
            self._outbox_saver = asyncio.get_running_loop().create_task(
                self._save_outbox(), name="dialtone: saving the offline queue"
            )

    async def _save_outbox(self) -> None:
        while self._outbox_dirty and self._outbox_store is not None:
            self._outbox_dirty = False
            snapshot = [
                SavedMessage(
                    frame=item.frame,
                    body=item.view.body,
                    sender_name=item.view.sender_name,
                    created_at=item.view.created_at,
                )
                for item in self._outbox
            ]
            try:
                await asyncio.to_thread(self._outbox_store.save, snapshot)
            except OSError as exc:
                self._emit(
                    Error(text=f"the offline queue could not be saved on this machine: {exc}")
                )
                return

    async def _close_outbox(self) -> None:
        """Save the queue one last time (a revoked device's is deleted) and stop saving."""
        store = self._outbox_store
        if store is None:
            return
        saver = self._outbox_saver
        if saver is not None:
            with contextlib.suppress(Exception):
                await saver
        self._outbox_dirty = True
        try:
            if self._revoked:
                await asyncio.to_thread(store.clear)
            else:
                await self._save_outbox()
        finally:
            self._outbox_store = None
            self._outbox_saver = None
            self._outbox_dirty = False

    async def _restore_outbox(self) -> None:
        """Queue again what was waiting to be sent when the client last stopped."""
        session = self._require()
        store = self._outbox_store
        if store is None:
            return
        try:
            saved = await asyncio.to_thread(store.load)
        except UnreadableOutboxError as exc:
            self._emit(Error(text=f"the saved offline queue was discarded: {exc}"))
            await asyncio.to_thread(store.clear)
            return
        restored = 0
        for message in saved:
            frame = message.frame
            view = DecryptedMessage(
                channel_id=frame.channel_id,
                seq=None,
                client_msg_id=frame.client_msg_id,
                sender_user_id=session.account.user_id,
                sender_device_id=session.account.device_id,
                sender_name=message.sender_name,
                body=message.body,
                server_ts=None,
                created_at=message.created_at,
                epoch=frame.key_epoch,
                own=True,
                pending=True,
                sender_trust=DeviceTrust.OWN,
            )
            try:
                self._outbox.add(Outgoing(frame=frame, view=view))
            except OutboxFullError:
                self._emit(
                    Error(
                        text="the saved offline queue holds more than the queue limit; the "
                        "rest was dropped"
                    )
                )
                break
            self._emit(MessageQueued(channel_id=frame.channel_id, message=view))
            restored += 1
        if restored:
            self._emit(
                Notice(
                    text=f"{restored} message(s) written while offline are queued again and go "
                    "out once connected"
                )
            )

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except CoreError as exc:
                self._emit(Error(text=f"{what}: {exc}", code=getattr(exc, "code", None)))
            except Exception as exc:
                log.exception("%s failed", what)
                self._emit(Error(text=f"{what}: {exc}"))

        task = asyncio.get_running_loop().create_task(guarded(), name=f"dialtone: {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- connection ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Load channels, keys and profiles, then keep a WebSocket up (reconnecting with backoff
        and resuming from the last sequence numbers) until `disconnect` or `close`.

        A device still waiting for approval checks back every ``approval_poll_interval``
        seconds and connects once approved.

        Returns once the first connection attempt finished (online or reconnecting).

        Raises:
            NotLoggedInError: No session.
        """
        session = self._require()
        if not session.account.approved:
            if self._approval_task is None or self._approval_task.done():
                self._approval_task = asyncio.get_running_loop().create_task(
                    self._await_approval(), name="dialtone: approval"
                )
            self._emit(
                Offline(
                    reason="waiting for one of your other devices to approve this one "
                    f"(fingerprint {session.account.fingerprint})"
                )
            )
            return
        await self._load()
        await self._start_link()

    async def _await_approval(self) -> None:
        while self._session is not None and not self._session.account.approved:
            try:
                devices = await self._api.own_devices()
            except CoreError as exc:
                log.info("approval check failed: %s", exc)
                devices = ()
            session = self._session
            if session is None:
                return
            mine = next((d for d in devices if d.device_id == session.account.device_id), None)
            if mine is not None and mine.status is DeviceStatus.APPROVED:
                session.account = attrs.evolve(session.account, approved=True)
                self._emit(Notice(text="this device was approved; loading your channels"))
                try:
                    await self._load()
                    await self._start_link()
                except CoreError as exc:
                    self._emit(Error(text=f"loading after approval failed: {exc}"))
                return
            if mine is not None and mine.status is DeviceStatus.REVOKED:
                self._emit(Offline(reason="this device was revoked"))
                return
            await asyncio.sleep(self.options.approval_poll_interval)

    async def _start_link(self) -> None:
        if self._link is None:
            self._link = RealtimeLink(
                self._api,
                self._codec,
                self,
                client_name=f"{self.options.client_name}/{__version__}",
                initial_delay=self.options.reconnect_initial_delay,
                max_delay=self.options.reconnect_max_delay,
            )
        await self._link.start()

    async def disconnect(self) -> None:
        """Close the WebSocket and stop reconnecting (messages sent meanwhile are queued)."""
        if self._approval_task is not None:
            self._approval_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._approval_task
            self._approval_task = None
        link, self._link = self._link, None
        if link is not None:
            await link.stop()
        if self._state is not ConnectionState.OFFLINE:
            self._state = ConnectionState.OFFLINE

    async def reconnect_now(self) -> None:
        """Skip the remaining backoff delay and try to connect at once."""
        if self._link is not None:
            self._link.reconnect_now()

    async def _load(self) -> None:
        await self.refresh_channels()
        await self._observe_own_devices()
        for channel_id in list(self._channels):
            await self._observe_channel_devices(channel_id)
        await self._fetch_envelopes()
        await self._fetch_directory()
        self._decrypt_names()
        for channel in self._channels.values():
            self._cursors.setdefault(channel.channel_id, channel.last_seq)
        await self._share_directory_key(self._co_member_devices())
        await self._refresh_profiles(self._co_member_ids())
        await self._persist()
        self._channels_changed()

    # --- RealtimeLink callbacks (LinkHandler) ----------------------------------------------------

    def resume_cursors(self) -> tuple[ChannelCursor, ...]:
        """The last sequence number held per channel, for ``hello`` (LinkHandler)."""
        return tuple(
            ChannelCursor(channel_id=channel_id, seq=seq)
            for channel_id, seq in sorted(self._cursors.items())
        )[: limits.MAX_CHANNELS_PER_USER]

    async def on_connected(self, ready: wire_ws.Ready, generation: int) -> None:
        """A connection was authenticated (LinkHandler)."""
        self._state = ConnectionState.ONLINE
        self._replayed = 0
        self._emit(
            Connected(
                user_id=ready.user_id,
                device_id=ready.device_id,
                protocol_version=ready.protocol_version,
            )
        )
        if self._voice is not None:
            await self._voice.rejoin_server()

    def on_down(self, reason: str, attempt: int, delay: float) -> None:
        """The connection is down; a retry follows (LinkHandler)."""
        self._state = ConnectionState.RECONNECTING
        self._emit(Reconnecting(attempt=attempt, delay=delay, reason=reason))

    def on_stopped(self, reason: str) -> None:
        """The link gave up or was stopped (LinkHandler)."""
        self._state = ConnectionState.OFFLINE
        # The server ends a revoked device's sessions, so its last close may look like any
        # expired session: say what really happened when we were told.
        self._emit(Offline(reason="this device was revoked" if self._revoked else reason))

    async def on_event(self, event: wire_ws.ServerEvent) -> None:
        """One server event, in order (LinkHandler)."""
        try:
            await self._dispatch(event)
        except CoreError as exc:
            self._emit(Error(text=f"handling {type(event).__name__}: {exc}"))
        except Exception as exc:
            log.exception("handling %r failed", event)
            self._emit(Error(text=f"handling {type(event).__name__} failed: {exc}"))

    async def _dispatch(self, event: wire_ws.ServerEvent) -> None:
        if self._voice is not None and await self._voice.handle_ws(event):
            return
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            await handler(self, event)

    async def _on_resume_done(self, event: wire_ws.ResumeDone) -> None:
        for cursor in event.cursors:
            channel = self._channels.get(cursor.channel_id)
            if channel is not None:
                channel.last_seq = max(channel.last_seq, cursor.seq)
        for channel_id in event.truncated:
            await self._catch_up(channel_id)
        if self._synced_once:
            await self.refresh_channels()
            await self._observe_own_devices()
            # Presence changes while we were away were not replayed: ask again.
            for channel_id in sorted(self._presence_watched):
                await self._refresh_presence(channel_id)
        self._synced_once = True
        await self._fetch_envelopes()
        sent = await self._flush_outbox()
        await self._persist()
        self._channels_changed()
        self._emit(Synced(replayed=self._replayed, sent_from_queue=sent))

    async def _catch_up(self, channel_id: str) -> None:
        """Fetch over HTTP what a resume could not replay (a long gap)."""
        for _ in range(_CATCH_UP_PAGES):
            after = self._cursors.get(channel_id, 0)
            page = await self._api.history(
                channel_id, wire.HistoryQuery(after=after, limit=limits.MAX_HISTORY_LIMIT)
            )
            for message in page.messages:
                await self._on_message(wire_ws.MessageNew(message=message))
            if not page.has_more or not page.messages:
                return

    async def _flush_outbox(self) -> int:
        link = self._link
        if link is None or not link.online:
            return 0
        sent = 0
        for item in self._outbox:
            if item.sent_on == link.generation:
                continue
            if await self._send_item(item):
                sent += 1
        return sent

    async def _send_item(self, item: Outgoing) -> bool:
        link = self._link
        if link is None or not link.online:
            return False
        await self._pacer.wait()
        if self._outbox.get(item.client_msg_id) is not item:
            return False  # acked or dropped while waiting for its turn
        if await link.send(item.frame):
            item.sent_on = link.generation
            return True
        return False

    # --- server events ---------------------------------------------------------------------------

    async def _on_message(self, event: wire_ws.MessageNew) -> None:
        session = self._require()
        message = event.message
        channel = self._channels.get(message.channel_id)
        if channel is None:
            await self.refresh_channels()
            channel = self._channels.get(message.channel_id)
            if channel is None:
                return
        self._replayed += 1
        self._cursors[message.channel_id] = max(
            self._cursors.get(message.channel_id, 0), message.seq
        )
        if message.sender_device_id == session.account.device_id:
            await self._acked(
                message.channel_id, message.client_msg_id, message.seq, message.server_ts
            )
        await self._prepare(message.channel_id, (message,))
        key = session.keys.channel_key(message.channel_id, message.key_epoch)
        item = decrypt_one(
            message,
            key,
            self._sender_snapshot(message.sender_device_id),
            own_user_id=session.account.user_id,
            now=_now(),
        )
        channel.last_seq = max(channel.last_seq, message.seq)
        if (
            message.sender_user_id == session.account.user_id
            and channel.read_seq >= message.seq - 1
        ):
            channel.read_seq = max(channel.read_seq, message.seq)
        self._emit_item(item)
        self._channels_changed()

    def _emit_item(self, item: HistoryItem) -> None:
        if isinstance(item, FailedMessage):
            self._emit(MessageFailed(channel_id=item.channel_id, message=item))
        else:
            self._emit(MessageReceived(channel_id=item.channel_id, message=item))

    async def _acked(
        self, channel_id: str, client_msg_id: str, seq: int, server_ts: datetime
    ) -> None:
        item = self._outbox.pop(client_msg_id)
        self._cursors[channel_id] = max(self._cursors.get(channel_id, 0), seq)
        channel = self._channels.get(channel_id)
        if channel is not None:
            caught_up = channel.read_seq >= channel.last_seq
            channel.last_seq = max(channel.last_seq, seq)
            if caught_up and seq > channel.read_seq:
                channel.read_seq = seq
        if item is not None:
            self._retry_delay = _RETRY_MIN_S
            self._emit(
                MessageAcked(
                    channel_id=channel_id, client_msg_id=client_msg_id, seq=seq, server_ts=server_ts
                )
            )

    async def _on_ack(self, event: wire_ws.MessageAck) -> None:
        await self._acked(event.channel_id, event.client_msg_id, event.seq, event.server_ts)
        self._channels_changed()

    async def _on_error(self, event: wire_ws.ErrorEvent) -> None:
        item = self._outbox.get(event.ref) if event.ref is not None else None
        if event.code in _TRY_AGAIN:
            # The server may not say which frame it refused: every message not acked yet is sent
            # again after a growing pause (a repeat is stored once, so this is always safe).
            self._schedule_resend()
            return
        if item is None:
            if (
                event.ref is None
                and event.code in _VOICE_REFUSALS
                and self._voice is not None
                and await self._voice.server_refused(event.message)
            ):
                return
            self._emit(Error(text=event.message, code=event.code))
            return
        if event.code == ErrorCode.STALE_EPOCH:
            await self._refresh_channel(item.channel_id)
            await self._fetch_envelopes(item.channel_id)
            if self._reseal(item):
                await self._send_item(item)
            else:
                self._emit(
                    Notice(
                        text="a queued message waits for this channel's new key before it can "
                        "be sent"
                    )
                )
            return
        self._outbox.pop(item.client_msg_id)
        self._emit(
            MessageRejected(
                channel_id=item.channel_id,
                client_msg_id=item.client_msg_id,
                code=event.code,
                message=event.message,
            )
        )

    def _schedule_resend(self) -> None:
        if self._retry_pending:
            return
        self._retry_pending = True
        delay = self._retry_delay
        self._retry_delay = min(_RETRY_MAX_S, self._retry_delay * 2)

        async def resend() -> None:
            try:
                await asyncio.sleep(delay)
            finally:
                self._retry_pending = False
            for item in self._outbox:
                await self._send_item(item)

        self._spawn(resend(), "resending unacknowledged messages")

    def _reseal(self, item: Outgoing) -> bool:
        """Seal a queued message again for its channel's current epoch, keeping its id."""
        session = self._require()
        channel = self._channels.get(item.channel_id)
        if channel is None:
            return False
        key = session.keys.channel_key(item.channel_id, channel.epoch)
        if key is None:
            return False
        if key.epoch == item.frame.key_epoch:
            return True
        item.frame = sealing.seal_chat(
            session.identity,
            key,
            body=item.view.body,
            sender_name=item.view.sender_name,
            client_msg_id=item.client_msg_id,
        )
        item.view = attrs.evolve(item.view, epoch=key.epoch)
        item.sent_on = None
        self._outbox_changed()
        return True

    async def _reseal_queued(self, channel_id: str) -> None:
        for item in self._outbox.of_channel(channel_id):
            if item.sent_on is None and self._reseal(item):
                await self._send_item(item)

    async def _on_channel_updated(self, event: wire_ws.ChannelUpdated) -> None:
        channel = self._channels.get(event.channel_id)
        if channel is None:
            await self.refresh_channels()
            return
        channel.info = attrs.evolve(
            channel.info,
            name=event.name,
            current_epoch=event.current_epoch,
            updated_at=event.updated_at,
        )
        if self._require().keys.channel_key(event.channel_id, event.name.key_epoch) is None:
            await self._fetch_envelopes(event.channel_id)
        self._decrypt_names((channel,))
        self._channels_changed()

    async def _on_channel_deleted(self, event: wire_ws.ChannelDeleted) -> None:
        await self._drop_channel(event.channel_id, "the channel was deleted")

    async def _drop_channel(self, channel_id: str, why: str) -> None:
        session = self._require()
        self._channels.pop(channel_id, None)
        self._cursors.pop(channel_id, None)
        session.keys.forget_channel(channel_id)
        for item in self._outbox.drop_channel(channel_id):
            self._emit(
                MessageRejected(
                    channel_id=channel_id,
                    client_msg_id=item.client_msg_id,
                    code=ErrorCode.NOT_FOUND,
                    message=why,
                )
            )
        await self._persist()
        self._channels_changed()

    async def _on_member_added(self, event: wire_ws.MemberAdded) -> None:
        session = self._require()
        if event.user_id == session.account.user_id:
            await self.refresh_channels()
            await self._observe_channel_devices(event.channel_id)
            await self._fetch_envelopes(event.channel_id)
            self._decrypt_names()
            await self._share_directory_key(self._co_member_devices())
            await self._refresh_profiles(self._co_member_ids())
            await self._persist()
            self._channels_changed()
            await self._refresh_presence(event.channel_id)
            return
        await self._refresh_members(event.channel_id)
        devices = await self._api.user_devices(event.user_id)
        self._observe(devices)
        await self._share_directory_key(session.book.trusted_devices([event.user_id]))
        await self._refresh_profiles((event.user_id,))
        await self._persist()
        if event.channel_id in self._presence_watched:
            # The newcomer may have been online all along: no presence change would say so.
            await self._refresh_presence(event.channel_id)

    async def _on_member_updated(self, event: wire_ws.MemberUpdated) -> None:
        if event.user_id == self._require().account.user_id:
            await self._refresh_channel(event.channel_id)
            self._channels_changed()
        await self._refresh_members(event.channel_id)

    async def _on_member_removed(self, event: wire_ws.MemberRemoved) -> None:
        session = self._require()
        if event.user_id == session.account.user_id:
            await self._drop_channel(event.channel_id, "you are no longer in the channel")
            return
        channel = self._channels.get(event.channel_id)
        if channel is None:
            return
        await self._refresh_members(event.channel_id)
        if event.removed_by != session.account.user_id:
            self._rotation_needed((channel,))

    def _rotation_needed(self, channels: Iterable[_Channel]) -> None:
        # The remover rotates at once; otherwise an owner or admin online does, and anyone else
        # before their next message: the channel never carries on under a key a former member
        # or device holds.
        for channel in channels:
            channel.needs_rotation = True
            if channel.info.role in (Role.OWNER, Role.ADMIN):
                self._spawn(self.rotate_key(channel.channel_id), "rotating a channel key")

    async def _on_typing(self, event: wire_ws.Typing) -> None:
        if event.user_id != self._require().account.user_id:
            self._emit(
                Typing(
                    channel_id=event.channel_id,
                    user_id=event.user_id,
                    display_name=self.display_name(event.user_id),
                )
            )

    async def _on_read_marker(self, event: wire_ws.ReadMarker) -> None:
        channel = self._channels.get(event.channel_id)
        if channel is not None and event.seq > channel.read_seq:
            channel.read_seq = event.seq
            self._channels_changed()
        self._emit(ReadMarker(channel_id=event.channel_id, seq=event.seq))

    async def _on_key_rotated(self, event: wire_ws.KeyRotated) -> None:
        session = self._require()
        channel = self._channels.get(event.channel_id)
        if channel is None:
            return
        if event.key_epoch > channel.epoch:
            channel.info = attrs.evolve(channel.info, current_epoch=event.key_epoch)
        if event.rotated_by == session.account.device_id:
            return
        channel.needs_rotation = False
        await self._fetch_envelopes(event.channel_id)
        has_key = session.keys.channel_key(event.channel_id, event.key_epoch) is not None
        self._emit(
            KeyRotated(
                channel_id=event.channel_id, epoch=event.key_epoch, by_us=False, has_key=has_key
            )
        )
        await self._reseal_queued(event.channel_id)
        self._channels_changed()

    async def _on_envelope(self, event: wire_ws.EnvelopeAvailable) -> None:
        if event.channel_id not in self._channels:
            await self.refresh_channels()
        await self._fetch_envelopes(event.channel_id)
        channel = self._channels.get(event.channel_id)
        if channel is not None:
            self._decrypt_names((channel,))
            await self._reseal_queued(event.channel_id)
        self._channels_changed()

    async def _on_directory_envelope(self, event: wire_ws.DirectoryEnvelopeAvailable) -> None:
        await self._fetch_directory()
        await self._refresh_profiles((event.owner_user_id,))

    async def _on_device_joined(self, event: wire_ws.DeviceJoined) -> None:
        session = self._require()
        device = event.device
        self._observe((device,))
        known = session.book.get(device.device_id)
        if device.user_id == session.account.user_id and device.status is DeviceStatus.PENDING:
            if known is not None:
                self._emit(NewDeviceNeedsApproval(device=session.book.view(known)))
        elif known is not None and known.trusted:
            await self._share_directory_key((known,))
        await self._persist()
        self._emit(
            DevicesChanged(user_id=device.user_id, devices=session.book.views(device.user_id))
        )

    async def _on_device_revoked(self, event: wire_ws.DeviceRevoked) -> None:
        session = self._require()
        try:
            devices = await self._api.user_devices(event.user_id)
        except ApiError:
            devices = ()
        self._observe(devices)
        await self._persist()
        self._emit(DevicesChanged(user_id=event.user_id, devices=session.book.views(event.user_id)))
        if event.device_id == session.account.device_id:
            self._revoked = True
            return
        shared = [
            channel
            for channel in self._channels.values()
            if channel.members is None or event.user_id in channel.members
        ]
        if event.user_id != session.account.user_id:
            self._rotation_needed(shared)

    async def _on_profile(self, event: wire_ws.ProfileUpdated) -> None:
        self._open_profile(event.profile)

    async def _on_presence(self, event: wire_ws.PresenceChanged) -> None:
        self._presence_seen(event.user_id, str(event.status), event.last_seen_at, always=True)

    def _presence_seen(
        self, user_id: str, status: str, last_seen_at: datetime | None, *, always: bool = False
    ) -> None:
        presence = Presence(user_id=user_id, status=status, last_seen_at=last_seen_at)
        if always or self._presence.get(user_id) != presence:
            self._presence[user_id] = presence
            self._emit(presence)

    async def _refresh_presence(self, channel_id: str) -> None:
        """Load the presence of a channel's members (events only say what changes later)."""
        if channel_id not in self._channels:
            return
        self._presence_watched.add(channel_id)
        try:
            entries = await self._api.presence(channel_id)
        except ApiError as exc:
            log.info("cannot load the presence of %s: %s", channel_id, exc)
            return
        for entry in entries:
            self._presence_seen(entry.user_id, str(entry.status), entry.last_seen_at)

    def presence(self, user_id: str) -> str:
        """A user's presence as last known (``offline`` when nothing is known).

        Args:
            user_id: The user.

        Returns:
            ``online``, ``away``, ``dnd`` or ``offline``.
        """
        known = self._presence.get(user_id)
        return known.status if known is not None else "offline"

    # --- devices and keys (internal) -------------------------------------------------------------

    def _observe(self, devices: Iterable[DeviceInfo]) -> None:
        session = self._require()
        for change in session.book.observe(devices):
            self._emit(attrs.evolve(change, display_name=self.display_name(change.user_id)))

    async def _observe_own_devices(self) -> list[KnownDevice]:
        session = self._require()
        devices = await self._api.own_devices()
        self._observe(devices)
        for device in devices:
            known = session.book.get(device.device_id)
            if device.status is DeviceStatus.PENDING and known is not None:
                self._emit(NewDeviceNeedsApproval(device=session.book.view(known)))
        return session.book.trusted_devices([session.account.user_id])

    async def _observe_channel_devices(self, channel_id: str) -> None:
        try:
            devices = await self._api.channel_devices(channel_id)
        except ApiError as exc:
            log.info("cannot list devices of %s: %s", channel_id, exc)
            return
        self._observe(devices)

    def _sender_snapshot(self, device_id: str) -> SenderSnapshot | None:
        known = self._require().book.get(device_id)
        if known is None:
            return None
        return SenderSnapshot(user_id=known.user_id, bundle=known.bundle, trust=known.trust)

    async def _vouching_bundle(self, user_id: str, device_id: str) -> PublicBundle | None:
        """The bundle of `device_id` if it is `user_id`'s and its signatures count."""
        session = self._require()
        known = session.book.get(device_id)
        if known is None:
            with contextlib.suppress(ApiError):
                self._observe(await self._api.user_devices(user_id))
            known = session.book.get(device_id)
        if known is None or known.user_id != user_id or not known.vouches:
            return None
        return known.bundle

    async def _trusted_bundle(self, user_id: str, device_id: str) -> PublicBundle | None:
        """The bundle of `device_id` if it is `user_id`'s and trusted (fetching if unknown)."""
        session = self._require()
        if session.book.get(device_id) is None:
            with contextlib.suppress(ApiError):
                self._observe(await self._api.user_devices(user_id))
            await self._persist()
        return session.book.trusted_bundle(user_id, device_id)

    async def _prepare(self, channel_id: str, messages: Sequence[wire.ChannelMessage]) -> None:
        """Fetch what a batch of messages needs (sender devices, keys) when it is not known."""
        session = self._require()
        unknown_users = {
            m.sender_user_id for m in messages if session.book.get(m.sender_device_id) is None
        }
        if unknown_users:
            await self._observe_channel_devices(channel_id)
            for user_id in unknown_users:
                if not session.book.knows_user(user_id):
                    with contextlib.suppress(ApiError):
                        self._observe(await self._api.user_devices(user_id))
        missing = {
            m.key_epoch
            for m in messages
            if session.keys.channel_key(channel_id, m.key_epoch) is None
        }
        if missing:
            await self._fetch_envelopes(channel_id)
        await self._persist()

    async def _fetch_envelopes(self, channel_id: str | None = None) -> None:
        """Fetch and open the key envelopes waiting for this device (one channel, or all)."""
        if channel_id is None:
            envelopes = await self._api.envelopes()
        else:
            try:
                envelopes = await self._api.channel_envelopes(channel_id)
            except ApiError as exc:
                log.info("cannot fetch envelopes of %s: %s", channel_id, exc)
                return
        await self._absorb_envelopes(envelopes)

    async def _absorb_envelopes(self, envelopes: Sequence[wire.KeyEnvelope]) -> None:
        session = self._require()
        gained: dict[str, list[int]] = {}
        for envelope in envelopes:
            if envelope.recipient_device_id != session.account.device_id:
                continue
            if session.keys.channel_key(envelope.channel_id, envelope.key_epoch) is not None:
                continue
            if session.book.get(envelope.sender_device_id) is None:
                await self._observe_channel_devices(envelope.channel_id)
            sender = session.book.get(envelope.sender_device_id)
            if sender is None or not sender.trusted or sender.bundle is None:
                self._emit(
                    Notice(
                        text="ignored a channel key sent by a device this client does not trust "
                        f"(device {envelope.sender_device_id[:8]})"
                    )
                )
                continue
            try:
                key = sealing.open_envelope_upload(
                    envelope.sealed_key,
                    envelope.signature,
                    session.identity,
                    sender.bundle,
                    scope=Scope.channel(envelope.channel_id),
                    epoch=envelope.key_epoch,
                )
            except (DecryptionError, InvalidSignature):
                self._emit(
                    Error(
                        text="a channel key envelope did not verify and was ignored (tampered "
                        "or misaddressed)"
                    )
                )
                continue
            try:
                session.keys.put_channel_key(key)
            except KeyConflict:
                self._emit(Error(text="a second, different key for one channel epoch was ignored"))
                continue
            gained.setdefault(envelope.channel_id, []).append(envelope.key_epoch)
        await self._persist()
        for channel_id, epochs in gained.items():
            self._emit(ChannelKeysArrived(channel_id=channel_id, epochs=tuple(sorted(epochs))))

    async def _fetch_directory(self) -> None:
        session = self._require()
        try:
            envelopes = await self._api.directory_envelopes()
        except ApiError as exc:
            log.info("cannot fetch directory envelopes: %s", exc)
            return
        for envelope in envelopes:
            if session.keys.directory_key(envelope.owner_user_id, envelope.key_epoch) is not None:
                continue
            bundle = await self._trusted_bundle(envelope.owner_user_id, envelope.sender_device_id)
            if bundle is None:
                continue
            try:
                key = sealing.open_envelope_upload(
                    envelope.sealed_key,
                    envelope.signature,
                    session.identity,
                    bundle,
                    scope=Scope.directory(envelope.owner_user_id),
                    epoch=envelope.key_epoch,
                )
                session.keys.put_directory_key(envelope.owner_user_id, key)
            except (DecryptionError, InvalidSignature, KeyConflict):
                self._emit(Error(text="a directory key envelope did not verify and was ignored"))
        await self._persist()

    async def _share_directory_key(self, devices: Iterable[KnownDevice]) -> None:
        """Send our directory key to trusted devices that were not sent it in this session."""
        session = self._require()
        key = session.keys.own_directory_key()
        if key is None:
            return
        uploads = []
        for known in devices:
            slot = (known.device_id, key.epoch)
            if not known.trusted or known.bundle is None or slot in self._dir_shared:
                continue
            uploads.append(
                sealing.envelope_upload(session.identity, known.device_id, known.bundle, key)
            )
            self._dir_shared.add(slot)
        step = limits.MAX_ENVELOPES_PER_REQUEST
        for start in range(0, len(uploads), step):
            chunk = tuple(uploads[start : start + step])
            try:
                await self._api.post_directory_envelopes(
                    wire.EnvelopePostRequest(key_epoch=key.epoch, envelopes=chunk)
                )
            except ApiError as exc:
                for upload in chunk:
                    self._dir_shared.discard((upload.recipient_device_id, key.epoch))
                log.info("sharing the directory key failed: %s", exc)

    def _co_member_ids(self) -> tuple[str, ...]:
        users: set[str] = set()
        for channel in self._channels.values():
            if channel.members is not None:
                users.update(channel.members)
        return tuple(sorted(users))

    def _co_member_devices(self) -> list[KnownDevice]:
        return self._require().book.trusted_devices(self._co_member_ids())

    async def _refresh_profiles(self, user_ids: Sequence[str]) -> None:
        if not user_ids:
            return
        try:
            profiles = await self._api.profiles(tuple(user_ids)[: limits.MAX_PROFILES])
        except ApiError as exc:
            log.info("cannot fetch profiles: %s", exc)
            return
        for profile in profiles:
            if self._require().book.get(profile.device_id) is None:
                with contextlib.suppress(ApiError):
                    self._observe(await self._api.user_devices(profile.user_id))
            self._open_profile(profile)

    def _open_profile(self, profile: wire.ProfileInfo) -> None:
        session = self._require()
        key = session.keys.directory_key(profile.user_id, profile.key_epoch)
        known = session.book.get(profile.device_id)
        if key is None or known is None or known.user_id != profile.user_id or not known.vouches:
            return
        assert known.bundle is not None
        try:
            name = sealing.open_profile(profile, key, known.bundle)
        except (DecryptionError, InvalidSignature):
            self._emit(Error(text=f"the profile of {profile.user_id[:8]} did not verify"))
            return
        if self._profiles.get(profile.user_id) != name:
            self._profiles[profile.user_id] = name
            self._emit(ProfileChanged(user_id=profile.user_id, display_name=name))

    def _decrypt_names(self, channels: Iterable[_Channel] | None = None) -> None:
        session = self._require()
        for channel in self._channels.values() if channels is None else channels:
            name = channel.info.name
            key = session.keys.channel_key(channel.channel_id, name.key_epoch)
            known = session.book.get(name.device_id)
            if key is None or known is None or not known.vouches or known.bundle is None:
                channel.name = None
                continue
            try:
                channel.name = sealing.open_channel_name(
                    name, channel.channel_id, key, known.bundle
                )
            except (DecryptionError, InvalidSignature):
                channel.name = None
                self._emit(Error(text=f"the name of channel {channel.channel_id[:8]} is tampered"))

    # --- channels --------------------------------------------------------------------------------

    async def refresh_channels(self) -> tuple[ChannelView, ...]:
        """Fetch the channel list (and any envelopes waiting for this device)."""
        self._require()
        infos = await self._api.channels()
        seen = set()
        for info in infos:
            seen.add(info.channel_id)
            channel = self._channels.get(info.channel_id)
            if channel is None:
                channel = self._channels[info.channel_id] = _Channel(info=info)
                self._cursors.setdefault(info.channel_id, info.last_seq)
            channel.info = info
            channel.last_seq = max(channel.last_seq, info.last_seq)
            channel.read_seq = max(channel.read_seq, info.read_seq)
            if channel.members is None:
                await self._refresh_members(info.channel_id, emit=False)
        for channel_id in set(self._channels) - seen:
            self._channels.pop(channel_id, None)
            self._cursors.pop(channel_id, None)
        session = self._require()
        if any(
            session.keys.channel_key(c.channel_id, c.info.name.key_epoch) is None
            for c in self._channels.values()
        ):
            await self._fetch_envelopes()
        self._decrypt_names()
        self._channels_changed()
        return self.channels

    async def _refresh_channel(self, channel_id: str) -> _Channel:
        channel = self._channel_state(channel_id)
        info = await self._api.channel(channel_id)
        channel.info = info
        channel.last_seq = max(channel.last_seq, info.last_seq)
        return channel

    async def _refresh_members(self, channel_id: str, *, emit: bool = True) -> None:
        channel = self._channels.get(channel_id)
        if channel is None:
            return
        try:
            members = await self._api.members(channel_id)
        except ApiError as exc:
            log.info("cannot list members of %s: %s", channel_id, exc)
            return
        channel.members = {m.user_id: m for m in members}
        if emit:
            self._emit(MembersChanged(channel_id=channel_id, members=self._member_views(channel)))

    def _member_views(self, channel: _Channel) -> tuple[MemberView, ...]:
        members = channel.members or {}
        views = [
            MemberView(
                user_id=m.user_id,
                display_name=self.display_name(m.user_id),
                role=str(m.role),
                presence=self.presence(m.user_id),
            )
            for m in members.values()
        ]
        return tuple(sorted(views, key=lambda v: (v.display_name.casefold(), v.user_id)))

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
        session = self._require()
        sealing.check_text(name, sealing.MAX_NAME_BYTES, "channel name")
        channel_id = str(uuid.uuid4())
        key = ChannelKey.generate(Scope.channel(channel_id), _FIRST_EPOCH)
        own = await self._observe_own_devices()
        envelopes = tuple(
            sealing.envelope_upload(session.identity, known.device_id, known.bundle, key)
            for known in own
            if known.bundle is not None
        )
        info = await self._api.create_channel(
            wire.ChannelCreateRequest(
                channel_id=channel_id,
                name=sealing.seal_channel_name(
                    session.identity, session.account.device_id, key, name
                ),
                envelopes=envelopes,
            )
        )
        session.keys.put_channel_key(key)
        await self._persist()
        channel = self._channels[channel_id] = _Channel(
            info=info, name=name, last_seq=info.last_seq, read_seq=info.read_seq
        )
        self._cursors.setdefault(channel_id, info.last_seq)
        await self._refresh_members(channel_id, emit=False)
        self._channels_changed()
        for username in members:
            await self.add_member(channel_id, username)
        return self._view(channel)

    async def rename_channel(self, channel_id: str, name: str) -> ChannelView:
        """Seal and set a new name (owner or admin).

        Raises:
            NoChannelKeyError: This device lacks the current key.
            ApiError: ``forbidden``...
        """
        session = self._require()
        sealing.check_text(name, sealing.MAX_NAME_BYTES, "channel name")
        channel = await self._refresh_channel(channel_id)
        key = await self._current_key(channel)
        sealed = sealing.seal_channel_name(session.identity, session.account.device_id, key, name)
        channel.info = await self._api.rename_channel(channel_id, sealed)
        channel.name = name
        self._channels_changed()
        return self._view(channel)

    async def delete_channel(self, channel_id: str) -> None:
        """Delete a channel (owner) and forget its keys."""
        self._channel_state(channel_id)
        await self._api.delete_channel(channel_id)
        await self._drop_channel(channel_id, "the channel was deleted")

    async def members(self, channel_id: str) -> tuple[MemberView, ...]:
        """Fetch a channel's members."""
        channel = self._channel_state(channel_id)
        await self._refresh_members(channel_id, emit=False)
        return self._member_views(channel)

    async def _current_key(self, channel: _Channel) -> ChannelKey:
        session = self._require()
        key = session.keys.channel_key(channel.channel_id, channel.epoch)
        if key is None:
            await self._fetch_envelopes(channel.channel_id)
            key = session.keys.channel_key(channel.channel_id, channel.epoch)
        if key is None:
            raise NoChannelKeyError(
                f"this device has no key for epoch {channel.epoch} of the channel yet"
            )
        return key

    async def _resolve_user(self, user: str) -> str:
        """A user id from a user id (of a member) or a username."""
        for channel in self._channels.values():
            if channel.members is not None and user in channel.members:
                return user
        session = self._require()
        if session.book.knows_user(user):
            return user
        try:
            info = await self._api.lookup_user(user)
        except ApiError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                raise UserNotFoundError(f"no user {user!r}") from exc
            raise
        self._observe(info.devices)
        return info.user_id

    async def add_member(self, channel_id: str, username: str, *, role: str = "member") -> None:
        """Add a user: the current key is sealed to each of their trusted devices (pinned on first
        use), and our directory key too.

        Raises:
            UserNotFoundError: No such user.
            NoChannelKeyError: This device lacks the current key.
            ApiError: ``forbidden``, ``conflict``...
        """
        session = self._require()
        channel = await self._refresh_channel(channel_id)
        try:
            info = await self._api.lookup_user(username)
        except ApiError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                raise UserNotFoundError(f"no user {username!r}") from exc
            raise
        self._observe(info.devices)
        key = await self._current_key(channel)
        trusted = session.book.trusted_devices([info.user_id])
        envelopes = tuple(
            sealing.envelope_upload(session.identity, known.device_id, known.bundle, key)
            for known in trusted
            if known.bundle is not None
        )
        if not envelopes:
            self._emit(
                Notice(
                    text=f"{username} has no device this client trusts yet: they are added but "
                    "cannot read the channel until you verify them (/verify)"
                )
            )
        await self._api.add_member(
            channel_id,
            wire.MemberAddRequest(
                user_id=info.user_id, role=Role(role), key_epoch=key.epoch, envelopes=envelopes
            ),
        )
        await self._share_directory_key(trusted)
        await self._persist()
        await self._refresh_members(channel_id)
        await self._refresh_profiles((info.user_id,))

    async def remove_member(self, channel_id: str, user: str) -> None:
        """Remove a member (or leave, for ourselves) and rotate the channel to a new key epoch
        shared with the remaining trusted devices.

        Args:
            channel_id: The channel.
            user: A user id or username.
        """
        session = self._require()
        self._channel_state(channel_id)
        user_id = await self._resolve_user(user)
        await self._api.remove_member(channel_id, user_id)
        if user_id == session.account.user_id:
            await self._drop_channel(channel_id, "you left the channel")
            return
        await self.rotate_key(channel_id)
        await self._refresh_members(channel_id)

    async def rotate_key(self, channel_id: str) -> int:
        """Start a new key epoch for a channel, shared with every remaining trusted member device.

        If another device rotated first, its new key is fetched instead.

        Returns:
            The epoch now current.
        """
        session = self._require()
        channel = await self._refresh_channel(channel_id)
        new_key = ChannelKey.generate(Scope.channel(channel_id), channel.epoch + 1)
        devices = await self._api.channel_devices(channel_id)
        self._observe(devices)
        recipients = [
            known
            for info in devices
            if (known := session.book.get(info.device_id)) is not None
            and known.trusted
            and known.bundle is not None
        ]
        if not any(k.device_id == session.account.device_id for k in recipients):
            own = session.book.get(session.account.device_id)
            if own is not None:
                recipients.append(own)
        envelopes = tuple(
            sealing.envelope_upload(session.identity, known.device_id, known.bundle, new_key)
            for known in recipients
            if known.bundle is not None
        )
        name = (
            sealing.seal_channel_name(
                session.identity, session.account.device_id, new_key, channel.name
            )
            if channel.name is not None
            else None
        )
        try:
            epoch = await self._api.rotate(
                channel_id,
                wire.KeyRotateRequest(new_epoch=new_key.epoch, envelopes=envelopes, name=name),
            )
        except ApiError as exc:
            if exc.code != ErrorCode.STALE_EPOCH:
                raise
            channel = await self._refresh_channel(channel_id)
            await self._fetch_envelopes(channel_id)
            channel.needs_rotation = False
            return channel.epoch
        session.keys.put_channel_key(new_key)
        await self._persist()
        channel.info = attrs.evolve(channel.info, current_epoch=epoch)
        if name is not None:
            channel.info = attrs.evolve(channel.info, name=name)
        channel.needs_rotation = False
        self._emit(KeyRotated(channel_id=channel_id, epoch=epoch, by_us=True, has_key=True))
        await self._reseal_queued(channel_id)
        self._channels_changed()
        return epoch

    # --- messages --------------------------------------------------------------------------------

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
        session = self._require()
        sealing.check_text(body, sealing.MAX_BODY_BYTES, "message")
        if not body:
            raise ValueError("an empty message")
        channel = self._channel_state(channel_id)
        if channel.needs_rotation and self._link is not None and self._link.online:
            with contextlib.suppress(ApiError):
                await self.rotate_key(channel_id)
        key = await self._current_key(channel)
        client_msg_id = new_message_id()
        sender_name = self._profiles.get(session.account.user_id, session.account.username)
        frame = sealing.seal_chat(
            session.identity, key, body=body, sender_name=sender_name, client_msg_id=client_msg_id
        )
        view = DecryptedMessage(
            channel_id=channel_id,
            seq=None,
            client_msg_id=client_msg_id,
            sender_user_id=session.account.user_id,
            sender_device_id=session.account.device_id,
            sender_name=sender_name,
            body=body,
            server_ts=None,
            created_at=_now(),
            epoch=key.epoch,
            own=True,
            pending=True,
            sender_trust=DeviceTrust.OWN,
        )
        item = Outgoing(frame=frame, view=view)
        self._outbox.add(item)
        self._emit(MessageQueued(channel_id=channel_id, message=view))
        await self._send_item(item)
        return view

    async def open_channel(self, channel_id: str) -> HistoryPage:
        """The newest page of a channel, verified and decrypted in worker threads; the presence
        of its members is loaded too (`Presence` events), and kept up to date from then on.
        """
        page, _ = await asyncio.gather(
            self.load_history(channel_id), self._refresh_presence(channel_id)
        )
        return page

    async def load_history(
        self, channel_id: str, *, before: int | None = None, limit: int | None = None
    ) -> HistoryPage:
        """A page of history older than `before` (newest page if None), decrypted off the loop.

        Args:
            channel_id: The channel.
            before: Exclusive upper bound on ``seq``.
            limit: Page size (default: the options' ``history_page_size``).
        """
        self._require()
        self._channel_state(channel_id)
        query = wire.HistoryQuery(before=before, limit=limit or self.options.history_page_size)
        page = await self._api.history(channel_id, query)
        await self._prepare(channel_id, page.messages)
        items = await self.decrypt_messages(channel_id, page.messages)
        result = HistoryPage(channel_id=channel_id, items=tuple(items), has_more=page.has_more)
        self._emit(HistoryLoaded(page=result))
        return result

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
        session = self._require()
        if not messages:
            return []
        keys = {key.epoch: key for key in session.keys.channel_keys(channel_id)}
        senders: dict[str, SenderSnapshot] = {}
        for device_id in {message.sender_device_id for message in messages}:
            snapshot = self._sender_snapshot(device_id)
            if snapshot is not None:
                senders[device_id] = snapshot
        loop = asyncio.get_running_loop()
        size = self.options.decrypt_batch_size
        work = [
            loop.run_in_executor(
                self._executor,
                functools.partial(
                    decrypt_batch,
                    messages[start : start + size],
                    keys,
                    senders,
                    own_user_id=session.account.user_id,
                    now=_now(),
                ),
            )
            for start in range(0, len(messages), size)
        ]
        items: list[HistoryItem] = []
        for batch in await asyncio.gather(*work):
            items.extend(batch)
        return items

    async def mark_read(self, channel_id: str, seq: int) -> None:
        """Move the read marker (never backwards)."""
        channel = self._channel_state(channel_id)
        if seq <= channel.read_seq:
            return
        channel.read_seq = seq
        self._channels_changed()
        link = self._link
        if link is not None and await link.send(
            wire_ws.ReadMarkSet(channel_id=channel_id, seq=seq)
        ):
            return
        with contextlib.suppress(CoreError):
            await self._api.mark_read(channel_id, seq)

    async def send_typing(self, channel_id: str) -> None:
        """Tell the channel we are typing (rate-limited to one per 3 s; dropped when offline)."""
        self._channel_state(channel_id)
        now = time.monotonic()
        if now - self._typing_sent.get(channel_id, -_TYPING_INTERVAL_S) < _TYPING_INTERVAL_S:
            return
        link = self._link
        if link is not None and await link.send(wire_ws.TypingStart(channel_id=channel_id)):
            self._typing_sent[channel_id] = now

    async def set_presence(self, status: str) -> None:
        """Set our presence (``online``, ``away``, ``dnd``, ``offline``)."""
        self._require()
        value = PresenceStatus(status)
        link = self._link
        if link is not None and await link.send(wire_ws.PresenceSet(status=value)):
            return
        await self._api.set_presence(wire.PresenceSetRequest(status=value))

    # --- profiles --------------------------------------------------------------------------------

    async def set_display_name(self, name: str) -> None:
        """Seal our display name with our directory key and publish it."""
        session = self._require()
        sealing.check_text(name, sealing.MAX_NAME_BYTES, "display name")
        key = session.keys.own_directory_key()
        if key is None:
            key = ChannelKey.generate(Scope.directory(session.account.user_id), _DIRECTORY_EPOCH)
            session.keys.put_directory_key(session.account.user_id, key)
            await self._persist()
            await self._share_directory_key(await self._observe_own_devices())
            await self._share_directory_key(self._co_member_devices())
        await self._api.put_profile(sealing.seal_profile(session.identity, key, name))
        self._profiles[session.account.user_id] = name
        self._emit(ProfileChanged(user_id=session.account.user_id, display_name=name))

    # --- devices and trust -----------------------------------------------------------------------

    async def devices(self) -> tuple[DeviceView, ...]:
        """Our own devices with their status and fingerprints."""
        session = self._require()
        await self._observe_own_devices()
        await self._persist()
        return session.book.views(session.account.user_id)

    async def approve_device(self, device_id: str) -> None:
        """Approve one of our pending devices (compare its fingerprint first) and send it every
        channel key and our directory key.

        Raises:
            UntrustedDeviceError: This device is not approved itself, or the target is not a
                pending device of ours with valid keys.
            ApiError: The server refused.
        """
        session = self._require()
        if not session.account.approved:
            raise UntrustedDeviceError("this device is not approved itself")
        devices = await self._api.own_devices()
        self._observe(devices)
        target = next((d for d in devices if d.device_id == device_id), None)
        if target is None or target.status is not DeviceStatus.PENDING:
            raise UntrustedDeviceError(f"no pending device {device_id!r} of yours")
        signature = sealing.approval_signature(
            session.identity,
            user_id=session.account.user_id,
            device_id=device_id,
            keys=target.keys,
        )
        approved = await self._api.approve_device(device_id, signature)
        self._observe((approved,))
        known = session.book.get(device_id)
        if known is None or not known.trusted or known.bundle is None:
            raise UntrustedDeviceError(
                "the server's answer for the approved device does not verify"
            )
        await self._persist()
        await self._share_all_keys(known)
        self._emit(
            DevicesChanged(
                user_id=session.account.user_id, devices=session.book.views(session.account.user_id)
            )
        )

    async def _share_all_keys(self, known: KnownDevice) -> None:
        """Hand every channel key we hold (all epochs, for history) and our directory key to one
        of our own devices."""
        session = self._require()
        assert known.bundle is not None
        for channel_id in list(self._channels):
            for key in session.keys.channel_keys(channel_id):
                upload = sealing.envelope_upload(
                    session.identity, known.device_id, known.bundle, key
                )
                try:
                    await self._api.post_envelopes(
                        channel_id,
                        wire.EnvelopePostRequest(key_epoch=key.epoch, envelopes=(upload,)),
                    )
                except ApiError as exc:
                    log.info("sharing epoch %d of %s failed: %s", key.epoch, channel_id, exc)
        await self._share_directory_key((known,))

    async def revoke_device(self, device_id: str) -> None:
        """Revoke one of our devices; every channel it could read rotates to a new key epoch."""
        session = self._require()
        await self._api.revoke_device(device_id)
        if device_id == session.account.device_id:
            self._revoked = True
            await self._logout_locally()
            self._emit(Offline(reason="this device was revoked"))
            return
        await self._observe_own_devices()
        await self._persist()
        for channel_id in list(self._channels):
            try:
                await self.rotate_key(channel_id)
            except CoreError as exc:
                self._emit(Error(text=f"rotating {channel_id[:8]} after the revocation: {exc}"))
        self._emit(
            DevicesChanged(
                user_id=session.account.user_id, devices=session.book.views(session.account.user_id)
            )
        )

    async def verify_user(self, user: str) -> SafetyNumberView:
        """The safety number of us and `user` (id or username) and their devices' fingerprints.

        Raises:
            UserNotFoundError: No such user.
        """
        self._require()
        user_id = await self._resolve_user(user)
        self._observe(await self._api.user_devices(user_id))
        await self._observe_own_devices()
        await self._persist()
        return self._safety_view(user_id)

    def _safety_view(self, user_id: str) -> SafetyNumberView:
        session = self._require()
        mine = session.book.usable_bundles(session.account.user_id)
        theirs = session.book.usable_bundles(user_id)
        if not mine:
            mine = [session.identity.public_bundle]
        number = (
            compute_safety_number(session.account.user_id, mine, user_id, theirs)
            if theirs
            else "(they have no usable device)"
        )
        return SafetyNumberView(
            user_id=user_id,
            display_name=self.display_name(user_id),
            safety_number=number,
            devices=session.book.views(user_id),
        )

    async def mark_verified(self, user: str) -> SafetyNumberView:
        """Mark `user`'s current devices verified (after comparing the safety number), which also
        re-trusts devices whose keys changed; their pending channel keys are then sent.
        """
        session = self._require()
        user_id = await self._resolve_user(user)
        self._observe(await self._api.user_devices(user_id))
        trusted = [k for k in session.book.verify_user(user_id) if k.trusted]
        await self._persist()
        for channel in self._channels.values():
            if channel.members is None or user_id not in channel.members:
                continue
            key = session.keys.channel_key(channel.channel_id, channel.epoch)
            if key is None:
                continue
            uploads = tuple(
                sealing.envelope_upload(session.identity, k.device_id, k.bundle, key)
                for k in trusted
                if k.bundle is not None
            )
            if uploads:
                with contextlib.suppress(ApiError):
                    await self._api.post_envelopes(
                        channel.channel_id,
                        wire.EnvelopePostRequest(key_epoch=key.epoch, envelopes=uploads),
                    )
        await self._share_directory_key(trusted)
        self._emit(DevicesChanged(user_id=user_id, devices=session.book.views(user_id)))
        return self._safety_view(user_id)

    # --- invites ---------------------------------------------------------------------------------

    async def create_invite(
        self, *, ttl_seconds: int | None = None, note: str | None = None
    ) -> str:
        """Create an invite (admin) and return its token."""
        self._require()
        request = (
            wire.InviteCreateRequest(note=note)
            if ttl_seconds is None
            else wire.InviteCreateRequest(ttl_seconds=ttl_seconds, note=note)
        )
        return (await self._api.create_invite(request)).token

    # --- voice -----------------------------------------------------------------------------------

    def _voice_socket(self, socket_path: Path | None) -> Path:
        if socket_path is not None:
            return socket_path
        if self.options.voice_ipc_path is not None:
            return self.options.voice_ipc_path
        runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
        return Path(runtime) / "dialtone" / "voiced.sock"

    async def _ice_servers(self) -> tuple[IceServer, ...]:
        try:
            turn = await self._api.turn()
            servers = turn.ice_servers
        except CoreError as exc:
            self._emit(Notice(text=f"voice: no TURN credentials from the server ({exc})"))
            servers = ()
        return merge_ice_servers(
            servers,
            stun_urls=self.options.voice_stun_urls,
            turn_urls=self.options.voice_turn_urls,
        )

    async def _send_ws(self, event: wire_ws.ClientEvent) -> bool:
        link = self._link
        return link is not None and await link.send(event)

    async def attach_voice(self, socket_path: Path | None = None) -> None:
        """Connect to the voice daemon's IPC socket (or the options' path) and relay signaling.
        A missing or crashed daemon emits `VoiceDaemonState(available=False)`; this core keeps
        retrying in the background until `detach_voice`.
        """
        session = self._require()
        if self._voice is None:
            self._voice = VoiceRelay(
                self._codec,
                identity=session.identity,
                user_id=session.account.user_id,
                device_id=session.account.device_id,
                client_name=f"{self.options.client_name}/{__version__}",
                send_ws=self._send_ws,
                emit=self._emit,
                lookup_bundle=self._trusted_bundle,
                ice_servers=self._ice_servers,
                display_name=self.display_name,
                relay_only=self.options.voice_relay_only,
            )
        await self._voice.attach(self._voice_socket(socket_path))

    async def detach_voice(self) -> None:
        """Disconnect from the voice daemon (leaving any voice room first)."""
        voice, self._voice = self._voice, None
        if voice is not None:
            await voice.detach()

    def _require_voice(self) -> VoiceRelay:
        if self._voice is None:
            raise VoiceUnavailableError("no voice daemon attached (start it with --voice-auto)")
        return self._voice

    async def voice_join(self, channel_id: str) -> None:
        """Join a channel's voice room: TURN credentials to the daemon, the daemon opens the
        audio devices and the room, then the server lists us in it. A join that fails leaves
        us in no room (`VoiceState` with no channel), and a join the server refuses afterwards
        too (an `Error` says why).

        Raises:
            VoiceUnavailableError: The daemon is not connected.
            VoiceJoinError: The daemon could not open the room.
        """
        self._channel_state(channel_id)
        await self._require_voice().join(channel_id)

    async def voice_leave(self) -> None:
        """Leave the voice room."""
        if self._voice is not None:
            await self._voice.leave()

    async def voice_mute(self, muted: bool = True) -> None:
        """Mute (or unmute) the microphone."""
        await self._require_voice().set_muted(muted)

    async def voice_deafen(self, deafened: bool = True) -> None:
        """Deafen (or undeafen)."""
        await self._require_voice().set_deafened(deafened)


_TRY_AGAIN = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL_ERROR})
"""Error codes after which a refused message is sent again later."""

_VOICE_REFUSALS = frozenset({ErrorCode.FORBIDDEN, ErrorCode.CONFLICT, ErrorCode.NOT_FOUND})
"""Error codes with which the server refuses a ``voice.join`` (it sends no ``ref`` with them)."""

_Handler = Callable[[ClientCore, Any], Coroutine[Any, Any, None]]

_HANDLERS: dict[type, _Handler] = {
    wire_ws.ResumeDone: ClientCore._on_resume_done,
    wire_ws.MessageNew: ClientCore._on_message,
    wire_ws.MessageAck: ClientCore._on_ack,
    wire_ws.ErrorEvent: ClientCore._on_error,
    wire_ws.ChannelUpdated: ClientCore._on_channel_updated,
    wire_ws.ChannelDeleted: ClientCore._on_channel_deleted,
    wire_ws.MemberAdded: ClientCore._on_member_added,
    wire_ws.MemberUpdated: ClientCore._on_member_updated,
    wire_ws.MemberRemoved: ClientCore._on_member_removed,
    wire_ws.Typing: ClientCore._on_typing,
    wire_ws.ReadMarker: ClientCore._on_read_marker,
    wire_ws.KeyRotated: ClientCore._on_key_rotated,
    wire_ws.EnvelopeAvailable: ClientCore._on_envelope,
    wire_ws.DirectoryEnvelopeAvailable: ClientCore._on_directory_envelope,
    wire_ws.DeviceJoined: ClientCore._on_device_joined,
    wire_ws.DeviceRevoked: ClientCore._on_device_revoked,
    wire_ws.ProfileUpdated: ClientCore._on_profile,
    wire_ws.PresenceChanged: ClientCore._on_presence,
}
"""Server event type to handler (voice events go to the voice relay first)."""
