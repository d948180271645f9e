"""Command-line entry point of `dialtone-voiced`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dialtone.voiced import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `dialtone-voiced`."""
    parser = argparse.ArgumentParser(prog="dialtone-voiced", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `dialtone-voiced` and return its exit status."""
    build_parser().parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
