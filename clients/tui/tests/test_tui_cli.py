"""The `dialtone` command line: every flag of the issue, its mapping onto `ClientOptions`, and a
clear one-line refusal of bad values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dialtone.client import __version__
from dialtone.client.__main__ import DEFAULT_SERVER, build_parser, main, options_from_args

FLAGS = (
    "--server",
    "--voice-ipc",
    "--voice-auto",
    "--voiced",
    "--voice-debug",
    "--voice-log",
    "--voice-ptt",
    "--voice-ptt-backend",
    "--voice-vad",
    "--voice-meter",
    "--voice-stun",
    "--voice-turn",
    "--help",
)


def test_help_lists_every_flag_of_the_original_client() -> None:
    text = build_parser({}).format_help()
    for flag in FLAGS:
        assert flag in text
    assert "auto,portal,hotkey" in text


def test_the_installed_binary_answers_help_and_version() -> None:
    command = [sys.executable, "-m", "dialtone.client", "--version"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == f"dialtone {__version__}"
    helped = subprocess.run(
        [sys.executable, "-m", "dialtone.client", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--voice-ptt-backend" in helped.stdout


def test_defaults_need_no_flags() -> None:
    options = options_from_args(build_parser({}).parse_args([]))
    assert options.server_url == DEFAULT_SERVER
    assert options.theme == "ansi-dark"
    assert options.notify == "bell"
    assert not options.voice_auto
    assert options.voice_ipc_path is None


def test_every_flag_lands_in_the_options() -> None:
    args = build_parser({}).parse_args(
        [
            "--server",
            "https://chat.example.org",
            "--user",
            "alice",
            "--invite",
            "tok",
            "--data-dir",
            "/tmp/d",
            "--notify",
            "desktop",
            "--theme",
            "nord",
            "--voice-ipc",
            "/run/v.sock",
            "--voice-auto",
            "--voiced",
            "/opt/dialtone-voiced --flag",
            "--voice-debug",
            "--voice-log",
            "/tmp/v.log",
            "--voice-ptt",
            "ctrl+space",
            "--voice-ptt-backend",
            "portal",
            "--voice-vad",
            "--voice-meter",
            "--voice-stun",
            "stun:a:3478,stun:b:3478",
            "--voice-stun",
            "stun:c:3478",
            "--voice-turn",
            "turn:t:3478?transport=udp",
            "--voice-relay-only",
        ]
    )
    options = options_from_args(args)
    assert options.server_url == "https://chat.example.org"
    assert options.username == "alice"
    assert options.invite_token == "tok"
    assert options.data_dir == Path("/tmp/d")
    assert options.notify == "desktop"
    assert options.theme == "nord"
    assert options.voice_ipc_path == Path("/run/v.sock")
    assert options.voice_auto
    assert options.voiced_command == "/opt/dialtone-voiced --flag"
    assert options.voice_debug
    assert options.voice_log == Path("/tmp/v.log")
    assert options.voice_ptt == "ctrl+space"
    assert options.voice_ptt_backend == "portal"
    assert options.voice_vad
    assert options.voice_meter
    assert options.voice_stun_urls == ("stun:a:3478", "stun:b:3478", "stun:c:3478")
    assert options.voice_turn_urls == ("turn:t:3478?transport=udp",)
    assert options.voice_relay_only


def test_environment_variables_give_defaults_and_flags_win() -> None:
    env = {"DIALTONE_SERVER": "https://env.example.org", "DIALTONE_NOTIFY": "off"}
    options = options_from_args(build_parser(env).parse_args(["--notify", "bell"]))
    assert options.server_url == "https://env.example.org"
    assert options.notify == "bell"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--server", "chat.example.org"], "--server: server URL must start with http://"),
        (["--theme", "neon"], "--theme: no theme 'neon'"),
        (["--voice-stun", "turn:x"], "--voice-stun: 'turn:x' is not a stun: URL"),
        (["--voice-turn", "stun:x"], "--voice-turn: 'stun:x' is not a turn: URL"),
    ],
)
def test_a_bad_value_stops_with_one_clear_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dialtone: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_an_unknown_ptt_backend_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--voice-ptt-backend", "telepathy"])
    assert exited.value.code == 2
    assert "invalid choice: 'telepathy'" in capsys.readouterr().err


def test_an_invite_starting_with_a_dash_is_taken_whole() -> None:
    args = build_parser({}).parse_args(["--invite=-Zx9_token"])
    assert options_from_args(args).invite_token == "-Zx9_token"
