"""The per-sample result of :class:`~dmil.interactions.InteractionEstimator`.

An :class:`InteractionTable` holds, per sample, the components ``r, u1, u2, s`` (nats)
and the pointwise terms they come from (``i1, i2, i12`` and, for ``lsmi``, ``h1, h2``).
With two modalities the table is the decomposition of that pair. With ``M > 2``
modalities ``pairs`` holds one table per pair ``(i, j)``, and the top-level columns are
taken per sample from the pair with the largest joint pointwise MI ``i(x_i, x_j; y)``
(``best_pair``); ``dominant()`` then names ``R``, ``U`` or ``S`` for that pair, and
``best_source`` names the modality or pair that carries the sample's information (see
:meth:`InteractionTable.dominant`).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dmil.interactions.pointwise import lsmi_adjustment
from dmil.utils import atomic_path

__all__ = ["COMPONENTS", "InteractionTable", "combine_pairs", "confusion_matrix"]

#: Component columns and the names :meth:`InteractionTable.dominant` gives them.
COMPONENTS: tuple[str, ...] = ("r", "u1", "u2", "s")
_DOMINANT = np.array(["R", "U1", "U2", "S"])


@dataclass
class InteractionTable:
    """Per-sample interaction components (all arrays of shape (N,)).

    Attributes
    ----------
    index : int64 array
        Position of each sample in the data passed to ``transform`` (callers may
        re-express it as the row in a part of their input, named by ``part``).
    label : int64 array
        The observed class.
    r, u1, u2, s : float64 arrays
        Redundancy, uniqueness of each modality of the pair, synergy (nats).
    i1, i2, i12 : float64 arrays
        ``i(x1; y)``, ``i(x2; y)``, ``i(x1, x2; y)`` (nats).
    h1, h2 : float64 arrays or None
        ``h(x1) = -log p(x1)`` and ``h(x2)`` where the measure uses them (``lsmi``).
    measure : str
    modality_names : tuple of str
        The pair's modality names (for ``M > 2``: all modality names).
    true_type : str array or None
        The known mechanism per sample (``R, U1, U2, S``), where the data had it.
    pairs : dict (i, j) -> InteractionTable, or None
        ``M > 2`` only: the decomposition of every pair.
    best_pair : str array or None
        ``M > 2`` only: ``"name_i+name_j"`` of the pair whose columns the row holds.
    best_source : str array or None
        ``M > 2`` only: the modality or pair that carries the sample's information.
    part : str array or None
        The part of the input each ``index`` counts rows in (e.g. ``val``), where set.
    """

    index: np.ndarray
    label: np.ndarray
    r: np.ndarray
    u1: np.ndarray
    u2: np.ndarray
    s: np.ndarray
    i1: np.ndarray
    i2: np.ndarray
    i12: np.ndarray
    measure: str
    modality_names: tuple[str, ...]
    h1: np.ndarray | None = None
    h2: np.ndarray | None = None
    true_type: np.ndarray | None = None
    pairs: dict[tuple[int, int], InteractionTable] | None = field(default=None, repr=False)
    best_pair: np.ndarray | None = None
    best_source: np.ndarray | None = None
    part: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def n_modalities(self) -> int:
        return len(self.modality_names) if self.pairs is not None else 2

    def components(self) -> np.ndarray:
        """The components as one array of shape (N, 4), columns ``r, u1, u2, s``."""
        return np.stack([self.r, self.u1, self.u2, self.s], axis=1)

    def dominant(self) -> np.ndarray:
        """Per sample, the largest component: str array of shape (N,).

        Two modalities: one of ``"R", "U1", "U2", "S"`` (argmax of ``r, u1, u2, s``; ties go
        to the first). ``M > 2``: one of ``"R", "U", "S"`` for the pair with the largest
        joint pointwise MI (``best_pair``), as which modality of a pair is "first" has no
        meaning across pairs.
        """
        names = _DOMINANT[np.argmax(self.components(), axis=1)]
        if self.pairs is not None:
            names = np.where(np.isin(names, ["U1", "U2"]), "U", names)
        return names

    def means(self) -> dict[str, float]:
        """Dataset-level means (nats): ``R, U1, U2, S, I1, I2, I12`` (and ``H1, H2``)."""
        out = {
            "R": self.r,
            "U1": self.u1,
            "U2": self.u2,
            "S": self.s,
            "I1": self.i1,
            "I2": self.i2,
            "I12": self.i12,
        }
        if self.h1 is not None and self.h2 is not None:
            out.update({"H1": self.h1, "H2": self.h2})
        return {k: float(np.mean(v)) if len(v) else float("nan") for k, v in out.items()}

    def summary(self) -> dict[str, object]:
        """Dataset means as reported to users, with the raw values beside them.

        ``lsmi`` reports the LSMI non-negativity adjustment (a dataset-wide shift ``delta``
        added to ``R`` and ``S`` and subtracted from ``U1`` and ``U2``, see
        :func:`~dmil.interactions.pointwise.lsmi_adjustment`); ``ccs`` needs none.

        Returns
        -------
        dict with ``R, U1, U2, S`` (reported), ``reported_as`` (``"lsmi-adjusted"`` or
        ``"raw"``), ``raw`` (dict of :meth:`means`),
        ``adjusted`` (bool), ``adjustment`` (delta, nats), ``measure``, ``n_samples``.
        """
        raw = self.means()
        delta = lsmi_adjustment(raw) if self.measure == "lsmi" and len(self) else 0.0
        reported = {
            "R": raw["R"] + delta,
            "U1": raw["U1"] - delta,
            "U2": raw["U2"] - delta,
            "S": raw["S"] + delta,
        }
        return {
            **reported,
            "reported_as": "lsmi-adjusted" if self.measure == "lsmi" else "raw",
            "raw": raw,
            "adjusted": self.measure == "lsmi",
            "adjustment": float(delta),
            "measure": self.measure,
            "n_samples": len(self),
        }

    def columns(self) -> dict[str, np.ndarray]:
        """The CSV columns, in order, as arrays of shape (N,)."""
        cols: dict[str, np.ndarray] = {}
        if self.part is not None:
            cols["part"] = np.asarray(self.part, dtype=str)
        cols.update(index=self.index, label=self.label)
        if self.true_type is not None:
            cols["true_type"] = self.true_type
        for name in ("r", "u1", "u2", "s", "i1", "i2", "i12", "h1", "h2"):
            value = getattr(self, name)
            if value is not None:
                cols[name] = value
        cols["dominant"] = self.dominant()
        if self.best_pair is not None:
            cols["best_pair"] = self.best_pair
        if self.best_source is not None:
            cols["best_source"] = self.best_source
        return cols

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`columns` as CSV (floats with 6 significant digits), atomically."""
        cols = self.columns()
        text_cols = [
            np.char.mod("%.6g", v) if v.dtype.kind == "f" else v.astype(str) for v in cols.values()
        ]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(cols))
            writer.writerows(zip(*text_cols, strict=True))
        return Path(path)


def confusion_matrix(
    truth: np.ndarray, predicted: np.ndarray, labels: tuple[str, ...] = tuple(_DOMINANT)
) -> np.ndarray:
    """Counts of (true mechanism, dominant component) pairs, shape (4, 4) by default.

    Rows follow ``labels`` for the truth, columns for the prediction.
    """
    truth_idx = _codes(truth, labels)
    pred_idx = _codes(predicted, labels)
    keep = (truth_idx >= 0) & (pred_idx >= 0)
    k = len(labels)
    flat = truth_idx[keep] * k + pred_idx[keep]
    return np.bincount(flat, minlength=k * k).reshape(k, k)


def _codes(values: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """Position of each value in ``labels`` (``-1`` if absent), shape (N,)."""
    out = np.full(len(values), -1, dtype=np.int64)
    values = np.asarray(values).astype(str)
    for k, name in enumerate(labels):
        out[values == name] = k
    return out


def combine_pairs(
    pairs: dict[tuple[int, int], InteractionTable],
    index: np.ndarray,
    labels: np.ndarray,
    true_type: np.ndarray | None,
    measure: str,
    names: tuple[str, ...],
) -> InteractionTable:
    """The ``M > 2`` table: per sample, the columns of the pair with the largest ``i12``.

    ``best_source`` follows that pair's dominant component: ``S`` -> the pair, ``U1`` /
    ``U2`` -> that modality, ``R`` -> the modality of the pair with the larger ``i(x; y)``
    (either suffices).
    """
    keys = list(pairs)
    i12 = np.stack([pairs[k].i12 for k in keys], axis=1)  # (N, P)
    best = np.argmax(i12, axis=1)
    rows = np.arange(best.shape[0])

    def pick(attr: str) -> np.ndarray | None:
        cols = [getattr(pairs[k], attr) for k in keys]
        if any(c is None for c in cols):
            return None
        return np.stack(cols, axis=1)[rows, best]

    pair_names = np.array([f"{names[i]}+{names[j]}" for i, j in keys])
    first = np.array([names[i] for i, _ in keys])[best]
    second = np.array([names[j] for _, j in keys])[best]
    comps = np.stack([pick(c) for c in ("r", "u1", "u2", "s")], axis=1)
    top = np.argmax(comps, axis=1)
    i1, i2 = pick("i1"), pick("i2")
    redundant_source = np.where(i1 >= i2, first, second)
    best_source = np.select(
        [top == 0, top == 1, top == 2], [redundant_source, first, second], pair_names[best]
    )
    return InteractionTable(
        index=index,
        label=labels,
        r=comps[:, 0],
        u1=comps[:, 1],
        u2=comps[:, 2],
        s=comps[:, 3],
        i1=i1,
        i2=i2,
        i12=pick("i12"),
        h1=pick("h1"),
        h2=pick("h2"),
        measure=measure,
        modality_names=tuple(names),
        true_type=true_type,
        pairs=pairs,
        best_pair=pair_names[best],
        best_source=best_source,
    )
