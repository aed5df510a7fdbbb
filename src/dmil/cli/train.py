"""``dmil train``: train one method on one dataset or data file and write its results.

The run is one :class:`~dmil.spec.ExperimentSpec`, layered: the spec's defaults, then
(with ``--resume``) the spec stored in the run's checkpoint, then the YAML file given
with ``--config``, then the flags given on the command line. The effective spec is saved
as ``spec.yaml`` in ``--out``; ``dmil train --config OUT/spec.yaml --out NEW`` replays
the run. A YAML file may hold these sections (all optional; unknown keys are errors)::

    data:  {dataset: synthetic-mixed, options: {n_samples: 2000}, val_size: 0.15}
    model: {method: joint, encoder: mlp, embed_dim: 64, method_kwargs: {}}
    train: {epochs: 40, lr: 1.0e-3, patience: 10, stages: [...]}   # TrainConfig fields
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from dmil.cli.spec_flags import add_data_flags, spec_from_args
from dmil.spec import INTERACTION_SOURCES
from dmil.training.config import ACCELERATORS, PRECISIONS, STRATEGIES, TrainConfig

__all__ = ["add_parser", "build_spec", "format_summary", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``train`` subcommand."""
    p = sub.add_parser(
        "train",
        help="train one paradigm on one dataset",
        description="Train a paradigm with the Fabric engine (early stopping and model "
        "selection on the validation split), then write metrics.json, predictions.csv, "
        "metrics.csv, best.ckpt and last.ckpt into --out.",
    )
    add_data_flags(p)
    p.add_argument(
        "--method",
        default=None,
        help="method name, e.g. joint or dmil (an unknown name lists them all)",
    )
    p.add_argument("--out", required=True, help="run directory (new or empty)")
    p.add_argument(
        "--encoder",
        default=None,
        help="encoder name, or one per modality separated by commas (default mlp)",
    )
    p.add_argument("--embed-dim", type=int, default=None, help="encoder output width (64)")
    p.add_argument(
        "--config",
        default=None,
        help="YAML spec with data/model/train sections (flags override it; a run's "
        "spec.yaml replays that run)",
    )
    # Shown defaults are TrainConfig's, which apply unless --config sets the field.
    d = TrainConfig()
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"epoch budget (default {d.epochs}; DMIL's stages are rescaled to it)",
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help=f"global batch size (default {d.batch_size})"
    )
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {d.lr:g})")
    p.add_argument("--weight-decay", type=float, default=None, help=f"(default {d.weight_decay:g})")
    p.add_argument("--optimizer", default=None, help=f"adamw or sgd (default {d.optimizer})")
    p.add_argument(
        "--scheduler", default=None, help=f"cosine, plateau or none (default {d.scheduler})"
    )
    p.add_argument(
        "--patience",
        type=int,
        default=None,
        help=f"early-stopping patience in epochs (default {d.patience}; 0: never stop early; "
        "a stage that sets its own keeps it)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"seeds data generation, split, initialisation and shuffling (default {d.seed})",
    )
    p.add_argument("--device", default=None, help=f"accelerator: {', '.join(ACCELERATORS)}")
    p.add_argument("--devices", type=int, default=None, help="number of devices / processes")
    p.add_argument("--strategy", default=None, help=f"one of {', '.join(STRATEGIES)}")
    p.add_argument("--precision", default=None, help=f"one of {', '.join(PRECISIONS)}")
    p.add_argument(
        "--data-option",
        action="append",
        metavar="KEY=VALUE",
        help="dataset loader option, e.g. n_samples=600 (repeatable)",
    )
    p.add_argument(
        "--method-option",
        action="append",
        metavar="KEY=VALUE",
        help="paradigm setting, e.g. alpha=0.1 for ogm-ge (repeatable)",
    )
    p.add_argument(
        "--interactions",
        default=None,
        choices=INTERACTION_SOURCES,
        help="per-sample interaction labels for the breakdown (default auto: the "
        "truth when known, else estimated from the training split)",
    )
    p.add_argument(
        "--no-standardize",
        action="store_true",
        help="keep raw feature scales (default: z-score with training statistics)",
    )
    p.add_argument(
        "--num-threads",
        type=int,
        default=None,
        help="torch intra-op CPU threads (default 1; see BENCHMARKS.md, 'CPU threads')",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the run files of an existing --out"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last.ckpt"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, evaluate on the test split, write the run files and print a summary.

    The run directory is locked first (:class:`dmil.utils.RunLock`), so a second run
    into the same ``--out`` fails at once, naming this one.
    """
    from dmil.utils import RunLock

    check_numeric_flags(args)
    with RunLock(args.out, command="dmil train"):
        return _run(args)


#: Numeric flags -> (smallest valid value, whether that value itself is valid).
_NUMERIC_FLAGS: dict[str, tuple[float, bool]] = {
    "epochs": (1, True),
    "batch_size": (1, True),
    "lr": (0.0, False),
    "weight_decay": (0.0, True),
    "patience": (0, True),
    "seed": (0, True),
    "devices": (1, True),
    "embed_dim": (1, True),
    "num_threads": (1, True),
}


def check_numeric_flags(args: argparse.Namespace) -> None:
    """NaN, infinite, negative or zero values of numeric flags, named by their flag."""
    for attr, (low, inclusive) in _NUMERIC_FLAGS.items():
        value = getattr(args, attr, None)
        if value is None:
            continue
        flag = "--" + attr.replace("_", "-")
        kind = (
            "a finite positive number"
            if low == 0 and not inclusive
            else f"a finite number >= {low:g}"
        )
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            raise ValueError(f"{flag}: expected {kind}, found {value}.")


def _check_precision(config: TrainConfig) -> None:
    """float16 precision is refused on the CPU (the config checks its own values when it
    is built)."""
    if config.precision in ("16-true", "16-mixed"):
        import torch

        if config.accelerator == "cpu" or (
            config.accelerator == "auto" and not torch.cuda.is_available()
        ):
            raise ValueError(
                f"--precision {config.precision}: float16 training is not supported on the "
                "CPU (its losses overflow to NaN); use 32-true, bf16-mixed or bf16-true, or "
                "train on a GPU with --device cuda."
            )


def build_spec(args: argparse.Namespace) -> Any:
    """The run's :class:`~dmil.spec.ExperimentSpec` from the checkpoint (``--resume``),
    ``--config`` and the flags, in that order of precedence (flags win)."""
    base = None
    if args.resume:
        from dmil.evaluation.experiment import stored_spec
        from dmil.training.checkpoint import find_resume_checkpoint, read_checkpoint

        source = find_resume_checkpoint(args.out)
        if source is not None:
            base = stored_spec(read_checkpoint(source), source)
    spec = spec_from_args(args, base=base)
    if base is not None and spec.model.method != base.model.method:
        raise ValueError(
            f"--resume: {args.out} holds a '{base.model.method}' run, not "
            f"'{spec.model.method}'; resume it without --method (or with --method "
            f"{base.model.method}), or train '{spec.model.method}' in a new --out."
        )
    if spec.model.method is None:
        if args.resume and base is None:
            raise ValueError(
                f"--resume: nothing to resume in {args.out} (no last.ckpt or best.ckpt); "
                "drop --resume and pass --method NAME to start a run there."
            )
        raise ValueError(
            "no method given: pass --method NAME (e.g. joint or dmil) or set model.method "
            "in the --config file."
        )
    return spec


def _run(args: argparse.Namespace) -> int:
    from dmil.evaluation.experiment import run_experiment
    from dmil.evaluation.outputs import prepare_out_dir

    if args.overwrite and args.resume:
        raise ValueError("--overwrite and --resume exclude each other; pass one of them.")
    spec = build_spec(args)
    if not (args.overwrite or args.resume):
        # An occupied --out fails here, before any data is loaded or process launched.
        prepare_out_dir(args.out)
    _check_precision(spec.train)
    from dmil.training.fabric import configure_threads

    configure_threads(args.num_threads, "train")
    metrics = run_experiment(
        spec,
        out_dir=args.out,
        data_dir=args.data_dir,
        overwrite=args.overwrite,
        resume=args.resume,
    )
    if metrics:  # rank zero only
        print(format_summary(metrics, out=args.out))
    return 0


def format_summary(metrics: dict[str, Any], *, out: str | None = None) -> str:
    """A few readable lines for the terminal."""
    test = metrics["test"]
    lines = [
        f"{metrics['method']} on {metrics['dataset']} (seed {metrics['seed']}): "
        f"test accuracy {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f}"
        + (
            f", synergy indicator {test['synergy_indicator']:.4f}"
            if test.get("synergy_indicator") is not None
            else ""
        )
    ]
    if "val" in metrics:
        lines.append(f"  val accuracy {metrics['val']['accuracy']:.4f}")
    if "split_sizes" in metrics:
        sizes = metrics["split_sizes"]
        lines.append(f"  samples: train {sizes['train']}, val {sizes['val']}, test {sizes['test']}")
    if test.get("per_modality_accuracy"):
        mods = ", ".join(f"{k} {v:.4f}" for k, v in test["per_modality_accuracy"].items())
        lines.append(f"  per-modality accuracy: {mods}")
    if test.get("by_interaction"):
        parts = ", ".join(
            f"{k} {v['accuracy']:.4f} (n={v['n']})" if v["accuracy"] is not None else f"{k} - (n=0)"
            for k, v in test["by_interaction"].items()
        )
        lines.append(f"  by interaction ({metrics.get('interaction_source', '?')}): {parts}")
    if "epochs_run" in metrics:
        lines.append(
            f"  epochs {metrics['epochs_run']} (best {metrics['best_epoch']}), "
            f"{metrics['train_seconds']:.1f} s, {metrics['samples_per_second']:.0f} samples/s"
        )
    if out is not None:
        lines.append(f"  written to {out}")
    return "\n".join(lines)
