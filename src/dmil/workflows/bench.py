"""``dmil bench``: the benchmark matrix (datasets x methods x seeds) behind BENCHMARKS.md.

Every cell is one :func:`~dmil.evaluation.run_experiment` with the dataset's budget
(:mod:`dmil.workflows.suites`): the same encoders, epochs and early stopping on the
validation split for every method. A seed fixes the data draw of generated data, the
split, the initialisation and the shuffling, so methods are compared on the same data.
Per-interaction accuracies use the true mechanism where the data have it and the
dominant estimated interaction elsewhere, shared by all methods of a (dataset, seed).

The run is resumable: a finished cell is written at once, atomically, to
``<out>/cells/<dataset>/<method>/seed<k>.json`` with the digest of its spec, and is
never recomputed while its spec is unchanged; a cell interrupted mid-way left nothing and
is redone. After every cell, ``runs.csv`` (one row per cell) and ``tables.md`` (one table
per dataset, mean ± std over seeds) are rewritten from all finished cells.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dmil.data.container import type_key
from dmil.spec import ExperimentSpec
from dmil.workflows.study import mean_std
from dmil.workflows.suites import BENCH_DATASETS, budget_sections

__all__ = ["cell_spec", "markdown_tables", "run_bench", "write_csv"]

logger = logging.getLogger(__name__)

_METRICS = ("accuracy", "macro_f1", "synergy_indicator", "synergy_indicator_own")


def cell_spec(entry: str, method: str, seed: int, *, epochs: int | None = None) -> ExperimentSpec:
    """The spec of one cell: the entry's budget, the method, the seed."""
    sections = budget_sections(entry)
    sections["model"]["method"] = method
    sections["train"].update(seed=int(seed), accelerator="cpu", progress=False)
    if epochs is not None:
        sections["train"]["epochs"] = int(epochs)
    return ExperimentSpec().override(sections, source=f"budget of {entry}")


def _digest(spec: ExperimentSpec) -> str:
    text = json.dumps(spec.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cell_path(out: Path, entry: str, method: str, seed: int) -> Path:
    return out / "cells" / entry / method / f"seed{seed}.json"


def _finished(path: Path, digest: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        cell = json.loads(path.read_text())
    except ValueError:
        logger.warning("%s is unreadable; the cell is recomputed", path)
        return None
    if cell.get("spec_digest") != digest:
        logger.info("%s was made with other settings; the cell is recomputed", path)
        return None
    if "gate" not in cell:
        logger.info("%s predates gate explanations; the cell is recomputed", path)
        return None
    return cell


def _gate(method: str, result: Any) -> dict[str, Any] | None:
    """The gate against the test samples' interaction types (agreement, confusion, mean
    weight per type), for a method that predicts with a learned gate
    (``has_learned_gate``); else ``None`` (no learned gate, or no interaction labels)."""
    from dmil.evaluation.explain import explain
    from dmil.models import has_learned_gate

    predictions = result.predictions
    if (
        not has_learned_gate(method)
        or predictions.gate is None
        or not predictions.component_names
        or not result.interactions
    ):
        return None
    return explain(predictions, result.interactions).to_dict()


def _cell(entry: str, method: str, seed: int, metrics: dict[str, Any], wall: float) -> dict:
    test = metrics["test"]
    return {
        "dataset": entry,
        "method": method,
        "seed": seed,
        **{k: test.get(k) for k in _METRICS},
        "by_interaction": test.get("by_interaction", {}),
        "n_test": test["n"],
        "val_accuracy": metrics["val"]["accuracy"],
        "train_seconds": metrics["train_seconds"],
        "samples_per_second": metrics["samples_per_second"],
        "epochs_run": metrics["epochs_run"],
        "best_epoch": metrics["best_epoch"],
        "interaction_source": metrics["interaction_source"],
        "wall_seconds": wall,
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _write_cell(path: Path, cell: dict[str, Any]) -> None:
    from dmil.utils import atomic_path, to_jsonable

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(to_jsonable(cell), indent=2) + "\n")


def _all_cells(out: Path) -> list[dict[str, Any]]:
    cells = []
    for path in sorted((out / "cells").glob("*/*/seed*.json")):
        try:
            cells.append(json.loads(path.read_text()))
        except ValueError:
            continue
    return cells


def _labels(splits: Any, seed: int) -> tuple[list[str] | None, str]:
    from dmil.evaluation.interactions import interaction_labels

    return interaction_labels(
        splits.test, train=splits.train, val=splits.val, source="auto", random_state=seed
    )


def run_bench(
    entries: Sequence[str],
    methods: Sequence[str],
    seeds: Sequence[int],
    out_dir: str | Path,
    *,
    epochs: int | None = None,
    data_dir: str | Path | None = None,
    say: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every missing cell of ``entries x methods x seeds`` into ``out_dir``.

    Returns
    -------
    list of dict
        Every finished cell in ``out_dir`` (also those of earlier runs).
    """
    from dmil.evaluation.experiment import (
        execute_experiment,
        load_data,
        load_splits,
        resolve_data_spec,
    )

    unknown = [e for e in entries if e not in BENCH_DATASETS]
    if unknown:
        raise ValueError(
            f"unknown benchmark dataset(s) {unknown}; known: {', '.join(BENCH_DATASETS)}."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = say or (lambda text: None)
    total = len(entries) * len(methods) * len(seeds)
    done = 0
    for entry in entries:
        for seed in seeds:
            specs = {m: cell_spec(entry, m, seed, epochs=epochs) for m in methods}
            todo = [
                m
                for m in methods
                if _finished(_cell_path(out, entry, m, seed), _digest(specs[m])) is None
            ]
            done += len(methods) - len(todo)
            if not todo:
                continue
            data_spec = resolve_data_spec(specs[todo[0]].data, seed)
            data = load_data(data_spec, data_dir=data_dir)
            labels = _labels(load_splits(data_spec, data=data), seed)
            for method in todo:
                done += 1
                say(f"[{done}/{total}] {entry} {method} seed {seed}")
                t0 = time.perf_counter()
                result = execute_experiment(
                    specs[method], data=data, data_dir=data_dir, test_interactions=labels
                )
                cell = _cell(entry, method, seed, result.metrics, time.perf_counter() - t0)
                cell["gate"] = _gate(method, result)
                cell["spec_digest"] = _digest(specs[method])
                _write_cell(_cell_path(out, entry, method, seed), cell)
                write_outputs(out, entries, methods)
                say(
                    f"    accuracy {cell['accuracy']:.4f}, {cell['epochs_run']} epochs, "
                    f"{cell['wall_seconds']:.1f} s"
                )
    write_outputs(out, entries, methods)
    return _all_cells(out)


def write_outputs(out: Path, entries: Sequence[str], methods: Sequence[str]) -> None:
    """Rewrite ``runs.csv`` and ``tables.md`` from every finished cell."""
    from dmil.utils import atomic_path

    cells = _all_cells(out)
    write_csv(cells, out / "runs.csv")
    order = [e for e in BENCH_DATASETS if e in entries or any(c["dataset"] == e for c in cells)]
    with atomic_path(out / "tables.md") as tmp:
        tmp.write_text(markdown_tables(cells, order, methods))


def write_csv(cells: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """One row per cell: identity, metrics, accuracy and count per interaction type,
    timing."""
    from dmil.utils import atomic_path

    types = sorted({t for c in cells for t in c["by_interaction"]}, key=type_key)
    head = ["dataset", "method", "seed", *_METRICS, "val_accuracy"]
    head += [f"{k}_{t}" for t in types for k in ("acc", "n")]
    head += ["n_test", "train_seconds", "samples_per_second", "epochs_run", "best_epoch"]
    head += ["interaction_source", "wall_seconds", "date_utc"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(head)
        for c in cells:
            row = [c["dataset"], c["method"], c["seed"], *[c.get(k) for k in _METRICS]]
            row.append(c["val_accuracy"])
            for t in types:
                entry = c["by_interaction"].get(t, {})
                row += [entry.get("accuracy"), entry.get("n")]
            row += [c[k] for k in ("n_test", "train_seconds", "samples_per_second")]
            row += [c[k] for k in ("epochs_run", "best_epoch", "interaction_source")]
            row += [c["wall_seconds"], c["date_utc"]]
            writer.writerow(["" if v is None else v for v in row])
    return Path(path)


def _pm(values: Sequence[Any], digits: int = 3) -> str:
    stats = mean_std(values)
    if stats["mean"] is None:
        return "-"
    if stats["n"] == 1:  # one value has no spread to show
        return f"{stats['mean']:.{digits}f}"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _gate_text(rows: dict[str, list[dict[str, Any]]]) -> str:
    """Gate agreement of every gated method (mean ± std over seeds) and DMIL's confusion
    matrix of dominant component against interaction type, summed over seeds."""
    lines = []
    for method, runs in rows.items():
        gates = [c["gate"] for c in runs if c.get("gate") and c["gate"]["agreement"] is not None]
        if gates:
            lines.append(
                f"{method}: gate agreement {_pm([g['agreement'] for g in gates])} "
                f"({_seeds(len(gates))})"
            )
    if not lines:
        return ""
    text = "Gate agreement (share of test samples whose largest gate weight is on the " + (
        "component that stands for the sample's interaction type):\n\n- " + "\n- ".join(lines)
    )
    gates = [c["gate"] for c in rows.get("dmil", []) if c.get("gate")]
    if gates:
        names = list(gates[0]["component_names"])
        types = sorted({t for g in gates for t in g["types"]}, key=type_key)
        total = {(k, t): 0 for k in names for t in types}
        for g in gates:
            for i, k in enumerate(g["component_names"]):
                for j, t in enumerate(g["types"]):
                    total[(k, t)] += int(g["confusion"][i][j])
        table = ["| dominant | " + " | ".join(types) + " |", "|---|" + "---|" * len(types)]
        table += [f"| {k} | " + " | ".join(str(total[(k, t)]) for t in types) + " |" for k in names]
        text += (
            f"\n\ndmil: dominant component (rows) against interaction type (columns), "
            f"test samples summed over {_seeds(len(gates))}:\n\n" + "\n".join(table)
        )
    return text


def _rank_row(entry: str, rows: dict[str, list[dict[str, Any]]]) -> str:
    """DMIL's rank by mean accuracy among every method run on ``entry``, the best method,
    and DMIL's accuracy minus the best baseline's (the best method that is not DMIL or
    one of its ablations) on the same seeds, mean ± std over those seeds."""
    means = {m: mean_std([c["accuracy"] for c in r])["mean"] for m, r in rows.items()}
    order = sorted(means, key=lambda m: -means[m])
    baselines = [m for m in order if not m.startswith("dmil")]
    if baselines:
        best = baselines[0]
        ours = {c["seed"]: c["accuracy"] for c in rows["dmil"]}
        theirs = {c["seed"]: c["accuracy"] for c in rows[best]}
        seeds = sorted(set(ours) & set(theirs))
        diffs = [ours[k] - theirs[k] for k in seeds]
        paired = f"{_pm(diffs)} ({best}, {_seeds(len(seeds))})" if seeds else f"- ({best})"
    else:
        paired = "- (no baseline run yet)"
    return (
        f"| {entry} | {order.index('dmil') + 1} of {len(order)} | {order[0]} "
        f"{means[order[0]]:.3f} | {paired} |"
    )


def markdown_tables(
    cells: Sequence[dict[str, Any]], entries: Sequence[str], methods: Sequence[str]
) -> str:
    """One table per dataset in the BENCHMARKS.md format (mean ± std over seeds, sample
    standard deviation), then DMIL's rank by mean accuracy where it was run."""
    parts, ranks = [], []
    for entry in entries:
        rows = {
            m: [c for c in cells if c["dataset"] == entry and c["method"] == m] for m in methods
        }
        rows = {m: r for m, r in rows.items() if r}
        if not rows:
            continue
        types = sorted(
            {t for r in rows.values() for c in r for t in c["by_interaction"]}, key=type_key
        )
        sources = sorted({c["interaction_source"] for r in rows.values() for c in r})
        head = ["method", "accuracy", "macro-F1", "synergy ind."]
        head += [f"acc {t} (n)" for t in types] + ["samples/s", "epochs", "seeds"]
        body = []
        for method, runs in rows.items():
            line = [method] + [_pm([c[k] for c in runs]) for k in _METRICS[:3]]
            for t in types:
                acc = [c["by_interaction"].get(t, {}).get("accuracy") for c in runs]
                n = mean_std([c["by_interaction"].get(t, {}).get("n", 0) for c in runs])["mean"]
                line.append(f"{_pm(acc)} ({n:.0f})")
            line.append(_pm([c["samples_per_second"] for c in runs], 0))
            line.append(_pm([c["epochs_run"] for c in runs], 1))
            line.append(str(len(runs)))
            body.append(line)
        table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        table += ["| " + " | ".join(r) + " |" for r in body]
        parts.append(f"**{entry}** (interactions: {', '.join(sources)})\n\n" + "\n".join(table))
        gate = _gate_text(rows)
        if gate:
            parts.append(gate)
        if "dmil" in rows:
            ranks.append(_rank_row(entry, rows))
    if ranks:
        head = (
            "| dataset | dmil rank | best | dmil - best baseline, paired by seed |\n"
            "|---|---|---|---|"
        )
        parts.append("**DMIL's rank by mean accuracy**\n\n" + head + "\n" + "\n".join(ranks))
    return "\n\n".join(parts) + "\n"
