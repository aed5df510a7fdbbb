"""The ``dmil`` command line: thin wrappers that parse, call the library and print.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``, which
registers the parser and sets ``func`` to a ``run(args) -> int`` function.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

from dmil import __version__
from dmil.cli import bench, datasets, estimate, evaluate, explain, run, train
from dmil.cli.errors import OneLineArgumentParser

__all__ = ["main"]

logger = logging.getLogger("dmil")

#: Subcommand modules, in the order ``dmil --help`` lists them.
SUBCOMMANDS = [datasets, run, train, evaluate, explain, estimate, bench]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = OneLineArgumentParser(
        prog="dmil",
        description="Decomposition-based multimodal interaction learning.",
    )
    parser.add_argument("--version", action="version", version=f"dmil {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when a command fails"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dmil`` console script; returns the exit code.

    Every failure ends in one line ``dmil <command>: error: ...`` on stderr (``--debug``
    adds the traceback): exit code 2 for expected failures (bad input, I/O errors,
    YAML syntax, memory, devices), 1 for internal errors, 130 on Ctrl-C and 143 on
    SIGTERM (with a hint to ``--resume`` where the run can be continued). SIGTERM is
    turned into an exception, so temporary files are removed on the way out.
    """
    from dmil.cli.errors import (
        EXIT_INTERRUPTED,
        EXIT_TERMINATED,
        describe_error,
        print_error,
        resume_hint,
    )
    from dmil.utils import Terminated, raise_on_sigterm

    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    command = str(args.command)
    try:
        with raise_on_sigterm():
            return int(args.func(args) or 0)
    except (KeyboardInterrupt, Terminated) as exc:
        if args.debug:
            traceback.print_exc()
        what = "terminated by SIGTERM" if isinstance(exc, Terminated) else "interrupted"
        hint = resume_hint(command, getattr(args, "out", None))
        print(f"dmil {command}: {what}{hint}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        message, code = describe_error(exc)
        print_error(command, message)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
