"""The encrypted directory: profiles sealed with each user's directory key, and its envelopes."""

from __future__ import annotations

from dialtone.server.errors import ApiError
from dialtone.server.services import convert
from dialtone.server.services.auth import Principal
from dialtone.server.services.deps import Deps
from dialtone.server.services.devices import check_recipients
from dialtone.server.storage.errors import NotFoundError
from dialtone.wire import ErrorCode, http, limits, ws


async def put_profile(
    deps: Deps, principal: Principal, request: http.ProfileUpdateRequest
) -> http.ProfileInfo:
    """Set the caller's sealed display name and tell the users who share a channel with them.

    Args:
        deps: Services' dependencies.
        principal: The caller.
        request: The sealed display name, its directory-key epoch and signature.

    Returns:
        The stored profile.
    """
    record = await deps.storage.directory.put_profile(
        principal.user_id,
        device_id=principal.device_id,
        key_epoch=request.key_epoch,
        sealed_display_name=request.sealed_display_name,
        signature=request.signature,
        now=deps.clock.now(),
    )
    info = convert.profile(record)
    audience = await deps.storage.channels.co_member_user_ids(principal.user_id)
    await deps.events.publish_user_event(
        sorted({*audience, principal.user_id}), ws.ProfileUpdated(profile=info)
    )
    return info


async def profiles(deps: Deps, request: http.ProfileQueryRequest) -> http.ProfileListResponse:
    """Return the profiles of some users (only those that have one).

    Args:
        deps: Services' dependencies.
        request: The users asked about.

    Returns:
        The profiles (ciphertext: only holders of each user's directory key can read them).
    """
    records = await deps.storage.directory.profiles(sorted(set(request.user_ids)))
    return http.ProfileListResponse(profiles=tuple(convert.profile(record) for record in records))


async def post_envelopes(
    deps: Deps, principal: Principal, request: http.EnvelopePostRequest
) -> http.EnvelopePostResponse:
    """Share the caller's directory key with devices of users they trust.

    Args:
        deps: Services' dependencies.
        principal: The caller (owner of the directory key inside).
        request: The epoch and the envelopes.

    Returns:
        How many were stored.

    Raises:
        ApiError: `bad_request` when a recipient is not an approved device.
    """
    envelopes = convert.envelopes_in(request.envelopes)
    recipients = await deps.storage.devices.get_many(
        sorted({e.recipient_device_id for e in envelopes})
    )
    await check_recipients(
        deps, [e.recipient_device_id for e in envelopes], {d.user_id for d in recipients}
    )
    try:
        stored = await deps.storage.directory.put_envelopes(
            owner_user_id=principal.user_id,
            key_epoch=request.key_epoch,
            sender_device_id=principal.device_id,
            envelopes=envelopes,
            now=deps.clock.now(),
        )
    except NotFoundError:
        raise ApiError(ErrorCode.BAD_REQUEST, "unknown recipient device") from None
    event = ws.DirectoryEnvelopeAvailable(
        owner_user_id=principal.user_id,
        key_epoch=request.key_epoch,
        sender_device_id=principal.device_id,
    )
    await deps.events.publish_user_event(sorted({d.user_id for d in recipients}), event)
    return http.EnvelopePostResponse(stored=stored)


async def my_envelopes(deps: Deps, principal: Principal) -> http.DirectoryEnvelopeListResponse:
    """Return the directory-key envelopes addressed to the caller's device.

    Args:
        deps: Services' dependencies.
        principal: The caller.

    Returns:
        The envelopes.
    """
    records = await deps.storage.directory.envelopes_for_device(principal.device_id)
    return http.DirectoryEnvelopeListResponse(
        envelopes=tuple(
            convert.directory_envelope(r) for r in records[: limits.MAX_ENVELOPES_PER_RESPONSE]
        )
    )
