"""The estimator on bits stored as integers and as floats: error against exact values, time.

For each bitwise suite (xor, and, or, unique, redundant = copy; 20,000 samples, split
70/15/15 with the seed) and each coding of the same bits (int64 codes, float32 values as
``.pt`` files usually store them), ``fit(train, val)`` + ``transform(all)`` per measure:
the largest error of the four dataset-level components against the measure's exact
value (nats), the wall time of fit + transform after imports, and how each modality was
modelled (``discrete``: exact counts).

    python benchmarks/bench_float_coded.py --out benchmarks/results/float_coded.json

Options: ``--seeds 0``, ``--n-samples 20000``, ``--measures ccs,lsmi``.
"""

from __future__ import annotations

import statistics
import time

from _common import estimator_parser, parse_seeds, report_header, write_report

TASKS = ("xor", "and", "or", "unique", "redundant")


def main(argv: list[str] | None = None) -> int:
    parser = estimator_parser(__doc__, n_samples=20000)
    parser.set_defaults(seeds="0")
    args = parser.parse_args(argv)
    import torch

    from dmil.data import MultimodalDataset, load, split_dataset
    from dmil.interactions import InteractionEstimator, exact_measure

    rows = []
    for seed in parse_seeds(args.seeds):
        for task in TASKS:
            data = load(f"synthetic-{task}", n_samples=args.n_samples, random_state=seed)
            exact = {m: exact_measure(data.metadata["joint"], m) for m in args.measures.split(",")}
            for coding in ("int", "float"):
                coded = data
                if coding == "float":
                    coded = MultimodalDataset([x.float() for x in data.modalities], data.labels)
                parts = split_dataset(coded, val_size=0.15, test_size=0.15, random_state=seed)
                for measure in args.measures.split(","):
                    start = time.perf_counter()
                    est = InteractionEstimator(measure=measure, random_state=seed, progress=False)
                    means = est.fit(parts.train, parts.val).transform(coded).means()
                    seconds = time.perf_counter() - start
                    error = max(abs(means[k] - exact[measure][k]) for k in ("R", "U1", "U2", "S"))
                    rows.append(
                        {
                            "task": task,
                            "coding": coding,
                            "measure": measure,
                            "seed": seed,
                            "max_error": error,
                            "seconds": seconds,
                            "kinds": [c.kind for c in est.coders_],
                        }
                    )
                    print(
                        f"{task:9s} {coding:5s} {measure:4s} seed {seed}: error {error:.4f} "
                        f"nats, {seconds:.3f} s, {[c.kind for c in est.coders_]}"
                    )
    report = {
        **report_header("estimator on int- and float-coded bits", argv),
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
        "worst_error": max(r["max_error"] for r in rows),
        "median_seconds": statistics.median(r["seconds"] for r in rows),
        "max_seconds": max(r["seconds"] for r in rows),
    }
    print(
        f"worst error {report['worst_error']:.4f} nats; fit + transform median "
        f"{report['median_seconds']:.3f} s, max {report['max_seconds']:.3f} s"
    )
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
