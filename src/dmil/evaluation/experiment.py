"""One experiment end to end: data -> split -> model -> training -> test metrics -> files.

:func:`run_experiment` is what ``dmil train`` and the benchmark scripts call;
:func:`evaluate_checkpoint` is what ``dmil evaluate`` calls. The checkpoint stores
everything needed to re-create the test split (dataset name, loader options, split
seed and fractions) and to rebuild the model (``build_model(**model_config)``), so the
test metrics can be reproduced from the run directory alone.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from lightning.fabric import Fabric

from dmil.data.container import MultimodalDataset
from dmil.data.registry import dataset_info, load
from dmil.data.splits import DatasetSplits, split_dataset
from dmil.evaluation.interactions import interaction_labels
from dmil.evaluation.metrics import classification_report
from dmil.evaluation.outputs import prepare_out_dir, write_json, write_predictions
from dmil.evaluation.predict import Predictions, predict
from dmil.training.checkpoint import load_state_into, read_checkpoint
from dmil.training.config import TrainConfig
from dmil.training.fabric import build_fabric, seed_everything
from dmil.training.loop import fit

__all__ = [
    "DataSpec",
    "evaluate_checkpoint",
    "load_splits",
    "model_config_for",
    "resolve_data_options",
    "run_experiment",
    "standardize_splits",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSpec:
    """How to re-create a run's data: dataset, loader options and split.

    Attributes
    ----------
    dataset : str
        Registered dataset name.
    options : dict
        Keyword options of the loader (e.g. ``n_samples``).
    split_seed : int
        ``random_state`` of :func:`dmil.data.split_dataset`.
    val_size, test_size : float
        Split fractions (predefined splits of the dataset are honoured).
    standardize : bool
        Z-score every floating modality feature-wise with the mean and standard
        deviation of the training split (integer-coded modalities are left as they are).
    """

    dataset: str
    options: dict[str, Any] = field(default_factory=dict)
    split_seed: int = 0
    val_size: float = 0.15
    test_size: float = 0.15
    standardize: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_data_options(
    dataset: str, options: Mapping[str, Any] | None, *, seed: int
) -> dict[str, Any]:
    """Loader options with the data seed made explicit.

    Generated datasets take a ``random_state``; unless the caller fixed it, it is set to
    ``seed`` so the run (and ``dmil evaluate`` later) sees the same samples.
    """
    resolved = dict(options or {})
    params = inspect.signature(dataset_info(dataset).loader).parameters
    if "random_state" in params and "random_state" not in resolved:
        resolved["random_state"] = int(seed)
    return resolved


def load_splits(
    spec: DataSpec,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    data: MultimodalDataset | None = None,
) -> DatasetSplits:
    """Load (unless ``data`` is given) and split the dataset of ``spec``."""
    if data is None:
        data = load(spec.dataset, root=data_dir, **spec.options)
    splits = split_dataset(
        data, val_size=spec.val_size, test_size=spec.test_size, random_state=spec.split_seed
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
        if not all(isinstance(e, str) for e in encoder):
            raise TypeError("encoder: checkpoints can only store encoder names (str).")
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


def _build_model(model_config: Mapping[str, Any]) -> Any:
    from dmil.models import build_model

    cfg = dict(model_config)
    cfg["input_shapes"] = [tuple(s) for s in cfg["input_shapes"]]
    return build_model(**cfg)


def _test_report(preds: Predictions, interactions: Sequence[str] | None) -> dict[str, Any]:
    return classification_report(
        preds.labels,
        preds.y_pred,
        modality_preds=preds.modality_pred,
        modality_names=preds.modality_names,
        interactions=interactions,
    )


def run_experiment(
    *,
    dataset: str,
    method: str,
    config: TrainConfig,
    out_dir: str | os.PathLike[str] | None = None,
    encoder: str | Sequence[str] = "mlp",
    embed_dim: int = 64,
    method_kwargs: Mapping[str, Any] | None = None,
    encoder_kwargs: Mapping[str, Any] | None = None,
    data_options: Mapping[str, Any] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    val_size: float = 0.15,
    test_size: float = 0.15,
    standardize: bool = True,
    interactions: str = "auto",
    overwrite: bool = False,
    resume: bool = False,
    data: MultimodalDataset | None = None,
    test_interactions: tuple[list[str] | None, str] | None = None,
    fabric: Fabric | None = None,
    keep_predictions: bool = False,
) -> dict[str, Any]:
    """Train ``method`` on ``dataset`` and measure it on the test split.

    Parameters
    ----------
    dataset : str
        Registered dataset name (also stored for ``dmil evaluate``).
    method : str
        A paradigm from :func:`dmil.models.available_methods`.
    config : TrainConfig
        Training settings; ``config.seed`` also seeds the split and the estimator.
    out_dir : path, optional
        Run directory for checkpoints, ``metrics.csv``, ``metrics.json`` and
        ``predictions.csv``; must be new or empty unless ``overwrite`` / ``resume``.
    encoder, embed_dim, method_kwargs, encoder_kwargs
        Passed to ``build_model``.
    data_options : mapping, optional
        Options of the dataset loader (e.g. ``{"n_samples": 600}``). A generated
        dataset's ``random_state`` defaults to ``config.seed``.
    data_dir : path, optional
        Data directory for file-backed datasets.
    val_size, test_size : float
        Split fractions.
    standardize : bool
        Z-score floating modalities with training-split statistics.
    interactions : {"auto", "true", "estimated", "none"}
        Source of the per-sample interaction labels of the test split.
    overwrite, resume : bool
        What to do with an existing run directory.
    data : MultimodalDataset, optional
        The already loaded dataset (skips loading; it must be what ``dataset`` and
        ``data_options`` load).
    test_interactions : (labels, source), optional
        Precomputed interaction labels of the test split (e.g. shared by several
        methods in a benchmark).
    fabric : Fabric, optional
        An already launched Fabric object (built from ``config`` otherwise).
    keep_predictions : bool
        Also return the test predictions under ``"predictions"`` (``index``, ``label``,
        ``prediction`` and ``modality_predictions`` lists; not written to metrics.json).

    Returns
    -------
    dict
        The content of ``metrics.json`` (complete on rank zero).
    """
    out = None
    if out_dir is not None:
        # Before launching: under DDP every process checks an untouched directory.
        out = prepare_out_dir(out_dir, overwrite=overwrite, resume=resume)
    spec = DataSpec(
        dataset=dataset,
        options=resolve_data_options(dataset, data_options, seed=config.seed),
        split_seed=config.seed,
        val_size=val_size,
        test_size=test_size,
        standardize=standardize,
    )
    splits = load_splits(spec, data_dir=data_dir, data=data)
    model_config = model_config_for(
        splits.train,
        method=method,
        encoder=encoder,
        embed_dim=embed_dim,
        method_kwargs=method_kwargs,
        encoder_kwargs=encoder_kwargs,
    )
    seed_everything(config.seed)
    model = _build_model(model_config)
    extra = {"data": spec.to_dict(), "interactions": interactions}
    if fabric is None:
        fabric = build_fabric(config)
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
    )
    preds = predict(
        result.wrapped_model, splits.test, batch_size=config.eval_batch_size, fabric=fabric
    )
    metrics: dict[str, Any] = {}
    if fabric.is_global_zero:
        if test_interactions is None:
            test_interactions = interaction_labels(
                splits.test,
                train=splits.train,
                val=splits.val,
                source=interactions,
                device=str(fabric.device),
                random_state=config.seed,
            )
        labels, source = test_interactions
        metrics = {
            "dataset": dataset,
            "method": method,
            "seed": config.seed,
            "test": {**_test_report(preds, labels), "n": int(preds.labels.size)},
            "val": {"accuracy": result.best_val_accuracy, "loss": result.best_val_loss},
            "interaction_source": source,
            "train_seconds": result.train_seconds,
            "samples_per_second": result.samples_per_second,
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "world_size": fabric.world_size,
            "config": config.to_dict(),
            "model_config": model_config,
            "data": spec.to_dict(),
        }
        if out is not None:
            write_predictions(
                out / "predictions.csv", preds, indices=splits.indices["test"], interactions=labels
            )
            write_json(out / "metrics.json", metrics)
        if keep_predictions:
            metrics["predictions"] = {
                "index": splits.indices["test"].tolist(),
                "label": preds.labels.tolist(),
                "prediction": preds.y_pred.tolist(),
                "modality_predictions": None
                if preds.modality_pred is None
                else preds.modality_pred.tolist(),
            }
    fabric.barrier()
    return metrics


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    *,
    dataset: str | None = None,
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
    data_dir : path, optional
        Data directory for file-backed datasets.
    accelerator : {"cpu", "cuda", "auto"}
        Where to run the model.
    interactions : str, optional
        Override the stored source of interaction labels.
    out_file : path, optional
        Write the metrics there as JSON (atomically).

    Returns
    -------
    dict
        ``{"test": {...}, "val": {"accuracy": ...}, ...}`` with the same test metrics
        as the training run's ``metrics.json`` (same split, weights and batches).
    """
    content = read_checkpoint(checkpoint)
    extra = content["extra"]
    if "data" not in extra:
        raise ValueError(
            f"checkpoint {checkpoint} does not say which data it was trained on "
            "(no extra['data']); it was not written by `dmil train`."
        )
    spec = DataSpec(**extra["data"])
    if dataset is not None and dataset != spec.dataset:
        raise ValueError(
            f"checkpoint {checkpoint} was trained on dataset '{spec.dataset}', not "
            f"'{dataset}'; evaluate re-creates that run's test split, so pass "
            f"--dataset {spec.dataset} (or omit it)."
        )
    stored = TrainConfig.from_dict(content["config"])
    config = stored.replace(accelerator=accelerator, devices=1, strategy="auto", progress=False)
    splits = load_splits(spec, data_dir=data_dir)
    model = _build_model(content["model_config"])
    load_state_into(content, model=model, source=str(checkpoint))
    fabric = build_fabric(config)
    wrapped = fabric.setup_module(model)
    test_preds = predict(wrapped, splits.test, batch_size=config.eval_batch_size, fabric=fabric)
    val_preds = predict(wrapped, splits.val, batch_size=config.eval_batch_size, fabric=fabric)
    source = interactions or extra.get("interactions", "auto")
    labels, used = interaction_labels(
        splits.test,
        train=splits.train,
        val=splits.val,
        source=source,
        device=str(fabric.device),
        random_state=stored.seed,
    )
    metrics = {
        "dataset": spec.dataset,
        "method": content["model_config"].get("method"),
        "seed": stored.seed,
        "checkpoint_epoch": int(content["epoch"]),
        "test": {**_test_report(test_preds, labels), "n": int(test_preds.labels.size)},
        "val": {"accuracy": float((val_preds.y_pred == val_preds.labels).mean())},
        "interaction_source": used,
        "data": spec.to_dict(),
    }
    if out_file is not None:
        write_json(Path(out_file), metrics)
    return metrics
