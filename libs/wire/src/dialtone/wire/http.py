"""Request and response bodies of the ``/v1`` HTTP API.

Bodies are JSON objects, never tagged: the route says which type a body is (see `ROUTES`). Routes
with nothing to send take no body (``GET``, ``DELETE``) or answer ``204 No Content``.
"""

import re
from collections.abc import Mapping
from typing import Annotated, Final, Literal

import attrs

from dialtone.wire import limits
from dialtone.wire.common import (
    ChannelCursor,
    DeviceInfo,
    DeviceKeys,
    DeviceStatus,
    ErrorDetail,
    IceServer,
    PresenceStatus,
    Role,
)
from dialtone.wire.errors import ProtocolError, Reason
from dialtone.wire.fields import (
    ChannelId,
    ClientMsgId,
    Count,
    DeviceId,
    Epoch,
    HistoryLimit,
    InviteId,
    InviteTtl,
    Items,
    Name,
    Note,
    Password,
    ProtocolVersion,
    SealedBody,
    SealedKey,
    SealedName,
    Seconds,
    Seq,
    SessionId,
    Signature,
    Timestamp,
    Token,
    UserId,
    Username,
)

# --- errors and health -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ErrorResponse:
    """Every error reply: ``{"error": {"code": ..., "message": ...}}``.

    Attributes:
        error: The code and message.
    """

    error: ErrorDetail


@attrs.frozen(kw_only=True)
class HealthResponse:
    """``GET /v1/health``.

    Attributes:
        status: Always ``"ok"`` when the server answers at all.
        server_version: The server's software version.
        protocol_versions: The wire protocol versions the server speaks.
    """

    status: Literal["ok"] = "ok"
    server_version: Name
    protocol_versions: Annotated[
        tuple[ProtocolVersion, ...], Items(limits.MAX_PROTOCOL_VERSIONS, 1)
    ]


# --- accounts, sessions, devices ---------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RegisterRequest:
    """``POST /v1/register``: create an account with an invite, and its first device.

    Attributes:
        invite_token: The single-use invite.
        username: The username (the server keeps only its peppered hash).
        password: The password (the server keeps only its memory-hard hash).
        device: The first device's public keys; it is approved at once.
    """

    invite_token: Token
    username: Username
    password: Password
    device: DeviceKeys


@attrs.frozen(kw_only=True)
class LoginRequest:
    """``POST /v1/login``: a session for an existing device.

    Attributes:
        username: The username.
        password: The password.
        device_id: The device logging in (a new device uses `DeviceAddRequest` instead).
    """

    username: Username
    password: Password
    device_id: DeviceId


@attrs.frozen(kw_only=True)
class DeviceAddRequest:
    """``POST /v1/devices``: register a new device of an existing user and log it in.

    The device stays ``pending`` until one of the user's approved devices approves it.

    Attributes:
        username: The username.
        password: The password.
        device: The new device's public keys.
    """

    username: Username
    password: Password
    device: DeviceKeys


@attrs.frozen(kw_only=True)
class AuthResponse:
    """The session given by register, login and device add.

    Attributes:
        user_id: The user.
        device_id: The device the session belongs to.
        device_status: Whether that device is approved yet.
        token: The bearer token (``Authorization: Bearer <token>``), shown once.
        expires_at: When the session ends.
        is_admin: Whether the user may manage invites.
    """

    user_id: UserId
    device_id: DeviceId
    device_status: DeviceStatus
    token: Token
    expires_at: Timestamp
    is_admin: bool


@attrs.frozen(kw_only=True)
class SessionInfo:
    """One of the caller's sessions.

    Attributes:
        session_id: The session (not its token).
        device_id: The device it belongs to.
        created_at: When it was made.
        expires_at: When it ends.
        last_used_at: When it was last used, if known.
        current: Whether it is the session making this request.
    """

    session_id: SessionId
    device_id: DeviceId
    created_at: Timestamp
    expires_at: Timestamp
    last_used_at: Timestamp | None = None
    current: bool = False


@attrs.frozen(kw_only=True)
class SessionListResponse:
    """``GET /v1/sessions``.

    Attributes:
        sessions: The caller's live sessions.
    """

    sessions: Annotated[tuple[SessionInfo, ...], Items(limits.MAX_SESSIONS)]


@attrs.frozen(kw_only=True)
class DeviceListResponse:
    """``GET /v1/devices`` (own), ``GET /v1/users/{user_id}/devices``,
    ``GET /v1/channels/{channel_id}/devices`` (every member's devices).

    Attributes:
        devices: The devices.
    """

    devices: Annotated[tuple[DeviceInfo, ...], Items(limits.MAX_CHANNEL_DEVICES)]


@attrs.frozen(kw_only=True)
class DeviceApproveRequest:
    """``POST /v1/devices/{device_id}/approve``, from another approved device of the same user.

    Attributes:
        approval_signature: The approving device's signature over the new device's keys.
    """

    approval_signature: Signature


@attrs.frozen(kw_only=True)
class UserLookupRequest:
    """``POST /v1/users/lookup``: find a user by username (in a body: out of URLs and logs).

    Attributes:
        username: The exact username.
    """

    username: Username


@attrs.frozen(kw_only=True)
class UserInfo:
    """A user and their devices, for adding members and verifying safety numbers.

    Attributes:
        user_id: The user.
        devices: The user's devices (pending and revoked ones included, marked).
    """

    user_id: UserId
    devices: Annotated[tuple[DeviceInfo, ...], Items(limits.MAX_DEVICES_PER_USER * 4)]


# --- invites -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class InviteCreateRequest:
    """``POST /v1/invites`` (admin).

    Attributes:
        ttl_seconds: How long the invite stays valid (60 s to 30 days).
        note: An admin's reminder of whom it is for (visible to admins).
    """

    ttl_seconds: InviteTtl = limits.DEFAULT_INVITE_TTL_SECONDS
    note: Note | None = None


@attrs.frozen(kw_only=True)
class InviteInfo:
    """An invite, without its secret.

    Attributes:
        invite_id: The invite.
        created_at: When it was made.
        expires_at: When it stops working.
        created_by: The admin user who made it, None when made with the admin token or the CLI.
        note: The admin's note.
        used_at: When it was redeemed.
        used_by: The account it created.
        revoked_at: When it was revoked.
    """

    invite_id: InviteId
    created_at: Timestamp
    expires_at: Timestamp
    created_by: UserId | None = None
    note: Note | None = None
    used_at: Timestamp | None = None
    used_by: UserId | None = None
    revoked_at: Timestamp | None = None


@attrs.frozen(kw_only=True)
class InviteCreateResponse:
    """The new invite and its token (shown once).

    Attributes:
        invite: The invite.
        token: The secret to hand to the newcomer.
    """

    invite: InviteInfo
    token: Token


@attrs.frozen(kw_only=True)
class InviteListResponse:
    """``GET /v1/invites`` (admin).

    Attributes:
        invites: Every invite, newest first.
    """

    invites: Annotated[tuple[InviteInfo, ...], Items(limits.MAX_INVITES)]


# --- key envelopes -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EnvelopeUpload:
    """A key sealed to one recipient device, as uploaded (sender and epoch come from the request).

    Attributes:
        recipient_device_id: The device that can open it.
        sealed_key: The envelope (ephemeral key, nonce, ciphertext; crypto layer format).
        signature: The sending device's signature over the envelope.
    """

    recipient_device_id: DeviceId
    sealed_key: SealedKey
    signature: Signature


@attrs.frozen(kw_only=True)
class EnvelopePostRequest:
    """``POST /v1/channels/{channel_id}/envelopes`` and ``POST /v1/directory/envelopes``.

    Attributes:
        key_epoch: The epoch of the key inside every envelope.
        envelopes: One per recipient device.
    """

    key_epoch: Epoch
    envelopes: Annotated[tuple[EnvelopeUpload, ...], Items(limits.MAX_ENVELOPES_PER_REQUEST, 1)]


@attrs.frozen(kw_only=True)
class EnvelopePostResponse:
    """The answer to an envelope upload.

    Attributes:
        stored: How many envelopes were stored (repeats of a stored envelope count once).
    """

    stored: Count


@attrs.frozen(kw_only=True)
class KeyEnvelope:
    """A channel key envelope addressed to the caller's device.

    Attributes:
        channel_id: The channel whose key is inside.
        key_epoch: The key's epoch.
        sender_device_id: The device that made and signed it.
        recipient_device_id: The caller's device.
        sealed_key: The envelope.
        signature: The sender's signature.
        created_at: When it was uploaded.
    """

    channel_id: ChannelId
    key_epoch: Epoch
    sender_device_id: DeviceId
    recipient_device_id: DeviceId
    sealed_key: SealedKey
    signature: Signature
    created_at: Timestamp


@attrs.frozen(kw_only=True)
class EnvelopeListResponse:
    """``GET /v1/channels/{channel_id}/envelopes[?epoch=N]`` and ``GET /v1/envelopes``: the
    caller's device's channel key envelopes.

    Attributes:
        envelopes: The envelopes, by channel and epoch.
    """

    envelopes: Annotated[tuple[KeyEnvelope, ...], Items(limits.MAX_ENVELOPES_PER_RESPONSE)]


@attrs.frozen(kw_only=True)
class DirectoryEnvelope:
    """A directory key envelope addressed to the caller's device.

    Attributes:
        owner_user_id: The user whose directory key is inside.
        key_epoch: The directory key's epoch.
        sender_device_id: The owner's device that made and signed it.
        recipient_device_id: The caller's device.
        sealed_key: The envelope.
        signature: The sender's signature.
        created_at: When it was uploaded.
    """

    owner_user_id: UserId
    key_epoch: Epoch
    sender_device_id: DeviceId
    recipient_device_id: DeviceId
    sealed_key: SealedKey
    signature: Signature
    created_at: Timestamp


@attrs.frozen(kw_only=True)
class DirectoryEnvelopeListResponse:
    """``GET /v1/directory/envelopes``.

    Attributes:
        envelopes: Directory keys of users who trust the caller, to the caller's device.
    """

    envelopes: Annotated[tuple[DirectoryEnvelope, ...], Items(limits.MAX_ENVELOPES_PER_RESPONSE)]


# --- directory -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ProfileUpdateRequest:
    """``PUT /v1/directory/profile``: the caller's display name, sealed with their directory key.

    Attributes:
        key_epoch: The directory key epoch used.
        sealed_display_name: The sealed display name.
        signature: The caller's device's signature.
    """

    key_epoch: Epoch
    sealed_display_name: SealedName
    signature: Signature


@attrs.frozen(kw_only=True)
class ProfileInfo:
    """A user's directory profile.

    Attributes:
        user_id: The user.
        device_id: The device that sealed and signed it.
        key_epoch: The directory key epoch used.
        sealed_display_name: The sealed display name.
        signature: The device's signature.
        updated_at: When it was set.
    """

    user_id: UserId
    device_id: DeviceId
    key_epoch: Epoch
    sealed_display_name: SealedName
    signature: Signature
    updated_at: Timestamp


@attrs.frozen(kw_only=True)
class ProfileQueryRequest:
    """``POST /v1/directory/profiles``: the profiles of some users.

    Attributes:
        user_ids: The users asked about.
    """

    user_ids: Annotated[tuple[UserId, ...], Items(limits.MAX_PROFILES, 1)]


@attrs.frozen(kw_only=True)
class ProfileListResponse:
    """The profiles found (users without one are left out).

    Attributes:
        profiles: The profiles.
    """

    profiles: Annotated[tuple[ProfileInfo, ...], Items(limits.MAX_PROFILES)]


# --- channels ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ChannelName:
    """A channel name sealed with the channel key.

    Attributes:
        key_epoch: The channel key epoch used.
        device_id: The device that sealed and signed it.
        sealed_name: The sealed name.
        signature: The device's signature.
    """

    key_epoch: Epoch
    device_id: DeviceId
    sealed_name: SealedName
    signature: Signature


@attrs.frozen(kw_only=True)
class ChannelCreateRequest:
    """``POST /v1/channels``: the client picks the id so the name can be sealed to it.

    Attributes:
        channel_id: A new random UUID.
        name: The sealed name (epoch 1 of the new key).
        envelopes: The first key sealed to each of the creator's approved devices.
    """

    channel_id: ChannelId
    name: ChannelName
    envelopes: Annotated[tuple[EnvelopeUpload, ...], Items(limits.MAX_DEVICES_PER_USER, 1)]


@attrs.frozen(kw_only=True)
class ChannelInfo:
    """A channel as the caller sees it.

    Attributes:
        channel_id: The channel.
        name: The sealed name.
        current_epoch: The newest key epoch; messages must use it.
        role: The caller's role.
        created_at: When it was made.
        updated_at: When its name or key last changed.
        last_seq: The sequence number of its newest message (0: none).
        read_seq: The caller's read marker (0: nothing read).
    """

    channel_id: ChannelId
    name: ChannelName
    current_epoch: Epoch
    role: Role
    created_at: Timestamp
    updated_at: Timestamp
    last_seq: Seq
    read_seq: Seq


@attrs.frozen(kw_only=True)
class ChannelListResponse:
    """``GET /v1/channels``: only the caller's channels.

    Attributes:
        channels: The channels.
    """

    channels: Annotated[tuple[ChannelInfo, ...], Items(limits.MAX_CHANNELS_PER_USER)]


@attrs.frozen(kw_only=True)
class ChannelRenameRequest:
    """``PATCH /v1/channels/{channel_id}`` (owner or admin).

    Attributes:
        name: The new sealed name.
    """

    name: ChannelName


@attrs.frozen(kw_only=True)
class MemberInfo:
    """A member of a channel.

    Attributes:
        user_id: The member.
        role: Their role.
        added_at: When they were added.
        added_by: Who added them (None for the creator).
    """

    user_id: UserId
    role: Role
    added_at: Timestamp
    added_by: UserId | None = None


@attrs.frozen(kw_only=True)
class MemberListResponse:
    """``GET /v1/channels/{channel_id}/members``.

    Attributes:
        channel_id: The channel.
        members: Its members.
    """

    channel_id: ChannelId
    members: Annotated[tuple[MemberInfo, ...], Items(limits.MAX_CHANNEL_MEMBERS)]


@attrs.frozen(kw_only=True)
class MemberAddRequest:
    """``POST /v1/channels/{channel_id}/members`` (owner or admin).

    Attributes:
        user_id: The user to add.
        role: Their role (only the owner may add admins; nobody adds owners).
        key_epoch: The current epoch, whose key the envelopes carry.
        envelopes: The current key sealed to each of the user's trusted devices.
    """

    user_id: UserId
    role: Role = Role.MEMBER
    key_epoch: Epoch
    envelopes: Annotated[tuple[EnvelopeUpload, ...], Items(limits.MAX_DEVICES_PER_USER)]


@attrs.frozen(kw_only=True)
class MemberUpdateRequest:
    """``PATCH /v1/channels/{channel_id}/members/{user_id}`` (owner).

    Attributes:
        role: The new role.
    """

    role: Role


@attrs.frozen(kw_only=True)
class KeyRotateRequest:
    """``POST /v1/channels/{channel_id}/rotate``: start a new key epoch (after a removal).

    Attributes:
        new_epoch: Exactly the current epoch + 1 (otherwise ``stale_epoch``).
        envelopes: The new key sealed to every remaining trusted member device.
        name: The name re-sealed with the new key, so new members can read it.
    """

    new_epoch: Epoch
    envelopes: Annotated[tuple[EnvelopeUpload, ...], Items(limits.MAX_ENVELOPES_PER_REQUEST, 1)]
    name: ChannelName | None = None


@attrs.frozen(kw_only=True)
class KeyRotateResponse:
    """The answer to a rotation.

    Attributes:
        channel_id: The channel.
        key_epoch: The epoch now current.
    """

    channel_id: ChannelId
    key_epoch: Epoch


# --- messages ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ChannelMessage:
    """An encrypted channel message as stored and delivered.

    The client sets everything but `seq` and `server_ts`, which the server assigns; the server
    takes the sender ids from the session, never from the client.

    Attributes:
        channel_id: The channel.
        seq: The server's per-channel sequence number (1, 2, 3...).
        client_msg_id: The sender's id for the message (bound into the seal and signature).
        sender_user_id: The sending user.
        sender_device_id: The sending device.
        key_epoch: The channel key epoch used.
        sealed_body: The sealed, padded body.
        sealed_sender_name: The sender's display name, sealed.
        signature: The sending device's signature.
        server_ts: When the server stored it.
    """

    channel_id: ChannelId
    seq: Seq
    client_msg_id: ClientMsgId
    sender_user_id: UserId
    sender_device_id: DeviceId
    key_epoch: Epoch
    sealed_body: SealedBody
    sealed_sender_name: SealedName
    signature: Signature
    server_ts: Timestamp


HISTORY_QUERY_KEYS: Final = frozenset({"before", "after", "limit"})
_DIGITS: Final = re.compile(r"[0-9]{1,16}")


@attrs.frozen(kw_only=True)
class HistoryQuery:
    """The query of ``GET /v1/channels/{channel_id}/messages?before=&after=&limit=``.

    ``after=N`` gives the oldest `limit` messages with ``seq > N`` (catch-up since ``N``);
    ``before=N`` gives the newest `limit` messages with ``seq < N`` (scrolling back); neither gives
    the newest page; both give the newest ones strictly between. Pages are in ascending ``seq``.

    Attributes:
        before: Exclusive upper bound on ``seq``.
        after: Exclusive lower bound on ``seq``.
        limit: Page size, 1 to 200.
    """

    before: Seq | None = None
    after: Seq | None = None
    limit: HistoryLimit = limits.DEFAULT_HISTORY_LIMIT

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "HistoryQuery":
        """Parse URL query parameters strictly.

        Args:
            query: The parameters (for example aiohttp's ``request.query``).

        Returns:
            The query.

        Raises:
            ProtocolError: On an unknown parameter, a value that is not a plain decimal integer,
                or one out of range.
        """
        unknown = set(query) - HISTORY_QUERY_KEYS
        if unknown:
            name = sorted(unknown)[0]
            raise ProtocolError(Reason.UNKNOWN_FIELD, "unknown query parameter", f"?{name}")
        values: dict[str, int] = {}
        for key in sorted(HISTORY_QUERY_KEYS & set(query)):
            text = query[key]
            if not _DIGITS.fullmatch(text):
                raise ProtocolError(Reason.BAD_VALUE, "expected a decimal integer", f"?{key}")
            values[key] = int(text)
        limit = values.get("limit", limits.DEFAULT_HISTORY_LIMIT)
        if not 1 <= limit <= limits.MAX_HISTORY_LIMIT:
            raise ProtocolError(
                Reason.BAD_VALUE, f"expected 1 to {limits.MAX_HISTORY_LIMIT}", "?limit"
            )
        for key in ("before", "after"):
            if values.get(key, 0) > limits.MAX_SAFE_INT:
                raise ProtocolError(Reason.BAD_VALUE, "out of range", f"?{key}")
        return cls(before=values.get("before"), after=values.get("after"), limit=limit)

    def to_query(self) -> dict[str, str]:
        """Return the URL query parameters for this query (absent bounds left out).

        Returns:
            A mapping of parameter names to decimal strings.
        """
        query = {"limit": str(self.limit)}
        if self.before is not None:
            query["before"] = str(self.before)
        if self.after is not None:
            query["after"] = str(self.after)
        return query


@attrs.frozen(kw_only=True)
class MessagePage:
    """A page of history, ascending by ``seq``.

    Attributes:
        channel_id: The channel.
        messages: At most the query's limit of messages.
        has_more: Whether more messages lie beyond the page in the direction asked.
    """

    channel_id: ChannelId
    messages: Annotated[tuple[ChannelMessage, ...], Items(limits.MAX_HISTORY_LIMIT)]
    has_more: bool


@attrs.frozen(kw_only=True)
class ReadMarkerRequest:
    """``PUT /v1/channels/{channel_id}/read``: the caller has read up to `seq`.

    Attributes:
        seq: The newest sequence number read (markers never move back).
    """

    seq: Seq


# --- presence, TURN ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PresenceSetRequest:
    """``PUT /v1/presence``.

    Attributes:
        status: The caller's new status.
    """

    status: PresenceStatus


@attrs.frozen(kw_only=True)
class PresenceInfo:
    """A user's presence.

    Attributes:
        user_id: The user.
        status: Their status.
        last_seen_at: When they were last connected (None if never or hidden).
    """

    user_id: UserId
    status: PresenceStatus
    last_seen_at: Timestamp | None = None


@attrs.frozen(kw_only=True)
class PresenceListResponse:
    """``GET /v1/channels/{channel_id}/presence``: the presence of a channel's members.

    Attributes:
        presence: One entry per member.
    """

    presence: Annotated[tuple[PresenceInfo, ...], Items(limits.MAX_PRESENCE)]


@attrs.frozen(kw_only=True)
class TurnCredentialsResponse:
    """``GET /v1/turn``: STUN/TURN servers with short-lived TURN REST credentials.

    Attributes:
        ice_servers: The servers, ready for WebRTC.
        expires_at: When the TURN credentials stop working.
        ttl_seconds: Their lifetime as issued.
    """

    ice_servers: Annotated[tuple[IceServer, ...], Items(limits.MAX_ICE_SERVERS)]
    expires_at: Timestamp
    ttl_seconds: Seconds


@attrs.frozen(kw_only=True)
class SyncResponse:
    """``GET /v1/sync``: the newest sequence number of each of the caller's channels.

    Attributes:
        cursors: One per channel.
    """

    cursors: Annotated[tuple[ChannelCursor, ...], Items(limits.MAX_CHANNELS_PER_USER)]


# --- the route table -----------------------------------------------------------------------------


@attrs.frozen
class Route:
    """One route of the ``/v1`` API and the bodies it carries.

    Attributes:
        method: The HTTP method.
        path: The path, with ``{placeholders}``.
        request: The request body type, None when there is none.
        response: The success body type, None for ``204 No Content``.
        auth: ``"none"``, ``"session"`` (bearer token), ``"pending"`` (a pending device's session
            suffices) or ``"admin"`` (admin session or admin token).
    """

    method: str
    path: str
    request: type | None
    response: type | None
    auth: str


ROUTES: Final = (
    Route("GET", "/v1/health", None, HealthResponse, "none"),
    Route("POST", "/v1/register", RegisterRequest, AuthResponse, "none"),
    Route("POST", "/v1/login", LoginRequest, AuthResponse, "none"),
    Route("POST", "/v1/logout", None, None, "pending"),
    Route("GET", "/v1/sessions", None, SessionListResponse, "pending"),
    Route("DELETE", "/v1/sessions/{session_id}", None, None, "pending"),
    Route("POST", "/v1/invites", InviteCreateRequest, InviteCreateResponse, "admin"),
    Route("GET", "/v1/invites", None, InviteListResponse, "admin"),
    Route("DELETE", "/v1/invites/{invite_id}", None, None, "admin"),
    Route("POST", "/v1/devices", DeviceAddRequest, AuthResponse, "none"),
    Route("GET", "/v1/devices", None, DeviceListResponse, "pending"),
    Route("POST", "/v1/devices/{device_id}/approve", DeviceApproveRequest, DeviceInfo, "session"),
    Route("DELETE", "/v1/devices/{device_id}", None, None, "session"),
    Route("POST", "/v1/users/lookup", UserLookupRequest, UserInfo, "session"),
    Route("GET", "/v1/users/{user_id}/devices", None, DeviceListResponse, "session"),
    Route("PUT", "/v1/directory/profile", ProfileUpdateRequest, ProfileInfo, "session"),
    Route("POST", "/v1/directory/profiles", ProfileQueryRequest, ProfileListResponse, "session"),
    Route("POST", "/v1/directory/envelopes", EnvelopePostRequest, EnvelopePostResponse, "session"),
    Route("GET", "/v1/directory/envelopes", None, DirectoryEnvelopeListResponse, "session"),
    Route("GET", "/v1/channels", None, ChannelListResponse, "session"),
    Route("POST", "/v1/channels", ChannelCreateRequest, ChannelInfo, "session"),
    Route("GET", "/v1/channels/{channel_id}", None, ChannelInfo, "session"),
    Route("PATCH", "/v1/channels/{channel_id}", ChannelRenameRequest, ChannelInfo, "session"),
    Route("DELETE", "/v1/channels/{channel_id}", None, None, "session"),
    Route("GET", "/v1/channels/{channel_id}/members", None, MemberListResponse, "session"),
    Route("POST", "/v1/channels/{channel_id}/members", MemberAddRequest, MemberInfo, "session"),
    Route(
        "PATCH",
        "/v1/channels/{channel_id}/members/{user_id}",
        MemberUpdateRequest,
        MemberInfo,
        "session",
    ),
    Route("DELETE", "/v1/channels/{channel_id}/members/{user_id}", None, None, "session"),
    Route("GET", "/v1/channels/{channel_id}/devices", None, DeviceListResponse, "session"),
    Route(
        "POST",
        "/v1/channels/{channel_id}/envelopes",
        EnvelopePostRequest,
        EnvelopePostResponse,
        "session",
    ),
    Route("GET", "/v1/channels/{channel_id}/envelopes", None, EnvelopeListResponse, "session"),
    Route("GET", "/v1/envelopes", None, EnvelopeListResponse, "session"),
    Route(
        "POST", "/v1/channels/{channel_id}/rotate", KeyRotateRequest, KeyRotateResponse, "session"
    ),
    Route("GET", "/v1/channels/{channel_id}/messages", None, MessagePage, "session"),
    Route("PUT", "/v1/channels/{channel_id}/read", ReadMarkerRequest, None, "session"),
    Route("GET", "/v1/sync", None, SyncResponse, "session"),
    Route("PUT", "/v1/presence", PresenceSetRequest, None, "session"),
    Route("GET", "/v1/channels/{channel_id}/presence", None, PresenceListResponse, "session"),
    Route("GET", "/v1/turn", None, TurnCredentialsResponse, "session"),
)
"""Every ``/v1`` route; any route may also answer an `ErrorResponse`."""

REQUEST_TYPES: Final[frozenset[type]] = frozenset(r.request for r in ROUTES if r.request)
"""Types that arrive in request bodies (held to `limits.MAX_HTTP_REQUEST_BYTES`)."""

HTTP_TYPES: Final[tuple[type, ...]] = (
    ErrorResponse,
    ErrorDetail,
    HealthResponse,
    RegisterRequest,
    LoginRequest,
    DeviceAddRequest,
    AuthResponse,
    SessionInfo,
    SessionListResponse,
    DeviceKeys,
    DeviceInfo,
    DeviceListResponse,
    DeviceApproveRequest,
    UserLookupRequest,
    UserInfo,
    InviteCreateRequest,
    InviteInfo,
    InviteCreateResponse,
    InviteListResponse,
    EnvelopeUpload,
    EnvelopePostRequest,
    EnvelopePostResponse,
    KeyEnvelope,
    EnvelopeListResponse,
    DirectoryEnvelope,
    DirectoryEnvelopeListResponse,
    ProfileUpdateRequest,
    ProfileInfo,
    ProfileQueryRequest,
    ProfileListResponse,
    ChannelName,
    ChannelCreateRequest,
    ChannelInfo,
    ChannelListResponse,
    ChannelRenameRequest,
    MemberInfo,
    MemberListResponse,
    MemberAddRequest,
    MemberUpdateRequest,
    KeyRotateRequest,
    KeyRotateResponse,
    ChannelMessage,
    HistoryQuery,
    MessagePage,
    ReadMarkerRequest,
    PresenceSetRequest,
    PresenceInfo,
    PresenceListResponse,
    IceServer,
    TurnCredentialsResponse,
    ChannelCursor,
    SyncResponse,
)
"""Every type of the HTTP surface, bodies and the structures inside them."""
