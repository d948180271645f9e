"""The exceptions `ClientCore` methods raise: one class per failure kind.

Keystore failures are raised as dialtone.keystore's own exceptions (`WrongPassphrase`,
`KeystoreLocked`, `KeystoreNotFound`, `KeystoreExists`...), all `KeystoreError` subclasses.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "ChannelNotFoundError",
    "CoreError",
    "IncompatibleServerError",
    "NoChannelKeyError",
    "NotDialtoneServerError",
    "NotLoggedInError",
    "OutboxFullError",
    "ServerUnreachableError",
    "UntrustedDeviceError",
    "UserNotFoundError",
    "VoiceJoinError",
    "VoiceUnavailableError",
]


class CoreError(Exception):
    """Base class of the client core's errors."""


class ServerUnreachableError(CoreError):
    """The server could not be reached (connection refused, DNS, TLS, timeout)."""


class NotDialtoneServerError(CoreError):
    """Something answered at the server URL, but not the way a Dialtone server does (a wrong URL,
    a path after the host, another web server)."""


class IncompatibleServerError(CoreError):
    """The server is a Dialtone server that speaks none of this client's protocol versions."""


class ApiError(CoreError):
    """The server answered with an error body ``{"error": {"code", "message"}}``.

    Attributes:
        status: The HTTP status.
        code: The server's stable error code (an `dialtone.wire.ErrorCode` value, or a newer one).
        message: The server's human explanation.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        """Create the error.

        Args:
            status: The HTTP status.
            code: The error code.
            message: The explanation.
        """
        super().__init__(f"{message} ({code})")
        self.status = status
        self.code = code
        self.message = message


class NotLoggedInError(CoreError):
    """The call needs a session (and an unlocked keystore): log in or register first."""


class ChannelNotFoundError(CoreError, LookupError):
    """No channel with that id (or name) among the user's channels."""


class UserNotFoundError(CoreError, LookupError):
    """No user with that name on the server."""


class NoChannelKeyError(CoreError):
    """This device holds no key for the channel's current epoch, so it cannot seal for it yet."""


class UntrustedDeviceError(CoreError):
    """The operation needs a device this client trusts (approved, pinned keys unchanged)."""


class OutboxFullError(CoreError):
    """Too many messages wait in the offline queue."""


class VoiceUnavailableError(CoreError):
    """The voice daemon is not connected (not running, crashed, or refused the IPC connection)."""


class VoiceJoinError(CoreError):
    """Joining a voice room failed (the daemon could not open the audio devices, the server
    refused the room...): the client is not in the room."""
