"""Optimiser and learning-rate schedule from a :class:`TrainConfig`."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dmil.training.config import TrainConfig

__all__ = ["build_optimizer", "build_scheduler", "current_lr", "step_scheduler"]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW or SGD (with momentum) over the trainable parameters of ``model``.

    AdamW uses PyTorch's fused implementation (one kernel for every parameter instead of
    several per parameter) when every parameter is a floating-point tensor on the CPU or
    a CUDA device; it computes the same update and is several times cheaper for models
    with many small tensors.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters; nothing to optimise.")
    if config.optimizer == "adamw":
        fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
        return torch.optim.AdamW(
            params, lr=config.lr, weight_decay=config.weight_decay, fused=fused or None
        )
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> Any:
    """A learning-rate scheduler stepped once per epoch.

    ``cosine`` anneals to zero over ``config.epochs``; ``plateau`` multiplies the rate by
    ``scheduler_factor`` after ``scheduler_patience`` epochs without a better validation
    accuracy; ``none`` keeps it constant (a no-op scheduler, so checkpoints always hold
    a scheduler state).
    """
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max",
            factor=config.scheduler_factor,
            patience=config.scheduler_patience,
        )
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def step_scheduler(scheduler: Any, *, val_accuracy: float) -> None:
    """Advance the schedule by one epoch (``plateau`` watches the validation accuracy)."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_accuracy)
    else:
        scheduler.step()


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])
