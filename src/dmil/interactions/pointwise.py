"""Per-sample interaction measures on tensors.

Every function here takes per-sample pointwise quantities (in nats) as tensors of shape
``(N,)`` and returns per-sample components of the same shape. The pointwise identities
hold for every measure, sample by sample::

    i(x1; y)     = r + u1
    i(x2; y)     = r + u2
    i(x1, x2; y) = r + u1 + u2 + s

so a measure only has to say what the redundancy ``r`` of a sample is:

* ``"lsmi"`` (Finn and Lizier's pointwise decomposition, ``PM``, as used by LSMI): pointwise
  MI is split into ``h(x) = -log p(x)`` and ``h(x | y) = -log p(x | y)``, and
  ``r = min(h(x1), h(x2)) - min(h(x1 | y), h(x2 | y))``;
* ``"ccs"`` (Ince's common change in surprisal): the co-information
  ``c = i(x1; y) + i(x2; y) - i(x1, x2; y)`` counts as redundancy when ``c``, ``i(x1; y)``,
  ``i(x2; y)`` and ``i(x1, x2; y)`` all have the same sign, otherwise ``r = 0``.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "MEASURES",
    "ccs_redundancy",
    "decompose",
    "lsmi_adjustment",
    "pm_redundancy",
    "pointwise_mi",
]

#: The measures :func:`decompose` knows, the default first.
MEASURES: tuple[str, ...] = ("ccs", "lsmi")


def check_measure(measure: str) -> str:
    """Return ``measure`` lower-cased if it is known, else raise ``ValueError``."""
    if not isinstance(measure, str) or measure.lower() not in MEASURES:
        raise ValueError(
            f"measure: expected one of {list(MEASURES)}, found {measure!r}. 'ccs' is Ince's "
            "common change in surprisal, 'lsmi' the Finn-Lizier pointwise decomposition of LSMI."
        )
    return measure.lower()


def pointwise_mi(
    log_proba: torch.Tensor, labels: torch.Tensor, log_prior: torch.Tensor
) -> torch.Tensor:
    """Pointwise mutual information ``i(x; y) = log p(y | x) - log p(y)``.

    Parameters
    ----------
    log_proba : tensor of shape (N, C)
        Log class probabilities ``log p(c | x)`` per sample.
    labels : integer tensor of shape (N,)
        The observed class ``y`` of each sample.
    log_prior : tensor of shape (C,)
        Log label prior ``log p(c)`` (the empirical prior of the training data).

    Returns
    -------
    tensor of shape (N,)
        ``log p(y_n | x_n) - log p(y_n)`` in nats.
    """
    labels = labels.long().to(log_proba.device)
    picked = log_proba.gather(1, labels[:, None]).squeeze(1)
    return picked - log_prior.to(log_proba.device)[labels]


def ccs_redundancy(i1: torch.Tensor, i2: torch.Tensor, i12: torch.Tensor) -> torch.Tensor:
    """Ince's pointwise common change in surprisal, shape ``(N,)``.

    ``c = i1 + i2 - i12`` is kept where ``sign(c) == sign(i1) == sign(i2) == sign(i12)``
    and set to 0 elsewhere (a zero has its own sign, as in ``dit.pid.PID_CCS``).
    """
    c = i1 + i2 - i12
    s = torch.sign(c)
    same = (torch.sign(i1) == s) & (torch.sign(i2) == s) & (torch.sign(i12) == s)
    return torch.where(same, c, torch.zeros_like(c))


def pm_redundancy(
    i1: torch.Tensor, i2: torch.Tensor, h1: torch.Tensor, h2: torch.Tensor
) -> torch.Tensor:
    """Finn-Lizier pointwise redundancy (LSMI's ``r = r+ - r-``), shape ``(N,)``.

    ``r+ = min(h(x1), h(x2))`` and ``r- = min(h(x1 | y), h(x2 | y))`` with
    ``h(x_m | y) = h(x_m) - i(x_m; y)``.
    """
    r_plus = torch.minimum(h1, h2)
    r_minus = torch.minimum(h1 - i1, h2 - i2)
    return r_plus - r_minus


def decompose(
    measure: str,
    i1: torch.Tensor,
    i2: torch.Tensor,
    i12: torch.Tensor,
    h1: torch.Tensor | None = None,
    h2: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Per-sample ``r, u1, u2, s`` from the pointwise terms.

    Parameters
    ----------
    measure : {"ccs", "lsmi"}
        Redundancy measure (case-insensitive): Ince's common change in surprisal or the
        Finn-Lizier pointwise decomposition.
    i1, i2, i12 : tensors of shape (N,)
        ``i(x1; y)``, ``i(x2; y)`` and ``i(x1, x2; y)`` in nats.
    h1, h2 : tensors of shape (N,), optional
        ``h(x1) = -log p(x1)`` and ``h(x2)``; required by ``"lsmi"``.

    Returns
    -------
    dict with keys ``"r", "u1", "u2", "s"``, each a tensor of shape (N,), satisfying the
    pointwise identities exactly (up to rounding).
    """
    measure = check_measure(measure)
    if measure == "lsmi":
        if h1 is None or h2 is None:
            raise ValueError(
                "measure 'lsmi' needs the pointwise entropies h1 and h2 (-log p(x_m)); "
                "pass them or use measure='ccs'."
            )
        r = pm_redundancy(i1, i2, h1, h2)
    else:
        r = ccs_redundancy(i1, i2, i12)
    u1 = i1 - r
    u2 = i2 - r
    s = i12 - r - u1 - u2
    return {"r": r, "u1": u1, "u2": u2, "s": s}


def lsmi_adjustment(means: dict[str, float]) -> float:
    """The dataset-wide shift LSMI applies to make its mean components non-negative.

    Adding ``delta`` to ``r`` and ``s`` and subtracting it from ``u1`` and ``u2`` keeps every
    pointwise identity. If the mean ``R`` or ``S`` is negative, ``delta = -min(R, S)``;
    otherwise, if the mean ``U1`` or ``U2`` is negative, ``delta = min(U1, U2)`` (negative);
    otherwise ``delta = 0``.

    Parameters
    ----------
    means : dict with keys ``"R", "U1", "U2", "S"``
        Raw dataset means in nats.

    Returns
    -------
    float
        The shift ``delta``; the adjusted means are ``R + delta, U1 - delta, U2 - delta,
        S + delta``.
    """
    r, u1, u2, s = (float(means[k]) for k in ("R", "U1", "U2", "S"))
    if not all(math.isfinite(v) for v in (r, u1, u2, s)):
        raise ValueError(f"lsmi_adjustment: means must be finite, found {means}.")
    if r < 0 or s < 0:
        return -min(r, s)
    if u1 < 0 or u2 < 0:
        return min(u1, u2)
    return 0.0
