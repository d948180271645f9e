"""Channels, members, envelopes, rotation, history, read markers, presence: /v1/channels/..."""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

from dialtone.server.keys import DEPS_KEY
from dialtone.server.routes._http import authenticate, no_content, path_id, read_body, respond
from dialtone.server.services import channels, messages, presence
from dialtone.wire import ProtocolError, Reason, http, limits

_DIGITS: Final = re.compile(r"[0-9]{1,10}")


def _no_query(request: web.Request) -> None:
    if request.query:
        name = sorted(request.query)[0]
        raise ProtocolError(Reason.UNKNOWN_FIELD, "unknown query parameter", f"?{name}")


def _epoch_query(request: web.Request) -> int | None:
    unknown = set(request.query) - {"epoch"}
    if unknown:
        raise ProtocolError(Reason.UNKNOWN_FIELD, "unknown query parameter", f"?{min(unknown)}")
    text = request.query.get("epoch")
    if text is None:
        return None
    if not _DIGITS.fullmatch(text) or int(text) > limits.MAX_EPOCH:
        raise ProtocolError(Reason.BAD_VALUE, "expected an epoch number", "?epoch")
    return int(text)


async def list_channels(request: web.Request) -> web.Response:
    """`GET /v1/channels`."""
    principal = await authenticate(request)
    _no_query(request)
    return respond(request, await channels.list_channels(request.app[DEPS_KEY], principal))


async def create(request: web.Request) -> web.Response:
    """`POST /v1/channels`."""
    principal = await authenticate(request)
    body = await read_body(request, http.ChannelCreateRequest)
    return respond(
        request, await channels.create(request.app[DEPS_KEY], principal, body), status=201
    )


async def get(request: web.Request) -> web.Response:
    """`GET /v1/channels/{channel_id}`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    return respond(request, await channels.get(request.app[DEPS_KEY], principal, channel_id))


async def rename(request: web.Request) -> web.Response:
    """`PATCH /v1/channels/{channel_id}`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    body = await read_body(request, http.ChannelRenameRequest)
    info = await channels.rename(request.app[DEPS_KEY], principal, channel_id, body)
    return respond(request, info)


async def delete(request: web.Request) -> web.Response:
    """`DELETE /v1/channels/{channel_id}`."""
    principal = await authenticate(request)
    await channels.delete(request.app[DEPS_KEY], principal, path_id(request, "channel_id"))
    return no_content()


async def members(request: web.Request) -> web.Response:
    """`GET /v1/channels/{channel_id}/members`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    return respond(request, await channels.members(request.app[DEPS_KEY], principal, channel_id))


async def add_member(request: web.Request) -> web.Response:
    """`POST /v1/channels/{channel_id}/members`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    body = await read_body(request, http.MemberAddRequest)
    info = await channels.add_member(request.app[DEPS_KEY], principal, channel_id, body)
    return respond(request, info, status=201)


async def update_member(request: web.Request) -> web.Response:
    """`PATCH /v1/channels/{channel_id}/members/{user_id}`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    user_id = path_id(request, "user_id")
    body = await read_body(request, http.MemberUpdateRequest)
    info = await channels.update_member(request.app[DEPS_KEY], principal, channel_id, user_id, body)
    return respond(request, info)


async def remove_member(request: web.Request) -> web.Response:
    """`DELETE /v1/channels/{channel_id}/members/{user_id}`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    user_id = path_id(request, "user_id")
    await channels.remove_member(request.app[DEPS_KEY], principal, channel_id, user_id)
    return no_content()


async def channel_devices(request: web.Request) -> web.Response:
    """`GET /v1/channels/{channel_id}/devices`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    result = await channels.channel_devices(request.app[DEPS_KEY], principal, channel_id)
    return respond(request, result)


async def post_envelopes(request: web.Request) -> web.Response:
    """`POST /v1/channels/{channel_id}/envelopes`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    body = await read_body(request, http.EnvelopePostRequest)
    result = await channels.post_envelopes(request.app[DEPS_KEY], principal, channel_id, body)
    return respond(request, result)


async def channel_envelopes(request: web.Request) -> web.Response:
    """`GET /v1/channels/{channel_id}/envelopes[?epoch=N]`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    epoch = _epoch_query(request)
    result = await channels.my_envelopes(request.app[DEPS_KEY], principal, channel_id, epoch)
    return respond(request, result)


async def all_envelopes(request: web.Request) -> web.Response:
    """`GET /v1/envelopes`."""
    principal = await authenticate(request)
    _no_query(request)
    result = await channels.my_envelopes(request.app[DEPS_KEY], principal, None, None)
    return respond(request, result)


async def rotate(request: web.Request) -> web.Response:
    """`POST /v1/channels/{channel_id}/rotate`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    body = await read_body(request, http.KeyRotateRequest)
    result = await channels.rotate(request.app[DEPS_KEY], principal, channel_id, body)
    return respond(request, result)


async def history(request: web.Request) -> web.Response:
    """`GET /v1/channels/{channel_id}/messages?before=&after=&limit=`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    query = http.HistoryQuery.from_query(request.query)
    page = await messages.history(request.app[DEPS_KEY], principal, channel_id, query)
    return respond(request, page)


async def set_read(request: web.Request) -> web.Response:
    """`PUT /v1/channels/{channel_id}/read`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    body = await read_body(request, http.ReadMarkerRequest)
    await messages.set_read_marker(request.app[DEPS_KEY], principal, channel_id, body)
    return no_content()


async def sync(request: web.Request) -> web.Response:
    """`GET /v1/sync`."""
    principal = await authenticate(request)
    _no_query(request)
    return respond(request, await messages.sync(request.app[DEPS_KEY], principal))


async def channel_presence(request: web.Request) -> web.Response:
    """`GET /v1/channels/{channel_id}/presence`."""
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id")
    result = await presence.channel_presence(request.app[DEPS_KEY], principal, channel_id)
    return respond(request, result)


def add_routes(app: web.Application) -> None:
    """Register the channel routes.

    Args:
        app: The application.
    """
    router = app.router
    router.add_get("/v1/channels", list_channels, allow_head=False)
    router.add_post("/v1/channels", create)
    router.add_get("/v1/channels/{channel_id}", get, allow_head=False)
    router.add_patch("/v1/channels/{channel_id}", rename)
    router.add_delete("/v1/channels/{channel_id}", delete)
    router.add_get("/v1/channels/{channel_id}/members", members, allow_head=False)
    router.add_post("/v1/channels/{channel_id}/members", add_member)
    router.add_patch("/v1/channels/{channel_id}/members/{user_id}", update_member)
    router.add_delete("/v1/channels/{channel_id}/members/{user_id}", remove_member)
    router.add_get("/v1/channels/{channel_id}/devices", channel_devices, allow_head=False)
    router.add_post("/v1/channels/{channel_id}/envelopes", post_envelopes)
    router.add_get("/v1/channels/{channel_id}/envelopes", channel_envelopes, allow_head=False)
    router.add_get("/v1/envelopes", all_envelopes, allow_head=False)
    router.add_post("/v1/channels/{channel_id}/rotate", rotate)
    router.add_get("/v1/channels/{channel_id}/messages", history, allow_head=False)
    router.add_put("/v1/channels/{channel_id}/read", set_read)
    router.add_get("/v1/sync", sync, allow_head=False)
    router.add_get("/v1/channels/{channel_id}/presence", channel_presence, allow_head=False)
