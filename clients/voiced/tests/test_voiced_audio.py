"""The audio pieces on their own: levels, speaking detection, Opus, jitter buffers and mixing,
the capture queue, decoded-frame conversion."""

from __future__ import annotations

import asyncio
import fractions
import threading

import av
import numpy as np
import pytest

from dialtone.voiced.audio.devices import FrameQueue
from dialtone.voiced.audio.frames import FRAME_SAMPLES, MIN_DBFS, LevelMeter, frame_levels, silence
from dialtone.voiced.audio.mixer import BLOCK_SAMPLES, LATE_BLOCKS, Mixer
from dialtone.voiced.audio.opus import OpusFrameEncoder
from dialtone.voiced.audio.vad import SpeakingDetector
from dialtone.voiced.peer import to_mono_frames
from dialtone.voiced.testing import dominant_frequency, rms_dbfs, tone


def frames_of(samples: np.ndarray) -> list[np.ndarray]:
    usable = samples.size - samples.size % FRAME_SAMPLES
    return [samples[i : i + FRAME_SAMPLES] for i in range(0, usable, FRAME_SAMPLES)]


def constant(value: int) -> np.ndarray:
    return np.full(FRAME_SAMPLES, value, dtype=np.int16)


# --- levels ----------------------------------------------------------------------------------


def test_levels_of_silence_full_scale_and_a_sine() -> None:
    assert frame_levels(silence()) == (MIN_DBFS, MIN_DBFS)
    rms, peak = frame_levels(constant(-32768))
    assert rms == pytest.approx(0.0)
    assert peak == pytest.approx(0.0)
    rms, peak = frame_levels(tone(440, 0.02, amplitude=0.5))
    assert rms == pytest.approx(-9.03, abs=0.1)  # 0.5 / sqrt(2)
    assert peak == pytest.approx(-6.02, abs=0.1)


def test_the_meter_reports_rms_and_peak_since_the_last_reading() -> None:
    meter = LevelMeter()
    meter.add(constant(16384))
    meter.add(silence())
    rms, peak = meter.take()
    assert peak == pytest.approx(-6.02, abs=0.01)
    assert rms == pytest.approx(-9.03, abs=0.01)  # half the power of -6 dBFS
    assert meter.take() == (MIN_DBFS, MIN_DBFS)


# --- speaking detection ----------------------------------------------------------------------


def test_a_tone_is_speaking_and_silence_is_not() -> None:
    detector = SpeakingDetector(3)
    assert not any(detector.voiced(frame) for frame in frames_of(np.zeros(48_000, np.int16)))
    assert all(detector.voiced(frame) for frame in frames_of(tone(440, 0.5)))


def test_quiet_noise_below_the_floor_is_not_speaking() -> None:
    detector = SpeakingDetector(0)
    rng = np.random.default_rng(1)
    hiss = (rng.standard_normal(48_000) * 20).astype(np.int16)  # about -64 dBFS
    assert not any(detector.voiced(frame) for frame in frames_of(hiss))


def test_speaking_starts_at_once_and_ends_after_the_hangover() -> None:
    detector = SpeakingDetector(2, hangover_ms=100)
    assert detector.update(tone(440, 0.02)) is True
    states = [detector.update(silence()) for _ in range(6)]
    # 100 ms of hangover = 5 frames: still speaking for 4 silent frames, not on the 5th.
    assert states == [True, True, True, True, False, False]
    detector.update(tone(440, 0.02))
    detector.reset()
    assert detector.speaking is False


def test_detector_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="aggressiveness"):
        SpeakingDetector(4)
    with pytest.raises(ValueError, match="hangover"):
        SpeakingDetector(1, hangover_ms=-1)


# --- Opus ------------------------------------------------------------------------------------


def test_opus_packets_decode_back_to_the_tone() -> None:
    encoder = OpusFrameEncoder(32_000)
    decoder = av.CodecContext.create("libopus", "r")
    decoded = []
    sizes = []
    for index, frame in enumerate(frames_of(tone(440, 1.0))):
        packets = encoder.encode(frame, index * FRAME_SAMPLES)
        assert len(packets) == 1
        packet = packets[0]
        assert packet.pts == index * FRAME_SAMPLES
        assert packet.time_base == fractions.Fraction(1, 48_000)
        sizes.append(packet.size)
        for out in decoder.decode(packet):
            decoded.append(out.to_ndarray().reshape(-1)[:: len(out.layout.channels)])
    audio = np.concatenate(decoded).astype(np.int16)
    assert dominant_frequency(audio[4800:]) == pytest.approx(440, abs=2)
    # 32 kbit/s at 50 packets a second is 80 bytes a packet on average.
    assert 40 <= np.mean(sizes) <= 120


def test_opus_bitrate_is_checked() -> None:
    with pytest.raises(ValueError, match="6000 to 510000"):
        OpusFrameEncoder(1000)


# --- jitter buffers and mixing -------------------------------------------------------------


def test_a_source_plays_as_soon_as_its_first_frame_is_in() -> None:
    mixer = Mixer()
    assert not mixer.pull().any()
    mixer.push("a", constant(1000))
    first, second, third = mixer.pull(), mixer.pull(), mixer.pull()
    assert first.size == BLOCK_SAMPLES
    assert (first == 1000).all()
    assert (second == 1000).all()
    assert not third.any()


def test_several_speakers_are_summed_and_clipped() -> None:
    mixer = Mixer()
    mixer.push("a", constant(1000))
    mixer.push("b", constant(-300))
    assert (mixer.pull() == 700).all()
    mixer.push("c", constant(30000))
    mixer.push("d", constant(30000))
    mixed = mixer.pull()
    assert (mixed == 32767).all()


def test_a_late_frame_is_an_underrun_that_grows_the_buffer() -> None:
    mixer = Mixer(min_blocks=1)
    mixer.push("a", constant(1))
    mixer.pull()
    mixer.pull()
    mixer.pull()  # nothing there: starved
    mixer.push("a", constant(2))  # one block late: jitter
    assert mixer.underruns == 1
    assert mixer.target_blocks("a") == 2


def test_a_pause_between_talk_spurts_does_not_grow_the_buffer() -> None:
    mixer = Mixer(min_blocks=1)
    mixer.push("a", constant(1))
    for _ in range(2 + LATE_BLOCKS + 5):
        mixer.pull()
    mixer.push("a", constant(2))
    assert mixer.underruns == 0
    assert mixer.target_blocks("a") == 1


def test_a_playing_source_cannot_drift_past_its_target() -> None:
    mixer = Mixer(min_blocks=1, max_blocks=20)
    mixer.push("a", constant(1))
    mixer.pull()  # playing now
    for value in range(2, 8):
        mixer.push("a", constant(value))
    # Target 1 block + one frame of slack: 3 blocks kept, the oldest dropped and counted.
    assert mixer.buffered_blocks("a") == 3
    assert mixer.dropped == 5  # ten 10 ms blocks
    assert [int(mixer.pull()[0]) for _ in range(3)] == [6, 7, 7]


def test_removing_or_clearing_counts_unplayed_frames_as_dropped() -> None:
    mixer = Mixer(min_blocks=4)
    mixer.push("a", constant(1))
    mixer.push("b", constant(1))
    mixer.push("b", constant(1))
    mixer.remove("a")
    assert mixer.dropped == 1
    mixer.clear()
    assert mixer.dropped == 3
    assert mixer.buffered_blocks("b") == 0


def test_mixer_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="min_blocks"):
        Mixer(min_blocks=0)
    with pytest.raises(ValueError, match="min_blocks"):
        Mixer(min_blocks=5, max_blocks=6)


# --- the capture queue -----------------------------------------------------------------------


async def test_frames_cross_from_a_thread_and_the_oldest_are_dropped_when_full() -> None:
    queue = FrameQueue(asyncio.get_running_loop(), maxsize=3)

    def produce() -> None:
        for value in range(5):
            queue.put(constant(value))

    thread = threading.Thread(target=produce)
    thread.start()
    thread.join()
    received = [await queue.get() for _ in range(3)]
    assert [int(frame[0]) for frame in received if frame is not None] == [2, 3, 4]
    assert queue.dropped == 2


async def test_a_waiting_consumer_is_woken_by_a_thread_and_by_close() -> None:
    loop = asyncio.get_running_loop()
    queue = FrameQueue(loop, maxsize=3)
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0.01)
    threading.Thread(target=queue.put, args=(constant(7),)).start()
    frame = await asyncio.wait_for(getter, 5)
    assert frame is not None
    assert int(frame[0]) == 7
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0.01)
    threading.Thread(target=queue.close).start()
    assert await asyncio.wait_for(getter, 5) is None


# --- decoded frames --------------------------------------------------------------------------


def test_decoded_stereo_becomes_mono_frames() -> None:
    left = tone(440, 0.02)
    stereo = np.empty(FRAME_SAMPLES * 2, dtype=np.int16)
    stereo[0::2] = left
    stereo[1::2] = 0
    frame = av.AudioFrame.from_ndarray(stereo.reshape(1, -1), format="s16", layout="stereo")
    (mono,) = to_mono_frames(frame)
    assert (mono == left).all()


def test_decoded_frames_of_other_lengths_are_cut_into_20_ms_and_padded() -> None:
    samples = tone(440, 0.05)  # 2.5 frames
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frames = to_mono_frames(frame)
    assert [f.size for f in frames] == [FRAME_SAMPLES] * 3
    assert rms_dbfs(frames[2][FRAME_SAMPLES // 2 :]) == -200.0
