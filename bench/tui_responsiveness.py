"""TUI responsiveness benchmark: typing while messages arrive at 50 per second.

Issue 5 asks that typing stays responsive (no frame over 50 ms) while messages arrive at 50/s.
This starts a throwaway PostgreSQL and a real server (a subprocess), signs Alice up in the real
Textual app (headless, 120x40), makes Bob a member of her channel, and starts Bob in another
process sending to that channel at a steady rate. While his messages pour in, Alice types into
the composer at 10 keys per second and sends a line every 40 characters. It measures:

- ``frames``: every screen refresh of the main screen (layout, compositing, and turning the
  update into the terminal's byte sequence, which a headless app would skip), in ms of wall time:
  median, p95, p99, max, how many exceeded 50 ms; and the CPU time of the UI thread per frame
  (p99, max), which tells the TUI's own work from waiting for a core on a busy machine;
- ``keys``: for each key typed, the time from the key event to the end of the first frame showing
  it (median, p95, max);
- ``loop_stall``: the longest the event loop went without running (a 5 ms ticker), and the CPU
  this process used meanwhile;
- ``gc``: garbage collections while measuring and their longest pause per generation;
- ``received``: how many of Bob's messages Alice's view showed, and at what rate.

Prints one JSON line per measure and a summary; stops by itself (about 40 s, loopback only).

    .venv/bin/python bench/tui_responsiveness.py [--rate 50] [--seconds 20] [--check]

With --check the exit status is 1 when a frame took more than 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import RenderableType
from textual import events
from textual._compositor import CompositorUpdate
from textual.screen import Screen

from dialtone.client.app import DialtoneApp
from dialtone.client.core import ClientCore, ClientOptions
from dialtone.client.core.events import DecryptedMessage, Synced
from dialtone.client.screens.forms import SignIn, SignInMode
from dialtone.client.screens.main import MainScreen
from dialtone.keystore import ScryptParams
from dialtone.server.migrate import apply_migrations
from dialtone.server.testing import (
    ApiClient,
    PostgresCluster,
    ServerProcess,
    config_env,
    create_invite,
    free_port,
    make_test_config,
)

FRAME_TARGET_MS = 50.0
TYPING_KEYS_PER_S = 10.0
LINE_LENGTH = 40
PASSWORD = "benchmark password"  # noqa: S105 - throwaway accounts on a throwaway server
PASSPHRASE = "benchmark passphrase"  # noqa: S105
CHEAP = ScryptParams(log2_n=4, r=1, p=1)
SENTENCE = "the quick brown fox jumps over the lazy dog "


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def options(url: str, folder: Path) -> ClientOptions:
    return ClientOptions(
        server_url=url, data_dir=folder, keystore_params=CHEAP, request_timeout=60.0
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- the measured app ----------------------------------------------------------------------------


class Probe:
    """What the instrumented screen records."""

    def __init__(self) -> None:
        self.recording = False
        self.frames: list[float] = []
        self.frames_cpu: list[float] = []
        self.pending_keys: list[tuple[float, int]] = []
        self.key_latency: list[float] = []
        self.composer_length = 0


class TimedMainScreen(MainScreen):
    """The main screen, its refreshes timed (the only change from the real one)."""

    probe: Probe

    def _on_timer_update(self) -> None:
        start, start_cpu = time.perf_counter(), time.thread_time()
        super()._on_timer_update()
        end, cpu = time.perf_counter(), time.thread_time() - start_cpu
        probe = self.probe
        if not probe.recording:
            return
        probe.frames.append((end - start) * 1000)
        probe.frames_cpu.append(cpu * 1000)
        length = len(self.composer.text)
        still = []
        for posted, wanted in probe.pending_keys:
            if length >= wanted:
                probe.key_latency.append((end - posted) * 1000)
            else:
                still.append((posted, wanted))
        probe.pending_keys = still


class TimedApp(DialtoneApp):
    """The real app with the timed main screen, rendering every frame to terminal bytes as a
    terminal-attached app does (headless Textual skips that step)."""

    def __init__(self, options: ClientOptions, probe: Probe) -> None:
        super().__init__(options)
        self.probe = probe

    def make_main_screen(self, core: ClientCore) -> MainScreen:
        screen = TimedMainScreen(core, notifier=self.notifier)
        screen.probe = self.probe
        return screen

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        if isinstance(renderable, CompositorUpdate):
            renderable.render_segments(self.console)
        super()._display(screen, renderable)


# --- Bob, in his own process ---------------------------------------------------------------------


async def run_sender(url: str, folder: Path, channel_id: str, rate: float, seconds: float) -> None:
    """Log in as Bob and send to the channel at `rate` messages per second for `seconds`."""
    core = ClientCore(options(url, folder))
    synced = asyncio.Event()
    core.subscribe(lambda event: synced.set() if isinstance(event, Synced) else None)
    await core.login(username="bob", password=PASSWORD, passphrase=PASSPHRASE)
    await core.connect()
    await asyncio.wait_for(synced.wait(), 60)
    print("ready", flush=True)
    sys.stdin.readline()  # go
    loop = asyncio.get_running_loop()
    start = loop.time()
    count = int(rate * seconds)
    late = 0.0
    for n in range(count):
        due = start + n / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late = max(late, -delay)
        await core.send_message(channel_id, f"message {n:05d} from bob " + "lorem ipsum " * 6)
    elapsed = loop.time() - start
    print(json.dumps({"sent": count, "seconds": round(elapsed, 2), "max_late_ms": late * 1000}))
    await asyncio.sleep(2)
    await core.close()


# --- the run -------------------------------------------------------------------------------------


async def wait_for(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def type_keys(app: DialtoneApp, probe: Probe, seconds: float) -> int:
    """Type into the composer at TYPING_KEYS_PER_S, pressing Enter every LINE_LENGTH characters."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    typed = 0
    in_line = 0
    while loop.time() - start < seconds:
        due = start + typed / TYPING_KEYS_PER_S
        await asyncio.sleep(max(0.0, due - loop.time()))
        if in_line == LINE_LENGTH:
            app.post_message(events.Key("enter", "\r"))
            probe.pending_keys.clear()
            in_line = 0
        else:
            char = SENTENCE[typed % len(SENTENCE)]
            in_line += 1
            probe.pending_keys.append((time.perf_counter(), in_line))
            key = "space" if char == " " else char
            app.post_message(events.Key(key, char))
        typed += 1
    return typed


class StallMeter:
    """The longest time the event loop was blocked, seen by a 5 ms ticker, and how much CPU this
    process used meanwhile: a long stall with little CPU is the machine giving the core to other
    work, not the TUI being busy."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_cpu = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start, cpu = loop.time(), time.process_time()
            await asyncio.sleep(0.005)
            stall = loop.time() - start - 0.005
            if stall > self.worst:
                self.worst, self.worst_cpu = stall, time.process_time() - cpu


class GcMeter:
    """The longest garbage collection pause per generation while recording."""

    def __init__(self) -> None:
        self.worst: dict[int, float] = {}
        self.count: dict[int, int] = {}
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        generation = info["generation"]
        pause = (time.perf_counter() - self._start) * 1000
        self.worst[generation] = max(self.worst.get(generation, 0.0), pause)
        self.count[generation] = self.count.get(generation, 0) + 1


async def bench(url: str, admin_token: str, work: Path, rate: float, seconds: float) -> bool:
    probe = Probe()
    app = TimedApp(options(url, work / "alice"), probe)
    async with aiohttp.ClientSession() as session, app.run_test(size=(120, 40)) as pilot:
        api = ApiClient(session, url)
        sign_in = SignIn(
            mode=SignInMode.REGISTER,
            server_url=url,
            username="alice",
            password=PASSWORD,
            invite_token=await create_invite(api, admin_token),
            display_name="Alice",
        )
        await app.sign_in(sign_in, PASSPHRASE)
        await app.enter_main()
        await wait_for(lambda: isinstance(app.screen, TimedMainScreen), 30, "the main screen")
        screen = app.screen
        assert isinstance(screen, TimedMainScreen)

        bob = ClientCore(options(url, work / "bob"))
        await bob.register(
            invite_token=await create_invite(api, admin_token),
            username="bob",
            password=PASSWORD,
            passphrase=PASSPHRASE,
            display_name="Bob",
        )
        await bob.connect()
        channel = await bob.create_channel("firehose", ["alice"])
        await wait_for(
            lambda: any(c.channel_id == channel.channel_id and c.has_key for c in screen.channels),
            30,
            "Alice to hold the channel key",
        )
        await bob.close()
        screen.open_channel(channel.channel_id)
        await pilot.pause()

        sender = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--sender",
            url,
            str(work / "bob"),
            channel.channel_id,
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert sender.stdin is not None
        assert sender.stdout is not None
        ready = (await sender.stdout.readline()).decode()
        if ready.strip() != "ready":
            raise RuntimeError(f"the sender did not start: {ready!r}")

        timeline = screen.timelines[channel.channel_id]
        before = sum(1 for e in timeline if isinstance(e.item, DecryptedMessage))
        meter = StallMeter()
        meter_task = asyncio.get_running_loop().create_task(meter.run())
        collections = GcMeter()
        gc.callbacks.append(collections)
        probe.recording = True
        sender.stdin.write(b"go\n")
        await sender.stdin.drain()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        typed = await type_keys(app, probe, seconds)
        await asyncio.sleep(1.0)
        probe.recording = False
        gc.callbacks.remove(collections)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        meter_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await meter_task
        report = (await sender.stdout.readline()).decode()
        await asyncio.wait_for(sender.wait(), 60)
        received = (
            sum(
                1
                for e in timeline
                if isinstance(e.item, DecryptedMessage) and e.item.sender_name == "Bob"
            )
            - before
        )
    sent = json.loads(report)
    emit(
        {
            "measure": "gc",
            "collections": {str(g): n for g, n in sorted(collections.count.items())},
            "max_pause_ms": {str(g): round(p, 2) for g, p in sorted(collections.worst.items())},
        }
    )
    return summarize(probe, sent, received, typed, wall, cpu, meter, rate)


def summarize(
    probe: Probe,
    sent: dict[str, Any],
    received: int,
    typed: int,
    wall: float,
    cpu: float,
    stall: StallMeter,
    rate: float,
) -> bool:
    frames = probe.frames
    over = sum(1 for f in frames if f > FRAME_TARGET_MS)
    emit(
        {
            "measure": "frames",
            "count": len(frames),
            "median_ms": round(statistics.median(frames), 2),
            "p95_ms": round(percentile(frames, 0.95), 2),
            "p99_ms": round(percentile(frames, 0.99), 2),
            "max_ms": round(max(frames), 2),
            "over_50_ms": over,
            "cpu_p99_ms": round(percentile(probe.frames_cpu, 0.99), 2),
            "cpu_max_ms": round(max(probe.frames_cpu), 2),
        }
    )
    keys = probe.key_latency
    emit(
        {
            "measure": "keys",
            "typed": typed,
            "measured": len(keys),
            "median_ms": round(statistics.median(keys), 2),
            "p95_ms": round(percentile(keys, 0.95), 2),
            "max_ms": round(max(keys), 2),
        }
    )
    emit(
        {
            "measure": "loop_stall",
            "max_ms": round(stall.worst * 1000, 2),
            "cpu_used_during_it_ms": round(stall.worst_cpu * 1000, 2),
            "load_average": round(os.getloadavg()[0], 2),
        }
    )
    emit(
        {
            "measure": "received",
            "sent": sent["sent"],
            "sender_seconds": sent["seconds"],
            "shown": received,
            "per_s": round(received / sent["seconds"], 1),
            "target_per_s": rate,
            "tui_cpu_percent": round(100 * cpu / wall, 1),
        }
    )
    ok = over == 0
    print(
        f"{received} messages shown at {received / sent['seconds']:.1f}/s while typing "
        f"{typed} keys: "
        f"frames median {statistics.median(frames):.1f} ms, p99 {percentile(frames, 0.99):.1f} ms, "
        f"max {max(frames):.1f} ms (target <= {FRAME_TARGET_MS:.0f} ms: "
        f"{'ok' if ok else 'MISSED'}); key to screen median {statistics.median(keys):.1f} ms, "
        f"max {max(keys):.1f} ms",
        flush=True,
    )
    return ok


async def main_async(rate: float, seconds: float) -> bool:
    work = Path(tempfile.mkdtemp(prefix="dialtone-tui-bench-"))
    cluster = PostgresCluster.start()
    process: ServerProcess | None = None
    try:
        db_url = cluster.create_database("bench_tui")
        apply_migrations(db_url)
        config = make_test_config(db_url, work / "server-data", log_level="WARNING")
        process = ServerProcess(
            env=config_env(config), port=free_port(), log_path=work / "server.log"
        )
        process.start()
        await process.wait_ready()
        assert config.admin_token is not None
        emit(
            {
                "machine": platform.node(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "rate_per_s": rate,
                "seconds": seconds,
                "typing_keys_per_s": TYPING_KEYS_PER_S,
            }
        )
        return await bench(process.base_url, config.admin_token, work, rate, seconds)
    finally:
        if process is not None and process.process is not None:
            process.terminate(timeout=15)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="Bob's messages per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to measure")
    parser.add_argument("--check", action="store_true", help="exit 1 when a frame is over 50 ms")
    parser.add_argument(
        "--sender", nargs=3, metavar=("URL", "DIR", "CHANNEL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.sender:
        url, folder, channel_id = args.sender
        asyncio.run(run_sender(url, Path(folder), channel_id, args.rate, args.seconds))
        return 0
    ok = asyncio.run(main_async(args.rate, args.seconds))
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
