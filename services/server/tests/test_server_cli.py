"""The command line: configuration errors, --help, subcommands, and the embedded default."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import json
import logging
import os
import signal
import ssl
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dialtone.crypto import DeviceIdentity
from dialtone.server.config import ConfigError, ServerConfig, config_for_args, load_config
from dialtone.server.logs import configure_logging
from dialtone.server.testing import (
    ApiClient,
    ServerProcess,
    config_env,
    device_keys,
    free_port,
    register_user,
)
from dialtone.wire import http

PY = sys.executable


def _run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "dialtone.server", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"DIALTONE_LISTEN_ADDR": "nonsense"}, "DIALTONE_LISTEN_ADDR"),
        ({"DIALTONE_LISTEN_ADDR": "127.0.0.1:99999"}, "port"),
        ({"DIALTONE_DB_URL": "mysql://x"}, "DIALTONE_DB_URL"),
        ({"DIALTONE_DB_URL": "postgresql://x/y"}, "DIALTONE_USERNAME_PEPPER"),
        ({"DIALTONE_TLS_CERT": "/etc/hostname"}, "DIALTONE_TLS_KEY"),
        ({"DIALTONE_TLS_KEY": "/nonexistent/key.pem"}, "no such file"),
        ({"DIALTONE_TURN_URLS": "turn:example.org"}, "DIALTONE_TURN_SECRET"),
        ({"DIALTONE_TURN_URLS": "http://x", "DIALTONE_TURN_SECRET": "s" * 40}, "turn:"),
        ({"DIALTONE_LOG_LEVEL": "LOUD"}, "DIALTONE_LOG_LEVEL"),
        ({"DIALTONE_ADMIN_TOKEN": "short"}, "at least 32"),
        ({"DIALTONE_RATE_USER": "-1"}, "DIALTONE_RATE_USER"),
    ],
)
def test_bad_configuration_stops_with_one_line(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_config(env)


def test_bad_configuration_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    result = _run("serve", env={"DIALTONE_LISTEN_ADDR": "nonsense", "XDG_DATA_HOME": str(tmp_path)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("dialtone-server: DIALTONE_LISTEN_ADDR")
    assert "Traceback" not in result.stderr


def test_flags_override_environment() -> None:
    config = config_for_args(["--listen", "127.0.0.2:9000", "--log-format", "json"])
    assert (config.listen_host, config.listen_port, config.log_format) == (
        "127.0.0.2",
        9000,
        "json",
    )


def test_tls_both_given_is_accepted(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    config = load_config({"DIALTONE_TLS_CERT": str(cert), "DIALTONE_TLS_KEY": str(key)})
    assert config.tls_enabled


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("serve",),
        ("migrate",),
        ("invite",),
        ("invite", "create"),
        ("invite", "list"),
        ("invite", "revoke"),
        ("admin",),
        ("admin", "grant"),
        ("admin", "users"),
        ("openapi",),
    ],
)
def test_every_command_has_help(args: tuple[str, ...]) -> None:
    result = _run(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: dialtone-server" in result.stdout


def test_cli_invites_and_admin_on_an_external_database(db_url: str, tmp_path: Path) -> None:
    env = {
        "DIALTONE_DB_URL": db_url,
        "DIALTONE_USERNAME_PEPPER": "p" * 40,
        "XDG_DATA_HOME": str(tmp_path),
    }
    assert "applied 0 migration(s)" in _run("migrate", env=env).stdout
    created = _run("invite", "create", "--ttl", "3600", "--note", "for frank", env=env)
    assert created.returncode == 0, created.stderr
    invite_line, token = created.stdout.strip().splitlines()
    invite_id = invite_line.split()[1]
    assert len(token) >= 40
    listed = _run("invite", "list", env=env).stdout
    assert invite_id in listed
    assert "for frank" in listed
    assert _run("invite", "revoke", invite_id, env=env).returncode == 0
    assert "revoked" in _run("invite", "list", env=env).stdout
    assert _run("invite", "revoke", invite_id, env=env).returncode == 1
    assert _run("admin", "grant", "nobody", env=env).returncode == 1
    assert _run("admin", "purge-sessions", env=env).returncode == 0


async def test_fresh_machine_embedded_default(tmp_path: Path) -> None:
    """`dialtone-server` with no configuration at all serves on an embedded PostgreSQL."""
    port = free_port()
    home = tmp_path / "home"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DIALTONE_") and key not in {"XDG_DATA_HOME", "HOME"}
    }
    env.update(
        {
            "HOME": str(home),
            "XDG_DATA_HOME": str(tmp_path / "xdg"),
            "DIALTONE_LISTEN_ADDR": f"127.0.0.1:{port}",
            "DIALTONE_PASSWORD_PRESET": "testing",
        }
    )
    # Exactly this environment, and no arguments at all: `dialtone-server` on a fresh machine.
    process = ServerProcess(
        env=env, port=port, log_path=tmp_path / "server.log", args=(), inherit_env=False
    )
    process.start()
    try:
        await process.wait_ready(within=90)
        data_dir = tmp_path / "xdg" / "dialtone-server"
        secrets_file = data_dir / "secrets.json"
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        assert str(secrets_file) in process.log()
        created = await asyncio.to_thread(_run, "invite", "create", env=env)
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip().splitlines()[-1]
        async with aiohttp.ClientSession() as session:
            api = ApiClient(session, process.base_url)
            health = await api.call("GET", "/v1/health", http.HealthResponse)
            assert health.status == "ok"
            refused = await api.raw(
                "POST", "/v1/invites", body=http.InviteCreateRequest(), token="wrong" * 10
            )
            assert refused[0] == 401
            admin_token = _secret(secrets_file, "admin_token")
            user = await register_user(api, admin_token)
            assert user.user_id
            assert (await api.raw("GET", "/v1/channels", token=user.token))[0] == 200
            status, _ = await api.raw(
                "POST",
                "/v1/register",
                body=http.RegisterRequest(
                    invite_token=token,
                    username="cli_invited",
                    password="pw-123456",
                    device=device_keys(DeviceIdentity.generate()),
                ),
            )
            assert status == 201
    finally:
        assert process.process is not None
        process.process.send_signal(signal.SIGTERM)
        assert process.process.wait(timeout=60) == 0
    # The embedded PostgreSQL stopped with the server: its pid file is gone.
    assert not (tmp_path / "xdg" / "dialtone-server" / "pgdata" / "postmaster.pid").exists()


def _secret(path: Path, name: str) -> str:
    value: str = json.loads(path.read_text())[name]
    return value


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_server_terminates_tls_itself(tmp_path: Path, server_config: ServerConfig) -> None:
    cert, key = _self_signed(tmp_path)
    port = free_port()
    process = ServerProcess(
        env={
            **config_env(server_config),
            "DIALTONE_TLS_CERT": str(cert),
            "DIALTONE_TLS_KEY": str(key),
        },
        port=port,
        log_path=tmp_path / "tls.log",
    )
    process.start()
    try:
        context = ssl.create_default_context(cafile=str(cert))
        deadline = asyncio.get_running_loop().time() + 60
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(
                        f"https://127.0.0.1:{port}/v1/health", ssl=context
                    ) as response:
                        assert response.status == 200
                        break
                except aiohttp.ClientConnectorError:
                    assert asyncio.get_running_loop().time() < deadline, process.log()
                    await asyncio.sleep(0.1)
            # Plain HTTP on the TLS port does not work.
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/v1/health") as response:
                    await response.read()
    finally:
        process.terminate()


def test_json_log_format_writes_one_object_per_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        logging.getLogger("dialtone.server.test").info("hello %s", "world")
    finally:
        configure_logging("WARNING", "text", sys.stderr)
    entry = json.loads(stream.getvalue().strip())
    assert entry["message"] == "hello world"
    assert entry["level"] == "INFO"
