"""Thin, typed wrappers over the primitives that the safe layer is built from.

AES-256-GCM, X25519, HKDF-SHA256 and scrypt come from `cryptography` (OpenSSL); Ed25519 signing and
verification come from libsodium through PyNaCl, whose verification runs about twice as fast as
OpenSSL's on the reference machine (docs/perf-crypto.md) and which rejects small-order public keys,
small-order R and non-canonical S (strict RFC 8032 verification). Both produce the same RFC 8032
signatures byte for byte.

Each wrapper checks types and lengths when it is built, hides the library's own exception types
behind ours, and is tested against the published vectors (RFC 7748, 5869, 7914, 8032 and the GCM
specification). The safe layer (`dialtone.crypto.messages`, `.envelopes`, `.identity`) uses only
these, so the vectors exercise the same code paths the protocol runs.
"""

from __future__ import annotations

import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from nacl.bindings import (
    crypto_core_ed25519_is_valid_point,
    crypto_sign,
    crypto_sign_open,
    crypto_sign_seed_keypair,
)
from nacl.exceptions import BadSignatureError

from dialtone.crypto.encoding import RandomSource, default_random
from dialtone.crypto.errors import DecryptionError, InvalidSignature

__all__ = [
    "AEAD_KEY_LENGTH",
    "AEAD_NONCE_LENGTH",
    "AEAD_TAG_LENGTH",
    "ED25519_PUBLIC_LENGTH",
    "ED25519_SEED_LENGTH",
    "ED25519_SIGNATURE_LENGTH",
    "X25519_KEY_LENGTH",
    "Aead",
    "ExchangeKey",
    "SigningKey",
    "VerifyKey",
    "check_x25519_public",
    "hkdf_sha256",
    "is_low_order_x25519",
    "scrypt",
]

AEAD_KEY_LENGTH = 32
AEAD_NONCE_LENGTH = 12
AEAD_TAG_LENGTH = 16
ED25519_SEED_LENGTH = 32
ED25519_PUBLIC_LENGTH = 32
ED25519_SIGNATURE_LENGTH = 64
X25519_KEY_LENGTH = 32

_P = 2**255 - 19
# The u-coordinates of every point of small order on Curve25519 and its twist, reduced mod p:
# 0 (order 2 and 4), 1 (order 4), p-1 (order 4, twist) and the two of order 8. Any encoding
# (including non-canonical ones, u >= p) that reduces to one of these is rejected.
_LOW_ORDER_U = frozenset(
    {
        0,
        1,
        _P - 1,
        int.from_bytes(
            bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
            "little",
        ),
        int.from_bytes(
            bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
            "little",
        ),
    }
)
_ZERO32 = bytes(32)


def _check_bytes(value: object, length: int, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"{what} must be bytes, got {type(value).__name__}")
    if len(value) != length:
        raise ValueError(f"{what} must be {length} bytes, got {len(value)}")
    return value


class Aead:
    """AES-256-GCM with a 96-bit nonce and a 128-bit tag.

    Args:
        key: The 32-byte key.

    Raises:
        TypeError: `key` is not bytes.
        ValueError: `key` is not 32 bytes.
    """

    __slots__ = ("_aesgcm",)

    def __init__(self, key: bytes) -> None:
        self._aesgcm = AESGCM(_check_bytes(key, AEAD_KEY_LENGTH, "AES-256-GCM key"))

    def encrypt(self, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        """Return ciphertext followed by the 16-byte tag."""
        if len(nonce) != AEAD_NONCE_LENGTH:
            raise ValueError(f"nonce must be {AEAD_NONCE_LENGTH} bytes")
        return self._aesgcm.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, nonce: bytes, ciphertext: bytes, associated_data: bytes) -> bytes:
        """Authenticate and decrypt ciphertext-and-tag.

        Raises:
            DecryptionError: The tag does not verify (wrong key, nonce, data or associated data).
        """
        if len(nonce) != AEAD_NONCE_LENGTH or len(ciphertext) < AEAD_TAG_LENGTH:
            raise DecryptionError
        try:
            return self._aesgcm.decrypt(nonce, ciphertext, associated_data)
        except InvalidTag:
            raise DecryptionError from None


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) extract-and-expand.

    Args:
        ikm: Input keying material.
        salt: The salt; empty means HashLen zero bytes, as the RFC says.
        info: Context and application specific information.
        length: Output length in bytes, at most 255 * 32.

    Returns:
        `length` bytes of output keying material.
    """
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def scrypt(password: bytes, salt: bytes, *, n: int, r: int, p: int, length: int) -> bytes:
    """scrypt (RFC 7914).

    Args:
        password: The password bytes.
        salt: The salt bytes.
        n: CPU/memory cost, a power of two greater than 1.
        r: Block size.
        p: Parallelization.
        length: Output length in bytes.

    Returns:
        The derived key.

    Raises:
        ValueError: A parameter is out of range.
    """
    if n < 2 or n & (n - 1):
        raise ValueError("scrypt n must be a power of two greater than 1")
    return Scrypt(salt=salt, length=length, n=n, r=r, p=p).derive(password)


class VerifyKey:
    """An Ed25519 public key.

    Args:
        raw: The 32-byte encoded public key (RFC 8032).

    Raises:
        TypeError: `raw` is not bytes.
        ValueError: `raw` is not 32 bytes or not a valid point encoding.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = _check_bytes(raw, ED25519_PUBLIC_LENGTH, "Ed25519 public key")
        # A key that is not a canonical point of the prime-order subgroup (small order, off the
        # curve, non-canonical encoding) could never verify under libsodium: refuse it here.
        if not crypto_core_ed25519_is_valid_point(raw):
            raise ValueError("Ed25519 public key is not a valid point of prime order")

    def verify(self, signature: bytes, data: bytes, *, what: str = "signature") -> None:
        """Verify a signature (strict RFC 8032, libsodium).

        Raises:
            InvalidSignature: The signature is malformed or does not verify.
        """
        if len(signature) != ED25519_SIGNATURE_LENGTH:
            raise InvalidSignature(what)
        try:
            crypto_sign_open(signature + data, self.raw)
        except BadSignatureError:
            raise InvalidSignature(what) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyKey) and hmac.compare_digest(self.raw, other.raw)

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"VerifyKey({self.raw.hex()})"


class SigningKey:
    """An Ed25519 private key, kept as its 32-byte seed.

    Args:
        seed: The 32-byte seed (the RFC 8032 "secret key").

    Raises:
        TypeError: `seed` is not bytes.
        ValueError: `seed` is not 32 bytes.
    """

    __slots__ = ("_secret", "public_key")

    def __init__(self, seed: bytes) -> None:
        public, secret = crypto_sign_seed_keypair(
            _check_bytes(seed, ED25519_SEED_LENGTH, "Ed25519 seed")
        )
        # libsodium's 64-byte secret key is seed || public key.
        self._secret = secret
        self.public_key = VerifyKey(public)

    @classmethod
    def generate(cls, rng: RandomSource = default_random) -> SigningKey:
        """Make a new key from `rng`."""
        return cls(rng(ED25519_SEED_LENGTH))

    @property
    def seed(self) -> bytes:
        """The 32-byte seed; secret."""
        return self._secret[:ED25519_SEED_LENGTH]

    def sign(self, data: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of `data`."""
        return crypto_sign(data, self._secret)[:ED25519_SIGNATURE_LENGTH]

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public_key.raw.hex()})"


def is_low_order_x25519(public: bytes) -> bool:
    """Whether an X25519 public value is a point of small order (any encoding of it)."""
    u = int.from_bytes(public, "little") & ((1 << 255) - 1)
    return u % _P in _LOW_ORDER_U


def check_x25519_public(public: object, what: str = "X25519 public key") -> bytes:
    """Check an X25519 public key: bytes, 32 long, not of small order.

    Raises:
        TypeError: `public` is not bytes.
        ValueError: It is not 32 bytes or is a point of small order.
    """
    raw = _check_bytes(public, X25519_KEY_LENGTH, what)
    if is_low_order_x25519(raw):
        raise ValueError(f"{what} is a point of small order")
    return raw


class ExchangeKey:
    """An X25519 private key.

    Args:
        private: The 32-byte private scalar (clamped by X25519 itself, RFC 7748).

    Raises:
        TypeError: `private` is not bytes.
        ValueError: `private` is not 32 bytes.
    """

    __slots__ = ("_key", "public_bytes")

    def __init__(self, private: bytes) -> None:
        self._key = X25519PrivateKey.from_private_bytes(
            _check_bytes(private, X25519_KEY_LENGTH, "X25519 private key")
        )
        self.public_bytes: bytes = self._key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls, rng: RandomSource = default_random) -> ExchangeKey:
        """Make a new key from `rng`."""
        return cls(rng(X25519_KEY_LENGTH))

    @property
    def private_bytes(self) -> bytes:
        """The 32-byte private key as given; secret."""
        return self._key.private_bytes_raw()

    def exchange(self, peer_public: bytes) -> bytes:
        """X25519 with a peer's public key.

        Raises:
            ValueError: The peer key is of small order, or the shared secret is all zero.
        """
        peer = check_x25519_public(peer_public, "peer X25519 public key")
        try:
            shared = self._key.exchange(X25519PublicKey.from_public_bytes(peer))
        except ValueError:
            raise ValueError("X25519 shared secret is all zero") from None
        # OpenSSL already refuses an all-zero result; checked again so the rule does not rest on
        # one library's behaviour.
        if hmac.compare_digest(shared, _ZERO32):
            raise ValueError("X25519 shared secret is all zero")
        return shared

    def __repr__(self) -> str:
        return f"ExchangeKey(public={self.public_bytes.hex()})"
