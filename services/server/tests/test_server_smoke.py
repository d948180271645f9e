"""Smoke: the harness starts PostgreSQL and a server; health answers; the message store works."""

from dialtone.server.keys import STORAGE_KEY
from dialtone.server.testing import ApiClient, RunningServer
from dialtone.wire.http import HealthResponse


async def test_health_answers(api: ApiClient) -> None:
    health = await api.call("GET", "/v1/health", HealthResponse)
    assert health.status == "ok"
    assert 1 in health.protocol_versions


async def test_storage_is_reachable(server: RunningServer) -> None:
    assert await server.app[STORAGE_KEY].ping()
