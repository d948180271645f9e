"""Command-line entry point of ``dialtone-voiced``.

Exit status: 0 after SIGTERM or SIGINT (a clean stop), 2 for a configuration mistake (one line on
stderr, no traceback), 1 if the daemon cannot serve (its socket cannot be created).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Final, TextIO

from dialtone.voiced.config import DaemonConfig, parse_config
from dialtone.voiced.daemon import VoiceDaemon
from dialtone.voiced.errors import ConfigError

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_CONFIG: Final = 2
_LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log every packet at debug level.
_CHATTY: Final = ("aiortc", "aioice", "av", "dbus_next")


def _configure_logging(config: DaemonConfig, stderr: TextIO) -> None:
    handler: logging.Handler
    if config.log_path is not None:
        try:
            handler = logging.FileHandler(config.log_path, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot open the log file {config.log_path}: {exc.strerror or exc}"
            ) from None
    else:
        handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if config.debug else logging.INFO)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.INFO if config.debug else logging.WARNING)


async def _serve(config: DaemonConfig) -> None:
    daemon = VoiceDaemon(config, os.environ)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await daemon.start()
        await stop.wait()
        logging.getLogger(__name__).info("stopping")
    finally:
        await daemon.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dialtone-voiced`` until SIGTERM or SIGINT.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv, os.environ)
        _configure_logging(config, sys.stderr)
    except ConfigError as exc:
        print(f"dialtone-voiced: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        asyncio.run(_serve(config))
    except ConfigError as exc:
        print(f"dialtone-voiced: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(
            f"dialtone-voiced: error: cannot serve on {config.socket_path}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
