"""Dialtone's end-to-end encryption: sealed fields, envelopes, signatures, fingerprints.

A client needs only a few calls::

    from dialtone.crypto import (
        ChannelKey, DeviceIdentity, make_envelope, open_envelope, open_message, safety_number,
        seal_message,
    )

    alice, bob = DeviceIdentity.generate(), DeviceIdentity.generate()
    bundle = alice.public_bundle.to_dict()            # publish: JSON-ready, signed
    key = ChannelKey.generate("general", epoch=1)     # a new channel key
    envelope = make_envelope(alice, bob.public_bundle, key)
    bob_key = open_envelope(envelope, bob, sender=alice.public_bundle)
    sealed = seal_message(alice, key, "hi Bob", sender_name="Alice")
    opened = open_message(sealed, key=bob_key, sender=alice.public_bundle)
    assert opened.body == "hi Bob"

Data a device keeps on its own disk (an offline queue) is sealed with `seal_local` and opened with
`open_local`, under a key derived from the device's private keys.

Every authentication failure raises `DecryptionError`, a bad signature `InvalidSignature`, and a
missing key or bundle `MissingKeyError`. Server-side account helpers live in
`dialtone.crypto.accounts`; the byte layouts are in docs/protocol-crypto.md.
"""

from dialtone.crypto.encoding import MAX_ID_LENGTH, RandomSource, b64url_decode, b64url_encode
from dialtone.crypto.envelopes import Envelope, make_envelope, open_envelope
from dialtone.crypto.errors import CryptoError, DecryptionError, InvalidSignature, MissingKeyError
from dialtone.crypto.identity import (
    FORMAT_VERSION,
    DeviceIdentity,
    PublicBundle,
    approve_device,
    verify_device_approval,
)
from dialtone.crypto.keys import EPOCH_MESSAGE_LIMIT, MAX_EPOCH, ChannelKey, Scope, ScopeKind
from dialtone.crypto.local import LOCAL_OVERHEAD, MAX_LOCAL_CONTEXT, open_local, seal_local
from dialtone.crypto.messages import (
    NAME_MESSAGE_ID,
    OpenedMessage,
    Purpose,
    SealedMessage,
    new_message_id,
    open_message,
    seal_channel_name,
    seal_fields,
    seal_message,
    seal_profile_name,
)
from dialtone.crypto.padding import MAX_PLAINTEXT
from dialtone.crypto.verification import fingerprint, safety_number

__version__ = "0.1.0"

__all__ = [
    "EPOCH_MESSAGE_LIMIT",
    "FORMAT_VERSION",
    "LOCAL_OVERHEAD",
    "MAX_EPOCH",
    "MAX_ID_LENGTH",
    "MAX_LOCAL_CONTEXT",
    "MAX_PLAINTEXT",
    "NAME_MESSAGE_ID",
    "ChannelKey",
    "CryptoError",
    "DecryptionError",
    "DeviceIdentity",
    "Envelope",
    "InvalidSignature",
    "MissingKeyError",
    "OpenedMessage",
    "PublicBundle",
    "Purpose",
    "RandomSource",
    "Scope",
    "ScopeKind",
    "SealedMessage",
    "__version__",
    "approve_device",
    "b64url_decode",
    "b64url_encode",
    "fingerprint",
    "make_envelope",
    "new_message_id",
    "open_envelope",
    "open_local",
    "open_message",
    "safety_number",
    "seal_channel_name",
    "seal_fields",
    "seal_local",
    "seal_message",
    "seal_profile_name",
    "verify_device_approval",
]
