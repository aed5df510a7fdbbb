"""Command-line flags -> :class:`~dmil.spec.ExperimentSpec`, shared by ``dmil train``,
``dmil run`` and ``dmil bench``.

Settings are layered: the spec's defaults, then a base (a checkpoint's stored spec when
resuming), then the ``--config`` file, then the flags given on the command line. Only
flags the user actually gave override anything (their parser defaults are ``None``).
Importing this module imports neither torch nor the rest of dmil.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

#: Help of every command's ``--data-dir`` (the fallback is
#: :data:`dmil.data.registry.DEFAULT_DATA_DIR`, spelled out so the parser imports no torch).
DATA_DIR_HELP = (
    "data directory (default $DMIL_DATA_DIR, else ../shared/data from the current directory)"
)

if TYPE_CHECKING:
    from dmil.spec import ExperimentSpec

__all__ = ["TRAIN_FLAGS", "add_data_flags", "parse_key_values", "spec_from_args", "spec_overrides"]

#: Flags that map one-to-one onto TrainConfig fields (attribute -> field).
TRAIN_FLAGS: dict[str, str] = {
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


def add_data_flags(p: argparse.ArgumentParser) -> None:
    """``--dataset NAME`` / ``--data FILE`` (mutually exclusive) and ``--data-dir``."""
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--dataset",
        default=None,
        help="registered dataset name (dmil datasets); without --dataset, --data or a "
        "--config data section: synthetic-mixed",
    )
    src.add_argument(
        "--data", default=None, metavar="FILE", help="data file: LSMI-layout .pt or dmil .npz"
    )
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)


def parse_key_values(items: list[str] | None, *, flag: str) -> dict[str, Any]:
    """Turn ``["k=v", ...]`` into a dict; values are read as YAML scalars (numbers,
    booleans, lists)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} expects KEY=VALUE, found {item!r}.")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def _get(args: argparse.Namespace, name: str) -> Any:
    return getattr(args, name, None)


def spec_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The spec sections set by the flags in ``args`` (flags not given are left out)."""
    train: dict[str, Any] = {}
    for attr, key in TRAIN_FLAGS.items():
        value = _get(args, attr)
        if value is not None:
            train[key] = "cuda" if key == "accelerator" and value == "gpu" else value
    if _get(args, "no_progress"):
        train["progress"] = False
    if _get(args, "tensorboard"):
        try:
            import torch.utils.tensorboard  # noqa: F401
        except ImportError:
            raise ValueError(
                "--tensorboard needs the tensorboard package: pip install 'dmil[tensorboard]'"
            ) from None
        train["tensorboard"] = True
    data: dict[str, Any] = {}
    if _get(args, "dataset") is not None:
        data["dataset"] = args.dataset
    if _get(args, "data") is not None:
        data["file"] = args.data
    options = parse_key_values(_get(args, "data_option"), flag="--data-option")
    if options:
        data["options"] = options
    if _get(args, "interactions") is not None:
        data["interactions"] = args.interactions
    if _get(args, "no_standardize"):
        data["standardize"] = False
    model: dict[str, Any] = {}
    if _get(args, "method") is not None:
        model["method"] = args.method.lower()
    if _get(args, "encoder") is not None:
        model["encoder"] = args.encoder
    if _get(args, "embed_dim") is not None:
        model["embed_dim"] = args.embed_dim
    kwargs = parse_key_values(_get(args, "method_option"), flag="--method-option")
    if kwargs:
        model["method_kwargs"] = kwargs
    return {k: v for k, v in (("data", data), ("model", model), ("train", train)) if v}


def spec_from_args(
    args: argparse.Namespace,
    *,
    base: ExperimentSpec | None = None,
    file_sections: dict[str, Any] | None = None,
) -> ExperimentSpec:
    """The effective command-line spec: ``base`` (default: the spec's defaults), then
    the ``--config`` file (or ``file_sections`` already read from it), then the flags.

    Raises
    ------
    ValueError
        Naming the file or flag and the key for every invalid or unknown setting.
    """
    from dmil.spec import ExperimentSpec, read_yaml

    spec = base if base is not None else ExperimentSpec()
    config = _get(args, "config")
    if file_sections is None and config:
        file_sections = read_yaml(config)
    if file_sections:
        spec = spec.override(file_sections, source=f"--config {config}")
    return spec.override(spec_overrides(args), source="command-line flags")
