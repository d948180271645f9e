"""The two private library internals the daemon relies on (`dialtone.voiced.internals`).

These tests fail loudly when an aiortc or sounddevice release moves what the daemon reaches
into: the daemon itself only logs a warning and goes on without (docs/voice.md, "Private
internals").
"""

from __future__ import annotations

import asyncio
import contextlib

import aiortc
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from dialtone.voiced.audio.frames import FRAME_SAMPLES
from dialtone.voiced.audio.opus import OpusFrameEncoder
from dialtone.voiced.internals import (
    AIORTC_VERIFIED,
    SOUNDDEVICE_VERIFIED,
    PassThroughJitterBuffer,
    rescan_portaudio,
    use_pass_through_jitter_buffer,
    version_verified,
)
from dialtone.voiced.testing import tone
from dialtone.voiced.tracks import OutboundAudioTrack


@pytest.mark.parametrize(
    ("version", "verified"),
    [
        ("1.9.0", True),
        ("1.16.0", True),
        ("1.99", True),
        ("1.8.2", False),
        ("2.0.0", False),
        ("0.9.28", False),
        ("unknown", False),
        ("", False),
    ],
)
def test_version_ranges_include_the_first_and_exclude_the_end(version: str, verified: bool) -> None:
    assert version_verified(version, ((1, 9), (2, 0))) is verified


def test_the_installed_aiortc_is_a_verified_version() -> None:
    assert version_verified(aiortc.__version__, AIORTC_VERIFIED), (
        f"aiortc {aiortc.__version__} is outside {AIORTC_VERIFIED}: check that "
        "RTCRtpReceiver still keeps its audio jitter buffer in __jitter_buffer and only calls "
        "add() on it, then widen AIORTC_VERIFIED"
    )


async def test_received_audio_is_decoded_without_aiortc_s_prefetch() -> None:
    """Two packets are decoded at once: aiortc's own buffer would wait for four more."""
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    outgoing = OutboundAudioTrack()
    sender.addTrack(outgoing)
    frames: asyncio.Queue[object] = asyncio.Queue()
    pumps: list[asyncio.Task[None]] = []

    async def pump(track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frames.put_nowait(await track.recv())

    receiver.on("track", lambda track: pumps.append(asyncio.ensure_future(pump(track))))
    try:
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        (transceiver,) = receiver.getTransceivers()
        buffer = use_pass_through_jitter_buffer(transceiver.receiver)
        assert isinstance(buffer, PassThroughJitterBuffer), (
            f"aiortc {aiortc.__version__}: the receiver's jitter buffer could not be replaced"
        )
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        async with asyncio.timeout(10):
            while sender.connectionState != "connected":  # noqa: ASYNC110 -- no event to await
                await asyncio.sleep(0.02)
        encoder = OpusFrameEncoder(32_000)
        signal = tone(440, 0.04)
        for index in range(2):
            frame = signal[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES]
            for packet in encoder.encode(frame, index * FRAME_SAMPLES):
                outgoing.push(packet)
        async with asyncio.timeout(5):
            await frames.get()
            await frames.get()
        assert buffer.late == 0
    finally:
        outgoing.stop()
        await asyncio.gather(sender.close(), receiver.close())
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)


def test_late_and_repeated_packets_are_dropped_and_counted() -> None:
    buffer = PassThroughJitterBuffer()

    def packet(seq: int) -> aiortc.rtp.RtpPacket:
        return aiortc.rtp.RtpPacket(sequence_number=seq, timestamp=seq * 960, payload=b"x")

    taken = [buffer.add(packet(seq))[1] is not None for seq in (65534, 65535, 0, 65535, 0, 2, 1)]
    assert taken == [True, True, True, False, False, True, False]
    assert buffer.late == 3


def test_portaudio_can_be_rescanned_with_the_installed_sounddevice() -> None:
    import sounddevice  # here, not at the top: without libportaudio2 the import raises OSError

    assert version_verified(sounddevice.__version__, SOUNDDEVICE_VERIFIED), (
        f"sounddevice {sounddevice.__version__} is outside {SOUNDDEVICE_VERIFIED}: check that "
        "_terminate() and _initialize() still re-read PortAudio's devices, then widen it"
    )
    assert rescan_portaudio(sounddevice)
    sounddevice.query_devices()  # PortAudio is initialised again
