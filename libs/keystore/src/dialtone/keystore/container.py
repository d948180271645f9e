"""The sealed container shared by keystore files and device-key exports (format version 1).

Layout (all integers big-endian; docs/protocol-keystore.md is the normative description)::

    offset  size  field
    0       8     magic: b"DTKSTORE" (keystore) or b"DTKEXPRT" (device-key export)
    8       1     format version = 1
    9       1     KDF id = 1 (scrypt)
    10      1     payload encoding = 1 (UTF-8 JSON)
    11      1     scrypt log2(N)
    12      4     scrypt r
    16      4     scrypt p
    20      16    salt
    36      12    AES-GCM nonce
    48      16    key check
    64      n+16  AES-256-GCM ciphertext of the payload, with its 16-byte tag;
                  associated data = bytes 0..63 (the whole header)
    end-32  32    SHA-256 of every preceding byte

The trailing SHA-256 is unkeyed on purpose: it tells accidental damage (a flipped bit, a truncated
copy) apart from a wrong passphrase before any key is derived. The key check, derived from the
passphrase, then tells a wrong passphrase apart from a deliberately modified file, which only the
AEAD tag catches. The header is the AEAD's associated data, so parameters, salt, kind or version
cannot be swapped without detection.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
import unicodedata
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dialtone.keystore.errors import KeystoreCorrupt, UnsupportedFormat, WrongPassphrase
from dialtone.keystore.params import ScryptParams

FORMAT_VERSION = 1
KDF_SCRYPT = 1
PAYLOAD_JSON = 1

SALT_SIZE = 16
NONCE_SIZE = 12
KEY_CHECK_SIZE = 16
TAG_SIZE = 16
CHECKSUM_SIZE = 32
MAGIC_SIZE = 8

_HEADER = struct.Struct(">8sBBBBII16s12s16s")
HEADER_SIZE = _HEADER.size
MIN_FILE_SIZE = HEADER_SIZE + TAG_SIZE + CHECKSUM_SIZE
#: Files larger than this are refused unread: a keystore holds kilobytes, and reading a huge file
#: into memory would be a cheap denial of service.
MAX_FILE_SIZE = 64 << 20

_INFO_AEAD_KEY = b"dialtone-keystore/v1/aead-key"
_INFO_KEY_CHECK = b"dialtone-keystore/v1/key-check"


class FileKind(enum.Enum):
    """What a sealed file holds, told apart by its magic."""

    KEYSTORE = b"DTKSTORE"
    DEVICE_EXPORT = b"DTKEXPRT"

    @property
    def label(self) -> str:
        """A human name for messages."""
        return "keystore" if self is FileKind.KEYSTORE else "device-key export"


@dataclass(frozen=True, slots=True)
class SecretKeys:
    """The keys derived from a passphrase: the AEAD key and the stored key check."""

    aead_key: bytes = field(repr=False)
    key_check: bytes


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed container header (the first HEADER_SIZE bytes)."""

    kind: FileKind
    params: ScryptParams
    salt: bytes
    nonce: bytes
    key_check: bytes

    def pack(self) -> bytes:
        """Encode the header; these bytes are also the AEAD associated data."""
        return _HEADER.pack(
            self.kind.value,
            FORMAT_VERSION,
            KDF_SCRYPT,
            PAYLOAD_JSON,
            self.params.log2_n,
            self.params.r,
            self.params.p,
            self.salt,
            self.nonce,
            self.key_check,
        )


def encode_passphrase(passphrase: str) -> bytes:
    """Turn a passphrase into the scrypt password bytes: Unicode NFC, then UTF-8.

    NFC makes the same passphrase typed through different input methods (a precomposed "é" or
    "e" plus a combining accent) unlock the same file.

    Raises:
        TypeError: the passphrase is not a str.
        ValueError: it cannot be encoded as UTF-8 (a lone surrogate).
    """
    if not isinstance(passphrase, str):
        raise TypeError(f"passphrase must be a str, not {type(passphrase).__name__}")
    try:
        return unicodedata.normalize("NFC", passphrase).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("passphrase is not valid Unicode text") from exc


def derive_keys(passphrase: str, salt: bytes, params: ScryptParams) -> SecretKeys:
    """Derive the AEAD key and key check from a passphrase.

    master = scrypt(NFC-UTF-8(passphrase), salt, N, r, p, 32 bytes); then HKDF-Expand-SHA256 of
    master with two fixed labels gives the 32-byte AEAD key and the 16-byte key check.

    Args:
        passphrase: the passphrase.
        salt: the 16-byte salt.
        params: scrypt cost parameters.

    Returns:
        The derived keys.

    Raises:
        TypeError: the passphrase is not a str.
        ValueError: the salt has the wrong length, or the passphrase is not valid Unicode.
    """
    if len(salt) != SALT_SIZE:
        raise ValueError(f"salt must be {SALT_SIZE} bytes")
    master = Scrypt(salt=salt, length=32, n=params.n, r=params.r, p=params.p).derive(
        encode_passphrase(passphrase)
    )
    aead_key = HKDFExpand(hashes.SHA256(), 32, _INFO_AEAD_KEY).derive(master)
    key_check = HKDFExpand(hashes.SHA256(), KEY_CHECK_SIZE, _INFO_KEY_CHECK).derive(master)
    return SecretKeys(aead_key=aead_key, key_check=key_check)


def seal(
    kind: FileKind,
    payload: bytes,
    keys: SecretKeys,
    *,
    salt: bytes,
    params: ScryptParams,
    nonce: bytes,
) -> bytes:
    """Build a complete container file.

    Args:
        kind: what the file holds (sets the magic).
        payload: the plaintext (UTF-8 JSON).
        keys: keys derived from the passphrase with ``salt`` and ``params``.
        salt: the salt the keys were derived with.
        params: the scrypt parameters the keys were derived with.
        nonce: a fresh 12-byte nonce, never used before with these keys.

    Returns:
        The file's bytes.

    Raises:
        ValueError: the nonce has the wrong length.
    """
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"nonce must be {NONCE_SIZE} bytes")
    header = Header(kind, params, salt, nonce, keys.key_check).pack()
    body = header + AESGCM(keys.aead_key).encrypt(nonce, payload, header)
    return body + hashlib.sha256(body).digest()


def parse_header(data: bytes, kind: FileKind) -> Header:
    """Check everything that can be checked without the passphrase and parse the header.

    Args:
        data: the whole file.
        kind: the kind of file expected.

    Returns:
        The parsed header.

    Raises:
        KeystoreCorrupt: wrong magic, truncated, checksum mismatch, or impossible field values.
        UnsupportedFormat: an intact file of an unknown version, KDF or payload encoding.
    """
    label = kind.label
    if len(data) < MAGIC_SIZE:
        raise KeystoreCorrupt(f"{label} file is truncated ({len(data)} bytes)")
    magic = data[:MAGIC_SIZE]
    if magic != kind.value:
        for other in FileKind:
            if magic == other.value:
                raise KeystoreCorrupt(f"this file is a {other.label}, not a {label}")
        raise KeystoreCorrupt(f"not a Dialtone {label} file (unknown magic)")
    if len(data) < MIN_FILE_SIZE:
        raise KeystoreCorrupt(f"{label} file is truncated ({len(data)} bytes)")
    body, checksum = data[:-CHECKSUM_SIZE], data[-CHECKSUM_SIZE:]
    if not hmac.compare_digest(hashlib.sha256(body).digest(), checksum):
        raise KeystoreCorrupt(f"{label} file is damaged or truncated (checksum mismatch)")
    _, version, kdf, encoding, log2_n, r, p, salt, nonce, key_check = _HEADER.unpack_from(data)
    if version != FORMAT_VERSION:
        raise UnsupportedFormat(f"{label} format version {version} is not supported")
    if kdf != KDF_SCRYPT:
        raise UnsupportedFormat(f"{label} KDF id {kdf} is not supported")
    if encoding != PAYLOAD_JSON:
        raise UnsupportedFormat(f"{label} payload encoding {encoding} is not supported")
    try:
        params = ScryptParams(log2_n=log2_n, r=r, p=p)
    except ValueError as exc:
        raise KeystoreCorrupt(f"{label} has unusable scrypt parameters: {exc}") from exc
    return Header(kind, params, salt, nonce, key_check)


def check_passphrase(header: Header, passphrase: str) -> SecretKeys:
    """Derive keys for ``header`` and check them against its key check.

    Returns:
        The derived keys.

    Raises:
        WrongPassphrase: the passphrase does not match.
        TypeError: the passphrase is not a str.
    """
    try:
        keys = derive_keys(passphrase, header.salt, header.params)
    except ValueError as exc:
        # Only an unencodable passphrase gets here (the salt length is fixed by the layout), and
        # such a passphrase can never have created the file.
        raise WrongPassphrase(f"wrong passphrase for this {header.kind.label}") from exc
    if not hmac.compare_digest(keys.key_check, header.key_check):
        raise WrongPassphrase(f"wrong passphrase for this {header.kind.label}")
    return keys


def open_with_keys(data: bytes, header: Header, keys: SecretKeys) -> bytes:
    """Decrypt and authenticate a container whose header was parsed with :func:`parse_header`.

    Returns:
        The plaintext payload.

    Raises:
        KeystoreCorrupt: authentication failed although the key check matched, i.e. the file was
            modified by someone who recomputed the checksum.
    """
    ciphertext = data[HEADER_SIZE:-CHECKSUM_SIZE]
    try:
        return AESGCM(keys.aead_key).decrypt(header.nonce, ciphertext, data[:HEADER_SIZE])
    except InvalidTag:
        raise KeystoreCorrupt(
            f"{header.kind.label} failed authentication: the file was modified"
        ) from None


def unseal(data: bytes, kind: FileKind, passphrase: str) -> tuple[bytes, Header, SecretKeys]:
    """Parse, unlock and decrypt a whole container file.

    Args:
        data: the whole file.
        kind: the kind of file expected.
        passphrase: the passphrase.

    Returns:
        The plaintext payload, the parsed header and the derived keys.

    Raises:
        KeystoreCorrupt: the file is damaged or was modified.
        UnsupportedFormat: an intact file of an unknown version or algorithm.
        WrongPassphrase: the passphrase does not unlock the file.
    """
    header = parse_header(data, kind)
    keys = check_passphrase(header, passphrase)
    return open_with_keys(data, header, keys), header, keys
