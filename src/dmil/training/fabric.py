"""The one place where the Lightning Fabric object is built from the settings."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch
from lightning.fabric import Fabric

from dmil.training.config import TrainConfig

__all__ = ["build_fabric", "seed_everything"]

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices).

    Parameters
    ----------
    seed : int
        A non-negative seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, found {seed!r}.")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    os.environ["PL_GLOBAL_SEED"] = str(int(seed))


def build_fabric(config: TrainConfig, *, launch: bool = True) -> Fabric:
    """Build (and by default launch) the Fabric object described by ``config``.

    Parameters
    ----------
    config : TrainConfig
        Uses ``accelerator``, ``devices``, ``strategy``, ``precision`` and
        ``deterministic``.
    launch : bool
        Call :meth:`Fabric.launch`. With ``strategy="ddp"`` and ``devices > 1`` this
        starts the other processes by re-running the current command line; every
        process then continues from here with its own rank.

    Returns
    -------
    lightning.fabric.Fabric
    """
    if config.accelerator == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "accelerator 'cuda' was requested but torch sees no CUDA device "
            f"(torch {torch.__version__}). Use accelerator 'cpu' or 'auto'."
        )
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    fabric = Fabric(
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        precision=config.precision,
    )
    if launch:
        fabric.launch()
    logger.debug(
        "fabric: accelerator=%s devices=%d strategy=%s precision=%s rank=%d/%d",
        config.accelerator,
        config.devices,
        config.strategy,
        config.precision,
        fabric.global_rank,
        fabric.world_size,
    )
    return fabric
