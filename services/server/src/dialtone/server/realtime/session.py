"""One `/v1/ws` connection from `hello` to close: handshake, resume, then client events.

The order a client sees is fixed: `ready`, the messages it missed (from the database, oldest
first, per channel), `resume.done`, then live events. Live events that happen during the replay are
held back and sent after it, minus those the replay already covered, so there is neither a gap nor
a duplicate at the switch-over.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from aiohttp import WSMsgType, web

from dialtone.server.realtime.connection import Connection
from dialtone.server.realtime.service import Realtime
from dialtone.wire import ws
from dialtone.wire.codec import error_event, negotiate_version
from dialtone.wire.common import ChannelCursor, ErrorCode, Ping, Pong, PresenceStatus
from dialtone.wire.errors import ProtocolError
from dialtone.wire.fields import ChannelId, DeviceId, UserId

log = logging.getLogger(__name__)

MAX_BAD_FRAMES = 20
"""Undecodable frames tolerated (each answered with an `error`) before the connection is closed."""


async def serve(
    rt: Realtime,
    request: web.Request,
    *,
    user_id: UserId,
    device_id: DeviceId,
    session_id: str,
    session_expires_at: datetime,
) -> web.WebSocketResponse:
    """Run the WebSocket of an authenticated request until it closes.

    Args:
        rt: The realtime side.
        request: The upgrade request (already authenticated).
        user_id: The session's user.
        device_id: The session's device.
        session_id: The session.
        session_expires_at: When the session ends.

    Returns:
        The (closed) WebSocket response.
    """
    settings = rt.settings
    websocket = web.WebSocketResponse(
        compress=False,
        autoping=True,
        max_msg_size=settings.max_frame_bytes,
        timeout=settings.close_timeout,
    )
    writer = await websocket.prepare(request)
    transport = request.transport
    if transport is None:
        return websocket
    hello = await _receive_hello(rt, websocket)
    if hello is None:
        return websocket
    hello_event, version = hello
    conn = Connection(
        conn_id=rt.hub.next_id(),
        user_id=user_id,
        device_id=device_id,
        session_id=session_id,
        session_expires_at=session_expires_at,
        ws=websocket,
        transport=transport,
        drain=writer.drain,
        batcher=rt.hub.batcher,
        queue_limit=settings.send_queue_limit,
        close_timeout=settings.close_timeout,
    )
    conn.last_seen = rt.clock.monotonic()
    session = Session(rt, conn)
    try:
        await session.resume(hello_event, version)
        await session.run()
    except Exception:
        # Nothing can be reported over HTTP any more; the client reconnects and resumes.
        log.exception("WebSocket session of connection %s failed", conn.conn_id)
        conn.close(ws.CloseCode.INTERNAL_ERROR)
    finally:
        rt.detach(conn)
        if not conn.closing and not websocket.closed:
            conn.close(ws.CloseCode.NORMAL)
        await conn.wait_closed()
    return websocket


async def _receive_hello(
    rt: Realtime, websocket: web.WebSocketResponse
) -> tuple[ws.Hello, int] | None:
    """Wait for `hello`; on anything else answer and close. Returns the hello and the version."""
    try:
        msg = await websocket.receive(timeout=rt.settings.hello_timeout)
    except TimeoutError:
        await websocket.close(code=ws.CloseCode.HELLO_REQUIRED, message=b"no hello in time")
        return None
    if msg.type is not WSMsgType.TEXT:
        if not websocket.closed:
            await websocket.close(code=ws.CloseCode.HELLO_REQUIRED, message=b"hello first")
        return None
    try:
        event = rt.codec.decode_ws_client(msg.data)
    except ProtocolError as exc:
        await websocket.send_str(rt.codec.encode_ws(error_event(exc)))
        await websocket.close(code=ws.CloseCode.HELLO_REQUIRED, message=b"hello first")
        return None
    if not isinstance(event, ws.Hello):
        error = ws.ErrorEvent(code=ErrorCode.BAD_REQUEST.value, message="send hello first")
        await websocket.send_str(rt.codec.encode_ws(error))
        await websocket.close(code=ws.CloseCode.HELLO_REQUIRED, message=b"hello first")
        return None
    try:
        version = negotiate_version(event.protocol_versions)
    except ProtocolError as exc:
        await websocket.send_str(rt.codec.encode_ws(error_event(exc)))
        await websocket.close(code=ws.CloseCode.UNSUPPORTED_VERSION, message=b"no common version")
        return None
    return event, version


def frame_ref(event: ws.ClientEvent) -> str | None:
    """Return the id an `error` about a client frame refers to, if the frame has one.

    Args:
        event: The decoded client frame.

    Returns:
        Its `client_msg_id` (messages) or `call_id` (WebRTC signaling), else None.
    """
    ref: str | None = getattr(event, "client_msg_id", None) or getattr(event, "call_id", None)
    return ref


class Session:
    """The protocol state of one connection.

    Args:
        rt: The realtime side.
        conn: The connection.
    """

    def __init__(self, rt: Realtime, conn: Connection) -> None:
        self.rt = rt
        self.conn = conn
        self._bad_frames = 0
        self._typing_at: dict[ChannelId, float] = {}

    async def resume(self, hello: ws.Hello, version: int) -> None:
        """Register the connection, send `ready`, replay what the client missed, go live.

        Args:
            hello: The client's hello.
            version: The negotiated protocol version.
        """
        rt, conn = self.rt, self.conn
        storage = rt.storage
        channels = await storage.channels.channel_ids_of_user(conn.user_id)
        [presence] = await storage.directory.presence([conn.user_id])
        conn.hold_live()
        rt.attach(conn, channels, PresenceStatus(presence.status))
        if conn.closing:
            return  # its session or device ended after the upgrade was authenticated
        settings = rt.settings
        conn.send_now(
            rt.frame(
                ws.Ready(
                    protocol_version=version,
                    user_id=conn.user_id,
                    device_id=conn.device_id,
                    session_expires_at=conn.session_expires_at,
                    heartbeat_interval_ms=int(settings.heartbeat * 1000),
                    idle_timeout_ms=int(settings.idle_timeout * 1000),
                    server_time=rt.clock.now(),
                )
            )
        )
        member_of = set(channels)
        replayed: set[ChannelId] = set()
        truncated: list[ChannelId] = []
        for cursor in hello.resume:
            channel_id = cursor.channel_id
            if channel_id not in member_of or channel_id in replayed:
                continue
            replayed.add(channel_id)
            if not await self._replay(channel_id, cursor.seq):
                truncated.append(channel_id)
            if conn.closing:
                return
        heads = await storage.messages.last_seqs_for_user(conn.user_id)
        cursors = []
        for channel_id in channels:
            if channel_id not in replayed or channel_id in truncated:
                # Everything up to the head is in the database for the client to page through;
                # live traffic continues after it.
                conn.set_position(channel_id, heads.get(channel_id, 0))
            cursors.append(
                ChannelCursor(channel_id=channel_id, seq=conn.delivered(channel_id) or 0)
            )
        conn.send_now(rt.frame(ws.ResumeDone(cursors=tuple(cursors), truncated=tuple(truncated))))
        conn.release_live()

    async def _replay(self, channel_id: ChannelId, after: int) -> bool:
        """Send the messages of a channel after `after`; False if the replay limit cut it short."""
        rt, conn = self.rt, self.conn
        settings = rt.settings
        conn.set_position(channel_id, after)
        page_size = max(1, min(settings.replay_page, settings.send_queue_limit // 2))
        sent = 0
        while sent < settings.replay_limit:
            page = await rt.storage.messages.since(
                channel_id, after, limit=min(page_size, settings.replay_limit - sent)
            )
            for record in page:
                conn.send_catch_up(channel_id, record.seq, rt.message_frame(record))
            sent += len(page)
            if len(page) < page_size or conn.closing:
                return True
            after = page[-1].seq
            # Backpressure: the next page waits until this one is on its way.
            await conn.flush()
        return len(await rt.storage.messages.since(channel_id, after, limit=1)) == 0

    async def run(self) -> None:
        """Handle client frames until the connection closes (either side)."""
        conn = self.conn
        monotonic = self.rt.clock.monotonic
        while (msg := await conn.receive()) is not None:
            conn.last_seen = monotonic()
            if msg.type is WSMsgType.TEXT:
                await self.handle(msg.data)
            else:
                self._bad_frame(ErrorCode.BAD_REQUEST, "frames are JSON text")

    def _bad_frame(self, code: ErrorCode, message: str) -> None:
        self._bad_frames += 1
        self.rt.reply_error(self.conn, code, message)
        if self._bad_frames > MAX_BAD_FRAMES:
            self.conn.close(ws.CloseCode.PROTOCOL_ERROR)

    async def handle(self, data: str) -> None:
        """Decode and act on one client frame.

        Args:
            data: The frame's text.
        """
        rt, conn = self.rt, self.conn
        # Every frame counts against the budget, also one that turns out to be undecodable.
        wait = rt.limiter.acquire(conn.device_id)
        try:
            event = rt.codec.decode_ws_client(data)
        except ProtocolError as exc:
            self._bad_frames += 1
            conn.send_now(rt.frame(error_event(exc)))
            if self._bad_frames > MAX_BAD_FRAMES:
                conn.close(ws.CloseCode.PROTOCOL_ERROR)
            return
        if wait > 0.0:
            # Carries the frame's id like every per-frame error, so the client can retry it.
            retry_ms = max(1, math.ceil(wait * 1000))
            message = f"too many events; retry in {retry_ms} ms"
            rt.reply_error(conn, ErrorCode.RATE_LIMITED, message, frame_ref(event))
            return
        try:
            await self._dispatch(event)
        except Exception as exc:
            # A database hiccup must not end the session: say so and carry on.
            log.warning(
                "connection %s: %s failed (%s)", conn.conn_id, event.type, type(exc).__name__
            )
            rt.reply_error(
                conn, ErrorCode.UNAVAILABLE, "temporarily unavailable; retry", frame_ref(event)
            )

    async def _dispatch(self, event: ws.ClientEvent) -> None:
        rt, conn = self.rt, self.conn
        if isinstance(event, ws.MessageSend):
            rt.send_message(conn, event)
        elif isinstance(event, Ping):
            conn.send_now(rt.frame(Pong(ping_id=event.ping_id)))
        elif isinstance(event, Pong):
            pass
        elif isinstance(event, ws.TypingStart):
            now = rt.clock.monotonic()
            last = self._typing_at.get(event.channel_id)
            if last is None or now - last >= rt.settings.typing_interval:
                self._typing_at[event.channel_id] = now
                await rt.typing(conn, event)
        elif isinstance(event, ws.ReadMarkSet):
            await rt.mark_read(conn, event)
        elif isinstance(event, ws.PresenceSet):
            await rt.set_presence(conn, event.status)
        elif isinstance(event, ws.VoiceJoin):
            await rt.voice_join(conn, event)
        elif isinstance(event, ws.VoiceLeave):
            await rt.voice_leave(conn, event)
        elif isinstance(event, ws.VoiceStateSet):
            await rt.voice_state(conn, event)
        elif isinstance(event, ws.WebRtcOffer | ws.WebRtcAnswer | ws.WebRtcIce):
            await rt.relay(conn, event)
        else:
            rt.reply_error(conn, ErrorCode.BAD_REQUEST, "hello was already received")
