"""ICE servers for the voice daemon, and keeping their TURN credentials fresh during a call.

The server hands out TURN REST credentials that expire (``DIALTONE_TURN_TTL``, an hour by
default). While in a voice room, `IceRenewal` fetches new ones at 80% of their lifetime (and at
once after a reconnect to the server, when a renewal may have failed while it was away) and hands
each new set to the daemon, which uses it for its next connections and retries. A renewal that
fails keeps the set in use (it may still work; a set without TURN would only fail sooner), says so
once, and is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import attrs

from dialtone.client.core.api import HttpApi
from dialtone.client.core.errors import CoreError
from dialtone.client.core.events import ClientEvent, Notice
from dialtone.wire.common import IceServer

__all__ = ["IceGrant", "IceRenewal", "IceSource", "fetch_grant", "merge_ice_servers"]

log = logging.getLogger(__name__)

# Renewed at this share of the lifetime, leaving the rest for a slow server or a retry; never
# sooner than the floor after the last renewal.
_RENEW_AT = 0.8
_RENEW_MIN_S = 1.0
_RETRY_S = 30.0


@attrs.frozen(kw_only=True)
class IceGrant:
    """The ICE servers for the daemon, as fetched for a join or a renewal.

    Attributes:
        servers: The servers (TURN entries carry short-lived credentials).
        ttl_seconds: How long from now the TURN credentials in `servers` last; None when
            nothing in them expires (no TURN from the server).
        problem: Why the server's TURN credentials are missing from `servers` (they could not
            be fetched); None when they are there.
    """

    servers: tuple[IceServer, ...]
    ttl_seconds: float | None = None
    problem: str | None = None


IceSource = Callable[[], Awaitable[IceGrant]]


def merge_ice_servers(
    server: tuple[IceServer, ...], *, stun_urls: tuple[str, ...], turn_urls: tuple[str, ...]
) -> tuple[IceServer, ...]:
    """Combine the server's ICE servers with the user's ``--voice-stun``/``--voice-turn``.

    Args:
        server: The server's list (TURN entries carry the short-lived credentials).
        stun_urls: Extra STUN URLs.
        turn_urls: TURN URLs to use instead of the server's, with the server's credentials.

    Returns:
        The list for the daemon.
    """
    result: list[IceServer] = []
    for entry in server:
        if turn_urls and entry.username is not None:
            result.append(
                IceServer(urls=turn_urls, username=entry.username, credential=entry.credential)
            )
        else:
            result.append(entry)
    if stun_urls:
        result.append(IceServer(urls=stun_urls))
    return tuple(result)


async def fetch_grant(
    api: HttpApi, *, stun_urls: tuple[str, ...], turn_urls: tuple[str, ...]
) -> IceGrant:
    """The ICE servers for the daemon, with TURN credentials fetched from the server now.

    Args:
        api: The server's HTTP API.
        stun_urls: The user's extra STUN URLs.
        turn_urls: The user's TURN URLs (used with the server's credentials).

    Returns:
        The grant; when the server could not be asked, its `problem` says why and only the
        user's STUN servers are in it.
    """
    try:
        turn = await api.turn()
    except CoreError as exc:
        servers: tuple[IceServer, ...] = ()
        problem: str | None = str(exc)
        ttl: float | None = None
    else:
        servers, problem = turn.ice_servers, None
        expiring = any(server.credential is not None for server in servers)
        ttl = float(turn.ttl_seconds) if expiring and turn.ttl_seconds > 0 else None
    merged = merge_ice_servers(servers, stun_urls=stun_urls, turn_urls=turn_urls)
    return IceGrant(servers=merged, ttl_seconds=ttl, problem=problem)


class IceRenewal:
    """The ICE servers handed to the daemon, renewed before their TURN credentials expire.

    Args:
        source: Fetches the ICE servers with fresh TURN credentials (a failure is the grant's
            `problem`).
        hand_over: Gives a renewed grant to the daemon.
        emit: Emits a core event.
    """

    def __init__(
        self,
        source: IceSource,
        *,
        hand_over: Callable[[IceGrant], Awaitable[object]],
        emit: Callable[[ClientEvent], None],
    ) -> None:
        self._source = source
        self._hand_over = hand_over
        self._emit = emit
        self._task: asyncio.Task[None] | None = None
        self.grant: IceGrant | None = None
        """The servers last fetched successfully (or at the last join)."""
        self.retry_delay = _RETRY_S
        """Seconds between attempts when the server did not hand out credentials."""

    async def fetch(self) -> IceGrant:
        """Fetch the servers now (for a join) and keep them as the current grant."""
        self.grant = await self._fetch()
        return self.grant

    def renew_after(self, grant: IceGrant) -> None:
        """(Re)start renewing, first when `grant` needs it (never, if nothing in it expires)."""
        if grant.problem is not None:
            self._restart(self.retry_delay)
        elif grant.ttl_seconds is not None:
            self._restart(max(_RENEW_MIN_S, grant.ttl_seconds * _RENEW_AT))
        else:
            self._restart(None)

    def renew_now(self) -> None:
        """Renew at once, then as the new credentials need."""
        self._restart(0.0)

    async def stop(self) -> None:
        """Stop renewing (the room was left)."""
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _restart(self, delay: float | None) -> None:
        previous, self._task = self._task, None
        if previous is not None:
            previous.cancel()
        if delay is not None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(delay), name="dialtone-voice-turn-renewal"
            )

    async def _fetch(self) -> IceGrant:
        try:
            return await self._source()
        except Exception as exc:  # renewal runs in the background: say it, try again later
            log.exception("fetching TURN credentials failed")
            return IceGrant(servers=(), problem=str(exc) or type(exc).__name__)

    async def _run(self, delay: float) -> None:
        failing = False
        while True:
            await asyncio.sleep(delay)
            grant = await self._fetch()
            if grant.problem is not None:
                if not failing:
                    self._emit(
                        Notice(
                            text=f"voice: could not renew the TURN credentials ({grant.problem}); "
                            "trying again"
                        )
                    )
                failing = True
                delay = self.retry_delay
                continue
            failing = False
            self.grant = grant
            await self._hand_over(grant)
            if grant.ttl_seconds is None:
                return
            delay = max(_RENEW_MIN_S, grant.ttl_seconds * _RENEW_AT)
