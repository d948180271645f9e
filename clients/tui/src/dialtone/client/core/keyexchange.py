"""Keys between devices: which devices exist and are trusted, channel and directory keys received
in envelopes and shared with other devices, and what those keys open (profiles, channel names)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence

import attrs

from dialtone.client.core import sealing
from dialtone.client.core.decrypt import SenderSnapshot
from dialtone.client.core.errors import ApiError
from dialtone.client.core.events import (
    ChannelKeysArrived,
    Error,
    NewDeviceNeedsApproval,
    Notice,
    ProfileChanged,
    SafetyNumberView,
)
from dialtone.client.core.state import CoreState, KnownChannel
from dialtone.client.core.trust import KnownDevice
from dialtone.crypto import ChannelKey, PublicBundle, Scope
from dialtone.crypto import safety_number as compute_safety_number
from dialtone.crypto.errors import DecryptionError, InvalidSignature
from dialtone.keystore import KeyConflict
from dialtone.wire import http as wire
from dialtone.wire import limits
from dialtone.wire.common import DeviceInfo, DeviceStatus

__all__ = ["DIRECTORY_EPOCH", "KeyExchange"]

log = logging.getLogger(__name__)

DIRECTORY_EPOCH = 1
"""The epoch of a user's directory key (it does not rotate)."""


class KeyExchange:
    """Device trust as seen from the server, key envelopes both ways, profiles and channel names.

    Args:
        state: The core's shared state.
    """

    def __init__(self, state: CoreState) -> None:
        self._state = state

    def observe(self, devices: Iterable[DeviceInfo]) -> None:
        """Record devices the server listed (pinned on first use) and announce what changed."""
        session = self._state.require()
        for change in session.book.observe(devices):
            self._state.emit(
                attrs.evolve(change, display_name=self._state.display_name(change.user_id))
            )

    async def observe_own_devices(self) -> list[KnownDevice]:
        """Fetch our own devices, show pending ones for approval; returns the trusted ones."""
        session = self._state.require()
        devices = await self._state.api.own_devices()
        self.observe(devices)
        for device in devices:
            known = session.book.get(device.device_id)
            if device.status is DeviceStatus.PENDING and known is not None:
                self._state.emit(NewDeviceNeedsApproval(device=session.book.view(known)))
        return session.book.trusted_devices([session.account.user_id])

    async def observe_channel_devices(self, channel_id: str) -> None:
        """Fetch and record the devices of a channel's members."""
        try:
            devices = await self._state.api.channel_devices(channel_id)
        except ApiError as exc:
            log.info("cannot list devices of %s: %s", channel_id, exc)
            return
        self.observe(devices)

    def sender_snapshot(self, device_id: str) -> SenderSnapshot | None:
        """What the decryption workers need of a sender device, None if unknown."""
        known = self._state.require().book.get(device_id)
        if known is None:
            return None
        return SenderSnapshot(user_id=known.user_id, bundle=known.bundle, trust=known.trust)

    async def trusted_bundle(self, user_id: str, device_id: str) -> PublicBundle | None:
        """The bundle of `device_id` if it is `user_id`'s and trusted (fetching if unknown)."""
        session = self._state.require()
        if session.book.get(device_id) is None:
            with contextlib.suppress(ApiError):
                self.observe(await self._state.api.user_devices(user_id))
            await self._state.persist()
        return session.book.trusted_bundle(user_id, device_id)

    async def prepare(self, channel_id: str, messages: Sequence[wire.ChannelMessage]) -> None:
        """Fetch what a batch of messages needs (sender devices, keys) when it is not known."""
        session = self._state.require()
        unknown_users = {
            m.sender_user_id for m in messages if session.book.get(m.sender_device_id) is None
        }
        if unknown_users:
            await self.observe_channel_devices(channel_id)
            for user_id in unknown_users:
                if not session.book.knows_user(user_id):
                    with contextlib.suppress(ApiError):
                        self.observe(await self._state.api.user_devices(user_id))
        missing = {
            m.key_epoch
            for m in messages
            if session.keys.channel_key(channel_id, m.key_epoch) is None
        }
        if missing:
            await self.fetch_envelopes(channel_id)
        await self._state.persist()

    async def fetch_envelopes(self, channel_id: str | None = None) -> None:
        """Fetch and open the key envelopes waiting for this device (one channel, or all)."""
        if channel_id is None:
            envelopes = await self._state.api.envelopes()
        else:
            try:
                envelopes = await self._state.api.channel_envelopes(channel_id)
            except ApiError as exc:
                log.info("cannot fetch envelopes of %s: %s", channel_id, exc)
                return
        await self._absorb_envelopes(envelopes)

    async def _absorb_envelopes(self, envelopes: Sequence[wire.KeyEnvelope]) -> None:
        session = self._state.require()
        gained: dict[str, list[int]] = {}
        for envelope in envelopes:
            if envelope.recipient_device_id != session.account.device_id:
                continue
            if session.keys.channel_key(envelope.channel_id, envelope.key_epoch) is not None:
                continue
            if session.book.get(envelope.sender_device_id) is None:
                await self.observe_channel_devices(envelope.channel_id)
            sender = session.book.get(envelope.sender_device_id)
            if sender is None or not sender.trusted or sender.bundle is None:
                self._state.emit(
                    Notice(
                        text="ignored a channel key sent by a device this client does not trust "
                        f"(device {envelope.sender_device_id[:8]})"
                    )
                )
                continue
            try:
                key = sealing.open_envelope_upload(
                    envelope.sealed_key,
                    envelope.signature,
                    session.identity,
                    sender.bundle,
                    scope=Scope.channel(envelope.channel_id),
                    epoch=envelope.key_epoch,
                )
            except (DecryptionError, InvalidSignature):
                self._state.emit(
                    Error(
                        text="a channel key envelope did not verify and was ignored (tampered "
                        "or misaddressed)"
                    )
                )
                continue
            try:
                session.keys.put_channel_key(key)
            except KeyConflict:
                self._state.emit(
                    Error(text="a second, different key for one channel epoch was ignored")
                )
                continue
            gained.setdefault(envelope.channel_id, []).append(envelope.key_epoch)
        await self._state.persist()
        for channel_id, epochs in gained.items():
            self._state.emit(
                ChannelKeysArrived(channel_id=channel_id, epochs=tuple(sorted(epochs)))
            )

    async def fetch_directory(self) -> None:
        """Fetch and open the directory keys other users sent to this device."""
        session = self._state.require()
        try:
            envelopes = await self._state.api.directory_envelopes()
        except ApiError as exc:
            log.info("cannot fetch directory envelopes: %s", exc)
            return
        for envelope in envelopes:
            if session.keys.directory_key(envelope.owner_user_id, envelope.key_epoch) is not None:
                continue
            bundle = await self.trusted_bundle(envelope.owner_user_id, envelope.sender_device_id)
            if bundle is None:
                continue
            try:
                key = sealing.open_envelope_upload(
                    envelope.sealed_key,
                    envelope.signature,
                    session.identity,
                    bundle,
                    scope=Scope.directory(envelope.owner_user_id),
                    epoch=envelope.key_epoch,
                )
                session.keys.put_directory_key(envelope.owner_user_id, key)
            except (DecryptionError, InvalidSignature, KeyConflict):
                self._state.emit(
                    Error(text="a directory key envelope did not verify and was ignored")
                )
        await self._state.persist()

    async def share_directory_key(self, devices: Iterable[KnownDevice]) -> None:
        """Send our directory key to trusted devices that were not sent it in this session."""
        session = self._state.require()
        key = session.keys.own_directory_key()
        if key is None:
            return
        uploads = []
        for known in devices:
            slot = (known.device_id, key.epoch)
            if not known.trusted or known.bundle is None or slot in self._state.dir_shared:
                continue
            uploads.append(
                sealing.envelope_upload(session.identity, known.device_id, known.bundle, key)
            )
            self._state.dir_shared.add(slot)
        step = limits.MAX_ENVELOPES_PER_REQUEST
        for start in range(0, len(uploads), step):
            chunk = tuple(uploads[start : start + step])
            try:
                await self._state.api.post_directory_envelopes(
                    wire.EnvelopePostRequest(key_epoch=key.epoch, envelopes=chunk)
                )
            except ApiError as exc:
                for upload in chunk:
                    self._state.dir_shared.discard((upload.recipient_device_id, key.epoch))
                log.info("sharing the directory key failed: %s", exc)

    def co_member_ids(self) -> tuple[str, ...]:
        """The users we share a channel with (members known so far)."""
        users: set[str] = set()
        for channel in self._state.channels.values():
            if channel.members is not None:
                users.update(channel.members)
        return tuple(sorted(users))

    def co_member_devices(self) -> list[KnownDevice]:
        """The trusted devices of the users we share a channel with."""
        return self._state.require().book.trusted_devices(self.co_member_ids())

    async def refresh_profiles(self, user_ids: Sequence[str]) -> None:
        """Fetch and open the profiles (display names) of some users."""
        if not user_ids:
            return
        try:
            profiles = await self._state.api.profiles(tuple(user_ids)[: limits.MAX_PROFILES])
        except ApiError as exc:
            log.info("cannot fetch profiles: %s", exc)
            return
        for profile in profiles:
            if self._state.require().book.get(profile.device_id) is None:
                with contextlib.suppress(ApiError):
                    self.observe(await self._state.api.user_devices(profile.user_id))
            self.open_profile(profile)

    def open_profile(self, profile: wire.ProfileInfo) -> None:
        """Open one profile with its owner's directory key; a new name is announced."""
        session = self._state.require()
        key = session.keys.directory_key(profile.user_id, profile.key_epoch)
        known = session.book.get(profile.device_id)
        if key is None or known is None or known.user_id != profile.user_id or not known.vouches:
            return
        assert known.bundle is not None
        try:
            name = sealing.open_profile(profile, key, known.bundle)
        except (DecryptionError, InvalidSignature):
            self._state.emit(Error(text=f"the profile of {profile.user_id[:8]} did not verify"))
            return
        if self._state.profiles.get(profile.user_id) != name:
            self._state.profiles[profile.user_id] = name
            self._state.emit(ProfileChanged(user_id=profile.user_id, display_name=name))

    def decrypt_names(self, channels: Iterable[KnownChannel] | None = None) -> None:
        """Open the sealed names of some channels (all by default)."""
        session = self._state.require()
        for channel in self._state.channels.values() if channels is None else channels:
            name = channel.info.name
            key = session.keys.channel_key(channel.channel_id, name.key_epoch)
            known = session.book.get(name.device_id)
            if key is None or known is None or not known.vouches or known.bundle is None:
                channel.name = None
                continue
            try:
                channel.name = sealing.open_channel_name(
                    name, channel.channel_id, key, known.bundle
                )
            except (DecryptionError, InvalidSignature):
                channel.name = None
                self._state.emit(
                    Error(text=f"the name of channel {channel.channel_id[:8]} is tampered")
                )

    async def set_display_name(self, name: str) -> None:
        """Seal our display name with our directory key and publish it."""
        session = self._state.require()
        sealing.check_text(name, sealing.MAX_NAME_BYTES, "display name")
        key = session.keys.own_directory_key()
        if key is None:
            key = ChannelKey.generate(Scope.directory(session.account.user_id), DIRECTORY_EPOCH)
            session.keys.put_directory_key(session.account.user_id, key)
            await self._state.persist()
            await self.share_directory_key(await self.observe_own_devices())
            await self.share_directory_key(self.co_member_devices())
        await self._state.api.put_profile(sealing.seal_profile(session.identity, key, name))
        self._state.profiles[session.account.user_id] = name
        self._state.emit(ProfileChanged(user_id=session.account.user_id, display_name=name))

    async def share_all_keys(self, known: KnownDevice) -> None:
        """Hand every channel key we hold (all epochs, for history) and our directory key to one
        of our own devices."""
        session = self._state.require()
        assert known.bundle is not None
        for channel_id in list(self._state.channels):
            for key in session.keys.channel_keys(channel_id):
                upload = sealing.envelope_upload(
                    session.identity, known.device_id, known.bundle, key
                )
                try:
                    await self._state.api.post_envelopes(
                        channel_id,
                        wire.EnvelopePostRequest(key_epoch=key.epoch, envelopes=(upload,)),
                    )
                except ApiError as exc:
                    log.info("sharing epoch %d of %s failed: %s", key.epoch, channel_id, exc)
        await self.share_directory_key((known,))

    def safety_view(self, user_id: str) -> SafetyNumberView:
        """The safety number of us and a user, with their devices."""
        session = self._state.require()
        mine = session.book.usable_bundles(session.account.user_id)
        theirs = session.book.usable_bundles(user_id)
        if not mine:
            mine = [session.identity.public_bundle]
        number = (
            compute_safety_number(session.account.user_id, mine, user_id, theirs)
            if theirs
            else "(they have no usable device)"
        )
        return SafetyNumberView(
            user_id=user_id,
            display_name=self._state.display_name(user_id),
            safety_number=number,
            devices=session.book.views(user_id),
        )
