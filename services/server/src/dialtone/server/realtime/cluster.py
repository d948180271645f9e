"""Signals between replicas, carried as LISTEN/NOTIFY payloads.

A signal is one compact JSON object: `k` (its kind), `r` (the sending replica) and kind-specific
fields. Messages travel as pointers (channel id and sequence range: a few dozen bytes whatever the
batch size); the receiving replica has the rows already (it stored them) or reads them once.
Everything else (channel events, voice signaling) travels inline. A signal over PostgreSQL's
payload limit is split into numbered parts, sent in one transaction, and reassembled.
"""

from __future__ import annotations

import base64
import enum
import itertools
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

import attrs

from dialtone.server.storage.notify import MAX_PAYLOAD_BYTES, NotifyTemplate

log = logging.getLogger(__name__)

_PART_CHARS: Final = 6000
"""Base64 characters per part: far enough under the payload limit for the part's own fields."""
_MAX_PARTIAL: Final = 64
"""Signals being reassembled at once; older incomplete ones are dropped (their sender is gone)."""


class Kind(enum.StrEnum):
    """What a signal says."""

    MESSAGES = "m"
    """Messages `a..b` of channel `c` were committed (token `t` of the storing replica)."""
    CHANNEL_EVENT = "c"
    """Event `e` for the members of channel `c` (minus device `x`), with effect `fx`."""
    USER_EVENT = "u"
    """Event `e` for every device of users `u` (minus device `x`), with effect `fx`."""
    DEVICE_EVENT = "d"
    """Event `e` for device `d` of user `u` only (voice signaling)."""
    SESSIONS_ENDED = "z"
    """Sessions `s` were logged out: close their connections."""
    PRESENCE = "p"
    """User `u` (channels `c`) is now `on`line or not on the sender; `s` is the chosen status."""
    VOICE = "v"
    """A voice room change: participant `p` of room `c`, change `ch`."""
    HEARTBEAT = "h"
    """The sender is alive."""
    SNAPSHOT_REQUEST = "q"
    """The sender has just started: every replica should send its snapshot."""
    SNAPSHOT = "s"
    """The sender's online users `u` (with channels), statuses `st` and voice seats `v`."""
    BYE = "b"
    """The sender is shutting down: forget its users and voice seats now."""
    PART = "+"
    """Part `n` of `t` of signal `i`, base64 in `p`."""


class Effect(enum.StrEnum):
    """State a channel or user event changes on every replica besides being delivered.

    The effect's subject travels in `fc` (channel), `fu` (user) and `fd` (device).
    """

    SUBSCRIBE = "sub"
    """User `fu` joined channel `fc`: subscribe their connections, then deliver."""
    UNSUBSCRIBE = "unsub"
    """User `fu` left channel `fc`: unsubscribe them (and take them out of voice), then deliver."""
    DROP_CHANNEL = "drop"
    """Channel `fc` was deleted: deliver, then forget it and empty its voice room."""
    CLOSE_DEVICE = "revoke"
    """Device `fd` was revoked: deliver, then close its connections."""


@attrs.frozen
class Signal:
    """A decoded signal.

    Attributes:
        kind: What it says.
        replica: The replica that sent it.
        body: Its kind-specific fields.
    """

    kind: Kind
    replica: str
    body: dict[str, Any]


class SignalCodec:
    """Encodes signals into payloads and reassembles payloads into signals.

    Args:
        replica_id: This replica's identifier, stamped on every signal it sends.
    """

    def __init__(self, replica_id: str) -> None:
        self.replica_id = replica_id
        self._serial = itertools.count(1)
        self._partial: OrderedDict[tuple[str, int], list[str | None]] = OrderedDict()
        self._dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def encode(self, kind: Kind, **body: Any) -> list[str]:
        """Return the payloads of one signal (one, unless it must be split).

        Args:
            kind: What it says.
            **body: Its fields (JSON-ready values).

        Returns:
            Payloads, each within PostgreSQL's limit, to be sent in order in one transaction.
        """
        text = self._dumps({"k": kind.value, "r": self.replica_id, **body})
        raw = text.encode()
        if len(raw) <= MAX_PAYLOAD_BYTES:
            return [text]
        data = base64.b64encode(raw).decode("ascii")
        parts = [data[i : i + _PART_CHARS] for i in range(0, len(data), _PART_CHARS)]
        serial = next(self._serial)
        return [
            self._dumps(
                {
                    "k": Kind.PART.value,
                    "r": self.replica_id,
                    "i": serial,
                    "n": n,
                    "t": len(parts),
                    "p": p,
                }
            )
            for n, p in enumerate(parts)
        ]

    def messages_template(self, channel_id: str, token: int) -> NotifyTemplate:
        """Return the `MESSAGES` signal of a batch, to be completed with its range in SQL.

        Args:
            channel_id: The channel.
            token: The storing replica's batch token.

        Returns:
            The payload around the first and last sequence numbers (`a` and `b`).
        """
        head = self._dumps(
            {"k": Kind.MESSAGES.value, "r": self.replica_id, "c": channel_id, "t": token}
        )
        return NotifyTemplate(before=head[:-1] + ',"a":', between=',"b":', after="}")

    def decode(self, payload: str) -> Signal | None:
        """Decode one payload.

        Args:
            payload: A NOTIFY payload.

        Returns:
            The signal, or None for a part of an incomplete signal or a payload that is not a
            signal (logged and skipped: a malformed payload must not stop the stream).
        """
        try:
            data = json.loads(payload)
            kind = Kind(data.pop("k"))
            replica = data.pop("r")
            if kind is Kind.PART:
                return self._reassemble(replica, data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring a malformed replica signal (%s)", type(exc).__name__)
            return None
        return Signal(kind, str(replica), data)

    def _reassemble(self, replica: str, data: dict[str, Any]) -> Signal | None:
        key = (replica, int(data["i"]))
        total = int(data["t"])
        parts = self._partial.get(key)
        if parts is None:
            parts = self._partial[key] = [None] * total
            while len(self._partial) > _MAX_PARTIAL:
                self._partial.popitem(last=False)
        parts[int(data["n"])] = str(data["p"])
        if any(part is None for part in parts):
            return None
        del self._partial[key]
        whole = base64.b64decode("".join(part for part in parts if part is not None)).decode()
        return self.decode(whole)

    def forget_partial(self) -> None:
        """Drop signals being reassembled (after the stream was interrupted)."""
        self._partial.clear()


Dispatch = Callable[[Signal], None]
