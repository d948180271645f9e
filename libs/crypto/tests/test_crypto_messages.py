"""Sealing, signing, verifying and opening message fields, and every binding of their context."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialtone.crypto import (
    NAME_MESSAGE_ID,
    ChannelKey,
    DecryptionError,
    DeviceIdentity,
    InvalidSignature,
    MissingKeyError,
    OpenedMessage,
    Purpose,
    Scope,
    SealedMessage,
    b64url_encode,
    open_message,
    seal_channel_name,
    seal_fields,
    seal_message,
    seal_profile_name,
)
from dialtone.crypto.messages import (
    SEALED_FIELD_OVERHEAD,
    encode_context,
    message_signing_input,
    open_field,
    seal_field,
)
from dialtone.crypto.testing import DeterministicRandom, ScriptedRandom

ALICE = DeviceIdentity.generate(rng=DeterministicRandom(b"alice"))
BOB = DeviceIdentity.generate(rng=DeterministicRandom(b"bob"))
SECRET = bytes(range(32))
KEY = ChannelKey("general", 1, SECRET)
DIRECTORY_KEY = ChannelKey(Scope.directory("alice-user"), 3, bytes(range(32, 64)))

utf8_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)


def resign(message: SealedMessage, signer: DeviceIdentity, **changes: object) -> SealedMessage:
    """What a channel member could build: `message` with changes, signed by their own key."""
    changed = dataclasses.replace(message, **changes)  # type: ignore[arg-type]
    signature = signer.signing_key.sign(message_signing_input(changed.context, changed.fields))
    return dataclasses.replace(changed, signature=signature)


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


# --- round trips -------------------------------------------------------------------------------


@given(body=utf8_text, sender_name=st.none() | utf8_text)
def test_messages_round_trip(body: str, sender_name: str | None) -> None:
    sealed = seal_message(ALICE, KEY, body, sender_name=sender_name)
    opened = open_message(sealed, key=KEY, sender=ALICE.public_bundle)
    assert opened.body == body
    assert opened.sender_name == sender_name
    assert (opened.scope, opened.epoch) == (KEY.scope, KEY.epoch)
    assert opened.message_id == sealed.message_id
    assert opened.sender_device_id == ALICE.device_id


@given(name=utf8_text)
def test_channel_and_profile_names_round_trip(name: str) -> None:
    channel = seal_channel_name(ALICE, KEY, name)
    assert open_message(channel, key=KEY, sender=ALICE.public_bundle).channel_name == name
    profile = seal_profile_name(ALICE, DIRECTORY_KEY, name)
    opened = open_message(profile, key=DIRECTORY_KEY, sender=ALICE.public_bundle)
    assert opened.profile_name == name
    assert opened.scope == Scope.directory("alice-user")


@given(body=utf8_text)
def test_sealed_messages_round_trip_through_json(body: str) -> None:
    sealed = seal_message(ALICE, KEY, body, sender_name="Alice")
    parsed = SealedMessage.from_dict(sealed.to_dict())
    assert parsed == sealed
    assert open_message(parsed, key=KEY, sender=ALICE.public_bundle).body == body


def test_directory_messages_round_trip_through_json() -> None:
    sealed = seal_profile_name(ALICE, DIRECTORY_KEY, "Alice")
    assert sealed.to_dict()["scope"] == {"kind": "directory", "id": "alice-user"}
    assert SealedMessage.from_dict(sealed.to_dict()) == sealed


def test_name_updates_use_the_fixed_name_message_id_unless_given_one() -> None:
    assert seal_channel_name(ALICE, KEY, "n").message_id == NAME_MESSAGE_ID
    assert seal_profile_name(ALICE, DIRECTORY_KEY, "n").message_id == NAME_MESSAGE_ID
    assert seal_channel_name(ALICE, KEY, "n", message_id="rename-7").message_id == "rename-7"


def test_a_caller_chosen_message_id_is_used_and_checked() -> None:
    sealed = seal_message(ALICE, KEY, "hi", message_id="client-42")
    assert sealed.message_id == "client-42"
    with pytest.raises(ValueError, match="message id"):
        seal_message(ALICE, KEY, "hi", message_id="has space")


def test_randomness_comes_from_the_injected_source() -> None:
    rng = ScriptedRandom([bytes(range(16)), bytes(range(12))])
    sealed = seal_message(ALICE, KEY, "hi", rng=rng)
    assert rng.exhausted
    assert sealed.message_id == "AAECAwQFBgcICQoLDA0ODw"
    assert sealed.fields[Purpose.MESSAGE_BODY][1:13] == bytes(range(12))


def test_sealed_messages_are_immutable() -> None:
    sealed = seal_message(ALICE, KEY, "hi")
    with pytest.raises(TypeError):
        sealed.fields[Purpose.SENDER_NAME] = b"x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        sealed.epoch = 2  # type: ignore[misc]
    parsed = SealedMessage.from_dict(sealed.to_dict())
    with pytest.raises(TypeError):
        parsed.fields[Purpose.SENDER_NAME] = b"x"  # type: ignore[index]


def test_each_seal_uses_a_fresh_nonce() -> None:
    first = seal_message(ALICE, KEY, "same", message_id="m")
    second = seal_message(ALICE, KEY, "same", message_id="m")
    assert first.fields[Purpose.MESSAGE_BODY][1:13] != second.fields[Purpose.MESSAGE_BODY][1:13]


# --- length hiding -----------------------------------------------------------------------------


def test_sealed_length_reveals_only_the_bucket() -> None:
    def sealed_length(text: str) -> int:
        return len(seal_message(ALICE, KEY, text).fields[Purpose.MESSAGE_BODY])

    assert sealed_length("") == sealed_length("x" * 31) == 32 + SEALED_FIELD_OVERHEAD
    assert sealed_length("x" * 129) == sealed_length("x" * 255) == 256 + SEALED_FIELD_OVERHEAD
    assert sealed_length("x" * 256) == 512 + SEALED_FIELD_OVERHEAD


def test_a_body_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        seal_message(ALICE, KEY, "x" * 65536)


# --- what a server could do: relabel, move, truncate or flip bits (no signing key) --------------


@pytest.mark.parametrize(
    "changes",
    [
        {"scope": Scope.channel("other")},
        {"epoch": 2},
        {"message_id": "another-id"},
        {"sender_device_id": BOB.device_id},
    ],
    ids=["wrong-channel", "wrong-epoch", "wrong-message-id", "wrong-sender"],
)
def test_a_relabelled_message_fails_its_signature(changes: dict[str, object]) -> None:
    sealed = seal_message(ALICE, KEY, "pay Bob 10", sender_name="Alice")
    moved = dataclasses.replace(sealed, **changes)  # type: ignore[arg-type]
    key = ChannelKey(moved.scope, moved.epoch, SECRET)  # even if the receiver holds this key
    sender = BOB.public_bundle if "sender_device_id" in changes else ALICE.public_bundle
    with pytest.raises(InvalidSignature):
        open_message(moved, key=key, sender=sender)


def test_swapping_fields_fails_the_signature() -> None:
    sealed = seal_message(ALICE, KEY, "body", sender_name="name")
    fields = sealed.fields
    swapped = {
        Purpose.MESSAGE_BODY: fields[Purpose.SENDER_NAME],
        Purpose.SENDER_NAME: fields[Purpose.MESSAGE_BODY],
    }
    with pytest.raises(InvalidSignature):
        open_message(
            dataclasses.replace(sealed, fields=swapped), key=KEY, sender=ALICE.public_bundle
        )


def test_moving_a_field_between_messages_fails_the_signature() -> None:
    first = seal_message(ALICE, KEY, "first")
    second = seal_message(ALICE, KEY, "second")
    spliced = dataclasses.replace(second, fields=first.fields)
    with pytest.raises(InvalidSignature):
        open_message(spliced, key=KEY, sender=ALICE.public_bundle)


@pytest.mark.parametrize("index", [0, 1, 12, 13, 40, -1])
def test_a_flipped_bit_in_a_field_fails(index: int) -> None:
    sealed = seal_message(ALICE, KEY, "hello")
    body = sealed.fields[Purpose.MESSAGE_BODY]
    if index == 0:  # the version byte is checked at construction
        with pytest.raises(ValueError, match="version"):
            dataclasses.replace(sealed, fields={Purpose.MESSAGE_BODY: flip(body, index)})
        return
    tampered = dataclasses.replace(sealed, fields={Purpose.MESSAGE_BODY: flip(body, index)})
    with pytest.raises(InvalidSignature):
        open_message(tampered, key=KEY, sender=ALICE.public_bundle)


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_a_flipped_bit_in_the_signature_fails(index: int) -> None:
    sealed = seal_message(ALICE, KEY, "hello")
    tampered = dataclasses.replace(sealed, signature=flip(sealed.signature, index))
    with pytest.raises(InvalidSignature):
        open_message(tampered, key=KEY, sender=ALICE.public_bundle)


@pytest.mark.parametrize("cut", [1, 16, 32, 61])
def test_a_truncated_field_is_refused_when_parsed(cut: int) -> None:
    sealed = seal_message(ALICE, KEY, "hello")
    data = sealed.to_dict()
    body = sealed.fields[Purpose.MESSAGE_BODY]
    data["fields"]["body"] = b64url_encode(body[:-cut])
    with pytest.raises(ValueError, match=r"truncated|length"):
        SealedMessage.from_dict(data)


# --- what a channel member could do: they hold the channel key and their own signing key --------


def test_a_member_cannot_forge_another_members_message() -> None:
    # Bob seals with the channel key, names Alice as the sender, and signs with his own key.
    context = encode_context(KEY.scope, KEY.epoch, "forged", ALICE.device_id)
    fields = {Purpose.MESSAGE_BODY: seal_field(KEY, Purpose.MESSAGE_BODY, context, b"I owe Bob")}
    forged = SealedMessage(
        KEY.scope,
        KEY.epoch,
        "forged",
        ALICE.device_id,
        fields,
        BOB.signing_key.sign(message_signing_input(context, fields)),
    )
    with pytest.raises(InvalidSignature):
        open_message(forged, key=KEY, sender=ALICE.public_bundle)


def test_a_member_cannot_claim_another_members_ciphertext_as_their_own() -> None:
    # Bob re-signs Alice's fields under his own device id: the signature is good, but the fields'
    # associated data still names Alice, so they do not open as Bob's.
    sealed = seal_message(ALICE, KEY, "Alice's words")
    claimed = resign(sealed, BOB, sender_device_id=BOB.device_id)
    with pytest.raises(DecryptionError):
        open_message(claimed, key=KEY, sender=BOB.public_bundle)


@pytest.mark.parametrize(
    "changes",
    [
        {"scope": Scope.channel("other")},
        {"epoch": 2},
        {"message_id": "another-id"},
    ],
    ids=["wrong-channel", "wrong-epoch", "wrong-message-id"],
)
def test_re_signed_moves_still_fail_the_associated_data(changes: dict[str, object]) -> None:
    # The sender herself (or anyone with her key) re-labels her own message: the signature is
    # fine, the AEAD binding is not. Same key secret, so only the associated data differs.
    sealed = seal_message(ALICE, KEY, "context-bound")
    moved = resign(sealed, ALICE, **changes)
    key = ChannelKey(moved.scope, moved.epoch, SECRET)
    with pytest.raises(DecryptionError):
        open_message(moved, key=key, sender=ALICE.public_bundle)


def test_re_signed_field_swap_still_fails_the_associated_data() -> None:
    sealed = seal_message(ALICE, KEY, "body", sender_name="name")
    swapped = {
        Purpose.MESSAGE_BODY: sealed.fields[Purpose.SENDER_NAME],
        Purpose.SENDER_NAME: sealed.fields[Purpose.MESSAGE_BODY],
    }
    with pytest.raises(DecryptionError):
        open_message(resign(sealed, ALICE, fields=swapped), key=KEY, sender=ALICE.public_bundle)


def test_channel_name_cannot_be_replayed_as_a_message_body() -> None:
    sealed = seal_channel_name(ALICE, KEY, "secret-plans")
    as_body = {Purpose.MESSAGE_BODY: sealed.fields[Purpose.CHANNEL_NAME]}
    with pytest.raises(DecryptionError):
        open_message(resign(sealed, ALICE, fields=as_body), key=KEY, sender=ALICE.public_bundle)


# --- the field layer on its own: each component of the associated data -------------------------

CONTEXT_ARGS = (KEY.scope, KEY.epoch, "m-1", ALICE.device_id)


@pytest.mark.parametrize(
    ("purpose", "context_args"),
    [
        (Purpose.MESSAGE_BODY, (Scope.channel("other"), 1, "m-1", ALICE.device_id)),
        (Purpose.MESSAGE_BODY, (KEY.scope, 2, "m-1", ALICE.device_id)),
        (Purpose.SENDER_NAME, CONTEXT_ARGS),
        (Purpose.CHANNEL_NAME, CONTEXT_ARGS),
        (Purpose.MESSAGE_BODY, (KEY.scope, 1, "m-2", ALICE.device_id)),
        (Purpose.MESSAGE_BODY, (KEY.scope, 1, "m-1", BOB.device_id)),
        (Purpose.MESSAGE_BODY, (Scope.directory("general"), 1, "m-1", ALICE.device_id)),
    ],
    ids=[
        "wrong-channel",
        "wrong-epoch",
        "wrong-purpose-sender-name",
        "wrong-purpose-channel-name",
        "wrong-message-id",
        "wrong-sender",
        "directory-instead-of-channel",
    ],
)
def test_each_associated_data_component_binds_the_field(
    purpose: Purpose, context_args: tuple[Scope, int, str, str]
) -> None:
    context = encode_context(*CONTEXT_ARGS)
    sealed = seal_field(KEY, Purpose.MESSAGE_BODY, context, b"bound")
    assert open_field(KEY, Purpose.MESSAGE_BODY, context, sealed) == b"bound"
    with pytest.raises(DecryptionError):
        open_field(KEY, purpose, encode_context(*context_args), sealed)


def test_a_field_does_not_open_under_another_key() -> None:
    context = encode_context(*CONTEXT_ARGS)
    sealed = seal_field(KEY, Purpose.MESSAGE_BODY, context, b"x")
    with pytest.raises(DecryptionError):
        open_field(ChannelKey("general", 1, bytes(32)), Purpose.MESSAGE_BODY, context, sealed)


@pytest.mark.parametrize("cut", [1, 16, 29, 60, 61])
def test_a_truncated_field_does_not_open(cut: int) -> None:
    context = encode_context(*CONTEXT_ARGS)
    sealed = seal_field(KEY, Purpose.MESSAGE_BODY, context, b"truncate me")
    with pytest.raises(DecryptionError):
        open_field(KEY, Purpose.MESSAGE_BODY, context, sealed[:-cut])


def test_authenticated_but_non_utf8_content_is_a_decryption_error() -> None:
    context = encode_context(KEY.scope, KEY.epoch, "bin", ALICE.device_id)
    fields = {Purpose.MESSAGE_BODY: seal_field(KEY, Purpose.MESSAGE_BODY, context, b"\xff\xfe")}
    sealed = SealedMessage(
        KEY.scope,
        KEY.epoch,
        "bin",
        ALICE.device_id,
        fields,
        ALICE.signing_key.sign(message_signing_input(context, fields)),
    )
    with pytest.raises(DecryptionError):
        open_message(sealed, key=KEY, sender=ALICE.public_bundle)


# --- no key versus a bad key -------------------------------------------------------------------


def test_missing_key_or_bundle_is_reported_as_such() -> None:
    sealed = seal_message(ALICE, KEY, "hi")
    with pytest.raises(MissingKeyError, match="epoch 1"):
        open_message(sealed, key=None, sender=ALICE.public_bundle)
    with pytest.raises(MissingKeyError, match=ALICE.device_id):
        open_message(sealed, key=KEY, sender=None)
    assert issubclass(MissingKeyError, LookupError)
    assert not issubclass(MissingKeyError, (InvalidSignature, DecryptionError))


def test_open_message_checks_argument_types() -> None:
    sealed = seal_message(ALICE, KEY, "hi")
    with pytest.raises(TypeError):
        open_message(sealed.to_dict(), key=KEY, sender=ALICE.public_bundle)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        open_message(sealed, key=KEY.secret, sender=ALICE.public_bundle)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        open_message(sealed, key=KEY, sender=ALICE)  # type: ignore[arg-type]


def test_passing_the_key_or_bundle_of_something_else_is_a_caller_error() -> None:
    sealed = seal_message(ALICE, KEY, "hi")
    with pytest.raises(ValueError, match="epoch"):
        open_message(sealed, key=KEY.next_epoch(), sender=ALICE.public_bundle)
    with pytest.raises(ValueError, match="sender"):
        open_message(sealed, key=KEY, sender=BOB.public_bundle)


# --- construction checks -----------------------------------------------------------------------


def _valid_parts() -> dict[str, object]:
    sealed = seal_message(ALICE, KEY, "hi")
    return {f.name: getattr(sealed, f.name) for f in dataclasses.fields(sealed) if f.init}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"scope": "general"}, TypeError),
        ({"epoch": "1"}, TypeError),
        ({"epoch": True}, TypeError),
        ({"epoch": -1}, ValueError),
        ({"epoch": 2**32}, ValueError),
        ({"message_id": ""}, ValueError),
        ({"sender_device_id": 7}, TypeError),
        ({"signature": bytes(63)}, ValueError),
        ({"signature": "sig"}, TypeError),
        ({"fields": {}}, ValueError),
        ({"fields": [b"x"]}, TypeError),
        ({"fields": {1: bytes(61)}}, TypeError),
        ({"fields": {Purpose.PROFILE_NAME: b"\x01" + bytes(60)}}, ValueError),
        ({"fields": {Purpose.MESSAGE_BODY: "text"}}, TypeError),
        ({"fields": {Purpose.MESSAGE_BODY: b"\x01" + bytes(61)}}, ValueError),
        ({"fields": {Purpose.MESSAGE_BODY: b"\x02" + bytes(60)}}, ValueError),
    ],
)
def test_sealed_message_construction_checks_every_part(
    changes: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        SealedMessage(**(_valid_parts() | changes))  # type: ignore[arg-type]


def test_profile_names_belong_to_the_directory_and_message_fields_to_channels() -> None:
    with pytest.raises(ValueError, match="PROFILE_NAME"):
        seal_fields(ALICE, KEY, {Purpose.PROFILE_NAME: "Alice"})
    with pytest.raises(ValueError, match="MESSAGE_BODY"):
        seal_message(ALICE, DIRECTORY_KEY, "hi")


@pytest.mark.parametrize(
    "args",
    [
        ("identity", KEY, {Purpose.MESSAGE_BODY: "x"}),
        (ALICE, b"key", {Purpose.MESSAGE_BODY: "x"}),
        (ALICE, KEY, {Purpose.MESSAGE_BODY: b"bytes"}),
        (ALICE, KEY, {"body": "x"}),
        (ALICE, KEY, "body"),
    ],
    ids=["identity", "key", "bytes-field", "str-purpose", "not-a-mapping"],
)
def test_seal_fields_checks_types(args: tuple[object, object, Mapping[object, object]]) -> None:
    with pytest.raises(TypeError):
        seal_fields(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"version": 2}, "version"),
        ({"version": True}, "version"),
        ({"extra": 1}, "keys"),
        ({"fields": {"attachment": "AQ"}}, "unknown field"),
        ({"scope": {"kind": "group", "id": "x"}}, "scope"),
        ({"signature": "AAAA"}, "64 bytes"),
    ],
    ids=[
        "version-2",
        "version-bool",
        "unknown-key",
        "unknown-field",
        "unknown-scope-kind",
        "short-signature",
    ],
)
def test_malformed_json_messages_are_refused(change: dict[str, object], match: str) -> None:
    data = seal_message(ALICE, KEY, "hi").to_dict() | change
    with pytest.raises(ValueError, match=match):
        SealedMessage.from_dict(data)


def test_opened_messages_expose_each_purpose() -> None:
    opened = OpenedMessage(KEY.scope, 1, "m", ALICE.device_id, {Purpose.MESSAGE_BODY: "b"})
    assert (opened.body, opened.sender_name, opened.channel_name, opened.profile_name) == (
        "b",
        None,
        None,
        None,
    )
