"""Envelopes: wrapping a channel key for one device, and everything that must make them fail."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialtone.crypto import (
    ChannelKey,
    DecryptionError,
    DeviceIdentity,
    Envelope,
    InvalidSignature,
    MissingKeyError,
    Scope,
    make_envelope,
    open_envelope,
)
from dialtone.crypto.testing import DeterministicRandom, ScriptedRandom

ALICE = DeviceIdentity.generate(rng=DeterministicRandom(b"alice"))
BOB = DeviceIdentity.generate(rng=DeterministicRandom(b"bob"))
CAROL = DeviceIdentity.generate(rng=DeterministicRandom(b"carol"))
KEY = ChannelKey("general", 4, bytes(range(32)))
LOW_ORDER_POINT = bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157")


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def resign(envelope: Envelope, signer: DeviceIdentity, **changes: object) -> Envelope:
    changed = dataclasses.replace(envelope, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(changed, signature=signer.signing_key.sign(changed.signing_input()))


@given(
    secret=st.binary(min_size=32, max_size=32),
    epoch=st.integers(0, 2**32 - 1),
    channel=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
)
def test_envelopes_round_trip(secret: bytes, epoch: int, channel: str) -> None:
    key = ChannelKey(channel[:128], epoch, secret)
    envelope = make_envelope(ALICE, BOB.public_bundle, key)
    assert open_envelope(envelope, BOB, sender=ALICE.public_bundle) == key
    assert Envelope.from_bytes(envelope.to_bytes()) == envelope
    assert Envelope.from_dict(envelope.to_dict()) == envelope


def test_directory_keys_travel_in_envelopes_too() -> None:
    key = ChannelKey(Scope.directory("alice-user"), 9, bytes(32))
    envelope = make_envelope(ALICE, BOB.public_bundle, key)
    assert envelope.to_dict()["scope"] == {"kind": "directory", "id": "alice-user"}
    assert Envelope.from_bytes(envelope.to_bytes()) == envelope
    opened = open_envelope(envelope, BOB, sender=ALICE.public_bundle)
    assert opened == key
    assert opened.scope == Scope.directory("alice-user")


def test_envelopes_round_trip_as_separate_wire_fields() -> None:
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    assert len(envelope.sealed_key) == 80
    rebuilt = Envelope.from_sealed_key(
        KEY.scope,
        KEY.epoch,
        ALICE.device_id,
        BOB.device_id,
        envelope.sealed_key,
        envelope.signature,
    )
    assert rebuilt == envelope
    assert open_envelope(rebuilt, BOB, sender=ALICE.public_bundle) == KEY
    with pytest.raises(ValueError, match="80 bytes"):
        Envelope.from_sealed_key(
            KEY.scope,
            4,
            ALICE.device_id,
            BOB.device_id,
            envelope.sealed_key[1:],
            envelope.signature,
        )
    with pytest.raises(TypeError):
        Envelope.from_sealed_key(
            KEY.scope,
            4,
            ALICE.device_id,
            BOB.device_id,
            "key",  # type: ignore[arg-type]
            envelope.signature,
        )


def test_each_envelope_uses_a_fresh_ephemeral_key_from_the_injected_randomness() -> None:
    first = make_envelope(ALICE, BOB.public_bundle, KEY)
    second = make_envelope(ALICE, BOB.public_bundle, KEY)
    assert first.ephemeral_public != second.ephemeral_public
    assert first.ciphertext != second.ciphertext
    scripted = ScriptedRandom([bytes(range(100, 132))])
    a = make_envelope(ALICE, BOB.public_bundle, KEY, rng=scripted)
    b = make_envelope(ALICE, BOB.public_bundle, KEY, rng=ScriptedRandom([bytes(range(100, 132))]))
    assert scripted.exhausted
    assert a == b


def test_an_envelope_replayed_to_another_device_does_not_open() -> None:
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    with pytest.raises(DecryptionError):
        open_envelope(envelope, CAROL, sender=ALICE.public_bundle)


def test_readdressing_an_envelope_breaks_its_signature() -> None:
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    readdressed = dataclasses.replace(envelope, recipient_device_id=CAROL.device_id)
    with pytest.raises(InvalidSignature):
        open_envelope(readdressed, CAROL, sender=ALICE.public_bundle)


def test_a_readdressed_and_re_signed_envelope_still_does_not_open() -> None:
    # Even the sender cannot point Bob's envelope at Carol: HKDF binds Bob's X25519 key and id.
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    readdressed = resign(envelope, ALICE, recipient_device_id=CAROL.device_id)
    with pytest.raises(DecryptionError):
        open_envelope(readdressed, CAROL, sender=ALICE.public_bundle)


@pytest.mark.parametrize(
    "changes",
    [
        {"scope": Scope.channel("other")},
        {"scope": Scope.directory("general")},
        {"epoch": 5},
    ],
    ids=["wrong-channel", "directory-instead-of-channel", "wrong-epoch"],
)
def test_relabelled_envelopes_fail(changes: dict[str, object]) -> None:
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    with pytest.raises(InvalidSignature):
        open_envelope(
            dataclasses.replace(envelope, **changes),  # type: ignore[arg-type]
            BOB,
            sender=ALICE.public_bundle,
        )
    # Re-signed by the sender, the HKDF info and associated data still refuse the new context.
    with pytest.raises(DecryptionError):
        open_envelope(resign(envelope, ALICE, **changes), BOB, sender=ALICE.public_bundle)


def test_an_envelope_claiming_another_sender_fails() -> None:
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    claimed = dataclasses.replace(envelope, sender_device_id=CAROL.device_id)
    with pytest.raises(InvalidSignature):
        open_envelope(claimed, BOB, sender=CAROL.public_bundle)
    # Carol re-signs Alice's envelope as her own: HKDF binds Alice's id, so it does not open.
    with pytest.raises(DecryptionError):
        open_envelope(
            resign(envelope, CAROL, sender_device_id=CAROL.device_id),
            BOB,
            sender=CAROL.public_bundle,
        )


@pytest.mark.parametrize("part", ["ephemeral_public", "ciphertext", "signature"])
@pytest.mark.parametrize("index", [0, 17, -1])
def test_a_flipped_bit_anywhere_fails(part: str, index: int) -> None:
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    tampered = dataclasses.replace(envelope, **{part: flip(getattr(envelope, part), index)})  # type: ignore[arg-type]
    with pytest.raises(InvalidSignature):
        open_envelope(tampered, BOB, sender=ALICE.public_bundle)


def test_a_flipped_ciphertext_bit_fails_decryption_even_when_re_signed() -> None:
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    tampered = resign(envelope, ALICE, ciphertext=flip(envelope.ciphertext, 3))
    with pytest.raises(DecryptionError):
        open_envelope(tampered, BOB, sender=ALICE.public_bundle)


@pytest.mark.parametrize("cut", [1, 64, 112])
def test_truncated_envelopes_are_refused_when_parsed(cut: int) -> None:
    data = make_envelope(ALICE, BOB.public_bundle, KEY).to_bytes()
    with pytest.raises(ValueError, match="malformed"):
        Envelope.from_bytes(data[:-cut])


def test_an_envelope_with_a_low_order_ephemeral_key_is_refused() -> None:
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    with pytest.raises(ValueError, match="small order"):
        dataclasses.replace(envelope, ephemeral_public=LOW_ORDER_POINT)
    data = bytearray(envelope.to_bytes())
    at = len(envelope.header) - 32
    data[at : at + 32] = LOW_ORDER_POINT
    with pytest.raises(ValueError, match="small order"):
        Envelope.from_bytes(bytes(data))


def test_a_zero_shared_secret_is_refused_when_opening(monkeypatch: pytest.MonkeyPatch) -> None:
    # Defence in depth: if a small-order key got past parsing, the exchange still refuses it.
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    monkeypatch.setattr("dialtone.crypto.primitives.is_low_order_x25519", lambda _: False)
    sneaked = resign(envelope, ALICE, ephemeral_public=bytes(32))
    with pytest.raises(DecryptionError):
        open_envelope(sneaked, BOB, sender=ALICE.public_bundle)


def test_missing_sender_bundle_is_reported_as_such() -> None:
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    with pytest.raises(MissingKeyError, match=ALICE.device_id):
        open_envelope(envelope, BOB, sender=None)
    with pytest.raises(ValueError, match="sender"):
        open_envelope(envelope, BOB, sender=CAROL.public_bundle)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"scope": "general"}, TypeError),
        ({"epoch": -1}, ValueError),
        ({"recipient_device_id": ""}, ValueError),
        ({"ephemeral_public": bytes(31)}, ValueError),
        ({"ciphertext": bytes(47)}, ValueError),
        ({"ciphertext": "text"}, TypeError),
        ({"signature": bytes(65)}, ValueError),
    ],
)
def test_envelope_construction_checks_every_part(
    changes: dict[str, object], error: type[Exception]
) -> None:
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    with pytest.raises(error):
        dataclasses.replace(envelope, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "malformed"),
        (b"\x02" + bytes(200), "version"),
        (b"\x01\x09" + bytes(200), "ScopeKind"),
        (b"\x01\x01\x05ab", "malformed|channel id"),
    ],
    ids=["empty", "version-2", "unknown-scope", "short-scope"],
)
def test_malformed_binary_envelopes_are_refused(data: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Envelope.from_bytes(data)


@pytest.mark.parametrize(
    ("change", "match"),
    [({"version": 2}, "version"), ({"extra": 1}, "keys"), ({"ciphertext": "AAAA"}, "48 bytes")],
    ids=["version-2", "unknown-key", "short-ciphertext"],
)
def test_malformed_json_envelopes_are_refused(change: dict[str, object], match: str) -> None:
    data = make_envelope(ALICE, BOB.public_bundle, KEY).to_dict() | change
    with pytest.raises(ValueError, match=match):
        Envelope.from_dict(data)


def test_make_and_open_check_argument_types() -> None:
    with pytest.raises(TypeError):
        make_envelope(ALICE, BOB, KEY)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        make_envelope(ALICE.public_bundle, BOB.public_bundle, KEY)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        make_envelope(ALICE, BOB.public_bundle, KEY.secret)  # type: ignore[arg-type]
    envelope = make_envelope(ALICE, BOB.public_bundle, KEY)
    with pytest.raises(TypeError):
        open_envelope(envelope, BOB.public_bundle, sender=ALICE.public_bundle)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        open_envelope(envelope, BOB, sender=ALICE)  # type: ignore[arg-type]
