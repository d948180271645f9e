"""Keystore behaviour: life cycle, save semantics, device keys, channel/directory keys, pins."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dialtone.keystore import (
    DEFAULT_PARAMS,
    DeviceKeys,
    DeviceKeysConflict,
    KeyConflict,
    Keystore,
    KeystoreClosed,
    KeystoreExists,
    KeystoreNotFound,
    ScryptParams,
    Trust,
    WrongPassphrase,
)

NewStore = Callable[..., Keystore]
KEY_A = b"A" * 32
KEY_B = b"B" * 32


def test_create_then_open_returns_the_saved_contents(
    new_store: NewStore, store_path: Path, passphrase: str, server: str, device_keys: DeviceKeys
) -> None:
    with new_store(device_keys=device_keys) as store:
        store.put_channel_key(server, "general", 3, KEY_A)
        store.put_directory_key(server, 1, KEY_B)
    with Keystore.open(store_path, passphrase) as store:
        assert store.device_keys == device_keys
        assert store.channel_key(server, "general", 3) == KEY_A
        assert store.directory_key(server, 1) == KEY_B
        assert store.params == ScryptParams(log2_n=4, r=1, p=1)


def test_default_parameters_create_and_unlock(store_path: Path, passphrase: str) -> None:
    """The real default (80 MiB scrypt) works end to end; its timing is measured by the bench."""
    Keystore.create(store_path, passphrase).close()
    with Keystore.open(store_path, passphrase) as store:
        assert store.params == DEFAULT_PARAMS
    with pytest.raises(WrongPassphrase):
        Keystore.open(store_path, passphrase + "!")


def test_wrong_passphrase_is_reported_and_file_untouched(
    new_store: NewStore, store_path: Path
) -> None:
    new_store().close()
    before = store_path.read_bytes()
    with pytest.raises(WrongPassphrase):
        Keystore.open(store_path, "not the passphrase")
    with pytest.raises(WrongPassphrase):
        Keystore.open(store_path, "")
    assert store_path.read_bytes() == before


def test_passphrase_is_unicode_normalized(store_path: Path, cheap_params: ScryptParams) -> None:
    """A passphrase typed precomposed or decomposed ("é" vs "e" + U+0301) unlocks the same file."""
    Keystore.create(store_path, "caf\u00e9 au lait", params=cheap_params).close()
    Keystore.open(store_path, "cafe\u0301 au lait").close()


def test_create_refuses_to_overwrite(new_store: NewStore, store_path: Path) -> None:
    new_store().close()
    before = store_path.read_bytes()
    with pytest.raises(KeystoreExists):
        new_store()
    assert store_path.read_bytes() == before


def test_open_missing_file_raises_not_found_without_leaving_a_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "nothing.dtks"
    with pytest.raises(KeystoreNotFound) as info:
        Keystore.open(path, "x")
    assert isinstance(info.value, FileNotFoundError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["", 42, None])
def test_create_rejects_empty_or_non_text_passphrase(
    store_path: Path, cheap_params: ScryptParams, bad: object
) -> None:
    with pytest.raises((TypeError, ValueError)):
        Keystore.create(store_path, bad, params=cheap_params)  # type: ignore[arg-type]
    assert not store_path.exists()


def test_clean_with_exit_saves_and_exception_discards(
    new_store: NewStore, store_path: Path, passphrase: str, server: str
) -> None:
    new_store().close()
    with Keystore.open(store_path, passphrase) as store:
        store.put_channel_key(server, "kept", 0, KEY_A)
    store = Keystore.open(store_path, passphrase)
    store.put_channel_key(server, "dropped", 0, KEY_A)
    with pytest.raises(RuntimeError), store:
        raise RuntimeError("boom")
    with Keystore.open(store_path, passphrase) as store:
        assert store.channel_key(server, "kept", 0) == KEY_A
        assert store.channel_key(server, "dropped", 0) is None


def test_save_clears_dirty_and_close_is_idempotent(new_store: NewStore, server: str) -> None:
    store = new_store()
    assert not store.dirty
    store.put_directory_key(server, 0, KEY_A)
    assert store.dirty
    store.save()
    assert not store.dirty
    store.close()
    store.close()
    assert store.closed


def test_every_method_refuses_a_closed_store(new_store: NewStore, server: str) -> None:
    store = new_store()
    store.close()
    with pytest.raises(KeystoreClosed):
        store.channel_key(server, "c", 0)
    with pytest.raises(KeystoreClosed):
        store.put_channel_key(server, "c", 0, KEY_A)
    with pytest.raises(KeystoreClosed):
        _ = store.device_keys
    with pytest.raises(KeystoreClosed):
        store.save()
    with pytest.raises(KeystoreClosed):
        store.pin_device(server, "u", "d", b"fp")


def test_each_save_uses_a_fresh_nonce(new_store: NewStore, store_path: Path) -> None:
    store = new_store()
    first = store_path.read_bytes()
    store.save()
    second = store_path.read_bytes()
    store.close()
    # Same salt (no new scrypt run per save) but a new nonce at bytes 36..48.
    assert first[20:36] == second[20:36]
    assert first[36:48] != second[36:48]


# --- device keys -------------------------------------------------------------------------------


def test_device_keys_are_set_once_unless_replaced(
    new_store: NewStore, device_keys: DeviceKeys
) -> None:
    store = new_store()
    assert store.device_keys is None
    store.set_device_keys(device_keys)
    store.set_device_keys(device_keys)  # the same keys again is not a conflict
    other = DeviceKeys("device-2", b"\x01" * 32, b"\x02" * 32)
    with pytest.raises(DeviceKeysConflict):
        store.set_device_keys(other)
    assert store.device_keys == device_keys
    store.set_device_keys(other, replace=True)
    assert store.device_keys == other


def test_device_keys_validate_types_and_sizes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DeviceKeys("d", b"\x00" * 31, b"\x00" * 32)
    with pytest.raises(TypeError):
        DeviceKeys("d", "x" * 32, b"\x00" * 32)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="device_id"):
        DeviceKeys("", b"\x00" * 32, b"\x00" * 32)


def test_device_keys_repr_hides_private_keys() -> None:
    keys = DeviceKeys("dev", b"\xaa" * 32, b"\xbb" * 32)
    assert "aa" not in repr(keys).lower()
    assert "\\xaa" not in repr(keys)
    assert "\\xbb" not in repr(keys)


# --- channel and directory keys ------------------------------------------------------------------


def test_channel_keys_by_server_channel_and_epoch(new_store: NewStore, server: str) -> None:
    store = new_store()
    assert store.latest_channel_epoch(server, "c") is None
    assert store.put_channel_key(server, "c", 0, KEY_A) is True
    assert store.put_channel_key(server, "c", 0, KEY_A) is False
    assert store.put_channel_key(server, "c", 5, KEY_B) is True
    assert store.put_channel_key("https://other.example", "c", 9, KEY_B) is True
    assert store.latest_channel_epoch(server, "c") == 5
    assert store.channel_epochs(server, "c") == [0, 5]
    assert store.channel_key(server, "c", 5) == KEY_B
    assert store.channel_key(server, "c", 1) is None
    assert store.channel_key(server, "other", 0) is None


def test_a_different_key_for_a_stored_epoch_is_refused(new_store: NewStore, server: str) -> None:
    store = new_store()
    store.put_channel_key(server, "c", 0, KEY_A)
    with pytest.raises(KeyConflict):
        store.put_channel_key(server, "c", 0, KEY_B)
    assert store.channel_key(server, "c", 0) == KEY_A
    store.put_directory_key(server, 2, KEY_A)
    with pytest.raises(KeyConflict):
        store.put_directory_key(server, 2, KEY_B)


def test_forget_channel_removes_all_its_epochs(new_store: NewStore, server: str) -> None:
    store = new_store()
    store.put_channel_key(server, "c", 0, KEY_A)
    store.put_channel_key(server, "c", 1, KEY_B)
    store.put_channel_key(server, "d", 0, KEY_B)
    assert store.forget_channel(server, "c") == 2
    assert store.forget_channel(server, "c") == 0
    assert store.latest_channel_epoch(server, "c") is None
    assert store.channel_key(server, "d", 0) == KEY_B


def test_directory_keys_by_server_and_epoch(new_store: NewStore, server: str) -> None:
    store = new_store()
    assert store.latest_directory_epoch(server) is None
    store.put_directory_key(server, 0, KEY_A)
    store.put_directory_key(server, 7, KEY_B)
    assert store.latest_directory_epoch(server) == 7
    assert store.directory_key(server, 0) == KEY_A
    assert store.directory_key("https://other.example", 0) is None


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("", "c", 0, KEY_A), ValueError),
        (("s", "", 0, KEY_A), ValueError),
        (("s", "c", -1, KEY_A), ValueError),
        (("s", "c", 2**53, KEY_A), ValueError),
        (("s", "c", True, KEY_A), TypeError),
        (("s", "c", 0, b"short"), ValueError),
        (("s", "c", 0, "A" * 32), TypeError),
        (("s", 7, 0, KEY_A), TypeError),
    ],
)
def test_put_channel_key_validates_arguments(
    new_store: NewStore, args: tuple[object, ...], error: type[Exception]
) -> None:
    store = new_store()
    with pytest.raises(error):
        store.put_channel_key(*args)  # type: ignore[arg-type]
    assert not store.dirty


# --- pinned devices ----------------------------------------------------------------------------


class Clock:
    """A settable clock for pins' timestamps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_first_sighting_pins_as_first_seen(new_store: NewStore, server: str) -> None:
    store = new_store(clock=Clock(1000.7))
    assert store.pin_device(server, "bob", "phone", b"fp-1") is False
    pin = store.pinned_device(server, "bob", "phone")
    assert pin is not None
    assert (pin.trust, pin.first_seen, pin.verified_at) == (Trust.FIRST_SEEN, 1000, None)
    assert pin.previous_fingerprint is None
    assert not pin.verified


def test_same_fingerprint_again_changes_nothing(new_store: NewStore, server: str) -> None:
    clock = Clock(1000)
    store = new_store(clock=clock)
    store.pin_device(server, "bob", "phone", b"fp-1")
    store.save()
    clock.now = 2000
    assert store.pin_device(server, "bob", "phone", b"fp-1") is False
    assert not store.dirty
    pin = store.pinned_device(server, "bob", "phone")
    assert pin is not None
    assert pin.first_seen == 1000


def test_verification_upgrades_and_is_never_downgraded(new_store: NewStore, server: str) -> None:
    clock = Clock(1000)
    store = new_store(clock=clock)
    store.pin_device(server, "bob", "phone", b"fp-1")
    clock.now = 1500
    assert store.pin_device(server, "bob", "phone", b"fp-1", verified=True) is False
    clock.now = 1600
    store.pin_device(server, "bob", "phone", b"fp-1")
    pin = store.pinned_device(server, "bob", "phone")
    assert pin is not None
    assert (pin.trust, pin.first_seen, pin.verified_at) == (Trust.VERIFIED, 1000, 1500)


def test_changed_fingerprint_is_reported_and_resets_trust(
    new_store: NewStore, store_path: Path, passphrase: str, server: str
) -> None:
    clock = Clock(1000)
    with new_store(clock=clock) as store:
        store.pin_device(server, "bob", "phone", b"fp-1", verified=True)
        clock.now = 5000
        assert store.pin_device(server, "bob", "phone", b"fp-2") is True
    with Keystore.open(store_path, passphrase) as store:
        pin = store.pinned_device(server, "bob", "phone")
    assert pin is not None
    assert pin.fingerprint == b"fp-2"
    assert pin.previous_fingerprint == b"fp-1"
    assert (pin.trust, pin.first_seen, pin.verified_at) == (Trust.FIRST_SEEN, 5000, None)


def test_pinned_devices_lists_by_user_and_unpin(new_store: NewStore, server: str) -> None:
    store = new_store(clock=Clock(1))
    store.pin_device(server, "bob", "phone", b"1")
    store.pin_device(server, "bob", "laptop", b"2")
    store.pin_device(server, "carol", "phone", b"3")
    store.pin_device("https://other.example", "bob", "phone", b"4")
    assert [p.device_id for p in store.pinned_devices(server, "bob")] == ["laptop", "phone"]
    assert [p.user_id for p in store.pinned_devices(server)] == ["bob", "bob", "carol"]
    assert store.unpin_device(server, "bob", "phone") is True
    assert store.unpin_device(server, "bob", "phone") is False
    assert store.pinned_device(server, "bob", "phone") is None


# --- passphrase change ---------------------------------------------------------------------------


def test_change_passphrase(
    new_store: NewStore, store_path: Path, passphrase: str, server: str
) -> None:
    store = new_store()
    store.put_channel_key(server, "c", 0, KEY_A)  # unsaved: written by the change
    old_salt = store_path.read_bytes()[20:36]
    stronger = ScryptParams(log2_n=5, r=2, p=1)
    store.change_passphrase(passphrase, "new passphrase", params=stronger)
    assert store.params == stronger
    assert not store.dirty
    store.put_channel_key(server, "c", 1, KEY_B)
    store.close()
    assert store_path.read_bytes()[20:36] != old_salt
    with pytest.raises(WrongPassphrase):
        Keystore.open(store_path, passphrase)
    with Keystore.open(store_path, "new passphrase") as reopened:
        assert reopened.params == stronger
        assert reopened.channel_epochs(server, "c") == [0, 1]


def test_change_passphrase_requires_the_old_one(
    new_store: NewStore, store_path: Path, passphrase: str
) -> None:
    store = new_store()
    before = store_path.read_bytes()
    with pytest.raises(WrongPassphrase):
        store.change_passphrase("guess", "new passphrase")
    with pytest.raises(ValueError, match="empty"):
        store.change_passphrase(passphrase, "")
    assert store_path.read_bytes() == before
    store.close()
    Keystore.open(store_path, passphrase).close()


def test_create_makes_missing_directories(tmp_path: Path, cheap_params: ScryptParams) -> None:
    path = tmp_path / "a" / "b" / "c" / "store.dtks"
    Keystore.create(path, "pw", params=cheap_params).close()
    assert path.is_file()
    assert sorted(os.listdir(path.parent)) == ["store.dtks", "store.dtks.lock"]
