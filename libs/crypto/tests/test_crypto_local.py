"""Local sealing (`seal_local` / `open_local`): round trips, the documented byte layout, and every
way a sealed value must fail to open (another device, label or context, any altered, truncated
or extended byte), always as the one opaque `DecryptionError`."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from dialtone.crypto import (
    LOCAL_OVERHEAD,
    MAX_LOCAL_CONTEXT,
    DecryptionError,
    DeviceIdentity,
    open_local,
    seal_local,
)
from dialtone.crypto.testing import DeterministicRandom, ScriptedRandom

ALICE = DeviceIdentity.generate(rng=DeterministicRandom(b"alice"))
ALICE_LAPTOP = DeviceIdentity.generate(rng=DeterministicRandom(b"alice-laptop"))
LABEL = "dialtone-client/outbox"
CONTEXT = b'["https://chat.example","user-1","device-1"]'
PLAINTEXT = b"queued while offline"


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@given(
    plaintext=st.binary(max_size=2048),
    context=st.binary(max_size=300),
    label=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
)
def test_what_is_sealed_opens_with_the_same_device_label_and_context(
    plaintext: bytes, context: bytes, label: str
) -> None:
    label = label[:128]
    sealed = seal_local(ALICE, label, context, plaintext)
    assert len(sealed) == len(plaintext) + LOCAL_OVERHEAD
    assert open_local(ALICE, label, context, sealed) == plaintext


def test_the_layout_is_the_documented_one() -> None:
    nonce = bytes(range(12))
    sealed = seal_local(ALICE, LABEL, CONTEXT, PLAINTEXT, rng=ScriptedRandom([nonce]))
    # docs/protocol-crypto.md, "Local sealing", recomputed with the primitives directly.
    binding = bytes((len(LABEL),)) + LABEL.encode() + len(CONTEXT).to_bytes(2, "big") + CONTEXT
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"dialtone/v1/local-key\0" + binding
    ).derive(ALICE.private_bytes())
    ad = b"dialtone/v1/local\0" + b"\x01" + binding
    assert sealed == b"\x01" + nonce + AESGCM(key).encrypt(nonce, PLAINTEXT, ad)


def test_each_seal_draws_a_fresh_nonce() -> None:
    first = seal_local(ALICE, LABEL, CONTEXT, PLAINTEXT)
    second = seal_local(ALICE, LABEL, CONTEXT, PLAINTEXT)
    assert first != second
    assert open_local(ALICE, LABEL, CONTEXT, first) == open_local(ALICE, LABEL, CONTEXT, second)


def test_an_empty_plaintext_and_context_round_trip() -> None:
    assert open_local(ALICE, LABEL, b"", seal_local(ALICE, LABEL, b"", b"")) == b""


def test_another_device_cannot_open_it() -> None:
    sealed = seal_local(ALICE, LABEL, CONTEXT, PLAINTEXT)
    with pytest.raises(DecryptionError):
        open_local(ALICE_LAPTOP, LABEL, CONTEXT, sealed)


@pytest.mark.parametrize(
    "context",
    [
        b"",
        CONTEXT[:-1],
        CONTEXT + b" ",
        CONTEXT.replace(b"user-1", b"user-2"),
        CONTEXT.replace(b"device-1", b"device-2"),
    ],
)
def test_another_context_cannot_open_it(context: bytes) -> None:
    sealed = seal_local(ALICE, LABEL, CONTEXT, PLAINTEXT)
    with pytest.raises(DecryptionError):
        open_local(ALICE, LABEL, context, sealed)


@pytest.mark.parametrize("label", ["dialtone-client/outbox2", "dialtone-client/cache", "x"])
def test_another_label_cannot_open_it(label: str) -> None:
    sealed = seal_local(ALICE, LABEL, CONTEXT, PLAINTEXT)
    with pytest.raises(DecryptionError):
        open_local(ALICE, label, CONTEXT, sealed)


def test_label_and_context_are_not_ambiguous() -> None:
    # Moving a byte from the label into the context must not give the same binding.
    sealed = seal_local(ALICE, "ab", b"c", PLAINTEXT)
    with pytest.raises(DecryptionError):
        open_local(ALICE, "a", b"bc", sealed)


def test_any_flipped_bit_is_refused() -> None:
    sealed = seal_local(ALICE, LABEL, CONTEXT, PLAINTEXT)
    for bit in range(len(sealed) * 8):
        with pytest.raises(DecryptionError):
            open_local(ALICE, LABEL, CONTEXT, flip(sealed, bit))


def test_a_truncated_or_extended_value_is_refused() -> None:
    sealed = seal_local(ALICE, LABEL, CONTEXT, PLAINTEXT)
    for length in range(len(sealed)):
        with pytest.raises(DecryptionError):
            open_local(ALICE, LABEL, CONTEXT, sealed[:length])
    with pytest.raises(DecryptionError):
        open_local(ALICE, LABEL, CONTEXT, sealed + b"\x00")


def test_another_format_version_is_refused() -> None:
    sealed = seal_local(ALICE, LABEL, CONTEXT, PLAINTEXT)
    with pytest.raises(DecryptionError):
        open_local(ALICE, LABEL, CONTEXT, b"\x02" + sealed[1:])


def test_the_error_says_nothing_about_why() -> None:
    sealed = seal_local(ALICE, LABEL, CONTEXT, PLAINTEXT)
    attempts: list[tuple[DeviceIdentity, bytes, bytes]] = [
        (ALICE_LAPTOP, CONTEXT, sealed),
        (ALICE, b"other", sealed),
        (ALICE, CONTEXT, sealed[:5]),
    ]
    errors = []
    for identity, context, data in attempts:
        with pytest.raises(DecryptionError) as caught:
            open_local(identity, LABEL, context, data)
        errors.append(str(caught.value))
    assert errors == ["decryption failed"] * 3


@pytest.mark.parametrize("label", ["", "has space", "x" * 129, "naïve"])
def test_a_label_that_is_not_an_identifier_is_a_value_error(label: str) -> None:
    with pytest.raises(ValueError, match=r"^label must be"):
        seal_local(ALICE, label, CONTEXT, PLAINTEXT)
    with pytest.raises(ValueError, match=r"^label must be"):
        open_local(ALICE, label, CONTEXT, b"\x01" + bytes(40))


def test_an_oversize_context_is_a_value_error() -> None:
    longest = bytes(MAX_LOCAL_CONTEXT)
    assert open_local(ALICE, LABEL, longest, seal_local(ALICE, LABEL, longest, PLAINTEXT)) == (
        PLAINTEXT
    )
    with pytest.raises(ValueError, match=r"^context must be at most 65535 bytes"):
        seal_local(ALICE, LABEL, bytes(MAX_LOCAL_CONTEXT + 1), PLAINTEXT)


@pytest.mark.parametrize(
    ("identity", "label", "context", "data"),
    [
        (ALICE.private_bytes(), LABEL, CONTEXT, PLAINTEXT),
        (ALICE, b"label", CONTEXT, PLAINTEXT),
        (ALICE, LABEL, "context", PLAINTEXT),
        (ALICE, LABEL, CONTEXT, "plaintext"),
    ],
)
def test_wrong_types_are_type_errors(
    identity: object, label: object, context: object, data: object
) -> None:
    with pytest.raises(TypeError):
        seal_local(identity, label, context, data)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        open_local(identity, label, context, data)  # type: ignore[arg-type]
