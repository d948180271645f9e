"""`QuietCollector`: keeps Python's full garbage collections out of the user's way.

A full (generation 2) collection walks every tracked object: with Textual, Rich and a few thousand
rendered messages that is 50-80 ms on the reference machine, enough to drop a frame while the user
types. So once the main screen is up, everything alive is frozen (`gc.freeze`: never scanned
again), automatic full collections are turned off, and a full collection followed by a new freeze
runs only while the user is idle. Young-generation collections, which are quick, run as usual.
"""

from __future__ import annotations

import gc
import time

__all__ = ["QuietCollector"]

_NO_AUTOMATIC_FULL_COLLECTION = 1_000_000


class QuietCollector:
    """Moves full garbage collections to idle moments.

    Args:
        idle_after: Seconds without input after which a full collection may run.
        every: Seconds between full collections (at the first idle moment after).
    """

    def __init__(self, *, idle_after: float = 3.0, every: float = 30.0) -> None:
        self.idle_after = idle_after
        self.every = every
        self._last_input = time.monotonic()
        self._last_collection = time.monotonic()
        self._saved: tuple[int, int, int] | None = None

    def start(self) -> None:
        """Collect and freeze what exists now; stop automatic full collections."""
        if self._saved is None:
            self._saved = gc.get_threshold()
            young, middle, _old = self._saved
            gc.set_threshold(young, middle, _NO_AUTOMATIC_FULL_COLLECTION)
        self._collect()

    def stop(self) -> None:
        """Give the automatic collector its thresholds and the frozen objects back."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None
            gc.unfreeze()

    def saw_input(self) -> None:
        """The user pressed a key or moved the mouse."""
        self._last_input = time.monotonic()

    def tick(self) -> bool:
        """Collect if it is time and the user is idle (call every second or so).

        Returns:
            Whether a collection ran.
        """
        now = time.monotonic()
        if self._saved is None or now - self._last_collection < self.every:
            return False
        if now - self._last_input < self.idle_after:
            return False
        self._collect()
        return True

    def _collect(self) -> None:
        gc.collect()
        # What survived is long-lived (screens, messages shown): never walked again.
        gc.freeze()
        self._last_collection = time.monotonic()
