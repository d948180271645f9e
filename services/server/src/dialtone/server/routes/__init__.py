"""Thin HTTP handlers: decode the wire body, call a service, encode the wire response."""

from __future__ import annotations

from aiohttp import web

from dialtone.server.routes import (
    accounts,
    channels,
    devices,
    directory,
    health,
    invites,
    openapi,
    presence,
)


def setup_routes(app: web.Application) -> None:
    """Register every HTTP route of the foundation (the realtime side adds /v1/ws itself).

    Args:
        app: The application.
    """
    for module in (health, accounts, invites, devices, directory, channels, presence, openapi):
        module.add_routes(app)
