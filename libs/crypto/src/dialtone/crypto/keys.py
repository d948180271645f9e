"""Scopes (a channel or the directory) and the symmetric keys that seal fields in them.

A channel key is a random 256-bit AES-256-GCM key with an epoch number. Every sealed field uses a
fresh random 96-bit nonce, and NIST SP 800-38D allows at most 2^32 encryptions under one key with
random nonces. Epochs keep use far below that: a new epoch (a new random key) is made whenever a
member or device is removed, and at the latest after `EPOCH_MESSAGE_LIMIT` messages; see
docs/protocol-crypto.md, "Key epochs".
"""

from __future__ import annotations

import enum
import functools
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from dialtone.crypto.encoding import RandomSource, check_id, default_random
from dialtone.crypto.primitives import AEAD_KEY_LENGTH, Aead

__all__ = [
    "EPOCH_MESSAGE_LIMIT",
    "MAX_EPOCH",
    "ChannelKey",
    "Scope",
    "ScopeKind",
    "check_epoch",
]

#: Epochs are unsigned 32-bit numbers.
MAX_EPOCH: Final = 2**32 - 1

#: Messages (each at most one field of each purpose, so at most 3 AES-GCM encryptions) after which
#: a channel must move to a new epoch. 2^24 messages are at most 2^25.6 encryptions, a factor of
#: 2^6 under the 2^32 random-nonce limit; the chance of any nonce collision stays below 2^-45.
EPOCH_MESSAGE_LIMIT: Final = 2**24


class ScopeKind(enum.IntEnum):
    """What a key protects: one channel, or one user's directory entry (their profile name)."""

    CHANNEL = 1
    DIRECTORY = 2


_JSON_KINDS: Final = {ScopeKind.CHANNEL: "channel", ScopeKind.DIRECTORY: "directory"}
_KINDS_BY_JSON: Final = {name: kind for kind, name in _JSON_KINDS.items()}


@dataclass(frozen=True, slots=True)
class Scope:
    """A channel, by its id, or a user's directory entry, by the owner's user id. Immutable,
    hashable, compared by value.

    Build one with `Scope.channel(channel_id)` or `Scope.directory(owner_user_id)`.

    Raises:
        TypeError: `kind` is not a `ScopeKind` or `id` is not a str.
        ValueError: `id` breaks the identifier rules.
    """

    kind: ScopeKind
    id: str
    encoded: bytes = field(init=False, repr=False, compare=False)
    """Wire form: kind (1 byte) || id length (1 byte) || id (ASCII)."""

    def __post_init__(self) -> None:
        if not isinstance(self.kind, ScopeKind):
            raise TypeError("kind must be a ScopeKind")
        what = "channel id" if self.kind is ScopeKind.CHANNEL else "directory owner id"
        raw = check_id(self.id, what)
        object.__setattr__(self, "encoded", bytes((self.kind, len(raw))) + raw)

    @classmethod
    def channel(cls, channel_id: str) -> Scope:
        """The scope of one channel."""
        return _cached_scope(ScopeKind.CHANNEL, channel_id)

    @classmethod
    def directory(cls, owner_id: str) -> Scope:
        """The scope of one user's directory entry (sealed under that user's directory key)."""
        return _cached_scope(ScopeKind.DIRECTORY, owner_id)

    @classmethod
    def coerce(cls, value: Scope | str) -> Scope:
        """Accept a `Scope` or a channel id."""
        if isinstance(value, Scope):
            return value
        if isinstance(value, str):
            return cls.channel(value)
        raise TypeError(f"expected a Scope or a channel id str, got {type(value).__name__}")

    def to_dict(self) -> dict[str, str]:
        """The JSON form: ``{"kind": "channel" | "directory", "id": str}``."""
        return {"kind": _JSON_KINDS[self.kind], "id": self.id}

    @classmethod
    def from_dict(cls, data: object) -> Scope:
        """Parse the JSON form made by `to_dict`.

        Raises:
            TypeError: `data` is not a mapping, or the id is not a str.
            ValueError: Other keys, an unknown kind, or a malformed id.
        """
        if not isinstance(data, Mapping):
            raise TypeError("a scope must be a mapping")
        if set(data) != {"kind", "id"} or data["kind"] not in _KINDS_BY_JSON:
            raise ValueError('a scope is {"kind": "channel" | "directory", "id": str}')
        return _cached_scope(_KINDS_BY_JSON[data["kind"]], data["id"])


@functools.lru_cache(maxsize=4096)
def _cached_scope(kind: ScopeKind, scope_id: str) -> Scope:
    # Scopes are immutable and every parsed message names one: reuse them instead of rebuilding
    # and re-checking the same few ids on every receive.
    return Scope(kind, scope_id)


def check_epoch(epoch: object) -> int:
    """Check an epoch number (an int in 0..2^32-1).

    Raises:
        TypeError: Not an int.
        ValueError: Out of range.
    """
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise TypeError(f"epoch must be an int, got {type(epoch).__name__}")
    if not 0 <= epoch <= MAX_EPOCH:
        raise ValueError(f"epoch must be in 0..{MAX_EPOCH}")
    return epoch


class ChannelKey:
    """The symmetric key of one scope (a channel or the directory) at one epoch.

    Args:
        scope: The channel (a `Scope` or a channel id) or a `Scope.directory(owner_id)`.
        epoch: The key epoch, 0..2^32-1.
        secret: The 32 random key bytes.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: The epoch is out of range or the secret is not 32 bytes.
    """

    __slots__ = ("aead", "context_prefix", "epoch", "scope", "secret")

    scope: Scope
    epoch: int
    secret: bytes
    aead: Aead
    """The AES-256-GCM primitive keyed with `secret`."""
    context_prefix: bytes
    """`scope.encoded || u32(epoch)`: how structures sealed under this key name it."""

    def __init__(self, scope: Scope | str, epoch: int, secret: bytes) -> None:
        object.__setattr__(self, "scope", Scope.coerce(scope))
        object.__setattr__(self, "epoch", check_epoch(epoch))
        object.__setattr__(self, "aead", Aead(secret))
        object.__setattr__(self, "secret", secret)
        object.__setattr__(self, "context_prefix", self.scope.encoded + epoch.to_bytes(4, "big"))

    @classmethod
    def generate(
        cls, scope: Scope | str, epoch: int = 0, *, rng: RandomSource = default_random
    ) -> ChannelKey:
        """A new random key for `scope` at `epoch`."""
        return cls(scope, epoch, rng(AEAD_KEY_LENGTH))

    def next_epoch(self, *, rng: RandomSource = default_random) -> ChannelKey:
        """A new random key for the same scope at the next epoch (after a removal, say).

        Raises:
            ValueError: This key is at the last epoch.
        """
        return ChannelKey(self.scope, self.epoch + 1, rng(AEAD_KEY_LENGTH))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ChannelKey is immutable")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ChannelKey)
            and self.scope == other.scope
            and self.epoch == other.epoch
            and hmac.compare_digest(self.secret, other.secret)
        )

    def __hash__(self) -> int:
        return hash((self.scope, self.epoch))

    def __repr__(self) -> str:
        # Never show the secret.
        return f"ChannelKey({self.scope!r}, epoch={self.epoch})"
