"""Invites (admin token or an admin's session): /v1/invites."""

from __future__ import annotations

from aiohttp import web

from dialtone.server.keys import DEPS_KEY
from dialtone.server.routes._http import no_content, path_id, read_body, respond
from dialtone.server.services import invites
from dialtone.server.services.auth import bearer_token
from dialtone.wire import http


async def create_invite(request: web.Request) -> web.Response:
    """`POST /v1/invites`."""
    deps = request.app[DEPS_KEY]
    admin = await invites.authenticate_admin(deps, bearer_token(request))
    body = await read_body(request, http.InviteCreateRequest)
    created = await invites.create_invite(
        deps.storage, deps.clock, created_by=admin, ttl_seconds=body.ttl_seconds, note=body.note
    )
    return respond(request, created, status=201)


async def list_invites(request: web.Request) -> web.Response:
    """`GET /v1/invites`."""
    deps = request.app[DEPS_KEY]
    await invites.authenticate_admin(deps, bearer_token(request))
    return respond(request, await invites.list_invites(deps.storage))


async def revoke_invite(request: web.Request) -> web.Response:
    """`DELETE /v1/invites/{invite_id}`."""
    deps = request.app[DEPS_KEY]
    await invites.authenticate_admin(deps, bearer_token(request))
    await invites.revoke_invite(deps.storage, deps.clock, path_id(request, "invite_id"))
    return no_content()


def add_routes(app: web.Application) -> None:
    """Register the invite routes.

    Args:
        app: The application.
    """
    app.router.add_post("/v1/invites", create_invite)
    app.router.add_get("/v1/invites", list_invites, allow_head=False)
    app.router.add_delete("/v1/invites/{invite_id}", revoke_invite)
