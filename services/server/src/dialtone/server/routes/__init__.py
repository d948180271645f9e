"""Thin HTTP handlers: decode the wire body, call a service, encode the wire response."""

from __future__ import annotations

from aiohttp import web

from dialtone.server.routes import health


def setup_routes(app: web.Application) -> None:
    """Register every HTTP route of the foundation (the realtime side adds /v1/ws itself).

    Args:
        app: The application.
    """
    health.add_routes(app)
