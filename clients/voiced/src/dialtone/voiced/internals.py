"""The two places where the daemon reaches into a library's private parts, each behind a check.

Neither library has a public way to do what the daemon needs (docs/voice.md, "Private
internals", says why each is worth it):

- `use_pass_through_jitter_buffer`: aiortc's `RTCRtpReceiver` holds incoming audio in a jitter
  buffer with four packets (80 ms) of prefetch before decoding, and offers no option to change
  it. The daemon replaces that buffer, a name-mangled attribute, with one that hands each Opus
  packet to the decoder as it comes; its own adaptive jitter buffer (`dialtone.voiced.audio.mixer`)
  sits after ``track.recv()``.
- `rescan_portaudio`: PortAudio lists devices once, when it is initialised, and sounddevice has
  no public call to list them again; its documentation points to its private ``_terminate`` and
  ``_initialize``. Without a rescan a sound server started (or restarted) after the daemon is
  never seen.

Each function first checks the library's version against the range it was verified on, and that
the private attribute is there. If not, it does nothing, logs a warning and returns False: the
daemon goes on working, with 80 ms more receive latency, or without seeing late sound servers.
``tests/test_voiced_internals.py`` fails loudly on a library version where either stops working.
"""

from __future__ import annotations

import logging
import re
from types import ModuleType
from typing import Final

import aiortc
from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

__all__ = [
    "AIORTC_VERIFIED",
    "SOUNDDEVICE_VERIFIED",
    "PassThroughJitterBuffer",
    "rescan_portaudio",
    "use_pass_through_jitter_buffer",
    "version_verified",
]

log = logging.getLogger(__name__)

# Only releases these were checked against: a new minor release must be looked at (the tests
# fail until it is) before the range is widened.
AIORTC_VERIFIED: Final = ((1, 16), (1, 17))
"""aiortc versions (from, to excluded) whose audio receiver has the jitter buffer replaced here."""
SOUNDDEVICE_VERIFIED: Final = ((0, 5), (0, 6))
"""sounddevice versions (from, to excluded) with ``_terminate`` and ``_initialize`` as used here."""
_RECEIVER_JITTER_BUFFER: Final = "_RTCRtpReceiver__jitter_buffer"
_SEQ_HALF: Final = 0x8000


def _major_minor(version: str) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else None


def version_verified(version: str, verified: tuple[tuple[int, int], tuple[int, int]]) -> bool:
    """Whether a library version lies in a verified range.

    Args:
        version: The library's ``__version__``.
        verified: ``(first, end)`` major/minor pairs, the end excluded.

    Returns:
        True if ``first <= version < end``.
    """
    parsed = _major_minor(version)
    return parsed is not None and verified[0] <= parsed < verified[1]


class PassThroughJitterBuffer(JitterBuffer):
    """aiortc's receive-side reassembly without its 80 ms of prefetch.

    An Opus frame is one RTP packet, so it can go to the decoder as it comes. Late and duplicate
    packets are dropped (and counted); timing jitter is absorbed later, before playback.
    """

    def __init__(self) -> None:
        super().__init__(capacity=16)
        self._last: int | None = None
        self.late = 0
        """Packets dropped because they came after a newer one, or twice."""

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """Take one RTP packet.

        Args:
            packet: The packet.

        Returns:
            aiortc's ``(picture loss, frame)``: never a picture loss; the frame unless the packet
            is late or a duplicate.
        """
        seq = packet.sequence_number
        if self._last is not None and (seq - self._last) & 0xFFFF in range(_SEQ_HALF, 0x10000):
            self.late += 1
            return False, None
        if self._last is not None and seq == self._last:
            self.late += 1
            return False, None
        self._last = seq
        # Opus needs no depayloading: the RTP payload is the Opus packet.
        return False, JitterFrame(data=packet.payload, timestamp=packet.timestamp)


def use_pass_through_jitter_buffer(receiver: RTCRtpReceiver) -> PassThroughJitterBuffer | None:
    """Replace an audio receiver's jitter buffer with a `PassThroughJitterBuffer`.

    Call it before the connection receives anything (after the transceiver exists).

    Args:
        receiver: An audio transceiver's receiver.

    Returns:
        The new buffer, or None if this aiortc is not one it was verified on (aiortc's own
        buffer stays, with its 80 ms; a warning is logged).
    """
    version = getattr(aiortc, "__version__", "unknown")
    if not version_verified(version, AIORTC_VERIFIED):
        log.warning("aiortc %s is not verified: keeping its jitter buffer (+80 ms)", version)
        return None
    if not isinstance(getattr(receiver, _RECEIVER_JITTER_BUFFER, None), JitterBuffer):
        log.warning("aiortc %s has no receiver jitter buffer to replace (+80 ms)", version)
        return None
    buffer = PassThroughJitterBuffer()
    setattr(receiver, _RECEIVER_JITTER_BUFFER, buffer)
    return buffer


def rescan_portaudio(sd: ModuleType) -> bool:
    """Make PortAudio list the audio devices again (no stream may be open).

    Args:
        sd: The sounddevice module.

    Returns:
        True if it rescanned; False if this sounddevice is not one it was verified on (a
        warning is logged; the device list stays as it was).

    Raises:
        Exception: Whatever sounddevice raises if PortAudio cannot be re-initialised
            (``sounddevice.PortAudioError``).
    """
    version = str(getattr(sd, "__version__", "unknown"))
    terminate = getattr(sd, "_terminate", None)
    initialize = getattr(sd, "_initialize", None)
    if not version_verified(version, SOUNDDEVICE_VERIFIED) or not (
        callable(terminate) and callable(initialize)
    ):
        log.warning("sounddevice %s is not verified: audio devices are not rescanned", version)
        return False
    terminate()
    initialize()
    return True
