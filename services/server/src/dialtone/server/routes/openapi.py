"""The OpenAPI document: GET /v1/openapi.json and /v1/openapi.yaml. Unauthenticated."""

from __future__ import annotations

from aiohttp import web

from dialtone.server.openapi import build_document, to_json, to_yaml


def add_routes(app: web.Application) -> None:
    """Register the document routes (rendered once, when the routes are added).

    Args:
        app: The application.
    """
    document = build_document()
    as_json, as_yaml = to_json(document), to_yaml(document)

    async def openapi_json(request: web.Request) -> web.Response:
        return web.Response(text=as_json, content_type="application/json")

    async def openapi_yaml(request: web.Request) -> web.Response:
        return web.Response(text=as_yaml, content_type="application/yaml")

    app.router.add_get("/v1/openapi.json", openapi_json, allow_head=False)
    app.router.add_get("/v1/openapi.yaml", openapi_yaml, allow_head=False)
