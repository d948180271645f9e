"""The HTTP side: typed calls of the server's ``/v1`` routes on one aiohttp session."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

from dialtone.client.core.errors import ApiError, NotDialtoneServerError, ServerUnreachableError
from dialtone.wire import Codec, ProtocolError
from dialtone.wire import http as wire
from dialtone.wire.common import DeviceInfo, ErrorCode

__all__ = ["HttpApi"]

T = TypeVar("T")

_DECODE_INLINE_BYTES = 32 * 1024


def _seg(value: str) -> str:
    # Ids are UUIDs, but quoting keeps a hostile value from reshaping the path.
    return quote(value, safe="")


class HttpApi:
    """One server's ``/v1`` API, with the session's bearer token once logged in.

    Args:
        base_url: The server's base URL (without ``/v1``).
        codec: The wire codec.
        timeout: Seconds per request.
    """

    def __init__(self, base_url: str, codec: Codec, *, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.codec = codec
        self.token: str | None = None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session (made on first use, on the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def ws_url(self) -> str:
        """The WebSocket endpoint's URL (``ws://`` or ``wss://``)."""
        if self.base_url.startswith("https://"):
            return "wss://" + self.base_url[len("https://") :] + "/v1/ws"
        if self.base_url.startswith("http://"):
            return "ws://" + self.base_url[len("http://") :] + "/v1/ws"
        return self.base_url + "/v1/ws"

    def auth_headers(self) -> dict[str, str]:
        """The ``Authorization`` header of the session, if any."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- generic -------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        response: type[T] | None,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> T | None:
        """Make one request and decode the answer.

        Args:
            method: The HTTP method.
            path: The path under the base URL (``/v1/...``).
            response: The success body type, None for ``204 No Content``.
            body: The request body (a wire type), if any.
            query: URL query parameters.

        Returns:
            The decoded body, or None for no content.

        Raises:
            ApiError: The server answered an error (or something that is not the protocol).
            ServerUnreachableError: The request did not reach the server or timed out.
        """
        data = self.codec.encode_http(body) if body is not None else None
        headers = self.auth_headers()
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self.session.request(
                method, self.base_url + path, data=data, headers=headers, params=query
            ) as resp:
                payload = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ServerUnreachableError(f"{self.base_url}: {exc or type(exc).__name__}") from exc
        if status >= 400:
            raise self._error(status, payload)
        if response is None:
            return None
        try:
            if len(payload) > _DECODE_INLINE_BYTES:
                # A history page of 200 messages takes tens of milliseconds to validate: keep
                # that off the event loop, which also draws the UI.
                return await asyncio.to_thread(self.codec.decode_http, response, payload)
            return self.codec.decode_http(response, payload)
        except ProtocolError as exc:
            raise ApiError(status, ErrorCode.BAD_REQUEST, f"bad answer from server: {exc}") from exc

    async def call_ok(
        self,
        method: str,
        path: str,
        response: type[T],
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> T:
        """`call` for routes that always answer a body.

        Raises:
            ApiError: As `call`, or when the server sent no body.
            ServerUnreachableError: As `call`.
        """
        result = await self.call(method, path, response, body=body, query=query)
        if result is None:  # pragma: no cover - call returns a body whenever response is a type
            raise ApiError(500, ErrorCode.INTERNAL_ERROR, "empty answer")
        return result

    def _error(self, status: int, payload: bytes) -> ApiError:
        try:
            detail = self.codec.decode_http(wire.ErrorResponse, payload).error
        except ProtocolError:
            text = payload[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
            return ApiError(status, ErrorCode.INTERNAL_ERROR, text)
        return ApiError(status, detail.code, detail.message)

    # --- the server itself ---------------------------------------------------------------------

    async def health(self) -> wire.HealthResponse:
        """``GET /v1/health`` (no session needed): is this a Dialtone server, and is it up?

        Returns:
            The server's answer.

        Raises:
            ServerUnreachableError: Nothing answered (refused, DNS, TLS, timeout).
            NotDialtoneServerError: Something answered, but not as a Dialtone server does.
            ApiError: A Dialtone server answered an error (``unavailable``: its database is down).
        """
        try:
            async with self.session.get(self.base_url + "/v1/health") as resp:
                payload = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ServerUnreachableError(f"{self.base_url}: {exc or type(exc).__name__}") from exc
        if status >= 400:
            try:
                detail = self.codec.decode_http(wire.ErrorResponse, payload).error
            except ProtocolError:
                raise NotDialtoneServerError(
                    f"{self.base_url} answered HTTP {status} where a Dialtone server answers "
                    "its health check: check the URL"
                ) from None
            if status == 404:
                # A Dialtone server, but the URL has a path after the host that it does not
                # serve under.
                raise NotDialtoneServerError(
                    f"{self.base_url} has no Dialtone API (HTTP 404): give the server's address "
                    "without a path"
                )
            raise ApiError(status, detail.code, detail.message)
        try:
            return self.codec.decode_http(wire.HealthResponse, payload)
        except ProtocolError:
            raise NotDialtoneServerError(
                f"{self.base_url} answered, but not as a Dialtone server does: check the URL"
            ) from None

    # --- accounts and devices ------------------------------------------------------------------

    async def register(self, request: wire.RegisterRequest) -> wire.AuthResponse:
        """``POST /v1/register``."""
        return await self.call_ok("POST", "/v1/register", wire.AuthResponse, body=request)

    async def login(self, request: wire.LoginRequest) -> wire.AuthResponse:
        """``POST /v1/login``."""
        return await self.call_ok("POST", "/v1/login", wire.AuthResponse, body=request)

    async def add_device(self, request: wire.DeviceAddRequest) -> wire.AuthResponse:
        """``POST /v1/devices``."""
        return await self.call_ok("POST", "/v1/devices", wire.AuthResponse, body=request)

    async def logout(self) -> None:
        """``POST /v1/logout``."""
        await self.call("POST", "/v1/logout", None)

    async def own_devices(self) -> tuple[DeviceInfo, ...]:
        """``GET /v1/devices``."""
        return (await self.call_ok("GET", "/v1/devices", wire.DeviceListResponse)).devices

    async def approve_device(self, device_id: str, signature: bytes) -> DeviceInfo:
        """``POST /v1/devices/{device_id}/approve``."""
        return await self.call_ok(
            "POST",
            f"/v1/devices/{_seg(device_id)}/approve",
            DeviceInfo,
            body=wire.DeviceApproveRequest(approval_signature=signature),
        )

    async def revoke_device(self, device_id: str) -> None:
        """``DELETE /v1/devices/{device_id}``."""
        await self.call("DELETE", f"/v1/devices/{_seg(device_id)}", None)

    async def lookup_user(self, username: str) -> wire.UserInfo:
        """``POST /v1/users/lookup``."""
        return await self.call_ok(
            "POST",
            "/v1/users/lookup",
            wire.UserInfo,
            body=wire.UserLookupRequest(username=username),
        )

    async def user_devices(self, user_id: str) -> tuple[DeviceInfo, ...]:
        """``GET /v1/users/{user_id}/devices``."""
        answer = await self.call_ok(
            "GET", f"/v1/users/{_seg(user_id)}/devices", wire.DeviceListResponse
        )
        return answer.devices

    # --- invites --------------------------------------------------------------------------------

    async def create_invite(self, request: wire.InviteCreateRequest) -> wire.InviteCreateResponse:
        """``POST /v1/invites``."""
        return await self.call_ok("POST", "/v1/invites", wire.InviteCreateResponse, body=request)

    # --- directory ------------------------------------------------------------------------------

    async def put_profile(self, request: wire.ProfileUpdateRequest) -> wire.ProfileInfo:
        """``PUT /v1/directory/profile``."""
        return await self.call_ok("PUT", "/v1/directory/profile", wire.ProfileInfo, body=request)

    async def profiles(self, user_ids: tuple[str, ...]) -> tuple[wire.ProfileInfo, ...]:
        """``POST /v1/directory/profiles``."""
        answer = await self.call_ok(
            "POST",
            "/v1/directory/profiles",
            wire.ProfileListResponse,
            body=wire.ProfileQueryRequest(user_ids=user_ids),
        )
        return answer.profiles

    async def post_directory_envelopes(self, request: wire.EnvelopePostRequest) -> int:
        """``POST /v1/directory/envelopes``."""
        answer = await self.call_ok(
            "POST", "/v1/directory/envelopes", wire.EnvelopePostResponse, body=request
        )
        return answer.stored

    async def directory_envelopes(self) -> tuple[wire.DirectoryEnvelope, ...]:
        """``GET /v1/directory/envelopes``."""
        answer = await self.call_ok(
            "GET", "/v1/directory/envelopes", wire.DirectoryEnvelopeListResponse
        )
        return answer.envelopes

    # --- channels -------------------------------------------------------------------------------

    async def channels(self) -> tuple[wire.ChannelInfo, ...]:
        """``GET /v1/channels``."""
        return (await self.call_ok("GET", "/v1/channels", wire.ChannelListResponse)).channels

    async def channel(self, channel_id: str) -> wire.ChannelInfo:
        """``GET /v1/channels/{channel_id}``."""
        return await self.call_ok("GET", f"/v1/channels/{_seg(channel_id)}", wire.ChannelInfo)

    async def create_channel(self, request: wire.ChannelCreateRequest) -> wire.ChannelInfo:
        """``POST /v1/channels``."""
        return await self.call_ok("POST", "/v1/channels", wire.ChannelInfo, body=request)

    async def rename_channel(self, channel_id: str, name: wire.ChannelName) -> wire.ChannelInfo:
        """``PATCH /v1/channels/{channel_id}``."""
        return await self.call_ok(
            "PATCH",
            f"/v1/channels/{_seg(channel_id)}",
            wire.ChannelInfo,
            body=wire.ChannelRenameRequest(name=name),
        )

    async def delete_channel(self, channel_id: str) -> None:
        """``DELETE /v1/channels/{channel_id}``."""
        await self.call("DELETE", f"/v1/channels/{_seg(channel_id)}", None)

    async def members(self, channel_id: str) -> tuple[wire.MemberInfo, ...]:
        """``GET /v1/channels/{channel_id}/members``."""
        answer = await self.call_ok(
            "GET", f"/v1/channels/{_seg(channel_id)}/members", wire.MemberListResponse
        )
        return answer.members

    async def add_member(self, channel_id: str, request: wire.MemberAddRequest) -> wire.MemberInfo:
        """``POST /v1/channels/{channel_id}/members``."""
        return await self.call_ok(
            "POST", f"/v1/channels/{_seg(channel_id)}/members", wire.MemberInfo, body=request
        )

    async def remove_member(self, channel_id: str, user_id: str) -> None:
        """``DELETE /v1/channels/{channel_id}/members/{user_id}``."""
        await self.call("DELETE", f"/v1/channels/{_seg(channel_id)}/members/{_seg(user_id)}", None)

    async def channel_devices(self, channel_id: str) -> tuple[DeviceInfo, ...]:
        """``GET /v1/channels/{channel_id}/devices``."""
        answer = await self.call_ok(
            "GET", f"/v1/channels/{_seg(channel_id)}/devices", wire.DeviceListResponse
        )
        return answer.devices

    async def post_envelopes(self, channel_id: str, request: wire.EnvelopePostRequest) -> int:
        """``POST /v1/channels/{channel_id}/envelopes``."""
        answer = await self.call_ok(
            "POST",
            f"/v1/channels/{_seg(channel_id)}/envelopes",
            wire.EnvelopePostResponse,
            body=request,
        )
        return answer.stored

    async def envelopes(self) -> tuple[wire.KeyEnvelope, ...]:
        """``GET /v1/envelopes``: every channel key envelope of this device."""
        return (await self.call_ok("GET", "/v1/envelopes", wire.EnvelopeListResponse)).envelopes

    async def channel_envelopes(
        self, channel_id: str, epoch: int | None = None
    ) -> tuple[wire.KeyEnvelope, ...]:
        """``GET /v1/channels/{channel_id}/envelopes[?epoch=N]``."""
        answer = await self.call_ok(
            "GET",
            f"/v1/channels/{_seg(channel_id)}/envelopes",
            wire.EnvelopeListResponse,
            query=None if epoch is None else {"epoch": str(epoch)},
        )
        return answer.envelopes

    async def rotate(self, channel_id: str, request: wire.KeyRotateRequest) -> int:
        """``POST /v1/channels/{channel_id}/rotate``; returns the epoch now current."""
        answer = await self.call_ok(
            "POST",
            f"/v1/channels/{_seg(channel_id)}/rotate",
            wire.KeyRotateResponse,
            body=request,
        )
        return answer.key_epoch

    async def history(self, channel_id: str, query: wire.HistoryQuery) -> wire.MessagePage:
        """``GET /v1/channels/{channel_id}/messages``."""
        return await self.call_ok(
            "GET",
            f"/v1/channels/{_seg(channel_id)}/messages",
            wire.MessagePage,
            query=query.to_query(),
        )

    async def mark_read(self, channel_id: str, seq: int) -> None:
        """``PUT /v1/channels/{channel_id}/read``."""
        await self.call(
            "PUT",
            f"/v1/channels/{_seg(channel_id)}/read",
            None,
            body=wire.ReadMarkerRequest(seq=seq),
        )

    async def presence(self, channel_id: str) -> tuple[wire.PresenceInfo, ...]:
        """``GET /v1/channels/{channel_id}/presence``."""
        answer = await self.call_ok(
            "GET", f"/v1/channels/{_seg(channel_id)}/presence", wire.PresenceListResponse
        )
        return answer.presence

    async def set_presence(self, request: wire.PresenceSetRequest) -> None:
        """``PUT /v1/presence``."""
        await self.call("PUT", "/v1/presence", None, body=request)

    async def turn(self) -> wire.TurnCredentialsResponse:
        """``GET /v1/turn``."""
        return await self.call_ok("GET", "/v1/turn", wire.TurnCredentialsResponse)
