"""Opus encoding of microphone frames, once per frame for every peer.

aiortc would encode separately for each peer connection, at a fixed 96 kbit/s. Instead the daemon
encodes each 20 ms frame once, at the configured bitrate, and hands the same packet to every
peer's track; aiortc's sender only packetizes pre-encoded ``av.Packet``s (its documented path for
tracks that are already encoded).
"""

from __future__ import annotations

import fractions
from typing import Any, Final, TypeAlias

import av

from dialtone.voiced.audio.frames import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE, Frame

__all__ = ["TIME_BASE", "OpusFrameEncoder", "OpusPacket"]

TIME_BASE: Final = fractions.Fraction(1, SAMPLE_RATE)
"""Packet timestamps count samples at 48 kHz (Opus' RTP clock)."""
OpusPacket: TypeAlias = "av.Packet[Any]"
"""One encoded 20 ms frame."""


class OpusFrameEncoder:
    """libopus (through PyAV) for 20 ms mono frames, VoIP mode.

    Args:
        bitrate: Bits per second (6,000 to 510,000).

    Raises:
        ValueError: If the bitrate is out of Opus' range.
    """

    def __init__(self, bitrate: int) -> None:
        if not 6_000 <= bitrate <= 510_000:
            raise ValueError(f"Opus bitrate must be 6000 to 510000 bit/s, not {bitrate}")
        codec: Any = av.CodecContext.create("libopus", "w")
        codec.bit_rate = bitrate
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = SAMPLE_RATE
        codec.time_base = TIME_BASE
        codec.options = {"application": "voip", "frame_duration": str(FRAME_MS)}
        self._codec = codec
        self.bitrate = bitrate

    def encode(self, frame: Frame, pts: int) -> list[OpusPacket]:
        """Encode one frame.

        Args:
            frame: `FRAME_SAMPLES` samples.
            pts: The frame's first sample's index in the stream (its RTP timestamp offset).

        Returns:
            The packets libopus produced (one per frame once it is primed), with ``pts`` and
            ``time_base`` set for aiortc's packetizer.
        """
        audio = av.AudioFrame.from_ndarray(
            frame.reshape(1, FRAME_SAMPLES), format="s16", layout="mono"
        )
        audio.sample_rate = SAMPLE_RATE
        audio.pts = pts
        audio.time_base = TIME_BASE
        packets: list[OpusPacket] = list(self._codec.encode(audio))
        for packet in packets:
            # libopus reports its look-ahead as a negative first pts; the RTP clock only needs
            # one packet per 20 ms, so use the frame's own position.
            packet.pts = pts
            packet.time_base = TIME_BASE
        return packets
