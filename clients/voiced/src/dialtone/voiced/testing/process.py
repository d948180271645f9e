"""Running ``dialtone-voiced`` as a child process, as the TUI does."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

__all__ = ["DaemonProcess", "daemon_command", "running_daemon"]

_START_TIMEOUT: Final = 20.0


class DaemonProcess:
    """A ``dialtone-voiced`` child (see `running_daemon`).

    Args:
        process: The process.
        socket_path: Its IPC socket.
        log_path: Where its stderr goes.
    """

    def __init__(self, process: subprocess.Popen[bytes], socket_path: Path, log_path: Path) -> None:
        self.process = process
        self.socket_path = socket_path
        self.log_path = log_path

    @property
    def pid(self) -> int:
        """Its process id."""
        return self.process.pid

    def log(self) -> str:
        """What it logged so far.

        Returns:
            The log text.
        """
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_listening(self, timeout: float = _START_TIMEOUT) -> None:
        """Block until the socket accepts connections (a stale file does not count).

        Args:
            timeout: Seconds to wait.

        Raises:
            RuntimeError: If the daemon exits or takes too long (with its log).
        """
        deadline = time.monotonic() + timeout
        while not self._accepts():
            if self.process.poll() is not None:
                status = self.process.returncode
                raise RuntimeError(f"dialtone-voiced exited {status}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dialtone-voiced did not listen in {timeout} s:\n{self.log()}")
            time.sleep(0.02)

    def _accepts(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.socket_path))
            except OSError:
                return False
        return True

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after `timeout` seconds.

        Args:
            timeout: Seconds to wait for a clean stop.

        Returns:
            The exit status.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode


def daemon_command(args: Sequence[str]) -> list[str]:
    """The command line of a daemon run from this interpreter.

    Args:
        args: The daemon's arguments.

    Returns:
        ``python -m dialtone.voiced ARGS``.
    """
    return [sys.executable, "-m", "dialtone.voiced", *args]


@contextlib.contextmanager
def running_daemon(
    socket_path: Path,
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[DaemonProcess]:
    """Run a daemon for the ``with`` block and stop it after.

    Args:
        socket_path: Its ``--ipc`` socket.
        args: More arguments.
        env: Extra environment variables (over this process's).
        log_path: Where its stderr goes (default: next to the socket).

    Yields:
        The daemon, listening.
    """
    log_path = log_path if log_path is not None else socket_path.with_suffix(".log")
    environment = {
        **os.environ,
        # The child must import what this process imports (also inside a PEX).
        "PYTHONPATH": os.pathsep.join(sys.path),
        **(env or {}),
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            daemon_command(["--ipc", str(socket_path), *args]),
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    daemon = DaemonProcess(process, socket_path, log_path)
    try:
        daemon.wait_listening()
        yield daemon
    finally:
        daemon.stop()
