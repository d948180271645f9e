"""One voice call: the audio devices, the microphone pipeline and the room's peer connections.

`VoiceCall.open` opens the microphone and the speaker (or fails with `NoAudioDeviceError`, and
nothing is left open); `VoiceCall.close` closes the peer connections, the tasks and the devices,
all of them even if one fails. In between, every 20 ms microphone frame goes through:

1. the level meter (``voice.level`` about ten times a second with ``--meter``);
2. the speaking detector (webrtcvad + hangover) -- local ``voice.speaking`` events;
3. the gate (push-to-talk, VAD, mute, deafen) -- the frame or silence;
4. one Opus encoding, handed to every connected peer -- only while transmitting and for half a
   second of silence after; between talk spurts nothing is sent (discontinuous transmission).

Remote audio flows the other way: each peer's decoded frames go to its jitter buffer in the
mixer, which the playback thread sums.

With a TURN server configured, the call also tries one relay allocation in the background as it
opens, so a TURN server that cannot be reached (or refuses the credentials) is reported at once
(``turn_unavailable``) rather than only when a peer connection fails, or never when nobody else
is in the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final, Protocol

from dialtone.voiced.audio.devices import CaptureStream, PlaybackStream, load_sounddevice
from dialtone.voiced.audio.frames import FRAME_SAMPLES, LevelMeter, silence
from dialtone.voiced.audio.mixer import Mixer
from dialtone.voiced.audio.opus import OpusFrameEncoder
from dialtone.voiced.audio.vad import SpeakingDetector
from dialtone.voiced.config import DaemonConfig
from dialtone.voiced.errors import AudioFailedError, TurnUnavailableError, VoicedError
from dialtone.voiced.peer import IceSettings, RemoteDevice, relay_available
from dialtone.voiced.room import RoomEvents, VoiceRoom
from dialtone.voiced.talk import TalkGate
from dialtone.wire.ipc import Level, Speaking, Stats

__all__ = ["CallEvents", "VoiceCall"]

log = logging.getLogger(__name__)

_METER_FRAMES: Final = 5  # 100 ms per voice.level event
# After a talk spurt, silence is sent for this long (more than the remote speaking detector's
# hangover, so listeners see the speaker stop) and then nothing until the next one: no packets to
# encode, encrypt, relay and decode while nobody talks.
_TAIL_FRAMES: Final = 25


class CallEvents(RoomEvents, Protocol):
    """What a call reports besides the room's events."""

    def meter(self, message: Level | Stats) -> None:
        """A level or stats event (may be dropped for a slow TUI)."""


class VoiceCall:
    """A voice room joined with open audio devices.

    Args:
        channel_id: The room.
        local: This user and device.
        config: The daemon's configuration (devices, bitrate, VAD, meter, stats).
        ice: STUN/TURN settings.
        gate: The transmit decision's inputs.
        events: Where events go.
    """

    def __init__(
        self,
        *,
        channel_id: str,
        local: RemoteDevice,
        config: DaemonConfig,
        ice: IceSettings,
        gate: TalkGate,
        events: CallEvents,
    ) -> None:
        self.channel_id = channel_id
        self.local = local
        self._config = config
        self._ice = ice
        self._gate = gate
        self._events = events
        self.mixer = Mixer()
        self.room = VoiceRoom(
            channel_id=channel_id,
            local=local,
            ice=ice,
            events=events,
            mixer=self.mixer,
            vad_aggressiveness=config.vad_aggressiveness,
            connect_timeout=config.connect_timeout,
        )
        self._encoder = OpusFrameEncoder(config.bitrate)
        self._detector = SpeakingDetector(config.vad_aggressiveness)
        self._meter = LevelMeter()
        self._capture: CaptureStream | None = None
        self._playback: PlaybackStream | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.local_speaking = False
        self.transmitting = False
        self._closed = False

    @property
    def input_device(self) -> str | None:
        """The microphone's name, once open."""
        return self._capture.device_name if self._capture is not None else None

    @property
    def output_device(self) -> str | None:
        """The speaker's name, once open."""
        return self._playback.device_name if self._playback is not None else None

    async def open(self) -> None:
        """Open the devices and start the pipeline.

        Raises:
            NoAudioDeviceError: If PortAudio, the microphone or the speaker is unavailable
                (nothing is left open).
        """
        loop = asyncio.get_running_loop()
        capture = CaptureStream(loop, self._config.input_device, on_failure=self._audio_failed)
        playback = PlaybackStream(
            loop, self.mixer.pull, self._config.output_device, on_failure=self._audio_failed
        )

        def start() -> None:
            sd = load_sounddevice(rescan=True)
            capture.start(sd)
            try:
                playback.start(sd)
            except BaseException:
                capture.stop()
                raise

        # Opening a PortAudio stream blocks for a while (PulseAudio round trips).
        await asyncio.to_thread(start)
        self._capture = capture
        self._playback = playback
        self._tasks.append(loop.create_task(self._microphone(capture), name="microphone"))
        if self._config.stats_interval > 0:
            self._tasks.append(loop.create_task(self._report_stats(), name="stats"))
        if self._ice.has_turn:
            self._tasks.append(loop.create_task(self._check_turn(), name="TURN check"))
        log.info(
            "in voice room %s: microphone %r, speaker %r",
            self.channel_id,
            capture.device_name,
            playback.device_name,
        )

    def _audio_failed(self, error: AudioFailedError) -> None:
        if not self._closed:
            self._events.error(error)

    async def _microphone(self, capture: CaptureStream) -> None:
        try:
            await self._pump(capture)
        except Exception as exc:
            # A bug here must not leave the user talking into nothing without a word.
            log.exception("the microphone pipeline failed")
            self._events.error(AudioFailedError(f"the microphone pipeline failed: {exc!r}"))

    async def _pump(self, capture: CaptureStream) -> None:
        pts = 0
        frames = 0
        tail = 0
        quiet = silence()
        while (frame := await capture.queue.get()) is not None:
            voice = self._detector.update(frame)
            self.transmitting = self._gate.transmitting(voice)
            speaking = self.transmitting and voice
            if speaking != self.local_speaking:
                self.local_speaking = speaking
                self._events.event(
                    Speaking(
                        user_id=self.local.user_id,
                        device_id=self.local.device_id,
                        speaking=speaking,
                    )
                )
            if self._config.meter:
                self._meter.add(frame)
                frames += 1
                if frames % _METER_FRAMES == 0:
                    rms, peak = self._meter.take()
                    self._events.meter(
                        Level(rms_dbfs=rms, peak_dbfs=peak, transmitting=self.transmitting)
                    )
            payload = None
            if self.transmitting:
                payload, tail = frame, _TAIL_FRAMES
            elif tail > 0:
                payload, tail = quiet, tail - 1
            if payload is not None and self.room.has_listeners:
                for packet in self._encoder.encode(payload, pts):
                    self.room.send(packet)
            pts += FRAME_SAMPLES

    async def _check_turn(self) -> None:
        try:
            available = await relay_available(self._ice)
        except Exception as exc:
            log.info("the TURN check failed: %r", exc)
            available = False
        if available or self._closed:
            return
        servers = self._ice.turn_urls()
        if self._ice.relay_only:
            consequence = "relay-only mode: no peer connection can be set up until it can"
        else:
            consequence = "only peers that can be reached directly will connect"
        self._events.error(
            TurnUnavailableError(
                f"no TURN relay could be allocated (servers: {servers}; unreachable, or the "
                f"credentials were refused): {consequence}"
            )
        )

    async def _report_stats(self) -> None:
        while True:
            await asyncio.sleep(self._config.stats_interval)
            self._events.meter(await self.stats())

    async def stats(self) -> Stats:
        """The call's counters now.

        Returns:
            The ``stats`` event.
        """
        capture, playback = self._capture, self._playback
        return Stats(
            frames_captured=capture.frames_captured if capture else 0,
            capture_dropped=capture.dropped if capture else 0,
            frames_played=playback.frames_played if playback else 0,
            playback_dropped=self.mixer.dropped,
            playback_underflows=playback.underflows if playback else 0,
            peers=await self.room.stats(),
        )

    def set_ice(self, ice: IceSettings) -> None:
        """Use other STUN/TURN settings for the peer connections opened from now on (rejoins,
        new members); connections that are up keep theirs.

        Args:
            ice: The settings.
        """
        self._ice = ice
        self.room.ice = ice

    def set_deafened(self, deafened: bool) -> None:
        """Deafen or undeafen the speaker (the gate mutes separately).

        Args:
            deafened: Whether to play nothing.
        """
        self.room.set_deafened(deafened)

    async def close(self) -> None:
        """Close the peer connections, the pipeline and the devices; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        errors: list[BaseException] = []
        try:
            await self.room.close()
        except Exception as exc:
            errors.append(exc)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await task
                except Exception as exc:
                    errors.append(exc)
        capture, playback = self._capture, self._playback
        self._capture = self._playback = None

        def stop() -> None:
            if capture is not None:
                capture.stop()
            if playback is not None:
                playback.stop()

        await asyncio.to_thread(stop)
        for error in errors:
            if not isinstance(error, VoicedError):
                log.warning("closing the call: %r", error)
