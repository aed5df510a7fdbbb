"""Classification metrics, including the synergy indicator and per-interaction accuracy.

All functions take integer class predictions (not logits) as 1-D arrays of equal length
``N``; per-modality predictions come as a sequence of ``M`` such arrays or one array of
shape ``(M, N)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dmil.data.container import type_key

__all__ = [
    "accuracy",
    "accuracy_by_interaction",
    "classification_report",
    "macro_f1",
    "per_modality_accuracy",
    "synergy_indicator",
]


def _labels(values: Any, what: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D array of class ids, found shape {arr.shape}.")
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(
            f"{what}: expected integer class ids, found dtype {arr.dtype}. Pass predictions "
            "(argmax of the logits), not scores."
        )
    if n is not None and arr.size != n:
        raise ValueError(f"{what}: expected {n} entries (one per sample), found {arr.size}.")
    return arr.astype(np.int64)


def _modality_preds(values: Any, n: int) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    if isinstance(values, np.ndarray):
        rows = list(values) if values.ndim == 2 else [values]
    else:
        rows = list(values)
    if not rows:
        raise ValueError("modality_preds: expected one prediction array per modality, found none.")
    return np.stack([_labels(r, f"modality_preds[{i}]", n) for i, r in enumerate(rows)])


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Share of samples predicted correctly.

    Parameters
    ----------
    y_true, y_pred : array of int, shape (N,)
        True and predicted class ids.
    """
    y = _labels(y_true, "y_true")
    p = _labels(y_pred, "y_pred", y.size)
    if y.size == 0:
        raise ValueError("accuracy of an empty set is undefined; found N = 0.")
    return float(np.mean(y == p))


def macro_f1(y_true: Any, y_pred: Any) -> float:
    """Unweighted mean of the per-class F1 scores.

    Classes are those occurring in ``y_true`` or ``y_pred``; a class never predicted
    scores 0. The same value as scikit-learn's ``f1_score(average="macro",
    zero_division=0)``, computed the same way (per class ``2 tp / (n_true + n_pred)`` in
    float64, classes in sorted order, ``nanmean``) without importing scikit-learn.
    """
    y = _labels(y_true, "y_true")
    p = _labels(y_pred, "y_pred", y.size)
    if y.size == 0:
        raise ValueError("macro-F1 of an empty set is undefined; found N = 0.")
    classes, codes = np.unique(np.concatenate([y, p]), return_inverse=True)
    k = classes.size
    codes = codes.reshape(-1)
    yi, pi = codes[: y.size], codes[y.size :]
    true_sum = np.bincount(yi, minlength=k).astype(np.float64)
    pred_sum = np.bincount(pi, minlength=k).astype(np.float64)
    tp_sum = np.bincount(yi[yi == pi], minlength=k).astype(np.float64)
    denom = 1.0 * true_sum + pred_sum
    f1 = np.divide(2.0 * tp_sum, denom, out=np.zeros(k), where=denom != 0)
    return float(np.nanmean(f1))


def per_modality_accuracy(
    y_true: Any, modality_preds: Any, *, modality_names: Sequence[str] | None = None
) -> dict[str, float]:
    """Accuracy of each unimodal prediction.

    Parameters
    ----------
    y_true : array of int, shape (N,)
        True class ids.
    modality_preds : sequence of M arrays (N,) or array (M, N)
        Class predictions of each modality alone.
    modality_names : sequence of str, optional
        Keys of the result (default ``x1, x2, ...``).

    Returns
    -------
    dict name -> accuracy
    """
    y = _labels(y_true, "y_true")
    preds = _modality_preds(modality_preds, y.size)
    names = (
        [f"x{i + 1}" for i in range(len(preds))] if modality_names is None else list(modality_names)
    )
    if len(names) != len(preds):
        raise ValueError(
            f"modality_names: expected {len(preds)} names (one per prediction array), "
            f"found {len(names)}."
        )
    return {name: accuracy(y, p) for name, p in zip(names, preds, strict=True)}


def synergy_indicator(y_true: Any, y_pred: Any, modality_preds: Any) -> float:
    """Share of samples the multimodal prediction gets right while every unimodal
    prediction gets them wrong (Yang et al., CVPR 2026, the DMIL paper).

    Parameters
    ----------
    y_true, y_pred : array of int, shape (N,)
        True class ids and multimodal predictions.
    modality_preds : sequence of M arrays (N,) or array (M, N)
        Unimodal class predictions, one array per modality.
    """
    y = _labels(y_true, "y_true")
    p = _labels(y_pred, "y_pred", y.size)
    preds = _modality_preds(modality_preds, y.size)
    if y.size == 0:
        raise ValueError("synergy indicator of an empty set is undefined; found N = 0.")
    all_unimodal_wrong = np.all(preds != y[None, :], axis=0)
    return float(np.mean((p == y) & all_unimodal_wrong))


def accuracy_by_interaction(
    y_true: Any,
    y_pred: Any,
    interactions: Sequence[str],
    *,
    types: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Accuracy on each interaction subset.

    Parameters
    ----------
    y_true, y_pred : array of int, shape (N,)
        True and predicted class ids.
    interactions : sequence of str, length N
        The (true or estimated) interaction type of each sample.
    types : sequence of str, optional
        Types to report, also when absent (``n = 0``, accuracy ``None``). Default: the
        types present, ``R, U1, U2, U, S`` first, then any others in sorted order.

    Returns
    -------
    dict type -> {"accuracy": float or None, "n": int}
    """
    y = _labels(y_true, "y_true")
    p = _labels(y_pred, "y_pred", y.size)
    kinds = np.asarray([str(t) for t in interactions], dtype=object)
    if kinds.shape != (y.size,):
        raise ValueError(
            f"interactions: expected {y.size} types (one per sample), found {kinds.size}."
        )
    if types is None:
        types = sorted(set(kinds.tolist()), key=type_key)
    out: dict[str, dict[str, Any]] = {}
    for t in types:
        mask = kinds == t
        n = int(mask.sum())
        out[str(t)] = {"accuracy": float(np.mean(y[mask] == p[mask])) if n else None, "n": n}
    return out


def classification_report(
    y_true: Any,
    y_pred: Any,
    *,
    modality_preds: Any = None,
    modality_names: Sequence[str] | None = None,
    interactions: Sequence[str] | None = None,
    reference_preds: Any = None,
) -> dict[str, Any]:
    """Every metric at once.

    Parameters
    ----------
    y_true, y_pred : array of int, shape (N,)
        True and predicted class ids.
    modality_preds : sequence of M arrays (N,) or array (M, N), optional
        The model's own unimodal predictions (per-modality accuracy and
        ``synergy_indicator_own``).
    modality_names : sequence of str, optional
        Keys of ``per_modality_accuracy`` (default ``x1, x2, ...``).
    interactions : sequence of str, length N, optional
        The interaction type of each sample, for ``by_interaction``.
    reference_preds : sequence of M arrays (N,) or array (M, N), optional
        Unimodal reference predictions shared by every method
        (:func:`dmil.evaluation.reference.reference_unimodal_predictions`); the
        ``synergy_indicator`` is computed against them, so it compares methods.

    Returns
    -------
    dict with ``accuracy``, ``macro_f1``, ``per_modality_accuracy``,
    ``synergy_indicator`` (against ``reference_preds``; ``None`` without them),
    ``synergy_indicator_own`` (against the model's own unimodal predictions; ``None``
    without them) and ``by_interaction`` (``{}`` without ``interactions``).
    """
    report: dict[str, Any] = {
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "per_modality_accuracy": {},
        "synergy_indicator": None,
        "synergy_indicator_own": None,
        "by_interaction": {},
    }
    if modality_preds is not None:
        report["per_modality_accuracy"] = per_modality_accuracy(
            y_true, modality_preds, modality_names=modality_names
        )
        report["synergy_indicator_own"] = synergy_indicator(y_true, y_pred, modality_preds)
    if reference_preds is not None:
        report["synergy_indicator"] = synergy_indicator(y_true, y_pred, reference_preds)
    if interactions is not None:
        report["by_interaction"] = accuracy_by_interaction(y_true, y_pred, interactions)
    return report
