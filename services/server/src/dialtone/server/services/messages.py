"""Message history (cursor pages), read markers and the per-channel cursors of /v1/sync."""

from __future__ import annotations

from dialtone.server.errors import not_found
from dialtone.server.services import convert
from dialtone.server.services.auth import Principal
from dialtone.server.services.channels import member_view
from dialtone.server.services.deps import Deps
from dialtone.server.storage.errors import NotMemberError
from dialtone.wire import common, http, ws


async def history(
    deps: Deps, principal: Principal, channel_id: str, query: http.HistoryQuery
) -> http.MessagePage:
    """Return a page of a channel's ciphertext history.

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.
        query: `before` / `after` cursors and the page size (1..200).

    Returns:
        The page in ascending `seq`, and whether more lies beyond it.

    Raises:
        ApiError: `not_found` unless the caller is a member.
    """
    await member_view(deps, principal, channel_id)
    records, has_more = await deps.storage.messages.history(
        channel_id, before=query.before, after=query.after, limit=query.limit
    )
    return http.MessagePage(
        channel_id=channel_id,
        messages=tuple(convert.message(record) for record in records),
        has_more=has_more,
    )


async def set_read_marker(
    deps: Deps, principal: Principal, channel_id: str, request: http.ReadMarkerRequest
) -> None:
    """Move the caller's read marker forward and tell the user's devices.

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.
        request: The newest sequence number read.

    Raises:
        ApiError: `not_found` unless the caller is a member.
    """
    await member_view(deps, principal, channel_id)
    try:
        marker = await deps.storage.messages.set_read_marker(
            principal.user_id, channel_id, request.seq, now=deps.clock.now()
        )
    except NotMemberError:
        raise not_found("no such channel") from None
    await deps.events.publish_user_event(
        [principal.user_id], ws.ReadMarker(channel_id=channel_id, seq=marker.seq)
    )


async def sync(deps: Deps, principal: Principal) -> http.SyncResponse:
    """Return the newest sequence number of each of the caller's channels.

    Args:
        deps: Services' dependencies.
        principal: The caller.

    Returns:
        One cursor per channel.
    """
    last = await deps.storage.messages.last_seqs_for_user(principal.user_id)
    return http.SyncResponse(
        cursors=tuple(
            common.ChannelCursor(channel_id=channel_id, seq=seq) for channel_id, seq in last.items()
        )
    )
