"""Speed of the interaction estimator on the LSMI demonstration data.

synthetic-gaussian (rho 0.5, noise 0.5, 10 classes, 2,000 samples), split 80/20 into
train and test (stratified, seeded). Per measure and seed, a fresh Python process loads
the data, then times ``fit(train)`` (a 20 % validation part is carved from train for
early stopping) plus ``transform(test)`` and ``transform(train)`` -- the work LSMI's demo
does (it reports train and validation values). The time excludes interpreter start-up
and imports; the whole process's wall time is reported beside it.

    python benchmarks/bench_estimator.py --out benchmarks/results/estimator_speed.json

Options: ``--seeds 0-4``, ``--measures ccs,lsmi``, ``--threads N``, ``--device``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

LIMIT_S = 3.0


def worker(measure: str, seed: int, threads: int | None, device: str) -> dict:
    import torch

    from dmil.data import load
    from dmil.interactions import InteractionEstimator
    from dmil.interactions.checks import carve_validation

    data = load(
        "synthetic-gaussian", n_samples=2000, n_classes=10, rho=0.5, noise=0.5, random_state=seed
    )
    train_idx, test_idx = carve_validation(data.labels.numpy(), 0.2, np.random.default_rng(seed))
    train, test = data.subset(train_idx), data.subset(test_idx)
    t0 = time.perf_counter()
    est = InteractionEstimator(
        measure=measure, random_state=seed, n_threads=threads, device=device, progress=False
    ).fit(train)
    t1 = time.perf_counter()
    table = est.transform(test)
    est.transform(train)
    t2 = time.perf_counter()
    return {
        "measure": measure,
        "seed": seed,
        "fit_s": t1 - t0,
        "transform_s": t2 - t1,
        "total_s": t2 - t0,
        "torch_threads": torch.get_num_threads() if threads is None else threads,
        "n_checks": {k: v.n_checks for k, v in est.history_.items()},
        "test_summary": {
            k: round(v, 4) for k, v in table.summary().items() if k in ("R", "U1", "U2", "S")
        },
    }


def _seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--measures", default="ccs,lsmi")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        seed = _seeds(args.seeds)[0]
        print(json.dumps(worker(args.measures, seed, args.threads, args.device)))
        return 0

    runs = []
    print(
        f"{'measure':>7} {'seed':>4} {'fit s':>6} {'transform s':>11} {'total s':>7} "
        f"{'process s':>9}  test R/U1/U2/S"
    )
    for measure in args.measures.split(","):
        for seed in _seeds(args.seeds):
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                "--measures",
                measure,
                "--seeds",
                str(seed),
                "--device",
                args.device,
            ]
            if args.threads is not None:
                cmd += ["--threads", str(args.threads)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return proc.returncode
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r["process_wall_s"] = wall
            runs.append(r)
            comps = " ".join(f"{r['test_summary'][k]:.3f}" for k in ("R", "U1", "U2", "S"))
            print(
                f"{measure:>7} {seed:>4} {r['fit_s']:>6.2f} {r['transform_s']:>11.3f} "
                f"{r['total_s']:>7.2f} {wall:>9.2f}  {comps}",
                flush=True,
            )
    stats = {}
    for measure in args.measures.split(","):
        totals = np.array([r["total_s"] for r in runs if r["measure"] == measure])
        stats[measure] = {
            "mean_s": float(totals.mean()),
            "std_s": float(totals.std(ddof=1)) if totals.size > 1 else 0.0,
            "max_s": float(totals.max()),
        }
        verdict = "PASS" if totals.max() < LIMIT_S else "FAIL"
        print(
            f"{measure}: fit+transform {totals.mean():.2f} +- {stats[measure]['std_s']:.2f} s "
            f"(max {totals.max():.2f} s; limit {LIMIT_S} s: {verdict})"
        )
    report = {
        "benchmark": "estimator speed on synthetic-gaussian (2000 samples, 80/20)",
        "command": " ".join([Path(sys.argv[0]).name] + (argv or sys.argv[1:])),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
            "device": args.device,
        },
        "runs": runs,
        "stats": stats,
    }
    if args.out:
        from dmil.utils import atomic_path

        with atomic_path(args.out) as tmp:
            tmp.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
