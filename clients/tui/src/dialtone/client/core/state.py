"""The state one `ClientCore` shares with its collaborators, and the small helpers on it.

`ClientCore` is a facade over a few collaborators, each owning one concern (key exchange,
channels, sending, messages, devices, server events). They all hold a reference to one
`CoreState`: what this client knows (session, channels, cursors, profiles, presence), the
connection, and the event bus. Nothing here does I/O except `persist` (the keystore, in a
worker thread).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from dialtone.client.core.api import HttpApi
from dialtone.client.core.bus import EventBus
from dialtone.client.core.errors import ChannelNotFoundError, CoreError, NotLoggedInError
from dialtone.client.core.events import (
    ChannelsChanged,
    ChannelView,
    ClientEvent,
    ConnectionState,
    Error,
    Presence,
)
from dialtone.client.core.link import RealtimeLink
from dialtone.client.core.options import ClientOptions
from dialtone.client.core.session import Session
from dialtone.client.core.voice import VoiceRelay
from dialtone.keystore import normalize_server_url
from dialtone.wire import Codec
from dialtone.wire import http as wire

__all__ = ["CoreState", "KnownChannel"]

log = logging.getLogger(__name__)


@attrs.define
class KnownChannel:
    """What this client knows of one channel."""

    info: wire.ChannelInfo
    name: str | None = None
    last_seq: int = 0
    read_seq: int = 0
    members: dict[str, wire.MemberInfo] | None = None
    needs_rotation: bool = False

    @property
    def channel_id(self) -> str:
        """The channel's id."""
        return self.info.channel_id

    @property
    def epoch(self) -> int:
        """The channel's current key epoch."""
        return self.info.current_epoch


class CoreState:
    """Everything the core's collaborators share.

    Args:
        options: The client's settings.
    """

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self.codec = Codec()
        self.bus = EventBus()
        self.api = HttpApi(options.server_url, self.codec, timeout=options.request_timeout)
        self.server = normalize_server_url(options.server_url)
        """The normalized server URL (keys the keystore's entries)."""
        self.session: Session | None = None
        self.channels: dict[str, KnownChannel] = {}
        self.cursors: dict[str, int] = {}
        """The newest sequence number held per channel (for resuming)."""
        self.profiles: dict[str, str] = {}
        """Display names read from the directory, per user id."""
        self.presences: dict[str, Presence] = {}
        self.presence_watched: set[str] = set()
        """Channels whose members' presence was loaded (and is kept current)."""
        self.link: RealtimeLink | None = None
        self.connection = ConnectionState.OFFLINE
        self.executor: ThreadPoolExecutor | None = None
        self.voice: VoiceRelay | None = None
        self.save_lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.dir_shared: set[tuple[str, int]] = set()
        """(device, epoch) our directory key was sent to in this session."""
        self.replayed = 0
        self.synced_once = False
        self.revoked = False

    def forget(self) -> None:
        """Drop what the session knew (at logout)."""
        self.channels.clear()
        self.cursors.clear()
        self.profiles.clear()
        self.presences.clear()
        self.presence_watched.clear()
        self.dir_shared.clear()
        self.synced_once = False
        self.revoked = False

    def emit(self, event: ClientEvent) -> None:
        """Hand an event to every subscriber."""
        self.bus.emit(event)

    def require(self) -> Session:
        """The session.

        Raises:
            NotLoggedInError: No one is logged in.
        """
        if self.session is None:
            raise NotLoggedInError("log in or register first")
        return self.session

    def channel_state(self, channel_id: str) -> KnownChannel:
        """One of the user's channels.

        Raises:
            ChannelNotFoundError: No such channel.
        """
        channel = self.channels.get(channel_id)
        if channel is None:
            raise ChannelNotFoundError(f"no channel {channel_id!r}")
        return channel

    def view(self, channel: KnownChannel) -> ChannelView:
        """What the UI sees of a channel."""
        session = self.session
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

    def channel_views(self) -> tuple[ChannelView, ...]:
        """The user's channels as last known, sorted by name."""
        views = [self.view(channel) for channel in self.channels.values()]
        return tuple(
            sorted(views, key=lambda v: (v.name is None, (v.name or "").casefold(), v.channel_id))
        )

    def channels_changed(self) -> None:
        """Tell the UI the channel list (or a channel's counters) changed."""
        self.emit(ChannelsChanged(channels=self.channel_views()))

    def display_name(self, user_id: str) -> str:
        """The user's directory display name if readable, else a short form of their id."""
        name = self.profiles.get(user_id)
        if name:
            return name
        session = self.session
        if session is not None and user_id == session.account.user_id:
            return session.account.username
        return f"user-{user_id[:8]}"

    def presence(self, user_id: str) -> str:
        """A user's presence as last known (``offline`` when nothing is known)."""
        known = self.presences.get(user_id)
        return known.status if known is not None else "offline"

    async def persist(self) -> None:
        """Save the keystore if it changed (in a worker thread, one save at a time)."""
        session = self.session
        if session is None or not session.store.dirty:
            return
        async with self.save_lock:
            if not session.store.closed and session.store.dirty:
                await asyncio.to_thread(session.store.save)

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        """Run `coro` in the background; its failure becomes an `Error` event saying `what`."""

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except CoreError as exc:
                self.emit(Error(text=f"{what}: {exc}", code=getattr(exc, "code", None)))
            except Exception as exc:
                log.exception("%s failed", what)
                self.emit(Error(text=f"{what}: {exc}"))

        task = asyncio.get_running_loop().create_task(guarded(), name=f"dialtone: {what}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
