"""TURN REST credentials (coturn `use-auth-secret`): `{expiry}:{user}` signed with HMAC-SHA1."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from dialtone.server.config import ServerConfig
from dialtone.wire import common, http


def turn_credential(secret: str, user_id: str, expires_at: datetime) -> tuple[str, str]:
    """Return coturn REST credentials for a user.

    Args:
        secret: coturn's `static-auth-secret`.
        user_id: The user the credential is for.
        expires_at: When the credential stops working.

    Returns:
        `(username, password)`: username `"{unix expiry}:{user_id}"`, password
        `base64(HMAC-SHA1(secret, username))`.
    """
    username = f"{int(expires_at.timestamp())}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def credentials(config: ServerConfig, user_id: str, now: datetime) -> http.TurnCredentialsResponse:
    """Return the ICE servers for a user: STUN URLs and TURN URLs with fresh credentials.

    Args:
        config: The configuration (TURN URLs, secret, TTL; STUN URLs).
        user_id: The caller.
        now: Server time.

    Returns:
        The ICE servers and when the TURN credentials expire (TTL 0 when TURN is not set up).
    """
    servers: list[common.IceServer] = []
    if config.stun_urls:
        servers.append(common.IceServer(urls=config.stun_urls))
    ttl = 0
    expires_at = now.astimezone(UTC)
    if config.turn_urls and config.turn_secret is not None:
        ttl = config.turn_ttl_seconds
        expires_at = now.astimezone(UTC) + timedelta(seconds=ttl)
        username, password = turn_credential(config.turn_secret, user_id, expires_at)
        servers.append(
            common.IceServer(urls=config.turn_urls, username=username, credential=password)
        )
    return http.TurnCredentialsResponse(
        ice_servers=tuple(servers), expires_at=expires_at, ttl_seconds=ttl
    )
