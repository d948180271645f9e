"""Channels: create, read, rename, delete; members and roles; key envelopes and rotation.

Authorization: a non-member gets the same 404 for a channel that exists and one that does not.
Members may read; owners and admins rename and add members; only owners delete, change roles or
add admins; anyone may leave; an admin removes plain members only.
"""

from __future__ import annotations

from dialtone.server.errors import ApiError, not_found
from dialtone.server.services import convert
from dialtone.server.services.auth import Principal
from dialtone.server.services.deps import Deps
from dialtone.server.services.devices import check_recipients
from dialtone.server.storage.errors import (
    AlreadyMemberError,
    ConflictError,
    LastOwnerError,
    NotFoundError,
    StaleEpochError,
)
from dialtone.server.storage.records import ChannelView, EnvelopeUpload, Role
from dialtone.wire import ErrorCode, common, http, limits, ws

_MANAGERS: frozenset[Role] = frozenset({"owner", "admin"})
_ROLES: dict[common.Role, Role] = {
    common.Role.OWNER: "owner",
    common.Role.ADMIN: "admin",
    common.Role.MEMBER: "member",
}


async def member_view(deps: Deps, principal: Principal, channel_id: str) -> ChannelView:
    """Return the channel as the caller sees it, or the 404 that hides it from non-members.

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.

    Returns:
        The channel with the caller's role.

    Raises:
        ApiError: `not_found` unless the caller is a member.
    """
    view = await deps.storage.channels.view(channel_id, principal.user_id)
    if view is None:
        raise not_found("no such channel")
    return view


def _forbidden(message: str) -> ApiError:
    return ApiError(ErrorCode.FORBIDDEN, message)


def _stale(exc: StaleEpochError) -> ApiError:
    return ApiError(ErrorCode.STALE_EPOCH, f"the channel's key epoch is {exc.current_epoch}")


def _check_name_sender(principal: Principal, name: http.ChannelName) -> None:
    if name.device_id != principal.device_id:
        raise ApiError(ErrorCode.BAD_REQUEST, "the name must be sealed by the calling device")


async def _updated_event(deps: Deps, principal: Principal, channel_id: str) -> None:
    view = await member_view(deps, principal, channel_id)
    record = view.channel
    await deps.events.publish_channel_event(
        channel_id,
        ws.ChannelUpdated(
            channel_id=channel_id,
            name=convert.channel_name(record.name),
            current_epoch=record.current_epoch,
            updated_at=record.updated_at,
        ),
    )


async def list_channels(deps: Deps, principal: Principal) -> http.ChannelListResponse:
    """List the caller's channels.

    Args:
        deps: Services' dependencies.
        principal: The caller.

    Returns:
        Only the channels the caller is a member of.
    """
    views = await deps.storage.channels.list_for_user(principal.user_id)
    return http.ChannelListResponse(
        channels=tuple(convert.channel(view) for view in views[: limits.MAX_CHANNELS_PER_USER])
    )


async def create(
    deps: Deps, principal: Principal, request: http.ChannelCreateRequest
) -> http.ChannelInfo:
    """Create a channel with the caller as owner, at key epoch 1.

    Args:
        deps: Services' dependencies.
        principal: The caller.
        request: The client-chosen id, the sealed name and the first envelopes.

    Returns:
        The new channel.

    Raises:
        ApiError: `bad_request` (name not at epoch 1 or not by this device; envelopes not for
            the caller's approved devices), `conflict` (the id is taken).
    """
    _check_name_sender(principal, request.name)
    if request.name.key_epoch != 1:
        raise ApiError(ErrorCode.BAD_REQUEST, "a new channel's name is sealed at epoch 1")
    envelopes = convert.envelopes_in(request.envelopes)
    await check_recipients(deps, [e.recipient_device_id for e in envelopes], {principal.user_id})
    try:
        await deps.storage.channels.create(
            channel_id=request.channel_id,
            name=convert.channel_name_in(request.name),
            owner_id=principal.user_id,
            owner_device_id=principal.device_id,
            envelopes=envelopes,
            now=deps.clock.now(),
        )
    except ConflictError:
        raise ApiError(ErrorCode.CONFLICT, "a channel with this id exists") from None
    view = await member_view(deps, principal, request.channel_id)
    await deps.events.publish_user_event(
        [principal.user_id],
        ws.MemberAdded(
            channel_id=request.channel_id,
            user_id=principal.user_id,
            role=common.Role.OWNER,
            added_by=principal.user_id,
        ),
    )
    return convert.channel(view)


async def get(deps: Deps, principal: Principal, channel_id: str) -> http.ChannelInfo:
    """Return one of the caller's channels.

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.

    Returns:
        The channel.

    Raises:
        ApiError: `not_found` unless the caller is a member.
    """
    return convert.channel(await member_view(deps, principal, channel_id))


async def rename(
    deps: Deps, principal: Principal, channel_id: str, request: http.ChannelRenameRequest
) -> http.ChannelInfo:
    """Replace the channel's sealed name (owners and admins).

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.
        request: The new name, sealed under the current epoch by the calling device.

    Returns:
        The channel.

    Raises:
        ApiError: `not_found`, `forbidden` (plain member), `bad_request`, `stale_epoch`.
    """
    view = await member_view(deps, principal, channel_id)
    if view.role not in _MANAGERS:
        raise _forbidden("only owners and admins rename a channel")
    _check_name_sender(principal, request.name)
    try:
        await deps.storage.channels.rename(
            channel_id, convert.channel_name_in(request.name), now=deps.clock.now()
        )
    except StaleEpochError as exc:
        raise _stale(exc) from None
    except NotFoundError:
        raise not_found("no such channel") from None
    await _updated_event(deps, principal, channel_id)
    return convert.channel(await member_view(deps, principal, channel_id))


async def delete(deps: Deps, principal: Principal, channel_id: str) -> None:
    """Delete a channel with its history (owners only).

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.

    Raises:
        ApiError: `not_found`, `forbidden` (not an owner).
    """
    view = await member_view(deps, principal, channel_id)
    if view.role != "owner":
        raise _forbidden("only owners delete a channel")
    try:
        members = await deps.storage.channels.delete(channel_id)
    except NotFoundError:
        raise not_found("no such channel") from None
    await deps.events.publish_user_event(
        members, ws.ChannelDeleted(channel_id=channel_id, deleted_by=principal.user_id)
    )


async def members(deps: Deps, principal: Principal, channel_id: str) -> http.MemberListResponse:
    """List a channel's members.

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.

    Returns:
        The members.

    Raises:
        ApiError: `not_found` unless the caller is a member.
    """
    await member_view(deps, principal, channel_id)
    records = await deps.storage.channels.members(channel_id)
    return http.MemberListResponse(
        channel_id=channel_id, members=tuple(convert.member(record) for record in records)
    )


async def add_member(
    deps: Deps, principal: Principal, channel_id: str, request: http.MemberAddRequest
) -> http.MemberInfo:
    """Add a user with the current key's envelopes for their devices (owners and admins).

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.
        request: The user, role, epoch and envelopes.

    Returns:
        The membership.

    Raises:
        ApiError: `not_found` (channel hidden, or no such user), `forbidden` (role rules),
            `conflict` (already a member), `stale_epoch`, `bad_request` (envelopes).
    """
    view = await member_view(deps, principal, channel_id)
    if view.role not in _MANAGERS:
        raise _forbidden("only owners and admins add members")
    if request.role is common.Role.OWNER:
        raise _forbidden("owners are made by changing a member's role")
    if request.role is common.Role.ADMIN and view.role != "owner":
        raise _forbidden("only owners add admins")
    if await deps.storage.users.get(request.user_id) is None:
        raise not_found("no such user")
    if len(await deps.storage.channels.member_user_ids(channel_id)) >= limits.MAX_CHANNEL_MEMBERS:
        raise ApiError(ErrorCode.CONFLICT, "the channel is full")
    envelopes = convert.envelopes_in(request.envelopes)
    await check_recipients(deps, [e.recipient_device_id for e in envelopes], {request.user_id})
    try:
        record = await deps.storage.channels.add_member(
            channel_id,
            request.user_id,
            role=_ROLES[request.role],
            added_by=principal.user_id,
            key_epoch=request.key_epoch,
            sender_device_id=principal.device_id,
            envelopes=envelopes,
            now=deps.clock.now(),
        )
    except AlreadyMemberError:
        raise ApiError(ErrorCode.CONFLICT, "already a member") from None
    except StaleEpochError as exc:
        raise _stale(exc) from None
    except NotFoundError:
        raise not_found("no such channel or user") from None
    await deps.events.publish_channel_event(
        channel_id,
        ws.MemberAdded(
            channel_id=channel_id,
            user_id=request.user_id,
            role=request.role,
            added_by=principal.user_id,
        ),
    )
    await _envelopes_available(deps, channel_id, request.key_epoch, principal, envelopes)
    return convert.member(record)


async def update_member(
    deps: Deps,
    principal: Principal,
    channel_id: str,
    user_id: str,
    request: http.MemberUpdateRequest,
) -> http.MemberInfo:
    """Change a member's role (owners only; the last owner cannot step down).

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.
        user_id: The member.
        request: The new role.

    Returns:
        The updated membership.

    Raises:
        ApiError: `not_found`, `forbidden`, `conflict` (last owner).
    """
    view = await member_view(deps, principal, channel_id)
    if view.role != "owner":
        raise _forbidden("only owners change roles")
    try:
        record = await deps.storage.channels.set_role(channel_id, user_id, _ROLES[request.role])
    except LastOwnerError:
        raise ApiError(ErrorCode.CONFLICT, "a channel keeps at least one owner") from None
    except NotFoundError:
        raise not_found("no such member") from None
    await deps.events.publish_channel_event(
        channel_id,
        ws.MemberUpdated(
            channel_id=channel_id,
            user_id=user_id,
            role=request.role,
            updated_by=principal.user_id,
        ),
    )
    return convert.member(record)


async def remove_member(deps: Deps, principal: Principal, channel_id: str, user_id: str) -> None:
    """Remove a member, or leave (remaining members should then rotate the key).

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.
        user_id: The member to remove (the caller to leave).

    Raises:
        ApiError: `not_found`, `forbidden`, `conflict` (last owner).
    """
    view = await member_view(deps, principal, channel_id)
    if user_id != principal.user_id:
        target = await deps.storage.channels.role_of(user_id, channel_id)
        if target is None:
            raise not_found("no such member")
        allowed = view.role == "owner" or (view.role == "admin" and target == "member")
        if not allowed:
            raise _forbidden("owners remove anyone, admins remove members, anyone may leave")
    try:
        await deps.storage.channels.remove_member(channel_id, user_id)
    except LastOwnerError:
        raise ApiError(
            ErrorCode.CONFLICT, "the last owner must name another owner or delete the channel"
        ) from None
    except NotFoundError:
        raise not_found("no such member") from None
    event = ws.MemberRemoved(channel_id=channel_id, user_id=user_id, removed_by=principal.user_id)
    await deps.events.publish_channel_event(channel_id, event)
    await deps.events.publish_user_event([user_id], event)


async def channel_devices(
    deps: Deps, principal: Principal, channel_id: str
) -> http.DeviceListResponse:
    """List the devices of every member of a channel (to address envelopes).

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.

    Returns:
        The devices.

    Raises:
        ApiError: `not_found` unless the caller is a member.
    """
    await member_view(deps, principal, channel_id)
    records = await deps.storage.devices.list_for_channel(channel_id)
    return http.DeviceListResponse(
        devices=tuple(convert.device(r) for r in records[: limits.MAX_CHANNEL_DEVICES])
    )


async def _envelopes_available(
    deps: Deps,
    channel_id: str,
    key_epoch: int,
    principal: Principal,
    envelopes: list[EnvelopeUpload],
) -> None:
    devices = await deps.storage.devices.get_many(
        sorted({envelope.recipient_device_id for envelope in envelopes})
    )
    recipients = sorted({device.user_id for device in devices})
    if recipients:
        await deps.events.publish_user_event(
            recipients,
            ws.EnvelopeAvailable(
                channel_id=channel_id, key_epoch=key_epoch, sender_device_id=principal.device_id
            ),
        )


async def post_envelopes(
    deps: Deps, principal: Principal, channel_id: str, request: http.EnvelopePostRequest
) -> http.EnvelopePostResponse:
    """Store channel key envelopes of a reached epoch for members' approved devices.

    Args:
        deps: Services' dependencies.
        principal: The caller (any member).
        channel_id: The channel.
        request: The epoch and the envelopes.

    Returns:
        How many were stored.

    Raises:
        ApiError: `not_found`, `bad_request` (recipients), `stale_epoch` (future epoch).
    """
    await member_view(deps, principal, channel_id)
    envelopes = convert.envelopes_in(request.envelopes)
    members_now = set(await deps.storage.channels.member_user_ids(channel_id))
    await check_recipients(deps, [e.recipient_device_id for e in envelopes], members_now)
    try:
        stored = await deps.storage.channels.put_envelopes(
            channel_id,
            key_epoch=request.key_epoch,
            sender_device_id=principal.device_id,
            envelopes=envelopes,
            now=deps.clock.now(),
        )
    except StaleEpochError as exc:
        raise _stale(exc) from None
    except NotFoundError:
        raise not_found("no such channel") from None
    await _envelopes_available(deps, channel_id, request.key_epoch, principal, envelopes)
    return http.EnvelopePostResponse(stored=stored)


async def my_envelopes(
    deps: Deps, principal: Principal, channel_id: str | None, key_epoch: int | None
) -> http.EnvelopeListResponse:
    """Return the channel key envelopes addressed to the caller's device.

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: One channel (404 unless a member), or None for every channel.
        key_epoch: One epoch, or None for all.

    Returns:
        The envelopes.

    Raises:
        ApiError: `not_found` for a channel the caller is not in.
    """
    if channel_id is not None:
        await member_view(deps, principal, channel_id)
    records = await deps.storage.channels.envelopes_for_device(
        principal.device_id, channel_id=channel_id, key_epoch=key_epoch
    )
    return http.EnvelopeListResponse(
        envelopes=tuple(
            convert.channel_envelope(r) for r in records[: limits.MAX_ENVELOPES_PER_RESPONSE]
        )
    )


async def rotate(
    deps: Deps, principal: Principal, channel_id: str, request: http.KeyRotateRequest
) -> http.KeyRotateResponse:
    """Start a new key epoch with envelopes for the remaining members' devices (any member).

    Args:
        deps: Services' dependencies.
        principal: The caller.
        channel_id: The channel.
        request: The new epoch (current + 1), its envelopes and optionally the re-sealed name.

    Returns:
        The channel and its new epoch.

    Raises:
        ApiError: `not_found`, `bad_request`, `stale_epoch` (lost a race or wrong epoch).
    """
    await member_view(deps, principal, channel_id)
    if request.name is not None:
        _check_name_sender(principal, request.name)
    envelopes = convert.envelopes_in(request.envelopes)
    members_now = set(await deps.storage.channels.member_user_ids(channel_id))
    await check_recipients(deps, [e.recipient_device_id for e in envelopes], members_now)
    try:
        await deps.storage.channels.rotate_key(
            channel_id,
            new_epoch=request.new_epoch,
            sender_device_id=principal.device_id,
            envelopes=envelopes,
            name=None if request.name is None else convert.channel_name_in(request.name),
            now=deps.clock.now(),
        )
    except StaleEpochError as exc:
        raise _stale(exc) from None
    except NotFoundError:
        raise not_found("no such channel") from None
    await deps.events.publish_channel_event(
        channel_id,
        ws.KeyRotated(
            channel_id=channel_id, key_epoch=request.new_epoch, rotated_by=principal.device_id
        ),
    )
    if request.name is not None:
        await _updated_event(deps, principal, channel_id)
    return http.KeyRotateResponse(channel_id=channel_id, key_epoch=request.new_epoch)
