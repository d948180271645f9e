"""The microphone and the speaker, through sounddevice (PortAudio), each in its own thread.

PortAudio runs each stream's callback in a thread of its own. Capture hands 20 ms frames to the
event loop through a bounded `FrameQueue`; playback asks a callable (the mixer) for each frame.
Nothing in a callback blocks or allocates much, and every frame lost is counted:

- capture: frames dropped because the loop fell behind (queue full), plus frames PortAudio
  reports lost (input overflow);
- playback: frames the device had to invent because the callback was late (output underflow).

sounddevice is imported lazily: without libportaudio2 its import raises ``OSError``, and that,
like a missing sound server or device, is a `NoAudioDeviceError` for the TUI, not a crash.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final

import numpy as np

from dialtone.voiced.audio.frames import FRAME_SAMPLES, SAMPLE_RATE, Frame
from dialtone.voiced.errors import AudioFailedError, NoAudioDeviceError
from dialtone.voiced.internals import rescan_portaudio

__all__ = [
    "DEFAULT_CAPTURE_QUEUE_FRAMES",
    "DEVICE_BLOCK_SAMPLES",
    "CaptureStream",
    "FrameQueue",
    "PlaybackStream",
    "load_sounddevice",
]

log = logging.getLogger(__name__)

DEFAULT_CAPTURE_QUEUE_FRAMES: Final = 25
"""Half a second of microphone frames waiting for the loop; older ones are dropped past that."""
# The device side runs in 10 ms blocks with a 10 ms latency hint (PortAudio's ALSA-to-PulseAudio
# path then buffers about 20 ms each way): measured here, 20 ms blocks double the capture-to-
# playback delay (~90 ms instead of ~45 ms), and 5 ms blocks gain little more for four times the
# callbacks. Frames are still 20 ms: capture assembles two blocks, playback takes half a frame.
DEVICE_BLOCK_SAMPLES: Final = FRAME_SAMPLES // 2
_LATENCY_S: Final = 0.01


def load_sounddevice(*, rescan: bool = False) -> ModuleType:
    """Import sounddevice (PortAudio), optionally re-reading the device list.

    PortAudio lists devices once, when it is initialised; a sound server started after the
    daemon (or restarted) is only seen after a rescan. Rescan only when no stream is open.

    Args:
        rescan: Terminate and re-initialise PortAudio first.

    Returns:
        The sounddevice module.

    Raises:
        NoAudioDeviceError: If PortAudio cannot be loaded.
    """
    try:
        import sounddevice as module
    except (OSError, ImportError) as exc:
        raise NoAudioDeviceError(
            f"PortAudio cannot be loaded ({exc}): install libportaudio2 to use voice"
        ) from None
    if rescan:
        try:
            rescan_portaudio(module)
        except Exception as exc:
            raise NoAudioDeviceError(f"PortAudio cannot start: {exc}") from None
    sounddevice: ModuleType = module
    return sounddevice


def _device_name(sd: ModuleType, device: int | str | None, kind: str) -> str:
    try:
        info: Any = sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError) as exc:
        which = "default" if device is None else repr(device)
        raise NoAudioDeviceError(f"no {kind} audio device ({which}): {_clean(exc)}") from None
    return str(info["name"])


def _clean(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


class FrameQueue:
    """A bounded queue of frames from a thread into the event loop.

    The producer never blocks: when the queue is full the oldest frame is dropped and counted
    (for live audio the newest matters). The consumer awaits `get` in the loop.

    Args:
        loop: The consumer's event loop.
        maxsize: Frames kept at most.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"queue size must be at least 1, not {maxsize}")
        self._loop = loop
        self._frames: collections.deque[Frame] = collections.deque()
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.dropped = 0
        """Frames dropped because the consumer fell `maxsize` frames behind."""

    def put(self, frame: Frame) -> None:
        """Add a frame (any thread).

        Args:
            frame: The frame; the queue keeps this object.
        """
        with self._lock:
            if self._closed:
                return
            if len(self._frames) >= self._maxsize:
                self._frames.popleft()
                self.dropped += 1
            self._frames.append(frame)
            waiter = self._waiter
            self._waiter = None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    def close(self) -> None:
        """End the stream: `get` returns None once the queue is empty (any thread)."""
        with self._lock:
            self._closed = True
            waiter = self._waiter
            self._waiter = None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    async def get(self) -> Frame | None:
        """The oldest frame, waiting for one (loop thread).

        Returns:
            A frame, or None once closed and drained.
        """
        while True:
            with self._lock:
                if self._frames:
                    return self._frames.popleft()
                if self._closed:
                    return None
                waiter = self._waiter = self._loop.create_future()
            await waiter


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class CaptureStream:
    """The microphone: 20 ms frames of 48 kHz mono int16 into a `FrameQueue`, read from the
    device in 10 ms blocks.

    Args:
        loop: The event loop that consumes the frames.
        device: The PortAudio input device, or None for the default.
        on_failure: Called in the loop if the stream stops on its own.
        queue_frames: Frames the queue keeps.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        device: int | str | None = None,
        *,
        on_failure: Callable[[AudioFailedError], None] | None = None,
        queue_frames: int = DEFAULT_CAPTURE_QUEUE_FRAMES,
    ) -> None:
        self._loop = loop
        self._device = device
        self._on_failure = on_failure
        self.queue = FrameQueue(loop, queue_frames)
        self._stream: Any = None
        self._stopping = False
        self._partial = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._filled = 0
        self.frames_captured = 0
        """Frames delivered by the device."""
        self.overflows = 0
        """Times PortAudio reported input lost before we could read it."""
        self.device_name = ""
        """The device's name, once open."""

    @property
    def dropped(self) -> int:
        """Frames lost: queue overflows plus PortAudio input overflows."""
        return self.queue.dropped + self.overflows

    def start(self, sd: ModuleType) -> None:
        """Open and start the stream.

        Args:
            sd: The sounddevice module (`load_sounddevice`).

        Raises:
            NoAudioDeviceError: If the device cannot be opened.
        """
        self.device_name = _device_name(sd, self._device, "input")
        try:
            self._stream = sd.InputStream(
                samplerate=SAMPLE_RATE,
                channels=1,
                dtype="int16",
                blocksize=DEVICE_BLOCK_SAMPLES,
                device=self._device,
                latency=_LATENCY_S,
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError, OSError) as exc:
            self._close_quietly()
            raise NoAudioDeviceError(
                f"cannot open the microphone {self.device_name!r}: {_clean(exc)}"
            ) from None

    def _callback(self, indata: Any, frames: int, _time: Any, status: Any) -> None:
        # PortAudio's thread: copy into the frame being assembled (indata is reused), hand full
        # frames over; nothing that blocks.
        if status.input_overflow:
            self.overflows += 1
        samples = indata[:, 0]
        offset = 0
        while offset < frames:
            take = min(frames - offset, FRAME_SAMPLES - self._filled)
            self._partial[self._filled : self._filled + take] = samples[offset : offset + take]
            self._filled += take
            offset += take
            if self._filled == FRAME_SAMPLES:
                self.frames_captured += 1
                self.queue.put(self._partial)
                self._partial = np.zeros(FRAME_SAMPLES, dtype=np.int16)
                self._filled = 0

    def _finished(self) -> None:
        self.queue.close()
        if not self._stopping and self._on_failure is not None:
            error = AudioFailedError(f"the microphone {self.device_name!r} stopped")
            callback = self._on_failure
            self._loop.call_soon_threadsafe(callback, error)

    def _close_quietly(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close(ignore_errors=True)
            except Exception as exc:
                log.debug("closing the input stream: %s", exc)

    def stop(self) -> None:
        """Stop and close the stream (blocks for about one device period)."""
        self._stopping = True
        self._close_quietly()
        self.queue.close()


class PlaybackStream:
    """The speaker: plays what `source` returns, written to the device in 10 ms blocks.

    Args:
        loop: The event loop to report failures in.
        source: Returns the next samples (any length, 10 ms from the mixer); called in the
            playback thread, so it must not block.
        device: The PortAudio output device, or None for the default.
        on_failure: Called in the loop if the stream stops on its own.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        source: Callable[[], Frame],
        device: int | str | None = None,
        *,
        on_failure: Callable[[AudioFailedError], None] | None = None,
    ) -> None:
        self._loop = loop
        self._source = source
        self._device = device
        self._on_failure = on_failure
        self._stream: Any = None
        self._stopping = False
        self._pending = np.zeros(0, dtype=np.int16)
        self._samples_played = 0
        self.underflows = 0
        """Times the device ran dry because a callback came late."""
        self.device_name = ""
        """The device's name, once open."""

    @property
    def frames_played(self) -> int:
        """20 ms frames handed to the device."""
        return self._samples_played // FRAME_SAMPLES

    def start(self, sd: ModuleType) -> None:
        """Open and start the stream.

        Args:
            sd: The sounddevice module (`load_sounddevice`).

        Raises:
            NoAudioDeviceError: If the device cannot be opened.
        """
        self.device_name = _device_name(sd, self._device, "output")
        try:
            self._stream = sd.OutputStream(
                samplerate=SAMPLE_RATE,
                channels=1,
                dtype="int16",
                blocksize=DEVICE_BLOCK_SAMPLES,
                device=self._device,
                latency=_LATENCY_S,
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError, OSError) as exc:
            self._close_quietly()
            raise NoAudioDeviceError(
                f"cannot open the speaker {self.device_name!r}: {_clean(exc)}"
            ) from None

    def _callback(self, outdata: Any, frames: int, _time: Any, status: Any) -> None:
        if status.output_underflow:
            self.underflows += 1
        # PortAudio may ask for another block size than requested: carry the remainder over.
        pending = self._pending
        while pending.size < frames:
            pending = np.concatenate((pending, self._source()))
        outdata[:, 0] = pending[:frames]
        self._pending = pending[frames:]
        self._samples_played += frames

    def _finished(self) -> None:
        if not self._stopping and self._on_failure is not None:
            error = AudioFailedError(f"the speaker {self.device_name!r} stopped")
            self._loop.call_soon_threadsafe(self._on_failure, error)

    def _close_quietly(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close(ignore_errors=True)
            except Exception as exc:
                log.debug("closing the output stream: %s", exc)

    def stop(self) -> None:
        """Stop and close the stream (blocks for about one device period)."""
        self._stopping = True
        self._close_quietly()
