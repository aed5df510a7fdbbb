"""Time and peak memory of the interaction estimator at 10^4, 10^5 and 10^6 samples.

Data: two modalities of 64 features each (float32), 10 Gaussian classes with noise
correlated across the modalities (the synthetic-gaussian recipe, drawn in chunks so that
the data themselves take exactly N x 2 x 64 x 4 bytes). Each (size, measure) runs in a
fresh subprocess: ``fit`` on all samples (a stratified 20 % validation part is carved
out for early stopping), then ``transform`` of all samples. Reported per run: seconds
for fit and transform, peak resident memory of the process (``ru_maxrss``) and the
resident memory right after the data were drawn.

    python benchmarks/bench_estimator_scale.py --out benchmarks/results/estimator_scale.json

Options: ``--sizes 10000,100000,1000000``, ``--measures ccs,lsmi``, ``--threads N``
(torch threads; default: the estimator's own choice), ``--seed``, ``--device``.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time

import numpy as np
import torch
from _common import (
    WorkerError,
    add_out_option,
    add_worker_option,
    host_summary,
    report_header,
    run_worker,
    worker_flags,
    write_report,
)

DIM = 64
N_CLASSES = 10
CHUNK = 100_000


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def draw(n: int, seed: int):
    """The two modalities (float32, (n, 64)) and labels, drawn chunk by chunk."""
    from dmil.data import MultimodalDataset

    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(2, N_CLASSES, DIM, generator=gen) / math.sqrt(DIM)
    y = torch.arange(n) % N_CLASSES
    y = y[torch.randperm(n, generator=gen)]
    x1 = torch.empty(n, DIM)
    x2 = torch.empty(n, DIM)
    rho, noise = 0.5, 0.5
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        yc = y[start:stop]
        shared = torch.randn(stop - start, DIM, generator=gen)
        x1[start:stop] = means[0, yc] + noise * (
            math.sqrt(rho) * shared
            + math.sqrt(1 - rho) * torch.randn(stop - start, DIM, generator=gen)
        )
        x2[start:stop] = means[1, yc] + noise * (
            math.sqrt(rho) * shared
            + math.sqrt(1 - rho) * torch.randn(stop - start, DIM, generator=gen)
        )
    return MultimodalDataset([x1, x2], y, name=f"gaussian-64d-{n}")


def worker(n: int, measure: str, seed: int, threads: int | None, device: str) -> dict:
    from dmil.interactions import InteractionEstimator

    data = draw(n, seed)
    rss_data = _rss_mb()
    est = InteractionEstimator(
        measure=measure, random_state=seed, n_threads=threads, device=device, progress=False
    )
    t0 = time.perf_counter()
    est.fit(data)
    t1 = time.perf_counter()
    table = est.transform(data)
    t2 = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "n_samples": n,
        "measure": measure,
        "fit_s": t1 - t0,
        "transform_s": t2 - t1,
        "total_s": t2 - t0,
        "peak_rss_mb": peak_mb,
        "rss_after_data_mb": rss_data,
        "n_checks": {k: v.n_checks for k, v in est.history_.items()},
        "batch_size": est._batch_size(est.n_train_),
        "torch_threads": threads if threads is not None else est._threads(torch.device(device)),
        "means": {k: round(v, 4) for k, v in table.means().items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--measures", default="ccs,lsmi")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    add_out_option(parser)
    add_worker_option(parser)
    parser.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(args.n, args.measures, args.seed, args.threads, args.device)
        print(json.dumps(result))
        return 0

    sizes = [int(float(s)) for s in args.sizes.split(",")]
    measures = args.measures.split(",")
    runs = []
    print(
        f"{'N':>9} {'measure':>7} {'fit s':>8} {'transform s':>11} {'total s':>8} "
        f"{'peak MB':>8} {'data MB':>8}"
    )
    for measure in measures:
        for n in sizes:
            flags = worker_flags(
                n=n, measures=measure, seed=args.seed, device=args.device, threads=args.threads
            )
            try:
                result = run_worker(__file__, flags)
            except WorkerError as exc:
                return exc.returncode
            runs.append(result)
            print(
                f"{n:>9} {measure:>7} {result['fit_s']:>8.1f} {result['transform_s']:>11.2f} "
                f"{result['total_s']:>8.1f} {result['peak_rss_mb']:>8.0f} "
                f"{result['rss_after_data_mb']:>8.0f}",
                flush=True,
            )
    for measure in measures:
        pts = [(r["n_samples"], r["total_s"]) for r in runs if r["measure"] == measure]
        if len(pts) >= 2:
            slope = np.polyfit(np.log10([p[0] for p in pts]), np.log10([p[1] for p in pts]), 1)[0]
            print(f"{measure}: time grows as N^{slope:.2f} over {[p[0] for p in pts]}")
    machine = host_summary(torch=torch.__version__, device=args.device)
    header = report_header("estimator scale (2 x 64-d, 10 classes)", argv, machine)
    write_report(args.out, {**header, "seed": args.seed, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
