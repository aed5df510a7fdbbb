"""The training loop: explicit epochs on Lightning Fabric, selection on validation only.

A run is a list of stages (:mod:`dmil.training.stages`; one stage unless the config
gives several). A stage freezes and unfreezes modules, starts a fresh optimiser and
schedule, and runs epochs until its budget or its early stopping ends it; then its best
validation weights are loaded and start the next stage. One epoch is: set the sampler's
epoch (seeded permutation), take the optimisation steps and measure validation loss and
accuracy (:mod:`dmil.training.epoch`), step the schedule, update the stage's
early-stopping state, write ``best.ckpt`` when validation improved and ``last.ckpt``
always, and append a row to ``metrics.csv``. The test split never enters this module.
"""

from __future__ import annotations

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
from tqdm.auto import tqdm

from dmil.data.container import MultimodalDataset
from dmil.models.base import MultimodalModel
from dmil.training.checkpoint import (
    capture_rng_states,
    find_resume_checkpoint,
    load_state_into,
    read_checkpoint,
    restore_rng_states,
    save_checkpoint,
)
from dmil.training.config import TrainConfig
from dmil.training.epoch import StageRun, direct_step, train_epoch, validate
from dmil.training.fabric import build_fabric
from dmil.training.metrics_log import MetricsLog
from dmil.training.optim import build_optimizer, build_scheduler, current_lr, step_scheduler
from dmil.training.stage_data import stage_data
from dmil.training.stages import StageSpec, plan_stage

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
        beat the previous stage's best, whose weights it kept), ``stopped_early``,
        ``train_seconds`` and ``cached_encoders`` (whether the encoders' outputs were
        computed once and reused).
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
    settings: list[tuple[str, Any, Any]] = []
    for k in TRAJECTORY_FIELDS:
        settings += _differences(stored.get(k), requested[k], k)
    if settings:
        raise ValueError(
            f"cannot resume from {path}: the training settings differ "
            f"({_listed(settings)}). Resume with the stored settings or start a new run "
            "with --overwrite."
        )
    # The data first: a changed dataset also changes the model's shapes, and naming the
    # dataset says why.
    leaves: list[tuple[str, Any, Any]] = []
    for what, requested_part in (("extra", extra), ("model_config", model_config)):
        stored_part = dict(_current_stage_fields(content[what]))
        leaves += _differences(stored_part, dict(requested_part or {}), what)
    # ``extra.spec`` repeats ``extra.data``; each difference is named once.
    keys = {key for key, _, _ in leaves}
    leaves = [
        leaf
        for leaf in leaves
        if not (leaf[0].startswith("extra.spec.") and leaf[0].replace(".spec", "", 1) in keys)
    ]
    if leaves:
        raise ValueError(
            f"cannot resume from {path}: {_listed(leaves)}. Resume with the same "
            "dataset, method and model settings, or start a new run with --overwrite."
        )


def _listed(leaves: list[tuple[str, Any, Any]], limit: int = 5) -> str:
    """The first ``limit`` differences as ``key: checkpoint A, requested B``, joined."""
    text = "; ".join(
        f"{k}: checkpoint {_short(a)}, requested {_short(b)}" for k, a, b in leaves[:limit]
    )
    return text if len(leaves) <= limit else f"{text}; and {len(leaves) - limit} more"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _differences(found: Any, wanted: Any, key: str) -> list[tuple[str, Any, Any]]:
    """``(dotted key, stored, requested)`` for each leaf where two nested mappings (or
    lists of equal length, as ``key[i]``) differ; a key missing on one side reads
    ``"<absent>"`` there."""
    sequences = (list, tuple)
    if isinstance(found, sequences) and isinstance(wanted, sequences) and len(found) == len(wanted):
        return [
            leaf
            for i, (a, b) in enumerate(zip(found, wanted, strict=True))
            for leaf in _differences(a, b, f"{key}[{i}]")
        ]
    if not (isinstance(found, Mapping) and isinstance(wanted, Mapping)):
        return [] if found == wanted else [(key, found, wanted)]
    out: list[tuple[str, Any, Any]] = []
    for name in sorted(set(found) | set(wanted), key=str):
        a, b = found.get(name, "<absent>"), wanted.get(name, "<absent>")
        out += _differences(a, b, f"{key}.{name}")
    return out


@dataclass
class _Progress:
    """Where a run stands: what ``last.ckpt`` stores and a resumed run starts from.

    ``stage`` is the index of the current stage, ``stage_epoch`` the epochs done in it,
    ``epoch`` those done in the whole run; ``best`` is the current stage's early-stopping
    state (:func:`_fresh_best`), ``timing`` the summed wall times and sample count, and
    ``stage_log`` one row per finished stage.
    """

    stage: int = 0
    stage_epoch: int = 0
    epoch: int = 0
    best: dict[str, Any] = field(default_factory=_fresh_best)
    history: list[dict[str, Any]] = field(default_factory=list)
    timing: dict[str, Any] = field(
        default_factory=lambda: {"train_seconds": 0.0, "step_seconds": 0.0, "samples": 0}
    )
    stage_log: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_checkpoint(cls, content: Mapping[str, Any]) -> _Progress:
        return cls(
            stage=int(content["stage"]["index"]),
            stage_epoch=int(content["stage"]["epoch"]),
            epoch=int(content["epoch"]),
            best=dict(content["best"]),
            history=[dict(r) for r in content["history"]],
            timing=dict(content["timing"]),
            stage_log=[dict(r) for r in content["stage"].get("log", [])],
        )


class _Trainer:
    """The state of one :func:`fit` call: its fixed context (model, data, settings,
    checkpoint paths) and its :class:`_Progress`."""

    def __init__(
        self,
        model: MultimodalModel,
        train: MultimodalDataset,
        val: MultimodalDataset,
        *,
        config: TrainConfig,
        fabric: Fabric,
        out: Path | None,
        model_config: Mapping[str, Any] | None,
        extra: Mapping[str, Any] | None,
        sample_targets: Mapping[str, torch.Tensor] | None,
    ) -> None:
        self.model = model
        self.train, self.val = train, val
        self.config, self.fabric = config, fabric
        self.stages = config.resolved_stages()
        self.out = out
        self.last_path = None if out is None else out / "last.ckpt"
        self.best_path = None if out is None else out / "best.ckpt"
        self.model_config, self.extra = model_config, extra
        self.sample_targets = sample_targets
        self.progress = _Progress()
        self.resumed: Mapping[str, Any] | None = None
        self.resume_path: Path | None = None
        self.fmodel: Any = None
        # Without out_dir the best weights of the current stage are kept in memory.
        self.best_state: dict[str, torch.Tensor] | None = None

    # ------------------------------------------------------------------ resume
    def resume(self) -> None:
        """Continue from ``last.ckpt`` (or ``best.ckpt`` when ``last.ckpt`` is missing or
        damaged, e.g. after a full disk) when there is one."""
        self.resume_path = find_resume_checkpoint(self.out) if self.out is not None else None
        if self.resume_path is None:
            logger.warning("resume: no checkpoint in %s; starting a fresh run", self.out)
            return
        self.resumed = read_checkpoint(self.resume_path)
        _check_resume(
            self.resumed,
            config=self.config,
            model_config=self.model_config,
            extra=self.extra,
            path=self.resume_path,
        )
        load_state_into(self.resumed, model=self.model, source=str(self.resume_path))
        self.progress = _Progress.from_checkpoint(self.resumed)
        logger.info(
            "resuming from %s after epoch %d (stage '%s', epoch %d of it)",
            self.resume_path,
            self.progress.epoch,
            self.stages[self.progress.stage].name,
            self.progress.stage_epoch,
        )
        if self.progress.stage == len(self.stages) - 1 and self.progress.best["finished"]:
            logger.info("the run in %s is complete: nothing is left to train", self.out)

    # ------------------------------------------------------------------ stages
    def run(self, bar: Any, log: MetricsLog) -> None:
        """Train every stage from the current one on."""
        for index in range(self.progress.stage, len(self.stages)):
            # One call per stage: its wrappers, optimiser and loaders are released when
            # the call returns, before the next stage builds its own.
            self._run_stage(index, bar, log)

    def _run_stage(self, index: int, bar: Any, log: MetricsLog) -> None:
        """Train stage ``index`` to its end and load its best weights."""
        current = self._open_stage(index)
        t_stage = time.perf_counter()
        bar.set_description(current.stage.name)
        if index > 0 and self.progress.stage_epoch == 0 and self.last_path is not None:
            # The previous stage's best weights, a fresh optimiser: resumable from here.
            save_checkpoint(self.fabric, self.last_path, self._state(current))
        best = self.progress.best
        while not best["finished"] and self.progress.stage_epoch < current.config.epochs:
            self._epoch(current, bar, log)
        if best["epoch"] == 0:
            raise RuntimeError(
                f"stage '{current.stage.name}' finished without a single validated epoch."
            )
        self.best_state = _load_stage_best(
            self.model,
            best_path=self.best_path,
            best_state=self.best_state,
            best=best,
            index=index,
        )
        logger.debug(
            "stage '%s' trained in %.1f s: best epoch %d, val_acc %.4f",
            current.stage.name,
            time.perf_counter() - t_stage,
            best["epoch"],
            best["val_accuracy"],
        )

    def _open_stage(self, index: int) -> StageRun:
        """Freeze and unfreeze for stage ``index``, build its optimiser, schedule and
        wrappers, restore them (and the random generators) when the run resumes inside
        it, reset the early-stopping state otherwise, and build its loaders."""
        stage = self.stages[index]
        scfg = self.config.for_stage(stage)
        plan = plan_stage(self.model, stage)
        plan.apply(self.model)
        optimizer = build_optimizer(self.model, scfg)
        scheduler = build_scheduler(optimizer, scfg)
        # A fresh wrapper per stage: DDP must see which parameters now train. A wrapper
        # around another module (DDP's, whose reducer hooks sit in reference cycles) is
        # collected before the next is made; a plain one-device wrapper holds no hooks,
        # and a full collection costs about 0.33 s per stage.
        if self.fmodel is not None:
            cycles = getattr(self.fmodel, "module", None) is not self.model
            self.fmodel = None
            if cycles:
                gc.collect()
        fmodel = self.fmodel = self.fabric.setup_module(self.model)
        foptimizer = self.fabric.setup_optimizers(optimizer)
        progress = self.progress
        if self.resumed is not None and index == progress.stage:
            load_state_into(
                self.resumed,
                model=self.model,
                optimizer=optimizer,
                scheduler=scheduler,
                source=str(self.resume_path),
            )
            restore_rng_states(self.resumed["rng_states"])
        else:
            # A stage that must improve on the previous one starts from its best (the
            # weights it starts with); any other stage from scratch.
            carried = dict(progress.best) if stage.improve_on_previous else _fresh_best()
            progress.best.clear()
            progress.best.update(carried, bad_epochs=0, finished=False, stopped_early=False)
            progress.stage_epoch = 0
        progress.stage = index
        data = stage_data(
            self.fabric, self.model, plan, stage, self.train, self.val, scfg, self.sample_targets
        )
        return StageRun(
            index=index,
            stage=stage,
            config=scfg,
            plan=plan,
            optimizer=optimizer,
            scheduler=scheduler,
            fmodel=fmodel,
            foptimizer=foptimizer,
            direct=direct_step(self.fabric, fmodel, foptimizer, self.model),
            data=data,
        )

    def _state(self, current: StageRun) -> dict[str, Any]:
        """The checkpoint content at the current epoch."""
        progress = self.progress
        return {
            "model": self.model,
            "optimizer": current.optimizer,
            "scheduler": current.scheduler,
            "epoch": progress.epoch,
            "stage": {
                "index": current.index,
                "name": current.stage.name,
                "epoch": progress.stage_epoch,
                "count": len(self.stages),
                "log": [dict(r) for r in progress.stage_log],
            },
            "best": dict(progress.best),
            "rng_states": capture_rng_states(),
            "config": self.config.to_dict(),
            "model_config": dict(self.model_config or {}),
            "history": [dict(r) for r in progress.history],
            "timing": dict(progress.timing),
            "extra": dict(self.extra or {}),
        }

    # ------------------------------------------------------------------ epochs
    def _epoch(self, current: StageRun, bar: Any, log: MetricsLog) -> None:
        """Train and validate one epoch of ``current``, update the early-stopping state,
        write the checkpoints and the metrics row."""
        fabric, progress, best = self.fabric, self.progress, self.progress.best
        stage, scfg, index = current.stage, current.config, current.index
        progress.epoch += 1
        progress.stage_epoch += 1
        epoch = progress.epoch
        t_epoch = time.perf_counter()
        current.data.sampler.set_epoch(epoch - 1)
        train_loss, n_seen, step_seconds = train_epoch(
            fabric, current, raw_model=self.model, bar=bar
        )
        if not math.isfinite(train_loss):
            raise FloatingPointError(
                f"training loss became {train_loss} in epoch {epoch} (stage "
                f"'{stage.name}'); lower the learning rate or check the inputs."
            )
        val_acc, val_loss = validate(
            fabric,
            current.fmodel,
            current.data.val_loader,
            monitor=stage.monitor,
            embedded=current.data.embedded,
        )
        if fabric.world_size > 1:
            # Rank 0's figures drive every process's schedule, best and stop, so they can
            # never disagree (BatchNorm statistics are per process).
            val_acc, val_loss = fabric.broadcast((val_acc, val_loss), src=0)
        epoch_seconds = time.perf_counter() - t_epoch
        lr = current_lr(current.optimizer)
        step_scheduler(current.scheduler, val_accuracy=val_acc)
        improved = _improved(val_acc, val_loss, best)
        if improved:
            best.update(
                epoch=epoch, stage=index, val_accuracy=val_acc, val_loss=val_loss, bad_epochs=0
            )
            if self.out is None:
                self.best_state = {
                    k: v.detach().clone() for k, v in self.model.state_dict().items()
                }
        else:
            best["bad_epochs"] += 1
        stop = scfg.patience > 0 and best["bad_epochs"] >= scfg.patience
        best["stopped_early"] = bool(stop and progress.stage_epoch < scfg.epochs)
        best["finished"] = bool(stop or progress.stage_epoch >= scfg.epochs)
        timing = progress.timing
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
        if self.config.stages:
            row = {"stage": stage.name, **row}
        progress.history.append(row)
        if best["finished"]:
            progress.stage_log.append(self._stage_summary(current))
        # Best first, then last: a kill between the two leaves last.ckpt one epoch behind,
        # and the resumed run recomputes (and rewrites) the same best.ckpt.
        if improved and self.best_path is not None:
            save_checkpoint(fabric, self.best_path, self._state(current))
        if self.last_path is not None:
            save_checkpoint(fabric, self.last_path, self._state(current))
        log.write(progress.history)
        bar.update(1)
        bar.set_postfix(
            loss=f"{train_loss:.4f}", val_acc=f"{val_acc:.4f}", best=best["epoch"], refresh=True
        )
        # The progress bar already shows this; without it, log it at INFO.
        logger.log(
            logging.INFO if bar.disable and fabric.is_global_zero else logging.DEBUG,
            "%sepoch %d/%d: train_loss %.4f val_loss %.4f val_acc %.4f%s",
            f"[{stage.name}] " if self.config.stages else "",
            epoch,
            bar.total,
            train_loss,
            val_loss,
            val_acc,
            " *" if improved else "",
        )

    def _stage_summary(self, current: StageRun) -> dict[str, Any]:
        """The ``stage_log`` row of a stage that has just finished."""
        progress, best, name = self.progress, self.progress.best, current.stage.name
        return {
            "name": name,
            "epochs_run": progress.stage_epoch,
            "best_epoch": best["epoch"],
            "best_val_accuracy": best["val_accuracy"],
            "kept_previous": best.get("stage", current.index) != current.index,
            "stopped_early": best["stopped_early"],
            "train_seconds": sum(
                r["epoch_seconds"] for r in progress.history if r.get("stage") == name
            )
            if self.config.stages
            else progress.timing["train_seconds"],
            "cached_encoders": current.data.embedded,
        }

    # ------------------------------------------------------------------ result
    def result(self, resumed_from: int) -> FitResult:
        """The finished run: every parameter trainable again, evaluation mode."""
        model, progress = self.model, self.progress
        for param in model.parameters():
            param.requires_grad_(True)
        model.eval()
        timing, best, stage_log = progress.timing, progress.best, progress.stage_log
        return FitResult(
            model=model,
            best_epoch=int(best["epoch"]),
            best_val_accuracy=float(best["val_accuracy"]),
            best_val_loss=float(best["val_loss"]),
            epochs_run=len(progress.history),
            stopped_early=any(s["stopped_early"] for s in stage_log)
            if stage_log
            else bool(best["stopped_early"]),
            train_seconds=float(timing["train_seconds"]),
            samples_per_second=float(timing["samples"] / max(timing["step_seconds"], 1e-12)),
            history=progress.history,
            best_checkpoint=self.best_path,
            last_checkpoint=self.last_path,
            resumed_from_epoch=resumed_from,
            wrapped_model=self.fmodel,
            stages=stage_log,
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
    world = fabric.world_size
    if config.batch_size % world:
        raise ValueError(
            f"batch_size {config.batch_size} is not divisible by the {world} processes; "
            "choose a multiple of the number of devices."
        )
    check_stages(model, config)
    trainer = _Trainer(
        model,
        train,
        val,
        config=config,
        fabric=fabric,
        out=None if out_dir is None else Path(out_dir),
        model_config=model_config,
        extra=extra,
        sample_targets=sample_targets,
    )
    if resume:
        trainer.resume()
    resumed_from = trainer.progress.epoch
    log = MetricsLog(trainer.out, enabled=fabric.is_global_zero, tensorboard=config.tensorboard)
    bar = tqdm(
        total=config.epochs,
        initial=trainer.progress.epoch,
        desc=trainer.stages[trainer.progress.stage].name,
        unit="epoch",
        disable=not (config.progress and fabric.is_global_zero),
        leave=False,
    )
    try:
        trainer.run(bar, log)
    finally:
        bar.close()
        log.close()
    return trainer.result(resumed_from)


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
