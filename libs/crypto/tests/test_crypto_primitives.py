"""The primitive wrappers against published vectors, and their input checks."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from dialtone.crypto import DecryptionError, InvalidSignature
from dialtone.crypto.primitives import (
    Aead,
    ExchangeKey,
    SigningKey,
    VerifyKey,
    check_x25519_public,
    hkdf_sha256,
    is_low_order_x25519,
    scrypt,
)

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


X25519 = load("rfc7748_x25519.json")
LOW_ORDER = load("x25519_low_order.json")["points"]
HKDF_CASES = load("rfc5869_hkdf_sha256.json")["cases"]
SCRYPT_CASES = load("rfc7914_scrypt.json")["cases"]
ED25519_CASES = load("rfc8032_ed25519.json")["cases"]
GCM_CASES = load("gcm_aes256.json")["cases"]


# --- RFC 7748 X25519 ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", X25519["scalar_mult"])
def test_x25519_scalar_mult_matches_rfc7748(case: dict[str, str]) -> None:
    key = ExchangeKey(bytes.fromhex(case["scalar"]))
    assert key.exchange(bytes.fromhex(case["u"])).hex() == case["output"]


def test_x25519_iterated_matches_rfc7748() -> None:
    k = u = bytes.fromhex(X25519["iterated"]["start"])
    for i in range(1000):
        k, u = ExchangeKey(k).exchange(u), k
        if i == 0:
            assert k.hex() == X25519["iterated"]["after_1"]
    assert k.hex() == X25519["iterated"]["after_1000"]


def test_x25519_diffie_hellman_matches_rfc7748() -> None:
    dh = X25519["diffie_hellman"]
    alice = ExchangeKey(bytes.fromhex(dh["alice_private"]))
    bob = ExchangeKey(bytes.fromhex(dh["bob_private"]))
    assert alice.public_bytes.hex() == dh["alice_public"]
    assert bob.public_bytes.hex() == dh["bob_public"]
    assert alice.exchange(bob.public_bytes).hex() == dh["shared"]
    assert bob.exchange(alice.public_bytes).hex() == dh["shared"]


@pytest.mark.parametrize("point", LOW_ORDER)
def test_low_order_points_are_recognised_and_refused(point: str) -> None:
    raw = bytes.fromhex(point)
    assert is_low_order_x25519(raw)
    with pytest.raises(ValueError, match="small order"):
        check_x25519_public(raw)
    with pytest.raises(ValueError, match="small order"):
        ExchangeKey.generate().exchange(raw)


@pytest.mark.parametrize("point", LOW_ORDER)
def test_every_listed_low_order_point_really_gives_an_all_zero_secret(point: str) -> None:
    # Checks the list itself: bypassing our check, raw X25519 with these points yields zero, which
    # OpenSSL refuses. A mistyped entry would produce a normal secret and fail here.
    private = X25519PrivateKey.generate()
    with pytest.raises(ValueError, match="shared key"):
        private.exchange(X25519PublicKey.from_public_bytes(bytes.fromhex(point)))


def test_ordinary_public_keys_are_not_low_order() -> None:
    for _ in range(50):
        assert not is_low_order_x25519(ExchangeKey.generate().public_bytes)


def test_zero_shared_secret_is_refused_even_if_the_point_check_missed_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("dialtone.crypto.primitives.is_low_order_x25519", lambda _: False)
    with pytest.raises(ValueError, match="all zero"):
        ExchangeKey.generate().exchange(bytes(32))


# --- RFC 5869 HKDF -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", HKDF_CASES, ids=[c["name"] for c in HKDF_CASES])
def test_hkdf_sha256_matches_rfc5869(case: dict[str, Any]) -> None:
    ikm, salt = bytes.fromhex(case["ikm"]), bytes.fromhex(case["salt"])
    okm = hkdf_sha256(ikm, salt=salt, info=bytes.fromhex(case["info"]), length=case["length"])
    assert okm.hex() == case["okm"]
    # The extract step on its own, so the data file's PRK is checked too.
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).hexdigest()
    assert prk == case["prk"]


# --- RFC 7914 scrypt ---------------------------------------------------------------------------


def _scrypt_id(case: dict[str, Any]) -> str:
    return f"N={case['n']},r={case['r']},p={case['p']}"


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.slow) if c["n"] > 2**16 else c for c in SCRYPT_CASES],
    ids=[_scrypt_id(c) for c in SCRYPT_CASES],
)
def test_scrypt_matches_rfc7914(case: dict[str, Any]) -> None:
    derived = scrypt(
        case["password"].encode(),
        case["salt"].encode(),
        n=case["n"],
        r=case["r"],
        p=case["p"],
        length=case["length"],
    )
    assert derived.hex() == case["derived"]


@pytest.mark.parametrize("n", [0, 1, 3, 1000])
def test_scrypt_refuses_n_that_is_not_a_power_of_two(n: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        scrypt(b"pw", b"salt", n=n, r=8, p=1, length=32)


# --- RFC 8032 Ed25519 --------------------------------------------------------------------------


@pytest.mark.parametrize("case", ED25519_CASES, ids=[c["name"] for c in ED25519_CASES])
def test_ed25519_matches_rfc8032(case: dict[str, str]) -> None:
    key = SigningKey(bytes.fromhex(case["secret"]))
    message = bytes.fromhex(case["message"])
    assert key.public_key.raw.hex() == case["public"]
    assert key.sign(message).hex() == case["signature"]
    VerifyKey(bytes.fromhex(case["public"])).verify(bytes.fromhex(case["signature"]), message)


@pytest.mark.parametrize("case", ED25519_CASES, ids=[c["name"] for c in ED25519_CASES])
def test_ed25519_refuses_the_vector_signature_on_another_message(case: dict[str, str]) -> None:
    verify_key = VerifyKey(bytes.fromhex(case["public"]))
    with pytest.raises(InvalidSignature):
        verify_key.verify(bytes.fromhex(case["signature"]), bytes.fromhex(case["message"]) + b"!")


def test_ed25519_refuses_a_non_canonical_s() -> None:
    # S + L verifies under a lax check; refusing it keeps signatures non-malleable.
    order = 2**252 + 27742317777372353535851937790883648493
    key = SigningKey.generate()
    signature = key.sign(b"data")
    s = int.from_bytes(signature[32:], "little")
    with pytest.raises(InvalidSignature):
        key.public_key.verify(signature[:32] + (s + order).to_bytes(32, "little"), b"data")


def test_ed25519_refuses_a_signature_of_the_wrong_length() -> None:
    key = SigningKey.generate()
    with pytest.raises(InvalidSignature):
        key.public_key.verify(key.sign(b"data")[:-1], b"data")


# Encodings of the identity and of small-order points, and bytes that are no point at all: a
# signature under such a key can be forged without any secret (for the identity, R = identity with
# S = 0 "verifies" every message under a lax check).
SMALL_ORDER_OR_INVALID_ED25519_KEYS = [
    bytes([1]) + bytes(31),  # the identity
    bytes(32),  # y = 0: a point of order 4
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # y = -1
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),  # order 8
    b"\xff" * 32,  # non-canonical y
]


@pytest.mark.parametrize("raw", SMALL_ORDER_OR_INVALID_ED25519_KEYS, ids=lambda raw: raw[:4].hex())
def test_ed25519_refuses_a_small_order_or_invalid_public_key(raw: bytes) -> None:
    with pytest.raises(ValueError, match="prime order"):
        VerifyKey(raw)


def test_ed25519_identity_key_trick_does_not_verify() -> None:
    # With A = identity, R = identity and S = 0, a lax verifier accepts any message. The key is
    # refused when built; the signature itself is refused by a real key too.
    forged = bytes([1]) + bytes(31) + bytes(32)
    with pytest.raises(InvalidSignature):
        SigningKey.generate().public_key.verify(forged, b"any message")


# --- AES-256-GCM -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", GCM_CASES, ids=[c["name"] for c in GCM_CASES])
def test_aes256gcm_matches_the_gcm_specification(case: dict[str, str]) -> None:
    aead = Aead(bytes.fromhex(case["key"]))
    iv, aad = bytes.fromhex(case["iv"]), bytes.fromhex(case["aad"])
    sealed = aead.encrypt(iv, bytes.fromhex(case["plaintext"]), aad)
    assert sealed.hex() == case["ciphertext"] + case["tag"]
    assert aead.decrypt(iv, sealed, aad).hex() == case["plaintext"]


@pytest.mark.parametrize("case", GCM_CASES, ids=[c["name"] for c in GCM_CASES])
def test_aes256gcm_refuses_a_changed_tag(case: dict[str, str]) -> None:
    aead = Aead(bytes.fromhex(case["key"]))
    sealed = bytearray.fromhex(case["ciphertext"] + case["tag"])
    sealed[-1] ^= 1
    with pytest.raises(DecryptionError):
        aead.decrypt(bytes.fromhex(case["iv"]), bytes(sealed), bytes.fromhex(case["aad"]))


def test_aead_refuses_input_shorter_than_a_tag() -> None:
    with pytest.raises(DecryptionError):
        Aead(bytes(32)).decrypt(bytes(12), bytes(15), b"")


# --- construction checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [Aead, SigningKey, VerifyKey, ExchangeKey],
    ids=["Aead", "SigningKey", "VerifyKey", "ExchangeKey"],
)
def test_key_constructors_refuse_wrong_types_and_lengths(build: Any) -> None:
    with pytest.raises(TypeError):
        build("00" * 32)
    with pytest.raises(TypeError):
        build(bytearray(32))
    with pytest.raises(ValueError, match="32 bytes"):
        build(bytes(31))
    with pytest.raises(ValueError, match="32 bytes"):
        build(bytes(33))


def test_aead_refuses_a_nonce_that_is_not_96_bits() -> None:
    with pytest.raises(ValueError, match="nonce"):
        Aead(bytes(32)).encrypt(bytes(16), b"x", b"")


def test_key_reprs_never_show_secrets() -> None:
    signing = SigningKey(bytes(range(32)))
    exchange = ExchangeKey(bytes(range(32)))
    assert bytes(range(32)).hex() not in repr(signing)
    assert bytes(range(32)).hex() not in repr(exchange)
