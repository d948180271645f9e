"""Schema migrations: yoyo over psycopg (yoyo cannot drive asyncpg); SQL files are package data."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from yoyo import get_backend, read_migrations

_log = logging.getLogger("dialtone.server.migrate")

MIGRATIONS_SOURCE = "package:dialtone.server:migrations"


def yoyo_url(db_url: str) -> str:
    """Turn an asyncpg/libpq `postgresql://` URL into yoyo's `postgresql+psycopg://` form.

    Args:
        db_url: A `postgresql://` or `postgres://` URL.

    Returns:
        The same URL with the psycopg driver scheme.
    """
    parts = urlsplit(db_url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def apply_migrations(db_url: str) -> int:
    """Apply every pending migration, holding yoyo's lock so concurrent replicas take turns.

    Args:
        db_url: The `postgresql://` URL of the database.

    Returns:
        The number of migrations applied.
    """
    backend = get_backend(yoyo_url(db_url))
    try:
        migrations = read_migrations(MIGRATIONS_SOURCE)
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    finally:
        # Close now, not at garbage collection: a lingering session blocks CREATE DATABASE
        # ... TEMPLATE and DROP DATABASE.
        backend.connection.close()
    if pending:
        _log.info("applied %d migration(s)", len(pending))
    return len(pending)


def pending_migrations(db_url: str) -> list[str]:
    """Return the ids of migrations not yet applied.

    Args:
        db_url: The `postgresql://` URL of the database.

    Returns:
        Migration ids in application order.
    """
    backend = get_backend(yoyo_url(db_url))
    try:
        return [m.id for m in backend.to_apply(read_migrations(MIGRATIONS_SOURCE))]
    finally:
        backend.connection.close()
