"""Server-side account helpers: username normalization and hashing, passwords, tokens.

None of this is end-to-end cryptography; it is what a server needs to store accounts without
keeping usernames, passwords or session tokens in the clear.

Usernames
    `normalize_username` applies Unicode NFKC, then case folding, then NFKC again (case folding
    can undo NFKC), and then requires 3 to 32 characters from ``a-z 0-9 . _ -`` that begin and
    end with a letter or digit. Input over 256 characters is refused before normalizing. So
    "alice" with a fullwidth A (U+FF21), "ALICE" and "alice" are one user, and look-alike
    letters from other scripts are refused rather than mapped. `username_hash` is HMAC-SHA256
    keyed with a server-wide secret pepper over the normalized name's ASCII bytes.

Passwords
    scrypt (RFC 7914) over the password's NFKC form in UTF-8, with a 16-byte random salt and a
    32-byte output, stored as a PHC-format string::

        $scrypt$ln=17,r=8,p=1$<salt, base64 without padding>$<hash, base64 without padding>

    `PasswordParams.DEFAULT` (N=2^17, r=8, p=1: 128 MiB, about 0.45 s on one core here) is the
    OWASP-recommended minimum for scrypt. Hashing blocks for that long: call it from a thread
    pool (``loop.run_in_executor``), never on the event loop. `PasswordParams.TESTING` is for
    test suites only.

Tokens
    `new_token` makes URL-safe random tokens, `token_digest` is what a server stores (SHA-256, so
    a database leak yields no usable session), and `tokens_equal` compares in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import ClassVar, Final

from dialtone.crypto.primitives import scrypt

__all__ = [
    "PASSWORD_MAX_BYTES",
    "USERNAME_MAX_LENGTH",
    "USERNAME_MIN_LENGTH",
    "InvalidPasswordHash",
    "InvalidUsername",
    "PasswordParams",
    "hash_password",
    "new_token",
    "normalize_username",
    "password_needs_rehash",
    "token_digest",
    "tokens_equal",
    "username_hash",
    "verify_password",
]

USERNAME_MIN_LENGTH: Final = 3
USERNAME_MAX_LENGTH: Final = 32
_USERNAME_MAX_INPUT: Final = 256
_USERNAME_PATTERN: Final = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")
_PEPPER_MIN_BYTES: Final = 16

#: Longest password accepted, in UTF-8 bytes after NFKC.
PASSWORD_MAX_BYTES: Final = 4096
_SALT_BYTES: Final = 16
_HASH_BYTES: Final = 32
# Bytes scrypt may use (128 * r * N): bounds what verifying a stored string can cost.
_MAX_MEMORY: Final = 1 << 30
_PHC_PATTERN: Final = re.compile(
    r"\$scrypt\$ln=(0|[1-9][0-9]?),r=(0|[1-9][0-9]{0,2}),p=(0|[1-9][0-9]{0,2})"
    r"\$([A-Za-z0-9+/]{11,86})\$([A-Za-z0-9+/]{22,86})"
)
_TOKEN_MIN_BYTES: Final = 16


class InvalidUsername(ValueError):  # noqa: N818 - the name the server codes against
    """A username is empty, too long, or has characters outside the allowed set."""


class InvalidPasswordHash(ValueError):  # noqa: N818 - pairs with InvalidUsername
    """An encoded password hash is not a string `hash_password` makes."""


def normalize_username(name: str) -> str:
    """The canonical form of a username (see the module docstring for the rules).

    Args:
        name: The username as typed.

    Returns:
        The normalized username: 3-32 characters from ``a-z 0-9 . _ -``.

    Raises:
        TypeError: `name` is not a str.
        InvalidUsername: The name breaks the rules after normalization.
    """
    if not isinstance(name, str):
        raise TypeError(f"username must be a str, got {type(name).__name__}")
    if len(name) > _USERNAME_MAX_INPUT:
        raise InvalidUsername(f"a username has at most {USERNAME_MAX_LENGTH} characters")
    normalized = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    if not USERNAME_MIN_LENGTH <= len(normalized) <= USERNAME_MAX_LENGTH:
        raise InvalidUsername(
            f"a username has {USERNAME_MIN_LENGTH} to {USERNAME_MAX_LENGTH} characters"
        )
    if not _USERNAME_PATTERN.fullmatch(normalized):
        raise InvalidUsername(
            "a username uses only letters a-z, digits, '.', '_' and '-', "
            "and begins and ends with a letter or digit"
        )
    return normalized


def username_hash(pepper: bytes, username: str) -> bytes:
    """HMAC-SHA256 of the normalized username, keyed with the server's pepper.

    Args:
        pepper: The server-wide secret, at least 16 bytes (32 random bytes recommended).
        username: The username as typed; it is normalized first.

    Returns:
        32 bytes.

    Raises:
        TypeError: `pepper` is not bytes or `username` is not a str.
        ValueError: The pepper is shorter than 16 bytes.
        InvalidUsername: As `normalize_username`.
    """
    if not isinstance(pepper, bytes):
        raise TypeError("pepper must be bytes")
    if len(pepper) < _PEPPER_MIN_BYTES:
        raise ValueError(f"pepper must be at least {_PEPPER_MIN_BYTES} bytes")
    normalized = normalize_username(username)
    return hmac.new(pepper, normalized.encode("ascii"), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class PasswordParams:
    """scrypt cost parameters.

    Attributes:
        log2_n: log2 of the CPU/memory cost N, 1-24 (and below 16 * r, as RFC 7914 requires).
        r: Block size, 1-255.
        p: Parallelization, 1-255.

    Raises:
        TypeError: A value is not an int.
        ValueError: A value is out of range, or the settings need over 1 GiB of memory.
    """

    log2_n: int
    r: int
    p: int

    DEFAULT: ClassVar[PasswordParams]
    """N=2^17, r=8, p=1: 128 MiB, the OWASP minimum for scrypt. For production."""
    TESTING: ClassVar[PasswordParams]
    """N=2^4, r=8, p=1: well under a millisecond. For test suites only, never in production."""

    def __post_init__(self) -> None:
        for name in ("log2_n", "r", "p"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int")
        if not 1 <= self.log2_n <= 24 or self.log2_n >= 16 * self.r:
            raise ValueError("log2_n must be in 1..24 and below 16 * r")
        if not 1 <= self.r <= 255 or not 1 <= self.p <= 255:
            raise ValueError("r and p must be in 1..255")
        if 128 * self.r * (1 << self.log2_n) > _MAX_MEMORY:
            raise ValueError("these scrypt parameters need over 1 GiB of memory")

    @property
    def n(self) -> int:
        """N itself."""
        return 1 << self.log2_n


PasswordParams.DEFAULT = PasswordParams(log2_n=17, r=8, p=1)
PasswordParams.TESTING = PasswordParams(log2_n=4, r=8, p=1)


def _password_bytes(password: object) -> bytes:
    if not isinstance(password, str):
        raise TypeError(f"password must be a str, got {type(password).__name__}")
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    if _b64encode(data) != text:
        raise ValueError("non-canonical base64")
    return data


def _encode(params: PasswordParams, salt: bytes, digest: bytes) -> str:
    return (
        f"$scrypt$ln={params.log2_n},r={params.r},p={params.p}"
        f"${_b64encode(salt)}${_b64encode(digest)}"
    )


def _decode(encoded: str) -> tuple[PasswordParams, bytes, bytes]:
    if not isinstance(encoded, str):
        raise TypeError(f"encoded password hash must be a str, got {type(encoded).__name__}")
    match = _PHC_PATTERN.fullmatch(encoded)
    if match is None:
        raise InvalidPasswordHash("not a $scrypt$ password hash made by this library")
    log2_n, r, p, salt_text, digest_text = match.groups()
    try:
        params = PasswordParams(log2_n=int(log2_n), r=int(r), p=int(p))
        salt = _b64decode(salt_text)
        digest = _b64decode(digest_text)
    except (ValueError, binascii.Error) as exc:
        raise InvalidPasswordHash(f"malformed $scrypt$ password hash: {exc}") from None
    return params, salt, digest


def _derive(password: bytes, salt: bytes, params: PasswordParams, length: int) -> bytes:
    return scrypt(password, salt, n=params.n, r=params.r, p=params.p, length=length)


def hash_password(password: str, *, params: PasswordParams | None = None) -> str:
    """Hash a password for storage. CPU- and memory-heavy: run it in a thread pool.

    Args:
        password: The password.
        params: scrypt parameters; `PasswordParams.DEFAULT` if None.

    Returns:
        A PHC-format string (``$scrypt$ln=...,r=...,p=...$salt$hash``) holding parameters and salt.

    Raises:
        TypeError: `password` is not a str or `params` not a `PasswordParams`.
        ValueError: The password is over `PASSWORD_MAX_BYTES` UTF-8 bytes.
    """
    params = PasswordParams.DEFAULT if params is None else params
    if not isinstance(params, PasswordParams):
        raise TypeError("params must be a PasswordParams")
    secret = _password_bytes(password)
    if len(secret) > PASSWORD_MAX_BYTES:
        raise ValueError(f"a password has at most {PASSWORD_MAX_BYTES} bytes")
    salt = secrets.token_bytes(_SALT_BYTES)
    return _encode(params, salt, _derive(secret, salt, params, _HASH_BYTES))


def verify_password(password: str, encoded: str) -> bool:
    """Check a password against a stored hash, in constant time.

    Args:
        password: The password to check.
        encoded: A string made by `hash_password`.

    Returns:
        True if the password matches, False if not.

    Raises:
        TypeError: An argument is not a str.
        InvalidPasswordHash: `encoded` is malformed (a stored-data problem, not a wrong password).
    """
    params, salt, digest = _decode(encoded)
    secret = _password_bytes(password)
    if len(secret) > PASSWORD_MAX_BYTES:
        return False
    return hmac.compare_digest(_derive(secret, salt, params, len(digest)), digest)


def password_needs_rehash(encoded: str, *, params: PasswordParams | None = None) -> bool:
    """Whether a stored hash was made with other parameters than `params` (default: DEFAULT).

    Call after a successful `verify_password` and, if True, store `hash_password(password)`.

    Raises:
        TypeError: `encoded` is not a str.
        InvalidPasswordHash: `encoded` is malformed.
    """
    wanted = PasswordParams.DEFAULT if params is None else params
    stored, salt, digest = _decode(encoded)
    return stored != wanted or len(salt) != _SALT_BYTES or len(digest) != _HASH_BYTES


def _token_bytes(value: object, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise TypeError(f"{what} must be str or bytes, got {type(value).__name__}")


def tokens_equal(a: str | bytes, b: str | bytes) -> bool:
    """Compare two tokens in time independent of where they differ (str is compared as UTF-8).

    Raises:
        TypeError: An argument is neither str nor bytes.
    """
    return hmac.compare_digest(_token_bytes(a, "a"), _token_bytes(b, "b"))


def new_token(nbytes: int = 32) -> str:
    """A random URL-safe token with `nbytes` bytes of entropy (at least 16).

    Raises:
        TypeError: `nbytes` is not an int.
        ValueError: `nbytes` is below 16.
    """
    if not isinstance(nbytes, int) or isinstance(nbytes, bool):
        raise TypeError("nbytes must be an int")
    if nbytes < _TOKEN_MIN_BYTES:
        raise ValueError(f"a token needs at least {_TOKEN_MIN_BYTES} random bytes")
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> bytes:
    """SHA-256 of a token's UTF-8 bytes: what to store for session and invite tokens.

    Raises:
        TypeError: `token` is not a str.
    """
    if not isinstance(token, str):
        raise TypeError(f"token must be a str, got {type(token).__name__}")
    return hashlib.sha256(token.encode("utf-8")).digest()
