"""The exceptions of dialtone-crypto.

Parsing problems (a wrong type, a wrong length, a malformed encoding) raise the built-in `TypeError`
or `ValueError` where the object is built. Everything that goes wrong *after* an object was well
formed falls in one of three classes, so a client can tell them apart without reading messages:

- `DecryptionError`: something does not authenticate. It is deliberately opaque: a wrong key, a
  ciphertext moved to another channel, epoch, field, message or sender, a flipped bit, bad
  padding, or an envelope addressed to another device all look the same.
- `InvalidSignature`: a signature does not verify under the key it should have been made with.
- `MissingKeyError`: the caller does not hold the key needed (no channel key for that epoch, no
  public bundle for that device). Nothing was checked, so nothing is known to be wrong.
"""

from __future__ import annotations

__all__ = ["CryptoError", "DecryptionError", "InvalidSignature", "MissingKeyError"]


class CryptoError(Exception):
    """Base class of the errors raised after parsing succeeded."""


class DecryptionError(CryptoError):
    """A sealed field or an envelope did not authenticate. Carries no detail on purpose."""

    def __init__(self) -> None:
        super().__init__("decryption failed")


class InvalidSignature(CryptoError):  # noqa: N818 - named like cryptography's own
    """A signature does not verify under the sending device's key."""

    def __init__(self, what: str = "signature") -> None:
        super().__init__(f"invalid {what}")


class MissingKeyError(CryptoError, LookupError):
    """The key needed to open or verify something is not held by the caller."""
