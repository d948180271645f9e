"""The daemon's configuration: flags, their checks and the default socket path.

Everything is read once at start (`parse_config`) into one frozen `DaemonConfig`; a bad value is a
`ConfigError` with one line for the user. The TUI's ``--voice-*`` flags map onto these flags when
it starts the daemon (``--ipc``, ``--ptt``, ``--ptt-backend``, ``--vad``, ``--meter``, ``--log``,
``--debug``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, NoReturn

import attrs

from dialtone.ptt import BackendChoice, InvalidKeySpecError, parse_key_spec
from dialtone.ptt.keys import DEFAULT_KEY
from dialtone.voiced import __version__
from dialtone.voiced.errors import ConfigError

__all__ = [
    "DEFAULT_BITRATE",
    "MAX_BITRATE",
    "MIN_BITRATE",
    "DaemonConfig",
    "build_parser",
    "default_socket_path",
    "parse_config",
]

DEFAULT_BITRATE: Final = 32_000
"""Opus bitrate in bits per second: plenty for one voice in 20 ms frames."""
MIN_BITRATE: Final = 6_000
MAX_BITRATE: Final = 510_000
"""Opus' own limits."""
DEFAULT_VAD_AGGRESSIVENESS: Final = 2
DEFAULT_STATS_INTERVAL: Final = 5.0
DEFAULT_CONNECT_TIMEOUT: Final = 20.0
SOCKET_NAME: Final = "voiced.sock"
# sockaddr_un.sun_path is 108 bytes, the terminating NUL included.
MAX_SOCKET_PATH_BYTES: Final = 107

DeviceSpec = int | str
"""A PortAudio device: its index, or a substring of its name (sounddevice's rules)."""


@attrs.frozen(kw_only=True)
class DaemonConfig:
    """How the daemon runs.

    Attributes:
        socket_path: The IPC Unix socket.
        ptt_key: The push-to-talk key (``ctrl+space``).
        ptt_backend: ``auto``, ``portal``, ``hotkey`` or ``vad``.
        vad_aggressiveness: webrtcvad's mode, 0 (least) to 3 (most aggressive filtering).
        meter: Send ``voice.level`` events about ten times a second.
        input_device: The capture device, or None for the default.
        output_device: The playback device, or None for the default.
        log_path: Where to log, or None for stderr.
        debug: Log at debug level.
        bitrate: Opus bitrate, bits per second.
        relay_only: Use TURN relays only, whatever ``ice.config`` says.
        stats_interval: Seconds between ``stats`` events in a call; 0 for none.
        connect_timeout: Seconds a peer connection may take to come up before it counts as
            failed (and is retried).
    """

    socket_path: Path
    ptt_key: str = DEFAULT_KEY
    ptt_backend: BackendChoice = BackendChoice.AUTO
    vad_aggressiveness: int = DEFAULT_VAD_AGGRESSIVENESS
    meter: bool = False
    input_device: DeviceSpec | None = None
    output_device: DeviceSpec | None = None
    log_path: Path | None = None
    debug: bool = False
    bitrate: int = DEFAULT_BITRATE
    relay_only: bool = False
    stats_interval: float = DEFAULT_STATS_INTERVAL
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT


def default_socket_path(env: Mapping[str, str], uid: int | None = None) -> Path:
    """Where the daemon listens when ``--ipc`` is not given.

    Args:
        env: The environment (``XDG_RUNTIME_DIR``).
        uid: The user id for the fallback directory (default: this process's).

    Returns:
        ``$XDG_RUNTIME_DIR/dialtone/voiced.sock``, or ``/tmp/dialtone-<uid>/voiced.sock`` when
        ``XDG_RUNTIME_DIR`` is unset (the same fallback as the TUI's).
    """
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "dialtone" / SOCKET_NAME
    owner = os.getuid() if uid is None else uid
    return Path(f"/tmp/dialtone-{owner}") / SOCKET_NAME  # noqa: S108


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is a `ConfigError` (one line) instead of usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``dialtone-voiced``.

    Returns:
        The parser; its ``error`` raises `ConfigError`.
    """
    parser = _Parser(
        prog="dialtone-voiced",
        description=(
            "Dialtone voice daemon: captures the microphone, gates it with push-to-talk or voice "
            "activity, and runs WebRTC voice with the other members of a room. It is driven by the "
            "Dialtone TUI over a local socket and holds no keys or server credentials."
        ),
        epilog="Setup, push-to-talk on Wayland and X11, and TURN: docs/voice.md.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--ipc",
        "--socket",
        dest="socket",
        metavar="PATH",
        help="IPC socket (default: $XDG_RUNTIME_DIR/dialtone/voiced.sock), created mode 0600",
    )
    parser.add_argument(
        "--ptt",
        metavar="KEY",
        default=DEFAULT_KEY,
        help=f"push-to-talk key, e.g. ctrl+space, f9, ctrl+shift+a (default: {DEFAULT_KEY})",
    )
    parser.add_argument(
        "--ptt-backend",
        choices=[choice.value for choice in BackendChoice],
        default=BackendChoice.AUTO.value,
        help=(
            "auto: XDG portal on Wayland, X11 hotkey elsewhere, else voice activity; portal, "
            "hotkey: that one or no transmission; vad: voice activity only (default: auto)"
        ),
    )
    parser.add_argument(
        "--vad",
        action="store_true",
        help="voice activity decides when you speak (the same as --ptt-backend vad)",
    )
    parser.add_argument(
        "--vad-aggressiveness",
        type=int,
        default=DEFAULT_VAD_AGGRESSIVENESS,
        metavar="0-3",
        help=f"how strictly noise is not speech (default: {DEFAULT_VAD_AGGRESSIVENESS})",
    )
    parser.add_argument(
        "--meter", action="store_true", help="send microphone levels to the TUI (10 per second)"
    )
    parser.add_argument(
        "--input-device", metavar="DEVICE", help="capture device: index or name (PortAudio)"
    )
    parser.add_argument(
        "--output-device", metavar="DEVICE", help="playback device: index or name (PortAudio)"
    )
    parser.add_argument(
        "--log", "--log-file", dest="log", metavar="PATH", help="log here instead of stderr"
    )
    parser.add_argument("--debug", action="store_true", help="log at debug level")
    parser.add_argument(
        "--bitrate",
        type=int,
        default=DEFAULT_BITRATE,
        metavar="BPS",
        help=f"Opus bitrate in bit/s, {MIN_BITRATE}-{MAX_BITRATE} (default: {DEFAULT_BITRATE})",
    )
    parser.add_argument(
        "--relay-only",
        action="store_true",
        help="connect only through TURN relays (peers never learn this host's addresses)",
    )
    parser.add_argument(
        "--stats-interval",
        type=float,
        default=DEFAULT_STATS_INTERVAL,
        metavar="SECONDS",
        help=(
            "seconds between stats events in a call, 0 for none "
            f"(default: {DEFAULT_STATS_INTERVAL:g})"
        ),
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=DEFAULT_CONNECT_TIMEOUT,
        metavar="SECONDS",
        help=(
            "seconds a peer connection may take to come up before it is retried "
            f"(default: {DEFAULT_CONNECT_TIMEOUT:g})"
        ),
    )
    return parser


def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> DaemonConfig:
    """Parse and check the command line.

    Args:
        argv: The arguments, without the program name.
        env: The environment (for the default socket path).

    Returns:
        The configuration.

    Raises:
        ConfigError: On any unusable value, with one line saying which and why.
        SystemExit: For ``--help`` and ``--version`` (argparse prints them).
    """
    args = build_parser().parse_args(argv)
    backend = BackendChoice(args.ptt_backend)
    if args.vad:
        if backend not in (BackendChoice.AUTO, BackendChoice.VAD):
            raise ConfigError(f"--vad conflicts with --ptt-backend {backend.value}: choose one")
        backend = BackendChoice.VAD
    if backend is not BackendChoice.VAD:
        try:
            parse_key_spec(args.ptt)
        except InvalidKeySpecError as exc:
            raise ConfigError(f"--ptt: {exc.reason}") from None
    if not 0 <= args.vad_aggressiveness <= 3:
        raise ConfigError(f"--vad-aggressiveness must be 0 to 3, not {args.vad_aggressiveness}")
    if not MIN_BITRATE <= args.bitrate <= MAX_BITRATE:
        raise ConfigError(
            f"--bitrate must be {MIN_BITRATE} to {MAX_BITRATE} bit/s (Opus), not {args.bitrate}"
        )
    if not args.stats_interval >= 0 or args.stats_interval == float("inf"):
        raise ConfigError(f"--stats-interval must be 0 or more seconds, not {args.stats_interval}")
    if not 1.0 <= args.connect_timeout <= 600.0:
        raise ConfigError(f"--connect-timeout must be 1 to 600 seconds, not {args.connect_timeout}")
    socket_path = Path(args.socket) if args.socket else default_socket_path(env)
    if not socket_path.is_absolute():
        socket_path = Path.cwd() / socket_path
    if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH_BYTES:
        raise ConfigError(
            f"IPC socket path {str(socket_path)!r} is over {MAX_SOCKET_PATH_BYTES} bytes "
            "(the limit of Unix socket addresses): use a shorter --ipc"
        )
    return DaemonConfig(
        socket_path=socket_path,
        ptt_key=args.ptt,
        ptt_backend=backend,
        vad_aggressiveness=args.vad_aggressiveness,
        meter=args.meter,
        input_device=_device(args.input_device, "--input-device"),
        output_device=_device(args.output_device, "--output-device"),
        log_path=Path(args.log) if args.log else None,
        debug=args.debug,
        bitrate=args.bitrate,
        relay_only=args.relay_only,
        stats_interval=args.stats_interval,
        connect_timeout=args.connect_timeout,
    )


def _device(value: str | None, flag: str) -> DeviceSpec | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise ConfigError(f"{flag} must name a device (an index or part of its name)")
    return int(text) if text.isdigit() else text
