"""The realtime side of one server process: hub, message pipeline, replica link, presence, voice.

`Realtime` is what the rest of the server sees. HTTP services publish through it (it implements
`services.events.EventPublisher` and `PresenceSource`), and `/v1/ws` sessions hand it their
connections and client events.

Messages, channel and user events reach clients through PostgreSQL LISTEN/NOTIFY, and every
replica, this one included, acts on them when the notification comes back: one path for local and
remote delivery, so every replica sees commits and membership changes in the same order. Presence
and voice-room changes are applied here at once (the joining device needs its roster now) and
announced to the other replicas, which keep a copy per replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any, cast
from uuid import uuid4

from dialtone.server.clock import Clock
from dialtone.server.realtime.cluster import Effect, Kind, Signal, SignalCodec
from dialtone.server.realtime.connection import RESYNC, Connection
from dialtone.server.realtime.ended import RecentlyEnded
from dialtone.server.realtime.frames import text_frame
from dialtone.server.realtime.hub import Hub
from dialtone.server.realtime.pipeline import REJECTIONS, MessagePipeline, Submission
from dialtone.server.realtime.presence import PresenceBook, PresenceChange
from dialtone.server.realtime.settings import RealtimeSettings
from dialtone.server.realtime.stream import MessageStream
from dialtone.server.realtime.voice import SeatChange, VoiceBook
from dialtone.server.services.ratelimit import RateLimiter
from dialtone.server.storage import Storage
from dialtone.server.storage.errors import NotMemberError
from dialtone.server.storage.notify import (
    Appended,
    AppendOutcome,
    MessageLog,
    Notifier,
    NotifyListener,
    NotifyTemplate,
)
from dialtone.server.storage.records import MessageRecord, NewMessage
from dialtone.wire import limits, ws
from dialtone.wire.codec import Codec
from dialtone.wire.common import ErrorCode, Ping, PresenceStatus, VoiceParticipant
from dialtone.wire.fields import ChannelId
from dialtone.wire.http import ChannelMessage

log = logging.getLogger(__name__)


class Realtime:
    """Realtime delivery for one server process.

    Args:
        storage: The storage facade (its pool also carries LISTEN/NOTIFY).
        codec: The wire codec.
        clock: Time source.
        settings: Limits and timings.
        replica_id: This process's identifier among the replicas (random by default).
    """

    def __init__(
        self,
        *,
        storage: Storage,
        codec: Codec,
        clock: Clock,
        settings: RealtimeSettings,
        replica_id: str | None = None,
    ) -> None:
        self.replica_id = replica_id or str(uuid4())
        self.settings = settings
        self.storage = storage
        self.codec = codec
        self.clock = clock
        self.hub = Hub()
        self.presence = PresenceBook(self.replica_id)
        self.voice = VoiceBook()
        self.signals = SignalCodec(self.replica_id)
        self._log = MessageLog(storage.pool)
        self._notifier = Notifier(storage.pool)
        self._listener = NotifyListener(
            storage.pool, on_payload=self._on_payload, on_gap=self._on_gap
        )
        self.stream = MessageStream(self.hub, self._log, self.message_frame)
        self.pipeline = MessagePipeline(
            log=self._log,
            stream=self.stream,
            clock=clock,
            pointer=self._pointer,
            reply=self._reply,
            max_batch=settings.commit_batch,
        )
        self.limiter = RateLimiter(
            rate_per_second=settings.event_rate,
            burst=settings.event_burst,
            monotonic=clock.monotonic,
        )
        self._sweeper: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._own_heartbeat_at = 0.0
        self._ping_ids = 0
        self._taking_messages = True
        # Longer than a connection may take from its authenticated upgrade to joining the hub.
        self._ended = RecentlyEnded(keep=settings.hello_timeout + 60.0, now=self._loop_time)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for signals, announce this replica and start the periodic work."""
        await self._listener.start()
        self._own_heartbeat_at = self._loop_time()
        await self._signal(Kind.SNAPSHOT_REQUEST)
        await self._signal(Kind.HEARTBEAT)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def shutdown(self) -> None:
        """Graceful shutdown, part one: store what was received, then send everyone away.

        By the time `on_shutdown` runs, aiohttp has stopped reading from every connection
        (`RequestHandler.close`), so frames a client sent after that are never seen: they are not
        acknowledged, and the client resends them (same `client_msg_id`, stored once) after
        reconnecting. Everything already read is stored, acknowledged and fanned out; then each
        client gets `server.going_away` (with a spread reconnect delay) and a GOING_AWAY close.
        """
        settings = self.settings
        self.hub.begin_shutdown()
        self._taking_messages = False
        grace = settings.shutdown_grace
        if not await self.pipeline.drain(grace):
            log.warning("shutdown: messages still being stored after %.0f s", grace)
        if not await self.stream.idle(grace):
            log.warning("shutdown: fan-out still pending after %.0f s", grace)
        for conn in self.hub:
            notice = ws.GoingAway(
                reason="server shutting down",
                reconnect_after_ms=secrets.randbelow(settings.reconnect_spread_ms + 1),
            )
            conn.send_now(self.frame(notice))
        # The client's answer to the close frame cannot be read any more (see above): give the
        # frames time to leave, then let the close time out quickly.
        await self.hub.close_all(
            ws.CloseCode.GOING_AWAY, within=settings.close_timeout + 1.0, handshake=1.0
        )

    async def stop(self) -> None:
        """Graceful shutdown, part two: say goodbye to the other replicas and stop listening."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        with contextlib.suppress(Exception):
            await self._signal(Kind.BYE)
        await self._listener.close()
        for task in list(self._background):
            task.cancel()
        self.stream.reset()

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    # -- encoding -----------------------------------------------------------------------------

    def frame(self, event: ws.ServerEvent) -> bytes:
        """Encode a server event as a complete WebSocket frame."""
        return text_frame(self.codec.encode_ws(event).encode("ascii"))

    def message_frame(self, record: MessageRecord) -> bytes:
        """Encode a stored message as a `channel.message.new` frame."""
        return self.frame(ws.MessageNew(message=channel_message(record)))

    def _encode_event(self, event: object) -> str:
        # The publisher protocol is typed loosely (services must not import the hub); the codec
        # refuses anything that is not a WebSocket event with a TypeError.
        return self.codec.encode_ws(cast("ws.ServerEvent", event))

    def _pointer(self, channel_id: ChannelId, token: int) -> NotifyTemplate:
        return self.signals.messages_template(channel_id, token)

    # -- the event publisher HTTP services use ------------------------------------------------

    async def publish_channel_event(self, channel_id: str, event: object) -> None:
        """Send `event` to every connected device of every member of a channel, on every replica.

        Membership events also move subscriptions (see `_effect`): a new member hears of their
        arrival; a removed member is unsubscribed first, so only remaining members hear it here.

        Args:
            channel_id: The channel.
            event: A `dialtone.wire.ws` server event.
        """
        body: dict[str, Any] = {"c": channel_id, "e": self._encode_event(event)}
        await self._signal(Kind.CHANNEL_EVENT, **body, **_effect(event))

    async def publish_user_event(self, user_ids: Collection[str], event: object) -> None:
        """Send `event` to every connected device of the given users, on every replica.

        Membership, deletion and revocation events have the same effects as on a channel (a
        revoked device's connections are closed with 4005 after hearing it).

        Args:
            user_ids: The recipients.
            event: A `dialtone.wire.ws` server event.
        """
        body: dict[str, Any] = {"u": list(user_ids), "e": self._encode_event(event)}
        await self._signal(Kind.USER_EVENT, **body, **_effect(event))

    async def end_sessions(self, session_ids: Collection[str]) -> None:
        """Close the connections of logged-out sessions (4001), on every replica.

        Args:
            session_ids: The sessions that ended.
        """
        await self._signal(Kind.SESSIONS_ENDED, s=list(session_ids))

    async def online_user_ids(self, user_ids: Collection[str]) -> set[str]:
        """Return which of `user_ids` are connected to any replica.

        Args:
            user_ids: The users asked about.

        Returns:
            The subset that is online.
        """
        return self.presence.online_among(user_ids)

    # -- connections --------------------------------------------------------------------------

    def attach(
        self, conn: Connection, channels: Iterable[ChannelId], status: PresenceStatus
    ) -> None:
        """Register a new connection (live traffic is held until its resume is done).

        A connection whose session ended or whose device was revoked since it was authenticated
        is closed instead (4001 or 4005).

        Args:
            conn: The connection.
            channels: The channels its user is a member of.
            status: The status the user chose (announced when they come online; `offline`
                means invisible: nothing is announced).
        """
        ended = self._ended.close_code(session_id=conn.session_id, device_id=conn.device_id)
        if ended is not None:
            conn.close(ended)
            return
        channel_list = list(channels)
        if not self.hub.attach(conn, channel_list):
            return
        change = self.presence.set_local(conn.user_id, channel_list)
        self._background_signal(
            Kind.PRESENCE, u=conn.user_id, on=True, c=channel_list, s=status.value
        )
        if change is not None:
            self._announce_presence(change, status)

    def detach(self, conn: Connection) -> None:
        """Unregister a connection whose handler ended (leaving its voice room).

        Args:
            conn: The connection.
        """
        if conn.voice_room is not None and self.voice.room_of(conn.device_id) == conn.voice_room:
            seats = self.voice.leave(conn.device_id)
            self._apply_voice_locally(seats)
            for seat in seats:
                self._background_signal(Kind.VOICE, **self._voice_body(seat))
        if not self.hub.detach(conn):
            return
        change = self.presence.clear_local(conn.user_id)
        self._background_signal(Kind.PRESENCE, u=conn.user_id, on=False, c=[], s=None)
        if change is not None:
            self._announce_presence(change, PresenceStatus.OFFLINE)

    def _announce_presence(self, change: PresenceChange, status: PresenceStatus) -> None:
        if change.online and status is PresenceStatus.OFFLINE:
            return  # invisible: the user stays offline to others
        if not change.online:
            status = PresenceStatus.OFFLINE
        last_seen = None if change.online else self.clock.now()
        event = ws.PresenceChanged(user_id=change.user_id, status=status, last_seen_at=last_seen)
        self.hub.fanout_channels(change.channels, self.frame(event), exclude_user=change.user_id)

    # -- client events ------------------------------------------------------------------------

    def send_message(self, conn: Connection, event: ws.MessageSend) -> None:
        """Queue a client's message for storage; the ack or error follows the commit.

        Args:
            conn: The sender's connection.
            event: The message.
        """
        if conn.inflight >= self.settings.max_inflight_sends:
            self.reply_error(
                conn, ErrorCode.RATE_LIMITED, "too many messages waiting", event.client_msg_id
            )
            return
        if not self._taking_messages:
            self.reply_error(
                conn, ErrorCode.UNAVAILABLE, "server shutting down; send again", event.client_msg_id
            )
            return
        conn.inflight += 1
        message = NewMessage(
            channel_id=event.channel_id,
            client_msg_id=event.client_msg_id,
            sender_user_id=conn.user_id,
            sender_device_id=conn.device_id,
            key_epoch=event.key_epoch,
            sealed_body=event.sealed_body,
            sealed_sender_name=event.sealed_sender_name,
            signature=event.signature,
        )
        self.pipeline.submit(Submission(conn, message))

    def _reply(self, submission: Submission, outcome: AppendOutcome | None) -> None:
        conn = submission.conn
        conn.inflight -= 1
        ref = submission.message.client_msg_id
        if outcome is None:
            self.reply_error(conn, ErrorCode.UNAVAILABLE, "could not store; send again", ref)
        elif isinstance(outcome, Appended):
            record = outcome.message
            ack = ws.MessageAck(
                channel_id=record.channel_id,
                client_msg_id=record.client_msg_id,
                seq=record.seq,
                server_ts=record.server_ts,
            )
            conn.send_now(self.frame(ack))
        else:
            code, text = REJECTIONS[outcome.reason]
            self.reply_error(conn, code, text, ref)

    def reply_error(
        self, conn: Connection, code: ErrorCode, message: str, ref: str | None = None
    ) -> None:
        """Send an `error` event to one connection.

        Args:
            conn: The connection.
            code: The error code.
            message: A human explanation.
            ref: The client message id or call id it is about.
        """
        conn.send_now(self.frame(ws.ErrorEvent(code=code.value, message=message, ref=ref)))

    async def typing(self, conn: Connection, event: ws.TypingStart) -> None:
        """Tell the other members that this user is typing.

        Args:
            conn: The typing device's connection.
            event: The notice.
        """
        if event.channel_id not in conn.channels:
            self.reply_error(conn, ErrorCode.FORBIDDEN, "not a member of this channel")
            return
        typing = ws.Typing(channel_id=event.channel_id, user_id=conn.user_id)
        await self._signal(
            Kind.CHANNEL_EVENT,
            c=event.channel_id,
            e=self.codec.encode_ws(typing),
            x=conn.device_id,
        )

    async def mark_read(self, conn: Connection, event: ws.ReadMarkSet) -> None:
        """Store a read marker and tell the user's other devices.

        Args:
            conn: The reader's connection.
            event: The marker.
        """
        if event.channel_id not in conn.channels:
            self.reply_error(conn, ErrorCode.FORBIDDEN, "not a member of this channel")
            return
        try:
            marker = await self.storage.messages.set_read_marker(
                conn.user_id, event.channel_id, event.seq, now=self.clock.now()
            )
        except NotMemberError:
            # Removed a moment ago: the removal event is on its way to this connection.
            self.reply_error(conn, ErrorCode.FORBIDDEN, "not a member of this channel")
            return
        notice = ws.ReadMarker(channel_id=event.channel_id, seq=marker.seq)
        await self._signal(
            Kind.USER_EVENT, u=[conn.user_id], e=self.codec.encode_ws(notice), x=conn.device_id
        )

    async def set_presence(self, conn: Connection, status: PresenceStatus) -> None:
        """Store the user's chosen status and tell everyone sharing a channel (as over HTTP).

        Args:
            conn: A connection of the user.
            status: `online`, `away`, `dnd`, or `offline` (invisible while connected).
        """
        storage = self.storage
        await storage.directory.set_presence(conn.user_id, status.value, now=self.clock.now())
        audience = await storage.channels.co_member_user_ids(conn.user_id)
        await self.publish_user_event(
            sorted({*audience, conn.user_id}),
            ws.PresenceChanged(user_id=conn.user_id, status=status),
        )

    # -- voice --------------------------------------------------------------------------------

    async def voice_join(self, conn: Connection, event: ws.VoiceJoin) -> None:
        """Put a device in a channel's voice room and send it the roster.

        Args:
            conn: The joining device's connection.
            event: The join.
        """
        room = event.channel_id
        if room not in conn.channels:
            self.reply_error(conn, ErrorCode.FORBIDDEN, "not a member of this channel", ref=room)
            return
        already = self.voice.room_of(conn.device_id) == room
        if not already and len(self.voice.roster(room)) >= limits.MAX_VOICE_PARTICIPANTS:
            self.reply_error(conn, ErrorCode.CONFLICT, "the voice room is full", ref=room)
            return
        participant = VoiceParticipant(
            user_id=conn.user_id,
            device_id=conn.device_id,
            muted=event.muted,
            deafened=event.deafened,
            joined_at=self.clock.now(),
        )
        changes = self.voice.join(room, participant, self.replica_id)
        # The seat now belongs to this connection: an older connection of the same device
        # (a reconnect overlapping the old socket's end) must not take it away when it closes.
        for other in self.hub.connections_of(conn.user_id):
            if other.device_id == conn.device_id:
                other.voice_room = None
        conn.voice_room = room
        self._apply_voice_locally(changes)
        roster = ws.VoiceRoster(channel_id=room, participants=tuple(self.voice.roster(room)))
        conn.send_now(self.frame(roster))
        await self._publish_voice(changes)

    async def voice_leave(self, conn: Connection, event: ws.VoiceLeave) -> None:
        """Take a device out of a voice room.

        Args:
            conn: The leaving device's connection.
            event: The leave.
        """
        if self.voice.room_of(conn.device_id) != event.channel_id:
            return
        changes = self.voice.leave(conn.device_id)
        conn.voice_room = None
        self._apply_voice_locally(changes)
        await self._publish_voice(changes)

    async def voice_state(self, conn: Connection, event: ws.VoiceStateSet) -> None:
        """Change a device's mute and deafen state in its room.

        Args:
            conn: The device's connection.
            event: The new state.
        """
        if self.voice.room_of(conn.device_id) != event.channel_id:
            self.reply_error(conn, ErrorCode.BAD_REQUEST, "not in this voice room")
            return
        change = self.voice.update(conn.device_id, muted=event.muted, deafened=event.deafened)
        if change is not None:
            self._apply_voice_locally([change])
            await self._publish_voice([change])

    async def relay(
        self, conn: Connection, event: ws.WebRtcOffer | ws.WebRtcAnswer | ws.WebRtcIce
    ) -> None:
        """Relay WebRTC signaling to one device, only within one voice room.

        Args:
            conn: The sending device's connection.
            event: The offer, answer or candidate.
        """
        target = event.to_device_id
        room = self.voice.room_of(conn.device_id)
        participant = self.voice.participant(target)
        if (
            room != event.channel_id
            or participant is None
            or not self.voice.same_room(conn.device_id, target)
        ):
            self.reply_error(
                conn, ErrorCode.FORBIDDEN, "the device is not in your voice room", event.call_id
            )
            return
        relayed: ws.ServerEvent
        if isinstance(event, ws.WebRtcOffer):
            relayed = ws.WebRtcOfferRelayed(
                channel_id=room,
                call_id=event.call_id,
                from_user_id=conn.user_id,
                from_device_id=conn.device_id,
                sdp=event.sdp,
                signature=event.signature,
            )
        elif isinstance(event, ws.WebRtcAnswer):
            relayed = ws.WebRtcAnswerRelayed(
                channel_id=room,
                call_id=event.call_id,
                from_user_id=conn.user_id,
                from_device_id=conn.device_id,
                sdp=event.sdp,
                signature=event.signature,
            )
        else:
            relayed = ws.WebRtcIceRelayed(
                channel_id=room,
                call_id=event.call_id,
                from_user_id=conn.user_id,
                from_device_id=conn.device_id,
                candidate=event.candidate,
                sdp_mid=event.sdp_mid,
                sdp_mline_index=event.sdp_mline_index,
            )
        frame = self.frame(relayed)
        if self.hub.to_device(participant.user_id, target, frame):
            return
        await self._signal(
            Kind.DEVICE_EVENT,
            u=participant.user_id,
            d=target,
            e=self.codec.encode_ws(relayed),
        )

    def _apply_voice_locally(self, changes: Iterable[SeatChange]) -> None:
        for change in changes:
            if change.change is ws.VoiceChange.LEFT:
                for conn in self.hub.connections_of(change.participant.user_id):
                    if conn.device_id == change.participant.device_id:
                        conn.voice_room = None
            event = ws.VoicePresence(
                channel_id=change.room_id, change=change.change, participant=change.participant
            )
            self.hub.fanout(change.room_id, self.frame(event))

    async def _publish_voice(self, changes: Iterable[SeatChange]) -> None:
        for change in changes:
            await self._signal(Kind.VOICE, **self._voice_body(change))

    def _voice_body(self, change: SeatChange) -> dict[str, Any]:
        return {
            "c": change.room_id,
            "ch": change.change.value,
            "p": self.codec.unstructure(change.participant),
        }

    # -- signals ------------------------------------------------------------------------------

    async def _signal(self, kind: Kind, **body: Any) -> None:
        await self._notifier.publish(self.signals.encode(kind, **body))

    def _background_signal(self, kind: Kind, **body: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._signal_logged(kind, body))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _signal_logged(self, kind: Kind, body: dict[str, Any]) -> None:
        try:
            await self._signal(kind, **body)
        except Exception as exc:
            log.warning("could not signal the other replicas (%s)", type(exc).__name__)

    def _on_payload(self, payload: str) -> None:
        signal = self.signals.decode(payload)
        if signal is None:
            return
        try:
            self._dispatch(signal)
        except Exception:
            log.exception("replica signal %s failed", signal.kind.value)

    def _dispatch(self, signal: Signal) -> None:
        body = signal.body
        own = signal.replica == self.replica_id
        kind = signal.kind
        if kind is Kind.MESSAGES:
            token = int(body["t"]) if own else None
            self.stream.committed(body["c"], int(body["a"]), int(body["b"]), token)
        elif kind is Kind.CHANNEL_EVENT:
            self._on_channel_event(body)
        elif kind is Kind.USER_EVENT:
            self._on_user_event(body)
        elif kind is Kind.SESSIONS_ENDED:
            ended = set(body["s"])
            self._ended.sessions_ended(ended)
            self.hub.close_where(lambda c: c.session_id in ended, ws.CloseCode.UNAUTHORIZED)
        elif kind is Kind.DEVICE_EVENT:
            self.hub.to_device(body["u"], body["d"], text_frame(body["e"].encode()))
        elif kind is Kind.HEARTBEAT:
            if own:
                self._own_heartbeat_at = self._loop_time()
            else:
                self.presence.heard_from(signal.replica, self._loop_time())
        elif own:
            return
        elif kind is Kind.PRESENCE:
            self._on_presence(signal.replica, body)
        elif kind is Kind.VOICE:
            self._on_voice(signal.replica, body)
        elif kind is Kind.SNAPSHOT_REQUEST:
            self._background_signal(Kind.SNAPSHOT, **self._snapshot())
        elif kind is Kind.SNAPSHOT:
            self._on_snapshot(signal.replica, body)
        elif kind is Kind.BYE:
            self._forget_replica(signal.replica)

    def _on_channel_event(self, body: dict[str, Any]) -> None:
        frame = text_frame(body["e"].encode())
        self._effect_before(body, frame)
        self.hub.fanout(body["c"], frame, exclude_device=body.get("x"))
        self._effect_after(body)

    def _on_user_event(self, body: dict[str, Any]) -> None:
        frame = text_frame(body["e"].encode())
        self._effect_before(body, frame)
        exclude = body.get("x")
        for user_id in body["u"]:
            self.hub.to_user(user_id, frame, exclude_device=exclude)
        self._effect_after(body)

    def _effect_before(self, body: dict[str, Any], frame: bytes) -> None:
        effect = body.get("fx")
        if effect == Effect.SUBSCRIBE:
            self.hub.subscribe(body["fc"], body["fu"])
        elif effect == Effect.UNSUBSCRIBE:
            channel_id, user_id = body["fc"], body["fu"]
            self.hub.unsubscribe(channel_id, user_id)
            self._apply_voice_locally(self.voice.leave_user_room(user_id, channel_id))
        elif effect == Effect.CLOSE_DEVICE:
            # The revoked device hears the notice (even mid-resume, and after whatever is already
            # queued for it), then the 4005 close; the fan-out that follows skips its connection.
            device_id = body["fd"]
            self._ended.device_revoked(device_id)
            for conn in self.hub:
                if conn.device_id == device_id and not conn.closing:
                    conn.send_now(frame)
                    conn.close(ws.CloseCode.DEVICE_REVOKED, drain=True)

    def _effect_after(self, body: dict[str, Any]) -> None:
        effect = body.get("fx")
        if effect == Effect.DROP_CHANNEL:
            channel_id = body["fc"]
            self._apply_voice_locally(self.voice.close_room(channel_id))
            self.hub.drop_channel(channel_id)
        elif effect == Effect.CLOSE_DEVICE:
            self._apply_voice_locally(self.voice.leave(body["fd"]))

    def _on_presence(self, replica: str, body: dict[str, Any]) -> None:
        change = self.presence.apply_remote(
            replica, body["u"], bool(body["on"]), body["c"], self._loop_time()
        )
        if change is not None:
            self._announce_presence(change, PresenceStatus(body.get("s") or "offline"))

    def _on_voice(self, replica: str, body: dict[str, Any]) -> None:
        participant = self.codec.structure(body["p"], VoiceParticipant)
        change = ws.VoiceChange(body["ch"])
        if change is ws.VoiceChange.LEFT:
            changes = self.voice.leave(participant.device_id)
        else:
            changes = self.voice.join(body["c"], participant, replica)
        self._apply_voice_locally(changes)

    def _snapshot(self) -> dict[str, Any]:
        return {
            "u": {
                user: sorted(channels) for user, channels in self.presence.local_snapshot().items()
            },
            "v": [
                [room, self.codec.unstructure(participant)]
                for room, participant in self.voice.held_by(self.replica_id)
            ],
        }

    def _on_snapshot(self, replica: str, body: dict[str, Any]) -> None:
        now = self._loop_time()
        users = {user: frozenset(channels) for user, channels in body["u"].items()}
        # Users found online through a snapshot were connected before this replica heard of
        # them: their clients already saw them arrive, so nothing is announced.
        self.presence.apply_snapshot(replica, users, now)
        for room, data in body["v"]:
            participant = self.codec.structure(data, VoiceParticipant)
            self._apply_voice_locally(self.voice.join(room, participant, replica))

    def _forget_replica(self, replica: str) -> None:
        for change in self.presence.forget(replica):
            self._announce_presence(change, PresenceStatus.OFFLINE)
        self._apply_voice_locally(self.voice.drop_replica(replica))

    def _on_gap(self) -> None:
        # Notifications sent while the listener was away are lost: no replica state or message
        # stream can be trusted. Clients resume from the database; other replicas resend state.
        log.warning("event stream interrupted; asking %d clients to resume", len(self.hub))
        self.stream.reset()
        self.signals.forget_partial()
        for replica in self.presence.replicas():
            self._forget_replica(replica)
        self.hub.close_where(lambda _conn: True, RESYNC)
        self._own_heartbeat_at = self._loop_time()
        self._background_signal(Kind.SNAPSHOT_REQUEST)

    # -- periodic work ------------------------------------------------------------------------

    async def _sweep(self) -> None:
        # Replica liveness runs on the event loop's clock (it is about processes, not users);
        # idle and session expiry use the injectable clock, like everything users see.
        settings = self.settings
        loop = asyncio.get_running_loop()
        tick = min(settings.heartbeat, settings.replica_heartbeat)
        next_ping = next_beat = 0.0
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            if now >= next_beat:
                next_beat = now + settings.replica_heartbeat
                await self._replica_beat(now)
            if now >= next_ping:
                next_ping = now + settings.heartbeat
                self._ping_clients(self.clock.monotonic(), self.clock.now())

    async def _replica_beat(self, now: float) -> None:
        self._background_signal(Kind.HEARTBEAT)
        if now - self._own_heartbeat_at > self.settings.replica_expiry:
            log.warning("own heartbeats stopped coming back; reconnecting the event listener")
            self._own_heartbeat_at = now
            self._listener.reconnect()
        _gone, changes = self.presence.expire(now, self.settings.replica_expiry)
        for replica in _gone:
            log.info("replica %s stopped sending heartbeats; forgetting it", replica)
            self._apply_voice_locally(self.voice.drop_replica(replica))
        for change in changes:
            self._announce_presence(change, PresenceStatus.OFFLINE)

    def _ping_clients(self, now: float, wall: datetime) -> None:
        self._ping_ids += 1
        frame = self.frame(Ping(ping_id=self._ping_ids))
        idle_before = now - self.settings.idle_timeout
        for conn in self.hub:
            if conn.closing:
                continue
            if conn.session_expires_at <= wall:
                conn.close(ws.CloseCode.UNAUTHORIZED)
            elif conn.last_seen < idle_before:
                conn.close(ws.CloseCode.IDLE_TIMEOUT)
            else:
                conn.send(frame)


def _effect(event: object) -> dict[str, str]:
    """The state change an event carries besides being delivered (signal fields `f*`)."""
    if isinstance(event, ws.MemberAdded):
        return {"fx": Effect.SUBSCRIBE.value, "fc": event.channel_id, "fu": event.user_id}
    if isinstance(event, ws.MemberRemoved):
        return {"fx": Effect.UNSUBSCRIBE.value, "fc": event.channel_id, "fu": event.user_id}
    if isinstance(event, ws.ChannelDeleted):
        return {"fx": Effect.DROP_CHANNEL.value, "fc": event.channel_id}
    if isinstance(event, ws.DeviceRevoked):
        return {"fx": Effect.CLOSE_DEVICE.value, "fd": event.device_id}
    return {}


def channel_message(record: MessageRecord) -> ChannelMessage:
    """Build the wire form of a stored message.

    Args:
        record: The stored message.

    Returns:
        The message as clients receive it.
    """
    return ChannelMessage(
        channel_id=record.channel_id,
        seq=record.seq,
        client_msg_id=record.client_msg_id,
        sender_user_id=record.sender_user_id,
        sender_device_id=record.sender_device_id,
        key_epoch=record.key_epoch,
        sealed_body=record.sealed_body,
        sealed_sender_name=record.sealed_sender_name,
        signature=record.signature,
        server_ts=record.server_ts,
    )


__all__ = ["Realtime", "channel_message"]
