"""Starting and stopping the voice daemon for --voice-auto: its command line, a missing or crashing
daemon reported (never raised into the UI), and a clean stop."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

import pytest

from dialtone.client.daemon import (
    DaemonSettings,
    VoiceDaemonError,
    VoiceDaemonProcess,
    default_socket_path,
)


def python(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


def test_the_flags_become_the_daemons_command_line(tmp_path: Path) -> None:
    settings = DaemonSettings(
        executable="/opt/voiced --quiet",
        socket_path=tmp_path / "v.sock",
        debug=True,
        log_path=tmp_path / "v.log",
        ptt_key="ctrl+space",
        ptt_backend="portal",
        vad=True,
        meter=True,
    )
    assert settings.command() == [
        "/opt/voiced",
        "--quiet",
        "--ipc",
        str(tmp_path / "v.sock"),
        "--debug",
        "--log",
        str(tmp_path / "v.log"),
        "--ptt",
        "ctrl+space",
        "--ptt-backend",
        "portal",
        "--vad",
        "--meter",
    ]
    plain = DaemonSettings(socket_path=tmp_path / "v.sock")
    assert plain.command() == ["dialtone-voiced", "--ipc", str(tmp_path / "v.sock")]
    hotkey = DaemonSettings(socket_path=tmp_path / "v.sock", ptt_backend="hotkey")
    assert hotkey.command()[-2:] == ["--ptt-backend", "hotkey"]


def test_a_started_daemons_socket_is_private_to_this_client() -> None:
    path = default_socket_path({"XDG_RUNTIME_DIR": "/run/user/1000"}, pid=42)
    assert path == Path("/run/user/1000/dialtone/voiced-42.sock")
    assert default_socket_path({}, pid=7).name == "voiced-7.sock"


async def test_a_missing_daemon_is_an_error_to_show(tmp_path: Path) -> None:
    settings = DaemonSettings(
        executable=str(tmp_path / "no-such-voiced"), socket_path=tmp_path / "v.sock"
    )
    process = VoiceDaemonProcess(settings, on_exit=lambda _reason: None)
    with pytest.raises(VoiceDaemonError, match="cannot run"):
        await process.start()


async def test_a_crash_is_reported_with_the_daemons_last_words(tmp_path: Path) -> None:
    exits: list[str] = []
    settings = DaemonSettings(
        executable=python("import sys; print('no audio device', flush=True); sys.exit(3)"),
        socket_path=tmp_path / "v.sock",
    )
    process = VoiceDaemonProcess(settings, on_exit=exits.append)
    await process.start()
    for _ in range(200):
        if exits:
            break
        await asyncio.sleep(0.05)
    assert exits == ["exited with status 3: no audio device"]
    assert not process.running
    await process.stop()


async def test_stop_ends_the_daemon_quietly(tmp_path: Path) -> None:
    exits: list[str] = []
    settings = DaemonSettings(
        executable=python("import time; print('ready', flush=True); time.sleep(60)"),
        socket_path=tmp_path / "v.sock",
    )
    process = VoiceDaemonProcess(settings, on_exit=exits.append)
    await process.start()
    assert process.running
    await process.stop()
    assert not process.running
    assert exits == []


async def test_a_daemon_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    exits: list[str] = []
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('stubborn', flush=True); time.sleep(60)"
    )
    settings = DaemonSettings(executable=python(code), socket_path=tmp_path / "v.sock")
    process = VoiceDaemonProcess(settings, on_exit=exits.append)
    await process.start()
    for _ in range(100):
        if process.tail:
            break
        await asyncio.sleep(0.05)
    await process.stop(grace=0.5)
    assert not process.running
    assert exits == []
