"""The training loop: explicit epochs on Lightning Fabric, selection on validation only.

A run is a list of stages (:mod:`dmil.training.stages`; one stage unless the config
gives several). A stage freezes and unfreezes modules, starts a fresh optimiser and
schedule, and runs epochs until its budget or its early stopping ends it; then its best
validation weights are loaded and start the next stage. One epoch is: set the sampler's
epoch (seeded permutation), take optimiser steps (``model(inputs)`` -> the stage's loss
-> ``fabric.backward`` -> ``model.on_after_backward`` -> optional clipping ->
``optimizer.step``), measure validation loss and accuracy, step the schedule, update the
stage's early-stopping state, write ``best.ckpt`` when validation improved and
``last.ckpt`` always, and append a row to ``metrics.csv``. The test split never enters
this module.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from dmil.data.container import MultimodalDataset
from dmil.models.base import MultimodalModel
from dmil.training.batches import InMemoryBatches, eval_loader, train_loader
from dmil.training.checkpoint import (
    capture_rng_states,
    find_resume_checkpoint,
    load_state_into,
    read_checkpoint,
    restore_rng_states,
    save_checkpoint,
)
from dmil.training.config import TrainConfig
from dmil.training.fabric import build_fabric
from dmil.training.metrics_log import MetricsLog
from dmil.training.optim import build_optimizer, build_scheduler, current_lr, step_scheduler
from dmil.training.stages import (
    StagePlan,
    StageSpec,
    check_loss_terms,
    monitored_component,
    plan_stage,
)

if TYPE_CHECKING:
    from lightning.fabric import Fabric

__all__ = ["TRAJECTORY_FIELDS", "FitResult", "check_stages", "fit", "validate"]

logger = logging.getLogger(__name__)

#: Settings that change what a run computes; a resumed run must use the stored values.
TRAJECTORY_FIELDS: tuple[str, ...] = (
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "weight_decay",
    "momentum",
    "scheduler",
    "scheduler_patience",
    "scheduler_factor",
    "patience",
    "grad_clip",
    "seed",
    "stages",
    "precision",
    "eval_batch_size",
)


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : MultimodalModel
        The trained model (the plain module, not the Fabric wrapper) holding the weights
        of the best validation epoch, on the run's device.
    best_epoch : int
        1-based epoch whose weights were kept.
    best_val_accuracy, best_val_loss : float
        Validation accuracy and cross-entropy at ``best_epoch``.
    epochs_run : int
        Epochs trained in total (including those before a resume).
    stopped_early : bool
        Whether early stopping ended training (with stages: any stage) before its epochs.
    train_seconds : float
        Wall time of all epochs (optimisation and validation, not checkpoint writing),
        summed over interruptions.
    samples_per_second : float
        Training throughput: samples processed (all processes) per second of
        optimisation steps.
    history : list of dict
        One row per epoch, as in ``metrics.csv``.
    best_checkpoint, last_checkpoint : Path or None
        Checkpoint files (``None`` without ``out_dir``).
    resumed_from_epoch : int
        Epochs already done when this call started (0 for a fresh run).
    wrapped_model : object
        The same model as set up by Fabric (applies the precision settings; use it for
        predictions on the run's device).
    stages : list of dict
        Per stage: ``name``, ``epochs_run``, ``best_epoch`` (global), ``best_val_accuracy``,
        ``kept_previous`` (the stage has ``improve_on_previous`` and none of its epochs
        beat the previous stage's best, whose weights it kept), ``train_seconds`` and
        whether the encoders' outputs were cached.
    """

    model: MultimodalModel
    best_epoch: int
    best_val_accuracy: float
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    train_seconds: float
    samples_per_second: float
    history: list[dict[str, Any]] = field(default_factory=list)
    best_checkpoint: Path | None = None
    last_checkpoint: Path | None = None
    resumed_from_epoch: int = 0
    wrapped_model: Any = None
    stages: list[dict[str, Any]] = field(default_factory=list)


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


def check_stages(model: MultimodalModel, config: TrainConfig) -> None:
    """Check every stage of ``config`` against ``model`` before any training: its
    settings, module patterns, monitor and loss-term names (:func:`plan_stage`).

    Raises
    ------
    ValueError
        Naming the stage and the setting.
    """
    for stage in config.resolved_stages():
        try:
            config.for_stage(stage)
        except ValueError as exc:
            raise ValueError(f"stage '{stage.name}': {exc}") from None
        plan_stage(model, stage)


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


@dataclass
class _StageData:
    """The loaders of one stage (raw inputs, or cached encoder outputs)."""

    loader: Any
    sampler: Any
    val_loader: Any
    embedded: bool
    target_names: tuple[str, ...] = ()


def _encode_all(
    fabric: Fabric, model: MultimodalModel, data: MultimodalDataset, batch_size: int
) -> list[torch.Tensor]:
    """Outputs of the (frozen, evaluation-mode) encoders for every sample, plus labels."""
    chunks: list[list[torch.Tensor]] = []
    was_training = model.training
    model.eval()
    # Iterating a DataLoader draws from the global generator; keep its state, so a stage
    # with cached encoders sees the same random numbers as one without, and a resumed
    # run the same as an uninterrupted one.
    rng = torch.get_rng_state()
    # Inputs in the parameters' dtype ("-true" precisions convert the weights), outputs
    # kept in theirs, so the cached values are what the encoders give inside the loop.
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    with torch.no_grad(), fabric.autocast():
        for batch in eval_loader(data, batch_size=batch_size):
            *inputs, _ = fabric.to_device(batch)
            if dtype is not None:
                inputs = [x.to(dtype) if x.is_floating_point() else x for x in inputs]
            chunks.append(list(model.encode(list(inputs))))
    torch.set_rng_state(rng)
    model.train(was_training)
    tensors = [torch.cat([c[m] for c in chunks]) for m in range(len(chunks[0]))]
    tensors.append(data.labels.to(fabric.device))
    return tensors


def _stage_data(
    fabric: Fabric,
    model: MultimodalModel,
    plan: StagePlan,
    stage: StageSpec,
    train: MultimodalDataset,
    val: MultimodalDataset,
    config: TrainConfig,
    sample_targets: Mapping[str, torch.Tensor] | None = None,
) -> _StageData:
    world = fabric.world_size
    per_process = config.batch_size // world
    embedded = bool(
        stage.cache_frozen and plan.encoders_frozen and getattr(model, "supports_embedded", False)
    )
    if embedded:
        train_data: Any = InMemoryBatches(_encode_all(fabric, model, train, config.eval_batch_size))
        val_data: Any = InMemoryBatches(_encode_all(fabric, model, val, config.eval_batch_size))
        logger.info("stage '%s': encoders frozen; training on their cached outputs", stage.name)
    else:
        train_data, val_data = train, val
    names = tuple(sample_targets or {})
    if names:
        # Per-sample training targets ride along with the labels: [x_1..x_M, y, t_1..].
        base = train_data if embedded else InMemoryBatches.from_dataset(train)
        extra = [sample_targets[k].to(base.tensors[0].device) for k in names]
        train_data = InMemoryBatches([*base.tensors, *extra])
    loader, sampler = train_loader(
        train_data,
        batch_size=per_process,
        seed=config.seed,
        rank=fabric.global_rank,
        world_size=world,
        device=fabric.device,
    )
    # Not wrapped by fabric.setup_dataloaders: its wrapper numbers epochs by how often the
    # loader was iterated in this process, which restarts at 0 after a resume. The epoch
    # is set explicitly and batches are moved with fabric.to_device.
    return _StageData(
        loader=loader,
        sampler=sampler,
        val_loader=eval_loader(val_data, batch_size=config.eval_batch_size),
        embedded=embedded,
        target_names=names,
    )


def _direct_step(fabric: Fabric, fmodel: Any, foptimizer: Any, raw_model: Any) -> bool:
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


class _LossSum:
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


def _train_epoch(
    fabric: Fabric,
    fmodel: Any,
    foptimizer: Any,
    data: _StageData,
    *,
    raw_model: MultimodalModel,
    plan: StagePlan,
    stage: StageSpec,
    config: TrainConfig,
    bar: Any,
    direct: bool = False,
) -> tuple[float, int, float]:
    """One pass over the stage's loader: forward, loss, backward, hook, clipping, step.

    Parameters
    ----------
    direct : bool
        Call the plain module (under ``fabric.autocast()``) and optimiser instead of
        their Fabric wrappers; only where that is the same computation
        (:func:`_direct_step`).

    Returns
    -------
    train_loss : float
        Mean training loss over every sample of every process.
    n_seen : int
        Samples processed by all processes.
    step_seconds : float
        Wall time of the optimisation steps (this process).
    """
    plan.set_modes(raw_model, training=True)
    kwargs = {"embedded": True} if data.embedded else {}
    n_extra = len(data.target_names)
    forward = raw_model if direct else fmodel
    optimizer = foptimizer.optimizer if direct else foptimizer
    autocast = fabric.autocast if direct else contextlib.nullcontext
    device = fabric.device
    sums = _LossSum()
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


def _improved(acc: float, loss: float, best: Mapping[str, Any]) -> bool:
    """Higher validation accuracy, or the same accuracy with a lower loss."""
    if best["epoch"] == 0:
        return True
    if acc > best["val_accuracy"]:
        return True
    return acc == best["val_accuracy"] and loss < best["val_loss"]


def _fresh_best() -> dict[str, Any]:
    return {
        "epoch": 0,
        "stage": 0,
        "val_accuracy": -math.inf,
        "val_loss": math.inf,
        "bad_epochs": 0,
        "finished": False,
        "stopped_early": False,
    }


def _current_stage_fields(value: Any) -> Any:
    """``value`` with every ``stages`` list of stage mappings re-parsed, so stages stored
    before a stage setting existed compare equal to the same stages now (the new setting
    at its default, which is the old behaviour)."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if key == "stages" and isinstance(item, (list, tuple)):
                try:
                    item = [StageSpec.from_dict(s).to_dict() for s in item]
                except (TypeError, ValueError):
                    pass  # not stages after all: compared as stored
            out[key] = _current_stage_fields(item)
        return out
    return value


def _check_resume(
    content: Mapping[str, Any],
    *,
    config: TrainConfig,
    model_config: Mapping[str, Any] | None,
    extra: Mapping[str, Any] | None,
    path: Path,
) -> None:
    stored = _current_stage_fields(content["config"])
    requested = config.to_dict()
    diffs = [
        f"{k}: checkpoint {stored.get(k)!r}, requested {requested[k]!r}"
        for k in TRAJECTORY_FIELDS
        if stored.get(k) != requested[k]
    ]
    if diffs:
        raise ValueError(
            f"cannot resume from {path}: the training settings differ ({'; '.join(diffs)}). "
            "Resume with the stored settings or start a new run with --overwrite."
        )
    for what, requested_part in (("model_config", model_config), ("extra", extra)):
        if dict(_current_stage_fields(content[what])) != dict(requested_part or {}):
            raise ValueError(
                f"cannot resume from {path}: {what} differs (checkpoint {content[what]!r}, "
                f"requested {dict(requested_part or {})!r}). Resume with the same dataset, "
                "method and model settings, or start a new run with --overwrite."
            )


def fit(
    model: MultimodalModel,
    train: MultimodalDataset,
    val: MultimodalDataset,
    *,
    config: TrainConfig,
    fabric: Fabric | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    model_config: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    sample_targets: Mapping[str, torch.Tensor] | None = None,
) -> FitResult:
    """Train ``model`` on ``train`` stage by stage, selecting epochs by accuracy on ``val``.

    Parameters
    ----------
    model : MultimodalModel
        A freshly built model (seed the generators before building it for a
        reproducible initialisation). It is set up with Fabric here.
    train, val : MultimodalDataset
        Training and validation splits; their modalities (``(N, ...)`` each) are what
        the model takes.
    config : TrainConfig
        Every training setting, including the stages (``config.resolved_stages()``).
    fabric : Fabric, optional
        An already launched Fabric object; built from ``config`` when omitted.
    out_dir : path, optional
        Directory for ``best.ckpt``, ``last.ckpt`` and ``metrics.csv``. Without it
        nothing is written and the best weights are kept in memory.
    resume : bool
        Continue from ``out_dir/last.ckpt`` when it exists (the stored training settings,
        ``model_config`` and ``extra`` must match the requested ones), inside whichever
        stage it was written. A resumed run computes exactly what the uninterrupted run
        would have computed on the same hardware.
    model_config : mapping, optional
        Keyword arguments that rebuild the model (stored in the checkpoints).
    extra : mapping, optional
        Anything else to store in the checkpoints (e.g. the dataset and split seed).
    sample_targets : mapping name -> Tensor (N_train, ...), optional
        Per-sample training targets aligned with ``train`` (e.g. DMIL's estimated
        interaction composition for its gate); each batch passes them to
        ``model.loss_terms`` under their names in stages that weight loss terms.

    Returns
    -------
    FitResult
        With the weights of the best validation epoch of the last stage (of an
        earlier stage when the last one has ``improve_on_previous`` and never beat it).
    """
    if fabric is None:
        fabric = build_fabric(config)
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the directory holding last.ckpt).")
    out = None if out_dir is None else Path(out_dir)
    last_path = None if out is None else out / "last.ckpt"
    best_path = None if out is None else out / "best.ckpt"
    world = fabric.world_size
    if config.batch_size % world:
        raise ValueError(
            f"batch_size {config.batch_size} is not divisible by the {world} processes; "
            "choose a multiple of the number of devices."
        )
    stages = config.resolved_stages()
    raw_model = model
    check_stages(raw_model, config)

    run: dict[str, Any] = {"stage": 0, "stage_epoch": 0, "epoch": 0}
    best = _fresh_best()
    history: list[dict[str, Any]] = []
    timing = {"train_seconds": 0.0, "step_seconds": 0.0, "samples": 0}
    stage_log: list[dict[str, Any]] = []
    resumed: Mapping[str, Any] | None = None
    # last.ckpt, or best.ckpt when last.ckpt is missing or damaged (e.g. a full disk).
    resume_path = find_resume_checkpoint(out) if resume and out is not None else None
    if resume_path is not None:
        resumed = read_checkpoint(resume_path)
        _check_resume(
            resumed, config=config, model_config=model_config, extra=extra, path=resume_path
        )
        load_state_into(resumed, model=raw_model, source=str(resume_path))
        run = {
            "stage": int(resumed["stage"]["index"]),
            "stage_epoch": int(resumed["stage"]["epoch"]),
            "epoch": int(resumed["epoch"]),
        }
        best = dict(resumed["best"])
        history = [dict(r) for r in resumed["history"]]
        timing = dict(resumed["timing"])
        stage_log = [dict(r) for r in resumed["stage"].get("log", [])]
        logger.info(
            "resuming from %s after epoch %d (stage '%s', epoch %d of it)",
            resume_path,
            run["epoch"],
            stages[run["stage"]].name,
            run["stage_epoch"],
        )
    elif resume:
        logger.warning("resume: no checkpoint in %s; starting a fresh run", out)
    resumed_from = run["epoch"]

    log = MetricsLog(out, enabled=fabric.is_global_zero, tensorboard=config.tensorboard)
    bar = tqdm(
        total=config.epochs,
        initial=run["epoch"],
        desc=stages[run["stage"]].name,
        unit="epoch",
        disable=not (config.progress and fabric.is_global_zero),
        leave=False,
    )
    fmodel: Any = None
    best_state: dict[str, torch.Tensor] | None = None
    try:
        for index in range(run["stage"], len(stages)):
            stage = stages[index]
            scfg = config.for_stage(stage)
            plan = plan_stage(raw_model, stage)
            plan.apply(raw_model)
            optimizer = build_optimizer(raw_model, scfg)
            scheduler = build_scheduler(optimizer, scfg)
            # A fresh wrapper per stage: DDP must see which parameters now train. A
            # wrapper around another module (DDP's, whose reducer hooks sit in reference
            # cycles) is collected before the next is made; a plain one-device wrapper
            # holds no hooks, and a full collection costs about 0.33 s per stage.
            if fmodel is not None:
                cycles = getattr(fmodel, "module", None) is not raw_model
                fmodel = None
                if cycles:
                    gc.collect()
            fmodel = fabric.setup_module(raw_model)
            foptimizer = fabric.setup_optimizers(optimizer)
            direct = _direct_step(fabric, fmodel, foptimizer, raw_model)
            if resumed is not None and index == run["stage"]:
                load_state_into(
                    resumed,
                    model=raw_model,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    source=str(resume_path),
                )
                restore_rng_states(resumed["rng_states"])
            else:
                # A stage that must improve on the previous one starts from its best (the
                # weights it starts with); any other stage from scratch.
                carried = dict(best) if stage.improve_on_previous else _fresh_best()
                best.clear()
                best.update(carried, bad_epochs=0, finished=False, stopped_early=False)
                run["stage_epoch"] = 0
            run["stage"] = index
            t_stage = time.perf_counter()
            data = _stage_data(fabric, raw_model, plan, stage, train, val, scfg, sample_targets)
            bar.set_description(stage.name)

            def state(
                epoch: int,
                stage_epoch: int,
                *,
                _index: int = index,
                _stage: StageSpec = stage,
                _optimizer: Any = optimizer,
                _scheduler: Any = scheduler,
            ) -> dict[str, Any]:
                return {
                    "model": raw_model,
                    "optimizer": _optimizer,
                    "scheduler": _scheduler,
                    "epoch": epoch,
                    "stage": {
                        "index": _index,
                        "name": _stage.name,
                        "epoch": stage_epoch,
                        "count": len(stages),
                        "log": [dict(r) for r in stage_log],
                    },
                    "best": dict(best),
                    "rng_states": capture_rng_states(),
                    "config": config.to_dict(),
                    "model_config": dict(model_config or {}),
                    "history": [dict(r) for r in history],
                    "timing": dict(timing),
                    "extra": dict(extra or {}),
                }

            if index > 0 and run["stage_epoch"] == 0 and last_path is not None:
                # The previous stage's best weights, a fresh optimiser: resumable from here.
                save_checkpoint(fabric, last_path, state(run["epoch"], 0))

            while not best["finished"] and run["stage_epoch"] < scfg.epochs:
                run["epoch"] += 1
                run["stage_epoch"] += 1
                epoch = run["epoch"]
                t_epoch = time.perf_counter()
                data.sampler.set_epoch(epoch - 1)
                train_loss, n_seen, step_seconds = _train_epoch(
                    fabric,
                    fmodel,
                    foptimizer,
                    data,
                    raw_model=raw_model,
                    plan=plan,
                    stage=stage,
                    config=scfg,
                    bar=bar,
                    direct=direct,
                )
                if not math.isfinite(train_loss):
                    raise FloatingPointError(
                        f"training loss became {train_loss} in epoch {epoch} (stage "
                        f"'{stage.name}'); lower the learning rate or check the inputs."
                    )
                val_acc, val_loss = validate(
                    fabric, fmodel, data.val_loader, monitor=stage.monitor, embedded=data.embedded
                )
                if fabric.world_size > 1:
                    # Rank 0's figures drive every process's schedule, best and stop, so
                    # they can never disagree (BatchNorm statistics are per process).
                    val_acc, val_loss = fabric.broadcast((val_acc, val_loss), src=0)
                epoch_seconds = time.perf_counter() - t_epoch
                lr = current_lr(optimizer)
                step_scheduler(scheduler, val_accuracy=val_acc)
                improved = _improved(val_acc, val_loss, best)
                if improved:
                    best.update(
                        epoch=epoch,
                        stage=index,
                        val_accuracy=val_acc,
                        val_loss=val_loss,
                        bad_epochs=0,
                    )
                    if out is None:
                        best_state = {
                            k: v.detach().clone() for k, v in raw_model.state_dict().items()
                        }
                else:
                    best["bad_epochs"] += 1
                stop = scfg.patience > 0 and best["bad_epochs"] >= scfg.patience
                best["stopped_early"] = bool(stop and run["stage_epoch"] < scfg.epochs)
                best["finished"] = bool(stop or run["stage_epoch"] >= scfg.epochs)
                timing["train_seconds"] += epoch_seconds
                timing["step_seconds"] += step_seconds
                timing["samples"] += n_seen
                row = {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "val_accuracy": val_acc,
                    "lr": lr,
                    "best_epoch": best["epoch"],
                    "samples_per_second": n_seen / max(step_seconds, 1e-12),
                    "epoch_seconds": epoch_seconds,
                }
                if config.stages:
                    row = {"stage": stage.name, **row}
                history.append(row)
                if best["finished"]:
                    stage_log.append(
                        {
                            "name": stage.name,
                            "epochs_run": run["stage_epoch"],
                            "best_epoch": best["epoch"],
                            "best_val_accuracy": best["val_accuracy"],
                            "kept_previous": best.get("stage", index) != index,
                            "stopped_early": best["stopped_early"],
                            "train_seconds": sum(
                                r["epoch_seconds"] for r in history if r.get("stage") == stage.name
                            )
                            if config.stages
                            else timing["train_seconds"],
                            "cached_encoders": data.embedded,
                        }
                    )
                # Best first, then last: a kill between the two leaves last.ckpt one epoch
                # behind, and the resumed run recomputes (and rewrites) the same best.ckpt.
                if improved and best_path is not None:
                    save_checkpoint(fabric, best_path, state(epoch, run["stage_epoch"]))
                if last_path is not None:
                    save_checkpoint(fabric, last_path, state(epoch, run["stage_epoch"]))
                log.write(history)
                bar.update(1)
                bar.set_postfix(
                    loss=f"{train_loss:.4f}",
                    val_acc=f"{val_acc:.4f}",
                    best=best["epoch"],
                    refresh=True,
                )
                # The progress bar already shows this; without it, log it at INFO.
                logger.log(
                    logging.INFO if bar.disable and fabric.is_global_zero else logging.DEBUG,
                    "%sepoch %d/%d: train_loss %.4f val_loss %.4f val_acc %.4f%s",
                    f"[{stage.name}] " if config.stages else "",
                    epoch,
                    bar.total,
                    train_loss,
                    val_loss,
                    val_acc,
                    " *" if improved else "",
                )
            if best["epoch"] == 0:
                raise RuntimeError(
                    f"stage '{stage.name}' finished without a single validated epoch."
                )
            best_state = _load_stage_best(
                raw_model, best_path=best_path, best_state=best_state, best=best, index=index
            )
            logger.debug(
                "stage '%s' done in %.1f s: best epoch %d, val_acc %.4f",
                stage.name,
                time.perf_counter() - t_stage,
                best["epoch"],
                best["val_accuracy"],
            )
    finally:
        bar.close()
        log.close()

    for param in raw_model.parameters():
        param.requires_grad_(True)
    raw_model.eval()
    samples_per_second = timing["samples"] / max(timing["step_seconds"], 1e-12)
    return FitResult(
        model=raw_model,
        best_epoch=int(best["epoch"]),
        best_val_accuracy=float(best["val_accuracy"]),
        best_val_loss=float(best["val_loss"]),
        epochs_run=len(history),
        stopped_early=any(s["stopped_early"] for s in stage_log)
        if stage_log
        else bool(best["stopped_early"]),
        train_seconds=float(timing["train_seconds"]),
        samples_per_second=float(samples_per_second),
        history=history,
        best_checkpoint=best_path,
        last_checkpoint=last_path,
        resumed_from_epoch=resumed_from,
        wrapped_model=fmodel,
        stages=stage_log,
    )


def _load_stage_best(
    model: MultimodalModel,
    *,
    best_path: Path | None,
    best_state: dict[str, torch.Tensor] | None,
    best: Mapping[str, Any],
    index: int,
) -> dict[str, torch.Tensor] | None:
    """Load the weights of the finished stage's best epoch into ``model`` (an earlier
    stage's, when the stage had to improve on it and did not)."""
    if best_path is not None:
        content = read_checkpoint(best_path)
        selected = int(best.get("stage", index))
        if int(content["epoch"]) != best["epoch"] or int(content["stage"]["index"]) != selected:
            raise RuntimeError(
                f"{best_path} holds epoch {content['epoch']} of stage "
                f"{content['stage']['index']} but the run selected epoch {best['epoch']} of "
                f"stage {selected}; the run directory is inconsistent. Start a new run."
            )
        load_state_into(content, model=model, source=str(best_path))
        return None
    if best_state is not None:
        model.load_state_dict(best_state)
    return best_state
