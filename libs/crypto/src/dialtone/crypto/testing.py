"""Test helpers: reproducible randomness, and the protocol's deterministic test vectors.

`DeterministicRandom` and `ScriptedRandom` are `RandomSource`s for tests (never for real keys).
`build_protocol_vectors()` derives every vector printed in docs/protocol-crypto.md from fixed
inputs; libs/crypto/tests/vectors/dialtone-v1.json holds its output and the tests check that
the library still produces it byte for byte. Regenerate (only for a deliberate format change)
with ``python -m dialtone.crypto.testing > libs/crypto/tests/vectors/dialtone-v1.json``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from dialtone.crypto import accounts
from dialtone.crypto.encoding import b64url_encode
from dialtone.crypto.envelopes import _AD_LABEL, _KEY_LABEL, envelope_header, make_envelope
from dialtone.crypto.identity import (
    DeviceIdentity,
    approve_device,
    bundle_signing_input,
    device_approval_input,
)
from dialtone.crypto.keys import ChannelKey, Scope
from dialtone.crypto.messages import (
    Purpose,
    SealedMessage,
    associated_data,
    seal_message,
    seal_profile_name,
)
from dialtone.crypto.padding import pad
from dialtone.crypto.primitives import ExchangeKey, SigningKey, hkdf_sha256
from dialtone.crypto.verification import safety_number, safety_number_half

__all__ = ["DeterministicRandom", "ScriptedRandom", "build_protocol_vectors"]

VECTOR_CHANNEL_ID = "6f1c2a44-0b57-4c8e-9d2a-5e7f3b1a9c60"
VECTOR_ALICE_USER_ID = "0a11ce00-7e57-4d0e-8a11-ce0000000001"


class DeterministicRandom:
    """A reproducible byte stream: SHA-256(seed || counter) blocks, counter 8 bytes big-endian.

    Args:
        seed: Any bytes; the same seed gives the same stream.
    """

    def __init__(self, seed: bytes = b"dialtone") -> None:
        self._seed = seed
        self._counter = 0
        self._buffer = b""

    def __call__(self, n: int) -> bytes:
        while len(self._buffer) < n:
            block = hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._buffer += block
            self._counter += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


class ScriptedRandom:
    """Hands out the given values in order; each request must ask for exactly the next one's size.

    Raises (when called):
        AssertionError: A request asks for another size, or the script is used up.
    """

    def __init__(self, values: Iterable[bytes]) -> None:
        self._values = list(values)

    def __call__(self, n: int) -> bytes:
        if not self._values:
            raise AssertionError(f"ScriptedRandom ran out (asked for {n} bytes)")
        value = self._values.pop(0)
        if len(value) != n:
            raise AssertionError(
                f"ScriptedRandom: asked for {n} bytes, next value has {len(value)}"
            )
        return value

    @property
    def exhausted(self) -> bool:
        """Whether every value was handed out."""
        return not self._values


def _pattern(start: int, length: int) -> bytes:
    return bytes((start + i) % 256 for i in range(length))


def _device_vector(identity: DeviceIdentity) -> dict[str, Any]:
    bundle = identity.public_bundle
    return {
        "ed25519_seed": identity.signing_key.seed.hex(),
        "x25519_private": identity.exchange_key.private_bytes.hex(),
        "ed25519_public": bundle.ed25519_public.hex(),
        "x25519_public": bundle.x25519_public.hex(),
        "bundle_signing_input": bundle_signing_input(
            bundle.ed25519_public, bundle.x25519_public
        ).hex(),
        "bundle_signature": bundle.signature.hex(),
        "device_id": bundle.device_id,
        "fingerprint": bundle.fingerprint,
        "json": bundle.to_dict(),
    }


def _message_vector(sealed: SealedMessage, plaintexts: dict[Purpose, str]) -> dict[str, Any]:
    purposes = sorted(sealed.fields)
    return {
        "plaintext": {p.wire_name: plaintexts[p] for p in purposes},
        "message_id": sealed.message_id,
        "nonce": {p.wire_name: sealed.fields[p][1:13].hex() for p in purposes},
        "context": sealed.context.hex(),
        "padded": {p.wire_name: pad(plaintexts[p].encode("utf-8")).hex() for p in purposes},
        "associated_data": {
            p.wire_name: associated_data(p, sealed.context).hex() for p in purposes
        },
        "sealed": {p.wire_name: sealed.fields[p].hex() for p in purposes},
        "signing_input": sealed.signing_input().hex(),
        "signature": sealed.signature.hex(),
        "json": sealed.to_dict(),
    }


def build_protocol_vectors() -> dict[str, Any]:
    """Every deterministic vector of the protocol, from fixed inputs. See the module docstring."""
    alice = DeviceIdentity(*_keys(0x00))
    bob = DeviceIdentity(*_keys(0x40))
    alice_laptop = DeviceIdentity(*_keys(0x11))
    channel_key = ChannelKey(Scope.channel(VECTOR_CHANNEL_ID), 7, _pattern(0x80, 32))
    directory_key = ChannelKey(Scope.directory(VECTOR_ALICE_USER_ID), 2, _pattern(0xA0, 32))

    message_randoms = [_pattern(0xC0, 16), _pattern(0xD0, 12), _pattern(0xDC, 12)]
    message_text = {Purpose.MESSAGE_BODY: "Hello, Bob! \u2603", Purpose.SENDER_NAME: "Alice"}
    message = seal_message(
        alice,
        channel_key,
        message_text[Purpose.MESSAGE_BODY],
        sender_name=message_text[Purpose.SENDER_NAME],
        rng=ScriptedRandom(message_randoms),
    )
    profile_randoms = [_pattern(0xE8, 12)]
    profile_text = {Purpose.PROFILE_NAME: "Alice Liddell"}
    profile = seal_profile_name(
        alice,
        directory_key,
        profile_text[Purpose.PROFILE_NAME],
        rng=ScriptedRandom(profile_randoms),
    )

    ephemeral_private = _pattern(0xF0, 32)
    envelope = make_envelope(
        alice, bob.public_bundle, channel_key, rng=ScriptedRandom([ephemeral_private])
    )
    ephemeral = ExchangeKey(ephemeral_private)
    shared = ephemeral.exchange(bob.public_bundle.x25519_public)
    header = envelope_header(
        channel_key.scope,
        channel_key.epoch,
        alice.device_id,
        bob.device_id,
        ephemeral.public_bytes,
    )
    info = _KEY_LABEL + header + bob.public_bundle.x25519_public
    okm = hkdf_sha256(shared, salt=b"", info=info, length=44)

    pepper = _pattern(0x10, 32)
    password_params = accounts.PasswordParams(log2_n=10, r=8, p=1)
    password_salt = _pattern(0x30, 16)
    vector_words = "correct horse battery staple"
    password_hash = accounts._derive(
        accounts._password_bytes(vector_words), password_salt, password_params, 32
    )

    return {
        "format_version": 1,
        "devices": {
            "alice": _device_vector(alice),
            "bob": _device_vector(bob),
            "alice_laptop": _device_vector(alice_laptop),
        },
        "users": {"alice": VECTOR_ALICE_USER_ID},
        "channel_key": {
            "channel_id": VECTOR_CHANNEL_ID,
            "epoch": 7,
            "secret": channel_key.secret.hex(),
        },
        "directory_key": {
            "owner_id": VECTOR_ALICE_USER_ID,
            "epoch": 2,
            "secret": directory_key.secret.hex(),
        },
        "message": {
            "message_id_bytes": message_randoms[0].hex(),
            **_message_vector(message, message_text),
        },
        "profile": _message_vector(profile, profile_text),
        "envelope": {
            "sender": "alice",
            "recipient": "bob",
            "ephemeral_private": ephemeral_private.hex(),
            "ephemeral_public": ephemeral.public_bytes.hex(),
            "shared_secret": shared.hex(),
            "header": header.hex(),
            "hkdf_info": info.hex(),
            "wrap_key": okm[:32].hex(),
            "wrap_nonce": okm[32:].hex(),
            "associated_data": (_AD_LABEL + header).hex(),
            "ciphertext": envelope.ciphertext.hex(),
            "signing_input": envelope.signing_input().hex(),
            "signature": envelope.signature.hex(),
            "bytes": envelope.to_bytes().hex(),
            "json": envelope.to_dict(),
        },
        "device_approval": {
            "approver": "alice",
            "user_id": VECTOR_ALICE_USER_ID,
            "device": "alice_laptop",
            "signing_input": device_approval_input(
                VECTOR_ALICE_USER_ID, alice_laptop.public_bundle
            ).hex(),
            "signature": approve_device(
                alice, VECTOR_ALICE_USER_ID, alice_laptop.public_bundle
            ).hex(),
        },
        "safety_number": {
            "alice_user": "alice",
            "bob_user": "bob",
            "alice_half": safety_number_half("alice", [alice.public_bundle]),
            "bob_half": safety_number_half("bob", [bob.public_bundle]),
            "number": safety_number("alice", [alice.public_bundle], "bob", [bob.public_bundle]),
        },
        "usernames": {
            "pepper": pepper.hex(),
            "cases": [
                {
                    "input": name,
                    "normalized": accounts.normalize_username(name),
                    "hash": accounts.username_hash(pepper, name).hex(),
                }
                for name in ("alice", "ALICE", "\uff21lice", "Stra\u00dfe.Fan", "bob_42")
            ],
        },
        "password": {
            "password": vector_words,
            "log2_n": password_params.log2_n,
            "r": password_params.r,
            "p": password_params.p,
            "salt": password_salt.hex(),
            "hash": password_hash.hex(),
            "encoded": accounts._encode(password_params, password_salt, password_hash),
        },
        "base64url": {
            "input": _pattern(0xFA, 8).hex(),
            "encoded": b64url_encode(_pattern(0xFA, 8)),
        },
    }


def _keys(start: int) -> tuple[SigningKey, ExchangeKey]:
    return SigningKey(_pattern(start, 32)), ExchangeKey(_pattern(start + 0x20, 32))


if __name__ == "__main__":
    print(json.dumps(build_protocol_vectors(), indent=2, ensure_ascii=True))
