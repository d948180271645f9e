"""Verifying and opening received messages: pure, so batches can run in worker threads.

Every message becomes a `DecryptedMessage` or a `FailedMessage` with its reason; none is dropped.
The caller snapshots what the worker needs (keys by epoch, sender devices) on the event loop, so
a worker never touches mutable client state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from dialtone.client.core.events import (
    DecryptedMessage,
    DeviceTrust,
    FailedMessage,
    FailureReason,
    HistoryItem,
)
from dialtone.client.core.sealing import open_chat
from dialtone.client.core.trust import VOUCHING
from dialtone.crypto import ChannelKey, PublicBundle
from dialtone.crypto.errors import DecryptionError, InvalidSignature
from dialtone.wire.http import ChannelMessage

__all__ = ["SenderSnapshot", "decrypt_batch", "decrypt_one"]


@attrs.frozen
class SenderSnapshot:
    """What a worker needs to know about one sending device.

    Attributes:
        user_id: The device's owner as this client knows it.
        bundle: Its public bundle, None if its keys are malformed.
        trust: The client's verdict.
    """

    user_id: str
    bundle: PublicBundle | None
    trust: DeviceTrust


def _failed(message: ChannelMessage, reason: FailureReason, detail: str) -> FailedMessage:
    return FailedMessage(
        channel_id=message.channel_id,
        seq=message.seq,
        client_msg_id=message.client_msg_id,
        sender_user_id=message.sender_user_id,
        sender_device_id=message.sender_device_id,
        server_ts=message.server_ts,
        epoch=message.key_epoch,
        reason=reason,
        detail=detail,
    )


def decrypt_one(
    message: ChannelMessage,
    key: ChannelKey | None,
    sender: SenderSnapshot | None,
    *,
    own_user_id: str,
    now: datetime,
) -> HistoryItem:
    """Verify and open one message, or say why it cannot be shown.

    Args:
        message: The message as delivered.
        key: The channel key of its epoch, None if not held.
        sender: The sending device as known, None if unknown.
        own_user_id: Our user (marks our own messages).
        now: The local time recorded as ``created_at``.

    Returns:
        The message or its placeholder.
    """
    if key is None:
        return _failed(
            message,
            FailureReason.NO_KEY_YET,
            f"this device has no key for epoch {message.key_epoch} of this channel yet",
        )
    if sender is None or sender.bundle is None:
        return _failed(
            message,
            FailureReason.UNVERIFIED_SENDER,
            "the sending device is unknown or its keys are malformed",
        )
    if sender.user_id != message.sender_user_id:
        return _failed(
            message, FailureReason.TAMPERED, "the server names another user than the device's owner"
        )
    try:
        opened = open_chat(message, key, sender.bundle)
    except InvalidSignature:
        return _failed(message, FailureReason.TAMPERED, "the signature does not verify")
    except DecryptionError:
        return _failed(message, FailureReason.TAMPERED, "the message does not decrypt")
    if sender.trust not in VOUCHING:
        return _failed(
            message,
            FailureReason.UNVERIFIED_SENDER,
            f"the sending device is {sender.trust.value}: verify this user before trusting it",
        )
    return DecryptedMessage(
        channel_id=message.channel_id,
        seq=message.seq,
        client_msg_id=message.client_msg_id,
        sender_user_id=message.sender_user_id,
        sender_device_id=message.sender_device_id,
        sender_name=opened.sender_name or "",
        body=opened.body or "",
        server_ts=message.server_ts,
        created_at=now,
        epoch=message.key_epoch,
        own=message.sender_user_id == own_user_id,
        sender_trust=sender.trust,
    )


def decrypt_batch(
    messages: Sequence[ChannelMessage],
    keys: Mapping[int, ChannelKey],
    senders: Mapping[str, SenderSnapshot],
    *,
    own_user_id: str,
    now: datetime,
) -> list[HistoryItem]:
    """`decrypt_one` over a batch of one channel's messages.

    Args:
        messages: The messages.
        keys: The channel's keys by epoch.
        senders: Sending devices by server device id.
        own_user_id: Our user.
        now: The local time.

    Returns:
        One item per message, in order.
    """
    return [
        decrypt_one(
            message,
            keys.get(message.key_epoch),
            senders.get(message.sender_device_id),
            own_user_id=own_user_id,
            now=now,
        )
        for message in messages
    ]
