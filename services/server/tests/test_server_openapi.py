"""The OpenAPI document: served, kept in docs/, and in step with the routes the app serves."""

from __future__ import annotations

import json
from pathlib import Path

from dialtone.server.openapi import build_document, document_routes, to_yaml
from dialtone.server.testing import ApiClient, RunningServer

DOCS = Path(__file__).resolve().parents[3] / "docs" / "openapi.yaml"


def _served_routes(server: RunningServer) -> set[tuple[str, str]]:
    routes = set()
    for route in server.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in {"GET", "POST", "PUT", "PATCH", "DELETE"} and path:
            routes.add((route.method, path))
    return routes


async def test_every_served_route_is_documented_and_every_documented_route_served(
    server: RunningServer,
) -> None:
    assert _served_routes(server) == document_routes(build_document())


def test_docs_copy_is_up_to_date() -> None:
    """Regenerate with `python -m dialtone.server openapi > docs/openapi.yaml`."""
    assert DOCS.read_text() == to_yaml(build_document())


async def test_document_is_served_as_json_and_yaml(api: ApiClient) -> None:
    status, body = await api.raw("GET", "/v1/openapi.json")
    assert status == 200
    document = json.loads(body)
    assert document["openapi"].startswith("3.")
    assert "/v1/channels/{channel_id}/messages" in document["paths"]
    status, body = await api.raw("GET", "/v1/openapi.yaml")
    assert status == 200
    assert body.decode() == DOCS.read_text()


def test_every_error_is_documented_with_the_error_schema() -> None:
    document = build_document()
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
