"""Training throughput (samples/s) of every paradigm, measured side by side.

Each paradigm trains for a fixed number of epochs (no early stopping) with the budget of
its dataset family (``configs/*.yaml``: encoders, batch size, optimiser). Repeats are
interleaved (the order of the paradigms rotates every repeat) so that a change of machine
load affects all paradigms alike; the median over repeats is reported together with the
ratio to ``joint`` measured in the same run. Throughput counts training samples per second
of optimisation steps (forward, loss, backward, gradient hook, optimiser step), without
validation and checkpointing.

Usage::

    python benchmarks/bench_paradigms_throughput.py --datasets synthetic-mixed,av-digits \\
        --epochs 3 --repeats 3 --out benchmarks/results/throughput.json
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
import torch
from _common import interpreter_command, markdown_table
from bench_paradigms import DATASETS, budget_for, run_info, train_once

from dmil.data import load, resolve_data_options
from dmil.evaluation.outputs import write_json
from dmil.models import available_methods
from dmil.training import TrainConfig


def measure(dataset: str, method: str, budget: dict[str, Any], data: Any, epochs: int) -> float:
    """Samples/s of one fixed-length training run (seed 0)."""
    config = TrainConfig.from_dict({**budget["config"], "epochs": epochs, "patience": 0})
    m = train_once(dataset, method, config, budget, data, test_interactions=(None, "none"))
    return float(m["samples_per_second"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="synthetic-mixed,av-digits")
    parser.add_argument("--methods", default=",".join(available_methods()))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; choose from {list(DATASETS)}")
    info = run_info(args.threads)
    results: dict[str, Any] = {
        "command": interpreter_command(),
        "machine": info,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "datasets": {},
    }
    lines = []
    for ds in datasets:
        budget = budget_for(ds, epochs=args.epochs)
        registered = DATASETS[ds][0]
        options = resolve_data_options(registered, budget["options"], seed=0)
        data = load(registered, root=args.data_dir, **options)
        samples: dict[str, list[float]] = {m: [] for m in methods}
        for r in range(args.repeats):
            order = methods[r % len(methods) :] + methods[: r % len(methods)]
            for method in order:
                samples[method].append(measure(ds, method, budget, data, args.epochs))
        medians = {m: float(np.median(v)) for m, v in samples.items()}
        ref = medians.get("joint")
        results["datasets"][ds] = {
            "encoder": budget["encoder"],
            "batch_size": budget["config"]["batch_size"],
            "samples_per_second": samples,
            "median": medians,
            "ratio_to_joint": {m: v / ref for m, v in medians.items()} if ref else None,
        }
        write_json(args.out, results)
        body = [
            [m, f"{medians[m]:.0f}", f"{medians[m] / ref:.2f}" if ref else "-"] for m in methods
        ]
        lines += [
            f"**{ds}** ({budget['encoder']} encoders, batch {budget['config']['batch_size']}, "
            f"{args.epochs} epochs x {args.repeats} interleaved repeats, median)",
            "",
            *markdown_table(["method", "samples/s", "relative to joint"], body),
            "",
        ]
    print("\n".join(lines))
    print(f"load average at start: {info['load_average_at_start']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
