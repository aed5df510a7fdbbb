"""PNG plots of a gated model's per-sample gate against interaction types (matplotlib,
Agg canvas, no global pyplot state).

* :func:`plot_gate_by_type`: a heat map of the mean gate weight of each component over
  the samples of each interaction type;
* :func:`plot_gate_confusion`: the confusion matrix of the gate's dominant component
  against the interaction type.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dmil.evaluation.explain import Explanation
from dmil.report.style import save_png

__all__ = ["plot_gate_by_type", "plot_gate_confusion"]


def _heatmap(
    values: np.ndarray,
    *,
    rows: list[str],
    cols: list[str],
    fmt: str,
    xlabel: str,
    ylabel: str,
    title: str,
    vmax: float | None,
) -> Figure:
    fig = Figure(figsize=(1.2 + 0.9 * len(cols), 1.0 + 0.6 * len(rows)))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    top = float(values.max()) if values.size else 0.0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            ax.text(
                j,
                i,
                format(v, fmt),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if v > 0.6 * (vmax or top or 1.0) else "black",
            )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return fig


def plot_gate_by_type(
    explanation: Explanation, path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Heat map: rows are interaction types (with their sample counts), columns the
    components, cells the mean gate weight.

    Returns
    -------
    Path of the written PNG.
    """
    comps = list(explanation.component_names)
    values = np.array(
        [[explanation.mean_gate[t][c] for c in comps] for t in explanation.types], dtype=float
    )
    rows = [f"{t} (n={explanation.counts[t]})" for t in explanation.types]
    fig = _heatmap(
        values,
        rows=rows,
        cols=comps,
        fmt=".2f",
        xlabel="component",
        ylabel="interaction type",
        title=title or "mean gate weight per interaction type",
        vmax=1.0,
    )
    return save_png(fig, path)


def plot_gate_confusion(
    explanation: Explanation, path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Confusion matrix: rows are the gate's dominant components, columns the
    interaction types, cells sample counts.

    Returns
    -------
    Path of the written PNG.
    """
    agreement = explanation.agreement
    default = "dominant gate component vs interaction type"
    if agreement is not None:
        default += f" (agreement {agreement:.2f})"
    fig = _heatmap(
        explanation.confusion.astype(float),
        rows=list(explanation.component_names),
        cols=list(explanation.types),
        fmt=".0f",
        xlabel="interaction type",
        ylabel="dominant component",
        title=title or default,
        vmax=None,
    )
    return save_png(fig, path)
