"""The training loop: explicit epochs on Lightning Fabric, selection on validation only.

One epoch is: set the sampler's epoch (seeded permutation), take optimiser steps
(``model(inputs)`` -> ``model.loss`` -> ``fabric.backward`` -> ``model.on_after_backward``
-> optional clipping -> ``optimizer.step``), measure validation loss and accuracy, step
the schedule, update the early-stopping state, write ``best.ckpt`` when validation
improved and ``last.ckpt`` always, and append a row to ``metrics.csv``. The test split
never enters this module.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from lightning.fabric import Fabric
from torch.nn import functional as F
from tqdm.auto import tqdm

from dmil.data.container import MultimodalDataset
from dmil.models.base import MultimodalModel
from dmil.training.batches import eval_loader, train_loader
from dmil.training.checkpoint import (
    capture_rng_states,
    load_state_into,
    read_checkpoint,
    restore_rng_states,
    save_checkpoint,
)
from dmil.training.config import TrainConfig
from dmil.training.fabric import build_fabric
from dmil.training.metrics_log import MetricsLog
from dmil.training.optim import build_optimizer, build_scheduler, current_lr, step_scheduler

__all__ = ["TRAJECTORY_FIELDS", "FitResult", "fit", "validate"]

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
        Whether early stopping ended training before ``config.epochs``.
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


def validate(fabric: Fabric, model: Any, loader: Any) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model.logits`` over a whole loader.

    Every process evaluates the whole split (the split is not sharded), so all
    processes reach the same early-stopping decision.

    Returns
    -------
    accuracy, loss : float
    """
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for batch in loader:
            *inputs, target = fabric.to_device(batch)
            logits = model(list(inputs)).logits.float()
            loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=1) == target).sum())
            total += int(target.numel())
    if total == 0:
        raise ValueError("validation split is empty; early stopping needs validation data.")
    return correct / total, loss_sum / total


def _train_epoch(
    fabric: Fabric,
    fmodel: Any,
    foptimizer: Any,
    loader: Any,
    *,
    raw_model: MultimodalModel,
    config: TrainConfig,
    bar: Any,
) -> tuple[float, int, float]:
    """One pass over ``loader``: forward, loss, backward, hook, clipping, step.

    Returns
    -------
    train_loss : float
        Mean training loss over every sample of every process.
    n_seen : int
        Samples processed by all processes.
    step_seconds : float
        Wall time of the optimisation steps (this process).
    """
    fmodel.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=fabric.device)
    seen = torch.zeros((), dtype=torch.float64, device=fabric.device)
    start = time.perf_counter()
    for step, batch in enumerate(loader, start=1):
        *inputs, target = fabric.to_device(batch)
        output = fmodel(list(inputs))  # ModelOutput: logits (B, C), modality_logits M x (B, C)
        loss = raw_model.loss(output, target)
        foptimizer.zero_grad(set_to_none=True)
        fabric.backward(loss)
        raw_model.on_after_backward(output, target)
        if config.grad_clip is not None:
            fabric.clip_gradients(fmodel, foptimizer, max_norm=config.grad_clip)
        foptimizer.step()
        loss_sum += loss.detach().double() * target.shape[0]
        seen += target.shape[0]
        if step % config.log_every == 0 and not bar.disable:
            bar.set_postfix(loss=f"{float(loss_sum / seen):.4f}", refresh=False)
    step_seconds = time.perf_counter() - start
    # Summed over processes, so every rank sees (and acts on) the same value.
    totals = fabric.all_reduce(torch.stack([loss_sum, seen]), reduce_op="sum")
    return float(totals[0] / totals[1]), int(totals[1]), step_seconds


def _improved(acc: float, loss: float, best: Mapping[str, Any]) -> bool:
    """Higher validation accuracy, or the same accuracy with a lower loss."""
    if best["epoch"] == 0:
        return True
    if acc > best["val_accuracy"]:
        return True
    return acc == best["val_accuracy"] and loss < best["val_loss"]


def _check_resume(
    content: Mapping[str, Any],
    *,
    config: TrainConfig,
    model_config: Mapping[str, Any] | None,
    extra: Mapping[str, Any] | None,
    path: Path,
) -> None:
    stored = content["config"]
    diffs = [
        f"{k}: checkpoint {stored.get(k)!r}, requested {getattr(config, k)!r}"
        for k in TRAJECTORY_FIELDS
        if stored.get(k) != getattr(config, k)
    ]
    if diffs:
        raise ValueError(
            f"cannot resume from {path}: the training settings differ ({'; '.join(diffs)}). "
            "Resume with the stored settings or start a new run with --overwrite."
        )
    for what, requested in (("model_config", model_config), ("extra", extra)):
        if dict(content[what]) != dict(requested or {}):
            raise ValueError(
                f"cannot resume from {path}: {what} differs (checkpoint {content[what]!r}, "
                f"requested {dict(requested or {})!r}). Resume with the same dataset, method "
                "and model settings, or start a new run with --overwrite."
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
) -> FitResult:
    """Train ``model`` on ``train``, selecting the epoch by accuracy on ``val``.

    Parameters
    ----------
    model : MultimodalModel
        A freshly built model (seed the generators before building it for a
        reproducible initialisation). It is set up with Fabric here.
    train, val : MultimodalDataset
        Training and validation splits; their modalities (``(N, ...)`` each) are what
        the model takes.
    config : TrainConfig
        Every training setting.
    fabric : Fabric, optional
        An already launched Fabric object; built from ``config`` when omitted.
    out_dir : path, optional
        Directory for ``best.ckpt``, ``last.ckpt`` and ``metrics.csv``. Without it
        nothing is written and the best weights are kept in memory.
    resume : bool
        Continue from ``out_dir/last.ckpt`` when it exists (the stored training settings,
        ``model_config`` and ``extra`` must match the requested ones). A resumed run
        computes exactly what the uninterrupted run would have computed on the same
        hardware.
    model_config : mapping, optional
        Keyword arguments that rebuild the model (stored in the checkpoints).
    extra : mapping, optional
        Anything else to store in the checkpoints (e.g. the dataset and split seed).

    Returns
    -------
    FitResult
    """
    if fabric is None:
        fabric = build_fabric(config)
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the directory holding last.ckpt).")
    out = None if out_dir is None else Path(out_dir)
    last_path = None if out is None else out / "last.ckpt"
    best_path = None if out is None else out / "best.ckpt"
    world = fabric.world_size
    per_process = config.batch_size // world
    if config.batch_size % world:
        raise ValueError(
            f"batch_size {config.batch_size} is not divisible by the {world} processes; "
            "choose a multiple of the number of devices."
        )

    raw_model = model
    optimizer = build_optimizer(raw_model, config)
    scheduler = build_scheduler(optimizer, config)
    fmodel, foptimizer = fabric.setup(raw_model, optimizer)
    loader, sampler = train_loader(
        train, batch_size=per_process, seed=config.seed, rank=fabric.global_rank, world_size=world
    )
    # Not wrapped by fabric.setup_dataloaders: its wrapper numbers epochs by how often the
    # loader was iterated in this process, which restarts at 0 after a resume. The epoch
    # is set explicitly below and batches are moved with fabric.to_device.
    val_loader = eval_loader(val, batch_size=config.eval_batch_size)

    best: dict[str, Any] = {
        "epoch": 0,
        "val_accuracy": -math.inf,
        "val_loss": math.inf,
        "bad_epochs": 0,
        "finished": False,
        "stopped_early": False,
    }
    history: list[dict[str, Any]] = []
    timing = {"train_seconds": 0.0, "step_seconds": 0.0, "samples": 0}
    start_epoch = 0
    best_state: dict[str, torch.Tensor] | None = None

    if resume and last_path is not None and last_path.is_file():
        content = read_checkpoint(last_path)
        _check_resume(
            content, config=config, model_config=model_config, extra=extra, path=last_path
        )
        load_state_into(
            content,
            model=raw_model,
            optimizer=optimizer,
            scheduler=scheduler,
            source=str(last_path),
        )
        start_epoch = int(content["epoch"])
        best = dict(content["best"])
        history = [dict(r) for r in content["history"]]
        timing = dict(content["timing"])
        restore_rng_states(content["rng_states"])
        logger.info("resuming from %s after epoch %d", last_path, start_epoch)
    elif resume:
        logger.info("no checkpoint at %s; starting a fresh run", last_path)
    resumed_from = start_epoch

    log = MetricsLog(out, enabled=fabric.is_global_zero, tensorboard=config.tensorboard)
    bar = tqdm(
        total=config.epochs,
        initial=start_epoch,
        desc="train",
        unit="epoch",
        disable=not (config.progress and fabric.is_global_zero),
        leave=False,
    )

    def state(epoch: int) -> dict[str, Any]:
        return {
            "model": raw_model,
            "optimizer": optimizer,
            "scheduler": scheduler,
            "epoch": epoch,
            "best": dict(best),
            "rng_states": capture_rng_states(),
            "config": config.to_dict(),
            "model_config": dict(model_config or {}),
            "history": [dict(r) for r in history],
            "timing": dict(timing),
            "extra": dict(extra or {}),
        }

    try:
        epoch = start_epoch
        while not best["finished"] and epoch < config.epochs:
            epoch += 1
            t_epoch = time.perf_counter()
            sampler.set_epoch(epoch - 1)
            train_loss, n_seen, step_seconds = _train_epoch(
                fabric, fmodel, foptimizer, loader, raw_model=raw_model, config=config, bar=bar
            )
            if not math.isfinite(train_loss):
                raise FloatingPointError(
                    f"training loss became {train_loss} in epoch {epoch}; lower the learning "
                    "rate or check the inputs."
                )

            val_acc, val_loss = validate(fabric, fmodel, val_loader)
            epoch_seconds = time.perf_counter() - t_epoch
            lr = current_lr(optimizer)
            step_scheduler(scheduler, val_accuracy=val_acc)
            improved = _improved(val_acc, val_loss, best)
            if improved:
                best.update(epoch=epoch, val_accuracy=val_acc, val_loss=val_loss, bad_epochs=0)
                if out is None:
                    best_state = {k: v.detach().clone() for k, v in raw_model.state_dict().items()}
            else:
                best["bad_epochs"] += 1
            stop = config.patience > 0 and best["bad_epochs"] >= config.patience
            best["stopped_early"] = bool(stop and epoch < config.epochs)
            best["finished"] = bool(stop or epoch >= config.epochs)
            timing["train_seconds"] += epoch_seconds
            timing["step_seconds"] += step_seconds
            timing["samples"] += n_seen
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "val_accuracy": val_acc,
                    "lr": lr,
                    "best_epoch": best["epoch"],
                    "samples_per_second": n_seen / max(step_seconds, 1e-12),
                    "epoch_seconds": epoch_seconds,
                }
            )
            # Best first, then last: a kill between the two leaves last.ckpt one epoch
            # behind, and the resumed run recomputes (and rewrites) the same best.ckpt.
            if improved and best_path is not None:
                save_checkpoint(fabric, best_path, state(epoch))
            if last_path is not None:
                save_checkpoint(fabric, last_path, state(epoch))
            log.write(history)
            bar.update(1)
            bar.set_postfix(
                loss=f"{train_loss:.4f}", val_acc=f"{val_acc:.4f}", best=best["epoch"], refresh=True
            )
            # The progress bar already shows this; without it, log it at INFO.
            logger.log(
                logging.INFO if bar.disable and fabric.is_global_zero else logging.DEBUG,
                "epoch %d/%d: train_loss %.4f val_loss %.4f val_acc %.4f%s",
                epoch,
                config.epochs,
                train_loss,
                val_loss,
                val_acc,
                " *" if improved else "",
            )
    finally:
        bar.close()
        log.close()

    if best["epoch"] == 0:
        raise RuntimeError("training finished without a single validated epoch.")
    if best_path is not None:
        content = read_checkpoint(best_path)
        if int(content["epoch"]) != best["epoch"]:
            raise RuntimeError(
                f"{best_path} holds epoch {content['epoch']} but the run selected epoch "
                f"{best['epoch']}; the run directory is inconsistent. Start a new run."
            )
        load_state_into(content, model=raw_model, source=str(best_path))
    elif best_state is not None:
        raw_model.load_state_dict(best_state)
    raw_model.eval()
    samples_per_second = timing["samples"] / max(timing["step_seconds"], 1e-12)
    return FitResult(
        model=raw_model,
        best_epoch=int(best["epoch"]),
        best_val_accuracy=float(best["val_accuracy"]),
        best_val_loss=float(best["val_loss"]),
        epochs_run=len(history),
        stopped_early=bool(best["stopped_early"]),
        train_seconds=float(timing["train_seconds"]),
        samples_per_second=float(samples_per_second),
        history=history,
        best_checkpoint=best_path,
        last_checkpoint=last_path,
        resumed_from_epoch=resumed_from,
        wrapped_model=fmodel,
    )
