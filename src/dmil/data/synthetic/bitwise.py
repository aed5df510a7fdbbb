"""Bitwise suites: two binary inputs, a binary label, an exactly known PID.

Five tasks on two fair bits, each with its true joint distribution and its exact BROJA
partial information decomposition (Bertschinger, Rauh, Olbrich, Jost and Ay, 2014) in
nats:

============  =====================  ======  ======  ======  ======
task          rule                   R       U1      U2      S
============  =====================  ======  ======  ======  ======
xor           y = x1 XOR x2          0       0       0       ln 2
and           y = x1 AND x2          0.2158  0       0       0.3466
or            y = x1 OR x2           0.2158  0       0       0.3466
unique        y = x1, x2 independent 0       ln 2    0       0
redundant     x1 = x2 = y            ln 2    0       0       0
============  =====================  ======  ======  ======  ======

The PID is not copied from this table: :func:`closed_form_pid` derives it from the joint
distribution, using two facts about the BROJA measure that make it exact here (see its
docstring).
"""

from __future__ import annotations

import logging
import math
from numbers import Integral, Real

import numpy as np

from dmil.data.container import MultimodalDataset
from dmil.data.registry import register_dataset
from dmil.utils import RandomState, check_random_state

__all__ = [
    "BITWISE_KINDS",
    "closed_form_pid",
    "make_and",
    "make_bitwise",
    "make_or",
    "make_redundant",
    "make_unique",
    "make_xor",
]

logger = logging.getLogger(__name__)

#: The bitwise tasks, by name.
BITWISE_KINDS: tuple[str, ...] = ("xor", "and", "or", "unique", "redundant")

#: The single mechanism behind every sample of a task, where there is one.
_MECHANISM: dict[str, str | None] = {
    "xor": "S",
    "and": None,
    "or": None,
    "unique": "U1",
    "redundant": "R",
}

_RULE: dict[str, str] = {
    "xor": "y = x1 XOR x2, x1 and x2 independent fair bits",
    "and": "y = x1 AND x2, x1 and x2 independent fair bits",
    "or": "y = x1 OR x2, x1 and x2 independent fair bits",
    "unique": "y = x1, x2 an independent fair bit",
    "redundant": "x1 = x2 = y, y a fair bit",
}

Joint = dict[tuple[int, int, int], float]


# ----------------------------------------------------------------- validation helpers
def check_int(value: object, name: str, *, minimum: int) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(
            f"{name} must be an integer >= {minimum}; found {value!r} ({type(value).__name__})."
        )
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; found {value}.")
    return int(value)


def check_real(value: object, name: str) -> float:
    """Return ``value`` as a finite ``float``, else raise ``TypeError``/``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number; found {value!r} ({type(value).__name__}).")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite; found {out}.")
    return out


# ----------------------------------------------------------------- exact quantities
def _true_joint(kind: str) -> Joint:
    """The task's joint distribution over all eight outcomes ``(x1, x2, y)``."""
    joint: Joint = {(a, b, c): 0.0 for a in (0, 1) for b in (0, 1) for c in (0, 1)}
    if kind == "redundant":
        joint[(0, 0, 0)] = 0.5
        joint[(1, 1, 1)] = 0.5
        return joint
    rule = {
        "xor": lambda a, b: a ^ b,
        "and": lambda a, b: a & b,
        "or": lambda a, b: a | b,
        "unique": lambda a, b: a,
    }[kind]
    for a in (0, 1):
        for b in (0, 1):
            joint[(a, b, rule(a, b))] = 0.25
    return joint


def _joint_array(joint: Joint) -> np.ndarray:
    """The joint as an array ``p[x1, x2, y]``, checked to be a distribution."""
    if not joint:
        raise ValueError("joint: expected a non-empty dict {(x1, x2, y): probability}.")
    keys = np.array(list(joint), dtype=np.int64)
    if keys.ndim != 2 or keys.shape[1] != 3 or keys.min() < 0:
        raise ValueError("joint: keys must be triples (x1, x2, y) of non-negative integers.")
    p = np.zeros(tuple(int(k) + 1 for k in keys.max(axis=0)))
    for (a, b, c), prob in joint.items():
        p[a, b, c] = float(prob)
    if (p < 0).any() or abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(
            f"joint: probabilities must be non-negative and sum to 1; found sum {p.sum():.6g}."
        )
    return p


def _mutual_information(p_xy: np.ndarray) -> float:
    """I(X; Y) in nats from a 2-D joint table ``p[x, y]``."""
    px = p_xy.sum(axis=1, keepdims=True)
    py = p_xy.sum(axis=0, keepdims=True)
    mask = p_xy > 0
    return float(np.sum(p_xy[mask] * np.log(p_xy[mask] / (px @ py)[mask])))


def closed_form_pid(joint: Joint, *, atol: float = 1e-12) -> dict[str, float]:
    """Exact BROJA PID of ``(X1, X2) -> Y`` for joints where it has a closed form.

    BROJA defines the unique information as ``UI1 = min_Q I_Q(X1; Y | X2)`` over the
    joints ``Q`` that keep the pair marginals ``P(X1, Y)`` and ``P(X2, Y)``; then
    ``R = I(X1; Y) - UI1``, ``UI2 = I(X2; Y) - R`` and ``S = I(X1, X2; Y) - R - UI1 - UI2``.
    Two facts give ``R`` without an optimisation:

    1. ``0 <= R <= min(I(X1; Y), I(X2; Y))`` (BROJA terms are non-negative), so when one
       modality carries no information about ``Y``, ``R = 0``. This covers ``unique``.
    2. When both channels are the same, ``P(X1 = v | Y = y) = P(X2 = v | Y = y)`` for every
       ``v, y``, the joint ``Q(x1, x2, y) = P(y) P(x2 | y) [x1 = x2]`` keeps both pair
       marginals and makes ``X1`` a function of ``X2``, so ``I_Q(X1; Y | X2) = 0``: both
       unique informations vanish and ``R = I(X1; Y) = I(X2; Y)``. This covers ``xor``,
       ``and``, ``or`` and ``redundant``.

    Parameters
    ----------
    joint : dict {(x1, x2, y): probability}
        A distribution over integer triples.
    atol : float
        Tolerance for "carries no information" and "same channel".

    Returns
    -------
    dict
        ``{"R", "U1", "U2", "S"}`` in nats.

    Raises
    ------
    ValueError
        If neither condition holds (the BROJA optimisation is then needed).
    """
    p = _joint_array(joint)
    i1 = _mutual_information(p.sum(axis=1))
    i2 = _mutual_information(p.sum(axis=0))
    i12 = _mutual_information(p.reshape(-1, p.shape[2]))
    p_x1y = p.sum(axis=1)
    p_x2y = p.sum(axis=0)
    if min(i1, i2) <= atol:
        redundancy = 0.0
    elif p_x1y.shape == p_x2y.shape and np.allclose(p_x1y, p_x2y, rtol=0.0, atol=atol):
        # Equal pair marginals P(X1, Y) = P(X2, Y) means equal channels P(X | Y).
        redundancy = i1
    else:
        raise ValueError(
            "joint: no closed-form BROJA PID; it needs one modality without information "
            "about y or identical channels P(x1 | y) = P(x2 | y). Use an optimising BROJA "
            "solver (e.g. dit.pid.PID_BROJA) for this joint."
        )
    u1 = i1 - redundancy
    u2 = i2 - redundancy
    synergy = i12 - redundancy - u1 - u2
    pid = {"R": redundancy, "U1": u1, "U2": u2, "S": synergy}
    # Round-off (|v| < 1e-12) becomes an exact zero; the terms are non-negative by the
    # two facts above.
    return {k: (0.0 if abs(v) < 1e-12 else float(v)) for k, v in pid.items()}


# ----------------------------------------------------------------- generators
def _sample(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Draw ``n`` samples ``(x1, x2, y)`` from the task, each of shape ``(n,)``."""
    if kind == "redundant":
        y = rng.integers(0, 2, size=n)
        return y.copy(), y.copy(), y
    x1 = rng.integers(0, 2, size=n)
    x2 = rng.integers(0, 2, size=n)
    y = {
        "xor": x1 ^ x2,
        "and": x1 & x2,
        "or": x1 | x2,
        "unique": x1.copy(),
    }[kind]
    return x1, x2, y


def make_bitwise(
    kind: str, *, n_samples: int = 20000, random_state: RandomState = None
) -> MultimodalDataset:
    """Draw a bitwise task with its exact joint distribution and BROJA PID.

    Parameters
    ----------
    kind : {"xor", "and", "or", "unique", "redundant"}
        The task: ``xor``/``and``/``or`` apply the gate to two independent fair bits;
        ``unique`` has ``y = x1`` and ``x2`` an independent fair bit; ``redundant`` copies
        one fair bit into ``x1``, ``x2`` and ``y``.
    n_samples : int, default 20000
        Number of samples ``N``.
    random_state : int, numpy.random.Generator or None
        Seed for the draw.

    Returns
    -------
    MultimodalDataset
        Modalities ``x1`` and ``x2`` of shape ``(N, 1)``, dtype int64, values {0, 1};
        labels of shape ``(N,)`` in {0, 1}. ``metadata["pid"]`` holds the exact BROJA PID
        in nats (keys ``R, U1, U2, S``), ``metadata["joint"]`` the true distribution
        ``{(x1, x2, y): probability}`` over all eight outcomes (zeros included), and
        ``metadata["rule"]`` the task in words. ``interactions`` is set where a single
        mechanism produces every sample (xor: S, unique: U1, redundant: R) and ``None``
        for ``and``/``or``, whose samples mix redundancy and synergy.
    """
    if not isinstance(kind, str) or kind not in BITWISE_KINDS:
        raise ValueError(f"kind: expected one of {list(BITWISE_KINDS)}, found {kind!r}.")
    n = check_int(n_samples, "n_samples", minimum=1)
    rng = check_random_state(random_state)
    x1, x2, y = _sample(kind, n, rng)
    joint = _true_joint(kind)
    mechanism = _MECHANISM[kind]
    interactions = None if mechanism is None else np.full(n, mechanism)
    logger.debug("drew %d samples of bitwise task %s", n, kind)
    return MultimodalDataset(
        [x1.astype(np.int64).reshape(n, 1), x2.astype(np.int64).reshape(n, 1)],
        y.astype(np.int64),
        modality_names=("x1", "x2"),
        class_names=("0", "1"),
        interactions=interactions,
        name=f"synthetic-{kind}",
        source=f"generated by dmil (make_bitwise, kind={kind!r})",
        metadata={"pid": closed_form_pid(joint), "joint": joint, "rule": _RULE[kind]},
    )


_SOURCE = "generated by dmil (make_bitwise: two fair bits, exact BROJA PID)"


@register_dataset(
    "synthetic-xor",
    description="y = x1 XOR x2 on two fair bits; pure synergy (S = ln 2).",
    source=_SOURCE,
    has_truth=True,
)
def make_xor(*, n_samples: int = 20000, random_state: RandomState = None) -> MultimodalDataset:
    """XOR of two fair bits; every sample is synergistic. See :func:`make_bitwise`."""
    return make_bitwise("xor", n_samples=n_samples, random_state=random_state)


@register_dataset(
    "synthetic-and",
    description="y = x1 AND x2 on two fair bits; R = 0.2158, S = 0.3466 nats.",
    source=_SOURCE,
    has_truth=False,
)
def make_and(*, n_samples: int = 20000, random_state: RandomState = None) -> MultimodalDataset:
    """AND of two fair bits; redundancy and synergy mixed. See :func:`make_bitwise`."""
    return make_bitwise("and", n_samples=n_samples, random_state=random_state)


@register_dataset(
    "synthetic-or",
    description="y = x1 OR x2 on two fair bits; R = 0.2158, S = 0.3466 nats.",
    source=_SOURCE,
    has_truth=False,
)
def make_or(*, n_samples: int = 20000, random_state: RandomState = None) -> MultimodalDataset:
    """OR of two fair bits; redundancy and synergy mixed. See :func:`make_bitwise`."""
    return make_bitwise("or", n_samples=n_samples, random_state=random_state)


@register_dataset(
    "synthetic-unique",
    description="y = x1, x2 an independent fair bit; pure uniqueness (U1 = ln 2).",
    source=_SOURCE,
    has_truth=True,
)
def make_unique(*, n_samples: int = 20000, random_state: RandomState = None) -> MultimodalDataset:
    """``y = x1`` with ``x2`` independent noise; every sample is U1. See :func:`make_bitwise`."""
    return make_bitwise("unique", n_samples=n_samples, random_state=random_state)


@register_dataset(
    "synthetic-redundant",
    description="x1 = x2 = y, one fair bit copied; pure redundancy (R = ln 2).",
    source=_SOURCE,
    has_truth=True,
)
def make_redundant(
    *, n_samples: int = 20000, random_state: RandomState = None
) -> MultimodalDataset:
    """One fair bit copied into both inputs; every sample is R. See :func:`make_bitwise`."""
    return make_bitwise("redundant", n_samples=n_samples, random_state=random_state)
