"""The outgoing audio track of one peer connection: already-encoded Opus packets.

One `OutboundAudioTrack` per peer connection; the microphone pipeline pushes the same packet into
every track. aiortc's sender reads the track at its own pace; a sender that falls behind (its
connection stalled) loses the oldest packets, counted, instead of holding the microphone up.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Final

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from dialtone.voiced.audio.opus import OpusPacket

__all__ = ["DEFAULT_TRACK_QUEUE", "OutboundAudioTrack"]

DEFAULT_TRACK_QUEUE: Final = 10
"""Packets (200 ms) a track keeps for a sender that is not reading."""


class OutboundAudioTrack(MediaStreamTrack):
    """An audio track whose frames are Opus packets pushed in by the daemon.

    Args:
        maxsize: Packets kept at most; older ones are dropped past that.
    """

    kind = "audio"

    def __init__(self, maxsize: int = DEFAULT_TRACK_QUEUE) -> None:
        super().__init__()
        self._packets: collections.deque[OpusPacket] = collections.deque()
        self._maxsize = maxsize
        self._wakeup = asyncio.Event()
        self.dropped = 0
        """Packets dropped because the sender fell behind."""

    def push(self, packet: OpusPacket) -> None:
        """Queue a packet for the sender (loop thread).

        Args:
            packet: An Opus packet with ``pts`` and ``time_base`` set.
        """
        if self.readyState != "live":
            return
        if len(self._packets) >= self._maxsize:
            self._packets.popleft()
            self.dropped += 1
        self._packets.append(packet)
        self._wakeup.set()

    async def recv(self) -> OpusPacket:
        """The next packet (aiortc's sender calls this).

        Returns:
            The oldest queued packet.

        Raises:
            MediaStreamError: Once the track is stopped (ends the sender's loop).
        """
        while not self._packets:
            if self.readyState != "live":
                raise MediaStreamError
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._packets.popleft()

    def stop(self) -> None:
        """End the track; a waiting `recv` raises `MediaStreamError`."""
        super().stop()
        self._packets.clear()
        self._wakeup.set()
