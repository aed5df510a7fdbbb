"""``dmil bench``: the benchmark matrix behind BENCHMARKS.md, resumable.

``dmil bench --suite synthetic|real|all [--seeds N] [--methods LIST] --out DIR`` trains
every (dataset, method, seed) cell with the dataset's budget and writes into ``--out``
``cells/<dataset>/<method>/seed<k>.json`` (one per finished cell, never recomputed while
its settings are unchanged; a cell interrupted mid-way is redone), ``runs.csv`` (every
cell) and ``tables.md`` (the tables in the BENCHMARKS.md format).
"""

from __future__ import annotations

import argparse
import sys

from dmil.cli.spec_flags import DATA_DIR_HELP

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``bench`` subcommand."""
    p = sub.add_parser(
        "bench",
        help="the benchmark matrix (datasets x methods x seeds), resumable",
        description="Train every dataset x method x seed cell of a suite with the "
        "dataset's budget; write one JSON per finished cell, runs.csv and tables.md "
        "(BENCHMARKS.md format) into --out. Rerunning continues where it stopped.",
    )
    p.add_argument("--suite", default="all", help="synthetic, real or all (default all)")
    p.add_argument(
        "--datasets", default=None, help="comma-separated benchmark datasets (replaces --suite)"
    )
    p.add_argument("--methods", default=None, help="comma-separated methods (default: all)")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds, 0..N-1 (default 5)")
    p.add_argument("--epochs", type=int, default=None, help="override every budget's epochs")
    p.add_argument("--out", required=True, help="results directory (reused when resuming)")
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    p.add_argument(
        "--num-threads", type=int, default=None, help="torch CPU threads (default: dmil's)"
    )
    p.set_defaults(func=run)


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def run(args: argparse.Namespace) -> int:
    """Run the missing cells and print the tables."""
    from dmil.models import available_methods
    from dmil.spec import ModelSpec
    from dmil.training.fabric import configure_threads
    from dmil.utils import RunLock
    from dmil.workflows.bench import run_bench
    from dmil.workflows.suites import suite_datasets

    entries = _names(args.datasets) if args.datasets else list(suite_datasets(args.suite))
    methods = _names(args.methods) if args.methods else available_methods()
    for method in methods:
        ModelSpec(method=method)  # unknown names: a close match and the known ones
    if args.seeds < 1:
        raise ValueError(f"--seeds: expected a positive number of seeds, found {args.seeds}.")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs: expected a positive integer, found {args.epochs}.")
    configure_threads(args.num_threads, "bench")
    with RunLock(args.out, command="dmil bench"):
        run_bench(
            entries,
            methods,
            list(range(args.seeds)),
            args.out,
            epochs=args.epochs,
            data_dir=args.data_dir,
            say=lambda text: print(text, file=sys.stderr, flush=True),
        )
    with open(f"{args.out}/tables.md") as fh:
        print(fh.read(), end="")
    print(f"wrote {args.out}/tables.md and {args.out}/runs.csv")
    return 0
