"""Hardware set-up: the one place where the Lightning Fabric object is built from the
settings, and the CPU thread default every computing command applies.

Lightning is imported inside :func:`build_fabric`, so :func:`configure_threads` and
:func:`seed_everything` can be used by commands that never train (``dmil estimate``)
without paying for Lightning's import.
"""

from __future__ import annotations

import logging
import os
import random
from typing import TYPE_CHECKING

import numpy as np
import torch

from dmil.training.config import TrainConfig

if TYPE_CHECKING:
    from lightning.fabric import Fabric

__all__ = [
    "DEFAULT_CPU_THREADS",
    "build_fabric",
    "configure_threads",
    "seed_everything",
]

logger = logging.getLogger(__name__)

#: Intra-op CPU threads of every command unless ``--num-threads`` says otherwise. Chosen
#: by measurement (BENCHMARKS.md, "CPU threads"): the models dmil trains are small, so a
#: second thread gains little on idle cores and, when the cores are shared with other
#: work, threads waiting for busy cores made training several times slower.
DEFAULT_CPU_THREADS = 1


def configure_threads(n_threads: int | None, command: str) -> int:
    """Set torch's intra-op CPU threads for a command and return the number used.

    Parameters
    ----------
    n_threads : int or None
        The ``--num-threads`` value; ``None`` applies :data:`DEFAULT_CPU_THREADS`.
    command : str
        The command name, for the error message and the log.

    Returns
    -------
    int
        ``torch.get_num_threads()`` afterwards.
    """
    if n_threads is None:
        n_threads = DEFAULT_CPU_THREADS
    elif isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        raise ValueError(
            f"dmil {command} --num-threads: expected a positive integer, found {n_threads!r}."
        )
    if torch.get_num_threads() != n_threads:
        torch.set_num_threads(n_threads)
    logger.debug("dmil %s: %d torch CPU thread(s)", command, n_threads)
    return torch.get_num_threads()


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


def _one_log_handler() -> None:
    """Lightning gives its ``lightning`` logger a handler of its own and lets records
    propagate too; where the application has configured logging (a root handler, as the
    command line does) that prints each of its messages twice, so its own handler goes."""
    lightning = logging.getLogger("lightning")
    if logging.getLogger().hasHandlers() and lightning.propagate:
        for handler in list(lightning.handlers):
            lightning.removeHandler(handler)


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
        process then continues from here with its own rank. Processes other than rank
        zero log only warnings and errors of ``dmil``'s and Lightning's loggers, so each
        message appears once.

    Returns
    -------
    lightning.fabric.Fabric
    """
    from lightning.fabric import Fabric

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
    _one_log_handler()
    if launch:
        fabric.launch()
        if fabric.global_rank != 0:
            for name in ("dmil", "lightning"):
                package = logging.getLogger(name)
                package.setLevel(max(package.getEffectiveLevel(), logging.WARNING))
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
