"""Private display and bus processes for tests: a D-Bus session bus, an Xvfb display, xdotool.

Each helper is a context manager that starts the real program, waits until it is usable and
kills it (and reaps it) on exit, so no daemon outlives its test.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import attrs

__all__ = ["SessionBus", "private_session_bus", "xdotool", "xvfb_display"]

_START_TIMEOUT: Final = 10.0

# A session bus without service activation: only what the test starts is on it, even on a
# machine where the real xdg-desktop-portal (or anything else) is installed.
_BUS_CONFIG: Final = """<busconfig>
  <type>session</type>
  <listen>unix:dir={directory}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@attrs.frozen
class SessionBus:
    """A running private D-Bus session bus.

    Attributes:
        address: Its address, for ``DBUS_SESSION_BUS_ADDRESS``.
        pid: The dbus-daemon's process id.
    """

    address: str
    pid: int


def _read_lines(stream: int, count: int, timeout: float, what: str) -> list[str]:
    data = b""
    deadline = time.monotonic() + timeout
    while data.count(b"\n") < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"{what} did not start within {timeout} s")
        readable, _, _ = select.select([stream], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(stream, 4096)
        if not chunk:
            raise RuntimeError(f"{what} exited before it was ready (output so far: {data!r})")
        data += chunk
    return data.decode().splitlines()[:count]


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.contextmanager
def private_session_bus() -> Iterator[SessionBus]:
    """Run a private ``dbus-daemon`` session bus for the duration of the ``with`` block.

    The daemon runs in the foreground as our child (``--nofork``) rather than with ``--fork``:
    a forked daemon is re-parented to PID 1, which in a container may be slow to reap it (a
    zombie was seen here), and we could not wait for it. Its socket lives in a short private
    directory (Unix socket paths are limited to 108 bytes, which ``tmp_path`` can exceed).

    Yields:
        The bus's address and pid.

    Raises:
        RuntimeError: If dbus-daemon does not print its address within 10 s.
    """
    directory = Path(tempfile.mkdtemp(prefix="dtbus-"))
    config = directory / "session.conf"
    config.write_text(_BUS_CONFIG.format(directory=directory))
    process = subprocess.Popen(
        [
            "dbus-daemon",
            f"--config-file={config}",
            "--nofork",
            "--print-address=1",
            "--print-pid=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        address, pid = _read_lines(process.stdout.fileno(), 2, _START_TIMEOUT, "dbus-daemon")
        yield SessionBus(address=address.strip(), pid=int(pid))
    finally:
        _terminate(process)
        if process.stdout is not None:
            process.stdout.close()
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def xvfb_display(screen: str = "640x480x24") -> Iterator[str]:
    """Run an ``Xvfb`` X server on a free display number for the ``with`` block.

    Xvfb picks the number itself (``-displayfd``), which cannot race with another test or
    engineer starting a display at the same time. TCP is off (``-nolisten tcp``).

    Args:
        screen: Screen 0's geometry and depth.

    Yields:
        The display name, e.g. ``":3"``.

    Raises:
        RuntimeError: If Xvfb does not report a display within 10 s.
    """
    read_end, write_end = os.pipe()
    # -noreset: by default the X server resets itself when its last client disconnects, and a
    # client connecting during that reset (the next test's listener, right after xdotool or the
    # previous listener left) gets "connection reset by peer".
    try:
        process = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_end),
                "-nolisten",
                "tcp",
                "-noreset",
                "-screen",
                "0",
                screen,
            ],
            pass_fds=(write_end,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
    finally:
        os.close(write_end)
    try:
        (number,) = _read_lines(read_end, 1, _START_TIMEOUT, "Xvfb")
        yield f":{number.strip()}"
    finally:
        os.close(read_end)
        _terminate(process)


def xdotool(display: str, *args: str) -> None:
    """Run ``xdotool`` against ``display`` (``keydown ctrl+space``, ``keyup f9``, ``key a``...).

    Args:
        display: The X display name.
        *args: xdotool's arguments.

    Raises:
        subprocess.CalledProcessError: If xdotool fails.
    """
    subprocess.run(
        ["xdotool", *args],
        env={**os.environ, "DISPLAY": display},
        check=True,
        timeout=_START_TIMEOUT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
