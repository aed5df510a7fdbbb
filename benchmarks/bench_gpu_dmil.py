"""DMIL against ``joint`` on a GPU: av-digits (2-D form) with ``resnet18`` encoders, bf16.

Both methods are trained in this one process, alternately (joint, dmil, joint, dmil,
...), with the av-digits budget (batch 64, AdamW 1e-3) and the same total epochs; early
stopping is off in every stage so both run all their epochs, and DMIL runs its
default stages (``dmil-cnn``) rescaled to that total. Reported per method: the median
over repeats of the training samples/s (the engine's ``samples_per_second``, the
optimisation steps only), of the training wall time (``train_seconds``: optimisation and
validation), and the peak GPU memory; and the medians of the per-repeat DMIL / joint
ratios of wall time and of samples/s.

    python benchmarks/bench_gpu_dmil.py --out benchmarks/results/gpu_dmil.json   # on a GPU
    python benchmarks/bench_gpu_dmil.py --smoke                                  # CPU check

``--smoke`` runs every code path on a small subset on the CPU at 32-true precision with
the small ``cnn`` encoder (``resnet18`` trains at a few samples/s on a 2-core CPU), to
check the script before device time is spent. Options: ``--epochs 6``, ``--repeats 2``,
``--batch-size 64``, ``--precision bf16-mixed``, ``--encoder resnet18``,
``--device cuda``, ``--seed 0``.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from _common import add_out_option, command_line, machine_info, utc_now, write_report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--encoder", default="resnet18")
    p.add_argument("--device", default="cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny CPU run of every code path")
    add_out_option(p)
    return p


def _budget(args: argparse.Namespace) -> dict[str, Any]:
    """The av-digits benchmark budget with this run's encoder and batch size."""
    from dmil.workflows.suites import budget_sections

    budget = budget_sections("av-digits")
    budget["model"] = {"encoder": args.encoder, "embed_dim": 64}
    budget["train"]["batch_size"] = args.batch_size
    return budget


def _train(splits: Any, method: str, budget: dict, args: argparse.Namespace) -> dict[str, float]:
    import torch
    from bench_dmil_cost import train_fixed_epochs

    cuda = args.device == "cuda" and torch.cuda.is_available()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    result = train_fixed_epochs(
        splits,
        method,
        budget,
        args.epochs,
        seed=args.seed,
        accelerator=args.device,
        precision=args.precision,
    )
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan")
    return {
        "samples_per_second": float(result.samples_per_second),
        "train_seconds": float(result.train_seconds),
        "peak_memory_mib": peak,
    }


def main() -> int:
    """Measure and write the report."""
    args = _parser().parse_args()
    if args.smoke:
        args.device, args.precision, args.encoder = "cpu", "32-true", "cnn"
        args.epochs, args.repeats = max(3, min(args.epochs, 3)), 1
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here; use --smoke for a CPU check.")
    from bench_dmil_cost import benchmark_splits

    budget = _budget(args)
    splits = benchmark_splits("av-digits", budget, seed=args.seed, every=40 if args.smoke else 1)
    runs: dict[str, list[dict[str, float]]] = {"joint": [], "dmil": []}
    for _ in range(args.repeats):
        for method in runs:
            runs[method].append(_train(splits, method, budget, args))
            print(f"{method}: {runs[method][-1]}", flush=True)
    medians = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
    pairs = list(zip(runs["dmil"], runs["joint"], strict=True))
    report = {
        "command": command_line(),
        "date_utc": utc_now(),
        "machine": machine_info(torch_threads=torch.get_num_threads()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "runs": runs,
        "medians": medians,
        "median_ratio_wall_dmil_over_joint": statistics.median(
            d["train_seconds"] / j["train_seconds"] for d, j in pairs
        ),
        "median_ratio_rate_dmil_over_joint": statistics.median(
            d["samples_per_second"] / j["samples_per_second"] for d, j in pairs
        ),
    }
    write_report(args.out, report)
    print("| method | samples/s | train s | peak MiB |\n|---|---:|---:|---:|")
    for m, v in medians.items():
        print(
            f"| {m} | {v['samples_per_second']:.0f} | {v['train_seconds']:.1f} | "
            f"{v['peak_memory_mib']:.0f} |"
        )
    print(f"DMIL / joint wall time: {report['median_ratio_wall_dmil_over_joint']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
