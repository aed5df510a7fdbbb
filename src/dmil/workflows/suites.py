"""The benchmark datasets, the budget each is trained with, and the suites of
``dmil bench``.

A budget holds the ``data``, ``model`` and ``train`` sections of an
:class:`~dmil.spec.ExperimentSpec` shared by every method on a dataset family: the same
encoders, epochs, patience and learning rate for all, model selection on the validation
split only. The budgets equal the files under ``configs/`` in the repository (a test
keeps them equal), so ``dmil train --config configs/vectors.yaml`` trains what the
benchmark trains.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BENCH_DATASETS",
    "BUDGETS",
    "SUITES",
    "BenchDataset",
    "budget_sections",
    "suite_datasets",
]

_TRAIN = {
    "batch_size": 64,
    "optimizer": "adamw",
    "lr": 1.0e-3,
    "weight_decay": 1.0e-4,
    "scheduler": "cosine",
}
_SPLIT = {"val_size": 0.15, "test_size": 0.15, "standardize": True}

#: Budget name -> spec sections (the ``configs/<name>.yaml`` files).
BUDGETS: dict[str, dict[str, dict[str, Any]]] = {
    "synthetic-mixed": {
        "train": {"epochs": 80, **_TRAIN, "patience": 15},
        "model": {"encoder": "mlp", "embed_dim": 64},
        "data": dict(_SPLIT),
    },
    "vectors": {
        "train": {"epochs": 100, **_TRAIN, "patience": 15},
        "model": {"encoder": "mlp", "embed_dim": 64},
        "data": dict(_SPLIT),
    },
    "av-digits": {
        "train": {"epochs": 20, **_TRAIN, "patience": 5},
        "model": {"encoder": "cnn", "embed_dim": 64, "encoder_kwargs": {"channels": [16, 32, 64]}},
        "data": {"options": {"form": "2d"}, **_SPLIT},
    },
}


@dataclass(frozen=True)
class BenchDataset:
    """One row group of the benchmark tables.

    Attributes
    ----------
    name : str
        How the tables name it.
    dataset : str
        The registered dataset.
    budget : str
        A key of :data:`BUDGETS`.
    options : dict
        Extra loader options (over the budget's).
    """

    name: str
    dataset: str
    budget: str
    options: dict[str, Any] = field(default_factory=dict)


#: Every benchmark entry, in table order. ``synthetic-mixed-imbalanced`` is
#: synthetic-mixed with a clean x1 and a noisy x2 (noise 1.5 vs 4.0).
BENCH_DATASETS: dict[str, BenchDataset] = {
    d.name: d
    for d in (
        BenchDataset("synthetic-mixed", "synthetic-mixed", "synthetic-mixed"),
        BenchDataset(
            "synthetic-mixed-imbalanced",
            "synthetic-mixed",
            "synthetic-mixed",
            {"noise": [1.5, 4.0]},
        ),
        BenchDataset("ccv", "ccv", "vectors"),
        BenchDataset("tcga-brca", "tcga-brca", "vectors"),
        BenchDataset("av-digits", "av-digits", "av-digits"),
        BenchDataset("rosmap", "rosmap", "vectors"),
        BenchDataset("scene15", "scene15", "vectors"),
        BenchDataset("cub", "cub", "vectors"),
        BenchDataset("mfeat", "mfeat", "vectors"),
        BenchDataset("digits-quadrants", "digits-quadrants", "vectors"),
    )
}

#: Suite -> benchmark entries.
SUITES: dict[str, tuple[str, ...]] = {
    "synthetic": ("synthetic-mixed", "synthetic-mixed-imbalanced"),
    "real": (
        "ccv",
        "tcga-brca",
        "av-digits",
        "rosmap",
        "scene15",
        "cub",
        "mfeat",
        "digits-quadrants",
    ),
}
SUITES["all"] = SUITES["synthetic"] + SUITES["real"]


def suite_datasets(suite: str) -> tuple[str, ...]:
    """The entries of a suite; an unknown name lists the known ones."""
    if suite not in SUITES:
        close = difflib.get_close_matches(suite, list(SUITES), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"--suite: unknown suite '{suite}'.{hint} Known: {', '.join(SUITES)}.")
    return SUITES[suite]


def budget_sections(entry: BenchDataset | str) -> dict[str, dict[str, Any]]:
    """The spec sections of a benchmark entry (or of a registered dataset that is one):
    its budget with the dataset and the entry's loader options filled in."""
    import copy

    if isinstance(entry, str):
        if entry not in BENCH_DATASETS:
            raise ValueError(
                f"unknown benchmark dataset '{entry}'; known: {', '.join(BENCH_DATASETS)}."
            )
        entry = BENCH_DATASETS[entry]
    sections = copy.deepcopy(BUDGETS[entry.budget])
    data = sections["data"]
    data["dataset"] = entry.dataset
    data["options"] = {**data.get("options", {}), **entry.options}
    return sections
