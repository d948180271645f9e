"""Device-key export and import: a backup sealed under its own passphrase."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialtone.keystore import (
    DeviceKeys,
    DeviceKeysConflict,
    DeviceKeysMissing,
    Keystore,
    KeystoreCorrupt,
    KeystoreExists,
    KeystoreNotFound,
    ScryptParams,
    WrongPassphrase,
    read_device_key_export,
    write_device_key_export,
)

OTHER = DeviceKeys("device-2", b"\x05" * 32, b"\x06" * 32)


def test_export_then_import_into_a_new_keystore(
    tmp_path: Path, cheap_params: ScryptParams, device_keys: DeviceKeys
) -> None:
    backup = tmp_path / "backup.dtkx"
    with Keystore.create(tmp_path / "old.dtks", "old pw", params=cheap_params) as store:
        store.set_device_keys(device_keys)
        store.export_device_keys(backup, "backup pw", params=cheap_params)
    with Keystore.create(tmp_path / "new.dtks", "new pw", params=cheap_params) as store:
        assert store.import_device_keys(backup, "backup pw") == device_keys
        assert store.dirty
    with Keystore.open(tmp_path / "new.dtks", "new pw") as store:
        assert store.device_keys == device_keys


def test_export_uses_its_own_passphrase(
    tmp_path: Path, cheap_params: ScryptParams, device_keys: DeviceKeys
) -> None:
    backup = tmp_path / "backup.dtkx"
    write_device_key_export(backup, device_keys, "backup pw", params=cheap_params)
    before = backup.read_bytes()
    with pytest.raises(WrongPassphrase):
        read_device_key_export(backup, "keystore pw")
    assert backup.read_bytes() == before
    assert read_device_key_export(backup, "backup pw") == device_keys


def test_export_without_device_keys_fails(tmp_path: Path, cheap_params: ScryptParams) -> None:
    store = Keystore.create(tmp_path / "s.dtks", "pw", params=cheap_params)
    with pytest.raises(DeviceKeysMissing):
        store.export_device_keys(tmp_path / "backup.dtkx", "backup pw")
    store.close()
    assert not (tmp_path / "backup.dtkx").exists()


def test_export_refuses_to_overwrite_unless_asked(
    tmp_path: Path, cheap_params: ScryptParams, device_keys: DeviceKeys
) -> None:
    backup = tmp_path / "backup.dtkx"
    write_device_key_export(backup, OTHER, "pw", params=cheap_params)
    with pytest.raises(KeystoreExists):
        write_device_key_export(backup, device_keys, "pw", params=cheap_params)
    assert read_device_key_export(backup, "pw") == OTHER
    write_device_key_export(backup, device_keys, "pw", params=cheap_params, overwrite=True)
    assert read_device_key_export(backup, "pw") == device_keys
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.dtkx"]


def test_import_does_not_silently_replace_other_device_keys(
    tmp_path: Path, cheap_params: ScryptParams, device_keys: DeviceKeys
) -> None:
    backup = tmp_path / "backup.dtkx"
    write_device_key_export(backup, OTHER, "pw", params=cheap_params)
    with Keystore.create(
        tmp_path / "s.dtks", "pw", params=cheap_params, device_keys=device_keys
    ) as store:
        with pytest.raises(DeviceKeysConflict):
            store.import_device_keys(backup, "pw")
        assert store.device_keys == device_keys
        store.import_device_keys(backup, "pw", replace=True)
        assert store.device_keys == OTHER


def test_a_keystore_is_not_accepted_as_an_export(
    tmp_path: Path, cheap_params: ScryptParams
) -> None:
    Keystore.create(tmp_path / "s.dtks", "pw", params=cheap_params).close()
    with pytest.raises(KeystoreCorrupt, match="keystore, not a device-key export"):
        read_device_key_export(tmp_path / "s.dtks", "pw")


def test_damaged_or_missing_export(
    tmp_path: Path, cheap_params: ScryptParams, device_keys: DeviceKeys
) -> None:
    backup = tmp_path / "backup.dtkx"
    with pytest.raises(KeystoreNotFound):
        read_device_key_export(backup, "pw")
    write_device_key_export(backup, device_keys, "pw", params=cheap_params)
    data = bytearray(backup.read_bytes())
    for offset in range(len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= 0x80
        backup.write_bytes(bytes(damaged))
        with pytest.raises(KeystoreCorrupt):
            read_device_key_export(backup, "pw")
        assert backup.read_bytes() == bytes(damaged)


def test_export_rejects_an_empty_passphrase(
    tmp_path: Path, cheap_params: ScryptParams, device_keys: DeviceKeys
) -> None:
    with pytest.raises(ValueError, match="empty"):
        write_device_key_export(tmp_path / "b.dtkx", device_keys, "", params=cheap_params)
    assert not (tmp_path / "b.dtkx").exists()
