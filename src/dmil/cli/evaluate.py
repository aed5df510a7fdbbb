"""``dmil evaluate``: reproduce a trained run's test metrics from its checkpoint."""

from __future__ import annotations

import argparse

from dmil.cli.spec_flags import DATA_DIR_HELP
from dmil.spec import INTERACTION_SOURCES

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``evaluate`` subcommand."""
    p = sub.add_parser(
        "evaluate",
        help="re-measure a trained model on its test split",
        description="Rebuild the model stored in a checkpoint (build_model(**model_config)), "
        "re-create the run's data and split from the settings stored with it, and report "
        "the test metrics (they equal those in the run's metrics.json).",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        help="run directory written by `dmil train` (uses best.ckpt) or a .ckpt file",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="dataset name; must be the one the run used (default: the stored one)",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="FILE",
        help="the run's data file where it is now (default: the recorded path; its "
        "SHA-256 must match the one recorded at training time)",
    )
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    p.add_argument("--device", default="cpu", help="accelerator: cpu, cuda or auto")
    p.add_argument(
        "--interactions",
        default=None,
        choices=INTERACTION_SOURCES,
        help="source of interaction labels (default: as in the training run)",
    )
    p.add_argument(
        "--num-threads",
        type=int,
        default=None,
        help="torch intra-op CPU threads (default 1; see BENCHMARKS.md, 'CPU threads')",
    )
    p.add_argument("--out", default=None, help="also write the metrics to this JSON file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the summary (and write --out)."""
    from dmil.cli.train import format_summary
    from dmil.evaluation.experiment import evaluate_checkpoint
    from dmil.training.config import ACCELERATORS
    from dmil.training.fabric import configure_threads

    configure_threads(args.num_threads, "evaluate")
    if args.device not in ACCELERATORS:
        raise ValueError(f"--device: expected one of {list(ACCELERATORS)}, found {args.device!r}.")
    metrics = evaluate_checkpoint(
        args.checkpoint,
        dataset=args.dataset,
        data_file=args.data,
        data_dir=args.data_dir,
        accelerator=args.device,
        interactions=args.interactions,
        out_file=args.out,
    )
    print(format_summary(metrics, out=args.out))
    return 0
