"""Dataset-level references beside the estimator.

* From a known joint distribution ``p(x1, x2, y)`` (e.g. ``metadata["joint"]`` of the
  bitwise suites): :func:`exact_pointwise` gives the pointwise terms of every outcome and
  :func:`exact_measure` the exact decomposition under ``ccs``, ``lsmi`` (Finn-Lizier PM) or
  ``broja``. The per-outcome formulas are written out here in NumPy, independently of
  :mod:`.pointwise`, so the two check each other (and ``dit.pid.PID_PM`` / ``PID_CCS``
  check both in the tests).
* :func:`broja_pid`: the BROJA PID of a discrete joint, by our convex solver
  (:mod:`.broja`) or by ``dit`` when it is installed.
* :func:`discretized_broja`: the PID-CVX recipe for continuous data: per modality PCA then
  k-means, then BROJA on the empirical joint of (cluster 1, cluster 2, label).
* :func:`reference_pid`: per pair of modalities, the empirical-joint BROJA for discrete
  pairs and the discretised estimate otherwise.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from dmil.data.container import MultimodalDataset
from dmil.interactions.broja import _one_blas_thread, broja_from_array
from dmil.interactions.encoding import fit_coder
from dmil.utils import RandomState, check_random_state

__all__ = [
    "broja_pid",
    "discretized_broja",
    "empirical_joint",
    "exact_measure",
    "exact_pointwise",
    "joint_array",
    "reference_pid",
]

logger = logging.getLogger(__name__)

Joint = Mapping[tuple[int, int, int], float] | np.ndarray


def joint_array(joint: Joint) -> np.ndarray:
    """A joint distribution as an array ``p[x1, x2, y]`` (float64, summing to 1).

    Parameters
    ----------
    joint : dict {(x1, x2, y): probability} or array p[x1, x2, y]
        Finite, non-negative probabilities summing to 1 (within 1e-6); dict keys are
        triples of non-negative integers.
    """
    if isinstance(joint, Mapping):
        if not joint:
            raise ValueError("joint: expected a non-empty dict {(x1, x2, y): probability}.")
        keys = np.array([tuple(k) for k in joint], dtype=np.int64)
        if keys.ndim != 2 or keys.shape[1] != 3 or (keys < 0).any():
            raise ValueError("joint: keys must be triples (x1, x2, y) of non-negative integers.")
        p = np.zeros(tuple(keys.max(axis=0) + 1))
        for key, prob in zip(keys, joint.values(), strict=True):
            p[tuple(key)] += float(prob)
    else:
        p = np.asarray(joint, dtype=np.float64)
        if p.ndim != 3:
            raise ValueError(f"joint: expected an array p[x1, x2, y], found shape {p.shape}.")
    if (p < 0).any() or not np.isfinite(p).all() or abs(p.sum() - 1.0) > 1e-6:
        raise ValueError(
            "joint: probabilities must be finite, non-negative and sum to 1; "
            f"found sum {p.sum():.6g}."
        )
    return p / p.sum()


def exact_pointwise(joint: Joint) -> dict[str, np.ndarray]:
    """Pointwise terms of every outcome with ``p > 0``.

    Returns
    -------
    dict of arrays of shape (K,)
        ``cells`` (shape (K, 3): x1, x2, y), ``p``, ``i1 = log p(y|x1)/p(y)``, ``i2``,
        ``i12 = log p(y|x1,x2)/p(y)``, ``h1 = -log p(x1)``, ``h2 = -log p(x2)``.
    """
    p = joint_array(joint)
    cells = np.argwhere(p > 0)
    a, b, c = cells.T
    p_y = p.sum((0, 1))
    p_1y, p_2y, p_12 = p.sum(1), p.sum(0), p.sum(2)
    p_1, p_2 = p_12.sum(1), p_12.sum(0)
    return {
        "cells": cells,
        "p": p[a, b, c],
        "i1": np.log(p_1y[a, c] / (p_1[a] * p_y[c])),
        "i2": np.log(p_2y[b, c] / (p_2[b] * p_y[c])),
        "i12": np.log(p[a, b, c] / (p_12[a, b] * p_y[c])),
        "h1": -np.log(p_1[a]),
        "h2": -np.log(p_2[b]),
    }


def _sign(v: np.ndarray, atol: float = 1e-12) -> np.ndarray:
    return np.where(np.abs(v) <= atol, 0.0, np.sign(v))


def exact_measure(joint: Joint, measure: str = "ccs", *, solver: str = "own") -> dict[str, float]:
    """The exact dataset-level decomposition of a known joint, in nats.

    Parameters
    ----------
    joint : dict {(x1, x2, y): p} or array p[x1, x2, y]
        The known joint distribution (see :func:`joint_array`).
    measure : {"ccs", "lsmi", "pm", "broja"}
        ``ccs``: the expectation under ``p`` of Ince's pointwise common change in surprisal;
        ``lsmi`` (alias ``pm``): of the Finn-Lizier pointwise decomposition;
        ``broja``: :func:`broja_pid`.
    solver : {"own", "dit"}
        BROJA solver (``broja`` only).

    Returns
    -------
    dict with keys ``R, U1, U2, S``.
    """
    name = str(measure).lower()
    if name == "broja":
        out = broja_pid(joint, solver=solver)
        return {k: out[k] for k in ("R", "U1", "U2", "S")}
    if name not in ("ccs", "lsmi", "pm"):
        raise ValueError(
            f"measure: expected 'ccs', 'lsmi' (or 'pm') or 'broja', found {measure!r}."
        )
    t = exact_pointwise(joint)
    i1, i2, i12 = t["i1"], t["i2"], t["i12"]
    if name == "ccs":
        co = i1 + i2 - i12
        agree = (_sign(co) == _sign(i1)) & (_sign(co) == _sign(i2)) & (_sign(co) == _sign(i12))
        r = np.where(agree, co, 0.0)
    else:
        r = np.minimum(t["h1"], t["h2"]) - np.minimum(t["h1"] - i1, t["h2"] - i2)
    parts = {"R": r, "U1": i1 - r, "U2": i2 - r, "S": i12 - i1 - i2 + r}
    return {k: float(np.sum(t["p"] * v)) for k, v in parts.items()}


def _dit_broja(p: np.ndarray) -> dict[str, float]:
    import dit  # noqa: PLC0415  (optional dependency)
    from dit.pid import PID_BROJA  # noqa: PLC0415

    cells = np.argwhere(p > 0)
    dist = dit.Distribution([tuple(int(v) for v in c) for c in cells], p[tuple(cells.T)].tolist())
    # Without a generator dit draws its starting points from its own module-level
    # generator, seeded from the operating system, so its result changed from run to run
    # (on XOR, U1 came out 0.08 nats instead of 0 once in several test runs). A seeded
    # generator makes the reference reproducible.
    pid = PID_BROJA(dist, [[0], [1]], [2], rng=np.random.default_rng(0))
    atoms = {"R": ((0,), (1,)), "U1": ((0,),), "U2": ((1,),), "S": ((0, 1),)}
    return {k: float(pid.get_pi(v)) * float(np.log(2.0)) for k, v in atoms.items()}


#: Duality-gap bound of the dataset-level references (reported to 4 decimals): 1e-6 nats
#: takes about a quarter of the Newton steps of the default 1e-10 for the same digits.
_REFERENCE_TOL = 1e-6


def broja_pid(joint: Joint, *, solver: str = "own", tol: float = 1e-10) -> dict[str, Any]:
    """BROJA PID (nats) of a discrete joint distribution.

    Parameters
    ----------
    joint : dict {(x1, x2, y): p} or array p[x1, x2, y]
        The discrete joint distribution (see :func:`joint_array`).
    solver : {"own", "dit"}
        ``own``: the dual interior-point solver of :mod:`.broja` (fast; duality gap below
        ``tol`` nats). ``dit``: ``dit.pid.PID_BROJA`` (optional dependency ``dit``; slow on
        larger alphabets).
    tol : float, default 1e-10
        Duality-gap bound of the ``own`` solver, in nats.

    Returns
    -------
    dict with ``R, U1, U2, S`` and ``solver``.
    """
    p = joint_array(joint)
    if solver == "dit":
        if importlib.util.find_spec("dit") is None:
            raise ValueError(
                "solver='dit' needs the optional package dit (pip install 'dmil[pid]'); "
                "use solver='own'."
            )
        return {**_dit_broja(p), "solver": "dit"}
    if solver != "own":
        raise ValueError(f"solver: expected 'own' or 'dit', found {solver!r}.")
    out = broja_from_array(p, tol=tol)
    return {k: out[k] for k in ("R", "U1", "U2", "S")} | {"solver": "own"}


def empirical_joint(
    codes1: np.ndarray, codes2: np.ndarray, labels: np.ndarray, shape: tuple[int, int, int]
) -> np.ndarray:
    """Relative frequencies ``p[x1, x2, y]`` of integer codes, shape ``shape``."""
    flat = (codes1 * shape[1] + codes2) * shape[2] + labels
    counts = np.bincount(flat.astype(np.int64), minlength=int(np.prod(shape)))
    return (counts / counts.sum()).reshape(shape)


def _pca(x: np.ndarray, k: int) -> np.ndarray:
    """Projections of the centred rows of ``x`` (N, D) on its first ``k`` principal axes."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T


def _sq_dists(x: np.ndarray, centres: np.ndarray, x_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (N, K) of the rows of ``x`` to ``centres``."""
    d = x_sq[:, None] - 2.0 * (x @ centres.T) + (centres * centres).sum(1)[None, :]
    return np.maximum(d, 0.0)


def _kmeans(
    x: np.ndarray, k: int, rng: np.random.Generator, *, n_init: int = 3, n_iter: int = 100
) -> np.ndarray:
    """k-means (k-means++ seeding, Lloyd steps), best of ``n_init`` starts: ids (N,)."""
    n = x.shape[0]
    x_sq = (x * x).sum(1)
    best_labels, best_inertia = np.zeros(n, dtype=np.int64), np.inf
    for _ in range(n_init):
        centres = np.empty((k, x.shape[1]))
        centres[0] = x[rng.integers(n)]
        closest = _sq_dists(x, centres[:1], x_sq)[:, 0]
        for j in range(1, k):
            total = closest.sum()
            pick = rng.integers(n) if total <= 0 else rng.choice(n, p=closest / total)
            centres[j] = x[pick]
            closest = np.minimum(closest, _sq_dists(x, centres[j : j + 1], x_sq)[:, 0])
        labels = np.full(n, -1, dtype=np.int64)
        for _ in range(n_iter):
            dist = _sq_dists(x, centres, x_sq)
            new = dist.argmin(1)
            if np.array_equal(new, labels):
                break
            labels = new
            counts = np.bincount(labels, minlength=k)
            sums = np.zeros_like(centres)
            np.add.at(sums, labels, x)
            filled = counts > 0
            centres[filled] = sums[filled] / counts[filled, None]
        inertia = float(_sq_dists(x, centres, x_sq)[np.arange(n), labels].sum())
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    # Renumber by first appearance, dropping empty clusters: codes 0..K'-1.
    _, first, codes = np.unique(best_labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[codes.reshape(-1)]


def _cluster(
    x: np.ndarray, *, n_components: int, n_clusters: int, rng: np.random.Generator
) -> np.ndarray:
    """PCA (to at most ``n_components`` dims) then k-means: cluster ids of shape (N,).

    Written in NumPy (SVD; k-means++ seeding and Lloyd steps, best of 3 starts) rather
    than with scikit-learn, whose import alone takes longer than the whole fit of a small
    dataset.
    """
    x = x.reshape(x.shape[0], -1).astype(np.float64)
    k = int(min(n_components, x.shape[1], x.shape[0]))
    if k < x.shape[1]:
        with _one_blas_thread():
            x = _pca(x, k)
    n_distinct = min(n_clusters, len(np.unique(x, axis=0)))
    with _one_blas_thread():  # small products; spinning BLAS threads cost more on shared cores
        return _kmeans(x, n_distinct, rng)


def discretized_broja(
    dataset: MultimodalDataset,
    *,
    pair: tuple[int, int] = (0, 1),
    n_components: int = 10,
    n_clusters: int = 8,
    random_state: RandomState = 0,
    solver: str = "own",
) -> dict[str, Any]:
    """BROJA PID of a continuous pair after PCA + k-means per modality (PID-CVX recipe).

    Parameters
    ----------
    dataset : MultimodalDataset
        Labelled data holding the modalities of ``pair``.
    pair : (i, j)
        Modalities to decompose.
    n_components : int
        PCA dimensions kept per modality.
    n_clusters : int
        k-means clusters per modality.
    random_state : int, Generator or None, default 0
        Seed or generator of the k-means initialisation.
    solver : {"own", "dit"}, default "own"
        BROJA solver for the discretised joint (see :func:`broja_pid`).

    Returns
    -------
    dict with ``R, U1, U2, S`` (nats), ``method`` and the settings.
    """
    rng = check_random_state(random_state)
    labels = dataset.labels.numpy()
    codes = [
        _cluster(
            dataset.modalities[m].numpy(), n_components=n_components, n_clusters=n_clusters, rng=rng
        )
        for m in pair
    ]
    shape = (int(codes[0].max()) + 1, int(codes[1].max()) + 1, dataset.n_classes)
    joint = empirical_joint(codes[0], codes[1], labels, shape)
    out = broja_pid(joint, solver=solver, tol=_REFERENCE_TOL)
    return {
        **{k: out[k] for k in ("R", "U1", "U2", "S")},
        "method": "discretised BROJA (PCA + k-means per modality)",
        "n_components": n_components,
        "n_clusters": n_clusters,
        "solver": out["solver"],
    }


def reference_pid(
    dataset: MultimodalDataset,
    *,
    max_discrete_values: int = 64,
    n_components: int = 10,
    n_clusters: int = 8,
    random_state: RandomState = 0,
    solver: str = "own",
) -> dict[tuple[int, int], dict[str, Any]]:
    """The dataset-level BROJA reference of every pair of modalities.

    A pair of discrete modalities (integer dtype, at most ``max_discrete_values`` distinct
    values each) gets the exact BROJA PID of its empirical joint; any other pair the
    discretise-then-BROJA estimate of :func:`discretized_broja`.

    Returns
    -------
    dict (i, j) -> dict with ``R, U1, U2, S`` (nats) and ``method``.
    """
    coders = [
        fit_coder(x, max_discrete_values=max_discrete_values, name=n)
        for x, n in zip(dataset.modalities, dataset.modality_names, strict=True)
    ]
    labels = dataset.labels.numpy()
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for i, j in itertools.combinations(range(dataset.n_modalities), 2):
        if coders[i].discrete and coders[j].discrete:
            c1 = coders[i].codes(dataset.modalities[i]).numpy()
            c2 = coders[j].codes(dataset.modalities[j]).numpy()
            shape = (coders[i].n_values, coders[j].n_values, dataset.n_classes)
            joint = empirical_joint(c1, c2, labels, shape)
            pid = broja_pid(joint, solver=solver, tol=_REFERENCE_TOL)
            out[(i, j)] = {**pid, "method": "BROJA of the empirical joint (discrete data)"}
        else:
            out[(i, j)] = discretized_broja(
                dataset,
                pair=(i, j),
                n_components=n_components,
                n_clusters=n_clusters,
                random_state=random_state,
                solver=solver,
            )
        logger.debug("reference for pair %s: %s", (i, j), out[(i, j)])
    return out
