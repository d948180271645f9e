"""The WebSocket side: one connection at a time, reconnected with backoff, resumed by sequence.

The link owns the socket and the retry loop; what the frames mean is the handler's business. On
every connection it sends ``hello`` with the handler's resume cursors, waits for ``ready``, then
hands over every event in order (awaiting the handler, so order is kept end to end).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Protocol

import aiohttp

from dialtone.client.core.api import HttpApi
from dialtone.wire import SUPPORTED_PROTOCOL_VERSIONS, Codec, ProtocolError, limits
from dialtone.wire import ws as wire_ws
from dialtone.wire.common import ChannelCursor, Ping, Pong

__all__ = ["LinkHandler", "RealtimeLink", "backoff_delay"]

log = logging.getLogger(__name__)

#: Close codes after which retrying as is cannot help.
_FATAL_CLOSES = {
    wire_ws.CloseCode.UNAUTHORIZED: "the session is no longer valid: log in again",
    wire_ws.CloseCode.DEVICE_REVOKED: "this device was revoked",
    wire_ws.CloseCode.UNSUPPORTED_VERSION: "the server speaks no protocol version we know",
}
_READY_TIMEOUT_S = 15.0
_HEARTBEAT_S = 20.0


def backoff_delay(attempt: int, initial: float, maximum: float, jitter: float) -> float:
    """The delay before reconnect attempt `attempt` (1, 2, ...): doubling from `initial` up to
    `maximum`, then scaled by a factor in [0.5, 1) so that clients do not reconnect in lockstep.

    Args:
        attempt: The attempt number, from 1.
        initial: The first delay.
        maximum: The cap.
        jitter: A random number in [0, 1).

    Returns:
        Seconds to wait.
    """
    base: float = min(maximum, initial * float(2 ** min(attempt - 1, 30)))
    return base * (0.5 + jitter / 2)


class LinkHandler(Protocol):
    """What the link calls back into (the client core)."""

    def resume_cursors(self) -> tuple[ChannelCursor, ...]:
        """The last sequence number held per channel, for ``hello``."""

    async def on_connected(self, ready: wire_ws.Ready, generation: int) -> None:
        """A connection was authenticated; `generation` counts connections."""

    async def on_event(self, event: wire_ws.ServerEvent) -> None:
        """One server event, in order."""

    def on_down(self, reason: str, attempt: int, delay: float) -> None:
        """The connection is down; attempt number `attempt` follows in `delay` seconds."""

    def on_stopped(self, reason: str) -> None:
        """The link gave up (fatal close) or was stopped."""


class RealtimeLink:
    """Keeps one authenticated WebSocket up until stopped.

    Args:
        api: The HTTP side (its session, base URL and token are reused).
        codec: The wire codec.
        handler: The callbacks.
        client_name: Sent in ``hello``.
        initial_delay: First reconnect delay.
        max_delay: Largest reconnect delay.
        jitter: Source of jitter in [0, 1) (injectable for tests).
    """

    def __init__(
        self,
        api: HttpApi,
        codec: Codec,
        handler: LinkHandler,
        *,
        client_name: str,
        initial_delay: float,
        max_delay: float,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._api = api
        self._codec = codec
        self._handler = handler
        self._client_name = client_name
        self._initial = initial_delay
        self._max = max_delay
        self._jitter = jitter
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self.generation = 0
        """Connections made so far (the current one's number while online)."""

    @property
    def online(self) -> bool:
        """Whether a ready connection is up."""
        return self._ws is not None and not self._ws.closed

    @property
    def running(self) -> bool:
        """Whether the loop runs (online or retrying)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the loop; returns after the first attempt succeeded or failed."""
        if self.running:
            return
        self._stopping = False
        self._first_attempt.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dialtone-ws")
        waiter = asyncio.ensure_future(self._first_attempt.wait())
        await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()

    async def stop(self) -> None:
        """Close the connection and stop retrying."""
        self._stopping = True
        self._wake.set()
        ws = self._ws
        if ws is not None:
            await ws.close()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    def reconnect_now(self) -> None:
        """Skip the remaining backoff delay (the user asked, or the network came back)."""
        self._wake.set()

    async def drop(self) -> None:
        """Close the current connection without stopping (the loop reconnects): for tests and
        for a client that detects a stale connection."""
        ws = self._ws
        if ws is not None:
            await ws.close(code=wire_ws.CloseCode.GOING_AWAY, message=b"client reconnect")

    async def send(self, event: wire_ws.ClientEvent) -> bool:
        """Send one event if online.

        Returns:
            Whether it was handed to the socket (False when offline or the socket just broke).
        """
        ws = self._ws
        if ws is None or ws.closed:
            return False
        try:
            await ws.send_str(self._codec.encode_ws(event))
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            log.info("send failed, will resend after reconnecting: %s", exc)
            return False
        return True

    # --- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            reason, fatal, delay_hint, was_ready = await self._attempt()
            self._first_attempt.set()
            if was_ready:
                attempt = 0
            if self._stopping:
                break
            if fatal:
                self._stopping = True
                self._handler.on_stopped(reason)
                return
            attempt += 1
            delay = (
                delay_hint
                if delay_hint is not None
                else backoff_delay(attempt, self._initial, self._max, self._jitter())
            )
            self._handler.on_down(reason, attempt, delay)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
        self._handler.on_stopped("disconnected")

    async def _attempt(self) -> tuple[str, bool, float | None, bool]:
        """One connection's life: (reason it ended, fatal, server's delay hint, got ready)."""
        try:
            ws = await self._api.session.ws_connect(
                self._api.ws_url(),
                headers=self._api.auth_headers(),
                heartbeat=_HEARTBEAT_S,
                max_msg_size=limits.MAX_WS_FRAME_BYTES,
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                return (_FATAL_CLOSES[wire_ws.CloseCode.UNAUTHORIZED], True, None, False)
            return (f"the server refused the connection (HTTP {exc.status})", False, None, False)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return (f"cannot reach the server: {exc or type(exc).__name__}", False, None, False)
        try:
            return await self._serve(ws)
        finally:
            self._ws = None
            await ws.close()

    async def _serve(
        self, ws: aiohttp.ClientWebSocketResponse
    ) -> tuple[str, bool, float | None, bool]:
        hello = wire_ws.Hello(
            protocol_versions=SUPPORTED_PROTOCOL_VERSIONS,
            client=self._client_name,
            resume=self._handler.resume_cursors(),
        )
        await ws.send_str(self._codec.encode_ws(hello))
        try:
            first = await ws.receive(timeout=_READY_TIMEOUT_S)
        except TimeoutError:
            return ("the server did not answer hello", False, None, False)
        if first.type is not aiohttp.WSMsgType.TEXT:
            return self._closed(ws, False)
        try:
            ready = self._codec.decode_ws_server(first.data)
        except ProtocolError as exc:
            return (f"bad answer to hello: {exc}", False, None, False)
        if not isinstance(ready, wire_ws.Ready):
            if isinstance(ready, wire_ws.ErrorEvent):
                return (f"the server refused hello: {ready.message}", False, None, False)
            return (f"expected ready, got {type(ready).__name__}", False, None, False)
        self._ws = ws
        self.generation += 1
        await self._handler.on_connected(ready, self.generation)
        self._first_attempt.set()
        delay_hint: float | None = None
        async for frame in ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            try:
                event = self._codec.decode_ws_server(frame.data)
            except ProtocolError as exc:
                log.warning("ignoring a frame the protocol does not allow: %s", exc)
                continue
            if isinstance(event, Ping):
                await self.send(Pong(ping_id=event.ping_id))
            elif isinstance(event, wire_ws.GoingAway):
                delay_hint = event.reconnect_after_ms / 1000
            else:
                await self._handler.on_event(event)
        self._ws = None
        reason, fatal, _hint, _ready = self._closed(ws, True)
        return (reason, fatal, delay_hint, True)

    def _closed(
        self, ws: aiohttp.ClientWebSocketResponse, was_ready: bool
    ) -> tuple[str, bool, float | None, bool]:
        code = ws.close_code
        if code in _FATAL_CLOSES:
            return (_FATAL_CLOSES[wire_ws.CloseCode(code)], True, None, was_ready)
        if code == wire_ws.CloseCode.SLOW_CONSUMER:
            return ("fell behind; catching up", False, 0.0, was_ready)
        if code == wire_ws.CloseCode.GOING_AWAY:
            return ("the server is restarting", False, None, was_ready)
        return (f"connection closed (code {code})", False, None, was_ready)
