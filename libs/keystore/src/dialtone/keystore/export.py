"""Device-key export files: the device keys alone, sealed under their own passphrase, for backup.

An export uses the keystore's container (same layout, magic ``DTKEXPRT``) so one reader and one
specification cover both, and an export can never be mistaken for a keystore or vice versa.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from dialtone.keystore import container
from dialtone.keystore._fsutil import atomic_write
from dialtone.keystore._io import read_sealed
from dialtone.keystore.container import FileKind
from dialtone.keystore.contents import decode_export, encode_export
from dialtone.keystore.params import DEFAULT_PARAMS, ScryptParams
from dialtone.keystore.records import DeviceKeys

RandomBytes = Callable[[int], bytes]


def check_new_passphrase(passphrase: object) -> str:
    """Validate a passphrase about to protect a new file.

    Raises:
        TypeError: not a str.
        ValueError: empty, or not encodable as UTF-8.
    """
    if not isinstance(passphrase, str):
        raise TypeError(f"passphrase must be a str, not {type(passphrase).__name__}")
    if not passphrase:
        raise ValueError("passphrase must not be empty")
    container.encode_passphrase(passphrase)  # refuses text that has no UTF-8 form
    return passphrase


def seal_export(
    device: DeviceKeys,
    passphrase: str,
    *,
    params: ScryptParams = DEFAULT_PARAMS,
    randbytes: RandomBytes = os.urandom,
) -> bytes:
    """Build the bytes of a device-key export file.

    Args:
        device: the device keys to export.
        passphrase: the export's own passphrase.
        params: scrypt parameters for the export.
        randbytes: source of the salt and nonce (injectable for test vectors).

    Returns:
        The export file's bytes.

    Raises:
        TypeError: wrong argument types.
        ValueError: empty passphrase.
    """
    if not isinstance(device, DeviceKeys):
        raise TypeError("device must be DeviceKeys")
    check_new_passphrase(passphrase)
    salt = randbytes(container.SALT_SIZE)
    keys = container.derive_keys(passphrase, salt, params)
    nonce = randbytes(container.NONCE_SIZE)
    return container.seal(
        FileKind.DEVICE_EXPORT, encode_export(device), keys, salt=salt, params=params, nonce=nonce
    )


def write_device_key_export(
    path: str | os.PathLike[str],
    device: DeviceKeys,
    passphrase: str,
    *,
    params: ScryptParams = DEFAULT_PARAMS,
    overwrite: bool = False,
    randbytes: RandomBytes = os.urandom,
) -> None:
    """Write device keys to an export file (mode 0600, written atomically).

    Args:
        path: the export file; its directory must exist.
        device: the device keys.
        passphrase: the export's own passphrase (independent of the keystore's).
        params: scrypt parameters.
        overwrite: replace an existing file instead of failing.
        randbytes: source of the salt and nonce.

    Raises:
        KeystoreExists: the file exists and ``overwrite`` is false.
        TypeError: wrong argument types.
        ValueError: empty passphrase.
        OSError: the file cannot be written.
    """
    data = seal_export(device, passphrase, params=params, randbytes=randbytes)
    atomic_write(Path(path), data, overwrite=overwrite)


def read_device_key_export(path: str | os.PathLike[str], passphrase: str) -> DeviceKeys:
    """Read the device keys from an export file.

    Args:
        path: the export file.
        passphrase: the export's passphrase.

    Returns:
        The device keys.

    Raises:
        KeystoreNotFound: no such file.
        WrongPassphrase: the passphrase does not unlock it.
        KeystoreCorrupt: the file is damaged, modified, or not an export (e.g. a keystore).
        UnsupportedFormat: an intact export of an unknown format version.
    """
    data = read_sealed(Path(path), FileKind.DEVICE_EXPORT)
    payload, _, _ = container.unseal(data, FileKind.DEVICE_EXPORT, passphrase)
    return decode_export(payload)
