"""Mouth-to-ear latency and CPU of dialtone-voiced, through coturn on loopback.

Everything runs here, on loopback, and stops by itself (about 40 s): a private PulseAudio with
one null sink per microphone and per speaker, coturn with TURN REST credentials, and real
``dialtone-voiced`` processes in relay-only mode with the in-test signaling relay standing in for
the TUIs and the server.

1. Latency, two daemons (A talks, B listens; voice activity gates A's microphone). Tone bursts of
   440 Hz are played into A's microphone sink; A's microphone (``mic_a.monitor``) and B's
   speaker (``spk_b.monitor``) are recorded side by side by the same means, and each burst's
   onset is found in both. Mouth-to-ear latency is the time between the two onsets: capture,
   VAD, Opus, DTLS-SRTP, TURN relay both ways, jitter buffer, decoding, mixing and playback.
   Both recordings go through PulseAudio the same way, so the recorders' own delay cancels out.
   Target (issue 6): median <= 80 ms.
2. CPU per received stream: B's CPU time (user + system, from /proc) for 5 s in the call with
   nobody talking (no packets flow between talk spurts), then for 5 s while A talks without a
   pause; the difference is what receiving, decrypting, decoding and playing one stream costs.
   Target: <= 10% of one core.
3. A 4-member room: four daemons in a full mesh, everyone talking at once (a tone of its own,
   440/550/660/770 Hz), so each sends one stream to three peers and receives and mixes three;
   each must hear the other three tones. CPU of each daemon divided by the three streams it
   receives (its own capture, encoding and sending included, so this overstates the cost).

Prints one JSON line; exits 1 if a target is missed or the room does not work.

Usage: ``python bench/voice_latency.py [--bursts N] [--room-seconds S]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dialtone.voiced.testing import (
    Coturn,
    DaemonProcess,
    IpcClient,
    PulseAudio,
    Recorder,
    SignalingRelay,
    onset,
    private_coturn,
    private_pulseaudio,
    running_daemon,
    tone,
)
from dialtone.wire.ipc import PeerState, VoiceMembers

RATE = 48_000
TARGET_MEDIAN_MS = 80.0
TARGET_CPU_PER_STREAM = 10.0
BURST_S = 0.25
GAP_S = 0.75
CPU_SECONDS = 5.0
ROOM_TONES = {"a": 440.0, "b": 550.0, "c": 660.0, "d": 770.0}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def cpu_percent(pid: int, seconds: float) -> float:
    """A process's CPU use over the next `seconds`, in percent of one core."""
    before, began = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - began) * 100


def sample_times(recorder: Recorder) -> tuple[float, npt.NDArray[np.int16]]:
    """The recording and the monotonic time of its first sample.

    Each chunk's read time is its last sample's time plus a delay that varies; the smallest
    ``read time - samples so far / rate`` over all chunks is the best estimate of the start.
    """
    chunks = recorder.timed_chunks()
    total = 0
    start = float("inf")
    for read_at, chunk in chunks:
        total += chunk.size
        start = min(start, read_at - total / RATE)
    samples = np.concatenate([chunk for _, chunk in chunks])
    return start, samples


def burst_onsets(
    start: float, samples: npt.NDArray[np.int16], since: float, count: int
) -> list[float]:
    """The times of the first `count` bursts after `since` (each a quiet-to-loud edge)."""
    onsets: list[float] = []
    cursor = max(0, int((since - start) * RATE))
    for _ in range(count):
        found = onset(samples[cursor:], threshold_dbfs=-30.0)
        if found is None:
            break
        at = cursor + found
        onsets.append(start + at / RATE)
        # Skip the burst and most of the gap before looking for the next edge.
        cursor = at + int((BURST_S + GAP_S / 2) * RATE)
    return onsets


@contextlib.contextmanager
def daemons(
    pulse: PulseAudio, folder: Path, names: list[str]
) -> Iterator[dict[str, DaemonProcess]]:
    """One VAD-gated daemon per name, with microphone mic_<name> and speaker spk_<name>."""
    with contextlib.ExitStack() as stack:
        running = {}
        for name in names:
            pulse.add_null_sink(f"mic_{name}")
            pulse.add_null_sink(f"spk_{name}")
            running[name] = stack.enter_context(
                running_daemon(
                    folder / f"{name}.sock",
                    ["--vad", "--stats-interval", "0"],
                    env=pulse.device_env(f"mic_{name}", f"spk_{name}"),
                )
            )
        yield running


async def connect_room(
    turn: Coturn, running: dict[str, DaemonProcess]
) -> tuple[SignalingRelay, dict[str, IpcClient]]:
    """Identify every daemon, join them all through the relay, wait for a full mesh."""
    relay = SignalingRelay(str(uuid.uuid4()))
    clients: dict[str, IpcClient] = {}
    for name, daemon in running.items():
        client = await IpcClient.connect(daemon.socket_path)
        user_id, device_id = str(uuid.uuid4()), str(uuid.uuid4())
        await client.identify(user_id, device_id)
        relay.add(client, user_id, device_id)
        clients[name] = client
    await relay.join_all((turn.ice_server("bench"),), relay_only=True)
    peers = len(running) - 1

    def meshed(event: VoiceMembers) -> bool:
        return len(event.members) == peers and all(
            m.state is PeerState.CONNECTED for m in event.members
        )

    await asyncio.gather(*(c.wait_for(VoiceMembers, meshed, within=30) for c in clients.values()))
    return relay, clients


async def latency_phase(
    pulse: PulseAudio, turn: Coturn, folder: Path, bursts: int
) -> dict[str, Any]:
    with daemons(pulse, folder, ["a", "b"]) as running:
        _, clients = await connect_room(turn, running)
        mouth = pulse.record("mic_a")
        ear = pulse.record("spk_b")
        await asyncio.sleep(1.0)  # let both recorders and the streams settle
        began = time.monotonic()
        burst = tone(440, BURST_S, amplitude=0.5)
        gap = np.zeros(int(GAP_S * RATE), dtype=np.int16)
        player = pulse.play("mic_a", np.concatenate([np.concatenate([burst, gap])] * bursts))
        await asyncio.to_thread(player.wait, (BURST_S + GAP_S) * bursts + 10)
        await asyncio.sleep(1.0)
        idle = await cpu_percent(running["b"].pid, CPU_SECONDS)
        player = pulse.play("mic_a", tone(440, CPU_SECONDS + 1.0, amplitude=0.5))
        await asyncio.sleep(0.5)
        receiving = await cpu_percent(running["b"].pid, CPU_SECONDS)
        await asyncio.to_thread(player.wait, 10)
        mouth_start, mouth_samples = sample_times(mouth)
        ear_start, ear_samples = sample_times(ear)
        sent = burst_onsets(mouth_start, mouth_samples, began, bursts)
        heard = burst_onsets(ear_start, ear_samples, began, bursts)
        latencies = []
        for at in sent:
            match = [h - at for h in heard if 0 <= h - at < GAP_S]
            if match:
                latencies.append(match[0] * 1000)
        for client in clients.values():
            await client.close()
    return {
        "bursts": bursts,
        "bursts_heard": len(latencies),
        "latency_ms": {
            "median": round(statistics.median(latencies), 1) if latencies else None,
            "min": round(min(latencies), 1) if latencies else None,
            "p90": round(float(np.percentile(latencies, 90)), 1) if latencies else None,
            "max": round(max(latencies), 1) if latencies else None,
        },
        "cpu_percent_b_in_call_idle": round(idle, 1),
        "cpu_percent_b_receiving_one_stream": round(receiving, 1),
        "cpu_percent_per_received_stream": round(receiving - idle, 1),
    }


def spectrum_levels(samples: npt.NDArray[np.int16], frequencies: list[float]) -> dict[float, float]:
    """The level of each frequency relative to the strongest of them, in dB.

    Magnitudes are averaged over 100 ms windows rather than taken from one FFT of the whole
    recording: a jitter buffer that re-buffers shifts a tone's phase, and one long FFT would let
    the parts before and after cancel out.
    """
    window = RATE // 10
    taper = np.hanning(window)
    t = np.arange(window) / RATE
    usable = samples.size - samples.size % window
    blocks = samples[:usable].astype(np.float64).reshape(-1, window) * taper
    levels = {}
    for frequency in frequencies:
        probe = np.exp(-2j * np.pi * frequency * t)
        levels[frequency] = float(np.mean(np.abs(blocks @ probe)))
    top = max(levels.values()) or 1.0
    return {f: 20 * float(np.log10(max(v, 1e-9) / top)) for f, v in levels.items()}


async def room_phase(
    pulse: PulseAudio, turn: Coturn, folder: Path, seconds: float
) -> dict[str, Any]:
    names = list(ROOM_TONES)
    with daemons(pulse, folder, names) as running:
        started = time.monotonic()
        _, clients = await connect_room(turn, running)
        meshed_s = time.monotonic() - started
        recorders = {name: pulse.record(f"spk_{name}") for name in names}
        await asyncio.sleep(0.5)
        marks = {name: rec.sample_count for name, rec in recorders.items()}
        players = [
            pulse.play(f"mic_{name}", tone(hz, seconds, amplitude=0.2))
            for name, hz in ROOM_TONES.items()
        ]
        await asyncio.sleep(0.5)  # everyone is talking now
        cpu_before = {name: cpu_seconds(d.pid) for name, d in running.items()}
        began = time.monotonic()
        await asyncio.sleep(seconds - 1.0)
        elapsed = time.monotonic() - began
        cpu = {
            name: (cpu_seconds(d.pid) - cpu_before[name]) / elapsed * 100
            for name, d in running.items()
        }
        for player in players:
            await asyncio.to_thread(player.wait, 10)
        heard: dict[str, list[float]] = {}
        missing: dict[str, list[float]] = {}
        tone_levels: dict[str, dict[float, float]] = {}
        for name, recorder in recorders.items():
            samples = recorder.samples(marks[name])[int(0.5 * RATE) : int((seconds - 0.5) * RATE)]
            levels = spectrum_levels(samples, list(ROOM_TONES.values()))
            others = [hz for other, hz in ROOM_TONES.items() if other != name]
            tone_levels[name] = {hz: round(levels[hz], 1) for hz in ROOM_TONES.values()}
            heard[name] = [hz for hz in others if levels[hz] > -12.0]
            missing[name] = [hz for hz in others if levels[hz] <= -12.0]
        for client in clients.values():
            await client.close()
    streams = len(names) - 1
    return {
        "members": len(names),
        "mesh_connected_s": round(meshed_s, 2),
        "everyone_talking_s": seconds,
        "tones_heard": heard,
        "tones_missing": missing,
        "tone_levels_db": tone_levels,
        "cpu_percent": {name: round(value, 1) for name, value in cpu.items()},
        "cpu_percent_per_received_stream_max": round(max(cpu.values()) / streams, 1),
    }


async def run(bursts: int, room_seconds: float) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="dtbench-") as tmp,
        private_pulseaudio() as pulse,
        private_coturn() as turn,
    ):
        folder = Path(tmp)
        latency = await latency_phase(pulse, turn, folder, bursts)
        room = await room_phase(pulse, turn, folder, room_seconds)
    return {"latency": latency, "room": room, "cores": os.cpu_count()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bursts", type=int, default=20)
    parser.add_argument("--room-seconds", type=float, default=8.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.bursts, args.room_seconds))
    print(json.dumps(result))
    latency = result["latency"]
    room = result["room"]
    failures = []
    median = latency["latency_ms"]["median"]
    if median is None or median > TARGET_MEDIAN_MS:
        failures.append(f"median latency {median} ms > {TARGET_MEDIAN_MS} ms")
    if latency["bursts_heard"] < latency["bursts"] * 0.9:
        failures.append(f"only {latency['bursts_heard']} of {latency['bursts']} bursts heard")
    per_stream = latency["cpu_percent_per_received_stream"]
    if per_stream > TARGET_CPU_PER_STREAM:
        failures.append(f"CPU per received stream {per_stream}% > {TARGET_CPU_PER_STREAM}%")
    if any(room["tones_missing"].values()):
        failures.append(f"4-member room: tones missing at listeners: {room['tones_missing']}")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
