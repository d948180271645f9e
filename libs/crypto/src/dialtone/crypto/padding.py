"""Length-hiding padding applied to every plaintext before it is sealed.

Scheme (ISO/IEC 7816-4 style, bucketed): append one 0x80 byte, then zero bytes up to the bucket
size. The bucket is the smallest power of two that is at least `MIN_BUCKET` and holds the
plaintext plus the 0x80 marker; the largest bucket is `MAX_BUCKET`. So a sealed field tells the
server only which power of two its plaintext length falls under, never the length itself.

| plaintext bytes | padded to |
| --------------- | --------- |
| 0 - 31          | 32        |
| 32 - 63         | 64        |
| 64 - 127        | 128       |
| ...             | ...       |
| 32768 - 65535   | 65536     |

Opening checks that the padded length is a bucket size and that the last non-zero byte is 0x80;
anything else is a `DecryptionError` (it can only happen to a ciphertext that authenticated, so a
broken sender, never a padding oracle).
"""

from __future__ import annotations

from dialtone.crypto.errors import DecryptionError

__all__ = [
    "MAX_BUCKET",
    "MAX_PLAINTEXT",
    "MIN_BUCKET",
    "bucket_size",
    "is_bucket_size",
    "pad",
    "unpad",
]

MIN_BUCKET = 32
MAX_BUCKET = 65536
#: The longest plaintext that can be sealed, in bytes.
MAX_PLAINTEXT = MAX_BUCKET - 1

_MARKER = b"\x80"


def bucket_size(plaintext_length: int) -> int:
    """The padded length for a plaintext of `plaintext_length` bytes.

    Raises:
        ValueError: The plaintext is longer than `MAX_PLAINTEXT`.
    """
    if plaintext_length > MAX_PLAINTEXT:
        raise ValueError(f"plaintext is {plaintext_length} bytes, the limit is {MAX_PLAINTEXT}")
    return max(MIN_BUCKET, 1 << plaintext_length.bit_length())


def is_bucket_size(length: int) -> bool:
    """Whether `length` is one of the padded lengths."""
    return MIN_BUCKET <= length <= MAX_BUCKET and length & (length - 1) == 0


def pad(plaintext: bytes) -> bytes:
    """Pad `plaintext` to its bucket.

    Raises:
        ValueError: The plaintext is longer than `MAX_PLAINTEXT`.
    """
    return (plaintext + _MARKER).ljust(bucket_size(len(plaintext)), b"\x00")


def unpad(padded: bytes) -> bytes:
    """Remove and check the padding.

    Raises:
        DecryptionError: The length is not a bucket size or the padding is malformed.
    """
    if not is_bucket_size(len(padded)):
        raise DecryptionError
    stripped = padded.rstrip(b"\x00")
    if not stripped.endswith(_MARKER):
        raise DecryptionError
    plaintext = stripped[:-1]
    # A padded value that is bigger than needed (e.g. 10 bytes padded to 64) is not what `pad`
    # makes; refusing it keeps one encoding per plaintext.
    if bucket_size(len(plaintext)) != len(padded):
        raise DecryptionError
    return plaintext
