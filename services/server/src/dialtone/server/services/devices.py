"""Devices: list own, approve a pending one, revoke; look up users and their devices."""

from __future__ import annotations

from dialtone.server.errors import ApiError, not_found
from dialtone.server.services import convert
from dialtone.server.services.accounts import hash_username
from dialtone.server.services.auth import Principal
from dialtone.server.services.deps import Deps
from dialtone.server.storage.errors import NotFoundError
from dialtone.wire import ErrorCode, common, http, limits, ws


async def list_own(deps: Deps, principal: Principal) -> http.DeviceListResponse:
    """List the caller's devices (pending and revoked ones included).

    Args:
        deps: Services' dependencies.
        principal: The caller (a pending device may ask).

    Returns:
        The devices.
    """
    records = await deps.storage.devices.list_for_user(principal.user_id)
    return http.DeviceListResponse(devices=tuple(convert.device(record) for record in records))


async def approve(
    deps: Deps, principal: Principal, device_id: str, request: http.DeviceApproveRequest
) -> common.DeviceInfo:
    """Approve a pending device of the caller's own account.

    Args:
        deps: Services' dependencies.
        principal: The caller (an approved device).
        device_id: The device to approve.
        request: The approver's signature over the device's keys.

    Returns:
        The approved device.

    Raises:
        ApiError: `not_found` for another user's, a revoked or an unknown device.
    """
    try:
        record = await deps.storage.devices.approve(
            device_id,
            user_id=principal.user_id,
            approver_device_id=principal.device_id,
            approval_signature=request.approval_signature,
            now=deps.clock.now(),
        )
    except NotFoundError:
        raise not_found("no such device") from None
    info = convert.device(record)
    # Everyone sharing a channel with the user (and the user) can now verify it and send it keys.
    audience = await deps.storage.channels.co_member_user_ids(principal.user_id)
    await deps.events.publish_user_event(
        sorted({*audience, principal.user_id}), ws.DeviceJoined(device=info)
    )
    return info


async def revoke(deps: Deps, principal: Principal, device_id: str) -> None:
    """Revoke one of the caller's devices (its sessions end at once).

    Args:
        deps: Services' dependencies.
        principal: The caller (an approved device; it may revoke itself).
        device_id: The device.

    Raises:
        ApiError: `not_found` for another user's, an already revoked or an unknown device.
    """
    try:
        await deps.storage.devices.revoke(
            device_id, user_id=principal.user_id, now=deps.clock.now()
        )
    except NotFoundError:
        raise not_found("no such device") from None
    audience = await deps.storage.channels.co_member_user_ids(principal.user_id)
    await deps.events.publish_user_event(
        sorted({*audience, principal.user_id}),
        ws.DeviceRevoked(user_id=principal.user_id, device_id=device_id),
    )


async def lookup_user(deps: Deps, request: http.UserLookupRequest) -> http.UserInfo:
    """Find a user by exact username (to add them to a channel).

    Args:
        deps: Services' dependencies.
        request: The username.

    Returns:
        The user and their devices.

    Raises:
        ApiError: `not_found` when no user has this username.
    """
    name_hash = hash_username(deps, request.username)
    user = None if name_hash is None else await deps.storage.users.by_username_hash(name_hash)
    if user is None:
        raise not_found("no such user")
    records = await deps.storage.devices.list_for_user(user.user_id)
    return http.UserInfo(
        user_id=user.user_id,
        devices=tuple(convert.device(r) for r in records[: limits.MAX_DEVICES_PER_USER * 4]),
    )


async def user_devices(deps: Deps, user_id: str) -> http.DeviceListResponse:
    """List a user's devices (to verify safety numbers and address envelopes).

    Args:
        deps: Services' dependencies.
        user_id: The user.

    Returns:
        The devices.

    Raises:
        ApiError: `not_found` for an unknown user.
    """
    if await deps.storage.users.get(user_id) is None:
        raise not_found("no such user")
    records = await deps.storage.devices.list_for_user(user_id)
    return http.DeviceListResponse(devices=tuple(convert.device(record) for record in records))


async def check_recipients(deps: Deps, device_ids: list[str], allowed_user_ids: set[str]) -> None:
    """Require every envelope recipient to be an approved device of one of `allowed_user_ids`.

    Args:
        deps: Services' dependencies.
        device_ids: The recipients.
        allowed_user_ids: Whose devices may receive these envelopes.

    Raises:
        ApiError: `bad_request` naming the first recipient that does not qualify.
    """
    found = {d.device_id: d for d in await deps.storage.devices.get_many(sorted(set(device_ids)))}
    for device_id in device_ids:
        device = found.get(device_id)
        if device is None or device.user_id not in allowed_user_ids or device.status != "approved":
            raise ApiError(
                ErrorCode.BAD_REQUEST,
                f"recipient {device_id} is not an approved device of a member",
            )
