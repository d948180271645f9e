"""Device trust against a real keystore: trust on first use, pinned keys that change, approval
chains for a user's new devices, and what verification restores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from dialtone.client.core import sealing
from dialtone.client.core.events import DeviceTrust
from dialtone.client.core.trust import DeviceBook
from dialtone.crypto import DeviceIdentity
from dialtone.keystore import Keystore, ScryptParams
from dialtone.wire.common import DeviceInfo, DeviceKeys, DeviceStatus

SERVER = "http://127.0.0.1:8080"
CHEAP = ScryptParams(log2_n=4, r=1, p=1)
T0 = datetime(2026, 5, 9, 7, 0, tzinfo=UTC)


def _id() -> str:
    return str(uuid.uuid4())


@attrs.define
class Device:
    identity: DeviceIdentity
    info: DeviceInfo


def make_device(
    user_id: str,
    *,
    minutes: int = 0,
    status: DeviceStatus = DeviceStatus.APPROVED,
    approver: Device | None = None,
    identity: DeviceIdentity | None = None,
    device_id: str | None = None,
) -> Device:
    identity = identity or DeviceIdentity.generate()
    device_id = device_id or identity.device_id
    keys = sealing.device_keys(identity)
    signature = (
        sealing.approval_signature(
            approver.identity, user_id=user_id, device_id=device_id, keys=keys
        )
        if approver is not None
        else None
    )
    info = DeviceInfo(
        device_id=device_id,
        user_id=user_id,
        keys=keys,
        status=status,
        created_at=T0 + timedelta(minutes=minutes),
        approved_by=approver.info.device_id if approver is not None else None,
        approval_signature=signature,
    )
    return Device(identity, info)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Keystore]:
    with Keystore.create(tmp_path / "ks" / "profile.dtks", "pass", params=CHEAP) as opened:
        yield opened


@pytest.fixture
def me() -> Device:
    return make_device(_id())


@pytest.fixture
def book(store: Keystore, me: Device) -> DeviceBook:
    return DeviceBook(store, SERVER, user_id=me.info.user_id, device_id=me.info.device_id)


def trust_of(book: DeviceBook, device: Device) -> DeviceTrust:
    known = book.get(device.info.device_id)
    assert known is not None
    return known.trust


def test_this_device_is_own(book: DeviceBook, me: Device) -> None:
    book.observe([me.info])
    assert trust_of(book, me) is DeviceTrust.OWN


def test_a_record_whose_id_does_not_match_its_keys_is_never_trusted(
    book: DeviceBook, store: Keystore
) -> None:
    bob = make_device(_id(), device_id=_id())
    assert book.observe([bob.info]) == []
    assert trust_of(book, bob) is DeviceTrust.UNTRUSTED
    assert store.pinned_device(SERVER, bob.info.user_id, bob.info.device_id) is None
    book.verify_user(bob.info.user_id)
    assert trust_of(book, bob) is DeviceTrust.UNTRUSTED


def test_verifying_a_user_upgrades_first_seen_pins(book: DeviceBook) -> None:
    bob = make_device(_id())
    book.observe([bob.info])
    book.verify_user(bob.info.user_id)
    assert trust_of(book, bob) is DeviceTrust.VERIFIED


def test_a_users_devices_are_pinned_on_first_sight(book: DeviceBook, store: Keystore) -> None:
    bob = make_device(_id())
    assert book.observe([bob.info]) == []
    assert trust_of(book, bob) is DeviceTrust.FIRST_SEEN
    known = book.get(bob.info.device_id)
    assert known is not None
    assert known.trusted
    pin = store.pinned_device(SERVER, bob.info.user_id, bob.info.device_id)
    assert pin is not None
    assert pin.fingerprint == bob.identity.public_bundle.fingerprint.encode()


def test_changed_keys_warn_once_and_are_never_trusted_again(
    book: DeviceBook, store: Keystore, tmp_path: Path
) -> None:
    bob = make_device(_id())
    book.observe([bob.info])
    impostor = make_device(bob.info.user_id, device_id=bob.info.device_id)
    changes = book.observe([impostor.info])
    assert len(changes) == 1
    assert changes[0].device_id == bob.info.device_id
    assert changes[0].old_fingerprint == bob.identity.public_bundle.fingerprint
    assert changes[0].new_fingerprint == impostor.identity.public_bundle.fingerprint
    assert trust_of(book, impostor) is DeviceTrust.CHANGED
    assert book.trusted_bundle(bob.info.user_id, bob.info.device_id) is None
    # Seen again: still changed, no second warning.
    assert book.observe([impostor.info]) == []
    assert trust_of(book, impostor) is DeviceTrust.CHANGED
    # An id that does not match its keys cannot be verified into trust.
    book.verify_user(bob.info.user_id)
    assert trust_of(book, impostor) is DeviceTrust.CHANGED
    assert book.trusted_bundle(bob.info.user_id, bob.info.device_id) is None


def test_a_change_is_remembered_across_restarts(tmp_path: Path, me: Device) -> None:
    path = tmp_path / "ks" / "p.dtks"
    bob = make_device(_id())
    impostor = make_device(bob.info.user_id, device_id=bob.info.device_id)
    with Keystore.create(path, "pass", params=CHEAP) as store:
        book = DeviceBook(store, SERVER, user_id=me.info.user_id, device_id=me.info.device_id)
        book.observe([bob.info])
        assert len(book.observe([impostor.info])) == 1
    with Keystore.open(path, "pass") as store:
        book = DeviceBook(store, SERVER, user_id=me.info.user_id, device_id=me.info.device_id)
        assert book.observe([impostor.info]) == []
        assert trust_of(book, impostor) is DeviceTrust.CHANGED


def test_a_new_device_approved_by_a_trusted_one_is_trusted(book: DeviceBook) -> None:
    user = _id()
    phone = make_device(user)
    book.observe([phone.info])
    laptop = make_device(user, minutes=5, approver=phone)
    book.observe([phone.info, laptop.info])
    assert trust_of(book, laptop) is DeviceTrust.FIRST_SEEN


def test_a_new_device_with_a_forged_approval_is_not_trusted(book: DeviceBook) -> None:
    user = _id()
    phone = make_device(user)
    book.observe([phone.info])
    stranger = make_device(_id())
    forged = make_device(user, minutes=5, approver=stranger)
    forged_info = attrs.evolve(forged.info, approved_by=phone.info.device_id)
    book.observe([phone.info, forged_info])
    known = book.get(forged_info.device_id)
    assert known is not None
    assert known.trust is DeviceTrust.UNTRUSTED
    assert not known.trusted


def test_a_device_slipped_in_without_approval_is_not_trusted(book: DeviceBook) -> None:
    user = _id()
    phone = make_device(user)
    book.observe([phone.info])
    slipped = make_device(user, minutes=5)
    book.observe([slipped.info])
    assert trust_of(book, slipped) is DeviceTrust.UNTRUSTED


def test_pending_and_revoked_devices_get_no_keys(book: DeviceBook, store: Keystore) -> None:
    user = _id()
    phone = make_device(user)
    book.observe([phone.info])
    pending = make_device(user, minutes=5, status=DeviceStatus.PENDING)
    book.observe([pending.info])
    assert trust_of(book, pending) is DeviceTrust.PENDING
    assert store.pinned_device(SERVER, user, pending.info.device_id) is None
    book.observe([attrs.evolve(phone.info, status=DeviceStatus.REVOKED)])
    known = book.get(phone.info.device_id)
    assert known is not None
    assert known.trust is DeviceTrust.REVOKED
    assert not known.trusted
    assert known.vouches


def test_our_own_device_approved_here_is_verified(book: DeviceBook, me: Device) -> None:
    second = make_device(me.info.user_id, minutes=5, approver=me)
    book.observe([me.info, second.info])
    assert trust_of(book, second) is DeviceTrust.VERIFIED
    assert [k.device_id for k in book.trusted_devices([me.info.user_id])] == [
        me.info.device_id,
        second.info.device_id,
    ]


def test_malformed_device_keys_are_untrusted(book: DeviceBook) -> None:
    bob = make_device(_id())
    broken = attrs.evolve(
        bob.info,
        keys=DeviceKeys(
            x25519_public=bob.info.keys.x25519_public,
            ed25519_public=bob.info.keys.ed25519_public,
            key_signature=bytes(64),
        ),
    )
    book.observe([broken])
    known = book.get(broken.device_id)
    assert known is not None
    assert known.bundle is None
    assert known.trust is DeviceTrust.UNTRUSTED
