"""Time and operation count of one training step: DMIL against ``joint``.

Both models are built as the benchmark builds them (the dataset's budget: encoders,
embedding width, batch size, learning rate); one step is forward, the stage's loss,
backward and the optimiser step (the engine's AdamW), on one batch of the training
split. DMIL runs the loss of its ``finetune`` stage (every part trains; ``--stage``
picks another, with that stage's trainable and frozen parts) and, as the engine does, a
forward that computes only what the stage's weighted loss terms need; ``--full-forward``
adds a third step, the same stage with the whole forward pass (``dmil (full forward)``).
``joint`` runs its own loss. The methods' steps are interleaved (one step of each in
turn, ``--steps`` rounds after a warm-up), so load changes hit all of them alike.
Reported per method: the median wall time of a step and the number of ATen operations
per step called from Python or autograd (not those nested inside another ATen
operation), counted with ``torch.profiler`` over 10 steps; and the median over rounds of
each method's step time over the first method's.

Usage::

    python benchmarks/bench_dmil_step_ops.py --dataset synthetic-mixed \\
        --out benchmarks/results/dmil_step_ops.json
    python benchmarks/bench_dmil_step_ops.py --dataset ccv --stage intra --full-forward \\
        --out benchmarks/results/dmil_step_ops_intra_ccv.json
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections import Counter

import torch
from _common import write_report
from bench_dmil_cost import benchmark_splits
from torch.profiler import ProfilerActivity, profile

from dmil.models import build_model, default_stages
from dmil.training import TrainConfig
from dmil.training.epoch import forward_options, stage_loss
from dmil.training.optim import build_optimizer
from dmil.training.stages import StageSpec, plan_stage
from dmil.workflows.suites import budget_sections

logger = logging.getLogger("bench_dmil_step_ops")


FULL = " (full forward)"


def _step_function(method: str, splits, budget: dict, stage_name: str = "finetune"):
    """A closure running one training step of ``method`` (DMIL: in stage ``stage_name``;
    a name ending in :data:`FULL` without the engine's partial forward) on one fixed
    batch."""
    full = method.endswith(FULL)
    method = method.removesuffix(FULL)
    model_section = budget.get("model", {})
    train = budget.get("train", {})
    batch = int(train.get("batch_size", 64))
    torch.manual_seed(0)
    model = build_model(
        method,
        input_shapes=list(splits.train.shapes.values()),
        n_classes=splits.train.n_classes,
        encoder=model_section.get("encoder", "mlp"),
        embed_dim=int(model_section.get("embed_dim", 64)),
        encoder_kwargs=model_section.get("encoder_kwargs"),
    )
    stages = default_stages(method, model_section.get("encoder", "mlp"))
    named = {s.name: s for s in stages or ()}
    if stages and stage_name not in named:
        raise SystemExit(f"--stage: {method} has stages {', '.join(named)}, not {stage_name!r}")
    stage = named[stage_name] if stages else StageSpec(name="train", epochs=1)
    model.train()
    if stages:
        plan = plan_stage(model, stage)
        plan.apply(model)
        plan.set_modes(model, training=True)
    options = {} if full else forward_options(model, stage, embedded=False)
    config = TrainConfig(lr=float(train.get("lr", 1e-3)), progress=False)
    optimizer = build_optimizer(model, config)
    inputs = [splits.train.modality(n)[:batch].float() for n in splits.train.modality_names]
    target = splits.train.labels[:batch]
    extras = {}
    if getattr(model, "sample_target_names", ()):
        k = len(model.component_names)
        extras["gate_target"] = torch.full((batch, k), 1.0 / k)

    def step() -> None:
        output = model(inputs, **options)
        loss = stage_loss(model, output, target, stage, extras)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _timed(step) -> float:
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


def _interleaved(steps: dict, rounds: int) -> dict[str, list[float]]:
    """Per method, the wall time of each of ``rounds`` steps, taken in turn."""
    for step in steps.values():
        for _ in range(20):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(_timed(step))
    return times


def _count_ops(step) -> dict:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            step()
    ops = Counter()
    for event in prof.events():
        parent = event.cpu_parent
        if event.name.startswith("aten::") and (
            parent is None or not parent.name.startswith("aten::")
        ):
            ops[event.name] += 1
    return {
        "ops_per_step": sum(ops.values()) / 10,
        "top_ops": {k: v / 10 for k, v in ops.most_common(10)},
    }


def main() -> int:
    """Measure and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="synthetic-mixed")
    parser.add_argument("--methods", default="joint,dmil")
    parser.add_argument("--stage", default="finetune", help="DMIL's stage to step")
    parser.add_argument(
        "--full-forward",
        action="store_true",
        help="add DMIL's step with the whole forward pass (what the engine skips)",
    )
    parser.add_argument("--steps", type=int, default=300, help="interleaved rounds")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    budget = budget_sections(args.dataset)
    splits = benchmark_splits(args.dataset, budget)
    results = {
        "command": " ".join(sys.argv),
        "dataset": args.dataset,
        "stage": args.stage,
        "load_average_at_start": list(os.getloadavg()),
        "methods": {},
    }
    methods = args.methods.split(",")
    if args.full_forward:
        methods += [m + FULL for m in methods if m.startswith("dmil")]
    steps = {m: _step_function(m, splits, budget, args.stage) for m in methods}
    times = _interleaved(steps, args.steps)
    for method in methods:
        ratios = [t / b for t, b in zip(times[method], times[methods[0]], strict=True)]
        results["methods"][method] = {
            "median_step_ms": 1000 * statistics.median(times[method]),
            f"median_ratio_to_{methods[0]}": statistics.median(ratios),
            **_count_ops(steps[method]),
        }
        logger.info("%s: %s", method, results["methods"][method])
    results["load_average_at_end"] = list(os.getloadavg())
    write_report(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
