"""Test harness of dialtone-server: a pytest plugin plus helpers other suites import.

Register it from a top-level conftest with ``pytest_plugins = ["dialtone.server.testing"]``, or
from a nested conftest with `register` (pytest refuses ``pytest_plugins`` below the top level)::

    import dialtone.server.testing as server_testing

    def pytest_configure(config):
        server_testing.register(config)

What it provides:

- `PostgresCluster`: one throwaway PostgreSQL per test session (Debian's binaries under
  ``/usr/lib/postgresql/*/bin`` when present, run as user ``postgres`` when the tests run as root;
  otherwise the ``pgserver`` wheel), with a migrated template database so each test gets a fresh
  database in milliseconds (``CREATE DATABASE ... TEMPLATE``).
- Fixtures: ``pg_cluster`` (session), ``db_url`` (a fresh database), ``server_config``,
  ``start_server`` (in-process servers on free ports), ``server`` and ``api`` (one started server
  and a client for it), ``server_process`` (a factory of real ``python -m dialtone.server serve``
  subprocesses, for kill -9 tests).
- `ApiClient`: a small typed HTTP/WebSocket client on aiohttp and `dialtone.wire`; `ApiCallError`
  for error answers; `register_user` / `TestUser` to get an account with a real device identity.

Everything started is stopped at the end of its fixture's scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import attrs
import psycopg
import pytest
from aiohttp import web

from dialtone.crypto import DeviceIdentity
from dialtone.server.app import create_app
from dialtone.server.clock import Clock, ManualClock
from dialtone.server.config import ServerConfig
from dialtone.server.keys import EVENTS_KEY
from dialtone.server.migrate import apply_migrations
from dialtone.server.services.events import EventPublisher
from dialtone.wire import Codec, http, make_converter
from dialtone.wire.common import DeviceKeys, Role

T = TypeVar("T")

TEMPLATE_DB = "dialtone_template"
_START_TIMEOUT_S = 30.0


# -- PostgreSQL ----------------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Returns:
        The port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _debian_bin_dir() -> Path | None:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    for candidate in reversed(candidates):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


class PostgresCluster:
    """A throwaway PostgreSQL cluster listening on 127.0.0.1 (or a socket, with pgserver).

    Build one with `PostgresCluster.start()`; call `stop()` when done.

    Args:
        root: The directory holding the data directory, socket and log.
        bin_dir: Directory of the PostgreSQL binaries.
        host: Host part of the URLs (an address, or the socket directory).
        port: TCP port (None for socket-only clusters).
        run_as: System user running the server processes (None: the current user).
        pgserver_handle: The pgserver object keeping a wheel-based cluster alive, if any.
    """

    def __init__(
        self,
        *,
        root: Path,
        bin_dir: Path,
        host: str,
        port: int | None,
        run_as: str | None,
        pgserver_handle: object | None = None,
    ) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.host = host
        self.port = port
        self.run_as = run_as
        self._pgserver = pgserver_handle

    @classmethod
    def start(cls) -> PostgresCluster:
        """Start a cluster: Debian's binaries when installed, else the pgserver wheel.

        Returns:
            The running cluster.

        Raises:
            RuntimeError: PostgreSQL could not be started.
        """
        bin_dir = _debian_bin_dir()
        if bin_dir is not None:
            return cls._start_debian(bin_dir)
        return cls._start_pgserver()

    @classmethod
    def _start_debian(cls, bin_dir: Path) -> PostgresCluster:
        root = Path(tempfile.mkdtemp(prefix="dialtone-pg-"))
        run_as = None
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: hand the directory to the postgres user.
            run_as = "postgres"
            shutil.chown(root, user="postgres", group=None)
            root.chmod(0o700)
        port = free_port()
        data, log = root / "data", root / "log"

        def run(*args: str) -> None:
            command = [str(bin_dir / args[0]), *args[1:]]
            if run_as is not None:
                command = ["runuser", "-u", run_as, "--", *command]
            subprocess.run(command, check=True, capture_output=True, timeout=120)

        try:
            run(
                "initdb",
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            )
            options = (
                f"-k {root} -c listen_addresses=127.0.0.1 -p {port} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
            )
            run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-o", options, "start")
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or b"").decode(errors="replace")[-2000:]
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"could not start PostgreSQL: {detail}") from None
        return cls(root=root, bin_dir=bin_dir, host="127.0.0.1", port=port, run_as=run_as)

    @classmethod
    def _start_pgserver(cls) -> PostgresCluster:
        from pgserver import postgres_server

        root = Path(tempfile.mkdtemp(prefix="dialtone-pgserver-"))
        server = postgres_server.get_server(root / "data", cleanup_mode="delete")
        info = server.get_postmaster_info()
        bin_dir = Path(postgres_server.__file__).parent / "pginstall" / "bin"
        return cls(
            root=root,
            bin_dir=bin_dir,
            host=str(info.socket_dir),
            port=None,
            run_as=None,
            pgserver_handle=server,
        )

    def url(self, database: str = "postgres") -> str:
        """Return the `postgresql://` URL of a database of this cluster.

        Args:
            database: The database name.

        Returns:
            A URL usable by asyncpg, psycopg and (via `yoyo_url`) yoyo.
        """
        if self.port is None:
            return f"postgresql://postgres@/{database}?host={self.host}"
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        """Run one statement in the `postgres` database, outside a transaction.

        Args:
            sql: The statement (CREATE/DROP DATABASE and the like).
        """
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create a database (optionally as a copy of a template) and return its URL.

        Args:
            name: New database name (letters, digits, underscores).
            template: Template database to copy, or None.

        Returns:
            The database URL.
        """
        _check_name(name)
        clause = ""
        if template is not None:
            _check_name(template)
            clause = f" TEMPLATE {template}"
        self.execute(f"CREATE DATABASE {name}{clause}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting its sessions.

        Args:
            name: The database name.
        """
        _check_name(name)
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def pg_dump(self, database: str) -> str:
        """Return a plain-SQL dump (schema and data) of a database.

        Args:
            database: The database name.

        Returns:
            The dump text.
        """
        result = subprocess.run(
            [str(self.bin_dir / "pg_dump"), "--no-owner", self.url(database)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return result.stdout.decode("utf-8", errors="replace")

    def stop(self) -> None:
        """Stop the cluster immediately and delete its files."""
        if self._pgserver is not None:
            self._pgserver.cleanup()  # type: ignore[attr-defined]
        else:
            command = [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "stop",
            ]
            if self.run_as is not None:
                command = ["runuser", "-u", self.run_as, "--", *command]
            subprocess.run(command, check=False, capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def _check_name(name: str) -> None:
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"bad database name {name!r}")


# -- realtime stand-ins --------------------------------------------------------------------------


@attrs.define
class PublishedEvent:
    """One event an HTTP service published.

    Attributes:
        channel_id: The channel it went to, or None for a user event.
        user_ids: The users it went to (empty for a channel event).
        event: The `dialtone.wire` event object.
    """

    channel_id: str | None
    user_ids: tuple[str, ...]
    event: object


class RecordingEvents:
    """An `EventPublisher` that records every event and forwards it to the application's own.

    Tests read `events` to check that an HTTP change was announced (and `ended_sessions` for
    logouts); the events still reach real WebSocket clients through the realtime side's publisher.

    Args:
        inner: The publisher the application wired (filled in when the server starts).
    """

    def __init__(self, inner: EventPublisher | None = None) -> None:
        self.inner = inner
        self.events: list[PublishedEvent] = []
        self.ended_sessions: list[str] = []

    async def publish_channel_event(self, channel_id: str, event: object) -> None:
        """Record and forward a channel event."""
        self.events.append(PublishedEvent(channel_id=channel_id, user_ids=(), event=event))
        if self.inner is not None:
            await self.inner.publish_channel_event(channel_id, event)

    async def publish_user_event(self, user_ids: Collection[str], event: object) -> None:
        """Record and forward a user event."""
        self.events.append(
            PublishedEvent(channel_id=None, user_ids=tuple(sorted(user_ids)), event=event)
        )
        if self.inner is not None:
            await self.inner.publish_user_event(user_ids, event)

    async def end_sessions(self, session_ids: Collection[str]) -> None:
        """Record and forward ended sessions (in `ended_sessions`)."""
        self.ended_sessions.extend(session_ids)
        if self.inner is not None:
            await self.inner.end_sessions(session_ids)

    def of_type(self, cls: type[T]) -> list[T]:
        """Return the recorded events of one wire type, oldest first.

        Args:
            cls: The event class.

        Returns:
            The events.
        """
        return [entry.event for entry in self.events if isinstance(entry.event, cls)]


# -- in-process server ---------------------------------------------------------------------------


@attrs.define
class RunningServer:
    """A server running in the test's event loop.

    Attributes:
        app: The aiohttp application.
        runner: Its runner.
        config: The configuration it runs with.
        base_url: ``http://127.0.0.1:<port>``.
        events: The recorder of events published by HTTP services.
    """

    app: web.Application
    runner: web.AppRunner
    config: ServerConfig
    base_url: str
    events: RecordingEvents

    async def stop(self) -> None:
        """Stop the server (idempotent)."""
        await self.runner.cleanup()


def _record_events(recorder: RecordingEvents) -> Callable[[web.Application], Any]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        recorder.inner = app[EVENTS_KEY]
        app[EVENTS_KEY] = recorder
        yield

    return context


async def run_server(config: ServerConfig, *, clock: Clock | None = None) -> RunningServer:
    """Start a server in-process on 127.0.0.1 (port from the config; 0 picks a free one).

    Args:
        config: Its configuration.
        clock: Its time source (None: the system clock).

    Returns:
        The running server.
    """
    app = create_app(config, clock=clock)
    recorder = RecordingEvents()
    # Appended after create_app's own contexts, so it wraps whatever the realtime side wired.
    app.cleanup_ctx.append(_record_events(recorder))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", config.listen_port)
    await site.start()
    port = runner.addresses[0][1]
    return RunningServer(
        app=app,
        runner=runner,
        config=config,
        base_url=f"http://127.0.0.1:{port}",
        events=recorder,
    )


def make_test_config(db_url: str, data_dir: Path, **overrides: Any) -> ServerConfig:
    """Return a configuration for tests: fast password hashing, generous rate limits.

    Args:
        db_url: The database URL.
        data_dir: A scratch data directory.
        **overrides: `ServerConfig` fields to change.

    Returns:
        The configuration.
    """
    values: dict[str, Any] = {
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "db_url": db_url,
        "data_dir": data_dir,
        "username_pepper": secrets.token_urlsafe(32).encode(),
        "admin_token": secrets.token_urlsafe(32),
        "kdf_preset": "testing",
        "rate_user_per_second": 10_000.0,
        "rate_user_burst": 10_000,
        "rate_ip_per_second": 10_000.0,
        "rate_ip_burst": 10_000,
        "auth_attempts_per_minute": 100_000,
        "db_pool_min": 1,
        "db_pool_max": 10,
        "turn_urls": ("turn:127.0.0.1:3478?transport=udp",),
        "turn_secret": "turn-secret-for-tests-" + "x" * 16,
        "stun_urls": ("stun:127.0.0.1:3478",),
    }
    values.update(overrides)
    return ServerConfig(**values)


# -- subprocess server ---------------------------------------------------------------------------


class ServerProcess:
    """``python -m dialtone.server serve`` as a real child process on a fixed port.

    Args:
        env: Environment (``DIALTONE_*``) for the child, on top of this process's own.
        port: The port it listens on (kept across restarts).
        log_path: File receiving its stdout and stderr.
        args: Command-line arguments (default ``serve``).
        inherit_env: When False the child gets `env` alone (a "fresh machine").
    """

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        port: int,
        log_path: Path,
        args: tuple[str, ...] = ("serve",),
        inherit_env: bool = True,
    ) -> None:
        self.env = dict(env)
        self.port = port
        self.log_path = log_path
        self.args = args
        self.inherit_env = inherit_env
        self.base_url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the child (appending to the log file)."""
        base = dict(os.environ) if self.inherit_env else {}
        env = {**base, **self.env, "DIALTONE_LISTEN_ADDR": f"127.0.0.1:{self.port}"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dialtone.server", *self.args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    async def wait_ready(self, within: float = _START_TIMEOUT_S) -> None:
        """Wait until ``GET /v1/health`` answers 200.

        Args:
            within: Seconds to wait.

        Raises:
            RuntimeError: The child exited or did not answer in time.
        """
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"server exited ({self.process.returncode}):\n{self.log()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.base_url + "/v1/health") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise RuntimeError(f"server did not become ready:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the child and reap it (nothing is flushed or closed)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM the child and wait for it to exit.

        Args:
            timeout: Seconds to wait before SIGKILL.

        Returns:
            The exit status.
        """
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        return self.process.returncode

    def log(self) -> str:
        """Return everything the child wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# -- HTTP client ---------------------------------------------------------------------------------


class ApiCallError(Exception):
    """An error answer from the server.

    Attributes:
        status: HTTP status.
        code: The error code of the body (or "" when the body was not the error shape).
        message: The error message.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ApiClient:
    """A typed client of the /v1 API.

    Args:
        session: The aiohttp session to use.
        base_url: ``http://host:port``.
        codec: The wire codec (one is made when None).
    """

    def __init__(self, session: aiohttp.ClientSession, base_url: str, codec: Codec | None = None):
        self.session = session
        self.base_url = base_url
        self.codec = codec or Codec(make_converter())

    async def call(
        self,
        method: str,
        path: str,
        response: type[T],
        *,
        body: object | None = None,
        token: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> T:
        """Make a request and decode its success body as `response`.

        Args:
            method: HTTP method.
            path: Path under the base URL (``/v1/...``).
            response: The wire type of the success body.
            body: A wire request object, or None.
            token: Bearer token (session or admin), or None.
            params: Query parameters.

        Returns:
            The decoded body.

        Raises:
            ApiCallError: The server answered an error.
        """
        status, data = await self.raw(method, path, body=body, token=token, params=params)
        if status >= 400:
            raise _failure(status, data)
        return self.codec.decode_http(response, data)

    async def call_no_content(
        self,
        method: str,
        path: str,
        *,
        body: object | None = None,
        token: str | None = None,
    ) -> None:
        """Make a request that answers ``204 No Content``.

        Args:
            method: HTTP method.
            path: Path under the base URL.
            body: A wire request object, or None.
            token: Bearer token, or None.

        Raises:
            ApiCallError: The server answered an error.
            AssertionError: It answered something other than 204.
        """
        status, data = await self.raw(method, path, body=body, token=token)
        if status >= 400:
            raise _failure(status, data)
        assert status == 204, (status, data)

    async def raw(
        self,
        method: str,
        path: str,
        *,
        body: object | None = None,
        data: bytes | None = None,
        token: str | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Make a request and return the status and raw body.

        Args:
            method: HTTP method.
            path: Path under the base URL.
            body: A wire request object (encoded with the codec), or None.
            data: Raw bytes to send as a JSON body instead (for bad-input tests).
            token: Bearer token, or None.
            params: Query parameters.
            headers: Extra headers.

        Returns:
            `(status, body bytes)`.
        """
        request_headers = dict(headers or {})
        if token is not None:
            request_headers["Authorization"] = f"Bearer {token}"
        payload = data
        if body is not None:
            payload = self.codec.encode_http(body)
        if payload is not None:
            request_headers.setdefault("Content-Type", "application/json")
        async with self.session.request(
            method, self.base_url + path, data=payload, headers=request_headers, params=params
        ) as response:
            return response.status, await response.read()

    async def ws_connect(self, token: str, **kwargs: Any) -> aiohttp.ClientWebSocketResponse:
        """Open ``/v1/ws`` with a session token in the ``Authorization`` header.

        Args:
            token: The session token.
            **kwargs: Passed to `aiohttp.ClientSession.ws_connect`.

        Returns:
            The WebSocket.
        """
        url = self.base_url.replace("http", "ws", 1) + "/v1/ws"
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        websocket: aiohttp.ClientWebSocketResponse = await self.session.ws_connect(
            url, headers=headers, **kwargs
        )
        return websocket


def _failure(status: int, data: bytes) -> ApiCallError:
    try:
        error = json.loads(data)["error"]
        return ApiCallError(status, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        return ApiCallError(status, "", data[:200].decode(errors="replace"))


@attrs.define
class TestDevice:
    """A device of a test user: its real key pair and its session.

    Attributes:
        identity: The device's private keys (`dialtone.crypto.DeviceIdentity`).
        device_id: The server's id of the device.
        token: A session token of the device.
    """

    __test__ = False

    identity: DeviceIdentity
    device_id: str
    token: str


@attrs.define
class TestUser:
    """A registered test user.

    Attributes:
        user_id: The server's id of the user.
        username: The username.
        password: The password.
        device: The first device (approved).
    """

    __test__ = False

    user_id: str
    username: str
    password: str
    device: TestDevice

    @property
    def token(self) -> str:
        """The first device's session token."""
        return self.device.token


def device_keys(identity: DeviceIdentity) -> DeviceKeys:
    """Return the wire form of a device identity's public keys.

    Args:
        identity: The device identity.

    Returns:
        `DeviceKeys` with the bundle's signature over the X25519 key.
    """
    bundle = identity.public_bundle
    return DeviceKeys(
        x25519_public=bundle.x25519_public,
        ed25519_public=bundle.ed25519_public,
        key_signature=bundle.signature,
    )


async def create_invite(api: ApiClient, admin_token: str, *, ttl_seconds: int = 3600) -> str:
    """Create an invite with the admin token and return its secret.

    Args:
        api: The client.
        admin_token: The server's admin token (or an admin's session token).
        ttl_seconds: Invite lifetime.

    Returns:
        The invite token.
    """
    created = await api.call(
        "POST",
        "/v1/invites",
        http.InviteCreateResponse,
        body=http.InviteCreateRequest(ttl_seconds=ttl_seconds),
        token=admin_token,
    )
    return created.token


async def register_user(
    api: ApiClient,
    admin_token: str,
    *,
    username: str | None = None,
    password: str | None = None,
) -> TestUser:
    """Create an invite, register a user with a fresh device identity, and return it.

    Args:
        api: The client.
        admin_token: The server's admin token.
        username: The username (random when None).
        password: The password (random when None).

    Returns:
        The user with its first, approved device and session.
    """
    username = username or "user_" + uuid.uuid4().hex[:12]
    password = password or secrets.token_urlsafe(16)
    identity = DeviceIdentity.generate()
    auth = await api.call(
        "POST",
        "/v1/register",
        http.AuthResponse,
        body=http.RegisterRequest(
            invite_token=await create_invite(api, admin_token),
            username=username,
            password=password,
            device=device_keys(identity),
        ),
    )
    device = TestDevice(identity=identity, device_id=auth.device_id, token=auth.token)
    return TestUser(user_id=auth.user_id, username=username, password=password, device=device)


async def create_channel(api: ApiClient, owner: TestUser) -> http.ChannelInfo:
    """Create a channel owned by `owner`, with placeholder ciphertext (the server cannot tell).

    Args:
        api: The client.
        owner: The creating user (their first device seals and receives the key).

    Returns:
        The new channel.
    """
    channel_id = str(uuid.uuid4())
    return await api.call(
        "POST",
        "/v1/channels",
        http.ChannelInfo,
        body=http.ChannelCreateRequest(
            channel_id=channel_id,
            name=http.ChannelName(
                key_epoch=1,
                device_id=owner.device.device_id,
                sealed_name=secrets.token_bytes(48),
                signature=secrets.token_bytes(64),
            ),
            envelopes=(envelope_for(owner.device.device_id),),
        ),
        token=owner.token,
    )


def envelope_for(device_id: str) -> http.EnvelopeUpload:
    """Return a placeholder envelope addressed to a device.

    Args:
        device_id: The recipient.

    Returns:
        An upload with random bytes as its sealed key and signature.
    """
    return http.EnvelopeUpload(
        recipient_device_id=device_id,
        sealed_key=secrets.token_bytes(113),
        signature=secrets.token_bytes(64),
    )


async def add_member(
    api: ApiClient,
    channel: http.ChannelInfo,
    by: TestUser,
    user: TestUser,
    role: Role = Role.MEMBER,
) -> http.MemberInfo:
    """Add `user` to a channel at its current epoch, with an envelope for their first device.

    Args:
        api: The client.
        channel: The channel.
        by: An owner or admin.
        user: The user to add.
        role: Their role.

    Returns:
        The membership.
    """
    return await api.call(
        "POST",
        f"/v1/channels/{channel.channel_id}/members",
        http.MemberInfo,
        body=http.MemberAddRequest(
            user_id=user.user_id,
            role=role,
            key_epoch=channel.current_epoch,
            envelopes=(envelope_for(user.device.device_id),),
        ),
        token=by.token,
    )


# -- pytest plugin -------------------------------------------------------------------------------


def register(config: pytest.Config) -> None:
    """Register this plugin from a nested conftest's `pytest_configure` (once per session).

    Args:
        config: The pytest config.
    """
    module = sys.modules[__name__]
    if not config.pluginmanager.is_registered(module):
        config.pluginmanager.register(module, __name__)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for the whole test session, with a migrated template database."""
    cluster = PostgresCluster.start()
    try:
        apply_migrations(cluster.create_database(TEMPLATE_DB))
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def db_name(pg_cluster: PostgresCluster) -> Iterator[str]:
    """The name of a fresh, migrated database for one test (dropped afterwards)."""
    name = "t_" + uuid.uuid4().hex[:16]
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    try:
        yield name
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture
def db_url(pg_cluster: PostgresCluster, db_name: str) -> str:
    """The URL of the test's fresh database."""
    return pg_cluster.url(db_name)


@pytest.fixture
def server_config(db_url: str, tmp_path: Path) -> ServerConfig:
    """A test configuration on the test's database (see `make_test_config`)."""
    return make_test_config(db_url, tmp_path / "data")


@pytest.fixture
def manual_clock() -> ManualClock:
    """A clock tests move by hand (pass it to `start_server`)."""
    return ManualClock()


StartServer = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def start_server(server_config: ServerConfig) -> AsyncIterator[StartServer]:
    """A factory of in-process servers: ``await start_server(clock=None, **config_overrides)``.

    Every server started is stopped at the end of the test.
    """
    started: list[RunningServer] = []

    async def start(clock: Clock | None = None, **overrides: Any) -> RunningServer:
        config = attrs.evolve(server_config, **overrides) if overrides else server_config
        running = await run_server(config, clock=clock)
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in reversed(started):
            await running.stop()


@pytest.fixture
async def server(start_server: StartServer) -> RunningServer:
    """One in-process server on the test's database."""
    return await start_server()


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(server: RunningServer, http_session: aiohttp.ClientSession) -> ApiClient:
    """A client of the `server` fixture."""
    return ApiClient(http_session, server.base_url)


StartProcess = Callable[..., Awaitable[ServerProcess]]


@pytest.fixture
async def server_process(
    server_config: ServerConfig, tmp_path: Path
) -> AsyncIterator[StartProcess]:
    """A factory of subprocess servers on the test's database.

    ``await server_process(env={...}, args=("serve", ...))`` starts ``python -m dialtone.server``
    with the test configuration in its environment and waits until it is healthy. The returned
    `ServerProcess` can be killed (`kill`) and started again (`start` + `wait_ready`) on the same
    port. All are stopped at the end of the test.
    """
    started: list[ServerProcess] = []

    async def start(
        env: Mapping[str, str] | None = None, args: tuple[str, ...] = ("serve",)
    ) -> ServerProcess:
        port = free_port()
        process = ServerProcess(
            env={**config_env(server_config), **(env or {})},
            port=port,
            log_path=tmp_path / f"server-{port}.log",
            args=args,
        )
        started.append(process)
        process.start()
        await process.wait_ready()
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.process is not None and process.process.poll() is None:
                process.terminate(timeout=15)


def config_env(config: ServerConfig) -> dict[str, str]:
    """Return the ``DIALTONE_*`` environment that reproduces the parts of `config` tests vary.

    Args:
        config: The configuration.

    Returns:
        Environment variables.
    """
    env = {
        "DIALTONE_DATA_DIR": str(config.data_dir),
        "DIALTONE_PASSWORD_PRESET": config.kdf_preset,
        "DIALTONE_RATE_USER": str(config.rate_user_per_second),
        "DIALTONE_RATE_USER_BURST": str(config.rate_user_burst),
        "DIALTONE_RATE_IP": str(config.rate_ip_per_second),
        "DIALTONE_RATE_IP_BURST": str(config.rate_ip_burst),
        "DIALTONE_AUTH_RATE": str(config.auth_attempts_per_minute),
        "DIALTONE_LOG_LEVEL": config.log_level,
        "DIALTONE_LOG_FORMAT": config.log_format,
        "DIALTONE_DB_POOL_MIN": str(config.db_pool_min),
        "DIALTONE_DB_POOL_MAX": str(config.db_pool_max),
    }
    if config.db_url is not None:
        env["DIALTONE_DB_URL"] = config.db_url
    if config.username_pepper is not None:
        env["DIALTONE_USERNAME_PEPPER"] = config.username_pepper.decode()
    if config.admin_token is not None:
        env["DIALTONE_ADMIN_TOKEN"] = config.admin_token
    if config.turn_urls:
        env["DIALTONE_TURN_URLS"] = ",".join(config.turn_urls)
    if config.turn_secret is not None:
        env["DIALTONE_TURN_SECRET"] = config.turn_secret
    if config.stun_urls:
        env["DIALTONE_STUN_URLS"] = ",".join(config.stun_urls)
    return env
