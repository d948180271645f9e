"""The meeting point of dialtone.crypto and dialtone.wire: every sealed or signed wire field.

Pure functions, no I/O, safe to call from worker threads. They use only dialtone.crypto's safe
layer (seal/open, sign/verify, make/open envelope). Two conventions tie the two libraries:

- Devices: a device's id is derived from its keys (dialtone.crypto's `PublicBundle.device_id`,
  a UUID) and bound into associated data and signatures. Received fields are opened with the id of
  the bundle the client pinned for the sender, so a server that swaps keys behind an id is caught
  by the pin (and trust.py refuses records whose id does not match their keys), and one that
  credits a message to another device is caught by the signature.
- Wire structures that hold a single sealed field without a message id (channel names, profile
  names) are sealed with the crypto library's `NAME_MESSAGE_ID`; the scope (the channel, or the
  owner's directory), epoch and sender device still bind them to their context.

WebRTC offers and answers, which the crypto library does not cover, are signed with the device's
Ed25519 key over a labelled, length-prefixed input (`signal_signing_input`).
"""

from __future__ import annotations

import enum
from typing import Final

from dialtone.crypto import (
    NAME_MESSAGE_ID,
    ChannelKey,
    DeviceIdentity,
    Envelope,
    OpenedMessage,
    PublicBundle,
    Purpose,
    Scope,
    ScopeKind,
    SealedMessage,
    approve_device,
    make_envelope,
    open_envelope,
    open_message,
    seal_fields,
    verify_device_approval,
)
from dialtone.crypto.errors import DecryptionError, InvalidSignature
from dialtone.wire import http as wire
from dialtone.wire import ws
from dialtone.wire.common import DeviceKeys

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_NAME_BYTES",
    "SignalKind",
    "approval_signature",
    "bundle_from_keys",
    "check_text",
    "device_keys",
    "envelope_upload",
    "open_channel_name",
    "open_chat",
    "open_envelope_upload",
    "open_profile",
    "seal_channel_name",
    "seal_chat",
    "seal_profile",
    "sign_signal",
    "signal_signing_input",
    "verify_approval",
    "verify_signal",
]

#: Longest message body, in UTF-8 bytes: its padding bucket (16 KiB) sealed still fits the wire's
#: 32 KiB limit of a sealed body; the next bucket would not.
MAX_BODY_BYTES: Final = 16 * 1024 - 1
#: Longest name (channel, display name), in UTF-8 bytes, by the same rule for the 1 KiB limit.
MAX_NAME_BYTES: Final = 512 - 1

_SIGNAL_LABEL: Final = b"dialtone/v1/webrtc-signal\x00"
_VERSION: Final = b"\x01"
_SIGNATURE_LENGTH: Final = 64


def check_text(value: str, limit: int, what: str) -> str:
    """Check a plaintext against its sealed size limit.

    Args:
        value: The text.
        limit: Most UTF-8 bytes.
        what: Its name, for the error.

    Returns:
        The text.

    Raises:
        ValueError: It is too long (or not a str).
    """
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text")
    if len(value.encode("utf-8")) > limit:
        raise ValueError(f"{what} is too long (at most {limit} bytes of UTF-8)")
    return value


def _field(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


# --- device keys ---------------------------------------------------------------------------------


def device_keys(identity: DeviceIdentity) -> DeviceKeys:
    """The wire form of a device's public keys.

    Args:
        identity: The device.

    Returns:
        Both public keys and the device's signature over its X25519 key.
    """
    bundle = identity.public_bundle
    return DeviceKeys(
        x25519_public=bundle.x25519_public,
        ed25519_public=bundle.ed25519_public,
        key_signature=bundle.signature,
    )


def bundle_from_keys(keys: DeviceKeys) -> PublicBundle:
    """Check a device's published keys and return its bundle.

    Args:
        keys: The keys as the server reports them.

    Returns:
        The bundle (its fingerprint and crypto device id derive from the keys).

    Raises:
        ValueError: A key has the wrong length or is a small-order point.
        InvalidSignature: The self-signature over the X25519 key does not verify.
    """
    try:
        return PublicBundle(keys.ed25519_public, keys.x25519_public, keys.key_signature)
    except TypeError as exc:  # pragma: no cover - the wire layer guarantees bytes
        raise ValueError(str(exc)) from exc


# --- chat messages -------------------------------------------------------------------------------


def seal_chat(
    identity: DeviceIdentity,
    key: ChannelKey,
    *,
    body: str,
    sender_name: str,
    client_msg_id: str,
) -> ws.MessageSend:
    """Seal and sign a chat message for sending.

    Args:
        identity: This device.
        key: The channel key of the current epoch.
        body: The text.
        sender_name: Our display name, sealed alongside.
        client_msg_id: The message id (bound into both seals and the signature).

    Returns:
        The ``channel.message.send`` event.

    Raises:
        ValueError: The body or name is too long for the crypto layer.
    """
    if key.scope.kind is not ScopeKind.CHANNEL:
        raise ValueError("a chat message needs a channel key")
    channel_id = key.scope.id
    sealed = seal_fields(
        identity,
        key,
        {Purpose.MESSAGE_BODY: body, Purpose.SENDER_NAME: sender_name},
        message_id=client_msg_id,
    )
    return ws.MessageSend(
        channel_id=channel_id,
        client_msg_id=client_msg_id,
        key_epoch=key.epoch,
        sealed_body=sealed.fields[Purpose.MESSAGE_BODY],
        sealed_sender_name=sealed.fields[Purpose.SENDER_NAME],
        signature=sealed.signature,
    )


def open_chat(message: wire.ChannelMessage, key: ChannelKey, sender: PublicBundle) -> OpenedMessage:
    """Verify and open a stored chat message.

    Args:
        message: The message as the server delivered it.
        key: The channel key of the message's epoch.
        sender: The bundle of the server-reported sending device.

    Returns:
        The opened message (body and sender name).

    Raises:
        InvalidSignature: The signature does not verify (altered, or another sender).
        DecryptionError: A field does not authenticate, or the message is malformed.
    """
    try:
        sealed = SealedMessage(
            scope=Scope.channel(message.channel_id),
            epoch=message.key_epoch,
            message_id=message.client_msg_id,
            sender_device_id=sender.device_id,
            fields={
                Purpose.MESSAGE_BODY: message.sealed_body,
                Purpose.SENDER_NAME: message.sealed_sender_name,
            },
            signature=message.signature,
        )
    except (TypeError, ValueError):
        # A field of a length no sender produces: it was altered after sealing.
        raise DecryptionError from None
    opened = open_message(sealed, key=key, sender=sender)
    if opened.body is None or opened.sender_name is None:  # pragma: no cover - both were sealed
        raise DecryptionError
    return opened


# --- channel names and profiles ------------------------------------------------------------------


def seal_channel_name(
    identity: DeviceIdentity, device_id: str, key: ChannelKey, name: str
) -> wire.ChannelName:
    """Seal and sign a channel name under the channel key.

    Args:
        identity: This device.
        device_id: This device's server id.
        key: The channel key (its epoch becomes the name's epoch).
        name: The name.

    Returns:
        The wire `ChannelName`.
    """
    sealed = seal_fields(identity, key, {Purpose.CHANNEL_NAME: name}, message_id=NAME_MESSAGE_ID)
    return wire.ChannelName(
        key_epoch=key.epoch,
        device_id=device_id,
        sealed_name=sealed.fields[Purpose.CHANNEL_NAME],
        signature=sealed.signature,
    )


def open_channel_name(
    name: wire.ChannelName, channel_id: str, key: ChannelKey, sender: PublicBundle
) -> str:
    """Verify and open a channel name.

    Args:
        name: The sealed name.
        channel_id: The channel it claims to name.
        key: The channel key of ``name.key_epoch``.
        sender: The bundle of ``name.device_id``.

    Returns:
        The name.

    Raises:
        InvalidSignature: The signature does not verify.
        DecryptionError: It does not authenticate (another channel, epoch, or altered).
    """
    try:
        sealed = SealedMessage(
            scope=Scope.channel(channel_id),
            epoch=name.key_epoch,
            message_id=NAME_MESSAGE_ID,
            sender_device_id=sender.device_id,
            fields={Purpose.CHANNEL_NAME: name.sealed_name},
            signature=name.signature,
        )
    except (TypeError, ValueError):
        raise DecryptionError from None
    text = open_message(sealed, key=key, sender=sender).channel_name
    if text is None:  # pragma: no cover - the only field sealed
        raise DecryptionError
    return text


def seal_profile(identity: DeviceIdentity, key: ChannelKey, name: str) -> wire.ProfileUpdateRequest:
    """Seal and sign our display name under our directory key.

    Args:
        identity: This device.
        key: Our directory key (scope: our own directory).
        name: The display name.

    Returns:
        The ``PUT /v1/directory/profile`` body.
    """
    sealed = seal_fields(identity, key, {Purpose.PROFILE_NAME: name}, message_id=NAME_MESSAGE_ID)
    return wire.ProfileUpdateRequest(
        key_epoch=key.epoch,
        sealed_display_name=sealed.fields[Purpose.PROFILE_NAME],
        signature=sealed.signature,
    )


def open_profile(profile: wire.ProfileInfo, key: ChannelKey, sender: PublicBundle) -> str:
    """Verify and open a directory profile's display name.

    Args:
        profile: The profile.
        key: The owner's directory key of ``profile.key_epoch``.
        sender: The bundle of ``profile.device_id`` (one of the owner's devices).

    Returns:
        The display name.

    Raises:
        InvalidSignature: The signature does not verify.
        DecryptionError: It does not authenticate.
    """
    try:
        sealed = SealedMessage(
            scope=Scope.directory(profile.user_id),
            epoch=profile.key_epoch,
            message_id=NAME_MESSAGE_ID,
            sender_device_id=sender.device_id,
            fields={Purpose.PROFILE_NAME: profile.sealed_display_name},
            signature=profile.signature,
        )
    except (TypeError, ValueError):
        raise DecryptionError from None
    text = open_message(sealed, key=key, sender=sender).profile_name
    if text is None:  # pragma: no cover - the only field sealed
        raise DecryptionError
    return text


# --- envelopes -----------------------------------------------------------------------------------


def envelope_upload(
    identity: DeviceIdentity, recipient_id: str, recipient: PublicBundle, key: ChannelKey
) -> wire.EnvelopeUpload:
    """Wrap a channel or directory key for one device.

    The wire's ``sealed_key`` is the crypto envelope without its signature (header and
    ciphertext); ``signature`` is the sender's signature over it.

    Args:
        identity: This device.
        recipient_id: The recipient's server id.
        recipient: The recipient's bundle.
        key: The key to hand over.

    Returns:
        The upload.
    """
    envelope = make_envelope(identity, recipient, key)
    raw = envelope.to_bytes()
    return wire.EnvelopeUpload(
        recipient_device_id=recipient_id,
        sealed_key=raw[:-_SIGNATURE_LENGTH],
        signature=envelope.signature,
    )


def open_envelope_upload(
    sealed_key: bytes,
    signature: bytes,
    identity: DeviceIdentity,
    sender: PublicBundle,
    *,
    scope: Scope,
    epoch: int,
) -> ChannelKey:
    """Verify and open an envelope addressed to this device.

    Args:
        sealed_key: The envelope without its signature.
        signature: The sender's signature.
        identity: This device.
        sender: The bundle of the server-reported sending device.
        scope: The channel (or the directory) the server says the key is for.
        epoch: The epoch the server says the key has.

    Returns:
        The key.

    Raises:
        InvalidSignature: The signature does not verify.
        DecryptionError: The envelope is malformed, for another device, or does not authenticate,
            or its scope or epoch is not the one claimed.
    """
    try:
        envelope = Envelope.from_bytes(sealed_key + signature)
    except (TypeError, ValueError):
        raise DecryptionError from None
    if envelope.scope != scope or envelope.epoch != epoch:
        raise DecryptionError
    if envelope.sender_device_id != sender.device_id:
        # The server names a sender whose keys did not make this envelope.
        raise InvalidSignature("envelope signature")
    return open_envelope(envelope, identity, sender=sender)


# --- device approvals ----------------------------------------------------------------------------


def approval_signature(
    identity: DeviceIdentity, *, user_id: str, device_id: str, keys: DeviceKeys
) -> bytes:
    """Sign the approval of one of our new devices (dialtone.crypto's device approval, over the
    user id and the new device's keys).

    Args:
        identity: The approving device.
        user_id: The owner of both devices.
        device_id: The new device's server id (the crypto layer binds the keys instead).
        keys: The new device's keys.

    Returns:
        The 64-byte Ed25519 signature.

    Raises:
        ValueError: The new device's keys are malformed.
        InvalidSignature: The new device's self-signature does not verify.
    """
    del device_id  # the server id is mapped to the keys by pins, not by this signature
    return approve_device(identity, user_id, bundle_from_keys(keys))


def verify_approval(
    approver: PublicBundle, signature: bytes, *, user_id: str, device_id: str, keys: DeviceKeys
) -> bool:
    """Check a device's approval signature.

    Args:
        approver: The approving device's bundle.
        signature: The approval signature.
        user_id: The owner of both devices.
        device_id: The approved device's server id (unused by the signature; see above).
        keys: The approved device's keys.

    Returns:
        Whether the signature verifies.
    """
    del device_id
    try:
        verify_device_approval(approver, user_id, bundle_from_keys(keys), signature)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# --- WebRTC signaling ----------------------------------------------------------------------------


class SignalKind(enum.StrEnum):
    """Which SDP a signature covers."""

    OFFER = "offer"
    ANSWER = "answer"


def signal_signing_input(
    kind: SignalKind,
    *,
    channel_id: str,
    call_id: str,
    from_device_id: str,
    to_device_id: str,
    sdp: str,
) -> bytes:
    """The bytes a device signs for a WebRTC offer or answer.

    Layout: ``"dialtone/v1/webrtc-signal\\0" || 0x01 || then each of kind, channel id, call id,
    sender device id, recipient device id, SDP as len (4, big-endian) || UTF-8``. Binding both
    devices and the call keeps a signed SDP from being replayed to another peer or call; binding
    the SDP protects the DTLS fingerprint inside it, which in turn protects the media.

    Returns:
        The signing input.
    """
    return b"".join(
        (
            _SIGNAL_LABEL,
            _VERSION,
            _field(kind.value),
            _field(channel_id),
            _field(call_id),
            _field(from_device_id),
            _field(to_device_id),
            _field(sdp),
        )
    )


def sign_signal(
    identity: DeviceIdentity,
    kind: SignalKind,
    *,
    channel_id: str,
    call_id: str,
    from_device_id: str,
    to_device_id: str,
    sdp: str,
) -> bytes:
    """Sign an outgoing offer or answer with this device's Ed25519 key (see
    `signal_signing_input`)."""
    return identity.signing_key.sign(
        signal_signing_input(
            kind,
            channel_id=channel_id,
            call_id=call_id,
            from_device_id=from_device_id,
            to_device_id=to_device_id,
            sdp=sdp,
        )
    )


def verify_signal(
    sender: PublicBundle,
    signature: bytes,
    kind: SignalKind,
    *,
    channel_id: str,
    call_id: str,
    from_device_id: str,
    to_device_id: str,
    sdp: str,
) -> bool:
    """Check an incoming offer's or answer's signature against the sender's device key.

    Returns:
        Whether it verifies.
    """
    data = signal_signing_input(
        kind,
        channel_id=channel_id,
        call_id=call_id,
        from_device_id=from_device_id,
        to_device_id=to_device_id,
        sdp=sdp,
    )
    try:
        sender.verify_key.verify(signature, data, what=f"WebRTC {kind.value}")
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
