"""Training cost of DMIL against ``joint`` at the same total number of epochs.

For each dataset, ``joint`` and ``dmil`` are trained alternately (joint, dmil, joint,
dmil, ...) in this one process with the dataset's budget (encoders, batch size, learning
rate) and the same total epochs; early stopping is off in every stage, so both run all
their epochs. DMIL runs its default three stages rescaled to that total; in stage 2 its
encoders are frozen and their outputs computed once (the engine's cached path), which
the second DMIL configuration turns off to measure what the cache saves.

Reported per dataset: the median over repeats of the training wall time (optimisation
and validation, ``FitResult.train_seconds``) of each, and the median of the per-repeat
ratios DMIL / joint.

Usage::

    python benchmarks/bench_dmil_cost.py --datasets synthetic-mixed,tcga-brca,ccv \\
        --epochs 20 --repeats 3 --out benchmarks/results/dmil_cost.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
from pathlib import Path

import torch

from dmil.data.registry import load
from dmil.data.splits import split_dataset
from dmil.evaluation.experiment import standardize_splits
from dmil.models import build_model, default_stages
from dmil.training import TrainConfig, fit, seed_everything
from dmil.training.stages import StageSpec, scale_stages
from dmil.workflows.suites import budget_sections

logger = logging.getLogger("bench_dmil_cost")


def benchmark_splits(dataset: str, budget: dict, *, seed: int = 0, every: int = 1):
    """The dataset's standardised splits as the benchmark makes them (its budget's loader
    options); ``every`` > 1 keeps every ``every``-th sample (a quick check)."""
    data = load(dataset, **budget.get("data", {}).get("options", {}))
    if every > 1:
        data = data.subset(list(range(0, len(data), every)))
    return standardize_splits(split_dataset(data, random_state=seed))


def train_fixed_epochs(
    splits,
    method: str,
    budget: dict,
    epochs: int,
    *,
    cache: bool = True,
    seed: int = 0,
    accelerator: str = "cpu",
    precision: str = "32-true",
):
    """Train ``method`` with the budget for exactly ``epochs`` (early stopping off in
    every stage; DMIL's default stages rescaled to ``epochs``); the ``FitResult``."""
    model_section = budget.get("model", {})
    train = budget.get("train", {})
    config = TrainConfig(
        epochs=epochs,
        batch_size=int(train.get("batch_size", 64)),
        lr=float(train.get("lr", 1e-3)),
        weight_decay=float(train.get("weight_decay", 1e-4)),
        patience=0,
        seed=seed,
        accelerator=accelerator,
        precision=precision,
        progress=False,
    )
    encoder = model_section.get("encoder", "mlp")
    stages = default_stages(method, encoder)
    if stages is not None:
        stages = [
            StageSpec.from_dict({**s.to_dict(), "patience": 0, "cache_frozen": cache})
            for s in scale_stages(stages, epochs)
        ]
        config = config.with_stages(stages)
    seed_everything(seed)
    model = build_model(
        method,
        input_shapes=list(splits.train.shapes.values()),
        n_classes=splits.train.n_classes,
        encoder=encoder,
        embed_dim=int(model_section.get("embed_dim", 64)),
        encoder_kwargs=model_section.get("encoder_kwargs"),
    )
    return fit(model, splits.train, splits.val, config=config)


def _seconds(splits, method: str, budget: dict, epochs: int, *, cache: bool) -> float:
    return float(train_fixed_epochs(splits, method, budget, epochs, cache=cache).train_seconds)


def main() -> int:
    """Measure and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="synthetic-mixed,tcga-brca,ccv")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    results = {
        "command": " ".join(sys.argv),
        "epochs": args.epochs,
        "repeats": args.repeats,
        "threads": args.threads,
        "load_average_at_start": list(os.getloadavg()),
        "datasets": {},
    }
    for dataset in args.datasets.split(","):
        budget = budget_sections(dataset)
        splits = benchmark_splits(dataset, budget)
        times: dict[str, list[float]] = {"joint": [], "dmil": [], "dmil-uncached": []}
        for repeat in range(args.repeats):
            times["joint"].append(_seconds(splits, "joint", budget, args.epochs, cache=True))
            times["dmil"].append(_seconds(splits, "dmil", budget, args.epochs, cache=True))
            times["dmil-uncached"].append(
                _seconds(splits, "dmil", budget, args.epochs, cache=False)
            )
            logger.info(
                "%s repeat %d: %s",
                dataset,
                repeat,
                {k: round(v[-1], 2) for k, v in times.items()},
            )
        ratios = [d / j for d, j in zip(times["dmil"], times["joint"], strict=True)]
        ratios_uncached = [
            d / j for d, j in zip(times["dmil-uncached"], times["joint"], strict=True)
        ]
        results["datasets"][dataset] = {
            "seconds": times,
            "median_seconds": {k: statistics.median(v) for k, v in times.items()},
            "median_ratio_dmil_over_joint": statistics.median(ratios),
            "median_ratio_uncached_over_joint": statistics.median(ratios_uncached),
        }
    results["load_average_at_end"] = list(os.getloadavg())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, out)
    print(
        json.dumps({k: v["median_ratio_dmil_over_joint"] for k, v in results["datasets"].items()})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
