"""A private PulseAudio server with null sinks, for tests and benchmarks without sound hardware.

A null sink is a virtual speaker; its ``.monitor`` source hears whatever is played into it. So a
daemon whose microphone is ``mic.monitor`` (``PULSE_SOURCE``) hears what the test plays into the
``mic`` sink, and what it plays into its speaker sink (``PULSE_SINK``) can be recorded from that
sink's monitor. Each sink gets a keep-alive reader (``pacat -r`` into nowhere): an idle null sink
otherwise runs at 2 s latency and the first capture block arrives ~1.9 s late.

The server runs in the foreground as our child, on a socket in a private directory, with
autospawn off, and is killed and reaped on exit; nothing outlives the ``with`` block.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

import numpy as np
import numpy.typing as npt

from dialtone.voiced.audio.frames import SAMPLE_RATE

__all__ = ["PulseAudio", "Recorder", "private_pulseaudio"]

_START_TIMEOUT: Final = 15.0
_PCM: Final = ("--raw", "--format=s16le", f"--rate={SAMPLE_RATE}", "--channels=1")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class Recorder:
    """Records a PulseAudio source (``sink.monitor``) as 48 kHz mono int16, with arrival times.

    Args:
        pulse: The server.
        source: The source name.
    """

    def __init__(self, pulse: PulseAudio, source: str) -> None:
        self.source = source
        self._process = subprocess.Popen(
            ["pacat", "-r", "-d", source, "--latency-msec=10", *_PCM],
            env=pulse.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._lock = threading.Lock()
        self._chunks: list[tuple[float, npt.NDArray[np.int16]]] = []
        self._samples = 0
        self._carry = b""
        assert self._process.stdout is not None
        self._thread = threading.Thread(
            target=self._read, args=(self._process.stdout,), name=f"record {source}", daemon=True
        )
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        fd = stream.fileno()
        while True:
            data = os.read(fd, 1920)
            if not data:
                return
            now = time.monotonic()
            data = self._carry + data
            usable = len(data) - len(data) % 2
            self._carry = data[usable:]
            chunk = np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)
            with self._lock:
                self._chunks.append((now, chunk))
                self._samples += chunk.size

    @property
    def sample_count(self) -> int:
        """Samples recorded so far."""
        with self._lock:
            return self._samples

    def samples(self, start: int = 0) -> npt.NDArray[np.int16]:
        """The recording from sample `start` on.

        Args:
            start: A value of `sample_count` taken earlier.

        Returns:
            The samples.
        """
        with self._lock:
            chunks = [chunk for _, chunk in self._chunks]
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks)[start:]

    def timed_chunks(self) -> list[tuple[float, npt.NDArray[np.int16]]]:
        """Every chunk read, with the `time.monotonic` at which it was read.

        Returns:
            ``(time, samples)`` pairs in order.
        """
        with self._lock:
            return list(self._chunks)

    def wait_samples(self, count: int, timeout: float = 10.0) -> None:
        """Block until `sample_count` reaches `count`.

        Args:
            count: The sample count to reach.
            timeout: Seconds to wait.

        Raises:
            TimeoutError: If it does not.
        """
        deadline = time.monotonic() + timeout
        while self.sample_count < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"recording {self.source} stalled at {self.sample_count}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop recording."""
        _stop(self._process)
        self._thread.join(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()


class PulseAudio:
    """A running private PulseAudio server (see `private_pulseaudio`).

    Args:
        directory: Its private directory (runtime dir, home, socket).
        process: The server process.
    """

    def __init__(self, directory: Path, process: subprocess.Popen[bytes]) -> None:
        self.directory = directory
        self.process = process
        self.socket = directory / "native"
        self._client_config = directory / "client.conf"
        self._helpers: list[subprocess.Popen[bytes]] = []
        self._recorders: list[Recorder] = []
        self.sinks: list[str] = []

    @property
    def server(self) -> str:
        """The server address, for ``PULSE_SERVER``."""
        return f"unix:{self.socket}"

    def env(self) -> dict[str, str]:
        """Environment variables that point a PulseAudio client (PortAudio too) here.

        Returns:
            ``PULSE_SERVER`` and a client configuration with autospawn off.
        """
        return {"PULSE_SERVER": self.server, "PULSE_CLIENTCONFIG": str(self._client_config)}

    def device_env(self, microphone: str, speaker: str) -> dict[str, str]:
        """Environment for a process whose default microphone and speaker are two null sinks.

        Args:
            microphone: The sink whose monitor is the microphone.
            speaker: The sink that is the speaker.

        Returns:
            `env` plus ``PULSE_SOURCE`` and ``PULSE_SINK``.
        """
        return {**self.env(), "PULSE_SOURCE": f"{microphone}.monitor", "PULSE_SINK": speaker}

    def pactl(self, *args: str) -> str:
        """Run ``pactl`` against this server.

        Args:
            *args: pactl's arguments.

        Returns:
            Its output.

        Raises:
            subprocess.CalledProcessError: If it fails.
        """
        result = subprocess.run(
            ["pactl", *args],
            env={**os.environ, **self.env()},
            check=True,
            capture_output=True,
            timeout=_START_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        return result.stdout.decode()

    def add_null_sink(self, name: str) -> str:
        """Create a 48 kHz mono null sink, with a keep-alive reader on its monitor.

        Args:
            name: The sink's name (letters, digits, ``_``).

        Returns:
            The name.
        """
        self.pactl(
            "load-module",
            "module-null-sink",
            f"sink_name={name}",
            f"rate={SAMPLE_RATE}",
            "channels=1",
        )
        self._helpers.append(
            subprocess.Popen(
                ["pacat", "-r", "-d", f"{name}.monitor", "--latency-msec=20", *_PCM],
                env={**os.environ, **self.env()},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        self.sinks.append(name)
        return name

    def play(self, sink: str, samples: npt.NDArray[np.int16]) -> subprocess.Popen[bytes]:
        """Start playing samples into a sink (returns at once).

        Args:
            sink: The sink.
            samples: 48 kHz mono int16.

        Returns:
            The ``pacat`` process; wait for it to know the sound was handed over.
        """
        process = subprocess.Popen(
            ["pacat", "-p", "-d", sink, "--latency-msec=10", *_PCM],
            env={**os.environ, **self.env()},
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._helpers.append(process)
        assert process.stdin is not None
        stdin = process.stdin

        def feed() -> None:
            with contextlib.suppress(BrokenPipeError, ValueError):
                stdin.write(samples.astype("<i2").tobytes())
            with contextlib.suppress(BrokenPipeError, ValueError):
                stdin.close()

        threading.Thread(target=feed, name=f"play {sink}", daemon=True).start()
        return process

    def record(self, sink: str) -> Recorder:
        """Start recording what is played into a sink.

        Args:
            sink: The sink (its monitor is recorded).

        Returns:
            The recorder (stopped with the server, or earlier with `Recorder.stop`).
        """
        recorder = Recorder(self, f"{sink}.monitor")
        self._recorders.append(recorder)
        return recorder

    def close(self) -> None:
        """Stop the helpers and the server."""
        for recorder in self._recorders:
            recorder.stop()
        for helper in self._helpers:
            _stop(helper)
        _stop(self.process)


@contextlib.contextmanager
def private_pulseaudio(directory: Path | None = None) -> Iterator[PulseAudio]:
    """Run a private PulseAudio server for the ``with`` block.

    Args:
        directory: Where it keeps its socket (``native``), client configuration
            (``client.conf``), runtime and home directories, for a test that points a client
            there before the server runs. It must exist; it is removed with everything in it
            on exit. By default a new temporary directory.

    Yields:
        The server; add sinks with `PulseAudio.add_null_sink`.

    Raises:
        RuntimeError: If it does not answer within 15 s.
    """
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="dtpa-"))
    runtime = directory / "runtime"
    home = directory / "home"
    runtime.mkdir(mode=0o700)
    home.mkdir(mode=0o700)
    (directory / "client.conf").write_text("autospawn = no\n")
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "HOME": str(home),
        "PULSE_CLIENTCONFIG": str(directory / "client.conf"),
    }
    env.pop("PULSE_SERVER", None)
    log = (directory / "pulseaudio.log").open("wb")
    process = subprocess.Popen(
        [
            "pulseaudio",
            "--daemonize=no",
            "--system=false",
            "-n",
            "--exit-idle-time=-1",
            "--use-pid-file=false",
            "--disallow-exit",
            f"--load=module-native-protocol-unix socket={directory / 'native'}",
            "--log-target=stderr",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    pulse = PulseAudio(directory, process)
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    "pulseaudio exited: " + (directory / "pulseaudio.log").read_text()[-2000:]
                )
            try:
                pulse.pactl("info")
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise RuntimeError("pulseaudio did not answer within 15 s") from None
                time.sleep(0.05)
        yield pulse
    finally:
        pulse.close()
        log.close()
        shutil.rmtree(directory, ignore_errors=True)
