"""The offline queue on disk, so messages written while offline survive a restart of the client.

The file sits beside the keystore profile (``<profile>.outbox``): a magic line, then the queue
sealed with `dialtone.crypto.seal_local` under this device's private keys, which only the
unlocked keystore holds (reading it takes what reading the keystore takes), with the label
``dialtone-client/outbox`` and the server, the user and the device as context, so a file copied
from another profile does not open. Each
message keeps its sealed and signed frame as it was first sent (same client message id, so a
message the server already stored is acknowledged again, never stored twice) and its plaintext,
which is needed to show it as pending and to seal it again if the channel moves to a new key
epoch before it is sent.

All methods block (file I/O): the core calls them in a worker thread.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from dialtone.crypto import DecryptionError, DeviceIdentity, open_local, seal_local
from dialtone.wire import Codec, ProtocolError
from dialtone.wire.ws import MessageSend

__all__ = ["OutboxStore", "SavedMessage", "UnreadableOutboxError", "outbox_path"]

_MAGIC = b"DTOUTBX2"
# The first development format (its own AES-GCM layout, before `seal_local`): never released, so
# such a file is reported and discarded rather than converted.
_OLD_MAGICS = (b"DTOUTBX1",)
_LABEL = "dialtone-client/outbox"
_FORMAT = 1
# The queue holds at most `outbox_limit` messages of at most 64 KiB each; this bounds what is
# read back before it is authenticated.
_MAX_FILE_BYTES = 256 * 1024 * 1024


class UnreadableOutboxError(Exception):
    """The saved queue does not open (another device's, altered, or from a newer client)."""


@attrs.frozen(kw_only=True)
class SavedMessage:
    """One queued message as saved.

    Attributes:
        frame: The sealed ``channel.message.send`` event.
        body: The plaintext body (to show it pending, and to seal it again for a new epoch).
        sender_name: The display name sealed into it.
        created_at: When it was written.
    """

    frame: MessageSend
    body: str
    sender_name: str
    created_at: datetime


def outbox_path(profile: Path) -> Path:
    """Where the offline queue of a keystore profile is saved.

    Args:
        profile: The keystore file.

    Returns:
        The queue's file, beside it.
    """
    return profile.with_name(profile.name + ".outbox")


class OutboxStore:
    """The encrypted file of one device's offline queue.

    Args:
        path: The file.
        identity: This device's keys (the file key is derived from them).
        server: The normalized server URL.
        user_id: The user.
        device_id: This device.
        codec: The wire codec (frames are kept in their wire form).
    """

    def __init__(
        self,
        path: Path,
        identity: DeviceIdentity,
        *,
        server: str,
        user_id: str,
        device_id: str,
        codec: Codec,
    ) -> None:
        self.path = path
        self._codec = codec
        self._identity = identity
        self._context = json.dumps([server, user_id, device_id]).encode()

    def load(self) -> list[SavedMessage]:
        """Read the saved queue (empty when there is none).

        Returns:
            The messages, oldest first.

        Raises:
            UnreadableOutboxError: The file exists but does not open.
        """
        try:
            with self.path.open("rb") as handle:
                data = handle.read(_MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise UnreadableOutboxError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        if data.startswith(_OLD_MAGICS):
            raise UnreadableOutboxError(
                f"{self.path} was saved by a development version of this client in an older "
                "format, which this version does not read"
            )
        if len(data) > _MAX_FILE_BYTES or not data.startswith(_MAGIC):
            raise UnreadableOutboxError(f"{self.path} is not a Dialtone offline queue")
        try:
            plain = open_local(self._identity, _LABEL, self._context, data[len(_MAGIC) :])
        except DecryptionError:
            raise UnreadableOutboxError(
                f"{self.path} does not open with this device's keys (altered, or another device's)"
            ) from None
        try:
            return self._decode(plain)
        except (ValueError, KeyError, TypeError, ProtocolError) as exc:
            raise UnreadableOutboxError(f"{self.path} holds an unknown format: {exc}") from exc

    def save(self, messages: Sequence[SavedMessage]) -> None:
        """Replace the saved queue (atomically); an empty queue removes the file.

        Args:
            messages: The messages, oldest first.
        """
        if not messages:
            self.clear()
            return
        plain = json.dumps(
            {"format": _FORMAT, "messages": [self._encode(m) for m in messages]},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        data = _MAGIC + seal_local(self._identity, _LABEL, self._context, plain)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise

    def clear(self) -> None:
        """Remove the saved queue."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _encode(self, message: SavedMessage) -> dict[str, Any]:
        return {
            "frame": self._codec.encode_ws(message.frame),
            "body": message.body,
            "sender_name": message.sender_name,
            "created_at": message.created_at.isoformat(),
        }

    def _decode(self, plain: bytes) -> list[SavedMessage]:
        document = json.loads(plain)
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise ValueError("unknown format version")
        result = []
        for record in document["messages"]:
            frame = self._codec.decode_ws_client(record["frame"])
            if not isinstance(frame, MessageSend):
                raise ValueError(f"a {frame.type} frame in the queue")
            created_at = datetime.fromisoformat(record["created_at"])
            if created_at.tzinfo is None:
                raise ValueError("a time without a time zone")
            result.append(
                SavedMessage(
                    frame=frame,
                    body=str(record["body"]),
                    sender_name=str(record["sender_name"]),
                    created_at=created_at,
                )
            )
        return result
