"""Local sealing: data a device keeps at rest on its own machine, readable only with its keys.

A client keeps some state outside its keystore (an offline queue, a cache) that must not be
readable without the keystore's passphrase, nor be swapped for the same kind of file of another
profile. `seal_local` encrypts such data with AES-256-GCM under a key derived (HKDF-SHA256) from the
device's private keys, a *label* naming what the data is, and a *context* naming whose it is; the
associated data binds the format version, the label and the context, so a file opens only for the
same device, label and context. `open_local` reverses it; every failure is one `DecryptionError`.
The layout is in docs/protocol-crypto.md ("Local sealing").

Nothing here leaves the device, so the key is never shared: each sealed value has its own random
nonce, which bounds one key to about 2^32 seals (NIST SP 800-38D), far beyond what a client writes.
"""

from __future__ import annotations

from typing import Final

from dialtone.crypto.encoding import RandomSource, check_id, default_random
from dialtone.crypto.errors import DecryptionError
from dialtone.crypto.identity import FORMAT_VERSION, DeviceIdentity
from dialtone.crypto.primitives import (
    AEAD_KEY_LENGTH,
    AEAD_NONCE_LENGTH,
    AEAD_TAG_LENGTH,
    Aead,
    hkdf_sha256,
)

__all__ = ["LOCAL_OVERHEAD", "MAX_LOCAL_CONTEXT", "open_local", "seal_local"]

#: Longest context, in bytes (it is length-prefixed with two bytes).
MAX_LOCAL_CONTEXT: Final = 0xFFFF
#: Bytes `seal_local` adds to the plaintext: the version byte, the nonce and the tag.
LOCAL_OVERHEAD: Final = 1 + AEAD_NONCE_LENGTH + AEAD_TAG_LENGTH

_KEY_LABEL: Final = b"dialtone/v1/local-key\x00"
_AD_LABEL: Final = b"dialtone/v1/local\x00"
_VERSION: Final = bytes((FORMAT_VERSION,))


def _binding(label: str, context: bytes) -> bytes:
    """lp(label) || u16(context length) || context."""
    encoded = check_id(label, "label")
    if not isinstance(context, bytes):
        raise TypeError(f"context must be bytes, got {type(context).__name__}")
    if len(context) > MAX_LOCAL_CONTEXT:
        raise ValueError(f"context must be at most {MAX_LOCAL_CONTEXT} bytes, got {len(context)}")
    return bytes((len(encoded),)) + encoded + len(context).to_bytes(2, "big") + context


def _aead(identity: DeviceIdentity, binding: bytes) -> Aead:
    if not isinstance(identity, DeviceIdentity):
        raise TypeError(f"identity must be a DeviceIdentity, got {type(identity).__name__}")
    key = hkdf_sha256(
        identity.private_bytes(), salt=b"", info=_KEY_LABEL + binding, length=AEAD_KEY_LENGTH
    )
    return Aead(key)


def seal_local(
    identity: DeviceIdentity,
    label: str,
    context: bytes,
    plaintext: bytes,
    *,
    rng: RandomSource = default_random,
) -> bytes:
    """Encrypt data this device keeps at rest, bound to what it is and whose it is.

    Args:
        identity: This device's keys; the encryption key is derived from its private keys.
        label: What the data is, an identifier (1 to 128 printable ASCII characters without
            spaces), for example ``"dialtone-client/outbox"``. Different labels give unrelated keys.
        context: Whose the data is (for example the server, user and device it belongs to), at
            most `MAX_LOCAL_CONTEXT` bytes; opening needs the same bytes.
        plaintext: The data.
        rng: The source of the nonce (tests pass a deterministic one).

    Returns:
        ``0x01 || nonce (12) || ciphertext || tag (16)``: `LOCAL_OVERHEAD` bytes longer than
        `plaintext`.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: `label` is not an identifier, or `context` is too long.
    """
    binding = _binding(label, context)
    aead = _aead(identity, binding)
    if not isinstance(plaintext, bytes):
        raise TypeError(f"plaintext must be bytes, got {type(plaintext).__name__}")
    nonce = rng(AEAD_NONCE_LENGTH)
    return _VERSION + nonce + aead.encrypt(nonce, plaintext, _AD_LABEL + _VERSION + binding)


def open_local(identity: DeviceIdentity, label: str, context: bytes, sealed: bytes) -> bytes:
    """Decrypt what `seal_local` sealed with the same device, label and context.

    Args:
        identity: This device's keys.
        label: The label it was sealed with.
        context: The context it was sealed with.
        sealed: The output of `seal_local`.

    Returns:
        The plaintext.

    Raises:
        DecryptionError: It does not open: another device's keys, another label or context, an
            altered, truncated or extended value, or an unknown format version. No detail, on
            purpose.
        TypeError: An argument has the wrong type.
        ValueError: `label` is not an identifier, or `context` is too long.
    """
    binding = _binding(label, context)
    aead = _aead(identity, binding)
    if not isinstance(sealed, bytes):
        raise TypeError(f"sealed must be bytes, got {type(sealed).__name__}")
    if len(sealed) < LOCAL_OVERHEAD or sealed[:1] != _VERSION:
        raise DecryptionError
    nonce, ciphertext = sealed[1 : 1 + AEAD_NONCE_LENGTH], sealed[1 + AEAD_NONCE_LENGTH :]
    return aead.decrypt(nonce, ciphertext, _AD_LABEL + _VERSION + binding)
