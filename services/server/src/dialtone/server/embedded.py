"""The embedded default: with no `DIALTONE_DB_URL`, run PostgreSQL from the `pgserver` wheel in the
data directory and keep generated secrets (username pepper, admin token) in a 0600 file there.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from pathlib import Path
from typing import Any

import attrs
import psycopg

from dialtone.server.config import ConfigError, ServerConfig

SECRETS_FILE = "secrets.json"
DATABASE = "dialtone"


@attrs.frozen
class EmbeddedSecrets:
    """Secrets the embedded setup generates once and keeps.

    Attributes:
        username_pepper: Key of the username HMAC (losing it makes every username unknown).
        admin_token: The operator's admin token.
        path: The file they are kept in.
        created: Whether they were generated just now.
    """

    username_pepper: str
    admin_token: str
    path: Path
    created: bool


def load_or_create_secrets(data_dir: Path) -> EmbeddedSecrets:
    """Read the secrets file of `data_dir`, creating it (mode 0600) on first use.

    Args:
        data_dir: The server's data directory (created, mode 0700, if missing).

    Returns:
        The secrets.

    Raises:
        ConfigError: The file exists but is unreadable, malformed, or readable by others.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / SECRETS_FILE
    if not path.exists():
        values = {
            "username_pepper": secrets.token_urlsafe(32),
            "admin_token": secrets.token_urlsafe(32),
        }
        # O_EXCL: two processes starting at once must not both write (and disagree).
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read_secrets(path, created=False)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        return _read_secrets(path, created=True)
    return _read_secrets(path, created=False)


def _read_secrets(path: Path, *, created: bool) -> EmbeddedSecrets:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        values: Any = json.loads(path.read_text())
        return EmbeddedSecrets(
            username_pepper=str(values["username_pepper"]),
            admin_token=str(values["admin_token"]),
            path=path,
            created=created,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable secrets file ({type(exc).__name__})") from None


class EmbeddedPostgres:
    """PostgreSQL from the `pgserver` wheel, in `<data_dir>/pgdata`, stopped when we exit.

    Args:
        data_dir: The server's data directory.
    """

    def __init__(self, data_dir: Path) -> None:
        # Imported here: only the embedded mode needs the wheel. It warns on import when
        # XDG_RUNTIME_DIR is unset (it then uses /tmp), which is fine for us.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver import postgres_server

        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.pgdata = data_dir / "pgdata"
        self._server = postgres_server.get_server(self.pgdata, cleanup_mode="stop")
        base = self._server.get_uri()
        self._ensure_database(base)
        self.url = base.replace("/postgres?", f"/{DATABASE}?", 1)

    @staticmethod
    def _ensure_database(base_url: str) -> None:
        with psycopg.connect(base_url, autocommit=True) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if found is None:
                conn.execute(f"CREATE DATABASE {DATABASE}".encode())


def embedded_config(config: ServerConfig) -> tuple[ServerConfig, EmbeddedPostgres, EmbeddedSecrets]:
    """Start the embedded PostgreSQL and fill the database URL and secrets into `config`.

    Secrets given in the environment win over the generated ones.

    Args:
        config: A configuration without `db_url`.

    Returns:
        The completed configuration, the running PostgreSQL, and the secrets file's content.
    """
    kept = load_or_create_secrets(config.data_dir)
    postgres = EmbeddedPostgres(config.data_dir)
    completed = attrs.evolve(
        config,
        db_url=postgres.url,
        username_pepper=config.username_pepper or kept.username_pepper.encode(),
        admin_token=config.admin_token or kept.admin_token,
    )
    return completed, postgres, kept
