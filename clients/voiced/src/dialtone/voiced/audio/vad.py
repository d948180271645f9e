"""Speaking detection: webrtcvad on each 10 ms, with a hangover so pauses between words do not
flicker the state."""

from __future__ import annotations

from typing import Final

import webrtcvad

from dialtone.voiced.audio.frames import FRAME_MS, SAMPLE_RATE, Frame, frame_levels

__all__ = ["DEFAULT_HANGOVER_MS", "SpeakingDetector"]

DEFAULT_HANGOVER_MS: Final = 300
"""How long the state stays "speaking" after the last voiced frame."""
_VAD_MS: Final = 10
_VAD_SAMPLES: Final = SAMPLE_RATE * _VAD_MS // 1000
# Below this RMS a frame is not speech whatever webrtcvad says: Opus comfort noise and the decoder's
# tails after a talker stops are not someone speaking.
_FLOOR_DBFS: Final = -55.0


class SpeakingDetector:
    """Whether a stream of frames is someone speaking.

    A frame is voiced when its level is above a floor and webrtcvad calls any of its 10 ms halves
    speech. The state turns on at the first voiced frame and off after `hangover_ms` without one.

    Args:
        aggressiveness: webrtcvad's mode, 0 to 3.
        hangover_ms: How long speaking lasts after the last voiced frame.

    Raises:
        ValueError: If ``aggressiveness`` is not 0 to 3 or ``hangover_ms`` is negative.
    """

    def __init__(self, aggressiveness: int = 2, hangover_ms: int = DEFAULT_HANGOVER_MS) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ValueError(f"VAD aggressiveness must be 0 to 3, not {aggressiveness}")
        if hangover_ms < 0:
            raise ValueError(f"hangover must not be negative, not {hangover_ms}")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._hangover_frames = -(-hangover_ms // FRAME_MS)
        self._quiet_frames = self._hangover_frames
        self.speaking = False
        """The current state."""

    def voiced(self, frame: Frame) -> bool:
        """Whether one frame holds speech (no hangover, no state change).

        Args:
            frame: One frame (a multiple of 10 ms of samples).

        Returns:
            True if the frame is voiced.
        """
        rms, _ = frame_levels(frame)
        if rms < _FLOOR_DBFS:
            return False
        data = frame.tobytes()
        step = _VAD_SAMPLES * 2
        return any(
            self._vad.is_speech(data[start : start + step], SAMPLE_RATE)
            for start in range(0, len(data) - step + 1, step)
        )

    def update(self, frame: Frame) -> bool:
        """Feed the next frame.

        Args:
            frame: One frame.

        Returns:
            The speaking state after it.
        """
        if self.voiced(frame):
            self._quiet_frames = 0
            self.speaking = True
        else:
            self._quiet_frames += 1
            if self._quiet_frames >= self._hangover_frames:
                self.speaking = False
        return self.speaking

    def reset(self) -> None:
        """Back to not speaking (the stream was interrupted)."""
        self._quiet_frames = self._hangover_frames
        self.speaking = False
