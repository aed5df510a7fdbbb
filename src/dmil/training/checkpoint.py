"""Checkpoints: atomic, rank-zero writes and loads that fail loudly.

A checkpoint is one file written with :meth:`Fabric.save` holding exactly the keys in
:data:`CHECKPOINT_KEYS`:

* ``model``, ``optimizer``, ``scheduler``: state dicts;
* ``epoch``: the number of finished epochs, over all stages;
* ``stage``: where the run is in its stages (``index``, ``name``, ``epoch`` finished
  within the stage, ``count`` of stages);
* ``best``: the early-stopping state (best epoch, its validation accuracy and loss,
  epochs since an improvement, whether training has finished);
* ``rng_states``: Python, NumPy, torch (and CUDA) generator states after ``epoch``;
* ``config``: the :class:`~dmil.training.config.TrainConfig` as a dict;
* ``model_config``: the keyword arguments that rebuild the model
  (``build_model(**model_config)``);
* ``history``: one dict of metrics per finished epoch;
* ``timing``: accumulated training seconds and samples;
* ``extra``: what the caller needs to re-create the data (dataset name, options, split
  seed), stored as given;
* ``format``: the layout version.

The file is first written to a temporary name beside the target and then renamed, so a
process killed mid-write never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.fabric import Fabric
from torch import nn

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_KEYS",
    "capture_rng_states",
    "load_state_into",
    "read_checkpoint",
    "restore_rng_states",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 2
CHECKPOINT_KEYS: tuple[str, ...] = (
    "format",
    "model",
    "optimizer",
    "scheduler",
    "epoch",
    "stage",
    "best",
    "rng_states",
    "config",
    "model_config",
    "history",
    "timing",
    "extra",
)


def capture_rng_states() -> dict[str, Any]:
    """The state of every global generator, in a form ``torch.load(weights_only=True)``
    accepts (tensors, tuples, dicts and numbers only)."""
    np_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: Mapping[str, Any]) -> None:
    """Restore generator states captured by :func:`capture_rng_states`."""
    random.setstate(states["python"])
    np_state = states["numpy"]
    np.random.set_state(
        {
            "bit_generator": np_state["bit_generator"],
            "state": {
                "key": np.asarray(np_state["key"].cpu().numpy(), dtype=np.uint32),
                "pos": int(np_state["pos"]),
            },
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        }
    )
    torch.set_rng_state(states["torch"].cpu())
    if "cuda" in states and torch.cuda.is_available():
        cuda_states = list(states["cuda"])
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            logger.warning(
                "checkpoint holds %d CUDA generator states but %d devices are visible; "
                "CUDA generators are not restored",
                len(cuda_states),
                torch.cuda.device_count(),
            )


def save_checkpoint(fabric: Fabric, path: str | os.PathLike[str], state: Mapping[str, Any]) -> Path:
    """Write a checkpoint atomically; call on every process (rank zero writes).

    Parameters
    ----------
    fabric : Fabric
        The run's Fabric object (it decides which rank writes).
    path : path
        Target file; its directory is created if needed.
    state : mapping
        Exactly the keys of :data:`CHECKPOINT_KEYS` except ``format``. Modules,
        optimisers and schedulers are stored as their state dicts.

    Returns
    -------
    Path
        The checkpoint path.
    """
    target = Path(path)
    expected = set(CHECKPOINT_KEYS) - {"format"}
    _check_keys(set(state), expected, what=f"state to save to {target}")
    if fabric.is_global_zero:
        target.parent.mkdir(parents=True, exist_ok=True)
    fabric.barrier()
    tmp = target.with_name(f".{target.name}.tmp")
    fabric.save(tmp, {"format": CHECKPOINT_FORMAT, **state})
    if fabric.is_global_zero:
        os.replace(tmp, target)
    fabric.barrier()
    return target


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint file onto the CPU and check it has exactly the expected keys.

    Parameters
    ----------
    path : path
        A checkpoint file, or a run directory holding ``best.ckpt``.

    Returns
    -------
    dict
        The checkpoint's contents (tensors on the CPU).
    """
    file = Path(path)
    if file.is_dir():
        file = file / "best.ckpt"
    if not file.is_file():
        raise FileNotFoundError(
            f"checkpoint not found: {file}. Pass a checkpoint file or a run directory "
            "written by `dmil train` (it holds best.ckpt and last.ckpt)."
        )
    try:
        content = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{file} is not a readable dmil checkpoint: {exc}") from exc
    if not isinstance(content, dict):
        raise ValueError(
            f"{file} is not a dmil checkpoint: expected a dict, found {type(content).__name__}."
        )
    _check_keys(set(content), set(CHECKPOINT_KEYS), what=f"checkpoint {file}")
    if content["format"] != CHECKPOINT_FORMAT:
        raise ValueError(
            f"checkpoint {file} has format {content['format']!r}; this version of dmil "
            f"reads format {CHECKPOINT_FORMAT}."
        )
    return content


def load_state_into(
    content: Mapping[str, Any],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    source: str = "checkpoint",
) -> None:
    """Load model (and optionally optimiser and scheduler) states, strictly.

    Missing or unexpected parameter names raise a ValueError that lists them, instead of
    silently leaving parameters at their initial values.
    """
    try:
        model.load_state_dict(content["model"], strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"{source} does not fit the model (missing or unexpected keys, or shape "
            f"mismatches): {exc}"
        ) from exc
    if optimizer is not None:
        try:
            optimizer.load_state_dict(content["optimizer"])
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{source}: optimiser state does not fit: {exc}") from exc
    if scheduler is not None:
        scheduler.load_state_dict(content["scheduler"])


def _check_keys(found: set[str], expected: set[str], *, what: str) -> None:
    missing = sorted(expected - found)
    unexpected = sorted(found - expected)
    if missing or unexpected:
        raise ValueError(
            f"{what}: keys do not match the dmil checkpoint layout; missing {missing}, "
            f"unexpected {unexpected}. Expected exactly {sorted(expected)}."
        )
