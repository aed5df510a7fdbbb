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

import json
import os
import sys
import time

import numpy as np
from _common import (
    WorkerError,
    estimator_parser,
    host_summary,
    parse_seeds,
    report_header,
    run_worker,
    sample_std,
    worker_flags,
    write_report,
)

BENCHMARK = "estimator speed on synthetic-gaussian (2000 samples, 80/20)"
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


def main(argv: list[str] | None = None) -> int:
    args = estimator_parser(__doc__, workers=True).parse_args(argv)
    if args.worker:
        seed = parse_seeds(args.seeds)[0]
        print(json.dumps(worker(args.measures, seed, args.threads, args.device)))
        return 0

    runs = []
    print(
        f"{'measure':>7} {'seed':>4} {'fit s':>6} {'transform s':>11} {'total s':>7} "
        f"{'process s':>9}  test R/U1/U2/S"
    )
    for measure in args.measures.split(","):
        for seed in parse_seeds(args.seeds):
            flags = worker_flags(
                measures=measure, seeds=seed, device=args.device, threads=args.threads
            )
            try:
                r = run_worker(__file__, flags)
            except WorkerError as exc:
                return exc.returncode
            wall = r["process_wall_s"]
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
            "std_s": sample_std(totals),
            "max_s": float(totals.max()),
        }
        verdict = "PASS" if totals.max() < LIMIT_S else "FAIL"
        print(
            f"{measure}: fit+transform {totals.mean():.2f} +- {stats[measure]['std_s']:.2f} s "
            f"(max {totals.max():.2f} s; limit {LIMIT_S} s: {verdict})"
        )
    machine = host_summary(load_average=os.getloadavg(), device=args.device)
    header = report_header(BENCHMARK, argv, machine)
    write_report(args.out, {**header, "runs": runs, "stats": stats})
    return 0


if __name__ == "__main__":
    sys.exit(main())
