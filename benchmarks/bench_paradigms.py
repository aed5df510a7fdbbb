"""Every paradigm x seeds x datasets: accuracy, macro-F1, synergy indicator, accuracy per
interaction type, training throughput and epochs run, as mean +- std over seeds.

Budgets come from ``configs/*.yaml`` (one per dataset family) and are the same for every
paradigm: same encoders, same epochs / patience / learning rate, model selection and early
stopping on the validation split only. A seed fixes the data draw (generated data and the
av-digits pairing), the split, the initialisation and the shuffling; every paradigm sees
the same data and split for a given seed, so differences between paradigms are paired.

Per-interaction accuracies use the true mechanism on ``synthetic-mixed`` and the dominant
estimated interaction (``dmil.interactions.InteractionEstimator`` fitted on the training
split, early-stopped on the validation split, applied to the test split) elsewhere; the
labels are computed once per (dataset, seed) and shared by all paradigms.

The run is incremental: every finished (dataset, method, seed) cell is written to the JSON
at once (atomically) and skipped next time if its settings are unchanged, so the grid can
be stopped and continued. Test predictions go to ``<out>.predictions.json`` beside it;
``--refresh-interactions`` re-labels the test samples (e.g. after the estimator changed)
and recomputes the per-interaction accuracies from them without retraining. Standard
deviations are sample standard deviations (ddof = 1) over seeds.

Usage::

    python benchmarks/bench_paradigms.py --out benchmarks/results/paradigms.json
    python benchmarks/bench_paradigms.py --datasets synthetic-mixed --seeds 0-4 \\
        --out benchmarks/results/paradigms.json --markdown benchmarks/results/paradigms.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import interpreter_command, machine_info, markdown_table, parse_seeds, utc_now

from dmil.cli.train import load_yaml_config
from dmil.data import load
from dmil.evaluation import (
    DataSpec,
    accuracy_by_interaction,
    interaction_labels,
    load_splits,
    resolve_data_options,
    run_experiment,
)
from dmil.evaluation.outputs import to_jsonable, write_json
from dmil.models import available_methods
from dmil.training import TrainConfig
from dmil.utils import atomic_path

ROOT = Path(__file__).resolve().parents[1]
#: Benchmark entry -> (registered dataset, budget file relative to the repository root,
#: extra loader options). ``synthetic-mixed-imbalanced`` is synthetic-mixed with a clean x1
#: and a noisy x2 (noise 1.5 vs 4.0), a setting where modality competition could matter.
DATASETS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "synthetic-mixed": ("synthetic-mixed", "configs/synthetic-mixed.yaml", {}),
    "digits-quadrants": ("digits-quadrants", "configs/vectors.yaml", {}),
    "mfeat": ("mfeat", "configs/vectors.yaml", {}),
    "rosmap": ("rosmap", "configs/vectors.yaml", {}),
    "scene15": ("scene15", "configs/vectors.yaml", {}),
    "cub": ("cub", "configs/vectors.yaml", {}),
    "av-digits": ("av-digits", "configs/av-digits.yaml", {}),
    "synthetic-mixed-imbalanced": (
        "synthetic-mixed",
        "configs/synthetic-mixed.yaml",
        {"noise": [1.5, 4.0]},
    ),
}
#: Fewest test samples (summed over seeds) of a type for a statement about a deficit.
MIN_SUBSET = 30
METRIC_KEYS = ("accuracy", "macro_f1", "synergy_indicator")


def run_info(threads: int) -> dict[str, Any]:
    """Cores, load, versions and the date of a CPU run with ``threads`` torch threads."""
    return machine_info(
        torch_threads=threads,
        host={"load_average_at_start": list(os.getloadavg())},
        device="cpu",
    )


def budget_for(dataset: str, *, epochs: int | None) -> dict[str, Any]:
    """The settings of one dataset: train config, model settings, data settings."""
    _, path, extra_options = DATASETS[dataset]
    sections = load_yaml_config(ROOT / path)
    train = dict(sections["train"])
    if epochs is not None:
        train["epochs"] = epochs
    config = TrainConfig.from_dict({**train, "accelerator": "cpu", "progress": False})
    model = dict(sections["model"])
    data = dict(sections["data"])
    return {
        "config": config.to_dict(),
        "encoder": model.get("encoder", "mlp"),
        "embed_dim": int(model.get("embed_dim", 64)),
        "encoder_kwargs": model.get("encoder_kwargs"),
        "method_kwargs": model.get("method_kwargs", {}),
        "options": {**(data.get("options") or {}), **extra_options},
        "val_size": float(data.get("val_size", 0.15)),
        "test_size": float(data.get("test_size", 0.15)),
        "standardize": bool(data.get("standardize", True)),
    }


def train_once(
    dataset: str,
    method: str,
    config: TrainConfig,
    budget: dict[str, Any],
    data: Any,
    *,
    test_interactions: tuple[list[str] | None, str],
    keep_predictions: bool = False,
) -> dict[str, Any]:
    """One :func:`dmil.evaluation.run_experiment` of ``method`` on the benchmark entry
    ``dataset`` with the model and data settings of ``budget``; its metrics."""
    return run_experiment(
        dataset=DATASETS[dataset][0],
        method=method,
        config=config,
        encoder=budget["encoder"],
        embed_dim=budget["embed_dim"],
        method_kwargs=budget["method_kwargs"],
        encoder_kwargs=budget["encoder_kwargs"],
        data_options=budget["options"],
        val_size=budget["val_size"],
        test_size=budget["test_size"],
        standardize=budget["standardize"],
        data=data,
        test_interactions=test_interactions,
        keep_predictions=keep_predictions,
    )


def run_cell(
    dataset: str,
    method: str,
    seed: int,
    budget: dict[str, Any],
    data: Any,
    test_interactions: tuple[list[str] | None, str],
) -> dict[str, Any]:
    config = TrainConfig.from_dict({**budget["config"], "seed": seed})
    t0 = time.perf_counter()
    m = train_once(
        dataset,
        method,
        config,
        budget,
        data,
        test_interactions=test_interactions,
        keep_predictions=True,
    )
    test = m["test"]
    return {
        "accuracy": test["accuracy"],
        "macro_f1": test["macro_f1"],
        "synergy_indicator": test["synergy_indicator"],
        "per_modality_accuracy": test["per_modality_accuracy"],
        "by_interaction": test["by_interaction"],
        "n_test": test["n"],
        "val_accuracy": m["val"]["accuracy"],
        "samples_per_second": m["samples_per_second"],
        "train_seconds": m["train_seconds"],
        "epochs_run": m["epochs_run"],
        "best_epoch": m["best_epoch"],
        "interaction_source": m["interaction_source"],
        "n_classes": int(data.n_classes),
        # Kept apart from the results (see main): labels and predictions of the test split.
        "predictions": {k: m["predictions"][k] for k in ("label", "prediction")},
        "wall_seconds": time.perf_counter() - t0,
        "budget": budget,
        "date_utc": utc_now(),
    }


def test_interaction_labels(splits: Any, *, seed: int, wanted: str) -> tuple[Any, str]:
    """Labels of the test split: the truth, or estimated (``wanted="auto"``), or none.

    When the estimator cannot be imported the breakdown is skipped (source ``"none"``)
    and filled in by a later run from the stored predictions.
    """
    source = "auto" if (wanted == "auto" or splits.test.has_truth) else "none"
    try:
        return interaction_labels(
            splits.test, train=splits.train, val=splits.val, source=source, random_state=seed
        )
    except ImportError as exc:
        logging.getLogger("bench").warning("interaction estimator unavailable (%s)", exc)
        return None, "none"


def refresh_interactions(
    cell: dict[str, Any], preds: dict[str, list[int]], labels: tuple[Any, str]
) -> None:
    """Recompute a cell's per-interaction accuracies from its stored test predictions."""
    kinds, source = labels
    cell["by_interaction"] = to_jsonable(
        accuracy_by_interaction(preds["label"], preds["prediction"], kinds)
    )
    cell["interaction_source"] = source


def _mean_std(values: list[float]) -> tuple[float, float, int]:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan"), 0
    std = float(arr.std(ddof=1)) if arr.size > 1 else float("nan")
    return float(arr.mean()), std, int(arr.size)


def _fmt(mean: float, std: float, digits: int = 3) -> str:
    if np.isnan(mean):
        return "-"
    if np.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def summarise(cells: dict[str, Any], datasets: list[str], methods: list[str]) -> dict[str, Any]:
    """Mean, std and count over seeds for every (dataset, method)."""
    out: dict[str, Any] = {}
    for ds in datasets:
        for method in methods:
            runs = [c for k, c in cells.items() if k.startswith(f"{ds}/{method}/")]
            if not runs:
                continue
            entry: dict[str, Any] = {"seeds": len(runs)}
            for key in (*METRIC_KEYS, "samples_per_second", "epochs_run", "val_accuracy"):
                entry[key] = _mean_std([r[key] for r in runs])
            kinds = sorted({t for r in runs for t in r["by_interaction"]}, key=_kind_order)
            entry["by_interaction"] = {
                t: {
                    "accuracy": _mean_std(
                        [r["by_interaction"].get(t, {}).get("accuracy") for r in runs]
                    ),
                    "n": _mean_std([r["by_interaction"].get(t, {}).get("n", 0) for r in runs]),
                }
                for t in kinds
            }
            entry["interaction_source"] = sorted({r["interaction_source"] for r in runs})
            out[f"{ds}/{method}"] = entry
    return out


def _kind_order(kind: str) -> tuple[int, str]:
    order = {"R": 0, "U1": 1, "U2": 2, "U": 3, "S": 4}
    return order.get(kind, 9), kind


def markdown(summary: dict[str, Any], datasets: list[str], methods: list[str]) -> str:
    """One table per dataset."""
    parts = []
    for ds in datasets:
        rows = [(m, summary[f"{ds}/{m}"]) for m in methods if f"{ds}/{m}" in summary]
        if not rows:
            continue
        kinds = sorted({t for _, e in rows for t in e["by_interaction"]}, key=_kind_order)
        source = sorted({s for _, e in rows for s in e["interaction_source"]})
        head = ["method", "accuracy", "macro-F1", "synergy ind."]
        head += [f"acc {t} (n)" for t in kinds] + ["samples/s", "epochs", "seeds"]
        body = []
        for method, e in rows:
            cells = [method] + [_fmt(*e[k][:2]) for k in METRIC_KEYS]
            for t in kinds:
                acc = e["by_interaction"][t]["accuracy"]
                n = e["by_interaction"][t]["n"][0]
                cells.append(f"{_fmt(*acc[:2])} ({n:.0f})")
            cells.append(_fmt(*e["samples_per_second"][:2], digits=0))
            cells.append(_fmt(*e["epochs_run"][:2], digits=1))
            cells.append(str(e["seeds"]))
            body.append(cells)
        title = f"**{ds}** (interactions: {', '.join(source)})"
        parts.append("\n".join([title, "", *markdown_table(head, body)]))
    return "\n\n".join(parts)


def deficits(cells: dict[str, Any], dataset: str, n_classes: int) -> list[str]:
    """Plain statements on the paper's two deficits for one dataset with R and S labels."""
    seeds = sorted(
        {int(k.rsplit("/", 1)[1]) for k in cells if k.startswith(f"{dataset}/ensemble/")}
        & {int(k.rsplit("/", 1)[1]) for k in cells if k.startswith(f"{dataset}/joint/")}
    )
    if not seeds:
        return []

    def acc(method: str, seed: int, kind: str) -> float | None:
        return cells[f"{dataset}/{method}/{seed}"]["by_interaction"].get(kind, {}).get("accuracy")

    def total(kind: str) -> int:
        return sum(
            cells[f"{dataset}/ensemble/{s}"]["by_interaction"].get(kind, {}).get("n", 0)
            for s in seeds
        )

    lines = []
    s_seeds = [s for s in seeds if acc("ensemble", s, "S") is not None]
    if s_seeds and total("S") < MIN_SUBSET:
        lines.append(
            f"- S samples: only {total('S')} test samples over {len(seeds)} seeds are labelled "
            f"S; too few (< {MIN_SUBSET}) to judge the first deficit."
        )
    elif s_seeds:
        mean, std, _ = _mean_std([acc("ensemble", s, "S") for s in s_seeds])
        chance = 1.0 / n_classes
        spread = 2 * std / np.sqrt(len(s_seeds)) if len(s_seeds) > 1 else 0.0
        near = abs(mean - chance) <= max(0.05, spread)
        lines.append(
            f"- Ensemble on S samples ({total('S')} over {len(s_seeds)} seeds): accuracy "
            f"{_fmt(mean, std)} (mean ± std over seeds), "
            f"chance {chance:.3f}: the first deficit (ensemble near chance on synergy) "
            f"{'APPEARS' if near else 'does NOT appear'} (criterion: |mean - chance| <= "
            "max(0.05, 2 standard errors))."
        )
    r_seeds = [
        s for s in seeds if acc("joint", s, "R") is not None and acc("ensemble", s, "R") is not None
    ]
    if r_seeds and total("R") < MIN_SUBSET:
        lines.append(
            f"- R samples: only {total('R')} test samples over {len(seeds)} seeds are labelled "
            f"R; too few (< {MIN_SUBSET}) to judge the second deficit."
        )
    elif r_seeds:
        joint_r = [acc("joint", s, "R") for s in r_seeds]
        ens_r = [acc("ensemble", s, "R") for s in r_seeds]
        diff = np.asarray(ens_r) - np.asarray(joint_r)
        mean, std, _ = _mean_std(diff.tolist())
        if len(r_seeds) > 1 and std > 0:
            appears = mean > 0 and mean / (std / np.sqrt(len(r_seeds))) > 2.0
        else:
            appears = mean > 0
        jm, js, _ = _mean_std(joint_r)
        em, es, _ = _mean_std(ens_r)
        lines.append(
            f"- R samples ({total('R')} over {len(r_seeds)} seeds): joint {_fmt(jm, js)} vs "
            f"ensemble {_fmt(em, es)} (paired difference ensemble - joint {_fmt(mean, std)}): "
            f"the second deficit (joint below ensemble on redundancy) "
            f"{'APPEARS' if appears else 'does NOT appear'} (criterion: paired difference > 0 "
            "with t > 2)."
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated")
    parser.add_argument("--methods", default=",".join(available_methods()), help="comma-separated")
    parser.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,1,2")
    parser.add_argument("--epochs", type=int, default=None, help="override every budget's epochs")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--interactions",
        default="auto",
        choices=["auto", "none"],
        help="auto: truth where known, else estimated; none: skip the breakdown on real data",
    )
    parser.add_argument(
        "--refresh-interactions",
        action="store_true",
        help="re-estimate the interaction labels of finished cells and recompute their "
        "per-interaction accuracies from the stored predictions (no retraining)",
    )
    parser.add_argument("--out", required=True, help="results JSON (read first; cells reused)")
    parser.add_argument("--markdown", default=None, help="also write the tables there")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; choose from {list(DATASETS)}")
    bad = sorted(set(methods) - set(available_methods()))
    if bad:
        parser.error(f"unknown method(s) {bad}; choose from {available_methods()}")
    seeds = parse_seeds(args.seeds)

    out = Path(args.out)
    results: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    cells: dict[str, Any] = results.get("cells", {})
    # Test predictions per cell live in a compact side file (they are only needed to
    # recompute per-interaction accuracies when the interaction labels change).
    side = out.with_name(out.stem + ".predictions.json")
    predictions: dict[str, Any] = json.loads(side.read_text()) if side.is_file() else {}
    for key, cell in cells.items():
        if "predictions" in cell:
            stored = cell.pop("predictions")
            predictions[key] = {k: stored[k] for k in ("label", "prediction")}
    runs = results.get("runs", [])
    runs.append({"command": interpreter_command(), "machine": run_info(args.threads)})

    def save() -> None:
        all_ds = [d for d in DATASETS if any(k.startswith(f"{d}/") for k in cells)]
        all_m = [m for m in available_methods() if any(f"/{m}/" in k for k in cells)]
        with atomic_path(side) as tmp:
            tmp.write_text(json.dumps(predictions, separators=(",", ":")))
        write_json(out, {"runs": runs, "cells": cells, "summary": summarise(cells, all_ds, all_m)})

    for ds in datasets:
        budget = budget_for(ds, epochs=args.epochs)
        for seed in seeds:
            todo = [
                m
                for m in methods
                if cells.get(f"{ds}/{m}/{seed}", {}).get("budget") != to_jsonable(budget)
            ]
            stale = [
                m
                for m in methods
                if m not in todo
                and args.interactions == "auto"
                and f"{ds}/{m}/{seed}" in predictions
                and (
                    args.refresh_interactions
                    or cells[f"{ds}/{m}/{seed}"]["interaction_source"] == "none"
                )
            ]
            if not todo and not stale:
                continue
            registered = DATASETS[ds][0]
            options = resolve_data_options(registered, budget["options"], seed=seed)
            data = load(registered, root=args.data_dir, **options)
            spec = DataSpec(
                dataset=registered,
                options=options,
                split_seed=seed,
                val_size=budget["val_size"],
                test_size=budget["test_size"],
                standardize=budget["standardize"],
            )
            splits = load_splits(spec, data=data)
            t0 = time.perf_counter()
            labels = test_interaction_labels(splits, seed=seed, wanted=args.interactions)
            est_seconds = time.perf_counter() - t0
            for method in stale:
                if labels[1] != "none":
                    key = f"{ds}/{method}/{seed}"
                    refresh_interactions(cells[key], predictions[key], labels)
                    cell = cells[key]
                    cell["interaction_seconds"] = est_seconds
                    save()
            for method in todo:
                cell = run_cell(ds, method, seed, budget, data, labels)
                cell["interaction_seconds"] = est_seconds
                predictions[f"{ds}/{method}/{seed}"] = cell.pop("predictions")
                cells[f"{ds}/{method}/{seed}"] = to_jsonable(cell)
                save()
                print(
                    f"{ds} {method} seed {seed}: acc {cell['accuracy']:.4f} "
                    f"epochs {cell['epochs_run']} {cell['samples_per_second']:.0f} samples/s "
                    f"({cell['wall_seconds']:.1f} s)",
                    flush=True,
                )
    save()

    summary = summarise(cells, datasets, methods)
    text = markdown(summary, datasets, methods)
    notes = []
    for ds in datasets:
        if any(k.startswith(f"{ds}/") for k in cells):
            first = next(c for k, c in cells.items() if k.startswith(f"{ds}/"))
            kinds = {
                t for k, c in cells.items() if k.startswith(f"{ds}/") for t in c["by_interaction"]
            }
            if {"R", "S"} & kinds:
                notes += [f"**{ds}**:", *deficits(cells, ds, first["n_classes"])]
    if notes:
        text += "\n\n" + "\n".join(notes)
    print(text)
    if args.markdown:
        with atomic_path(args.markdown) as tmp:
            tmp.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
