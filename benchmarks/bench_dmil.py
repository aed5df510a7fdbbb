"""DMIL and its ablations against the paradigms: accuracy per dataset and per interaction.

Every cell (dataset x method x seed) is one ``dmil train`` run in its own process, with
the dataset family's budget file (``configs/*.yaml``: the same encoders and total epochs
for every method; a staged method's preset is rescaled to that budget). Model selection
and early stopping use the validation split only. A cell whose ``metrics.json`` exists is
never recomputed, so an interrupted benchmark continues where it stopped (a cell killed
mid-way has no ``metrics.json`` and is redone from scratch).

Usage::

    python benchmarks/bench_dmil.py --datasets synthetic-mixed,tcga-brca,ccv \\
        --methods dmil,dmil-fc,joint --seeds 0-4 --out benchmarks/results/dmil
    python benchmarks/bench_dmil.py --out benchmarks/results/dmil --report-only

writes ``<out>/<dataset>/<method>/seed<k>/`` run directories and ``<out>/summary.md``
(mean +- std over seeds, DMIL's rank, paired differences to the best baseline).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("bench_dmil")

ROOT = Path(__file__).resolve().parent.parent
#: Dataset -> budget file (relative to the repository root) and loader options.
BUDGETS: dict[str, tuple[str, list[str]]] = {
    "synthetic-mixed": ("configs/synthetic-mixed.yaml", []),
    "ccv": ("configs/vectors.yaml", []),
    "tcga-brca": ("configs/vectors.yaml", []),
    "rosmap": ("configs/vectors.yaml", []),
    "scene15": ("configs/vectors.yaml", []),
    "cub": ("configs/vectors.yaml", []),
    "mfeat": ("configs/vectors.yaml", []),
    "digits-quadrants": ("configs/vectors.yaml", []),
    "av-digits": ("configs/av-digits.yaml", []),
}
BASELINES = ("ensemble", "joint", "joint-mlp", "mlb", "i2m2", "ogm-ge")
ABLATIONS = ("dmil-fc", "dmil-id", "dmil-cd", "dmil-mean")


def _seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def run_cell(out: Path, dataset: str, method: str, seed: int, threads: int) -> dict | None:
    """Train one cell unless its ``metrics.json`` exists; return the metrics."""
    cell = out / dataset / method / f"seed{seed}"
    metrics = cell / "metrics.json"
    if metrics.is_file():
        return json.loads(metrics.read_text())
    if cell.exists():  # killed mid-way: redo
        shutil.rmtree(cell)
    budget, options = BUDGETS[dataset]
    # "dmil@gate_guidance=0" is the method dmil with that method setting.
    name, _, setting = method.partition("@")
    if setting:
        options = [*options, "--method-option", setting]
    cmd = [
        sys.executable,
        "-m",
        "dmil.cli",
        "train",
        "--dataset",
        dataset,
        "--method",
        name,
        "--config",
        str(ROOT / budget),
        "--seed",
        str(seed),
        "--out",
        str(cell),
        "--no-progress",
        "--num-threads",
        str(threads),
        *options,
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        logger.error("%s %s seed %d failed: %s", dataset, method, seed, done.stderr[-2000:])
        return None
    logger.info("%s %s seed %d: %.1f s", dataset, method, seed, time.perf_counter() - start)
    return json.loads(metrics.read_text())


def explain_cell(cell: Path, threads: int) -> dict | None:
    """``dmil explain`` of a gated model's run (once; kept in ``<cell>/explain``)."""
    target = cell / "explain" / "explanation.json"
    if not target.is_file():
        cmd = [
            sys.executable,
            "-m",
            "dmil.cli",
            "explain",
            "--checkpoint",
            str(cell),
            "--out",
            str(cell / "explain"),
            "--num-threads",
            str(threads),
            "--overwrite",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            logger.error("explain %s failed: %s", cell, done.stderr[-2000:])
            return None
    return json.loads(target.read_text())


def _collect(out: Path) -> dict[str, dict[str, dict[int, dict]]]:
    runs: dict[str, dict[str, dict[int, dict]]] = {}
    for metrics in sorted(out.glob("*/*/seed*/metrics.json")):
        seed = int(metrics.parent.name[4:])
        method = metrics.parent.parent.name
        dataset = metrics.parent.parent.parent.name
        content = json.loads(metrics.read_text())
        gate = metrics.parent / "explain" / "explanation.json"
        if gate.is_file():
            content["gate"] = json.loads(gate.read_text())
        runs.setdefault(dataset, {}).setdefault(method, {})[seed] = content
    return runs


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def summary_markdown(out: Path) -> str:
    """Tables over every finished cell under ``out``."""
    runs = _collect(out)
    lines: list[str] = []
    for dataset, methods in runs.items():
        types: list[str] = []
        for per_seed in methods.values():
            for m in per_seed.values():
                for t in m["test"].get("by_interaction", {}):
                    if t not in types:
                        types.append(t)
        source = next(iter(next(iter(methods.values())).values())).get("interaction_source")
        lines += [f"**{dataset}** (interactions: {source})", ""]
        head = ["method", "accuracy", "synergy ind. (shared ref.)"]
        head += [f"acc {t}" for t in types] + ["train s", "seeds"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        means = {}
        for method in sorted(methods):
            per_seed = methods[method]
            accs = [m["test"]["accuracy"] for m in per_seed.values()]
            means[method] = float(np.mean(accs))
            syn = [
                m["test"]["synergy_indicator"]
                for m in per_seed.values()
                if m["test"].get("synergy_indicator") is not None
            ]
            row = [method, _ms(accs), _ms(syn)]
            for t in types:
                vals = [
                    m["test"]["by_interaction"][t]["accuracy"]
                    for m in per_seed.values()
                    if m["test"]["by_interaction"].get(t, {}).get("accuracy") is not None
                ]
                row.append(_ms(vals))
            row.append(_ms([m["train_seconds"] for m in per_seed.values()]))
            row.append(str(len(per_seed)))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
        for method in sorted(methods):
            gates = [m["gate"] for m in methods[method].values() if "gate" in m]
            if not gates or gates[0].get("agreement") is None:
                continue
            agree = [g["agreement"] for g in gates]
            comps, types = gates[0]["component_names"], gates[0]["types"]
            total = np.sum([np.asarray(g["confusion"]) for g in gates], axis=0)
            lines.append(
                f"{method}: gate agreement with the {source} type {_ms(agree)} "
                f"({len(gates)} seeds); dominant component (rows) vs type (columns), "
                "summed over seeds:"
            )
            lines += ["", "| dominant | " + " | ".join(types) + " |"]
            lines.append("|" + "---|" * (len(types) + 1))
            for comp, row in zip(comps, total, strict=True):
                lines.append(f"| {comp} | " + " | ".join(str(int(v)) for v in row) + " |")
            lines.append("")
        if "dmil" in methods:
            ranked = sorted(means, key=lambda k: -means[k])
            baselines = [b for b in BASELINES if b in methods]
            if baselines:
                best = max(baselines, key=lambda k: means[k])
                seeds = sorted(set(methods["dmil"]) & set(methods[best]))
                diffs = [
                    methods["dmil"][s]["test"]["accuracy"] - methods[best][s]["test"]["accuracy"]
                    for s in seeds
                ]
                lines.append(
                    f"DMIL rank {ranked.index('dmil') + 1} of {len(ranked)}; best baseline "
                    f"{best}; paired difference DMIL - {best} over seeds {seeds}: "
                    f"{_ms(diffs)}"
                )
                lines.append("")
    return "\n".join(lines)


def main() -> int:
    """Run the requested cells, then write ``summary.md``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="synthetic-mixed,tcga-brca,ccv")
    parser.add_argument("--methods", default=",".join(("dmil", *ABLATIONS, *BASELINES)))
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="first run `dmil explain` on every finished dmil* cell (gate agreement)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.out)
    if args.explain:
        for cell in sorted(out.glob("*/dmil*/seed*")):
            if (cell / "metrics.json").is_file():
                explain_cell(cell, args.threads)
    if not args.report_only:
        for dataset in args.datasets.split(","):
            if dataset not in BUDGETS:
                parser.error(f"unknown dataset {dataset!r}; known: {', '.join(BUDGETS)}")
            for method in args.methods.split(","):
                for seed in _seeds(args.seeds):
                    run_cell(out, dataset, method, seed, args.threads)
    out.mkdir(parents=True, exist_ok=True)
    text = summary_markdown(out)
    tmp = out / f".summary.md.{os.getpid()}.tmp"
    tmp.write_text(text + "\n")
    os.replace(tmp, out / "summary.md")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
