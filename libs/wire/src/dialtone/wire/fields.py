"""Field types of the wire protocol: Python types annotated with the bounds the decoder enforces.

Each alias is an ordinary type to mypy (``ChannelId`` is a ``str``, ``SealedBody`` is ``bytes``);
the `typing.Annotated` metadata tells the converter (and the Hypothesis strategies) what is allowed.
"""

from datetime import datetime
from typing import Annotated, Final, TypeAlias

import attrs

from dialtone.wire import limits


@attrs.frozen
class Text:
    """A string of `min_chars`..`max_chars` code points: no NUL, no lone surrogates."""

    max_chars: int
    min_chars: int = 0


@attrs.frozen
class Pattern:
    """An ASCII string that fully matches `regex` (which also bounds its length)."""

    regex: str
    description: str


@attrs.frozen
class Blob:
    """Bytes, carried as base64url without padding, of `min_bytes`..`max_bytes` decoded bytes."""

    max_bytes: int
    min_bytes: int = 0


@attrs.frozen
class IntRange:
    """An integer in ``[lo, hi]`` (a JSON number without fraction or exponent)."""

    lo: int
    hi: int


@attrs.frozen
class FloatRange:
    """A finite number in ``[lo, hi]``."""

    lo: float
    hi: float


@attrs.frozen
class Items:
    """A JSON array of `min_items`..`max_items` elements."""

    max_items: int
    min_items: int = 0


UUID_REGEX: Final = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
UUID_TEXT: Final = Pattern(UUID_REGEX, "a lowercase UUID")

# Server-assigned identifiers (channel ids are chosen by the creating client, as UUIDs, so that
# the channel name can be sealed to its id before the channel exists).
UserId: TypeAlias = Annotated[str, UUID_TEXT]
DeviceId: TypeAlias = Annotated[str, UUID_TEXT]
ChannelId: TypeAlias = Annotated[str, UUID_TEXT]
SessionId: TypeAlias = Annotated[str, UUID_TEXT]
InviteId: TypeAlias = Annotated[str, UUID_TEXT]

ClientMsgId: TypeAlias = Annotated[
    str,
    Pattern(
        rf"[A-Za-z0-9_-]{{1,{limits.MAX_CLIENT_MSG_ID_CHARS}}}",
        "1-64 characters of A-Z a-z 0-9 _ -",
    ),
]
"""A client-generated message id (a UUID is a good choice); unique per sender and channel."""
CallId: TypeAlias = ClientMsgId
"""The offerer's id of one WebRTC negotiation, so a late answer is not applied to a new call."""
Token: TypeAlias = Annotated[
    str,
    Pattern(
        rf"[A-Za-z0-9_-]{{{limits.MIN_TOKEN_CHARS},{limits.MAX_TOKEN_CHARS}}}",
        "16-256 characters of A-Z a-z 0-9 _ -",
    ),
]
"""A bearer secret (session token, invite token)."""

Seq: TypeAlias = Annotated[int, IntRange(0, limits.MAX_SAFE_INT)]
"""A per-channel message sequence number; 1 is the first message, 0 means "none yet"."""
Epoch: TypeAlias = Annotated[int, IntRange(0, limits.MAX_EPOCH)]
"""A key epoch (channel key or directory key generation)."""
Count: TypeAlias = Annotated[int, IntRange(0, limits.MAX_SAFE_INT)]
Millis: TypeAlias = Annotated[int, IntRange(0, limits.MAX_SAFE_INT)]
PingId: TypeAlias = Annotated[int, IntRange(0, limits.MAX_SAFE_INT)]
ProtocolVersion: TypeAlias = Annotated[int, IntRange(1, 65535)]
HistoryLimit: TypeAlias = Annotated[int, IntRange(1, limits.MAX_HISTORY_LIMIT)]
InviteTtl: TypeAlias = Annotated[
    int, IntRange(limits.MIN_INVITE_TTL_SECONDS, limits.MAX_INVITE_TTL_SECONDS)
]
Seconds: TypeAlias = Annotated[int, IntRange(0, limits.MAX_SAFE_INT)]
MLineIndex: TypeAlias = Annotated[int, IntRange(0, 65535)]

SealedBody: TypeAlias = Annotated[bytes, Blob(limits.MAX_SEALED_BODY_BYTES, 1)]
SealedName: TypeAlias = Annotated[bytes, Blob(limits.MAX_SEALED_NAME_BYTES, 1)]
SealedKey: TypeAlias = Annotated[bytes, Blob(limits.MAX_SEALED_KEY_BYTES, 1)]
Signature: TypeAlias = Annotated[bytes, Blob(limits.MAX_SIGNATURE_BYTES, 1)]
PublicKey: TypeAlias = Annotated[bytes, Blob(limits.MAX_PUBLIC_KEY_BYTES, 1)]

Username: TypeAlias = Annotated[str, Text(limits.MAX_USERNAME_CHARS, 1)]
Password: TypeAlias = Annotated[str, Text(limits.MAX_PASSWORD_CHARS, 1)]
HumanText: TypeAlias = Annotated[str, Text(limits.MAX_TEXT_CHARS)]
Note: TypeAlias = Annotated[str, Text(limits.MAX_NOTE_CHARS)]
Name: TypeAlias = Annotated[str, Text(limits.MAX_NAME_CHARS)]
Code: TypeAlias = Annotated[str, Text(limits.MAX_CODE_CHARS, 1)]
Url: TypeAlias = Annotated[str, Text(limits.MAX_URL_CHARS, 1)]
Sdp: TypeAlias = Annotated[str, Text(limits.MAX_SDP_CHARS, 1)]
IceCandidateLine: TypeAlias = Annotated[str, Text(limits.MAX_ICE_CANDIDATE_CHARS)]
"""An ICE candidate line; the empty string signals the end of candidates."""
Dbfs: TypeAlias = Annotated[float, FloatRange(-200.0, 0.0)]
Milliseconds: TypeAlias = Annotated[float, FloatRange(0.0, 3_600_000.0)]

Timestamp: TypeAlias = datetime
"""A timezone-aware instant; RFC 3339 UTC text on the wire (``2026-05-09T07:35:25.123456Z``)."""
