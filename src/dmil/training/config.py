"""Training settings: one dataclass with one visible block of defaults.

Every knob of the training engine lives in :class:`TrainConfig`; the CLI and YAML files
only override fields of it. The config is stored in every checkpoint (as a plain dict),
so a run can be inspected and continued from the file alone.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dmil.training.stages import StageSpec, load_preset, scale_stages, stages_from_list

__all__ = [
    "ACCELERATORS",
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULERS",
    "STRATEGIES",
    "TrainConfig",
]

OPTIMIZERS: tuple[str, ...] = ("adamw", "sgd")
SCHEDULERS: tuple[str, ...] = ("cosine", "plateau", "none")
ACCELERATORS: tuple[str, ...] = ("cpu", "cuda", "auto")
STRATEGIES: tuple[str, ...] = ("auto", "ddp", "ddp_find_unused_parameters_true")
_FLOAT_FIELDS = ("lr", "weight_decay", "momentum", "scheduler_factor", "grad_clip")
PRECISIONS: tuple[str, ...] = (
    "32-true",
    "64-true",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
)


def _named_preset(stages: Any) -> tuple[StageSpec, ...] | None:
    """The stages of the shipped preset ``stages`` names (``None`` when it is no string).

    Raises
    ------
    ValueError
        For an unknown preset name, naming the setting.
    """
    if not isinstance(stages, str):
        return None
    try:
        return load_preset(stages)
    except ValueError as exc:
        raise ValueError(f"TrainConfig.stages: {exc}") from None


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    Attributes
    ----------
    epochs : int
        Maximum number of passes over the training split.
    batch_size : int
        Global batch size (summed over processes); each of ``world_size`` processes
        takes ``batch_size / world_size`` samples per step, so runs with different
        numbers of devices see the same batches.
    eval_batch_size : int
        Batch size for validation and prediction.
    optimizer : {"adamw", "sgd"}
    lr, weight_decay, momentum : float
        Optimiser settings (``momentum`` is used by SGD only).
    scheduler : {"cosine", "plateau", "none"}
        Learning-rate schedule, stepped once per epoch: cosine annealing to zero over
        ``epochs``, or a reduction by ``scheduler_factor`` after ``scheduler_patience``
        epochs without a better validation accuracy.
    patience : int
        Early stopping: stop after this many epochs without a better validation
        accuracy (ties broken by a lower validation loss). ``0`` disables it.
    grad_clip : float or None
        Clip the global gradient norm to this value (``None``: no clipping).
    seed : int
        Seeds model initialisation, per-epoch shuffling and every random draw.
    accelerator : {"cpu", "cuda", "auto"}
    devices : int
        Number of devices (processes) to train on.
    strategy : {"auto", "ddp", "ddp_find_unused_parameters_true"}
    precision : str
        A Lightning precision string, e.g. ``"32-true"`` or ``"bf16-mixed"``.
    deterministic : bool
        Ask torch for deterministic kernels (useful on CUDA; CPU kernels used here
        already are).
    log_every : int
        Update the progress bar's running loss every this many optimiser steps.
    progress : bool
        Show a progress bar (rank zero only).
    tensorboard : bool
        Also write TensorBoard scalars (needs the ``tensorboard`` package).
    stages : tuple of StageSpec, or str
        Staged training (see :mod:`dmil.training.stages`): the stages run in order, each
        with its own modules, loss weights, optimiser settings and epochs (fields a stage
        leaves unset are taken from this config; ``epochs`` is then the sum of the
        stages' epochs). Empty: one stage with this config's settings. A string names a
        shipped preset (``dmil-paper``, ...), rescaled to ``epochs``; :meth:`from_dict`
        (and so a YAML file) without ``epochs`` keeps the preset's own total instead. A
        named preset is used as written, for every method (the adapted stage 1 that the
        ablations without a synergy part get applies only to their default stages).
    """

    # ---- optimisation ---------------------------------------------------------------
    epochs: int = 30
    batch_size: int = 64
    eval_batch_size: int = 512
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    scheduler: str = "cosine"
    scheduler_patience: int = 3
    scheduler_factor: float = 0.5
    patience: int = 10
    grad_clip: float | None = None
    seed: int = 0
    # ---- hardware ---------------------------------------------------------------------
    accelerator: str = "auto"
    devices: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    deterministic: bool = False
    # ---- output -----------------------------------------------------------------------
    log_every: int = 10
    progress: bool = True
    tensorboard: bool = False
    # ---- staged training ----------------------------------------------------------------
    stages: tuple[StageSpec, ...] = ()

    def __post_init__(self) -> None:
        preset = _named_preset(self.stages)
        if preset is not None:  # a shipped preset by name, fitted to the budget
            epochs = self.epochs
            if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
                raise ValueError(
                    f"TrainConfig.epochs: expected a positive integer, found {epochs!r}."
                )
            object.__setattr__(self, "stages", scale_stages(preset, epochs))
        object.__setattr__(self, "stages", stages_from_list(self.stages))
        if self.stages and self.epochs != sum(s.epochs for s in self.stages):
            raise ValueError(
                f"TrainConfig.epochs ({self.epochs}) must equal the sum of the stages' epochs "
                f"({sum(s.epochs for s in self.stages)}) when stages are given; leave "
                "train.epochs out (it is then their sum) or set it to their sum, and pass "
                "--epochs N to rescale them to N (in Python: scale_stages())."
            )
        choices = {
            "optimizer": OPTIMIZERS,
            "scheduler": SCHEDULERS,
            "accelerator": ACCELERATORS,
            "strategy": STRATEGIES,
            "precision": PRECISIONS,
        }
        for key, allowed in choices.items():
            value = getattr(self, key)
            if value not in allowed:
                raise ValueError(
                    f"TrainConfig.{key}: expected one of {list(allowed)}, found {value!r}."
                )
        positive = ("epochs", "batch_size", "eval_batch_size", "devices", "log_every")
        for key in positive:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"TrainConfig.{key}: expected a positive integer, found {value!r}."
                )
        for key in ("patience", "scheduler_patience", "seed"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"TrainConfig.{key}: expected a non-negative integer, found {value!r}."
                )
        for key in ("lr", "weight_decay", "momentum", "scheduler_factor"):
            value = getattr(self, key)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(
                    f"TrainConfig.{key}: expected a finite non-negative number, found {value!r}."
                )
        if self.lr == 0:
            raise ValueError("TrainConfig.lr: expected a positive learning rate, found 0.")
        if not 0 < self.scheduler_factor < 1:
            raise ValueError(
                f"TrainConfig.scheduler_factor: expected a value in (0, 1), "
                f"found {self.scheduler_factor}."
            )
        if self.grad_clip is not None and not (
            math.isfinite(self.grad_clip) and self.grad_clip > 0
        ):
            raise ValueError(
                f"TrainConfig.grad_clip: expected a finite positive number or None, "
                f"found {self.grad_clip!r}."
            )
        if self.batch_size % self.devices:
            raise ValueError(
                f"TrainConfig.batch_size ({self.batch_size}) must be divisible by devices "
                f"({self.devices}): each process takes batch_size / devices samples per step. "
                "Choose a batch size that is a multiple of the number of devices."
            )
        if self.devices > 1 and self.strategy == "auto":
            raise ValueError(
                f"TrainConfig.strategy: devices={self.devices} needs an explicit distributed "
                "strategy; pass strategy='ddp' (--strategy ddp)."
            )

    # ------------------------------------------------------------------ conversions
    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (stored in checkpoints and metrics.json)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["stages"] = [s.to_dict() for s in self.stages]
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build a config from a mapping; unknown keys raise a ValueError listing the
        valid ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown training setting(s) {unknown}; valid settings: {sorted(known)}."
            )
        values = dict(values)
        if values.get("stages") and "epochs" not in values:
            # Stages without a budget: the budget is their total (a preset's own).
            stages = _named_preset(values["stages"]) or stages_from_list(values["stages"])
            values.update(stages=stages, epochs=sum(s.epochs for s in stages))
        for key in _FLOAT_FIELDS:
            # YAML 1.1 reads "1e-3" (no dot) as a string; accept it as the number it spells.
            if isinstance(values.get(key), str):
                try:
                    values[key] = float(values[key])
                except ValueError:
                    raise ValueError(
                        f"TrainConfig.{key}: expected a number, found {values[key]!r}."
                    ) from None
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return self.from_dict({**self.to_dict(), **changes})

    def with_stages(self, stages: tuple[StageSpec, ...] | list[Any]) -> TrainConfig:
        """A copy running ``stages`` (``epochs`` becomes their total)."""
        parsed = stages_from_list(stages)
        return self.replace(stages=parsed, epochs=sum(s.epochs for s in parsed))

    def resolved_stages(self) -> tuple[StageSpec, ...]:
        """The stages to run: ``stages``, or one stage ``"train"`` from this config."""
        if self.stages:
            return self.stages
        return (StageSpec(name="train", epochs=self.epochs),)

    def for_stage(self, stage: StageSpec) -> TrainConfig:
        """This config with a stage's overrides applied (and no stages), which is what
        the optimiser, schedule and early stopping of that stage use."""
        values = {**self.to_dict(), **stage.overrides(), "stages": ()}
        return self.from_dict(values)
