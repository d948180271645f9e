"""Presence over HTTP: set one's status; see the presence of a channel's members."""

from __future__ import annotations

from dialtone.server.services.auth import Principal
from dialtone.server.services.channels import member_view
from dialtone.server.services.deps import Deps
from dialtone.wire import common, http, ws


async def set_status(deps: Deps, principal: Principal, request: http.PresenceSetRequest) -> None:
    """Record the caller's chosen status and tell the users who share a channel with them.

    Args:
        deps: Services' dependencies.
        principal: The caller.
        request: The status (`offline` hides the user even while connected).
    """
    await deps.storage.directory.set_presence(
        principal.user_id, request.status.value, now=deps.clock.now()
    )
    [record] = await deps.storage.directory.presence([principal.user_id])
    audience = await deps.storage.channels.co_member_user_ids(principal.user_id)
    await deps.events.publish_user_event(
        sorted({*audience, principal.user_id}),
        ws.PresenceChanged(
            user_id=principal.user_id, status=request.status, last_seen_at=record.last_seen_at
        ),
    )


async def channel_presence(
    deps: Deps, principal: Principal, channel_id: str
) -> http.PresenceListResponse:
    """Return the presence of a channel's members.

    A member is shown with their chosen status while connected (per the realtime side) and as
    offline otherwise.

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.

    Returns:
        One entry per member.

    Raises:
        ApiError: `not_found` unless the caller is a member.
    """
    await member_view(deps, principal, channel_id)
    user_ids = await deps.storage.channels.member_user_ids(channel_id)
    online = await deps.presence.online_user_ids(user_ids)
    records = await deps.storage.directory.presence(user_ids)
    return http.PresenceListResponse(
        presence=tuple(
            http.PresenceInfo(
                user_id=record.user_id,
                status=common.PresenceStatus(record.status)
                if record.user_id in online
                else common.PresenceStatus.OFFLINE,
                last_seen_at=record.last_seen_at,
            )
            for record in records
        )
    )
