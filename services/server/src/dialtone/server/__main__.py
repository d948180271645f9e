"""Command line of `dialtone-server`: serve (default), migrate, invite, admin, openapi.

Every subcommand takes the configuration flags (each overriding its `DIALTONE_*` variable). A bad
configuration stops the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from dialtone.server import __version__
from dialtone.server.app import create_app
from dialtone.server.clock import SystemClock
from dialtone.server.config import ConfigError, ServerConfig, add_config_flags, load_config
from dialtone.server.logs import configure_logging
from dialtone.server.migrate import apply_migrations
from dialtone.server.openapi import build_document, to_json, to_yaml

_log = logging.getLogger("dialtone.server")

EXIT_CONFIG = 2
SUBCOMMANDS = ("serve", "migrate", "invite", "admin", "openapi")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `dialtone-server`.

    Returns:
        The parser with every subcommand.
    """
    parser = argparse.ArgumentParser(
        prog="dialtone-server",
        description="Dialtone server: HTTP + WebSocket on PostgreSQL, storing only ciphertext. "
        "Without DIALTONE_DB_URL it runs an embedded PostgreSQL in its data directory.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server (the default command)")
    add_config_flags(serve)

    migrate = commands.add_parser("migrate", help="apply pending database migrations and exit")
    add_config_flags(migrate)

    invite = commands.add_parser("invite", help="create, list or revoke invites")
    invite_commands = invite.add_subparsers(dest="invite_command", metavar="ACTION", required=True)
    create = invite_commands.add_parser("create", help="create an invite and print its token")
    create.add_argument("--ttl", type=int, default=7 * 24 * 3600, help="lifetime in seconds")
    create.add_argument("--note", default=None, help="a reminder of whom it is for")
    add_config_flags(create)
    listing = invite_commands.add_parser("list", help="list invites (newest first)")
    add_config_flags(listing)
    revoke = invite_commands.add_parser("revoke", help="revoke an unused invite")
    revoke.add_argument("invite_id", help="the invite's id (from `invite list`)")
    add_config_flags(revoke)

    admin = commands.add_parser("admin", help="administration helpers")
    admin_commands = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    grant = admin_commands.add_parser("grant", help="make a user a server admin")
    grant.add_argument("username")
    add_config_flags(grant)
    withdraw = admin_commands.add_parser("revoke", help="withdraw a user's admin rights")
    withdraw.add_argument("username")
    add_config_flags(withdraw)
    users = admin_commands.add_parser("users", help="list user ids, admins and device counts")
    add_config_flags(users)
    purge = admin_commands.add_parser("purge-sessions", help="delete expired sessions")
    add_config_flags(purge)
    secrets_path = admin_commands.add_parser(
        "secrets-path", help="print where the embedded setup keeps its pepper and admin token"
    )
    add_config_flags(secrets_path)

    openapi = commands.add_parser("openapi", help="print the OpenAPI document of the HTTP API")
    openapi.add_argument("--format", choices=("yaml", "json"), default="yaml")
    return parser


def _with_default_command(argv: Sequence[str]) -> list[str]:
    # `dialtone-server` alone, or with only flags, means `dialtone-server serve ...`.
    args = list(argv)
    if not args or (args[0].startswith("-") and args[0] not in {"-h", "--help", "--version"}):
        return ["serve", *args]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run `dialtone-server` and return its exit status.

    Args:
        argv: Arguments without the program name (default: `sys.argv[1:]`).

    Returns:
        The exit status.
    """
    parser = build_parser()
    args = parser.parse_args(_with_default_command(sys.argv[1:] if argv is None else argv))
    if args.command == "openapi":
        document = build_document()
        sys.stdout.write(to_yaml(document) if args.format == "yaml" else to_json(document))
        return 0
    try:
        config = load_config(os.environ, args)
        configure_logging(config.log_level, config.log_format)
        if args.command == "serve":
            return _serve(config)
        return _run_tool(args, config)
    except ConfigError as exc:
        print(f"dialtone-server: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _resolve_database(config: ServerConfig, *, announce: bool) -> tuple[ServerConfig, Any]:
    """Return the configuration with a database (starting the embedded one if needed)."""
    if not config.embedded_db:
        return config, None
    from dialtone.server.embedded import embedded_config

    completed, postgres, kept = embedded_config(config)
    if announce:
        print(
            f"dialtone-server: embedded PostgreSQL in {postgres.pgdata}\n"
            f"dialtone-server: username pepper and admin token in {kept.path} (mode 0600)"
            + (" - generated now, back it up" if kept.created else "")
            + "\ndialtone-server: create an invite with `dialtone-server invite create`",
            file=sys.stderr,
            flush=True,
        )
    return completed, postgres


def _ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"DIALTONE_TLS_CERT/DIALTONE_TLS_KEY: cannot load ({exc})") from None
    return context


def _serve(config: ServerConfig) -> int:
    ssl_context = _ssl_context(config)
    # The handle keeps the embedded PostgreSQL ours until exit, when pgserver stops it.
    config, _postgres = _resolve_database(config, announce=True)
    scheme = "https" if ssl_context is not None else "http"
    _log.info(
        "dialtone-server %s listening on %s://%s:%d",
        __version__,
        scheme,
        config.listen_host,
        config.listen_port,
    )
    try:
        web.run_app(
            create_app(config),
            host=config.listen_host,
            port=config.listen_port,
            ssl_context=ssl_context,
            print=None,
            access_log=logging.getLogger("dialtone.server.access"),
            shutdown_timeout=10.0,
        )
    except OSError as exc:
        print(
            f"dialtone-server: cannot listen on {config.listen_host}:{config.listen_port}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


def _run_tool(args: argparse.Namespace, config: ServerConfig) -> int:
    if args.command == "admin" and args.admin_command == "secrets-path":
        from dialtone.server.embedded import SECRETS_FILE

        print(config.data_dir / SECRETS_FILE)
        return 0
    config, _postgres = _resolve_database(config, announce=False)
    assert config.db_url is not None
    if args.command == "migrate":
        applied = apply_migrations(config.db_url)
        print(f"applied {applied} migration(s)")
        return 0
    apply_migrations(config.db_url)
    return asyncio.run(_run_async_tool(args, config))


async def _run_async_tool(args: argparse.Namespace, config: ServerConfig) -> int:
    from dialtone.server.storage import Storage, create_pool

    assert config.db_url is not None
    pool = await create_pool(config.db_url, min_size=1, max_size=2)
    try:
        storage = Storage(pool)
        tool = _TOOLS[(args.command, getattr(args, "invite_command", None) or args.admin_command)]
        return await tool(args, config, storage)
    finally:
        await pool.close()


Tool = Callable[[argparse.Namespace, ServerConfig, Any], Awaitable[int]]


async def _invite_create(args: argparse.Namespace, config: ServerConfig, storage: Any) -> int:
    from dialtone.server.services.invites import create_invite

    if not 60 <= args.ttl <= 30 * 24 * 3600:
        raise ConfigError("--ttl must be between 60 seconds and 30 days")
    created = await create_invite(
        storage, SystemClock(), created_by=None, ttl_seconds=args.ttl, note=args.note
    )
    print(f"invite {created.invite.invite_id} expires {created.invite.expires_at.isoformat()}")
    print(created.token)
    return 0


async def _invite_list(args: argparse.Namespace, config: ServerConfig, storage: Any) -> int:
    from dialtone.server.services.invites import list_invites

    now = SystemClock().now()
    for invite in (await list_invites(storage)).invites:
        if invite.used_at is not None:
            state = f"used {invite.used_at.isoformat()}"
        elif invite.revoked_at is not None:
            state = "revoked"
        elif invite.expires_at <= now:
            state = "expired"
        else:
            state = f"open until {invite.expires_at.isoformat()}"
        note = f"  {invite.note}" if invite.note else ""
        print(f"{invite.invite_id}  {state}{note}")
    return 0


async def _invite_revoke(args: argparse.Namespace, config: ServerConfig, storage: Any) -> int:
    from dialtone.server.errors import ApiError
    from dialtone.server.services.invites import revoke_invite

    try:
        await revoke_invite(storage, SystemClock(), args.invite_id)
    except ApiError:
        print(f"dialtone-server: no open invite {args.invite_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.invite_id}")
    return 0


async def _set_admin(args: argparse.Namespace, config: ServerConfig, storage: Any) -> int:
    from dialtone.crypto.accounts import InvalidUsername, normalize_username, username_hash

    assert config.username_pepper is not None
    try:
        name_hash = username_hash(config.username_pepper, normalize_username(args.username))
    except InvalidUsername:
        print("dialtone-server: not a valid username", file=sys.stderr)
        return 1
    user = await storage.users.by_username_hash(name_hash)
    if user is None:
        print("dialtone-server: no such user", file=sys.stderr)
        return 1
    grant = args.admin_command == "grant"
    await storage.users.set_admin(user.user_id, grant)
    print(f"{user.user_id} is {'now' if grant else 'no longer'} a server admin")
    return 0


async def _users(args: argparse.Namespace, config: ServerConfig, storage: Any) -> int:
    for user in await storage.users.list_all():
        devices = await storage.devices.list_for_user(user.user_id)
        active = sum(1 for device in devices if device.status != "revoked")
        role = "admin" if user.is_admin else "user"
        print(f"{user.user_id}  {role}  {active} device(s)  since {user.created_at.date()}")
    return 0


async def _purge_sessions(args: argparse.Namespace, config: ServerConfig, storage: Any) -> int:
    purged = await storage.sessions.purge_expired(now=SystemClock().now())
    print(f"deleted {purged} expired session(s)")
    return 0


_TOOLS: dict[tuple[str, str], Tool] = {
    ("invite", "create"): _invite_create,
    ("invite", "list"): _invite_list,
    ("invite", "revoke"): _invite_revoke,
    ("admin", "grant"): _set_admin,
    ("admin", "revoke"): _set_admin,
    ("admin", "users"): _users,
    ("admin", "purge-sessions"): _purge_sessions,
}


if __name__ == "__main__":
    sys.exit(main())
