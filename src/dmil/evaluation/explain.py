"""What a gated model's per-sample gate says, measured against known interactions.

A DMIL model predicts with a softmax gate over its components (``R``, ``U1..UM``,
``S``); the component with the largest weight is the model's own statement of which
interaction it used for a sample. :func:`explain` sets it beside the true interaction
type (synthetic suites) or the one estimated by
:class:`dmil.interactions.InteractionEstimator` (real data): the mean gate weight per
type, the confusion of the dominant component against the type, and the agreement.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dmil.data.container import INTERACTION_TYPES
from dmil.evaluation.predict import Predictions
from dmil.models.dmil.model import component_type
from dmil.utils import atomic_path

__all__ = ["Explanation", "component_type", "explain", "write_explanations"]


@dataclass
class Explanation:
    """The gate of a model against per-sample interaction types.

    Attributes
    ----------
    component_names : tuple of str
        Components in gate order.
    types : list of str
        Interaction types present, in the order ``R, U1, U2, U, S``.
    dominant : list of str
        Per sample, the component with the largest gate weight.
    mean_gate : dict type -> dict component -> float
        Mean gate weight of each component over the samples of each type.
    counts : dict type -> int
        Number of samples of each type.
    confusion : ndarray of int, shape (K, T)
        Samples whose dominant component is ``component_names[k]`` and whose type is
        ``types[t]``.
    agreement : float or None
        Share of samples whose dominant component stands for their type
        (:func:`component_type`); ``None`` when no component stands for a type.
    constant_agreement : float or None
        The agreement of a gate that always puts its largest weight on one component,
        the best such component (the share of the most common type a component stands
        for): the level ``agreement`` must exceed to show that the gate follows the types.
    """

    component_names: tuple[str, ...]
    types: list[str]
    dominant: list[str]
    mean_gate: dict[str, dict[str, float]]
    counts: dict[str, int]
    confusion: np.ndarray
    agreement: float | None
    constant_agreement: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain types (for JSON)."""
        return {
            "component_names": list(self.component_names),
            "types": list(self.types),
            "mean_gate": self.mean_gate,
            "counts": self.counts,
            "confusion": self.confusion.tolist(),
            # confusion[k][t]: samples whose dominant component is component_names[k] and
            # whose type is types[t].
            "confusion_axes": ["component_names", "types"],
            "agreement": self.agreement,
            "constant_agreement": self.constant_agreement,
        }


def explain(predictions: Predictions, interactions: Sequence[str]) -> Explanation:
    """Compare a model's gate with per-sample interaction types.

    Parameters
    ----------
    predictions : Predictions
        Predictions of a gated model (``gate`` and ``component_names`` set).
    interactions : sequence of str, length N
        The true or estimated interaction type of each sample.

    Raises
    ------
    ValueError
        If the predictions carry no gate, or the lengths differ.
    """
    if predictions.gate is None or not predictions.component_names:
        raise ValueError(
            "these predictions carry no gate weights; explanations need a gated model "
            "such as dmil (found a model without a gate)."
        )
    gate = predictions.gate
    n = gate.shape[0]
    kinds = np.asarray([str(t) for t in interactions], dtype=object)
    if kinds.shape != (n,):
        raise ValueError(f"interactions: expected {n} types (one per sample), found {kinds.size}.")
    names = tuple(predictions.component_names)
    order = [*INTERACTION_TYPES[:3], "U", INTERACTION_TYPES[3]]
    present = set(kinds.tolist())
    types = [t for t in order if t in present] + sorted(present - set(order))
    dominant_idx = gate.argmax(axis=1)
    dominant = [names[i] for i in dominant_idx]
    mean_gate = {
        t: {c: float(gate[kinds == t, k].mean()) for k, c in enumerate(names)} for t in types
    }
    counts = {t: int((kinds == t).sum()) for t in types}
    confusion = np.zeros((len(names), len(types)), dtype=np.int64)
    for k, t in zip(dominant_idx, kinds, strict=True):
        confusion[k, types.index(t)] += 1
    mapped = [component_type(c, types) for c in dominant]
    standing = [component_type(c, types) for c in names]
    agreement = constant = None
    if any(t is not None for t in standing):
        agreement = float(np.mean([m == t for m, t in zip(mapped, kinds, strict=True)]))
        constant = max(float(np.mean(kinds == t)) for t in standing if t is not None)
    return Explanation(
        component_names=names,
        types=types,
        dominant=dominant,
        mean_gate=mean_gate,
        counts=counts,
        confusion=confusion,
        agreement=agreement,
        constant_agreement=constant,
    )


def write_explanations(
    path: str | os.PathLike[str],
    predictions: Predictions,
    explanation: Explanation,
    *,
    indices: Sequence[int] | np.ndarray,
    interactions: Sequence[str],
) -> Path:
    """Write ``explanations.csv`` atomically: ``index, label, prediction``, every gate
    weight (``gate_<c>``), every component's prediction (``pred_<c>``), the dominant
    component and the interaction type."""
    target = Path(path)
    names = list(explanation.component_names)
    comp_pred = predictions.component_pred
    header = [
        "index",
        "label",
        "prediction",
        *[f"gate_{c}" for c in names],
        *[f"pred_{c}" for c in names],
        "dominant",
        "interaction",
    ]
    with atomic_path(target) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(predictions.labels.size):
            writer.writerow(
                [
                    int(indices[i]),
                    int(predictions.labels[i]),
                    int(predictions.y_pred[i]),
                    *[f"{w:.6f}" for w in predictions.gate[i]],
                    *[int(comp_pred[k, i]) for k in range(len(names))],
                    explanation.dominant[i],
                    interactions[i],
                ]
            )
    return target
