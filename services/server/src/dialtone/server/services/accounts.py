"""Accounts and sessions: register with an invite, log in, add a device, log out, sessions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from dialtone.crypto import CryptoError, PublicBundle
from dialtone.crypto.accounts import (
    InvalidUsername,
    new_token,
    normalize_username,
    token_digest,
    username_hash,
)
from dialtone.server.errors import ApiError, not_found
from dialtone.server.services import convert
from dialtone.server.services.auth import Principal
from dialtone.server.services.deps import Deps
from dialtone.server.storage.errors import (
    DeviceExistsError,
    InviteUnavailableError,
    TooManyDevicesError,
    UsernameTakenError,
)
from dialtone.server.storage.records import DeviceRecord, UserRecord
from dialtone.wire import ErrorCode, common, http, limits, ws


def check_device_keys(keys: common.DeviceKeys) -> str:
    """Refuse device keys that are not a well-formed, self-signed bundle.

    Args:
        keys: The keys a client uploaded.

    Returns:
        The device id, derived from the keys (`PublicBundle.device_id`): the id every sealed field
        and signature of this device is bound to, so the server cannot pick another.

    Raises:
        ApiError: `bad_request` when the keys are malformed or the signature does not verify.
    """
    try:
        return PublicBundle(keys.ed25519_public, keys.x25519_public, keys.key_signature).device_id
    except (TypeError, ValueError, CryptoError):
        raise ApiError(
            ErrorCode.BAD_REQUEST, "device keys are malformed or not signed by the device"
        ) from None


def hash_username(deps: Deps, username: str) -> bytes | None:
    """Return the peppered hash of a username, or None when it is not a valid username.

    Args:
        deps: Services' dependencies.
        username: The username as typed.

    Returns:
        The HMAC, or None.
    """
    try:
        return username_hash(deps.pepper, normalize_username(username))
    except InvalidUsername:
        return None


async def _new_session(deps: Deps, user: UserRecord, device: DeviceRecord) -> http.AuthResponse:
    token = new_token(32)
    now = deps.clock.now()
    session = await deps.storage.sessions.create(
        session_id=str(uuid.uuid4()),
        token_digest=token_digest(token),
        user_id=user.user_id,
        device_id=device.device_id,
        now=now,
        expires_at=now + timedelta(seconds=deps.config.session_ttl_seconds),
    )
    return http.AuthResponse(
        user_id=user.user_id,
        device_id=device.device_id,
        device_status=common.DeviceStatus(device.status),
        token=token,
        expires_at=session.expires_at,
        is_admin=user.is_admin,
    )


async def register(deps: Deps, request: http.RegisterRequest) -> http.AuthResponse:
    """Redeem an invite: create the account, its first (approved) device and a session.

    Args:
        deps: Services' dependencies.
        request: The registration.

    Returns:
        The new session.

    Raises:
        ApiError: `bad_request` (invalid username or device keys), `invalid_invite`,
            `username_taken`.
    """
    name_hash = hash_username(deps, request.username)
    if name_hash is None:
        raise ApiError(ErrorCode.BAD_REQUEST, "invalid username")
    device_id = check_device_keys(request.device)
    password_hash = await deps.hasher.hash(request.password)
    try:
        user, device = await deps.storage.users.register(
            invite_digest=token_digest(request.invite_token),
            user_id=str(uuid.uuid4()),
            username_hash=name_hash,
            password_hash=password_hash,
            device_id=device_id,
            device_keys=convert.device_keys_in(request.device),
            now=deps.clock.now(),
        )
    except InviteUnavailableError:
        raise ApiError(ErrorCode.INVALID_INVITE, "the invite is unknown, used or expired") from None
    except UsernameTakenError:
        raise ApiError(ErrorCode.USERNAME_TAKEN, "this username is taken") from None
    except DeviceExistsError:
        raise ApiError(ErrorCode.CONFLICT, "a device with these keys already exists") from None
    return await _new_session(deps, user, device)


async def _check_credentials(deps: Deps, username: str, password: str) -> UserRecord:
    name_hash = hash_username(deps, username)
    user = None if name_hash is None else await deps.storage.users.by_username_hash(name_hash)
    # Verify even for an unknown user, so timing does not tell which usernames exist.
    ok = await deps.hasher.verify(password, None if user is None else user.password_hash)
    if user is None or not ok:
        raise ApiError(ErrorCode.INVALID_CREDENTIALS, "wrong username or password")
    if deps.hasher.needs_rehash(user.password_hash):
        await deps.storage.users.set_password_hash(user.user_id, await deps.hasher.hash(password))
    return user


async def login(deps: Deps, request: http.LoginRequest) -> http.AuthResponse:
    """Open a session for an existing device of the user.

    Args:
        deps: Services' dependencies.
        request: Credentials and the device logging in.

    Returns:
        The new session (the device may still be pending approval).

    Raises:
        ApiError: `invalid_credentials` (also for a device of another user), `device_revoked`.
    """
    user = await _check_credentials(deps, request.username, request.password)
    device = await deps.storage.devices.get(request.device_id)
    if device is None or device.user_id != user.user_id:
        raise ApiError(ErrorCode.INVALID_CREDENTIALS, "wrong username, password or device")
    if device.status == "revoked":
        raise ApiError(ErrorCode.DEVICE_REVOKED, "this device was revoked")
    return await _new_session(deps, user, device)


async def add_device(deps: Deps, request: http.DeviceAddRequest) -> http.AuthResponse:
    """Register a new, pending device of an existing user and open a session for it.

    The user's other devices are told (`device.joined` with status pending) so one can approve it.

    Args:
        deps: Services' dependencies.
        request: Credentials and the new device's keys.

    Returns:
        The new session (of a pending device).

    Raises:
        ApiError: `invalid_credentials`, `bad_request` (keys), `too_many_devices`.
    """
    user = await _check_credentials(deps, request.username, request.password)
    device_id = check_device_keys(request.device)
    try:
        device = await deps.storage.devices.add(
            device_id=device_id,
            user_id=user.user_id,
            keys=convert.device_keys_in(request.device),
            now=deps.clock.now(),
            max_active=limits.MAX_DEVICES_PER_USER,
        )
    except DeviceExistsError:
        raise ApiError(ErrorCode.CONFLICT, "a device with these keys already exists") from None
    except TooManyDevicesError:
        raise ApiError(
            ErrorCode.TOO_MANY_DEVICES,
            f"at most {limits.MAX_DEVICES_PER_USER} devices; revoke one first",
        ) from None
    auth = await _new_session(deps, user, device)
    await deps.events.publish_user_event(
        [user.user_id], ws.DeviceJoined(device=convert.device(device))
    )
    return auth


async def logout(deps: Deps, principal: Principal) -> None:
    """End the caller's session and close its WebSocket connections (4001).

    Args:
        deps: Services' dependencies.
        principal: The caller.
    """
    await deps.storage.sessions.delete(principal.session_id, user_id=principal.user_id)
    await deps.events.end_sessions([principal.session_id])


async def list_sessions(deps: Deps, principal: Principal) -> http.SessionListResponse:
    """List the caller's live sessions.

    Args:
        deps: Services' dependencies.
        principal: The caller.

    Returns:
        The sessions, the caller's own marked `current`.
    """
    records = await deps.storage.sessions.list_for_user(principal.user_id, now=deps.clock.now())
    return http.SessionListResponse(
        sessions=tuple(
            convert.session(record, current_session_id=principal.session_id)
            for record in records[: limits.MAX_SESSIONS]
        )
    )


async def delete_session(deps: Deps, principal: Principal, session_id: str) -> None:
    """End one of the caller's sessions and close its WebSocket connections (4001).

    Args:
        deps: Services' dependencies.
        principal: The caller.
        session_id: The session to end.

    Raises:
        ApiError: `not_found` when the caller has no such session.
    """
    if not await deps.storage.sessions.delete(session_id, user_id=principal.user_id):
        raise not_found("no such session")
    await deps.events.end_sessions([session_id])
