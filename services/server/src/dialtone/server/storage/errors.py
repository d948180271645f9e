"""Storage-level failures. Services translate them into `ApiError`s."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of storage failures that callers are expected to handle."""


class NotFoundError(StorageError):
    """The row does not exist (or is not visible to the caller)."""


class NotMemberError(NotFoundError):
    """The user is not a member of the channel (or the channel does not exist)."""


class ConflictError(StorageError):
    """A row with this identity already exists."""


class UsernameTakenError(ConflictError):
    """A user with this username hash already exists."""


class AlreadyMemberError(ConflictError):
    """The user is already a member of the channel."""


class InviteUnavailableError(StorageError):
    """The invite does not exist, was used or revoked, or has expired."""


class StaleEpochError(StorageError):
    """The key epoch given is not the one the operation needs.

    Attributes:
        current_epoch: The channel's current epoch.
    """

    def __init__(self, current_epoch: int) -> None:
        super().__init__(f"current key epoch is {current_epoch}")
        self.current_epoch = current_epoch


class LastOwnerError(StorageError):
    """The change would leave the channel without an owner."""


class TooManyDevicesError(StorageError):
    """The user already has the largest number of active devices."""


class DeviceExistsError(ConflictError):
    """A device with these public keys (and so this device id) is already registered."""
