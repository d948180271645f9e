"""Mixing several remote speakers, each through its own adaptive jitter buffer.

Decoded 20 ms frames arrive from the event loop (`Mixer.push`, one per received packet) at the
sender's pace plus network and scheduling jitter; the playback thread takes one mixed 10 ms block
per device period (`Mixer.pull`) at the sound card's pace. Working in half frames matters for
latency: a frame that arrives just after a pull waits at most one block, not one frame.

Each source buffers just enough blocks to ride out the jitter it has shown. Its playback starts
once `target` blocks are queued. When the card asks and a playing source has nothing, it stops
and re-buffers; if its next frame then comes within `LATE_BLOCKS` blocks, the frame was late --
an underrun, counted, and the target grows by one block -- otherwise the sender had paused
(push-to-talk released: the daemon sends nothing between talk spurts) and the target stays. A
long run without underruns lowers the target again. Blocks that would push a source's delay more
than one frame past its target are dropped, oldest first, and counted, so the delay cannot creep.
"""

from __future__ import annotations

import collections
import threading
from typing import Final

import numpy as np

from dialtone.voiced.audio.frames import FRAME_SAMPLES, Frame

__all__ = ["BLOCK_SAMPLES", "DEFAULT_MAX_BLOCKS", "DEFAULT_MIN_BLOCKS", "LATE_BLOCKS", "Mixer"]

BLOCK_SAMPLES: Final = FRAME_SAMPLES // 2
"""What one `Mixer.pull` returns: 10 ms."""
DEFAULT_MIN_BLOCKS: Final = 1
"""The smallest jitter buffer: 10 ms (a source starts as soon as its first frame is in)."""
DEFAULT_MAX_BLOCKS: Final = 20
"""The most a source may hold: 200 ms; beyond that, blocks are dropped."""
LATE_BLOCKS: Final = 4
"""A gap up to this long (40 ms) is a late frame (jitter); a longer one is a pause."""
_SLACK_BLOCKS: Final = 2  # one frame over the target before dropping
_STABLE_PULLS: Final = 1000  # 10 s without an underrun before the target shrinks


class _Source:
    """One remote speaker's jitter buffer (guarded by the mixer's lock)."""

    def __init__(self, target: int) -> None:
        self.blocks: collections.deque[Frame] = collections.deque()
        self.target = target
        self.playing = False
        self.stable_pulls = 0
        self.starved_for: int | None = None
        """Pulls since the source ran dry while playing (None: it did not)."""


class Mixer:
    """Per-source jitter buffers and their sum.

    Thread-safe: `push`, `remove` and `clear` are called from the event loop, `pull` from the
    playback thread.

    Args:
        min_blocks: The smallest (and starting) jitter buffer per source, in 10 ms blocks.
        max_blocks: The most blocks a source may hold; older ones are dropped past it.

    Raises:
        ValueError: If the bounds are not ``1 <= min_blocks`` and ``min_blocks + 2 <=
            max_blocks``.
    """

    def __init__(
        self, min_blocks: int = DEFAULT_MIN_BLOCKS, max_blocks: int = DEFAULT_MAX_BLOCKS
    ) -> None:
        if not 1 <= min_blocks <= max_blocks - _SLACK_BLOCKS:
            raise ValueError(
                f"need 1 <= min_blocks <= max_blocks - 2, not {min_blocks}, {max_blocks}"
            )
        self._min = min_blocks
        self._max = max_blocks
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        self.dropped = 0
        """Frames (20 ms) dropped: over a source's bound, or unplayed when it was removed."""
        self._dropped_blocks = 0
        self.underruns = 0
        """Times a playing source's next frame came late (each one raises its target)."""

    def push(self, source: str, frame: Frame) -> None:
        """Queue one decoded frame of a source.

        Args:
            source: Who it is from (a device id).
            frame: `FRAME_SAMPLES` mono samples.
        """
        with self._lock:
            state = self._sources.get(source)
            if state is None:
                state = self._sources[source] = _Source(self._min)
            if state.starved_for is not None:
                if state.starved_for <= LATE_BLOCKS:
                    self.underruns += 1
                    state.target = min(state.target + 1, self._max - _SLACK_BLOCKS)
                state.starved_for = None
            state.blocks.append(frame[:BLOCK_SAMPLES])
            state.blocks.append(frame[BLOCK_SAMPLES:])
            limit = min(self._max, state.target + _SLACK_BLOCKS) if state.playing else self._max
            while len(state.blocks) > limit:
                state.blocks.popleft()
                self._count_dropped(1)

    def _count_dropped(self, blocks: int) -> None:
        self._dropped_blocks += blocks
        self.dropped = (self._dropped_blocks + 1) // 2

    def remove(self, source: str) -> None:
        """Forget a source (its peer connection closed); unplayed blocks count as dropped.

        Args:
            source: The source.
        """
        with self._lock:
            state = self._sources.pop(source, None)
            if state is not None:
                self._count_dropped(len(state.blocks))

    def clear(self) -> None:
        """Drop everything queued (deafened); counted as dropped."""
        with self._lock:
            for state in self._sources.values():
                self._count_dropped(len(state.blocks))
                state.blocks.clear()
                state.playing = False

    def buffered_blocks(self, source: str) -> int:
        """How many blocks a source has queued now.

        Args:
            source: The source.

        Returns:
            The count (0 for an unknown source).
        """
        with self._lock:
            state = self._sources.get(source)
            return len(state.blocks) if state is not None else 0

    def target_blocks(self, source: str) -> int:
        """A source's current jitter buffer target.

        Args:
            source: The source.

        Returns:
            Blocks (the minimum for an unknown source).
        """
        with self._lock:
            state = self._sources.get(source)
            return state.target if state is not None else self._min

    def pull(self) -> Frame:
        """The next block to play: the sum of every source that has one, clipped.

        Returns:
            `BLOCK_SAMPLES` samples (silence when no source is playing).
        """
        mixed: np.ndarray | None = None
        with self._lock:
            for state in self._sources.values():
                block = self._next(state)
                if block is None:
                    continue
                mixed = block.astype(np.int32) if mixed is None else mixed + block
        if mixed is None:
            return np.zeros(BLOCK_SAMPLES, dtype=np.int16)
        result: Frame = np.clip(mixed, -32768, 32767).astype(np.int16)
        return result

    def _next(self, state: _Source) -> Frame | None:
        if state.starved_for is not None:
            state.starved_for += 1
        if not state.playing:
            if len(state.blocks) < state.target:
                return None
            state.playing = True
            state.stable_pulls = 0
        if not state.blocks:
            state.playing = False
            state.starved_for = 0
            return None
        state.stable_pulls += 1
        if state.stable_pulls >= _STABLE_PULLS and state.target > self._min:
            state.target -= 1
            state.stable_pulls = 0
        return state.blocks.popleft()
