"""One experiment end to end: spec -> data -> split -> model -> training -> test metrics.

:func:`run_experiment` is what ``dmil train``, ``dmil run`` and ``dmil bench`` call, with
one :class:`~dmil.spec.ExperimentSpec`; :func:`evaluate_checkpoint` is what
``dmil evaluate`` calls. The effective spec (seeds, loader options, the data file's
digest and the stages filled in) is saved beside the results (``spec.yaml``) and in every
checkpoint, so the test metrics can be reproduced from the run directory alone and
``dmil train --config spec.yaml`` replays the run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dmil.data.container import MultimodalDataset
from dmil.data.registry import load, resolve_data_options
from dmil.data.splits import DatasetSplits, split_dataset
from dmil.evaluation.interactions import interaction_labels
from dmil.evaluation.metrics import classification_report
from dmil.evaluation.outputs import prepare_out_dir, write_json, write_predictions
from dmil.evaluation.predict import Predictions, predict
from dmil.evaluation.reference import reference_unimodal_predictions
from dmil.spec import DataSpec, ExperimentSpec
from dmil.training.checkpoint import load_state_into, read_checkpoint
from dmil.training.config import TrainConfig
from dmil.training.fabric import build_fabric, seed_everything
from dmil.training.loop import check_stages, fit
from dmil.training.stages import scale_stages
from dmil.utils import record_sha256

if TYPE_CHECKING:
    from lightning.fabric import Fabric

__all__ = [
    "ExperimentResult",
    "evaluate_checkpoint",
    "execute_experiment",
    "load_data",
    "load_splits",
    "method_stages",
    "model_config_for",
    "resolve_data_spec",
    "resolve_spec",
    "restore_run",
    "run_experiment",
    "sample_targets",
    "standardize_splits",
    "stored_spec",
]

logger = logging.getLogger(__name__)

#: The effective spec of a run, written into its directory.
SPEC_FILE = "spec.yaml"


def resolve_data_spec(spec: DataSpec, seed: int) -> DataSpec:
    """``spec`` with the split seed, the data seed and the file's digest filled in."""
    changes: dict[str, Any] = {}
    if spec.split_seed is None:
        changes["split_seed"] = int(seed)
    if spec.dataset is not None:
        changes["options"] = resolve_data_options(spec.dataset, spec.options, seed=seed)
    else:
        path = Path(spec.file)
        changes.update(file=str(path.resolve()), sha256=_verified_digest(path, spec.sha256))
    return spec.replace(**changes)


def _verified_digest(path: Path, expected: str | None) -> str:
    """The SHA-256 of the data file ``path``, checked against the run's record
    ``expected`` (when there is one)."""
    from dmil.utils import file_sha256

    if not path.is_file():
        raise FileNotFoundError(
            f"data file not found: {path}. Pass the file's current location with --data FILE."
        )
    found = file_sha256(path)
    if expected is not None and found != expected:
        raise ValueError(
            f"data file {path} is not the one the run was trained on (or has changed since "
            f"the run was made): its SHA-256 is {found[:16]}..., the run recorded "
            f"{expected[:16]}.... Pass the original file with --data FILE (or retrain on "
            "the new one)."
        )
    return found


def method_stages(config: TrainConfig, method: str, encoder: Any = "mlp") -> TrainConfig:
    """``config`` with the method's default stages when it has none of its own.

    A staged method (DMIL) gets its preset rescaled to ``config.epochs``, so staged and
    one-stage methods train for the same total number of epochs.
    """
    if config.stages:
        return config
    from dmil.models import default_stages

    stages = default_stages(method, encoder)
    if stages is None:
        return config
    return config.with_stages(scale_stages(stages, config.epochs))


def resolve_spec(spec: ExperimentSpec) -> ExperimentSpec:
    """The effective spec of a run: seeds, loader options and the data file's digest
    made explicit, and a staged method's default stages applied (scaled to
    ``train.epochs``). Resolving an effective spec again changes nothing.

    Raises
    ------
    ValueError
        When ``model.method`` is not set, or a recorded file digest does not match.
    """
    if spec.model.method is None:
        raise ValueError(
            "model.method: a run needs a method; pass --method NAME or set model.method "
            "in the --config file."
        )
    data = resolve_data_spec(spec.data, spec.train.seed)
    train = method_stages(spec.train, spec.model.method, spec.model.encoder)
    return spec.replace(data=data, train=train)


def load_data(
    spec: DataSpec, *, data_dir: str | os.PathLike[str] | None = None
) -> MultimodalDataset:
    """The dataset of ``spec``: a registered one (with its loader options) or a data
    file (checked against ``spec.sha256`` when one is recorded)."""
    if spec.file is None:
        return load(spec.dataset, root=data_dir, **spec.options)
    from dmil.data.formats import read_dataset

    path = Path(spec.file)
    _verified_digest(path, spec.sha256)
    return read_dataset(path)


def load_splits(
    spec: DataSpec,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    data: MultimodalDataset | None = None,
) -> DatasetSplits:
    """Load (unless ``data`` is given) and split the dataset of ``spec`` (split seed
    ``spec.split_seed``, 0 when unset)."""
    if data is None:
        data = load_data(spec, data_dir=data_dir)
    splits = split_dataset(
        data,
        val_size=spec.val_size,
        test_size=spec.test_size,
        random_state=spec.split_seed or 0,
    )
    return standardize_splits(splits) if spec.standardize else splits


def standardize_splits(splits: DatasetSplits) -> DatasetSplits:
    """Z-score floating modalities with training-split statistics (per feature).

    Each feature ``x[:, j...]`` becomes ``(x - mean) / std`` with the mean and standard
    deviation over the training samples; features constant on the training split
    (``std < 1e-8``) are only centred. Integer modalities (discrete codes) are kept.
    """
    stats = []
    for t in splits.train.modalities:
        if t.dtype.is_floating_point:
            mean = t.double().mean(dim=0)
            std = t.double().std(dim=0, unbiased=False)
            std = torch.where(std < 1e-8, torch.ones_like(std), std)
            stats.append((mean, std))
        else:
            stats.append(None)

    def apply(data: MultimodalDataset) -> MultimodalDataset:
        tensors = [
            t if st is None else ((t.double() - st[0]) / st[1]).to(t.dtype)
            for t, st in zip(data.modalities, stats, strict=True)
        ]
        return data.with_modalities(tensors)

    return DatasetSplits(
        train=apply(splits.train),
        val=apply(splits.val),
        test=apply(splits.test),
        indices=splits.indices,
    )


def model_config_for(
    data: MultimodalDataset,
    *,
    method: str,
    encoder: str | Sequence[str] = "mlp",
    embed_dim: int = 64,
    method_kwargs: Mapping[str, Any] | None = None,
    encoder_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``build_model`` for ``data`` (stored in checkpoints)."""
    if not isinstance(encoder, str):
        encoder = [str(e) for e in encoder]
    config = {
        "method": str(method),
        "encoder": encoder,
        "input_shapes": [list(data.shapes[m]) for m in data.modality_names],
        "n_classes": int(data.n_classes),
        "embed_dim": int(embed_dim),
        "modality_names": list(data.modality_names),
        "method_kwargs": dict(method_kwargs or {}),
    }
    if encoder_kwargs:
        config["encoder_kwargs"] = dict(encoder_kwargs)
    return config


def _check_room_for_run(out: Path, model: Any, config: TrainConfig) -> None:
    """Fail before the first epoch when ``out`` cannot hold the run's files: two
    checkpoints and the temporary copy of one being written, plus 1 MiB of results."""
    from dmil.training.checkpoint import checkpoint_size_estimate
    from dmil.utils import check_free_space

    one = checkpoint_size_estimate(model, optimizer=config.optimizer)
    n_params = sum(p.numel() for p in model.parameters())
    check_free_space(
        out,
        3 * one + (1 << 20),
        why=f"checkpoints of a model with {n_params:,} parameters",
    )


def _check_model_fits_data(model_config: Mapping[str, Any], data: Any, source: str) -> None:
    """The checkpoint's model takes the data's modalities, shapes and classes."""
    names = list(data.modality_names)
    shapes = [tuple(int(d) for d in s) for s in model_config.get("input_shapes", [])]
    problems = []
    if len(shapes) != len(names):
        problems.append(f"the model takes {len(shapes)} modalities, the data has {len(names)}")
    else:
        stored_names = list(model_config.get("modality_names") or names)
        for name, stored, shape in zip(names, stored_names, shapes, strict=True):
            found = tuple(int(d) for d in data.shapes[name])
            if shape != found:
                problems.append(
                    f"modality '{stored}' has shape {shape} in the model, {found} in the data"
                )
    n_classes = model_config.get("n_classes")
    if n_classes is not None and int(n_classes) != int(data.n_classes):
        problems.append(f"the model predicts {n_classes} classes, the data has {data.n_classes}")
    if problems:
        raise ValueError(
            f"checkpoint {source} does not fit the data it is evaluated on: "
            f"{'; '.join(problems)}. The dataset or its files changed since training "
            "(check --data-dir), or the checkpoint belongs to another run."
        )


def sample_targets(
    model: Any, splits: DatasetSplits, *, seed: int, device: str = "cpu"
) -> dict[str, torch.Tensor] | None:
    """The per-sample training targets a model asks for (``model.sample_target_names``).

    ``gate_target``: the gate target of DMIL's estimator-guided gate, from the
    interaction type :class:`~dmil.interactions.InteractionEstimator` assigns to each
    training sample (fitted on the training split, early-stopped on the validation
    split; never the true types, never the test split).
    """
    names = tuple(getattr(model, "sample_target_names", ()))
    if not names:
        return None
    unknown = sorted(set(names) - {"gate_target"})
    if unknown:
        raise ValueError(f"{type(model).__name__} asks for unknown sample targets {unknown}.")
    labels, _ = interaction_labels(
        splits.train,
        train=splits.train,
        val=splits.val,
        source="estimated",
        device=device,
        random_state=seed,
        split="training",
    )
    return {"gate_target": model.gate_targets(labels)}


def _build_model(model_config: Mapping[str, Any]) -> Any:
    from dmil.models import build_model

    cfg = dict(model_config)
    cfg["input_shapes"] = [tuple(s) for s in cfg["input_shapes"]]
    return build_model(**cfg)


def _test_report(
    preds: Predictions, interactions: Sequence[str] | None, reference: np.ndarray | None
) -> dict[str, Any]:
    return classification_report(
        preds.labels,
        preds.y_pred,
        modality_preds=preds.modality_pred,
        modality_names=preds.modality_names,
        interactions=interactions,
        reference_preds=reference,
    )


@dataclass
class ExperimentResult:
    """What :func:`execute_experiment` returns.

    Attributes
    ----------
    spec : ExperimentSpec
        The effective spec (as saved in ``spec.yaml``).
    metrics : dict
        The content of ``metrics.json`` (empty on processes other than rank zero).
    predictions : Predictions
        The test predictions (gate weights and component outputs included where the
        model gives them).
    test_indices : ndarray of int
        Position of each test sample in the loaded dataset.
    interactions : list of str or None
        The test samples' interaction labels used by the breakdown.
    history : list of dict
        One row per epoch, as in ``metrics.csv``.
    """

    spec: ExperimentSpec
    metrics: dict[str, Any]
    predictions: Predictions
    test_indices: np.ndarray
    interactions: list[str] | None
    history: list[dict[str, Any]]


def _metrics(
    spec: ExperimentSpec,
    preds: Predictions,
    labels: list[str] | None,
    source: str,
    result: Any,
    fabric: Fabric,
    model_config: Mapping[str, Any],
    reference: np.ndarray | None,
) -> dict[str, Any]:
    """The content of ``metrics.json``."""
    return {
        "dataset": spec.data.name,
        "method": spec.model.method,
        "seed": spec.train.seed,
        "test": {**_test_report(preds, labels, reference), "n": int(preds.labels.size)},
        # Measured on what the last stage monitors (the prediction, unless it says else).
        "val": {
            "accuracy": result.best_val_accuracy,
            "loss": result.best_val_loss,
            "monitor": spec.train.resolved_stages()[-1].monitor,
        },
        "interaction_source": source,
        "train_seconds": result.train_seconds,
        "samples_per_second": result.samples_per_second,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "stages": [dict(s) for s in result.stages],
        "world_size": fabric.world_size,
        "config": spec.train.to_dict(),
        "model_config": dict(model_config),
        "data": spec.data.to_dict(),
        "spec": spec.to_dict(),
    }


def _holds_run_lock(func: Any) -> Any:
    """Run ``func`` holding the lock of its ``out_dir`` (re-entrant: ``dmil train``
    already holds it), so two runs never share a directory."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("out_dir") is None:
            return func(*args, **kwargs)
        from dmil.utils import RunLock

        with RunLock(kwargs["out_dir"], command="dmil run_experiment"):
            return func(*args, **kwargs)

    return wrapper


@_holds_run_lock
def execute_experiment(
    spec: ExperimentSpec,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    resume: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    data: MultimodalDataset | None = None,
    test_interactions: tuple[list[str] | None, str] | None = None,
    fabric: Fabric | None = None,
) -> ExperimentResult:
    """Train the spec's method on its data and measure it on the test split.

    Parameters
    ----------
    spec : ExperimentSpec
        The run; :func:`resolve_spec` makes it explicit first.
    out_dir : path, optional
        Run directory for ``spec.yaml``, checkpoints, ``metrics.csv``, ``metrics.json``
        and ``predictions.csv``; must be new or empty unless ``overwrite`` / ``resume``.
    overwrite, resume : bool
        What to do with an existing run directory.
    data_dir : path, optional
        Data directory for file-backed registered datasets.
    data : MultimodalDataset, optional
        The already loaded dataset (skips loading; it must be what ``spec.data`` loads).
    test_interactions : (labels, source), optional
        Precomputed interaction labels of the test split (e.g. shared by several
        methods).
    fabric : Fabric, optional
        An already launched Fabric object (built from ``spec.train`` otherwise).

    Returns
    -------
    ExperimentResult
    """
    if overwrite and resume:
        raise ValueError("--overwrite and --resume exclude each other; pass one of them.")
    out = None
    if out_dir is not None:
        # Before launching: under DDP every process checks an untouched directory. The
        # files of an earlier run are removed (--overwrite) only once the stages passed.
        out = prepare_out_dir(out_dir, resume=resume) if not overwrite else Path(out_dir)
    spec = resolve_spec(spec)
    config = spec.train
    splits = load_splits(spec.data, data_dir=data_dir, data=data)
    model_config = model_config_for(
        splits.train,
        method=spec.model.method,
        encoder=spec.model.encoder,
        embed_dim=spec.model.embed_dim,
        method_kwargs=spec.model.method_kwargs,
        encoder_kwargs=spec.model.encoder_kwargs,
    )
    seed_everything(config.seed)
    model = _build_model(model_config)
    # Stage mistakes fail here, before the interaction estimator runs, an earlier run is
    # removed or spec.yaml is written, so a corrected rerun finds the directory as it was;
    # so does asking for interaction truth the data do not have.
    check_stages(model, config)
    if test_interactions is None and spec.data.interactions == "true" and not splits.test.has_truth:
        raise ValueError(
            f"data.interactions 'true': dataset '{spec.data.name}' has no per-sample "
            "interaction truth; use 'estimated' (--interactions estimated), or 'auto', which "
            "estimates them where the data have no truth."
        )
    if out is not None and overwrite:
        out = prepare_out_dir(out, overwrite=True)
    if out is not None:
        _check_room_for_run(out, model, config)
    extra = {
        "data": spec.data.to_dict(),
        "interactions": spec.data.interactions,
        "spec": spec.to_dict(),
    }
    if fabric is None:
        fabric = build_fabric(config)
    if out is not None and fabric.is_global_zero:
        spec.to_yaml(out / SPEC_FILE)
    result = fit(
        model,
        splits.train,
        splits.val,
        config=config,
        fabric=fabric,
        out_dir=out,
        resume=resume,
        model_config=model_config,
        extra=extra,
        sample_targets=sample_targets(model, splits, seed=config.seed, device=str(fabric.device)),
    )
    preds = predict(
        result.wrapped_model, splits.test, batch_size=config.eval_batch_size, fabric=fabric
    )
    metrics: dict[str, Any] = {}
    labels: list[str] | None = None
    if fabric.is_global_zero:
        if test_interactions is None:
            test_interactions = interaction_labels(
                splits.test,
                train=splits.train,
                val=splits.val,
                source=spec.data.interactions,
                device=str(fabric.device),
                random_state=config.seed,
            )
        labels, source = test_interactions
        reference = reference_unimodal_predictions(
            splits.train, splits.test, random_state=config.seed
        )
        metrics = _metrics(spec, preds, labels, source, result, fabric, model_config, reference)
        metrics["split_sizes"] = {k: len(getattr(splits, k)) for k in ("train", "val", "test")}
        if out is not None:
            write_predictions(
                out / "predictions.csv",
                preds,
                indices=splits.indices["test"],
                interactions=labels,
                reference=reference,
            )
            write_json(out / "metrics.json", metrics)
            record_sha256(out / "metrics.csv", out / SPEC_FILE)
    fabric.barrier()
    return ExperimentResult(
        spec=spec,
        metrics=metrics,
        predictions=preds,
        test_indices=np.asarray(splits.indices["test"]),
        interactions=labels,
        history=list(result.history),
    )


def run_experiment(spec: ExperimentSpec, **options: Any) -> dict[str, Any]:
    """:func:`execute_experiment` returning only the metrics (``metrics.json``'s content,
    complete on rank zero); the keyword options are those of ``execute_experiment``."""
    return execute_experiment(spec, **options).metrics


def stored_spec(content: Mapping[str, Any], checkpoint: Any) -> ExperimentSpec:
    """The effective spec stored in a checkpoint (older checkpoints: rebuilt from their
    data settings, training config and model config)."""
    extra = content["extra"]
    if "spec" in extra:
        return ExperimentSpec.from_dict(extra["spec"], source=f"checkpoint {checkpoint}")
    if "data" not in extra:
        raise ValueError(
            f"checkpoint {checkpoint} does not say which data it was trained on "
            "(no extra['data']); it was not written by `dmil train`."
        )
    data = dict(extra["data"])
    data.setdefault("interactions", extra.get("interactions", "auto"))
    mc = content["model_config"]
    model = {
        "method": mc.get("method"),
        "encoder": mc.get("encoder", "mlp"),
        "embed_dim": mc.get("embed_dim", 64),
        "encoder_kwargs": mc.get("encoder_kwargs") or {},
        "method_kwargs": mc.get("method_kwargs") or {},
    }
    return ExperimentSpec.from_dict(
        {"data": data, "model": model, "train": content["config"]},
        source=f"checkpoint {checkpoint}",
    )


def _data_for_evaluation(
    stored: DataSpec, checkpoint: Any, dataset: str | None, data_file: Any
) -> DataSpec:
    """The stored data settings, checked against (or pointed at) what the user passed."""
    if dataset is not None and dataset != stored.dataset:
        trained_on = (
            f"dataset '{stored.dataset}'" if stored.dataset else f"the data file {stored.file}"
        )
        fix = f"--dataset {stored.dataset}" if stored.dataset else f"--data {stored.file}"
        raise ValueError(
            f"checkpoint {checkpoint} was trained on {trained_on}, not '{dataset}'; evaluate "
            f"and explain re-create that run's test split, so pass {fix} (or omit it)."
        )
    if data_file is None:
        return stored
    if stored.file is None:
        raise ValueError(
            f"checkpoint {checkpoint} was trained on the registered dataset "
            f"'{stored.dataset}', not on a data file; pass --dataset {stored.dataset} "
            "(or omit --data)."
        )
    return stored.replace(file=str(Path(data_file)))


@dataclass
class RestoredRun:
    """A trained run rebuilt from its checkpoint alone (see :func:`restore_run`).

    Attributes
    ----------
    content : dict
        The checkpoint's contents.
    spec : ExperimentSpec
        The run's effective spec.
    data_spec : DataSpec
        Where its data is now (verified against the recorded digest).
    config : TrainConfig
        Its training settings, on one device.
    splits : DatasetSplits
        The run's splits, re-created.
    fabric : Fabric
        A one-device Fabric object.
    model : object
        The model with the checkpoint's weights, set up by ``fabric``.
    """

    content: dict[str, Any]
    spec: ExperimentSpec
    data_spec: DataSpec
    config: TrainConfig
    splits: DatasetSplits
    fabric: Fabric
    model: Any


def restore_run(
    checkpoint: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    data_file: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    accelerator: str = "cpu",
) -> RestoredRun:
    """Rebuild a run's model, weights and splits from its checkpoint (what
    ``dmil evaluate`` and ``dmil explain`` start from); the parameters are those of
    :func:`evaluate_checkpoint`."""
    content = read_checkpoint(checkpoint)
    spec = stored_spec(content, checkpoint)
    data_spec = _data_for_evaluation(spec.data, checkpoint, dataset, data_file)
    config = spec.train.replace(accelerator=accelerator, devices=1, strategy="auto", progress=False)
    splits = load_splits(data_spec, data_dir=data_dir)
    _check_model_fits_data(content["model_config"], splits.train, str(checkpoint))
    model = _build_model(content["model_config"])
    load_state_into(content, model=model, source=str(checkpoint))
    fabric = build_fabric(config)
    return RestoredRun(
        content=content,
        spec=spec,
        data_spec=data_spec,
        config=config,
        splits=splits,
        fabric=fabric,
        model=fabric.setup_module(model),
    )


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    data_file: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    accelerator: str = "cpu",
    interactions: str | None = None,
    out_file: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Rebuild a trained model from its checkpoint and measure it on its test split.

    Parameters
    ----------
    checkpoint : path
        ``best.ckpt`` (or another checkpoint file) or a run directory.
    dataset : str, optional
        Must name the dataset the run was trained on (a safety check); default: the
        stored one.
    data_file : path, optional
        Where the run's data file is now (default: the path recorded in the run); its
        content must match the recorded SHA-256.
    data_dir : path, optional
        Data directory for file-backed registered datasets.
    accelerator : {"cpu", "cuda", "auto"}
        Where to run the model.
    interactions : str, optional
        Override the stored source of interaction labels.
    out_file : path, optional
        Write the metrics there as JSON (atomically; no ``SHA256SUMS`` is written beside
        it).

    Returns
    -------
    dict
        ``{"test": {...}, "val": {"accuracy": ...}, ...}`` with the same test metrics
        as the training run's ``metrics.json`` (same split, weights and batches).
    """
    run = restore_run(
        checkpoint, dataset=dataset, data_file=data_file, data_dir=data_dir, accelerator=accelerator
    )
    content, data_spec, stored, config = run.content, run.data_spec, run.spec.train, run.config
    splits, fabric, wrapped = run.splits, run.fabric, run.model
    test_preds = predict(wrapped, splits.test, batch_size=config.eval_batch_size, fabric=fabric)
    val_preds = predict(wrapped, splits.val, batch_size=config.eval_batch_size, fabric=fabric)
    labels, used = interaction_labels(
        splits.test,
        train=splits.train,
        val=splits.val,
        source=interactions or data_spec.interactions,
        device=str(fabric.device),
        random_state=stored.seed,
    )
    metrics = {
        "dataset": data_spec.name,
        "method": content["model_config"].get("method"),
        "seed": stored.seed,
        "checkpoint_epoch": int(content["epoch"]),
        "test": {
            **_test_report(
                test_preds,
                labels,
                reference_unimodal_predictions(splits.train, splits.test, random_state=stored.seed),
            ),
            "n": int(test_preds.labels.size),
        },
        "val": {"accuracy": float((val_preds.y_pred == val_preds.labels).mean())},
        "interaction_source": used,
        "data": data_spec.to_dict(),
    }
    if out_file is not None:
        write_json(Path(out_file), metrics, checksum=False)
    return metrics
