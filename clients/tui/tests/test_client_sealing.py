"""The crypto/wire meeting point of the client core: every sealed or signed field, and how a
received message that cannot be shown is classified (no key yet, unverified sender, tampered)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import attrs
import pytest

from dialtone.client.core import sealing
from dialtone.client.core.decrypt import SenderSnapshot, decrypt_batch, decrypt_one
from dialtone.client.core.events import DecryptedMessage, DeviceTrust, FailedMessage, FailureReason
from dialtone.crypto import ChannelKey, DeviceIdentity, Scope
from dialtone.crypto.errors import DecryptionError, InvalidSignature
from dialtone.wire import Codec
from dialtone.wire import http as wire
from dialtone.wire import ws as wire_ws

NOW = datetime(2026, 5, 9, 7, 35, 25, tzinfo=UTC)


def _id() -> str:
    return str(uuid.uuid4())


@attrs.frozen
class Sender:
    identity: DeviceIdentity
    user_id: str
    device_id: str

    def snapshot(self, trust: DeviceTrust = DeviceTrust.FIRST_SEEN) -> SenderSnapshot:
        return SenderSnapshot(user_id=self.user_id, bundle=self.identity.public_bundle, trust=trust)


@pytest.fixture
def alice() -> Sender:
    return Sender(DeviceIdentity.generate(), _id(), _id())


@pytest.fixture
def channel_key() -> ChannelKey:
    return ChannelKey.generate(Scope.channel(_id()), 1)


def stored(frame: wire_ws.MessageSend, sender: Sender, seq: int = 1) -> wire.ChannelMessage:
    """The message as the server would store and deliver it."""
    return wire.ChannelMessage(
        channel_id=frame.channel_id,
        seq=seq,
        client_msg_id=frame.client_msg_id,
        sender_user_id=sender.user_id,
        sender_device_id=sender.device_id,
        key_epoch=frame.key_epoch,
        sealed_body=frame.sealed_body,
        sealed_sender_name=frame.sealed_sender_name,
        signature=frame.signature,
        server_ts=NOW,
    )


def seal(sender: Sender, key: ChannelKey, body: str = "hello Bob") -> wire.ChannelMessage:
    frame = sealing.seal_chat(
        sender.identity, key, body=body, sender_name="Alice", client_msg_id="m-1"
    )
    return stored(frame, sender)


def test_a_sealed_message_opens_with_its_key_and_sender(
    alice: Sender, channel_key: ChannelKey
) -> None:
    item = decrypt_one(
        seal(alice, channel_key), channel_key, alice.snapshot(), own_user_id=_id(), now=NOW
    )
    assert isinstance(item, DecryptedMessage)
    assert (item.body, item.sender_name, item.seq, item.own) == ("hello Bob", "Alice", 1, False)
    assert item.sender_trust is DeviceTrust.FIRST_SEEN


def test_the_sealed_frame_encodes_within_the_wire_limits(
    alice: Sender, channel_key: ChannelKey
) -> None:
    longest = "x" * sealing.MAX_BODY_BYTES
    frame = sealing.seal_chat(
        alice.identity,
        channel_key,
        body=longest,
        sender_name="n" * sealing.MAX_NAME_BYTES,
        client_msg_id="m-1",
    )
    codec = Codec()
    assert codec.decode_ws_client(codec.encode_ws(frame)) == frame


def test_text_over_the_limit_is_refused_before_sealing() -> None:
    with pytest.raises(ValueError, match="too long"):
        sealing.check_text("é" * sealing.MAX_BODY_BYTES, sealing.MAX_BODY_BYTES, "message")


def test_a_flipped_bit_in_the_body_shows_as_tampered(
    alice: Sender, channel_key: ChannelKey
) -> None:
    message = seal(alice, channel_key)
    body = bytearray(message.sealed_body)
    body[-1] ^= 1
    item = decrypt_one(
        attrs.evolve(message, sealed_body=bytes(body)),
        channel_key,
        alice.snapshot(),
        own_user_id=_id(),
        now=NOW,
    )
    assert isinstance(item, FailedMessage)
    assert item.reason is FailureReason.TAMPERED
    assert item.seq == 1


def test_a_body_moved_from_another_message_shows_as_tampered(
    alice: Sender, channel_key: ChannelKey
) -> None:
    first = seal(alice, channel_key, "first")
    second = seal(alice, channel_key, "second")
    item = decrypt_one(
        attrs.evolve(second, sealed_body=first.sealed_body),
        channel_key,
        alice.snapshot(),
        own_user_id=_id(),
        now=NOW,
    )
    assert isinstance(item, FailedMessage)
    assert item.reason is FailureReason.TAMPERED


def test_a_truncated_body_shows_as_tampered(alice: Sender, channel_key: ChannelKey) -> None:
    message = seal(alice, channel_key)
    item = decrypt_one(
        attrs.evolve(message, sealed_body=message.sealed_body[:-5]),
        channel_key,
        alice.snapshot(),
        own_user_id=_id(),
        now=NOW,
    )
    assert isinstance(item, FailedMessage)
    assert item.reason is FailureReason.TAMPERED


def test_a_message_credited_to_another_device_shows_as_tampered(
    alice: Sender, channel_key: ChannelKey
) -> None:
    mallory = Sender(DeviceIdentity.generate(), alice.user_id, _id())
    item = decrypt_one(
        seal(alice, channel_key), channel_key, mallory.snapshot(), own_user_id=_id(), now=NOW
    )
    assert isinstance(item, FailedMessage)
    assert item.reason is FailureReason.TAMPERED


def test_a_message_credited_to_another_user_shows_as_tampered(
    alice: Sender, channel_key: ChannelKey
) -> None:
    message = attrs.evolve(seal(alice, channel_key), sender_user_id=_id())
    item = decrypt_one(message, channel_key, alice.snapshot(), own_user_id=_id(), now=NOW)
    assert isinstance(item, FailedMessage)
    assert item.reason is FailureReason.TAMPERED


def test_a_message_of_an_epoch_without_a_key_shows_no_key_yet(
    alice: Sender, channel_key: ChannelKey
) -> None:
    item = decrypt_one(seal(alice, channel_key), None, alice.snapshot(), own_user_id=_id(), now=NOW)
    assert isinstance(item, FailedMessage)
    assert item.reason is FailureReason.NO_KEY_YET


@pytest.mark.parametrize("trust", [DeviceTrust.CHANGED, DeviceTrust.PENDING, DeviceTrust.UNTRUSTED])
def test_a_message_from_a_device_not_vouched_for_shows_unverified_sender(
    alice: Sender, channel_key: ChannelKey, trust: DeviceTrust
) -> None:
    item = decrypt_one(
        seal(alice, channel_key), channel_key, alice.snapshot(trust), own_user_id=_id(), now=NOW
    )
    assert isinstance(item, FailedMessage)
    assert item.reason is FailureReason.UNVERIFIED_SENDER


def test_a_message_from_an_unknown_device_shows_unverified_sender(
    alice: Sender, channel_key: ChannelKey
) -> None:
    item = decrypt_one(seal(alice, channel_key), channel_key, None, own_user_id=_id(), now=NOW)
    assert isinstance(item, FailedMessage)
    assert item.reason is FailureReason.UNVERIFIED_SENDER


def test_a_revoked_devices_earlier_messages_still_show(
    alice: Sender, channel_key: ChannelKey
) -> None:
    item = decrypt_one(
        seal(alice, channel_key),
        channel_key,
        alice.snapshot(DeviceTrust.REVOKED),
        own_user_id=alice.user_id,
        now=NOW,
    )
    assert isinstance(item, DecryptedMessage)
    assert item.own


def test_a_batch_keeps_order_and_keeps_every_failure_in_place(
    alice: Sender, channel_key: ChannelKey
) -> None:
    messages = []
    for seq in range(1, 7):
        frame = sealing.seal_chat(
            alice.identity, channel_key, body=f"m{seq}", sender_name="A", client_msg_id=f"m{seq}"
        )
        messages.append(stored(frame, alice, seq))
    messages[2] = attrs.evolve(messages[2], signature=bytes(64))
    items = decrypt_batch(
        messages,
        {1: channel_key},
        {alice.device_id: alice.snapshot()},
        own_user_id=_id(),
        now=NOW,
    )
    assert [item.seq for item in items] == [1, 2, 3, 4, 5, 6]
    assert isinstance(items[2], FailedMessage)
    assert items[2].reason is FailureReason.TAMPERED
    assert [i.body for i in items if isinstance(i, DecryptedMessage)] == [
        "m1",
        "m2",
        "m4",
        "m5",
        "m6",
    ]


def test_a_channel_name_opens_only_for_its_channel(alice: Sender, channel_key: ChannelKey) -> None:
    name = sealing.seal_channel_name(alice.identity, alice.device_id, channel_key, "general")
    channel_id = channel_key.scope.id
    bundle = alice.identity.public_bundle
    assert sealing.open_channel_name(name, channel_id, channel_key, bundle) == "general"
    other = _id()
    with pytest.raises((DecryptionError, InvalidSignature)):
        sealing.open_channel_name(
            name, other, ChannelKey(Scope.channel(other), 1, channel_key.secret), bundle
        )


def test_a_profile_name_opens_with_the_directory_key(alice: Sender) -> None:
    key = ChannelKey.generate(Scope.directory(alice.user_id), 1)
    request = sealing.seal_profile(alice.identity, key, "Alice Liddell")
    profile = wire.ProfileInfo(
        user_id=alice.user_id,
        device_id=alice.device_id,
        key_epoch=request.key_epoch,
        sealed_display_name=request.sealed_display_name,
        signature=request.signature,
        updated_at=NOW,
    )
    assert sealing.open_profile(profile, key, alice.identity.public_bundle) == "Alice Liddell"
    bob = DeviceIdentity.generate()
    with pytest.raises(InvalidSignature):
        sealing.open_profile(profile, key, bob.public_bundle)


def test_an_envelope_opens_only_for_its_recipient_scope_and_epoch(
    alice: Sender, channel_key: ChannelKey
) -> None:
    bob, carol = DeviceIdentity.generate(), DeviceIdentity.generate()
    upload = sealing.envelope_upload(alice.identity, _id(), bob.public_bundle, channel_key)
    opened = sealing.open_envelope_upload(
        upload.sealed_key,
        upload.signature,
        bob,
        alice.identity.public_bundle,
        scope=channel_key.scope,
        epoch=1,
    )
    assert opened == channel_key
    with pytest.raises(DecryptionError):
        sealing.open_envelope_upload(
            upload.sealed_key,
            upload.signature,
            carol,
            alice.identity.public_bundle,
            scope=channel_key.scope,
            epoch=1,
        )
    with pytest.raises(DecryptionError):
        sealing.open_envelope_upload(
            upload.sealed_key,
            upload.signature,
            bob,
            alice.identity.public_bundle,
            scope=channel_key.scope,
            epoch=2,
        )
    with pytest.raises(InvalidSignature):
        sealing.open_envelope_upload(
            upload.sealed_key,
            upload.signature,
            bob,
            carol.public_bundle,
            scope=channel_key.scope,
            epoch=1,
        )


def test_an_approval_signature_covers_the_user_and_the_new_devices_keys(alice: Sender) -> None:
    new = DeviceIdentity.generate()
    keys = sealing.device_keys(new)
    device_id = _id()
    signature = sealing.approval_signature(
        alice.identity, user_id=alice.user_id, device_id=device_id, keys=keys
    )
    bundle = alice.identity.public_bundle
    assert sealing.verify_approval(
        bundle, signature, user_id=alice.user_id, device_id=device_id, keys=keys
    )
    assert not sealing.verify_approval(
        bundle, signature, user_id=_id(), device_id=device_id, keys=keys
    )
    other_keys = sealing.device_keys(DeviceIdentity.generate())
    assert not sealing.verify_approval(
        bundle, signature, user_id=alice.user_id, device_id=device_id, keys=other_keys
    )


SDP = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:"
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n"
)


def test_a_signed_offer_verifies_and_a_swapped_dtls_fingerprint_does_not(alice: Sender) -> None:
    context = {
        "channel_id": _id(),
        "call_id": "call-1",
        "from_device_id": alice.device_id,
        "to_device_id": _id(),
    }
    signature = sealing.sign_signal(alice.identity, sealing.SignalKind.OFFER, sdp=SDP, **context)
    bundle = alice.identity.public_bundle
    assert sealing.verify_signal(bundle, signature, sealing.SignalKind.OFFER, sdp=SDP, **context)
    swapped = SDP.replace("AA:BB", "DE:AD", 1)
    assert not sealing.verify_signal(
        bundle, signature, sealing.SignalKind.OFFER, sdp=swapped, **context
    )
    assert not sealing.verify_signal(
        bundle, signature, sealing.SignalKind.ANSWER, sdp=SDP, **context
    )
    replayed = {**context, "to_device_id": _id()}
    assert not sealing.verify_signal(
        bundle, signature, sealing.SignalKind.OFFER, sdp=SDP, **replayed
    )
