"""Logging set-up: level and format (`text` for people, `json` for collectors) from the config.

Nothing the server logs carries plaintext content, usernames, passwords or tokens; log calls pass
ids and counts only.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Chatty at INFO (every initdb line, every migration step): shown from WARNING unless debugging.
_QUIET_LOGGERS = ("pgserver", "yoyo", "asyncio")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exception type if any)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render `record` as a JSON line."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Configure the root logger once for the process.

    Args:
        level: Logging level name.
        fmt: `text` or `json`.
        stream: Where to write (default stderr).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level if level == "DEBUG" else "WARNING")
