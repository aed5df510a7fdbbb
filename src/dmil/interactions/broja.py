"""The BROJA partial information decomposition of a discrete joint distribution.

BROJA (Bertschinger, Rauh, Olbrich, Jost and Ay, 2014) minimises ``I_Q(Y; X1, X2)`` over all
joints ``Q`` that keep the pair marginals ``P(X1, Y)`` and ``P(X2, Y)``; with the minimum
``I*``::

    U1 = I* - I(X2; Y),   U2 = I* - I(X1; Y),
    R  = I(X1; Y) + I(X2; Y) - I*,   S = I(X1, X2; Y) - I*.

The minimisation is convex. We solve its Lagrange dual, which has one variable per
``(x1, y)`` and per ``(x2, y)`` cell instead of one per ``(x1, x2, y)`` cell::

    min_Q -H_Q(Y | X1, X2)
        = max_{lam, mu}  sum_{a,c} P(a, c) lam[a, c] + sum_{b,c} P(b, c) mu[b, c]
          s.t.  log sum_c exp(lam[a, c] + mu[b, c]) <= 0  for every (a, b)

(the sum over ``c`` runs over the cells where ``P(a, c) > 0`` and ``P(b, c) > 0``), with a
log-barrier interior-point method and Newton steps. The duality gap at the end is below
``tol`` nats. ``dit.pid.PID_BROJA`` solves the same problem and is used as an independent
check in the tests.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np

__all__ = ["broja_from_array", "entropy", "mutual_information"]

logger = logging.getLogger(__name__)


def entropy(p: np.ndarray) -> float:
    """Shannon entropy in nats of a probability array (any shape)."""
    v = np.asarray(p, dtype=np.float64).reshape(-1)
    v = v[v > 0]
    return float(-(v * np.log(v)).sum())


def mutual_information(p_xy: np.ndarray) -> float:
    """``I(X; Y)`` in nats from a 2-D joint table ``p[x, y]``."""
    return entropy(p_xy.sum(1)) + entropy(p_xy.sum(0)) - entropy(p_xy)


def _logsumexp_rows(z: np.ndarray) -> np.ndarray:
    """``log sum_j exp(z[i, j])`` per row; every row holds at least one finite value."""
    top = z.max(axis=1)
    return top + np.log(np.exp(z - top[:, None]).sum(axis=1))


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """Limit BLAS to one thread: the Newton systems are small, and a multi-threaded BLAS
    made each solve about 1000x slower (0.25 s instead of 0.3 ms) when cores were shared."""
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415  (ships with scikit-learn)
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _min_conditional_negentropy(p: np.ndarray, *, tol: float, max_newton: int) -> tuple[float, int]:
    """``min_Q -H_Q(Y | X1, X2)`` over the BROJA set, by the dual barrier method.

    Returns the optimal value (nats) and the number of Newton steps taken.
    """
    n_a, n_b, n_c = p.shape
    alpha = p.sum(1)  # (A, C): P(x1, y)
    beta = p.sum(0)  # (B, C): P(x2, y)
    la_mask = alpha > 0
    mu_mask = beta > 0
    n_lam = int(la_mask.sum())
    n_var = n_lam + int(mu_mask.sum())
    la_idx = np.zeros((n_a, n_c), dtype=np.int64)
    la_idx[la_mask] = np.arange(n_lam)
    mu_idx = np.zeros((n_b, n_c), dtype=np.int64)
    mu_idx[mu_mask] = n_lam + np.arange(n_var - n_lam)
    support = la_mask[:, None, :] & mu_mask[None, :, :]  # (A, B, C)
    pairs = np.argwhere(support.any(2))  # (P, 2)
    if pairs.shape[0] == 0:
        raise ValueError(
            "joint: the distribution has no mass; expected probabilities summing to 1."
        )
    sup = support[pairs[:, 0], pairs[:, 1]]  # (P, C)
    idx = np.concatenate([la_idx[pairs[:, 0]], mu_idx[pairs[:, 1]]], axis=1)  # (P, 2C)
    msk = np.concatenate([sup, sup], axis=1)
    weights = np.concatenate([alpha[la_mask], beta[mu_mask]])
    c_of = np.concatenate([np.arange(n_c), np.arange(n_c)])
    same_c = (c_of[:, None] == c_of[None, :]).astype(np.float64)  # (2C, 2C)
    pair_mask = msk[:, :, None] & msk[:, None, :]
    lin = (idx[:, :, None] * n_var + idx[:, None, :])[pair_mask]
    n_pairs = pairs.shape[0]

    def constraint(x: np.ndarray) -> np.ndarray:
        z = np.where(sup, x[idx[:, :n_c]] + x[idx[:, n_c:]], -np.inf)
        return _logsumexp_rows(z)  # (P,)

    def barrier(x: np.ndarray, t: float) -> float:
        g = constraint(x)
        if np.any(g >= 0):
            return np.inf
        return float(-t * (weights @ x) - np.log(-g).sum())

    x = np.full(n_var, -0.5 * np.log(n_c) - 1.0)  # strictly feasible: sum_c e^(..) = e^-2
    t = 1.0
    steps = 0
    while True:
        for _ in range(max_newton):
            z = np.where(sup, x[idx[:, :n_c]] + x[idx[:, n_c:]], -np.inf)
            g = _logsumexp_rows(z)
            sig = np.where(sup, np.exp(z - g[:, None]), 0.0)  # (P, C): dg / d(lam + mu)
            inv = 1.0 / (-g)
            s2 = np.concatenate([sig, sig], axis=1)  # (P, 2C)
            grad = -t * weights + np.bincount(
                idx[msk], weights=(inv[:, None] * s2)[msk], minlength=n_var
            )
            outer = s2[:, :, None] * s2[:, None, :]
            hess_pair = inv[:, None, None] * (s2[:, :, None] * same_c - outer)
            hess_pair += (inv**2)[:, None, None] * outer
            hess = np.bincount(lin, weights=hess_pair[pair_mask], minlength=n_var * n_var)
            hess = hess.reshape(n_var, n_var)
            # The dual has flat directions (lam[., c] + k, mu[., c] - k); a tiny ridge
            # picks the shortest Newton step along them.
            hess[np.diag_indices(n_var)] += 1e-10 * (1.0 + np.abs(np.diag(hess)).max())
            try:
                step = -np.linalg.solve(hess, grad)
                if not np.isfinite(step).all():
                    raise np.linalg.LinAlgError("non-finite Newton step")
            except np.linalg.LinAlgError:
                step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
            decrement = float(-grad @ step)
            if decrement / 2 < 1e-10:
                break
            size, f0 = 1.0, barrier(x, t)
            while barrier(x + size * step, t) > f0 - 0.25 * size * decrement and size > 1e-12:
                size *= 0.5
            x = x + size * step
            steps += 1
        if n_pairs / t < tol:
            break
        t *= 50.0
    return float(weights @ x), steps


def broja_from_array(p: np.ndarray, *, tol: float = 1e-10, max_newton: int = 200) -> dict:
    """BROJA PID (nats) of a joint probability array ``p[x1, x2, y]``.

    Parameters
    ----------
    p : array of shape (A, B, C)
        Non-negative, summing to 1.
    tol : float
        Bound on the duality gap of the solver, in nats.
    max_newton : int
        Newton steps per barrier stage at most.

    Returns
    -------
    dict
        ``R, U1, U2, S`` in nats, plus ``I1 = I(X1; Y)``, ``I2``, ``I12`` and
        ``newton_steps``. Values below ``1e-9`` in magnitude are reported as 0.
    """
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 3 or p.size == 0:
        raise ValueError(f"joint: expected an array p[x1, x2, y] of 3 dims, found shape {p.shape}.")
    if (p < 0).any() or not np.isfinite(p).all() or abs(p.sum() - 1.0) > 1e-6:
        raise ValueError(
            "joint: probabilities must be finite, non-negative and sum to 1; "
            f"found sum {p.sum():.6g}."
        )
    p = p / p.sum()
    n_c = p.shape[2]
    i1 = mutual_information(p.sum(1))
    i2 = mutual_information(p.sum(0))
    i12 = mutual_information(p.reshape(-1, n_c))
    with _one_blas_thread():
        neg_h, steps = _min_conditional_negentropy(p, tol=tol, max_newton=max_newton)
    i_star = entropy(p.sum((0, 1))) + neg_h
    pid = {"R": i1 + i2 - i_star, "U1": i_star - i2, "U2": i_star - i1, "S": i12 - i_star}
    out = {k: (0.0 if abs(v) < 1e-9 else float(v)) for k, v in pid.items()}
    out.update({"I1": i1, "I2": i2, "I12": i12, "newton_steps": steps})
    logger.debug("BROJA on a %s joint: %s (%d Newton steps)", p.shape, out, steps)
    return out
