"""The daemon's flags: defaults, the TUI's spelling of them, and one clear error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialtone.ptt import BackendChoice
from dialtone.voiced.config import (
    DEFAULT_BITRATE,
    DaemonConfig,
    default_socket_path,
    parse_config,
)
from dialtone.voiced.errors import ConfigError

ENV = {"XDG_RUNTIME_DIR": "/run/user/1000"}


def test_defaults_listen_under_xdg_runtime_dir_with_auto_push_to_talk() -> None:
    config = parse_config([], ENV)
    assert config == DaemonConfig(socket_path=Path("/run/user/1000/dialtone/voiced.sock"))
    assert config.ptt_backend is BackendChoice.AUTO
    assert config.ptt_key == "ctrl+space"
    assert config.bitrate == DEFAULT_BITRATE
    assert not config.relay_only


def test_without_xdg_runtime_dir_the_socket_goes_to_a_per_user_tmp_directory() -> None:
    assert default_socket_path({}, uid=1234) == Path("/tmp/dialtone-1234/voiced.sock")
    assert parse_config([], {}).socket_path.parent.name.startswith("dialtone-")


def test_the_tuis_command_line_is_understood() -> None:
    # What dialtone.client.daemon.DaemonSettings.command() produces.
    config = parse_config(
        [
            "--ipc",
            "/run/user/1000/dialtone/voiced-42.sock",
            "--debug",
            "--log",
            "/tmp/voiced.log",
            "--ptt",
            "f9",
            "--ptt-backend",
            "portal",
            "--meter",
        ],
        ENV,
    )
    assert config.socket_path == Path("/run/user/1000/dialtone/voiced-42.sock")
    assert config.debug
    assert config.log_path == Path("/tmp/voiced.log")
    assert config.ptt_key == "f9"
    assert config.ptt_backend is BackendChoice.PORTAL
    assert config.meter


def test_vad_flag_selects_voice_activity_and_needs_no_valid_key() -> None:
    assert parse_config(["--vad"], ENV).ptt_backend is BackendChoice.VAD
    assert parse_config(["--ptt-backend", "auto", "--vad"], ENV).ptt_backend is BackendChoice.VAD
    assert parse_config(["--vad", "--ptt", "no+such+key"], ENV).ptt_backend is BackendChoice.VAD


def test_every_setting_is_read() -> None:
    config = parse_config(
        [
            "--vad-aggressiveness",
            "3",
            "--input-device",
            "3",
            "--output-device",
            "pulse",
            "--bitrate",
            "64000",
            "--relay-only",
            "--stats-interval",
            "0",
            "--connect-timeout",
            "5",
        ],
        ENV,
    )
    assert config.vad_aggressiveness == 3
    assert config.input_device == 3
    assert config.output_device == "pulse"
    assert config.bitrate == 64000
    assert config.relay_only
    assert config.stats_interval == 0
    assert config.connect_timeout == 5


def test_a_relative_socket_path_is_made_absolute() -> None:
    assert parse_config(["--ipc", "v.sock"], ENV).socket_path == Path.cwd() / "v.sock"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bitrate", "1000"], "--bitrate must be 6000 to 510000"),
        (["--bitrate", "fast"], "invalid int value"),
        (["--vad-aggressiveness", "4"], "--vad-aggressiveness must be 0 to 3"),
        (["--ptt", "ctrl+nosuchkey"], "--ptt:"),
        (["--ptt-backend", "evdev"], "invalid choice"),
        (["--ptt-backend", "portal", "--vad"], "--vad conflicts with --ptt-backend portal"),
        (["--stats-interval", "-1"], "--stats-interval must be 0 or more"),
        (["--connect-timeout", "0.1"], "--connect-timeout must be 1 to 600"),
        (["--input-device", " "], "--input-device must name a device"),
        (["--ipc", "/tmp/" + "x" * 120 + ".sock"], "over 107 bytes"),
        (["--no-such-flag"], "unrecognized arguments"),
    ],
)
def test_bad_values_are_one_config_error_naming_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(argv, ENV)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
