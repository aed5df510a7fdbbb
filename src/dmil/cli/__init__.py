"""The ``dmil`` command line: thin wrappers that parse, call the library and print.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``, which
registers the parser and sets ``func`` to a ``run(args) -> int`` function.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from dmil import __version__
from dmil.cli import datasets, estimate, evaluate, train

__all__ = ["main"]

logger = logging.getLogger("dmil")

#: Subcommand modules, in the order ``dmil --help`` lists them.
SUBCOMMANDS = [datasets, train, evaluate, estimate]

#: Errors that mean "bad input": reported in one line with exit code 2.
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, KeyError)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="dmil",
        description="Decomposition-based multimodal interaction learning.",
    )
    parser.add_argument("--version", action="version", version=f"dmil {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dmil`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"dmil {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dmil {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
