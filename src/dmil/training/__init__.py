"""Training engine on Lightning Fabric: settings, the loop, checkpoints."""

from dmil.training.checkpoint import (
    CHECKPOINT_KEYS,
    load_state_into,
    read_checkpoint,
    save_checkpoint,
)
from dmil.training.config import TrainConfig
from dmil.training.fabric import build_fabric, seed_everything
from dmil.training.loop import FitResult, fit, validate

__all__ = [
    "CHECKPOINT_KEYS",
    "FitResult",
    "TrainConfig",
    "build_fabric",
    "fit",
    "load_state_into",
    "read_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "validate",
]
