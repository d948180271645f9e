"""The audio frame format, and levels in dBFS."""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "FRAME_MS",
    "FRAME_SAMPLES",
    "MIN_DBFS",
    "SAMPLE_RATE",
    "Frame",
    "LevelMeter",
    "frame_levels",
    "silence",
]

SAMPLE_RATE: Final = 48_000
"""Samples per second, everywhere (capture, Opus, playback)."""
FRAME_MS: Final = 20
"""One frame: what the microphone delivers at once and what one Opus packet carries."""
FRAME_SAMPLES: Final = SAMPLE_RATE * FRAME_MS // 1000
MIN_DBFS: Final = -200.0
"""The level of digital silence (the wire's lower bound)."""
_FULL_SCALE: Final = 32768.0

Frame = npt.NDArray[np.int16]
"""One frame: `FRAME_SAMPLES` mono samples, signed 16-bit."""


def silence() -> Frame:
    """A frame of digital silence.

    Returns:
        `FRAME_SAMPLES` zeros.
    """
    return np.zeros(FRAME_SAMPLES, dtype=np.int16)


def _dbfs(value: float) -> float:
    if value <= 0.0:
        return MIN_DBFS
    return max(MIN_DBFS, min(0.0, 20.0 * math.log10(value / _FULL_SCALE)))


def frame_levels(frame: Frame) -> tuple[float, float]:
    """The RMS and peak level of some samples.

    Args:
        frame: Signed 16-bit samples.

    Returns:
        ``(rms_dbfs, peak_dbfs)``, each in ``[MIN_DBFS, 0]``; a full-scale sine is about -3 dBFS
        RMS and 0 dBFS peak.
    """
    if frame.size == 0:
        return MIN_DBFS, MIN_DBFS
    wide = frame.astype(np.float64)
    rms = math.sqrt(float(np.mean(wide * wide)))
    peak = float(np.max(np.abs(wide)))
    return _dbfs(rms), _dbfs(peak)


class LevelMeter:
    """RMS and peak over the frames since the last reading (the ``voice.level`` event)."""

    def __init__(self) -> None:
        self._sum_squares = 0.0
        self._samples = 0
        self._peak = 0.0

    def add(self, frame: Frame) -> None:
        """Account for one frame.

        Args:
            frame: The samples.
        """
        wide = frame.astype(np.float64)
        self._sum_squares += float(np.dot(wide, wide))
        self._samples += frame.size
        if frame.size:
            self._peak = max(self._peak, float(np.max(np.abs(wide))))

    def take(self) -> tuple[float, float]:
        """Read and reset.

        Returns:
            ``(rms_dbfs, peak_dbfs)`` of the frames added since the last call.
        """
        rms = math.sqrt(self._sum_squares / self._samples) if self._samples else 0.0
        result = _dbfs(rms), _dbfs(self._peak)
        self._sum_squares = 0.0
        self._samples = 0
        self._peak = 0.0
        return result
