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
    p.add_argument(
        "--out",
        default=None,
        help="also write the metrics to this JSON file (new, or replaced with --overwrite)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out file of yours"
    )
    p.set_defaults(func=run)


def _check_out_file(path: str, *, overwrite: bool) -> None:
    """Refuse an ``--out`` that would replace something: a directory, a file a dmil
    command wrote (listed in its directory's ``SHA256SUMS``, a checkpoint, or a run file
    such as ``metrics.json`` beside a checkpoint), or any existing file without
    ``--overwrite``."""
    from pathlib import Path

    from dmil.evaluation.outputs import RUN_FILES
    from dmil.utils import CHECKSUM_FILE, LOCK_FILE, read_checksums

    out = Path(path)
    if out.is_dir():
        raise FileExistsError(f"--out {out} is a directory; name a JSON file to write.")
    if not out.exists():
        return
    in_run = out.name in RUN_FILES and any(out.parent.glob("*.ckpt"))
    own = out.name in (CHECKSUM_FILE, LOCK_FILE) or out.name in read_checksums(out.parent)
    if own or out.suffix == ".ckpt" or in_run:
        raise FileExistsError(
            f"--out {out} is a file of a dmil run or output, which the metrics would replace; "
            "choose another --out, e.g. a new evaluation.json."
        )
    if not overwrite:
        raise FileExistsError(
            f"--out {out} exists; pass --overwrite to replace it or choose another --out."
        )


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the summary (and write --out)."""
    from dmil.cli.train import format_summary
    from dmil.evaluation.experiment import evaluate_checkpoint
    from dmil.training.config import ACCELERATORS
    from dmil.training.fabric import configure_threads

    configure_threads(args.num_threads, "evaluate")
    if args.device not in ACCELERATORS:
        raise ValueError(f"--device: expected one of {list(ACCELERATORS)}, found {args.device!r}.")
    if args.out is not None:
        _check_out_file(args.out, overwrite=args.overwrite)
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
