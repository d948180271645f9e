"""Bad input never produces a 500: malformed JSON, wrong shapes, unknown fields, oversized bodies,
random well-typed bodies on every route; plus request size caps and rate limits."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialtone.server.testing import (
    ApiClient,
    RunningServer,
    StartServer,
    TestUser,
    create_channel,
    register_user,
)
from dialtone.wire import http
from dialtone.wire.testing import strategy_for

BODY_ROUTES = [route for route in http.ROUTES if route.request is not None]


def _concrete(path: str, channel_id: str, user: TestUser) -> str:
    return (
        path.replace("{channel_id}", channel_id)
        .replace("{user_id}", user.user_id)
        .replace("{device_id}", user.device.device_id)
        .replace("{invite_id}", str(uuid.uuid4()))
        .replace("{session_id}", str(uuid.uuid4()))
    )


def _assert_error_shape(status: int, body: bytes) -> None:
    assert 400 <= status < 500, (status, body)
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"}
    assert re.fullmatch(r"[a-z_]+", error["code"])


async def _setup(api: ApiClient, server: RunningServer) -> tuple[TestUser, str]:
    admin = server.config.admin_token
    assert admin is not None
    user = await register_user(api, admin)
    channel = await create_channel(api, user)
    return user, channel.channel_id


MALFORMED: list[tuple[str, bytes]] = [
    ("not json", b"{nope"),
    ("empty", b""),
    ("array", b"[]"),
    ("string", b'"x"'),
    ("null", b"null"),
    ("empty object", b"{}"),
    ("nan", b'{"x": NaN}'),
    ("deep", b"[" * 5000 + b"]" * 5000),
    ("bad utf-8", b'{"username": "\xff\xfe"}'),
    ("duplicate keys", b'{"seq": 1, "seq": 2}'),
]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_malformed_bodies_are_4xx_json_errors(
    api: ApiClient, server: RunningServer, route: http.Route
) -> None:
    user, channel_id = await _setup(api, server)
    path = _concrete(route.path, channel_id, user)
    token = server.config.admin_token if route.auth == "admin" else user.token
    assert route.request is not None
    all_optional = all(f.default is not attrs.NOTHING for f in attrs.fields(route.request))
    for name, data in MALFORMED:
        if name == "empty object" and all_optional:
            continue  # `{}` is a valid body of this type
        status, body = await api.raw(route.method, path, data=data, token=token)
        _assert_error_shape(status, body)


async def test_unknown_fields_are_rejected(api: ApiClient, server: RunningServer) -> None:
    user, channel_id = await _setup(api, server)
    body = {"seq": 1, "surprise": True}
    status, answer = await api.raw(
        "PUT",
        f"/v1/channels/{channel_id}/read",
        data=json.dumps(body).encode(),
        token=user.token,
    )
    assert status == 400
    assert b"surprise" in answer
    lookup = {"username": "x", "extra": 1}
    status, _ = await api.raw(
        "POST", "/v1/users/lookup", data=json.dumps(lookup).encode(), token=user.token
    )
    assert status == 400


async def test_wrong_content_type_is_refused(api: ApiClient, server: RunningServer) -> None:
    user, channel_id = await _setup(api, server)
    status, body = await api.raw(
        "PUT",
        f"/v1/channels/{channel_id}/read",
        data=b'{"seq": 1}',
        token=user.token,
        headers={"Content-Type": "text/plain"},
    )
    _assert_error_shape(status, body)


async def test_oversized_body_is_413(api: ApiClient, start_server: StartServer) -> None:
    server = await start_server(max_body_bytes=4096)
    api = ApiClient(api.session, server.base_url)
    user, channel_id = await _setup(api, server)
    status, body = await api.raw(
        "PUT",
        f"/v1/channels/{channel_id}/read",
        data=b'{"seq": 1, "pad": "' + b"x" * 10_000 + b'"}',
        token=user.token,
    )
    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"


async def test_unknown_route_and_method_are_json_errors(api: ApiClient) -> None:
    status, body = await api.raw("GET", "/v1/nothing-here")
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"
    status, body = await api.raw("DELETE", "/v1/health")
    assert status == 405
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


async def test_per_ip_rate_limit_answers_429_with_retry_after(
    api: ApiClient, start_server: StartServer
) -> None:
    server = await start_server(rate_ip_per_second=1.0, rate_ip_burst=5)
    api = ApiClient(api.session, server.base_url)
    statuses = [(await api.raw("GET", "/v1/health"))[0] for _ in range(8)]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 3
    async with api.session.get(server.base_url + "/v1/health") as response:
        assert response.status == 429
        assert int(response.headers["Retry-After"]) >= 1
        assert (await response.json())["error"]["code"] == "rate_limited"


async def test_per_user_rate_limit(api: ApiClient, start_server: StartServer) -> None:
    server = await start_server(rate_user_per_second=1.0, rate_user_burst=3)
    api = ApiClient(api.session, server.base_url)
    admin = server.config.admin_token
    assert admin is not None
    alice = await register_user(api, admin)
    bob = await register_user(api, admin)
    alice_statuses = [
        (await api.raw("GET", "/v1/channels", token=alice.token))[0] for _ in range(5)
    ]
    assert alice_statuses == [200, 200, 200, 429, 429]
    # Another user from the same address is not affected.
    assert (await api.raw("GET", "/v1/channels", token=bob.token))[0] == 200


async def test_login_attempts_are_limited_per_address(
    api: ApiClient, start_server: StartServer
) -> None:
    server = await start_server(auth_attempts_per_minute=3)
    api = ApiClient(api.session, server.base_url)
    body = http.LoginRequest(username="nobody", password="x", device_id=str(uuid.uuid4()))
    statuses = [(await api.raw("POST", "/v1/login", body=body))[0] for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


@pytest.mark.slow
async def test_random_well_typed_bodies_never_cause_a_500(
    api: ApiClient, server: RunningServer
) -> None:
    user, channel_id = await _setup(api, server)
    samples: list[tuple[http.Route, Any]] = []

    @settings(max_examples=15, suppress_health_check=list(HealthCheck), deadline=None)
    @given(data=st.data())
    def draw(data: st.DataObject) -> None:
        for route in BODY_ROUTES:
            assert route.request is not None
            samples.append((route, data.draw(strategy_for(route.request))))

    draw()
    for route, body in samples:
        path = _concrete(route.path, channel_id, user)
        token = server.config.admin_token if route.auth == "admin" else user.token
        status, answer = await api.raw(route.method, path, body=body, token=token)
        assert status < 500, (route.method, route.path, status, answer)
