"""Test signals and their analysis: tones, dominant frequency, level, onset."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dialtone.voiced.audio.frames import SAMPLE_RATE

__all__ = ["dominant_frequency", "onset", "rms_dbfs", "tone"]


def tone(
    frequency: float, seconds: float, *, amplitude: float = 0.5, rate: int = SAMPLE_RATE
) -> npt.NDArray[np.int16]:
    """A sine tone.

    Args:
        frequency: Hz.
        seconds: Duration.
        amplitude: Peak, as a fraction of full scale.
        rate: Samples per second.

    Returns:
        int16 samples.
    """
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def dominant_frequency(samples: npt.NDArray[np.int16], rate: int = SAMPLE_RATE) -> float:
    """The frequency of the largest FFT peak (Hann window).

    Args:
        samples: The signal.
        rate: Samples per second.

    Returns:
        Hz (0.0 for an empty or silent signal).
    """
    if samples.size == 0:
        return 0.0
    signal = samples.astype(np.float64) * np.hanning(samples.size)
    spectrum = np.abs(np.fft.rfft(signal))
    spectrum[0] = 0.0
    if not np.any(spectrum):
        return 0.0
    return float(np.argmax(spectrum)) * rate / samples.size


def rms_dbfs(samples: npt.NDArray[np.int16]) -> float:
    """RMS level.

    Args:
        samples: The signal.

    Returns:
        dBFS (-200.0 for silence).
    """
    if samples.size == 0:
        return -200.0
    wide = samples.astype(np.float64)
    rms = math.sqrt(float(np.mean(wide * wide)))
    return -200.0 if rms == 0 else 20 * math.log10(rms / 32768)


def onset(
    samples: npt.NDArray[np.int16], *, threshold_dbfs: float = -30.0, window: int = 96
) -> int | None:
    """Where a sound starts: the first window whose RMS exceeds a threshold.

    Args:
        samples: The signal.
        threshold_dbfs: The level that counts as sound.
        window: Samples per window (2 ms at 48 kHz).

    Returns:
        The index of the first sample of that window, or None.
    """
    usable = samples.size - samples.size % window
    if usable == 0:
        return None
    blocks = samples[:usable].astype(np.float64).reshape(-1, window)
    levels = np.sqrt(np.mean(blocks * blocks, axis=1))
    threshold = 32768 * 10 ** (threshold_dbfs / 20)
    loud = np.nonzero(levels > threshold)[0]
    return int(loud[0]) * window if loud.size else None
