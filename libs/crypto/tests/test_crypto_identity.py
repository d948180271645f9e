"""Device identities and public bundles."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from dialtone.crypto import (
    DeviceIdentity,
    InvalidSignature,
    PublicBundle,
    approve_device,
    b64url_encode,
    fingerprint,
    verify_device_approval,
)
from dialtone.crypto.identity import bundle_signing_input
from dialtone.crypto.primitives import SigningKey
from dialtone.crypto.testing import DeterministicRandom

LOW_ORDER_POINT = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


def test_the_ed25519_key_signs_the_x25519_key() -> None:
    identity = DeviceIdentity.generate()
    bundle = identity.public_bundle
    bundle.verify_key.verify(
        bundle.signature, bundle_signing_input(bundle.ed25519_public, bundle.x25519_public)
    )
    assert bundle.ed25519_public == identity.signing_key.public_key.raw
    assert bundle.x25519_public == identity.exchange_key.public_bytes


def test_device_id_and_fingerprint_are_derived_from_both_public_keys() -> None:
    bundle = DeviceIdentity.generate().public_bundle
    keys = bundle.ed25519_public + bundle.x25519_public
    digest = hashlib.sha256(b"dialtone/v1/device-id\x00" + keys).digest()
    device_uuid = uuid.UUID(bundle.device_id)
    assert str(device_uuid) == bundle.device_id  # lowercase canonical form
    assert (device_uuid.version, device_uuid.variant) == (8, uuid.RFC_4122)
    # Every bit but the 4 version and 2 variant bits comes from the hash.
    mask = bytes([0xFF] * 6 + [0x0F, 0xFF, 0x3F] + [0xFF] * 7)
    assert bytes(a & m for a, m in zip(device_uuid.bytes, mask, strict=True)) == bytes(
        a & m for a, m in zip(digest[:16], mask, strict=True)
    )
    assert fingerprint(bundle) == bundle.fingerprint
    groups = bundle.fingerprint.split(" ")
    assert len(groups) == 8
    assert all(len(g) == 4 and g.isalnum() for g in groups)


def test_different_devices_get_different_ids_and_fingerprints() -> None:
    a, b = DeviceIdentity.generate(), DeviceIdentity.generate()
    assert a.device_id != b.device_id
    assert a.public_bundle.fingerprint != b.public_bundle.fingerprint


def test_generation_draws_from_the_injected_randomness() -> None:
    first = DeviceIdentity.generate(rng=DeterministicRandom(b"seed"))
    second = DeviceIdentity.generate(rng=DeterministicRandom(b"seed"))
    assert first == second
    assert first.public_bundle == second.public_bundle
    assert DeviceIdentity.generate(rng=DeterministicRandom(b"other")) != first


def test_private_bytes_round_trip() -> None:
    identity = DeviceIdentity.generate()
    data = identity.private_bytes()
    assert len(data) == 64
    restored = DeviceIdentity.from_private_bytes(data)
    assert restored == identity
    assert restored.public_bundle == identity.public_bundle


def test_private_bytes_are_checked() -> None:
    with pytest.raises(TypeError):
        DeviceIdentity.from_private_bytes("00" * 64)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="64 bytes"):
        DeviceIdentity.from_private_bytes(bytes(63))
    with pytest.raises(TypeError):
        DeviceIdentity("key", "key")  # type: ignore[arg-type]


def test_bundle_json_round_trips() -> None:
    bundle = DeviceIdentity.generate().public_bundle
    data = bundle.to_dict()
    assert set(data) == {"device_id", "ed25519", "x25519", "signature"}
    assert all(isinstance(v, str) for v in data.values())
    assert PublicBundle.from_dict(data) == bundle


def test_a_bundle_whose_x25519_key_was_swapped_is_refused() -> None:
    victim = DeviceIdentity.generate().public_bundle
    attacker = DeviceIdentity.generate().public_bundle
    with pytest.raises(InvalidSignature):
        PublicBundle(victim.ed25519_public, attacker.x25519_public, victim.signature)


def test_a_bundle_json_with_a_flipped_bit_is_refused() -> None:
    bundle = DeviceIdentity.generate().public_bundle
    signature = bytearray(bundle.signature)
    signature[10] ^= 1
    data = bundle.to_dict() | {"signature": b64url_encode(bytes(signature))}
    with pytest.raises(InvalidSignature):
        PublicBundle.from_dict(data)


def test_a_bundle_json_with_a_wrong_device_id_is_refused() -> None:
    data = DeviceIdentity.generate().public_bundle.to_dict()
    data["device_id"] = DeviceIdentity.generate().device_id
    with pytest.raises(ValueError, match="device_id"):
        PublicBundle.from_dict(data)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"extra": "x"}, "keys"),
        ({"ed25519": "AAAA"}, "32 bytes"),
        ({"x25519": "not base64!"}, "base64url"),
    ],
    ids=["unknown-key", "short-key", "bad-encoding"],
)
def test_malformed_bundle_json_is_refused(change: dict[str, str], match: str) -> None:
    data = DeviceIdentity.generate().public_bundle.to_dict() | change
    with pytest.raises(ValueError, match=match):
        PublicBundle.from_dict(data)


def test_a_bundle_with_a_low_order_x25519_key_is_refused_even_when_signed() -> None:
    signing = SigningKey.generate()
    signature = signing.sign(bundle_signing_input(signing.public_key.raw, LOW_ORDER_POINT))
    with pytest.raises(ValueError, match="small order"):
        PublicBundle(signing.public_key.raw, LOW_ORDER_POINT, signature)


def test_bundle_construction_checks_types_and_lengths() -> None:
    bundle = DeviceIdentity.generate().public_bundle
    with pytest.raises(TypeError):
        PublicBundle(bundle.ed25519_public.hex(), bundle.x25519_public, bundle.signature)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="32 bytes"):
        PublicBundle(bundle.ed25519_public, bundle.x25519_public[:31], bundle.signature)
    with pytest.raises(ValueError, match="64 bytes"):
        PublicBundle(bundle.ed25519_public, bundle.x25519_public, bundle.signature[:63])


def test_identities_and_bundles_are_immutable_and_reprs_hide_secrets() -> None:
    identity = DeviceIdentity.generate()
    with pytest.raises(AttributeError):
        identity.signing_key = SigningKey.generate()
    with pytest.raises(AttributeError):
        identity.public_bundle.device_id = "x"
    assert identity.signing_key.seed.hex() not in repr(identity)
    assert identity.device_id in repr(identity)


def test_a_device_approval_binds_approver_user_and_device() -> None:
    phone, laptop, stranger = (DeviceIdentity.generate() for _ in range(3))
    signature = approve_device(phone, "user-1", laptop.public_bundle)
    verify_device_approval(phone.public_bundle, "user-1", laptop.public_bundle, signature)
    with pytest.raises(InvalidSignature):
        verify_device_approval(phone.public_bundle, "user-2", laptop.public_bundle, signature)
    with pytest.raises(InvalidSignature):
        verify_device_approval(phone.public_bundle, "user-1", stranger.public_bundle, signature)
    with pytest.raises(InvalidSignature):
        verify_device_approval(stranger.public_bundle, "user-1", laptop.public_bundle, signature)
    with pytest.raises(InvalidSignature):
        verify_device_approval(
            phone.public_bundle, "user-1", laptop.public_bundle, signature[:-1] + b"\x00"
        )


def test_device_approval_checks_types() -> None:
    phone, laptop = DeviceIdentity.generate(), DeviceIdentity.generate()
    with pytest.raises(TypeError):
        approve_device(phone.public_bundle, "user-1", laptop.public_bundle)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        approve_device(phone, "user-1", laptop)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="user id"):
        approve_device(phone, "", laptop.public_bundle)
    with pytest.raises(TypeError):
        verify_device_approval(phone, "user-1", laptop.public_bundle, bytes(64))  # type: ignore[arg-type]
