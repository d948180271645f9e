"""Command-line entry point of `dialtone`: flags to `ClientOptions`, then the Textual app.

Every flag can also come from a ``DIALTONE_*`` environment variable (the flag wins), so
``DIALTONE_SERVER=https://chat.example.org dialtone`` works as well as ``--server``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from textual.theme import BUILTIN_THEMES

from dialtone.client import __version__
from dialtone.client.core import ClientOptions
from dialtone.keystore import normalize_server_url

__all__ = ["DEFAULT_SERVER", "build_parser", "main", "options_from_args"]

DEFAULT_SERVER = "http://127.0.0.1:8470"
EXIT_USAGE = 2

_DESCRIPTION = (
    "Dialtone: end-to-end encrypted chat in the terminal. Messages, display names and channel "
    "names are encrypted and signed here, on this machine; the server stores ciphertext only."
)
_EPILOG = (
    "Keys inside: F1 help, Ctrl+Q quit, Ctrl+Up/Down switch channel, Ctrl+L sidebar; "
    "type /help for commands. Voice needs dialtone-voiced (--voice-auto starts it)."
)


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of `dialtone`.

    Args:
        environ: Where ``DIALTONE_*`` defaults come from (default: ``os.environ``).

    Returns:
        The parser.
    """
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="dialtone", description=_DESCRIPTION, epilog=_EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--server",
        metavar="URL",
        default=env.get("DIALTONE_SERVER", DEFAULT_SERVER),
        help="the server's URL [DIALTONE_SERVER, default %(default)s]",
    )
    parser.add_argument("--user", metavar="NAME", help="username to suggest on the first screen")
    parser.add_argument(
        "--invite",
        metavar="TOKEN",
        default=env.get("DIALTONE_INVITE"),
        help="invite token to pre-fill when registering [DIALTONE_INVITE]",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        default=Path(env["DIALTONE_KEYSTORE_DIR"]) if env.get("DIALTONE_KEYSTORE_DIR") else None,
        help="where keystores live [DIALTONE_KEYSTORE_DIR, default "
        "$XDG_DATA_HOME/dialtone/profiles]",
    )
    parser.add_argument(
        "--notify",
        choices=("bell", "desktop", "off"),
        default=env.get("DIALTONE_NOTIFY", "bell"),
        help="how a mention in another channel is signalled: the terminal bell, a desktop "
        "notification (D-Bus, names who and where, never the text), or nothing "
        "[DIALTONE_NOTIFY, default %(default)s]",
    )
    parser.add_argument(
        "--theme",
        metavar="NAME",
        default=env.get("DIALTONE_THEME", "ansi-dark"),
        help="colour theme; the default uses the terminal's own colours "
        f"(others: {', '.join(sorted(BUILTIN_THEMES))}) [DIALTONE_THEME]",
    )
    voice = parser.add_argument_group("voice (dialtone-voiced)")
    voice.add_argument(
        "--voice-ipc",
        metavar="PATH",
        type=Path,
        help="the voice daemon's IPC socket (attach to a running daemon, or where "
        "--voice-auto's daemon listens)",
    )
    voice.add_argument(
        "--voice-auto", action="store_true", help="start dialtone-voiced and attach to it"
    )
    voice.add_argument(
        "--voiced",
        metavar="COMMAND",
        default=env.get("DIALTONE_VOICED", "dialtone-voiced"),
        help="the voice daemon to start [DIALTONE_VOICED, default %(default)s]",
    )
    voice.add_argument("--voice-debug", action="store_true", help="daemon debug logging")
    voice.add_argument("--voice-log", metavar="FILE", type=Path, help="the daemon's log file")
    voice.add_argument(
        "--voice-ptt", metavar="KEY", help="push-to-talk key, e.g. ctrl+space (default: none)"
    )
    voice.add_argument(
        "--voice-ptt-backend",
        choices=("auto", "portal", "hotkey"),
        default="auto",
        help="push-to-talk backend: the XDG desktop portal (Wayland), an X11 hotkey, or auto "
        "(default %(default)s)",
    )
    voice.add_argument(
        "--voice-vad", action="store_true", help="send when voice is detected (no key needed)"
    )
    voice.add_argument("--voice-meter", action="store_true", help="show the microphone level")
    voice.add_argument(
        "--voice-stun",
        metavar="URL[,URL]",
        action="append",
        default=[],
        help="extra STUN server(s), e.g. stun:stun.example.org:3478 (repeatable)",
    )
    voice.add_argument(
        "--voice-turn",
        metavar="URL[,URL]",
        action="append",
        default=[],
        help="TURN server(s) to use instead of the server's (its credentials are used; repeatable)",
    )
    voice.add_argument(
        "--voice-relay-only",
        action="store_true",
        help="voice through TURN relays only (hides this machine's addresses from peers)",
    )
    return parser


def options_from_args(args: argparse.Namespace) -> ClientOptions:
    """Map parsed flags onto `ClientOptions`.

    Args:
        args: What `build_parser` parsed.

    Returns:
        The options.

    Raises:
        ValueError: A flag's value is invalid (the message names it).
    """
    try:
        normalize_server_url(args.server)
    except ValueError as exc:
        raise ValueError(f"--server: {exc}") from None
    if args.theme not in BUILTIN_THEMES:
        raise ValueError(f"--theme: no theme {args.theme!r}")
    stun = tuple(url for value in args.voice_stun for url in _csv(value))
    turn = tuple(url for value in args.voice_turn for url in _csv(value))
    for url in stun:
        if not url.startswith(("stun:", "stuns:")):
            raise ValueError(f"--voice-stun: {url!r} is not a stun: URL")
    for url in turn:
        if not url.startswith(("turn:", "turns:")):
            raise ValueError(f"--voice-turn: {url!r} is not a turn: URL")
    return ClientOptions(
        server_url=args.server,
        data_dir=args.data_dir,
        voice_ipc_path=args.voice_ipc,
        voice_stun_urls=stun,
        voice_turn_urls=turn,
        voice_relay_only=args.voice_relay_only,
        theme=args.theme,
        username=args.user,
        invite_token=args.invite,
        notify=args.notify,
        voice_auto=args.voice_auto,
        voiced_command=args.voiced,
        voice_debug=args.voice_debug,
        voice_log=args.voice_log,
        voice_ptt=args.voice_ptt,
        voice_ptt_backend=args.voice_ptt_backend,
        voice_vad=args.voice_vad,
        voice_meter=args.voice_meter,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run `dialtone` and return its exit status.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except ValueError as exc:
        print(f"dialtone: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # Imported here: `--help` and `--version` need no Textual start-up.
    from dialtone.client.app import DialtoneApp

    status = DialtoneApp(options).run()
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
