"""One epoch of a stage: the stage's loss, the optimisation steps, the validation pass.

An optimisation step is ``model(inputs)`` -> :func:`stage_loss` -> ``fabric.backward`` ->
``model.on_after_backward`` -> optional clipping -> ``optimizer.step``; in one process on
one device at full precision the plain module and optimiser are called instead of their
Fabric wrappers (:func:`direct_step`), which computes the same values with less Python
per step.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch.nn import functional as F

from dmil.models.base import MultimodalModel
from dmil.training.config import TrainConfig
from dmil.training.stage_data import StageData
from dmil.training.stages import StagePlan, StageSpec, check_loss_terms, monitored_component

if TYPE_CHECKING:
    from lightning.fabric import Fabric

__all__ = ["LossSum", "StageRun", "direct_step", "stage_loss", "train_epoch", "validate"]


def _monitored_logits(output: Any, monitor: str) -> torch.Tensor:
    """The logits a stage is judged by (see :data:`dmil.training.stages.MONITORS`)."""
    if monitor == "logits":
        return output.logits
    name = monitored_component(monitor)
    if name is not None:
        components = output.component_logits or {}
        if name not in components:
            raise ValueError(
                f"stage monitor '{monitor}': the model returns no component '{name}'; its "
                f"components: {', '.join(components) or 'none'}."
            )
        return components[name]
    if not output.modality_logits:
        raise ValueError(
            "stage monitor 'modality_mean' needs a model that returns modality_logits."
        )
    return torch.stack([F.log_softmax(m.float(), dim=1) for m in output.modality_logits]).mean(0)


def validate(
    fabric: Fabric,
    model: Any,
    loader: Any,
    *,
    monitor: str = "logits",
    embedded: bool = False,
) -> tuple[float, float]:
    """Accuracy and mean cross-entropy over a whole loader.

    Every process evaluates the whole split (the split is not sharded), so all
    processes reach the same early-stopping decision.

    Parameters
    ----------
    fabric : lightning.fabric.Fabric
        Moves each batch to the device.
    model : MultimodalModel or its Fabric wrapper
        Called as ``model(inputs)``; set to evaluation mode here.
    loader : iterable of batches
        Batches ``(*inputs, target)``, the whole validation split.
    monitor : {"logits", "modality_mean", "component:<name>"}
        Which prediction is measured.
    embedded : bool
        The loader yields encoder outputs (a stage with cached encoders).

    Returns
    -------
    accuracy, loss : float
    """
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    kwargs = {"embedded": True} if embedded else {}
    with torch.no_grad():
        for batch in loader:
            *inputs, target = fabric.to_device(batch)
            logits = _monitored_logits(model(list(inputs), **kwargs), monitor).float()
            loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=1) == target).sum())
            total += int(target.numel())
    if total == 0:
        raise ValueError("validation split is empty; early stopping needs validation data.")
    return correct / total, loss_sum / total


def stage_loss(
    model: MultimodalModel,
    output: Any,
    target: torch.Tensor,
    stage: StageSpec,
    sample_targets: Mapping[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The loss a stage minimises: the model's own loss, or ``sum_t w_t * term_t``.

    Raises
    ------
    ValueError
        If the stage weights a term the model does not produce (listing those it does).
    """
    if stage.loss_weights is None:
        return model.loss(output, target)
    terms = model.loss_terms(output, target, **dict(sample_targets or {}))
    check_loss_terms(model, stage, set(terms) | set(getattr(model, "loss_term_names", ())))
    total: torch.Tensor | None = None
    for name, weight in stage.loss_weights.items():
        if weight == 0 or name not in terms:
            continue
        part = weight * terms[name]
        total = part if total is None else total + part
    if total is None:
        raise ValueError(
            f"stage '{stage.name}': every weighted loss term is zero or absent; nothing to "
            "minimise."
        )
    return total


def direct_step(fabric: Fabric, fmodel: Any, foptimizer: Any, raw_model: Any) -> bool:
    """Whether a training step may call the plain module and optimiser directly.

    True in one process on one device (``SingleDeviceStrategy``: the Fabric module
    wraps ``raw_model`` itself) with a precision plugin that converts neither inputs
    nor outputs and steps the optimiser plainly (``32-true``: Lightning's base
    ``Precision``), and no Fabric callbacks. There Fabric's module wrapper computes
    ``raw_model(inputs)`` under ``fabric.autocast()`` and adds a hook to every output
    tensor that only checks that ``fabric.backward`` is used (this loop always uses
    it), and its optimiser wrapper calls ``optimizer.step()``: calling both directly
    computes the same values without their per-step Python cost. ``fabric.backward``
    is kept. Every other set-up (DDP, precisions that convert inputs or outputs, loss
    scaling) keeps the wrappers.
    """
    from lightning.fabric.plugins.precision import Precision
    from lightning.fabric.strategies import SingleDeviceStrategy, Strategy

    strategy = fabric.strategy
    kind = type(strategy.precision)
    return bool(
        fabric.world_size == 1
        and isinstance(strategy, SingleDeviceStrategy)
        and getattr(fmodel, "module", None) is raw_model
        and getattr(foptimizer, "optimizer", None) is not None
        and kind.convert_input is Precision.convert_input
        and kind.convert_output is Precision.convert_output
        and kind.optimizer_step is Precision.optimizer_step
        and type(strategy).optimizer_step is Strategy.optimizer_step
        and not getattr(fabric, "_callbacks", [None])
    )


class LossSum:
    """Running ``sum_j loss_j * B_j`` and ``sum_j B_j`` in float64, added in step order.

    The per-step losses stay where they are (no synchronisation per step) until
    :meth:`totals` reads them, in one transfer.
    """

    def __init__(self) -> None:
        self._losses: list[torch.Tensor] = []
        self._sizes: list[int] = []
        self.loss_sum = 0.0
        self.seen = 0.0

    def add(self, loss: torch.Tensor, size: int) -> None:
        self._losses.append(loss.detach())
        self._sizes.append(size)

    def totals(self) -> tuple[float, float]:
        if self._losses:
            values = torch.stack(self._losses).double().tolist()
            for value, size in zip(values, self._sizes, strict=True):
                self.loss_sum += value * size
                self.seen += size
            self._losses.clear()
            self._sizes.clear()
        return self.loss_sum, self.seen


@dataclass
class StageRun:
    """One stage as it trains: its settings, plan, optimiser, schedule, Fabric wrappers
    and loaders.

    Attributes
    ----------
    direct : bool
        Whether the steps call the plain module (under ``fabric.autocast()``) and
        optimiser instead of their Fabric wrappers; only where that is the same
        computation (:func:`direct_step`).
    """

    index: int
    stage: StageSpec
    config: TrainConfig
    plan: StagePlan
    optimizer: Any
    scheduler: Any
    fmodel: Any
    foptimizer: Any
    direct: bool
    data: StageData


def forward_options(model: MultimodalModel, stage: StageSpec, *, embedded: bool) -> dict:
    """Keyword arguments of a training step's forward: ``embedded`` on cached encoder
    outputs, and the stage's weighted loss terms for models that skip the rest
    (``supports_terms``)."""
    options: dict[str, Any] = {"embedded": True} if embedded else {}
    if stage.loss_weights is not None and getattr(model, "supports_terms", False):
        options["terms"] = frozenset(n for n, w in stage.loss_weights.items() if w != 0)
    return options


def train_epoch(
    fabric: Fabric, current: StageRun, *, raw_model: MultimodalModel, bar: Any
) -> tuple[float, int, float]:
    """One pass over the stage's loader: forward, loss, backward, hook, clipping, step.

    Parameters
    ----------
    fabric : lightning.fabric.Fabric
        Device placement, autocast, backward, gradient clipping and the sum over
        processes.
    current : StageRun
        The stage being trained.
    raw_model : MultimodalModel
        The plain module inside ``current.fmodel``.
    bar : tqdm
        The progress bar (its postfix shows the running loss).

    Returns
    -------
    train_loss : float
        Mean training loss over every sample of every process.
    n_seen : int
        Samples processed by all processes.
    step_seconds : float
        Wall time of the optimisation steps (this process).
    """
    data, stage, config, direct = current.data, current.stage, current.config, current.direct
    fmodel, foptimizer = current.fmodel, current.foptimizer
    current.plan.set_modes(raw_model, training=True)
    kwargs = forward_options(raw_model, stage, embedded=data.embedded)
    n_extra = len(data.target_names)
    forward = raw_model if direct else fmodel
    optimizer = foptimizer.optimizer if direct else foptimizer
    autocast = fabric.autocast if direct else contextlib.nullcontext
    device = fabric.device
    sums = LossSum()
    start = time.perf_counter()
    for step, batch in enumerate(data.loader, start=1):
        if not direct or any(t.device != device for t in batch):
            batch = fabric.to_device(batch)
        *inputs, target = batch[: len(batch) - n_extra]
        extras = dict(zip(data.target_names, batch[len(batch) - n_extra :], strict=True))
        with autocast():
            output = forward(list(inputs), **kwargs)  # ModelOutput: logits (B, C), ...
        loss = stage_loss(raw_model, output, target, stage, extras)
        optimizer.zero_grad(set_to_none=True)
        fabric.backward(loss)
        raw_model.on_after_backward(output, target)
        if config.grad_clip is not None:
            fabric.clip_gradients(fmodel, foptimizer, max_norm=config.grad_clip)
        optimizer.step()
        sums.add(loss, int(target.shape[0]))
        if step % config.log_every == 0 and not bar.disable:
            loss_sum, seen = sums.totals()
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", refresh=False)
    step_seconds = time.perf_counter() - start
    loss_sum, seen = sums.totals()
    # Summed over processes, so every rank sees (and acts on) the same value.
    totals = fabric.all_reduce(
        torch.tensor([loss_sum, seen], dtype=torch.float64, device=device), reduce_op="sum"
    )
    return float(totals[0] / totals[1]), int(totals[1]), step_seconds
