"""PNG plots of per-sample interactions (matplotlib, Agg canvas, no global pyplot state).

Each figure is laid out with fixed margins and rendered once (no ``bbox_inches="tight"``,
which renders every figure twice); matplotlib is imported only when a plot is drawn.

* :func:`plot_component_distributions`: the distribution of ``r, u1, u2, s`` over samples;
* :func:`plot_dominant_by_class`: per class, the share of samples whose dominant
  interaction is ``R``, ``U1``, ``U2`` or ``S`` (``R``, ``U``, ``S`` for ``M > 2``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dmil.report.style import TYPE_COLOURS, save_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dmil.interactions.table import InteractionTable

__all__ = ["plot_component_distributions", "plot_dominant_by_class"]


def _figure(width: float, height: float) -> Figure:
    """A figure on an Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def plot_component_distributions(
    table: InteractionTable, path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Violin plots of the per-sample components ``r, u1, u2, s`` (nats), with means.

    Parameters
    ----------
    table : InteractionTable
        With at least one sample.
    path : str or os.PathLike
        The PNG to write (atomically).
    title : str, optional
        Figure title (default: the measure, the modality pair and ``N``).

    Returns
    -------
    Path of the written file.
    """
    if len(table) == 0:
        raise ValueError("plot_component_distributions: the table has no samples.")
    names = ["R", "U1", "U2", "S"]
    values = [table.r, table.u1, table.u2, table.s]
    fig = _figure(6.4, 4.0)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.08, top=0.92)
    ax = fig.add_subplot(1, 1, 1)
    parts = ax.violinplot(values, showmeans=False, showextrema=False, widths=0.8)
    for body, name in zip(parts["bodies"], names, strict=True):
        body.set_facecolor(TYPE_COLOURS[name])
        body.set_alpha(0.6)
    means = [float(np.mean(v)) for v in values]
    ax.scatter(range(1, 5), means, color="black", zorder=3, label="mean")
    for k, m in enumerate(means, start=1):
        ax.annotate(f"{m:.3f}", (k, m), textcoords="offset points", xytext=(8, 4), fontsize=8)
    ax.axhline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(1, 5), names)
    ax.set_ylabel("nats per sample")
    pair = " and ".join(table.modality_names[:2]) if table.pairs is None else "best pair"
    ax.set_title(title or f"Per-sample interactions ({table.measure}, {pair}, N={len(table)})")
    ax.legend(loc="upper right", fontsize=8)
    return save_png(fig, path, tight=False)


def plot_dominant_by_class(
    table: InteractionTable,
    path: str | os.PathLike[str],
    *,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Stacked bars: per class, the share of samples by dominant interaction.

    Parameters
    ----------
    table : InteractionTable
        With at least one sample.
    path : str or os.PathLike
        The PNG to write (atomically).
    class_names : sequence of str, optional
        Names for the class indices in ``table.label``.
    title : str, optional
        Figure title (default: the measure and the overall share of each interaction).

    Returns
    -------
    Path of the written file.
    """
    if len(table) == 0:
        raise ValueError("plot_dominant_by_class: the table has no samples.")
    dominant = table.dominant()
    kinds = ["R", "U", "S"] if table.pairs is not None else ["R", "U1", "U2", "S"]
    classes = np.unique(table.label)
    shares = np.array(
        [[np.mean(dominant[table.label == c] == k) for c in classes] for k in kinds]
    )  # (K, n_classes)
    labels = [
        class_names[c] if class_names is not None and c < len(class_names) else str(c)
        for c in classes
    ]
    width = max(4.8, 0.5 * len(classes) + 2.5)
    rotate = len(classes) > 8
    longest = max((len(s) for s in labels), default=1)
    fig = _figure(width, 4.0)
    # Room for the legend right of the axes and for rotated class names below them.
    fig.subplots_adjust(
        left=0.6 / width,
        right=1 - 0.75 / width,
        bottom=min(0.45, 0.12 + (0.018 * longest if rotate else 0.0)),
        top=0.86,
    )
    ax = fig.add_subplot(1, 1, 1)
    bottom = np.zeros(len(classes))
    positions = np.arange(len(classes))
    for kind, share in zip(kinds, shares, strict=True):
        ax.bar(positions, share, bottom=bottom, color=TYPE_COLOURS[kind], label=kind, width=0.8)
        bottom += share
    overall = ", ".join(f"{k} {np.mean(dominant == k):.0%}" for k in kinds)
    ax.set_xticks(
        positions, labels, rotation=45 if rotate else 0, ha="right" if rotate else "center"
    )
    ax.set_ylim(0, 1)
    ax.set_xlabel("class")
    ax.set_ylabel("share of samples")
    ax.set_title(
        title or f"Dominant interaction per class\n({table.measure}; all: {overall})", fontsize=9
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return save_png(fig, path, tight=False)
