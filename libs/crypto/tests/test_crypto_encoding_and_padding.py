"""base64url, identifiers and length-hiding padding."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialtone.crypto import DecryptionError, b64url_decode, b64url_encode
from dialtone.crypto.encoding import MAX_ID_LENGTH, check_id
from dialtone.crypto.padding import (
    MAX_BUCKET,
    MAX_PLAINTEXT,
    MIN_BUCKET,
    bucket_size,
    is_bucket_size,
    pad,
    unpad,
)


@given(st.binary(max_size=200))
def test_b64url_round_trips_without_padding(data: bytes) -> None:
    text = b64url_encode(data)
    assert not set(text) & set("=+/")
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    ["AA==", "A", "AB+/", "AB c", "AB\n", "AB=", "AQ=", "AB"],
    ids=["padded", "one-char", "std-alphabet", "space", "newline", "pad-3", "pad-2", "stray-bits"],
)
def test_b64url_decode_refuses_non_canonical_text(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(st.text(alphabet=B64URL_ALPHABET, max_size=12).filter(lambda t: len(t) % 4 != 1))
def test_b64url_decode_accepts_exactly_the_canonical_texts(text: str) -> None:
    padded = text + "=" * (-len(text) % 4)
    canonical = b64url_encode(base64.urlsafe_b64decode(padded)) == text
    try:
        b64url_decode(text)
    except ValueError:
        assert not canonical
    else:
        assert canonical


def test_b64url_decode_checks_length_when_asked() -> None:
    assert b64url_decode(b64url_encode(bytes(32)), length=32) == bytes(32)
    with pytest.raises(ValueError, match="expected 32 bytes"):
        b64url_decode(b64url_encode(bytes(31)), length=32)


def test_b64url_refuses_wrong_types() -> None:
    with pytest.raises(TypeError):
        b64url_encode("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b64url_decode(b"AAAA")  # type: ignore[arg-type]


def test_identifiers_are_printable_ascii_without_spaces() -> None:
    assert check_id("general", "id") == b"general"
    assert check_id("x" * MAX_ID_LENGTH, "id") == b"x" * MAX_ID_LENGTH
    for bad in ["", "x" * (MAX_ID_LENGTH + 1), "two words", "caf\u00e9", "tab\there", "nl\n"]:
        with pytest.raises(ValueError, match="id must be"):
            check_id(bad, "id")
    with pytest.raises(TypeError):
        check_id(42, "id")


@pytest.mark.parametrize(
    ("length", "bucket"),
    [
        (0, 32),
        (31, 32),
        (32, 64),
        (63, 64),
        (64, 128),
        (200, 256),
        (255, 256),
        (256, 512),
        (MAX_PLAINTEXT, MAX_BUCKET),
    ],
)
def test_bucket_sizes_follow_the_documented_scheme(length: int, bucket: int) -> None:
    assert bucket_size(length) == bucket
    assert len(pad(bytes(length))) == bucket


def test_plaintexts_over_the_limit_are_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        pad(bytes(MAX_PLAINTEXT + 1))


def test_only_powers_of_two_in_range_are_bucket_sizes() -> None:
    sizes = {n for n in range(MAX_BUCKET + 2) if is_bucket_size(n)}
    assert sizes == {1 << k for k in range(5, 17)}
    assert MIN_BUCKET == 32


@given(st.binary(max_size=3000))
def test_padding_round_trips_and_hides_length_within_a_bucket(data: bytes) -> None:
    padded = pad(data)
    assert is_bucket_size(len(padded))
    assert padded[len(data)] == 0x80
    assert not any(padded[len(data) + 1 :])
    assert unpad(padded) == data


@pytest.mark.parametrize(
    "padded",
    [
        bytes(32),  # no marker at all
        b"abc" + bytes(29),  # no marker
        b"abc\x80" + bytes(27) + b"\x01",  # non-zero after the marker
        b"abc\x80" + bytes(29),  # 33 bytes: not a bucket size
        b"abc\x80" + bytes(60),  # 64 bytes for a 3-byte plaintext: not what pad makes
        b"abc\x80" + bytes(12),  # 16 bytes: below the smallest bucket
    ],
    ids=["zeros", "no-marker", "junk-after-marker", "odd-length", "oversized", "too-short"],
)
def test_unpad_refuses_malformed_padding(padded: bytes) -> None:
    with pytest.raises(DecryptionError):
        unpad(padded)
