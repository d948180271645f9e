"""Turning the client core's and the keystore's exceptions into one sentence for the user."""

from __future__ import annotations

from dialtone.client.core.errors import (
    ApiError,
    ChannelNotFoundError,
    CoreError,
    IncompatibleServerError,
    NoChannelKeyError,
    NotDialtoneServerError,
    NotLoggedInError,
    OutboxFullError,
    ServerUnreachableError,
    UntrustedDeviceError,
    UserNotFoundError,
    VoiceUnavailableError,
)
from dialtone.keystore import (
    KeystoreCorrupt,
    KeystoreError,
    KeystoreExists,
    KeystoreLocked,
    KeystoreNotFound,
    UnsupportedFormat,
    WrongPassphrase,
)
from dialtone.wire import ErrorCode

__all__ = ["EXPECTED_ERRORS", "explain"]

EXPECTED_ERRORS: tuple[type[Exception], ...] = (CoreError, KeystoreError, ValueError)
"""What a user action may fail with: shown inline, never a crash."""

_API_TEXT: dict[str, str] = {
    ErrorCode.INVALID_CREDENTIALS: "wrong username or password",
    ErrorCode.INVALID_INVITE: "the invite is invalid, already used or expired",
    ErrorCode.USERNAME_TAKEN: "that username is taken",
    ErrorCode.FORBIDDEN: "you are not allowed to do that",
    ErrorCode.DEVICE_PENDING: (
        "this device is still waiting for approval by another of your devices"
    ),
    ErrorCode.DEVICE_REVOKED: "this device was revoked",
    ErrorCode.TOO_MANY_DEVICES: "your account has too many devices: revoke one first",
    ErrorCode.RATE_LIMITED: "too many requests: wait a moment and try again",
    ErrorCode.UNAVAILABLE: "the server is unavailable right now",
    ErrorCode.UNSUPPORTED_VERSION: "the server speaks another protocol version: update Dialtone",
}


def explain(exc: BaseException) -> str:
    """One sentence saying what went wrong, for an inline message.

    Args:
        exc: The exception.

    Returns:
        The sentence.
    """
    if isinstance(exc, WrongPassphrase):
        return "wrong passphrase"
    if isinstance(exc, KeystoreLocked):
        return "another Dialtone is using this keystore right now"
    if isinstance(exc, KeystoreNotFound):
        return "no keystore for this user on this server here: register, or add this device"
    if isinstance(exc, KeystoreExists):
        return "this machine already has a keystore for this user on this server: log in instead"
    if isinstance(exc, KeystoreCorrupt | UnsupportedFormat):
        return f"the keystore cannot be read: {exc}"
    if isinstance(exc, ServerUnreachableError):
        return f"cannot reach the server: {exc}"
    if isinstance(exc, NotDialtoneServerError):
        return f"not a Dialtone server: {exc}"
    if isinstance(exc, IncompatibleServerError):
        return f"incompatible server: {exc}"
    if isinstance(exc, ApiError):
        known = _API_TEXT.get(exc.code)
        return known if known is not None else exc.message or str(exc)
    if isinstance(exc, NoChannelKeyError):
        return (
            "this device has no key for the channel yet: it arrives when a member who trusts "
            "this device shares it"
        )
    if isinstance(exc, VoiceUnavailableError):
        return f"voice is unavailable: {exc}"
    if isinstance(exc, OutboxFullError):
        return "too many messages are waiting to be sent: wait until you are back online"
    if isinstance(
        exc, ChannelNotFoundError | UserNotFoundError | UntrustedDeviceError | NotLoggedInError
    ):
        return str(exc)
    return str(exc) or type(exc).__name__
