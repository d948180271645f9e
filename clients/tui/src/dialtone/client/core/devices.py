"""Devices and trust: our own devices (approving, revoking) and verifying other users' devices
with safety numbers."""

from __future__ import annotations

import contextlib
import logging

from dialtone.client.core import sealing
from dialtone.client.core.channels import ChannelOps
from dialtone.client.core.errors import ApiError, CoreError, UntrustedDeviceError
from dialtone.client.core.events import DevicesChanged, DeviceView, Error, SafetyNumberView
from dialtone.client.core.keyexchange import KeyExchange
from dialtone.client.core.state import CoreState
from dialtone.wire import http as wire
from dialtone.wire.common import DeviceStatus

__all__ = ["Devices"]

log = logging.getLogger(__name__)


class Devices:
    """Our devices and other users' verification.

    Args:
        state: The core's shared state.
        keys: The KeyExchange.
        channels: The ChannelOps.
    """

    def __init__(self, state: CoreState, keys: KeyExchange, channels: ChannelOps) -> None:
        self._state = state
        self._keys = keys
        self._channel_ops = channels

    async def devices(self) -> tuple[DeviceView, ...]:
        """Our own devices with their status and fingerprints."""
        session = self._state.require()
        await self._keys.observe_own_devices()
        await self._state.persist()
        return session.book.views(session.account.user_id)

    async def approve_device(self, device_id: str) -> None:
        """Approve one of our pending devices (compare its fingerprint first) and send it every
        channel key and our directory key."""
        session = self._state.require()
        if not session.account.approved:
            raise UntrustedDeviceError("this device is not approved itself")
        devices = await self._state.api.own_devices()
        self._keys.observe(devices)
        target = next((d for d in devices if d.device_id == device_id), None)
        if target is None or target.status is not DeviceStatus.PENDING:
            raise UntrustedDeviceError(f"no pending device {device_id!r} of yours")
        signature = sealing.approval_signature(
            session.identity,
            user_id=session.account.user_id,
            device_id=device_id,
            keys=target.keys,
        )
        approved = await self._state.api.approve_device(device_id, signature)
        self._keys.observe((approved,))
        known = session.book.get(device_id)
        if known is None or not known.trusted or known.bundle is None:
            raise UntrustedDeviceError(
                "the server's answer for the approved device does not verify"
            )
        await self._state.persist()
        await self._keys.share_all_keys(known)
        self._state.emit(
            DevicesChanged(
                user_id=session.account.user_id, devices=session.book.views(session.account.user_id)
            )
        )

    async def revoke_device(self, device_id: str) -> bool:
        """Revoke one of our devices; every channel it could read rotates to a new key epoch.

        Returns:
            Whether it was this device (the caller ends the session).
        """
        session = self._state.require()
        await self._state.api.revoke_device(device_id)
        if device_id == session.account.device_id:
            self._state.revoked = True
            return True
        await self._keys.observe_own_devices()
        await self._state.persist()
        for channel_id in list(self._state.channels):
            try:
                await self._channel_ops.rotate_key(channel_id)
            except CoreError as exc:
                self._state.emit(
                    Error(text=f"rotating {channel_id[:8]} after the revocation: {exc}")
                )
        self._state.emit(
            DevicesChanged(
                user_id=session.account.user_id, devices=session.book.views(session.account.user_id)
            )
        )
        return False

    async def verify_user(self, user: str) -> SafetyNumberView:
        """The safety number of us and `user` (id or username) and their devices' fingerprints."""
        self._state.require()
        user_id = await self._channel_ops.resolve_user(user)
        self._keys.observe(await self._state.api.user_devices(user_id))
        await self._keys.observe_own_devices()
        await self._state.persist()
        return self._keys.safety_view(user_id)

    async def mark_verified(self, user: str) -> SafetyNumberView:
        """Mark `user`'s current devices verified (after comparing the safety number), which also
        re-trusts devices whose keys changed; their pending channel keys are then sent.
        """
        session = self._state.require()
        user_id = await self._channel_ops.resolve_user(user)
        self._keys.observe(await self._state.api.user_devices(user_id))
        trusted = [k for k in session.book.verify_user(user_id) if k.trusted]
        await self._state.persist()
        for channel in self._state.channels.values():
            if channel.members is None or user_id not in channel.members:
                continue
            key = session.keys.channel_key(channel.channel_id, channel.epoch)
            if key is None:
                continue
            uploads = tuple(
                sealing.envelope_upload(session.identity, k.device_id, k.bundle, key)
                for k in trusted
                if k.bundle is not None
            )
            if uploads:
                with contextlib.suppress(ApiError):
                    await self._state.api.post_envelopes(
                        channel.channel_id,
                        wire.EnvelopePostRequest(key_epoch=key.epoch, envelopes=uploads),
                    )
        await self._keys.share_directory_key(trusted)
        self._state.emit(DevicesChanged(user_id=user_id, devices=session.book.views(user_id)))
        return self._keys.safety_view(user_id)
