"""Device trust: which devices this client believes, and the pins that back the belief.

Rules (the client sends keys only to devices it trusts, and shows messages only from devices it
can vouch for):

- Every device's published keys must carry a valid self-signature, and its id must be the one
  derived from those keys (dialtone.crypto's `PublicBundle.device_id`): a record that pairs an id
  with other keys is a server lie and is never trusted.
- Trust on first use: the first time a user is seen, their approved devices are pinned
  (``first-seen``) in the keystore. A later device of that user is trusted only if its approval
  signature verifies under one of that user's already trusted devices: a server cannot slip in a
  device by merely calling it approved.
- A pinned device whose keys differ from its pin is ``changed``: a loud `DeviceKeyChanged` is
  emitted once, and nothing is sent to it nor believed from it until the user verifies the
  safety number again (which pins the new keys as ``verified``).
- Pending devices get nothing; revoked devices get nothing, but their earlier messages still
  verify against their pinned keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeAlias

import attrs

from dialtone.client.core.events import DeviceKeyChanged, DeviceTrust, DeviceView
from dialtone.client.core.sealing import bundle_from_keys, verify_approval
from dialtone.crypto import PublicBundle
from dialtone.crypto.errors import InvalidSignature
from dialtone.keystore import Keystore
from dialtone.wire.common import DeviceInfo, DeviceStatus

__all__ = ["TRUSTED", "VOUCHING", "DeviceBook", "KnownDevice", "group_by_user"]

TRUSTED = frozenset({DeviceTrust.OWN, DeviceTrust.VERIFIED, DeviceTrust.FIRST_SEEN})
"""Devices that may receive keys and whose offers are believed."""
VOUCHING = TRUSTED | {DeviceTrust.REVOKED}
"""Devices whose signed messages are shown as theirs (a revoked device's past messages count)."""


@attrs.frozen
class KnownDevice:
    """A device as this client judges it.

    Attributes:
        info: The server's record.
        bundle: Its public bundle, None when its keys are malformed.
        trust: The verdict.
    """

    info: DeviceInfo
    bundle: PublicBundle | None
    trust: DeviceTrust

    @property
    def device_id(self) -> str:
        """The server's id of the device."""
        return self.info.device_id

    @property
    def user_id(self) -> str:
        """The device's owner."""
        return self.info.user_id

    @property
    def trusted(self) -> bool:
        """Whether keys may be sent to it."""
        return self.trust in TRUSTED and self.bundle is not None

    @property
    def vouches(self) -> bool:
        """Whether its signatures make a message "from" it."""
        return self.trust in VOUCHING and self.bundle is not None

    @property
    def fingerprint(self) -> str:
        """Its fingerprint, or a marker when its keys are malformed."""
        return self.bundle.fingerprint if self.bundle is not None else "(malformed keys)"


_Judge: TypeAlias = Callable[[str, frozenset[str]], KnownDevice]


class DeviceBook:
    """The devices this client has seen on one server, and its verdict on each.

    Args:
        store: The unlocked keystore (pins live there).
        server: The keystore's server key (normalized URL).
        user_id: Our user.
        device_id: This device.
    """

    def __init__(self, store: Keystore, server: str, *, user_id: str, device_id: str) -> None:
        self._store = store
        self._server = server
        self._user_id = user_id
        self._device_id = device_id
        self._devices: dict[str, KnownDevice] = {}
        self._by_user: dict[str, dict[str, DeviceInfo]] = {}

    # --- lookups -------------------------------------------------------------------------------

    def get(self, device_id: str) -> KnownDevice | None:
        """The verdict on a device, or None if never seen."""
        return self._devices.get(device_id)

    def of_user(self, user_id: str) -> list[KnownDevice]:
        """A user's known devices, oldest first."""
        infos = sorted(self._by_user.get(user_id, {}).values(), key=lambda i: i.created_at)
        return [self._devices[info.device_id] for info in infos]

    def knows_user(self, user_id: str) -> bool:
        """Whether the user's device list was ever observed."""
        return user_id in self._by_user

    def trusted_bundle(self, user_id: str, device_id: str) -> PublicBundle | None:
        """The bundle of a device that belongs to `user_id` and is trusted, else None."""
        known = self._devices.get(device_id)
        if known is None or known.user_id != user_id or not known.trusted:
            return None
        return known.bundle

    def view(self, known: KnownDevice) -> DeviceView:
        """The UI's view of a device."""
        return DeviceView(
            user_id=known.user_id,
            device_id=known.device_id,
            fingerprint=known.fingerprint,
            status=str(known.info.status),
            trust=known.trust,
            created_at=known.info.created_at,
            current=known.device_id == self._device_id,
        )

    def views(self, user_id: str) -> tuple[DeviceView, ...]:
        """Views of a user's devices, oldest first."""
        return tuple(self.view(known) for known in self.of_user(user_id))

    # --- observing -----------------------------------------------------------------------------

    def observe(self, devices: Iterable[DeviceInfo]) -> list[DeviceKeyChanged]:
        """Take in the server's device records (any users, any subset) and judge them.

        Args:
            devices: Device records as the server reported them.

        Returns:
            The devices whose keys changed since pinned, newly detected (warn loudly).
        """
        touched: set[str] = set()
        for info in devices:
            self._by_user.setdefault(info.user_id, {})[info.device_id] = info
            touched.add(info.user_id)
        changes: list[DeviceKeyChanged] = []
        for user_id in sorted(touched):
            changes.extend(self._judge_user(user_id))
        return changes

    def _judge_user(self, user_id: str) -> list[DeviceKeyChanged]:
        infos = self._by_user[user_id]
        had_pins = bool(self._store.pinned_devices(self._server, user_id))
        verdicts: dict[str, KnownDevice] = {}
        changes: list[DeviceKeyChanged] = []

        def judge(device_id: str, chain: frozenset[str]) -> KnownDevice:
            done = verdicts.get(device_id)
            if done is not None:
                return done
            info = infos[device_id]
            verdict = self._judge(info, infos, had_pins, chain | {device_id}, judge, changes)
            verdicts[device_id] = verdict
            return verdict

        for info in sorted(infos.values(), key=lambda i: i.created_at):
            judge(info.device_id, frozenset())
        self._devices.update(verdicts)
        return changes

    def _judge(
        self,
        info: DeviceInfo,
        infos: dict[str, DeviceInfo],
        had_pins: bool,
        chain: frozenset[str],
        judge: _Judge,
        changes: list[DeviceKeyChanged],
    ) -> KnownDevice:
        try:
            bundle = bundle_from_keys(info.keys)
        except (ValueError, InvalidSignature):
            return KnownDevice(info, None, DeviceTrust.UNTRUSTED)
        consistent = bundle.device_id == info.device_id
        if info.device_id == self._device_id:
            return KnownDevice(info, bundle, DeviceTrust.OWN if consistent else DeviceTrust.CHANGED)
        fingerprint = bundle.fingerprint.encode("ascii")
        pin = self._store.pinned_device(self._server, info.user_id, info.device_id)
        if pin is not None:
            if pin.fingerprint != fingerprint:
                return self._changed(info, bundle, pin.fingerprint, changes)
            if not consistent:
                return KnownDevice(info, bundle, DeviceTrust.CHANGED)
            if info.status is DeviceStatus.PENDING:
                return KnownDevice(info, bundle, DeviceTrust.PENDING)
            if info.status is DeviceStatus.REVOKED:
                return KnownDevice(info, bundle, DeviceTrust.REVOKED)
            if pin.verified:
                return KnownDevice(info, bundle, DeviceTrust.VERIFIED)
            if pin.previous_fingerprint is not None:
                return KnownDevice(info, bundle, DeviceTrust.CHANGED)
            return KnownDevice(info, bundle, DeviceTrust.FIRST_SEEN)
        if not consistent:
            return KnownDevice(info, bundle, DeviceTrust.UNTRUSTED)
        if info.status is DeviceStatus.PENDING:
            return KnownDevice(info, bundle, DeviceTrust.PENDING)
        if info.status is DeviceStatus.REVOKED:
            # Never pinned while usable: nothing it signed can be vouched for.
            return KnownDevice(info, bundle, DeviceTrust.UNTRUSTED)
        approver = self._approver(info, infos, chain, judge)
        if approver is None and info.approved_by is not None:
            return KnownDevice(info, bundle, DeviceTrust.UNTRUSTED)
        if approver is None and had_pins:
            # The server calls it a first device, but we already know this user's devices.
            return KnownDevice(info, bundle, DeviceTrust.UNTRUSTED)
        verified = approver is not None and approver.trust in (
            DeviceTrust.OWN,
            DeviceTrust.VERIFIED,
        )
        self._store.pin_device(
            self._server, info.user_id, info.device_id, fingerprint, verified=verified
        )
        return KnownDevice(
            info, bundle, DeviceTrust.VERIFIED if verified else DeviceTrust.FIRST_SEEN
        )

    def _approver(
        self,
        info: DeviceInfo,
        infos: dict[str, DeviceInfo],
        chain: frozenset[str],
        judge: _Judge,
    ) -> KnownDevice | None:
        approved_by = info.approved_by
        if approved_by is None or info.approval_signature is None:
            return None
        if approved_by in chain or approved_by not in infos:
            return None
        approver = judge(approved_by, chain)
        if approver.bundle is None or approver.trust not in TRUSTED | {DeviceTrust.REVOKED}:
            return None
        if not verify_approval(
            approver.bundle,
            info.approval_signature,
            user_id=info.user_id,
            device_id=info.device_id,
            keys=info.keys,
        ):
            return None
        return approver

    def _changed(
        self,
        info: DeviceInfo,
        bundle: PublicBundle,
        old: bytes,
        changes: list[DeviceKeyChanged],
    ) -> KnownDevice:
        self._store.pin_device(
            self._server, info.user_id, info.device_id, bundle.fingerprint.encode("ascii")
        )
        changes.append(
            DeviceKeyChanged(
                user_id=info.user_id,
                display_name=info.user_id,
                device_id=info.device_id,
                old_fingerprint=old.decode("ascii", "replace"),
                new_fingerprint=bundle.fingerprint,
            )
        )
        return KnownDevice(info, bundle, DeviceTrust.CHANGED)

    # --- decisions -----------------------------------------------------------------------------

    def verify_user(self, user_id: str) -> list[KnownDevice]:
        """Pin a user's current usable devices as verified (the safety numbers matched).

        A record whose id does not match its keys stays untrusted: no safety number can vouch
        for it, since everything that device signs names another id.

        Returns:
            The user's devices after re-judging.
        """
        for info in self._by_user.get(user_id, {}).values():
            if info.status is not DeviceStatus.APPROVED or info.device_id == self._device_id:
                continue
            try:
                bundle = bundle_from_keys(info.keys)
            except (ValueError, InvalidSignature):
                continue
            if bundle.device_id != info.device_id:
                continue
            self._store.pin_device(
                self._server,
                user_id,
                info.device_id,
                bundle.fingerprint.encode("ascii"),
                verified=True,
            )
        if user_id in self._by_user:
            self._judge_user(user_id)
        return self.of_user(user_id)

    def trusted_devices(self, user_ids: Iterable[str]) -> list[KnownDevice]:
        """The trusted devices of some users (ours included when listed)."""
        result: list[KnownDevice] = []
        for user_id in user_ids:
            result.extend(known for known in self.of_user(user_id) if known.trusted)
        return result

    def usable_bundles(self, user_id: str) -> list[PublicBundle]:
        """Bundles of a user's approved devices with valid keys (for safety numbers)."""
        return [
            known.bundle
            for known in self.of_user(user_id)
            if known.bundle is not None and known.info.status is DeviceStatus.APPROVED
        ]


def group_by_user(devices: Sequence[DeviceInfo]) -> dict[str, list[DeviceInfo]]:
    """Group device records by owner.

    Args:
        devices: Device records.

    Returns:
        Records per user id.
    """
    grouped: dict[str, list[DeviceInfo]] = {}
    for info in devices:
        grouped.setdefault(info.user_id, []).append(info)
    return grouped
