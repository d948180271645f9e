"""Wall-clock time as an injectable object, so tests can move time (session and invite expiry)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current time."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Return a monotonic time in seconds (for rate limits and timeouts)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return `time.monotonic()`."""
        return time.monotonic()


class ManualClock:
    """A clock that only moves when told to (tests).

    Args:
        start: The initial wall-clock time (aware).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        self._monotonic = 1000.0

    def now(self) -> datetime:
        """Return the current (manual) wall-clock time."""
        return self._now

    def monotonic(self) -> float:
        """Return the current (manual) monotonic time."""
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both clocks forward.

        Args:
            seconds: How far to move, in seconds.
        """
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds
