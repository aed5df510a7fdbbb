"""``dmil train``: train one paradigm on one dataset and write its results.

Settings are layered: the defaults of :class:`~dmil.training.TrainConfig`, then a YAML
file (``--config``), then the flags given on the command line. With ``--resume`` and an
existing ``last.ckpt``, the settings stored in it replace the defaults.

A YAML file may hold these sections (all optional)::

    train:   {epochs: 40, lr: 1.0e-3, patience: 10, ...}   # TrainConfig fields
    model:   {encoder: mlp, embed_dim: 64, method_kwargs: {}, encoder_kwargs: {}}
    data:    {options: {n_samples: 2000}, val_size: 0.15, standardize: true}
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from dmil.training.config import ACCELERATORS, PRECISIONS, STRATEGIES, TrainConfig

__all__ = ["add_parser", "load_yaml_config", "parse_key_values", "run"]

#: Command-line flags that map one-to-one onto TrainConfig fields.
_TRAIN_FLAGS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "weight_decay": "weight_decay",
    "optimizer": "optimizer",
    "scheduler": "scheduler",
    "patience": "patience",
    "seed": "seed",
    "device": "accelerator",
    "devices": "devices",
    "strategy": "strategy",
    "precision": "precision",
}
_YAML_SECTIONS = ("train", "model", "data")


def parse_key_values(items: list[str] | None, *, flag: str) -> dict[str, Any]:
    """Turn ``["k=v", ...]`` into a dict; values are read as YAML scalars (numbers,
    booleans, lists)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} expects KEY=VALUE, found {item!r}.")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def load_yaml_config(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a YAML settings file with optional ``train``, ``model`` and ``data`` sections."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--config file not found: {file}")
    content = yaml.safe_load(file.read_text()) or {}
    if not isinstance(content, dict):
        raise ValueError(f"{file}: expected a mapping with sections {list(_YAML_SECTIONS)}.")
    unknown = sorted(set(content) - set(_YAML_SECTIONS))
    if unknown:
        raise ValueError(
            f"{file}: unknown section(s) {unknown}; valid sections: {list(_YAML_SECTIONS)}."
        )
    for key, value in content.items():
        if not isinstance(value, dict):
            raise ValueError(f"{file}: section '{key}' must be a mapping, found {value!r}.")
    return {k: dict(content.get(k) or {}) for k in _YAML_SECTIONS}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``train`` subcommand."""
    p = sub.add_parser(
        "train",
        help="train one paradigm on one dataset",
        description="Train a paradigm with the Fabric engine (early stopping and model "
        "selection on the validation split), then write metrics.json, predictions.csv, "
        "metrics.csv, best.ckpt and last.ckpt into --out.",
    )
    p.add_argument("--dataset", required=True, help="registered dataset name (dmil datasets)")
    p.add_argument(
        "--method", required=True, help="paradigm name, e.g. joint (an unknown name lists them all)"
    )
    p.add_argument("--out", required=True, help="run directory (new or empty)")
    p.add_argument(
        "--encoder",
        default=None,
        help="encoder name, or one per modality separated by commas (default mlp)",
    )
    p.add_argument("--embed-dim", type=int, default=None, help="encoder output width (64)")
    p.add_argument("--config", default=None, help="YAML file with train/model/data sections")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="global batch size")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--optimizer", default=None, help="adamw or sgd")
    p.add_argument("--scheduler", default=None, help="cosine, plateau or none")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seeds data generation, split, initialisation and shuffling",
    )
    p.add_argument("--device", default=None, help=f"accelerator: {', '.join(ACCELERATORS)}")
    p.add_argument("--devices", type=int, default=None, help="number of devices / processes")
    p.add_argument("--strategy", default=None, help=f"one of {', '.join(STRATEGIES)}")
    p.add_argument("--precision", default=None, help=f"one of {', '.join(PRECISIONS)}")
    p.add_argument("--data-dir", default=None, help="data directory (default $DMIL_DATA_DIR)")
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
        default="auto",
        choices=["auto", "true", "estimated", "none"],
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
        help="torch intra-op CPU threads (default: torch's choice)",
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


def _check_names(method: str, encoder: str | list[str]) -> None:
    from dmil.models import available_encoders, available_methods

    methods = available_methods()
    if method.replace("_", "-") not in methods:
        raise ValueError(f"unknown method '{method}'; known methods: {', '.join(methods)}.")
    encoders = available_encoders()
    for name in [encoder] if isinstance(encoder, str) else encoder:
        if name not in encoders:
            raise ValueError(f"unknown encoder '{name}'; known encoders: {', '.join(encoders)}.")


def _train_config(args: argparse.Namespace, yaml_train: dict[str, Any]) -> TrainConfig:
    from dmil.training.checkpoint import read_checkpoint

    base: dict[str, Any] = TrainConfig().to_dict()
    last = Path(args.out) / "last.ckpt"
    if args.resume and last.is_file():
        base.update(read_checkpoint(last)["config"])
    base.update(yaml_train)
    for flag, key in _TRAIN_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            base[key] = value
    if args.no_progress:
        base["progress"] = False
    if args.tensorboard:
        try:
            import torch.utils.tensorboard  # noqa: F401
        except ImportError:
            raise ValueError(
                "--tensorboard needs the tensorboard package: pip install 'dmil[tensorboard]'"
            ) from None
        base["tensorboard"] = True
    if base.get("accelerator") == "gpu":
        base["accelerator"] = "cuda"
    return TrainConfig.from_dict(base)


def run(args: argparse.Namespace) -> int:
    """Train, evaluate on the test split, write the run files and print a summary."""
    from dmil.data.registry import dataset_info
    from dmil.evaluation.experiment import run_experiment
    from dmil.evaluation.outputs import prepare_out_dir

    if args.config:
        sections = load_yaml_config(args.config)
    else:
        sections = {k: {} for k in _YAML_SECTIONS}
    model_section = dict(sections["model"])
    data_section = dict(sections["data"])
    dataset_info(args.dataset)  # unknown names list the known ones
    encoder: Any = model_section.pop("encoder", "mlp")
    if args.encoder is not None:
        encoder = args.encoder
    if isinstance(encoder, str) and "," in encoder:
        encoder = [e.strip() for e in encoder.split(",")]
    _check_names(args.method, encoder)
    if args.overwrite and args.resume:
        raise ValueError("--overwrite and --resume exclude each other; pass one of them.")
    if not (args.overwrite or args.resume):
        # An occupied --out fails here, before any data is loaded or process launched.
        prepare_out_dir(args.out)
    config = _train_config(args, sections["train"])
    if args.num_threads is not None:
        import torch

        if args.num_threads < 1:
            raise ValueError(
                f"--num-threads: expected a positive integer, found {args.num_threads}."
            )
        torch.set_num_threads(args.num_threads)

    data_options = dict(data_section.pop("options", {}) or {})
    data_options.update(parse_key_values(args.data_option, flag="--data-option"))
    method_kwargs = dict(model_section.pop("method_kwargs", {}) or {})
    method_kwargs.update(parse_key_values(args.method_option, flag="--method-option"))
    embed_dim = model_section.pop("embed_dim", 64)
    if args.embed_dim is not None:
        embed_dim = args.embed_dim
    encoder_kwargs = model_section.pop("encoder_kwargs", None)
    if model_section:
        raise ValueError(
            f"--config: unknown model setting(s) {sorted(model_section)}; valid: encoder, "
            "embed_dim, method_kwargs, encoder_kwargs."
        )
    split = {
        k: data_section.pop(k)
        for k in ("val_size", "test_size", "standardize")
        if k in data_section
    }
    if args.no_standardize:
        split["standardize"] = False
    if data_section:
        raise ValueError(
            f"--config: unknown data setting(s) {sorted(data_section)}; valid: options, "
            "val_size, test_size, standardize."
        )

    metrics = run_experiment(
        dataset=args.dataset,
        method=args.method,
        config=config,
        out_dir=args.out,
        encoder=encoder,
        embed_dim=int(embed_dim),
        method_kwargs=method_kwargs,
        encoder_kwargs=encoder_kwargs,
        data_options=data_options,
        data_dir=args.data_dir,
        interactions=args.interactions,
        overwrite=args.overwrite,
        resume=args.resume,
        **split,
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
