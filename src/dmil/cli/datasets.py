"""``dmil datasets``: list every registered dataset with its shapes and source."""

from __future__ import annotations

import argparse

from dmil.cli.spec_flags import DATA_DIR_HELP

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``datasets`` subcommand."""
    p = sub.add_parser(
        "datasets",
        help="list the registered datasets",
        description="List every registered dataset: modalities with shapes, N, classes, "
        "whether per-sample interaction truth exists, and the source.",
    )
    p.add_argument("names", nargs="*", help="only these datasets (default: all)")
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one block per dataset; datasets that cannot be loaded say why."""
    from dmil.data import available_datasets, dataset_info, load

    names = args.names or available_datasets()
    for name in names:
        info = dataset_info(name)
        root = {"root": args.data_dir} if info.needs_files else {}
        try:
            text = load(name, **root).describe()
        except (FileNotFoundError, ImportError, ValueError) as exc:
            text = f"{name}: not available here ({exc})\n  source: {info.source}"
        print(text)
        print(f"  about: {info.description}")
        print()
    return 0
