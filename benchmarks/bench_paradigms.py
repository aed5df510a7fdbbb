"""The paradigm grid is ``dmil bench`` now; this script is a thin caller kept for old
command lines, plus the budget helpers ``bench_paradigms_throughput.py`` uses.

Usage::

    python benchmarks/bench_paradigms.py --suite all --seeds 5 --out benchmarks/results/bench
    # same as: dmil bench --suite all --seeds 5 --out benchmarks/results/bench
"""

from __future__ import annotations

import os
import sys
from typing import Any

from _common import machine_info

from dmil.evaluation import run_experiment
from dmil.spec import ExperimentSpec
from dmil.training import TrainConfig
from dmil.workflows.suites import BENCH_DATASETS, budget_sections

#: Benchmark entry -> (registered dataset, budget name, extra loader options).
DATASETS: dict[str, tuple[str, str, dict[str, Any]]] = {
    name: (d.dataset, d.budget, dict(d.options)) for name, d in BENCH_DATASETS.items()
}


def run_info(threads: int) -> dict[str, Any]:
    """Cores, load, versions and the date of a CPU run with ``threads`` torch threads."""
    return machine_info(
        torch_threads=threads,
        host={"load_average_at_start": list(os.getloadavg())},
        device="cpu",
    )


def budget_for(dataset: str, *, epochs: int | None) -> dict[str, Any]:
    """The settings of one benchmark entry: train config, model and data settings."""
    sections = budget_sections(dataset)
    train = dict(sections["train"])
    if epochs is not None:
        train["epochs"] = epochs
    config = TrainConfig.from_dict({**train, "accelerator": "cpu", "progress": False})
    model, data = sections["model"], sections["data"]
    return {
        "config": config.to_dict(),
        "encoder": model.get("encoder", "mlp"),
        "embed_dim": int(model.get("embed_dim", 64)),
        "encoder_kwargs": model.get("encoder_kwargs") or {},
        "method_kwargs": model.get("method_kwargs") or {},
        "options": dict(data.get("options") or {}),
        "val_size": float(data.get("val_size", 0.15)),
        "test_size": float(data.get("test_size", 0.15)),
        "standardize": bool(data.get("standardize", True)),
    }


def train_once(
    dataset: str,
    method: str,
    config: TrainConfig,
    budget: dict[str, Any],
    data: Any,
    *,
    test_interactions: tuple[list[str] | None, str],
) -> dict[str, Any]:
    """One run of ``method`` on the entry ``dataset`` with ``budget``'s model and data
    settings and ``config``; its metrics."""
    spec = ExperimentSpec.from_dict(
        {
            "data": {
                "dataset": DATASETS[dataset][0],
                "options": budget["options"],
                "val_size": budget["val_size"],
                "test_size": budget["test_size"],
                "standardize": budget["standardize"],
            },
            "model": {
                "method": method,
                "encoder": budget["encoder"],
                "embed_dim": budget["embed_dim"],
                "encoder_kwargs": budget["encoder_kwargs"],
                "method_kwargs": budget["method_kwargs"],
            },
            "train": config.to_dict(),
        }
    )
    return run_experiment(spec, data=data, test_interactions=test_interactions)


if __name__ == "__main__":
    from dmil.cli import main

    sys.exit(main(["bench", *sys.argv[1:]]))
