"""``dialtone-voiced`` as a program: help, version, one-line configuration errors, clean stops."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dialtone.voiced import __version__
from dialtone.voiced.testing import daemon_command, running_daemon

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def run(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        daemon_command(args),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_help_lists_every_flag() -> None:
    result = run("--help")
    assert result.returncode == 0
    for flag in (
        "--ipc",
        "--ptt",
        "--ptt-backend",
        "auto,portal,hotkey,vad",
        "--vad",
        "--vad-aggressiveness",
        "--meter",
        "--input-device",
        "--output-device",
        "--log",
        "--debug",
        "--bitrate",
        "--relay-only",
        "--stats-interval",
        "--connect-timeout",
    ):
        assert flag in result.stdout


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"dialtone-voiced {__version__}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bitrate", "5"], "--bitrate must be 6000 to 510000 bit/s"),
        (["--ptt", "ctrl+"], "--ptt:"),
        (["--ptt-backend", "hotkey", "--vad"], "--vad conflicts"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_a_bad_flag_is_one_line_on_stderr_and_status_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dialtone-voiced: error: ")
    assert message in lines[0]


def test_an_unwritable_log_file_is_a_config_error(sockets: Path) -> None:
    result = run("--ipc", str(sockets / "v.sock"), "--log", str(sockets / "missing" / "v.log"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"dialtone-voiced: error: cannot open the log file {sockets / 'missing' / 'v.log'}: "
        "No such file or directory"
    ]


def test_a_second_daemon_on_the_same_socket_is_refused_in_one_line(sockets: Path) -> None:
    path = sockets / "v.sock"
    with running_daemon(path, ["--vad"]):
        result = run("--ipc", str(path), "--vad")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"dialtone-voiced: error: another dialtone-voiced is already listening on {path}"
    ]


def test_a_path_that_is_not_a_socket_is_left_alone(sockets: Path) -> None:
    path = sockets / "v.sock"
    path.write_text("mine")
    result = run("--ipc", str(path), "--vad")
    assert result.returncode == 2
    assert "exists and is not a socket" in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_text() == "mine"


def test_a_stale_socket_is_replaced(sockets: Path) -> None:
    path = sockets / "v.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    with running_daemon(path, ["--vad"]) as daemon:
        assert "removing the stale socket" in daemon.log()


def test_the_socket_is_private_and_removed_after_sigterm(sockets: Path) -> None:
    path = sockets / "run" / "dialtone" / "v.sock"
    with running_daemon(path, ["--vad"], log_path=sockets / "v.log") as daemon:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        daemon.process.send_signal(signal.SIGTERM)
        assert daemon.process.wait(timeout=10) == 0
    assert not path.exists()


def test_a_socket_directory_of_another_user_is_refused(sockets: Path) -> None:
    directory = sockets / "theirs"
    directory.mkdir()
    os.chown(directory, 65534, 65534)
    result = run("--ipc", str(directory / "v.sock"), "--vad")
    assert result.returncode == 2
    assert "belongs to uid 65534, not to this user" in result.stderr
