"""Sample-level check: does the dominant component name each sample's true mechanism?

synthetic-mixed with equal shares of R, U1, U2 and S (default noise 1.0, 4 classes,
32 features per modality). Per seed the data are drawn with that seed and split 70/15/15
(stratified, same seed); the estimator is fitted on train with val for early stopping
and calibration, and evaluated on the test part only. For each measure the confusion
matrix (rows: true mechanism, columns: argmax of r, u1, u2, s) is summed over seeds and
the accuracy is reported as mean +- std over seeds.

    python benchmarks/bench_estimator_mixed.py --out benchmarks/results/estimator_mixed.json

Options: ``--seeds 0-4``, ``--n-samples 10000``, ``--measures ccs,lsmi``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _common import estimator_parser, parse_seeds, report_header, sample_std, write_report

BENCHMARK = "sample-level dominant interaction on synthetic-mixed (equal shares)"
TYPES = ("R", "U1", "U2", "S")
TARGET = 0.75


def main(argv: list[str] | None = None) -> int:
    args = estimator_parser(__doc__, n_samples=10000).parse_args(argv)

    from dmil.data import load, split_dataset
    from dmil.interactions import InteractionEstimator, confusion_matrix

    runs = []
    for measure in args.measures.split(","):
        for seed in parse_seeds(args.seeds):
            data = load(
                "synthetic-mixed",
                n_samples=args.n_samples,
                shares={t: 0.25 for t in TYPES},
                random_state=seed,
            )
            parts = split_dataset(data, val_size=0.15, test_size=0.15, random_state=seed)
            t0 = time.perf_counter()
            est = InteractionEstimator(measure=measure, random_state=seed)
            table = est.fit(parts.train, parts.val).transform(parts.test)
            seconds = time.perf_counter() - t0
            cm = confusion_matrix(table.true_type, table.dominant())
            runs.append(
                {
                    "measure": measure,
                    "seed": seed,
                    "confusion": cm.tolist(),
                    "accuracy": float(np.trace(cm) / cm.sum()),
                    "seconds": seconds,
                    "n_test": len(table),
                    "means": {k: v for k, v in table.means().items()},
                }
            )
            print(
                f"{measure:>5} seed {seed}: accuracy {runs[-1]['accuracy']:.3f} "
                f"({len(table)} test samples, {seconds:.1f} s)",
                flush=True,
            )

    summary = {}
    for measure in args.measures.split(","):
        sel = [r for r in runs if r["measure"] == measure]
        acc = np.array([r["accuracy"] for r in sel])
        cm = np.sum([np.array(r["confusion"]) for r in sel], axis=0)
        recall = cm.diagonal() / cm.sum(1)
        summary[measure] = {
            "accuracy_mean": float(acc.mean()),
            "accuracy_std": sample_std(acc),
            "confusion_summed": cm.tolist(),
            "recall": dict(zip(TYPES, recall.tolist(), strict=True)),
        }
        print(
            f"\n{measure}: accuracy {acc.mean():.3f} +- {summary[measure]['accuracy_std']:.3f} "
            f"over {acc.size} seeds (target >= {TARGET})"
        )
        print("  true \\ dominant " + " ".join(f"{t:>6}" for t in TYPES) + "  recall")
        for t, row, rc in zip(TYPES, cm, recall, strict=True):
            print(f"  {t:>15} " + " ".join(f"{v:>6d}" for v in row) + f"  {rc:.3f}")
    header = report_header(BENCHMARK, argv)
    report = {**header, "n_samples": args.n_samples, "summary": summary, "runs": runs}
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
