"""Starting and stopping ``dialtone-voiced`` for ``--voice-auto``.

The TUI only starts the process and watches it; everything said to it goes through its IPC socket
(the client core's voice relay). A daemon that is missing, fails to start or crashes is reported
through `on_exit` and shown in the voice panel: chat goes on without voice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

__all__ = ["DaemonSettings", "VoiceDaemonError", "VoiceDaemonProcess", "default_socket_path"]

_STOP_TIMEOUT_S = 5.0
_TAIL_LINES = 20


class VoiceDaemonError(Exception):
    """The voice daemon could not be started (not installed, not executable)."""


def default_socket_path(environ: dict[str, str] | None = None, *, pid: int | None = None) -> Path:
    """The IPC socket of a daemon this client starts itself: private to this process, so two
    clients on one machine (two users, a test) never share a daemon by accident.

    Args:
        environ: The environment (default: ``os.environ``).
        pid: The process id to name it after (default: this process).

    Returns:
        ``$XDG_RUNTIME_DIR/dialtone/voiced-<pid>.sock`` (``/tmp/dialtone-<uid>/...`` without one).
    """
    env = dict(os.environ) if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "dialtone" if runtime else Path(f"/tmp/dialtone-{os.getuid()}")  # noqa: S108
    return base / f"voiced-{os.getpid() if pid is None else pid}.sock"


@attrs.frozen(kw_only=True)
class DaemonSettings:
    """How to run the daemon (from the ``--voice-*`` flags).

    Attributes:
        executable: The ``--voiced`` command (a path or a name on PATH, may hold arguments).
        socket_path: The IPC socket it listens on.
        debug: ``--voice-debug``.
        log_path: ``--voice-log``.
        ptt_key: ``--voice-ptt`` (a key combination), or None for no push-to-talk.
        ptt_backend: ``--voice-ptt-backend`` (``auto``, ``portal``, ``hotkey``).
        vad: ``--voice-vad`` (voice activity detection instead of push-to-talk).
        meter: ``--voice-meter`` (report microphone levels).
    """

    executable: str = "dialtone-voiced"
    socket_path: Path
    debug: bool = False
    log_path: Path | None = None
    ptt_key: str | None = None
    ptt_backend: str = "auto"
    vad: bool = False
    meter: bool = False

    def command(self) -> list[str]:
        """The daemon's command line.

        Returns:
            The argument vector.
        """
        argv = [*shlex.split(self.executable), "--ipc", str(self.socket_path)]
        if self.debug:
            argv.append("--debug")
        if self.log_path is not None:
            argv += ["--log", str(self.log_path)]
        if self.ptt_key is not None:
            argv += ["--ptt", self.ptt_key]
        if self.ptt_backend != "auto":
            argv += ["--ptt-backend", self.ptt_backend]
        if self.vad:
            argv.append("--vad")
        if self.meter:
            argv.append("--meter")
        return argv


class VoiceDaemonProcess:
    """One ``dialtone-voiced`` child process.

    Args:
        settings: How to run it.
        on_exit: Called with a reason when it stops without `stop` being called.
    """

    def __init__(self, settings: DaemonSettings, on_exit: Callable[[str], None]) -> None:
        self.settings = settings
        self._on_exit = on_exit
        self._process: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self.tail: deque[str] = deque(maxlen=_TAIL_LINES)
        """The last lines the daemon wrote to stdout/stderr (they never reach the terminal)."""

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Start the daemon.

        Raises:
            VoiceDaemonError: It cannot be executed.
        """
        argv = self.settings.command()
        self.settings.socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._stopping = False
        try:
            self._process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                # Its own process group: Ctrl+C in the terminal reaches the TUI only, which then
                # stops the daemon in order.
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            raise VoiceDaemonError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
        self._watch = asyncio.get_running_loop().create_task(
            self._watch_output(self._process), name="dialtone: voice daemon output"
        )

    async def _watch_output(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            self.tail.append(line.decode("utf-8", errors="replace").rstrip())
        code = await process.wait()
        if not self._stopping:
            last = next((line for line in reversed(self.tail) if line.strip()), "")
            how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
            self._on_exit(f"{how}" + (f": {last}" if last else ""))

    async def stop(self, grace: float = _STOP_TIMEOUT_S) -> None:
        """Stop the daemon: SIGTERM, then SIGKILL after `grace` seconds.

        Args:
            grace: Seconds to wait before killing it.
        """
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._watch is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._watch, grace)
            self._watch = None


def describe_command(argv: Sequence[str]) -> str:
    """A command line as one shell-quoted string, for messages.

    Args:
        argv: The arguments.

    Returns:
        The quoted command.
    """
    return shlex.join(argv)
