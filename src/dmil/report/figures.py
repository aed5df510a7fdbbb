"""The figures of a ``dmil run`` report, drawn from its results dict only.

Every function takes the results (what ``results.json`` holds) and a path, writes one
PNG (matplotlib's Agg canvas, no global pyplot state, atomic write) and returns the path:

* :func:`plot_composition`: share of test samples per interaction type, estimated
  (dominant component) beside the truth where it is known;
* :func:`plot_accuracy`: accuracy of every method overall and per interaction type;
* :func:`plot_gate`: DMIL's mean gate weight per interaction type (heat map);
* :func:`plot_curves`: validation accuracy and training loss per epoch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from dmil.report.document import majority_baseline
from dmil.report.style import TYPE_COLOURS, save_png

__all__ = ["plot_accuracy", "plot_composition", "plot_curves", "plot_gate", "write_figures"]

_METHOD_COLOURS = ["#8c8c8c", "#dd8452", "#4c72b0", "#c44e52", "#55a868", "#8172b2", "#937860"]


def _colour(methods: list[str], method: str) -> str:
    if method.startswith("dmil"):
        return "#c44e52" if method == "dmil" else "#e29a9c"
    others = [m for m in methods if not m.startswith("dmil")]
    return _METHOD_COLOURS[others.index(method) % len(_METHOD_COLOURS)]


def plot_composition(results: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Bars of the share of test samples per interaction type (estimated vs true)."""
    comp = results["composition"]
    types = comp["types"]
    x = np.arange(len(types))
    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    series = [("estimated (dominant component)", comp["estimated"], 1.0)]
    if comp["true"] is not None:
        series.append(("true mechanism", comp["true"], 0.45))
    width = 0.8 / len(series)
    for k, (name, shares, alpha) in enumerate(series):
        values = [shares[t]["mean"] for t in types]
        errors = [shares[t]["std"] for t in types]
        bars = ax.bar(
            x + (k - (len(series) - 1) / 2) * width,
            values,
            width,
            yerr=_clipped_errors(values, errors) if len(results["seeds"]) > 1 else None,
            color=[TYPE_COLOURS.get(t, "#999999") for t in types],
            alpha=alpha,
            edgecolor="black",
            linewidth=0.6,
            hatch=None if k == 0 else "//",
            label=name,
        )
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=8, padding=2)
    ax.set_xticks(x, types)
    ax.set_ylabel("share of test samples")
    top = max(max(s[t]["mean"] for t in types) for _, s, _ in series)
    ax.set_ylim(0, min(1.0, top * 1.25 + 0.05))
    ax.set_title(f"Interaction composition of {results['dataset']['name']} (test split)")
    ax.legend(fontsize=8, loc="upper right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return save_png(fig, path, dpi=110)


def _clipped_errors(values: list[float], spreads: list[float | None]) -> np.ndarray:
    """Error bars of ± the spread, cut at 0 and 1 (accuracies and shares stay in [0, 1])."""
    v = np.nan_to_num(np.asarray(values, dtype=float))
    d = np.asarray([0.0 if e is None else e for e in spreads], dtype=float)
    return np.vstack([np.minimum(d, v), np.minimum(d, 1.0 - v)])


def plot_accuracy(results: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Grouped bars: accuracy of each method overall and on each interaction type."""
    methods = results["methods"]
    types = results["composition"]["types"]
    groups = ["overall", *types]
    x = np.arange(len(groups))
    width = 0.8 / len(methods)
    fig = Figure(figsize=(7.2, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    for k, method in enumerate(methods):
        r = results["results"][method]
        per_type = [r["by_interaction"].get(t) for t in types]
        values = [r["accuracy"]["mean"]] + [
            np.nan if e is None or e["pooled"] is None else e["pooled"] for e in per_type
        ]
        spreads = [r["accuracy"]["std"]] + [
            None if e is None else e["accuracy"]["std"] for e in per_type
        ]
        ax.bar(
            x + (k - (len(methods) - 1) / 2) * width,
            values,
            width,
            yerr=_clipped_errors(values, spreads) if len(results["seeds"]) > 1 else None,
            color=_colour(methods, method),
            edgecolor="black",
            linewidth=0.5,
            label=method,
        )
    card = results["dataset"]
    lines = [(1.0 / card["n_classes"], "chance", ":")]
    majority = majority_baseline(card)
    if majority is not None:
        lines.append((majority, "majority\nclass", "--"))
    for k, (level, label, style) in enumerate(lines):
        ax.axhline(level, color="black", linestyle=style, linewidth=1)
        # Labelled to the right of the axes, where no bar is; a majority line close to the
        # chance line gets its label above, not on top of the other.
        close = k == 1 and level - lines[0][0] < 0.08
        ax.text(
            1.01,
            level,
            label,
            transform=ax.get_yaxis_transform(),
            va="bottom" if close else "center",
            fontsize=8,
        )
    # The samples behind each type's bars (all seeds), since a few samples give wide bars.
    counts = {
        t: results["results"][methods[0]]["by_interaction"].get(t, {}).get("n") for t in types
    }
    ax.set_xticks(
        x, ["overall", *(t if counts[t] is None else f"{t} (n={counts[t]})" for t in types)]
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    source = results["composition"]["source"]
    ax.set_title(f"Accuracy overall and per interaction type ({source} types)")
    ax.legend(fontsize=8, ncols=len(methods), loc="upper center", bbox_to_anchor=(0.5, -0.1))
    ax.spines[["top", "right"]].set_visible(False)
    return save_png(fig, path, dpi=110)


def plot_gate(results: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Heat map of the mean gate weight (rows: interaction type, columns: component)."""
    gate = results["gate"]
    weights = np.asarray(gate["mean_gate"], dtype=float)
    types, comps = gate["types"], gate["components"]
    fig = Figure(figsize=(1.2 + 0.9 * len(comps), 0.9 + 0.6 * len(types)))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(weights, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(len(types)):
        for j in range(len(comps)):
            value = weights[i, j]
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if value > 0.55 else "black",
            )
    ax.set_xticks(range(len(comps)), comps)
    ax.set_yticks(
        range(len(types)), [f"{t} (n={n})" for t, n in zip(types, gate["counts"], strict=True)]
    )
    ax.set_xlabel("component of the gate")
    ax.set_ylabel("interaction type")
    ax.set_title(f"{gate['method']}: mean gate weight per type", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return save_png(fig, path, dpi=110)


def plot_curves(results: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Validation accuracy and training loss per epoch (first seed), one line per
    method; dotted lines mark DMIL's stage boundaries."""
    methods = results["methods"]
    fig = Figure(figsize=(9.0, 3.2))
    acc_ax = fig.add_subplot(1, 2, 1)
    loss_ax = fig.add_subplot(1, 2, 2)
    for method in methods:
        curve = results["curves"].get(method)
        if not curve:
            continue
        colour = _colour(methods, method)
        acc_ax.plot(curve["epoch"], curve["val_accuracy"], color=colour, label=method)
        loss_ax.plot(curve["epoch"], curve["train_loss"], color=colour, label=method)
        stages = curve.get("stage") or []
        for k in range(1, len(stages)):
            if stages[k] != stages[k - 1] and stages[k] is not None:
                for ax in (acc_ax, loss_ax):
                    ax.axvline(curve["epoch"][k] - 0.5, color=colour, linestyle=":", linewidth=1)
    from matplotlib.ticker import MaxNLocator, NullFormatter, ScalarFormatter

    acc_ax.set_title("validation accuracy")
    loss_ax.set_title("training loss (each method's own objective)", fontsize=10)
    loss_ax.set_yscale("log")
    loss_ax.yaxis.set_major_formatter(ScalarFormatter())
    low, high = loss_ax.get_ylim()
    # Less than a decade shown: label the minor ticks too, or the axis may carry one label.
    loss_ax.yaxis.set_minor_formatter(
        ScalarFormatter() if high / max(low, 1e-12) < 10 else NullFormatter()
    )
    for ax in (acc_ax, loss_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.spines[["top", "right"]].set_visible(False)
    if any(len(set(filter(None, c.get("stage") or []))) > 1 for c in results["curves"].values()):
        acc_ax.plot([], [], color="black", linestyle=":", linewidth=1, label="stage boundary")
    acc_ax.legend(fontsize=8, frameon=False)
    return save_png(fig, path, dpi=110)


#: Figure file -> what draws it, in report order.
FIGURES = {
    "composition.png": plot_composition,
    "accuracy.png": plot_accuracy,
    "gate.png": plot_gate,
    "curves.png": plot_curves,
}


def write_figures(results: Mapping[str, Any], out_dir: str | os.PathLike[str]) -> list[str]:
    """Draw every figure that applies into ``out_dir``; returns the file names."""
    written = []
    for name, draw in FIGURES.items():
        if name == "gate.png" and results.get("gate") is None:
            continue
        draw(results, Path(out_dir) / name)
        written.append(name)
    return written
