"""A `/v1/ws` client for tests: hello, resume, typed events, pings answered.

It speaks the protocol with the wire codec over a real aiohttp WebSocket, and keeps every event it
did not wait for, so a test can assert both on what arrived and on what did not.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import aiohttp

from dialtone.crypto import DeviceIdentity
from dialtone.server.testing import ApiClient, TestDevice, TestUser, device_keys
from dialtone.wire import http, ws
from dialtone.wire.codec import Codec
from dialtone.wire.common import SUPPORTED_PROTOCOL_VERSIONS, ChannelCursor, DeviceInfo, Ping, Pong

E = TypeVar("E")


class WsClosedError(Exception):
    """The server closed the WebSocket while an event was awaited.

    Attributes:
        code: The close code.
    """

    def __init__(self, code: int | None) -> None:
        super().__init__(f"WebSocket closed with code {code}")
        self.code = code


class WsClient:
    """One connected device.

    Args:
        websocket: The open WebSocket.
        codec: The wire codec.
        user: The user the session belongs to, if known.
    """

    def __init__(
        self,
        websocket: aiohttp.ClientWebSocketResponse,
        codec: Codec,
        user: TestUser | None = None,
    ) -> None:
        self.websocket = websocket
        self.codec = codec
        self.user = user
        self.ready: ws.Ready | None = None
        self.resume_done: ws.ResumeDone | None = None
        self.replayed: list[ws.MessageNew] = []
        self.inbox: list[ws.ServerEvent] = []
        self.answer_pings = True
        self._client_ids = itertools.count(1)

    @classmethod
    async def connect(
        cls,
        api: ApiClient,
        user: TestUser,
        *,
        token: str | None = None,
        resume: Iterable[tuple[str, int]] = (),
        versions: Sequence[int] = SUPPORTED_PROTOCOL_VERSIONS,
    ) -> WsClient:
        """Connect, say hello and read until `resume.done`.

        Args:
            api: The HTTP client of the server.
            user: The user (their first device's session unless `token` is given).
            token: Another session token of the user.
            resume: `(channel_id, last_seq)` pairs to resume from.
            versions: Protocol versions offered.

        Returns:
            The client, live.
        """
        websocket = await api.ws_connect(token or user.token)
        client = cls(websocket, api.codec, user)
        await client.hello(resume=resume, versions=versions)
        client.ready = await client.next(ws.Ready)
        while True:
            event = await client.receive()
            if isinstance(event, ws.MessageNew):
                client.replayed.append(event)
            elif isinstance(event, ws.ResumeDone):
                client.resume_done = event
                return client
            else:
                client.inbox.append(event)

    async def hello(
        self,
        *,
        resume: Iterable[tuple[str, int]] = (),
        versions: Sequence[int] = SUPPORTED_PROTOCOL_VERSIONS,
    ) -> None:
        """Send `hello`.

        Args:
            resume: `(channel_id, last_seq)` pairs.
            versions: Protocol versions offered.
        """
        cursors = tuple(ChannelCursor(channel_id=c, seq=s) for c, s in resume)
        await self.send(ws.Hello(protocol_versions=tuple(versions), client="tests", resume=cursors))

    def hello_event(self) -> ws.Hello:
        """Return a plain `hello` (for tests that send it at the wrong time)."""
        return ws.Hello(protocol_versions=tuple(SUPPORTED_PROTOCOL_VERSIONS), client="tests")

    async def send(self, event: ws.ClientEvent) -> None:
        """Send one event.

        Args:
            event: The event.
        """
        await self.websocket.send_str(self.codec.encode_ws(event))

    async def send_message(
        self,
        channel_id: str,
        *,
        body: bytes | None = None,
        client_msg_id: str | None = None,
        key_epoch: int = 1,
    ) -> str:
        """Send a channel message with placeholder ciphertext.

        Args:
            channel_id: The channel.
            body: The sealed body (random bytes when None).
            client_msg_id: The message id (a fresh one when None).
            key_epoch: The key epoch claimed.

        Returns:
            The client message id.
        """
        msg_id = client_msg_id or f"m{next(self._client_ids)}-{secrets.token_hex(4)}"
        await self.send(
            ws.MessageSend(
                channel_id=channel_id,
                client_msg_id=msg_id,
                key_epoch=key_epoch,
                sealed_body=body if body is not None else secrets.token_bytes(64),
                sealed_sender_name=secrets.token_bytes(24),
                signature=secrets.token_bytes(64),
            )
        )
        return msg_id

    async def receive(self, *, within: float = 5.0) -> ws.ServerEvent:
        """Return the next event (pings are answered and skipped).

        Args:
            within: Seconds to wait.

        Returns:
            The event.

        Raises:
            TimeoutError: None came in time.
            WsClosedError: The connection closed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no event in time")
            msg = await self.websocket.receive(timeout=remaining)
            if msg.type is aiohttp.WSMsgType.CLOSE:
                # The code in the server's close frame (the server waits for the client's
                # answering close, so `websocket.close_code` reports the same code).
                raise WsClosedError(int(msg.data))
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                raise WsClosedError(self.websocket.close_code)
            if msg.type is aiohttp.WSMsgType.CLOSING:
                continue
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            event = self.codec.decode_ws_server(msg.data)
            if isinstance(event, Ping) and self.answer_pings:
                await self.send(Pong(ping_id=event.ping_id))
                continue
            return event

    async def next(self, kind: type[E], *, within: float = 5.0, **match: Any) -> E:
        """Return the next event of a type (and field values), keeping the others in `inbox`.

        Args:
            kind: The event class.
            within: Seconds to wait.
            **match: Field values the event must have.

        Returns:
            The event.

        Raises:
            TimeoutError: None came in time.
            WsClosedError: The connection closed first.
        """
        for index, event in enumerate(self.inbox):
            if _matches(event, kind, match):
                del self.inbox[index]
                return event  # type: ignore[return-value]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {kind.__name__} {match} within {within} s")
            event = await self.receive(within=remaining)
            if _matches(event, kind, match):
                return event  # type: ignore[return-value]
            self.inbox.append(event)

    async def collect(self, kind: type[E], count: int, *, within: float = 10.0) -> list[E]:
        """Return the next `count` events of a type, in arrival order.

        Args:
            kind: The event class.
            count: How many.
            within: Seconds to wait for all of them.

        Returns:
            The events.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        return [
            await self.next(kind, within=max(0.001, deadline - loop.time())) for _ in range(count)
        ]

    async def quiet(self, kind: type[Any] = object, *, within: float = 0.3, **match: Any) -> bool:
        """Return True if no event of `kind` arrives within `within` seconds (others are kept).

        Args:
            kind: The event class (any event by default).
            within: Seconds to listen.
            **match: Field values that make an event count.

        Returns:
            True when nothing of that kind came.
        """
        try:
            await self.next(kind, within=within, **match)
        except TimeoutError:
            return True
        return False

    async def closed(self, *, within: float = 10.0) -> int | None:
        """Read (and keep) events until the server closes; return the close code.

        Args:
            within: Seconds to wait.

        Returns:
            The close code.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("the server did not close the connection")
            try:
                self.inbox.append(await self.receive(within=remaining))
            except WsClosedError as closed:
                return closed.code

    async def close(self) -> None:
        """Close from the client side."""
        await self.websocket.close()


async def add_device(api: ApiClient, user: TestUser) -> TestDevice:
    """Register a second device of `user` and approve it from the first.

    Args:
        api: The HTTP client.
        user: The user.

    Returns:
        The new, approved device with its session.
    """
    identity = DeviceIdentity.generate()
    auth = await api.call(
        "POST",
        "/v1/devices",
        http.AuthResponse,
        body=http.DeviceAddRequest(
            username=user.username, password=user.password, device=device_keys(identity)
        ),
    )
    await api.call(
        "POST",
        f"/v1/devices/{auth.device_id}/approve",
        DeviceInfo,
        body=http.DeviceApproveRequest(approval_signature=secrets.token_bytes(64)),
        token=user.token,
    )
    return TestDevice(identity=identity, device_id=auth.device_id, token=auth.token)


def _matches(event: object, kind: type[Any], match: dict[str, Any]) -> bool:
    return isinstance(event, kind) and all(getattr(event, k) == v for k, v in match.items())
