"""Where keystores live: one profile file per (server, user) under the XDG data directory."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

#: File name suffix of keystore profiles.
PROFILE_SUFFIX = ".dtks"

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_UNSAFE = re.compile(r"[^a-z0-9_-]+")
_UNSAFE_HOST = re.compile(r"[^a-z0-9.-]+")
_READABLE_MAX = 48


def data_home(environ: Mapping[str, str] | None = None) -> Path:
    """The XDG data directory: ``$XDG_DATA_HOME``, else ``$HOME/.local/share``.

    Following the XDG Base Directory specification, an unset, empty or relative
    ``XDG_DATA_HOME`` is ignored.

    Args:
        environ: the environment to read (default: ``os.environ``).

    Returns:
        The data directory (not created).
    """
    env = os.environ if environ is None else environ
    configured = env.get("XDG_DATA_HOME", "")
    if configured and os.path.isabs(configured):
        return Path(configured)
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".local" / "share"


def profiles_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The directory holding keystore profiles: ``<data home>/dialtone/profiles``.

    Args:
        environ: the environment to read (default: ``os.environ``).

    Returns:
        The directory (not created; :meth:`Keystore.create` creates it with mode 0700).
    """
    return data_home(environ) / "dialtone" / "profiles"


def normalize_server_url(url: str) -> str:
    """Normalize a server URL so that spellings of the same server compare equal.

    Lower-cases the scheme and host, drops the scheme's default port, the trailing slash, query,
    fragment and any user-info.

    Args:
        url: an absolute http, https, ws or wss URL.

    Returns:
        The normalized URL, e.g. ``https://chat.example.org:8443/dialtone``.

    Raises:
        TypeError: ``url`` is not a str.
        ValueError: the URL has no supported scheme or no host, or a bad port.
    """
    if not isinstance(url, str):
        raise TypeError(f"server URL must be a str, not {type(url).__name__}")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"server URL must start with http://, https://, ws:// or wss://: {url!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"server URL has no host: {url!r}")
    port = parts.port  # raises ValueError for a non-numeric or out-of-range port
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _normalize_username(username: str) -> str:
    # The same normalization as the server's username rule (NFKC + casefold), so "Alice" and
    # "alice" - one account on the server - share one profile.
    return unicodedata.normalize("NFKC", username).casefold()


def profile_filename(server_url: str, username: str) -> str:
    """A safe, unique file name for the profile of ``username`` on ``server_url``.

    The name is ``<user>@<host>[_<port>]-<digest>.dtks``: a readable part restricted to
    ``[a-z0-9._-]`` (other characters become ``_``, each part at most 48 characters), and the
    first 16 hex digits of SHA-256 over the normalized server URL and username, which keeps
    different profiles apart even when their readable parts collide.

    Args:
        server_url: the server URL (normalized with :func:`normalize_server_url`).
        username: the username (NFKC + casefold).

    Returns:
        The file name (no directory).

    Raises:
        TypeError: an argument is not a str.
        ValueError: bad URL, or an empty username.
    """
    server = normalize_server_url(server_url)
    if not isinstance(username, str):
        raise TypeError(f"username must be a str, not {type(username).__name__}")
    user = _normalize_username(username)
    if not user.strip():
        raise ValueError("username must not be empty")
    digest = hashlib.sha256(
        b"dialtone-profile/v1\x00" + server.encode("utf-8") + b"\x00" + user.encode("utf-8")
    ).hexdigest()[:16]
    parts = urlsplit(server)
    host = _UNSAFE_HOST.sub("_", parts.hostname or "").strip(".")[:_READABLE_MAX] or "_"
    if parts.port is not None:
        host = f"{host}_{parts.port}"
    readable_user = _UNSAFE.sub("_", user)[:_READABLE_MAX] or "_"
    return f"{readable_user}@{host}-{digest}{PROFILE_SUFFIX}"


def profile_path(
    server_url: str,
    username: str,
    *,
    directory: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The keystore path for ``username`` on ``server_url``.

    Args:
        server_url: the server URL.
        username: the username.
        directory: where profiles live (default: :func:`profiles_dir`).
        environ: the environment used to find the default directory.

    Returns:
        ``directory / profile_filename(server_url, username)``; nothing is created.

    Raises:
        TypeError: an argument is not a str.
        ValueError: bad URL or empty username.
    """
    base = profiles_dir(environ) if directory is None else Path(directory)
    return base / profile_filename(server_url, username)
