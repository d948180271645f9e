"""Mixing several remote speakers, each through its own adaptive jitter buffer.

Decoded frames arrive from the event loop (`Mixer.push`, one call per received packet) at the
sender's pace plus network and scheduling jitter; the playback thread takes one mixed frame per
device period (`Mixer.pull`) at the sound card's pace. Each source buffers just enough frames to
ride out the jitter it has shown: playback of a source starts once `target` frames are queued; an
underrun (nothing queued when the card asks) raises that source's target by one frame and
re-buffers; a long run without underruns lowers it again. Frames that would push a source's delay
past its target by more than two frames are dropped and counted, so the delay cannot creep.
"""

from __future__ import annotations

import collections
import threading
from typing import Final

import numpy as np

from dialtone.voiced.audio.frames import FRAME_SAMPLES, Frame

__all__ = ["DEFAULT_MAX_FRAMES", "DEFAULT_MIN_FRAMES", "Mixer"]

DEFAULT_MIN_FRAMES: Final = 1
"""The smallest jitter buffer: one frame (20 ms)."""
DEFAULT_MAX_FRAMES: Final = 10
"""The largest: 200 ms; beyond that, frames are dropped."""
_SLACK_FRAMES: Final = 2
_STABLE_PULLS: Final = 500  # 10 s of frames without an underrun before the target shrinks


class _Source:
    """One remote speaker's jitter buffer (guarded by the mixer's lock)."""

    def __init__(self, target: int) -> None:
        self.frames: collections.deque[Frame] = collections.deque()
        self.target = target
        self.playing = False
        self.stable_pulls = 0


class Mixer:
    """Per-source jitter buffers and their sum.

    Thread-safe: `push`, `remove` and `clear` are called from the event loop, `pull` from the
    playback thread.

    Args:
        min_frames: The smallest (and starting) jitter buffer per source, in frames.
        max_frames: The most frames a source may hold; older ones are dropped past it.

    Raises:
        ValueError: If the bounds are not ``1 <= min_frames <= max_frames``.
    """

    def __init__(
        self, min_frames: int = DEFAULT_MIN_FRAMES, max_frames: int = DEFAULT_MAX_FRAMES
    ) -> None:
        if not 1 <= min_frames <= max_frames:
            raise ValueError(f"need 1 <= min_frames <= max_frames, not {min_frames}, {max_frames}")
        self._min = min_frames
        self._max = max_frames
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        self.dropped = 0
        """Frames dropped: a source over its bound, or frames left when a source was removed."""
        self.underruns = 0
        """Times a playing source had nothing when the card asked (each one re-buffers it)."""

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
            state.frames.append(frame)
            limit = min(self._max, state.target + _SLACK_FRAMES) if state.playing else self._max
            while len(state.frames) > limit:
                state.frames.popleft()
                self.dropped += 1

    def remove(self, source: str) -> None:
        """Forget a source (its peer connection closed); unplayed frames count as dropped.

        Args:
            source: The source.
        """
        with self._lock:
            state = self._sources.pop(source, None)
            if state is not None:
                self.dropped += len(state.frames)

    def clear(self) -> None:
        """Drop everything queued (deafened); counted as dropped."""
        with self._lock:
            for state in self._sources.values():
                self.dropped += len(state.frames)
                state.frames.clear()
                state.playing = False

    def delay_frames(self, source: str) -> int:
        """How many frames a source has queued now.

        Args:
            source: The source.

        Returns:
            The count (0 for an unknown source).
        """
        with self._lock:
            state = self._sources.get(source)
            return len(state.frames) if state is not None else 0

    def pull(self) -> Frame:
        """The next frame to play: the sum of every source that has one, clipped.

        Returns:
            `FRAME_SAMPLES` samples (silence when no source is playing).
        """
        mixed: np.ndarray | None = None
        with self._lock:
            for state in self._sources.values():
                frame = self._next(state)
                if frame is None:
                    continue
                mixed = frame.astype(np.int32) if mixed is None else mixed + frame
        import time as _t, sys as _s
        loud = mixed is not None and int(np.abs(mixed).max()) > 3000
        if loud and not getattr(self, "_loud", False):
            print("T play_loud", _t.monotonic(), [ (st.target, len(st.frames)) for st in self._sources.values()], file=_s.stderr, flush=True)
        self._loud = loud
        if mixed is None:
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        result: Frame = np.clip(mixed, -32768, 32767).astype(np.int16)
        return result

    def _next(self, state: _Source) -> Frame | None:
        if not state.playing:
            if len(state.frames) < state.target:
                return None
            state.playing = True
            state.stable_pulls = 0
        if not state.frames:
            self.underruns += 1
            state.playing = False
            state.target = min(state.target + 1, self._max - _SLACK_FRAMES)
            state.target = max(state.target, self._min)
            return None
        state.stable_pulls += 1
        if state.stable_pulls >= _STABLE_PULLS and state.target > self._min:
            state.target -= 1
            state.stable_pulls = 0
        return state.frames.popleft()
