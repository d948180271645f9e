"""Damaged files: every kind of damage gives a clear error and leaves the file byte-identical."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dialtone.keystore import (
    DeviceKeys,
    Keystore,
    KeystoreCorrupt,
    KeystoreError,
    ScryptParams,
    UnsupportedFormat,
    WrongPassphrase,
)

SERVER = "https://chat.example.org"


@pytest.fixture
def sample(
    store_path: Path, passphrase: str, cheap_params: ScryptParams, device_keys: DeviceKeys
) -> bytes:
    """A small keystore with a bit of everything; returns its bytes."""
    with Keystore.create(store_path, passphrase, params=cheap_params) as store:
        store.set_device_keys(device_keys)
        store.put_channel_key(SERVER, "c", 0, b"\x11" * 32)
        store.put_directory_key(SERVER, 0, b"\x22" * 32)
        store.pin_device(SERVER, "bob", "phone", b"fingerprint")
    return store_path.read_bytes()


def assert_open_fails_untouched(
    path: Path, passphrase: str, expected: type[KeystoreError]
) -> KeystoreError:
    before = path.read_bytes()
    stat_before = os.stat(path)
    with pytest.raises(expected) as info:
        Keystore.open(path, passphrase)
    assert path.read_bytes() == before
    stat_after = os.stat(path)
    assert (stat_after.st_ino, stat_after.st_mtime_ns) == (
        stat_before.st_ino,
        stat_before.st_mtime_ns,
    )
    return info.value


def with_checksum(body: bytes) -> bytes:
    """Re-seal the unkeyed checksum, as a deliberate tamperer would."""
    return body + hashlib.sha256(body).digest()


def test_every_flipped_byte_is_reported_as_corrupt(
    sample: bytes, store_path: Path, passphrase: str
) -> None:
    for offset in range(len(sample)):
        damaged = bytearray(sample)
        damaged[offset] ^= 0xFF
        store_path.write_bytes(bytes(damaged))
        error = assert_open_fails_untouched(store_path, passphrase, KeystoreCorrupt)
        assert str(error), offset


def test_every_truncation_is_reported_as_corrupt(
    sample: bytes, store_path: Path, passphrase: str
) -> None:
    for length in range(len(sample)):
        store_path.write_bytes(sample[:length])
        error = assert_open_fails_untouched(store_path, passphrase, KeystoreCorrupt)
        assert "truncated" in str(error) or "checksum" in str(error)


def test_appended_bytes_are_reported_as_corrupt(
    sample: bytes, store_path: Path, passphrase: str
) -> None:
    store_path.write_bytes(sample + b"\x00")
    assert_open_fails_untouched(store_path, passphrase, KeystoreCorrupt)


@pytest.mark.parametrize(
    "content", [b"", b"DTKSTOR", b"not a keystore at all, just some text\n" * 4, b"\x00" * 4096]
)
def test_foreign_files_are_reported_as_corrupt(
    store_path: Path, passphrase: str, content: bytes
) -> None:
    store_path.parent.mkdir(parents=True)
    store_path.write_bytes(content)
    assert_open_fails_untouched(store_path, passphrase, KeystoreCorrupt)


def test_an_intact_future_version_is_unsupported_not_corrupt(
    sample: bytes, store_path: Path, passphrase: str
) -> None:
    body = bytearray(sample[:-32])
    body[8] = 2
    store_path.write_bytes(with_checksum(bytes(body)))
    error = assert_open_fails_untouched(store_path, passphrase, UnsupportedFormat)
    assert "version 2" in str(error)


# Regions of the version-1 layout, as (name, first offset, end offset or None for the payload).
HEADER_REGIONS = [
    ("magic", 0, 8),
    ("version", 8, 9),
    ("kdf", 9, 10),
    ("encoding", 10, 11),
    ("log2_n", 11, 12),
    ("r", 12, 16),
    ("p", 16, 20),
    ("salt", 20, 36),
    ("nonce", 36, 48),
    ("key check", 48, 64),
]


def test_deliberate_tampering_with_a_recomputed_checksum_never_opens(
    sample: bytes, store_path: Path, passphrase: str
) -> None:
    """Whoever rewrites the checksum still cannot change a byte without detection.

    Header fields the passphrase check depends on (params, salt, key check) then look like a wrong
    passphrase; everything else is reported as corrupt or unsupported.
    """
    body = sample[:-32]
    expected: dict[str, tuple[type[KeystoreError], ...]] = {
        "magic": (KeystoreCorrupt,),
        "version": (UnsupportedFormat,),
        "kdf": (UnsupportedFormat,),
        "encoding": (UnsupportedFormat,),
        "log2_n": (KeystoreCorrupt, WrongPassphrase),
        "r": (KeystoreCorrupt, WrongPassphrase),
        "p": (KeystoreCorrupt, WrongPassphrase),
        "salt": (WrongPassphrase,),
        "nonce": (KeystoreCorrupt,),
        "key check": (WrongPassphrase,),
        "ciphertext": (KeystoreCorrupt,),
    }
    regions = [*HEADER_REGIONS, ("ciphertext", 64, len(body))]
    for name, start, end in regions:
        for offset in range(start, end):
            tampered = bytearray(body)
            tampered[offset] ^= 0x01
            store_path.write_bytes(with_checksum(bytes(tampered)))
            with pytest.raises(expected[name]):
                Keystore.open(store_path, passphrase)
            assert store_path.read_bytes() == with_checksum(bytes(tampered))


def test_an_export_file_is_not_accepted_as_a_keystore(
    tmp_path: Path, cheap_params: ScryptParams, device_keys: DeviceKeys, passphrase: str
) -> None:
    export = tmp_path / "backup.dtkx"
    with Keystore.create(tmp_path / "s.dtks", passphrase, params=cheap_params) as store:
        store.set_device_keys(device_keys)
        store.export_device_keys(export, passphrase, params=cheap_params)
    error = assert_open_fails_untouched(export, passphrase, KeystoreCorrupt)
    assert "device-key export, not a keystore" in str(error)


def test_a_directory_in_place_of_the_file_is_corrupt(tmp_path: Path, passphrase: str) -> None:
    (tmp_path / "dir.dtks").mkdir()
    with pytest.raises(KeystoreCorrupt, match="not a regular file"):
        Keystore.open(tmp_path / "dir.dtks", passphrase)


def test_an_oversized_file_is_refused_unread(store_path: Path, passphrase: str) -> None:
    store_path.parent.mkdir(parents=True)
    with store_path.open("wb") as stream:
        stream.truncate(64 * 1024 * 1024 + 1)  # sparse: costs no disk space
    assert_open_fails_untouched(store_path, passphrase, KeystoreCorrupt)
