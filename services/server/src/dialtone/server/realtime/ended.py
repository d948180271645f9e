"""Sessions and devices that ended a moment ago, for connections that are not attached yet.

A `/v1/ws` connection is authenticated at the upgrade but joins the hub only after its `hello`
(up to the hello timeout later). A logout or a revocation in between finds no connection to
close; this short memory lets the connection be closed with the right code when it attaches.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from dialtone.wire.ws import CloseCode


class RecentlyEnded:
    """Session and device ids ended within the last `keep` seconds.

    Args:
        keep: Seconds an id is remembered (longer than a connection may take from its upgrade to
            joining the hub).
        now: Monotonic time source in seconds.
    """

    def __init__(self, *, keep: float, now: Callable[[], float]) -> None:
        self._keep = keep
        self._now = now
        # Insertion order is time order: expired entries are always at the front.
        self._ended: OrderedDict[tuple[str, str], float] = OrderedDict()

    def sessions_ended(self, session_ids: Iterable[str]) -> None:
        """Remember sessions that were logged out or deleted.

        Args:
            session_ids: The sessions.
        """
        for session_id in session_ids:
            self._add(("session", session_id))

    def device_revoked(self, device_id: str) -> None:
        """Remember a revoked device.

        Args:
            device_id: The device.
        """
        self._add(("device", device_id))

    def close_code(self, *, session_id: str, device_id: str) -> CloseCode | None:
        """Return the close code for a connection whose session or device ended, else None.

        Args:
            session_id: The connection's session.
            device_id: The connection's device.

        Returns:
            4005 for a revoked device, 4001 for an ended session, or None.
        """
        self._expire()
        if ("device", device_id) in self._ended:
            return CloseCode.DEVICE_REVOKED
        if ("session", session_id) in self._ended:
            return CloseCode.UNAUTHORIZED
        return None

    def _add(self, key: tuple[str, str]) -> None:
        self._expire()
        self._ended.pop(key, None)
        self._ended[key] = self._now()

    def _expire(self) -> None:
        oldest = self._now() - self._keep
        ended = self._ended
        while ended:
            key, at = next(iter(ended.items()))
            if at > oldest:
                return
            del ended[key]
