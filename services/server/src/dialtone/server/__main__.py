"""Command-line entry point of `dialtone-server`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dialtone.server import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `dialtone-server`."""
    parser = argparse.ArgumentParser(prog="dialtone-server", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `dialtone-server` and return its exit status."""
    build_parser().parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
