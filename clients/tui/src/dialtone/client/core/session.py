"""The unlocked session: keystore, device identity, account, and the per-server state built on
them. Also the blocking keystore steps (scrypt takes a few hundred milliseconds), meant for a
worker thread.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import attrs

from dialtone.client.core.events import AccountInfo
from dialtone.client.core.keyring import KeyRing
from dialtone.client.core.trust import DeviceBook
from dialtone.crypto import DeviceIdentity
from dialtone.keystore import DeviceKeys, DeviceKeysMissing, Keystore, ScryptParams

__all__ = ["Session", "create_keystore", "identity_from_keys", "open_keystore", "store_identity"]


@attrs.define
class Session:
    """Everything that exists only while logged in.

    Attributes:
        store: The unlocked keystore (locked by this process while open).
        identity: This device's private keys.
        account: The account.
        token: The bearer token.
        book: Device trust.
        keys: Channel and directory keys.
    """

    store: Keystore
    identity: DeviceIdentity
    account: AccountInfo
    token: str
    book: DeviceBook
    keys: KeyRing


def identity_from_keys(keys: DeviceKeys) -> DeviceIdentity:
    """Rebuild a device identity from the keystore's record.

    Args:
        keys: The stored device keys.

    Returns:
        The identity.
    """
    return DeviceIdentity.from_private_bytes(keys.ed25519_private + keys.x25519_private)


def store_identity(device_id: str, identity: DeviceIdentity) -> DeviceKeys:
    """The keystore's record of a device identity.

    Args:
        device_id: The server's id of the device.
        identity: The identity.

    Returns:
        The record.
    """
    private = identity.private_bytes()
    return DeviceKeys(
        device_id=device_id, x25519_private=private[32:], ed25519_private=private[:32]
    )


def open_keystore(path: Path, passphrase: str) -> tuple[Keystore, DeviceKeys]:
    """Unlock an existing keystore (blocking: scrypt).

    Args:
        path: The keystore file.
        passphrase: Its passphrase.

    Returns:
        The open keystore and this device's keys.

    Raises:
        KeystoreNotFound, WrongPassphrase, KeystoreLocked, KeystoreCorrupt: As the keystore says.
        DeviceKeysMissing: The keystore holds no device keys (a registration that never finished).
    """
    store = Keystore.open(path, passphrase)
    keys = store.device_keys
    if keys is None:
        store.close()
        raise DeviceKeysMissing(f"{path} holds no device keys: register or add this device again")
    return store, keys


def create_keystore(path: Path, passphrase: str, params: ScryptParams) -> Keystore:
    """Create a new, empty keystore (blocking: scrypt).

    Raises:
        KeystoreExists: There is one already.
    """
    return Keystore.create(path, passphrase, params=params)


def discard_keystore(store: Keystore) -> None:
    """Close and delete a keystore whose registration failed (it holds nothing of value).

    Args:
        store: The keystore.
    """
    path = store.path
    store.close()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    with contextlib.suppress(FileNotFoundError):
        path.with_name(path.name + ".lock").unlink()
