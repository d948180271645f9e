"""Server configuration: one frozen `ServerConfig`, read once from `DIALTONE_*` variables and flags.

Every setting has an environment variable and a matching command-line flag; a flag wins over the
variable. Values are validated here, so a bad value stops the server with one clear line
(`ConfigError`) before anything starts.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import attrs

LogFormat = Literal["text", "json"]
KdfPreset = Literal["default", "testing"]

DEFAULT_PORT = 8470
MIN_SECRET_CHARS = 32


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the setting."""


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Every setting of a server process. Build it with `load_config`, not by hand in production.

    Attributes:
        listen_host: Address to bind.
        listen_port: TCP port to bind (0 picks a free port).
        db_url: asyncpg URL of PostgreSQL; `None` means "start the embedded PostgreSQL".
        data_dir: Directory for the embedded database and its generated secrets.
        username_pepper: Secret key of the username HMAC; must never change once users exist.
        admin_token: Operator token for the admin HTTP API; `None` disables token admin access.
        tls_cert: PEM certificate chain served directly by the server, or `None`.
        tls_key: PEM private key matching `tls_cert`, or `None`.
        turn_urls: `turn:`/`turns:` URLs handed to clients with their credentials.
        turn_secret: coturn `static-auth-secret` for REST credentials.
        turn_ttl_seconds: Lifetime of a TURN credential.
        stun_urls: `stun:` URLs handed to clients.
        log_level: Python logging level name.
        log_format: `text` for people, `json` for log collectors.
        session_ttl_seconds: Lifetime of a login session.
        invite_ttl_seconds: Default lifetime of an invite.
        max_body_bytes: Largest accepted HTTP request body.
        rate_user_per_second: Sustained request rate allowed per user.
        rate_user_burst: Requests a user may make at once before the rate applies.
        rate_ip_per_second: Sustained request rate allowed per client IP address.
        rate_ip_burst: Burst allowed per client IP address.
        auth_attempts_per_minute: Login/register attempts allowed per client IP address.
        trust_forwarded_for: Take the client IP from `X-Forwarded-For` (only behind a proxy).
        kdf_preset: Password-hash cost; `testing` is fast and only for tests.
        db_pool_min: Smallest asyncpg pool size.
        db_pool_max: Largest asyncpg pool size.
        ws_heartbeat_seconds: WebSocket ping interval (realtime side).
        ws_send_queue_limit: Largest per-connection send queue before the consumer is dropped.
        ws_max_frame_bytes: Largest accepted WebSocket frame.
    """

    listen_host: str = "127.0.0.1"
    listen_port: int = DEFAULT_PORT
    db_url: str | None = None
    data_dir: Path = attrs.field(factory=lambda: default_data_dir(os.environ))
    username_pepper: bytes | None = None
    admin_token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl_seconds: int = 3600
    stun_urls: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_format: LogFormat = "text"
    session_ttl_seconds: int = 30 * 24 * 3600
    invite_ttl_seconds: int = 7 * 24 * 3600
    max_body_bytes: int = 256 * 1024
    rate_user_per_second: float = 20.0
    rate_user_burst: int = 60
    rate_ip_per_second: float = 50.0
    rate_ip_burst: int = 200
    auth_attempts_per_minute: int = 30
    trust_forwarded_for: bool = False
    kdf_preset: KdfPreset = "default"
    db_pool_min: int = 2
    db_pool_max: int = 10
    ws_heartbeat_seconds: float = 30.0
    ws_send_queue_limit: int = 1024
    ws_max_frame_bytes: int = 256 * 1024

    @property
    def tls_enabled(self) -> bool:
        """Whether the server terminates TLS itself."""
        return self.tls_cert is not None

    @property
    def embedded_db(self) -> bool:
        """Whether the server runs its own embedded PostgreSQL."""
        return self.db_url is None


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """Return `$XDG_DATA_HOME/dialtone-server` (XDG default `~/.local/share`).

    Args:
        environ: The process environment.

    Returns:
        The directory for the embedded database and generated secrets.
    """
    base = environ.get("XDG_DATA_HOME") or str(Path(environ.get("HOME", "~")) / ".local/share")
    return Path(base).expanduser() / "dialtone-server"


# -- parsers: each takes the raw string and returns the value or raises ValueError --------------


def _listen(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not host:
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8470")
    host = host.strip("[]")
    return host, _port(port)


def _port(raw: str) -> int:
    port = int(raw)
    if not 0 <= port <= 65535:
        raise ValueError("port must be 0..65535")
    return port


def _db_url(raw: str) -> str:
    if not raw.startswith(("postgresql://", "postgres://")):
        raise ValueError("expected a postgresql:// URL")
    return raw


def _secret(raw: str) -> str:
    if len(raw) < MIN_SECRET_CHARS:
        raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters")
    return raw


def _pepper(raw: str) -> bytes:
    return _secret(raw).encode()


def _existing_file(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return path


def _url_list(*schemes: str) -> Callable[[str], tuple[str, ...]]:
    def parse(raw: str) -> tuple[str, ...]:
        urls = tuple(part.strip() for part in raw.split(",") if part.strip())
        for url in urls:
            if not url.startswith(schemes):
                raise ValueError(f"{url!r} does not start with {' or '.join(schemes)}")
        return urls

    return parse


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return raw

    return parse


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


@attrs.frozen
class Setting:
    """One configuration setting: where it is read from, how it is parsed, what it fills.

    Attributes:
        env: The environment variable.
        flag: The command-line flag.
        field: The `ServerConfig` field (`listen` fills both `listen_host` and `listen_port`).
        parse: Turns the raw text into the value; raises ValueError on a bad value.
        help: One line for `--help`.
    """

    env: str
    flag: str
    field: str
    parse: Callable[[str], object]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DIALTONE_LISTEN_ADDR", "--listen", "listen", _listen, "HOST:PORT to listen on"),
    Setting("DIALTONE_DB_URL", "--db-url", "db_url", _db_url, "PostgreSQL URL (unset: embedded)"),
    Setting(
        "DIALTONE_DATA_DIR",
        "--data-dir",
        "data_dir",
        lambda raw: Path(raw).expanduser(),
        "data dir",
    ),
    Setting(
        "DIALTONE_USERNAME_PEPPER",
        "--username-pepper",
        "username_pepper",
        _pepper,
        "username HMAC pepper",
    ),
    Setting("DIALTONE_ADMIN_TOKEN", "--admin-token", "admin_token", _secret, "admin API token"),
    Setting("DIALTONE_TLS_CERT", "--tls-cert", "tls_cert", _existing_file, "TLS certificate (PEM)"),
    Setting("DIALTONE_TLS_KEY", "--tls-key", "tls_key", _existing_file, "TLS private key (PEM)"),
    Setting(
        "DIALTONE_TURN_URLS", "--turn-urls", "turn_urls", _url_list("turn:", "turns:"), "TURN URLs"
    ),
    Setting(
        "DIALTONE_TURN_SECRET", "--turn-secret", "turn_secret", _secret, "coturn static-auth-secret"
    ),
    Setting(
        "DIALTONE_TURN_TTL",
        "--turn-ttl",
        "turn_ttl_seconds",
        _positive_int,
        "TURN credential lifetime (s)",
    ),
    Setting(
        "DIALTONE_STUN_URLS", "--stun-urls", "stun_urls", _url_list("stun:", "stuns:"), "STUN URLs"
    ),
    Setting("DIALTONE_LOG_LEVEL", "--log-level", "log_level", _log_level, "log level"),
    Setting(
        "DIALTONE_LOG_FORMAT", "--log-format", "log_format", _choice("text", "json"), "text or json"
    ),
    Setting(
        "DIALTONE_SESSION_TTL",
        "--session-ttl",
        "session_ttl_seconds",
        _positive_int,
        "session lifetime (s)",
    ),
    Setting(
        "DIALTONE_INVITE_TTL",
        "--invite-ttl",
        "invite_ttl_seconds",
        _positive_int,
        "default invite lifetime (s)",
    ),
    Setting(
        "DIALTONE_MAX_BODY_BYTES",
        "--max-body-bytes",
        "max_body_bytes",
        _positive_int,
        "request body cap",
    ),
    Setting(
        "DIALTONE_RATE_USER",
        "--rate-user",
        "rate_user_per_second",
        _positive_float,
        "requests/s per user",
    ),
    Setting(
        "DIALTONE_RATE_USER_BURST",
        "--rate-user-burst",
        "rate_user_burst",
        _positive_int,
        "burst per user",
    ),
    Setting(
        "DIALTONE_RATE_IP", "--rate-ip", "rate_ip_per_second", _positive_float, "requests/s per IP"
    ),
    Setting(
        "DIALTONE_RATE_IP_BURST", "--rate-ip-burst", "rate_ip_burst", _positive_int, "burst per IP"
    ),
    Setting(
        "DIALTONE_AUTH_RATE",
        "--auth-rate",
        "auth_attempts_per_minute",
        _positive_int,
        "login attempts/min per IP",
    ),
    Setting(
        "DIALTONE_TRUST_FORWARDED_FOR",
        "--trust-forwarded-for",
        "trust_forwarded_for",
        _bool,
        "behind a proxy",
    ),
    Setting(
        "DIALTONE_PASSWORD_PRESET",
        "--password-preset",
        "kdf_preset",
        _choice("default", "testing"),
        "password hash cost (testing: tests only)",
    ),
    Setting(
        "DIALTONE_DB_POOL_MIN", "--db-pool-min", "db_pool_min", _positive_int, "smallest DB pool"
    ),
    Setting(
        "DIALTONE_DB_POOL_MAX", "--db-pool-max", "db_pool_max", _positive_int, "largest DB pool"
    ),
    Setting(
        "DIALTONE_WS_HEARTBEAT",
        "--ws-heartbeat",
        "ws_heartbeat_seconds",
        _positive_float,
        "WebSocket ping (s)",
    ),
    Setting(
        "DIALTONE_WS_SEND_QUEUE",
        "--ws-send-queue",
        "ws_send_queue_limit",
        _positive_int,
        "WS send queue limit",
    ),
    Setting(
        "DIALTONE_WS_MAX_FRAME",
        "--ws-max-frame",
        "ws_max_frame_bytes",
        _positive_int,
        "largest WS frame",
    ),
)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting to `parser` (all default to "not given").

    Args:
        parser: The parser of a subcommand that builds a `ServerConfig`.
    """
    group = parser.add_argument_group("configuration (each flag overrides its DIALTONE_* variable)")
    for setting in SETTINGS:
        group.add_argument(
            setting.flag,
            dest=_dest(setting),
            metavar="VALUE",
            default=None,
            help=f"{setting.help} [{setting.env}]",
        )


def _dest(setting: Setting) -> str:
    return "cfg_" + setting.env.removeprefix("DIALTONE_").lower()


def load_config(environ: Mapping[str, str], args: argparse.Namespace | None = None) -> ServerConfig:
    """Build and validate the configuration from the environment and parsed flags.

    Args:
        environ: The process environment (only `DIALTONE_*` and XDG variables are read).
        args: Parsed flags from a parser prepared with `add_config_flags`, or `None`.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: A value is invalid or settings contradict each other.
    """
    values: dict[str, object] = {"data_dir": default_data_dir(environ)}
    for setting in SETTINGS:
        raw = getattr(args, _dest(setting), None) if args is not None else None
        source = setting.flag
        if raw is None:
            raw = environ.get(setting.env)
            source = setting.env
        if raw is None or (raw == "" and setting.env != "DIALTONE_TRUST_FORWARDED_FOR"):
            continue
        try:
            parsed = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        if setting.field == "listen":
            assert isinstance(parsed, tuple)
            values["listen_host"], values["listen_port"] = parsed
        else:
            values[setting.field] = parsed
    config = ServerConfig(**values)  # type: ignore[arg-type]
    validate(config)
    return config


def validate(config: ServerConfig) -> None:
    """Check the rules that tie settings together.

    Args:
        config: The configuration to check.

    Raises:
        ConfigError: The settings contradict each other.
    """
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ConfigError("DIALTONE_TLS_CERT and DIALTONE_TLS_KEY must be set together")
    if config.turn_urls and config.turn_secret is None:
        raise ConfigError("DIALTONE_TURN_URLS needs DIALTONE_TURN_SECRET")
    if config.turn_secret is not None and not config.turn_urls:
        raise ConfigError("DIALTONE_TURN_SECRET is set but DIALTONE_TURN_URLS is empty")
    if config.db_url is not None and config.username_pepper is None:
        raise ConfigError(
            "DIALTONE_USERNAME_PEPPER is required with DIALTONE_DB_URL "
            "(only the embedded database generates its own)"
        )
    if config.db_pool_min > config.db_pool_max:
        raise ConfigError("DIALTONE_DB_POOL_MIN must not exceed DIALTONE_DB_POOL_MAX")
    try:
        ipaddress.ip_address(config.listen_host)
    except ValueError:
        if not config.listen_host.replace("-", "").replace(".", "").isalnum():
            raise ConfigError(f"DIALTONE_LISTEN_ADDR: bad host {config.listen_host!r}") from None


def config_for_args(argv: Sequence[str] | None = None) -> ServerConfig:
    """Parse only configuration flags from `argv` (handy for tools and tests).

    Args:
        argv: Command-line arguments without the program name.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: A value is invalid.
    """
    parser = argparse.ArgumentParser(add_help=False)
    add_config_flags(parser)
    return load_config(os.environ, parser.parse_args(argv))
