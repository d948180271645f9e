"""The deterministic protocol vectors (tests/vectors/dialtone-v1.json, printed in
docs/protocol-crypto.md): the library reproduces them byte for byte, and an independent
re-derivation that follows the written spec with bare primitives reaches the same bytes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dialtone.crypto import (
    ChannelKey,
    DeviceIdentity,
    Envelope,
    PublicBundle,
    Scope,
    SealedMessage,
    open_envelope,
    open_message,
    safety_number,
    verify_device_approval,
)
from dialtone.crypto.accounts import normalize_username, verify_password
from dialtone.crypto.testing import build_protocol_vectors

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "dialtone-v1.json").read_text()
)
SPEC = Path(__file__).parents[3] / "docs" / "protocol-crypto.md"
PURPOSE_BYTE = {"body": 1, "sender_name": 2, "channel_name": 3, "profile_name": 4}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def lp(data: bytes) -> bytes:
    return bytes([len(data)]) + data


def test_the_library_reproduces_the_stored_vectors_exactly() -> None:
    assert build_protocol_vectors() == VECTORS


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_the_spec_prints_every_vector() -> None:
    spec = re.sub(r"\s+", "", SPEC.read_text())  # long hex values are wrapped in the spec
    for value in _strings(VECTORS):
        if len(value) >= 16:
            assert re.sub(r"\s+", "", value) in spec, value


# --- independent re-derivation from the written spec -------------------------------------------


@pytest.mark.parametrize("name", ["alice", "bob", "alice_laptop"])
def test_device_vectors_follow_the_spec(name: str) -> None:
    device = VECTORS["devices"][name]
    seed = bytes.fromhex(device["ed25519_seed"])
    ed = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    x = (
        X25519PrivateKey.from_private_bytes(bytes.fromhex(device["x25519_private"]))
        .public_key()
        .public_bytes_raw()
    )
    assert (ed.hex(), x.hex()) == (device["ed25519_public"], device["x25519_public"])
    signing_input = b"dialtone/v1/device\x00" + b"\x01" + ed + x
    assert signing_input.hex() == device["bundle_signing_input"]
    Ed25519PublicKey.from_public_bytes(ed).verify(
        bytes.fromhex(device["bundle_signature"]), signing_input
    )
    raw = bytearray(hashlib.sha256(b"dialtone/v1/device-id\x00" + ed + x).digest()[:16])
    raw[6] = raw[6] & 0x0F | 0x80
    raw[8] = raw[8] & 0x3F | 0x80
    hexed = raw.hex()
    assert device["device_id"] == "-".join(
        (hexed[0:8], hexed[8:12], hexed[12:16], hexed[16:20], hexed[20:32])
    )
    b32 = base64.b32encode(hashlib.sha256(b"dialtone/v1/fingerprint\x00" + ed + x).digest()[:20])
    assert device["fingerprint"] == " ".join(b32.decode()[i : i + 4] for i in range(0, 32, 4))
    assert device["json"] == {
        "device_id": device["device_id"],
        "ed25519": b64url(ed),
        "x25519": b64url(x),
        "signature": b64url(bytes.fromhex(device["bundle_signature"])),
    }


def spec_pad(plaintext: bytes) -> bytes:
    size = 32
    while size < len(plaintext) + 1:
        size *= 2
    return plaintext + b"\x80" + bytes(size - len(plaintext) - 1)


CHANNEL_SCOPE = b"\x01" + lp(VECTORS["channel_key"]["channel_id"].encode())
DIRECTORY_SCOPE = b"\x02" + lp(VECTORS["directory_key"]["owner_id"].encode())


@pytest.mark.parametrize(
    ("name", "scope", "epoch", "secret"),
    [
        (
            "message",
            CHANNEL_SCOPE,
            VECTORS["channel_key"]["epoch"],
            VECTORS["channel_key"]["secret"],
        ),
        (
            "profile",
            DIRECTORY_SCOPE,
            VECTORS["directory_key"]["epoch"],
            VECTORS["directory_key"]["secret"],
        ),
    ],
)
def test_sealed_message_vectors_follow_the_spec(
    name: str, scope: bytes, epoch: int, secret: str
) -> None:
    vector = VECTORS[name]
    alice = VECTORS["devices"]["alice"]
    if "message_id_bytes" in vector:
        assert vector["message_id"] == b64url(bytes.fromhex(vector["message_id_bytes"]))
    context = (
        scope
        + epoch.to_bytes(4, "big")
        + lp(vector["message_id"].encode())
        + lp(alice["device_id"].encode())
    )
    assert context.hex() == vector["context"]
    signing_input = b"dialtone/v1/message\x00" + b"\x01" + context + bytes([len(vector["sealed"])])
    for field in sorted(vector["sealed"], key=PURPOSE_BYTE.__getitem__):
        purpose = PURPOSE_BYTE[field]
        padded = spec_pad(vector["plaintext"][field].encode("utf-8"))
        assert padded.hex() == vector["padded"][field]
        ad = b"dialtone/v1/field\x00" + bytes([1, purpose]) + context
        assert ad.hex() == vector["associated_data"][field]
        nonce = bytes.fromhex(vector["nonce"][field])
        sealed = b"\x01" + nonce + AESGCM(bytes.fromhex(secret)).encrypt(nonce, padded, ad)
        assert sealed.hex() == vector["sealed"][field]
        signing_input += bytes([purpose]) + len(sealed).to_bytes(4, "big") + sealed
        assert vector["json"]["fields"][field] == b64url(sealed)
    assert signing_input.hex() == vector["signing_input"]
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(alice["ed25519_public"])).verify(
        bytes.fromhex(vector["signature"]), signing_input
    )


def test_envelope_vector_follows_the_spec() -> None:
    vector = VECTORS["envelope"]
    alice, bob = VECTORS["devices"]["alice"], VECTORS["devices"]["bob"]
    ephemeral = X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["ephemeral_private"]))
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    assert ephemeral_public.hex() == vector["ephemeral_public"]
    bob_x = bytes.fromhex(bob["x25519_public"])
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(bob_x))
    assert shared.hex() == vector["shared_secret"]
    header = (
        b"\x01"
        + CHANNEL_SCOPE
        + VECTORS["channel_key"]["epoch"].to_bytes(4, "big")
        + lp(alice["device_id"].encode())
        + lp(bob["device_id"].encode())
        + ephemeral_public
    )
    assert header.hex() == vector["header"]
    info = b"dialtone/v1/envelope-key\x00" + header + bob_x
    assert info.hex() == vector["hkdf_info"]
    okm = HKDF(SHA256(), length=44, salt=None, info=info).derive(shared)
    assert (okm[:32].hex(), okm[32:].hex()) == (vector["wrap_key"], vector["wrap_nonce"])
    ad = b"dialtone/v1/envelope\x00" + header
    assert ad.hex() == vector["associated_data"]
    ciphertext = AESGCM(okm[:32]).encrypt(
        okm[32:], bytes.fromhex(VECTORS["channel_key"]["secret"]), ad
    )
    assert ciphertext.hex() == vector["ciphertext"]
    signing_input = b"dialtone/v1/envelope-sig\x00" + header + ciphertext
    assert signing_input.hex() == vector["signing_input"]
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(alice["ed25519_public"])).verify(
        bytes.fromhex(vector["signature"]), signing_input
    )
    assert vector["bytes"] == (header + ciphertext + bytes.fromhex(vector["signature"])).hex()


def test_device_approval_vector_follows_the_spec() -> None:
    vector = VECTORS["device_approval"]
    approver = VECTORS["devices"][vector["approver"]]
    device = VECTORS["devices"][vector["device"]]
    signing_input = (
        b"dialtone/v1/device-approval\x00"
        + b"\x01"
        + lp(vector["user_id"].encode())
        + lp(device["device_id"].encode())
        + bytes.fromhex(device["ed25519_public"])
        + bytes.fromhex(device["x25519_public"])
    )
    assert signing_input.hex() == vector["signing_input"]
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(approver["ed25519_public"])).verify(
        bytes.fromhex(vector["signature"]), signing_input
    )


def test_safety_number_vector_follows_the_spec() -> None:
    vector = VECTORS["safety_number"]

    def half(user: str, device: dict[str, str]) -> str:
        keys = bytes.fromhex(device["ed25519_public"]) + bytes.fromhex(device["x25519_public"])
        digest = hashlib.sha512(
            b"dialtone/v1/safety-number\x00" + lp(user.encode()) + (1).to_bytes(2, "big") + keys
        ).digest()
        return "".join(
            f"{int.from_bytes(digest[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)
        )

    alice_half = half(vector["alice_user"], VECTORS["devices"]["alice"])
    bob_half = half(vector["bob_user"], VECTORS["devices"]["bob"])
    assert (alice_half, bob_half) == (vector["alice_half"], vector["bob_half"])
    digits = "".join(sorted((alice_half, bob_half)))
    assert vector["number"] == " ".join(digits[i : i + 5] for i in range(0, 60, 5))


def test_username_and_password_vectors_follow_the_spec() -> None:
    pepper = bytes.fromhex(VECTORS["usernames"]["pepper"])
    for case in VECTORS["usernames"]["cases"]:
        assert normalize_username(case["input"]) == case["normalized"]
        assert case["hash"] == hmac.new(pepper, case["normalized"].encode(), "sha256").hexdigest()
    vector = VECTORS["password"]
    salt = bytes.fromhex(vector["salt"])
    # hashlib's scrypt is a second, independent implementation.
    derived = hashlib.scrypt(
        vector["password"].encode(),
        salt=salt,
        n=2 ** vector["log2_n"],
        r=vector["r"],
        p=vector["p"],
        dklen=32,
    )
    assert derived.hex() == vector["hash"]
    std_b64 = base64.b64encode
    assert vector["encoded"] == (
        f"$scrypt$ln={vector['log2_n']},r={vector['r']},p={vector['p']}"
        f"${std_b64(salt).decode().rstrip('=')}${std_b64(derived).decode().rstrip('=')}"
    )
    assert verify_password(vector["password"], vector["encoded"])


# --- the vectors open with the library's public API --------------------------------------------


def _identity(name: str) -> DeviceIdentity:
    device = VECTORS["devices"][name]
    return DeviceIdentity.from_private_bytes(
        bytes.fromhex(device["ed25519_seed"]) + bytes.fromhex(device["x25519_private"])
    )


def test_the_vectors_open_through_the_public_api() -> None:
    alice, bob = _identity("alice"), _identity("bob")
    alice_bundle = PublicBundle.from_dict(VECTORS["devices"]["alice"]["json"])
    assert alice_bundle == alice.public_bundle
    channel = VECTORS["channel_key"]
    key = open_envelope(Envelope.from_dict(VECTORS["envelope"]["json"]), bob, sender=alice_bundle)
    assert key == ChannelKey(
        channel["channel_id"], channel["epoch"], bytes.fromhex(channel["secret"])
    )
    opened = open_message(
        SealedMessage.from_dict(VECTORS["message"]["json"]), key=key, sender=alice_bundle
    )
    assert opened.body == VECTORS["message"]["plaintext"]["body"]
    assert opened.sender_name == VECTORS["message"]["plaintext"]["sender_name"]
    directory = ChannelKey(
        Scope.directory(VECTORS["directory_key"]["owner_id"]),
        VECTORS["directory_key"]["epoch"],
        bytes.fromhex(VECTORS["directory_key"]["secret"]),
    )
    profile = open_message(
        SealedMessage.from_dict(VECTORS["profile"]["json"]), key=directory, sender=alice_bundle
    )
    assert profile.profile_name == VECTORS["profile"]["plaintext"]["profile_name"]
    number = safety_number("bob", [bob.public_bundle], "alice", [alice_bundle])
    assert number == VECTORS["safety_number"]["number"]
    approval = VECTORS["device_approval"]
    verify_device_approval(
        alice_bundle,
        approval["user_id"],
        PublicBundle.from_dict(VECTORS["devices"]["alice_laptop"]["json"]),
        bytes.fromhex(approval["signature"]),
    )
