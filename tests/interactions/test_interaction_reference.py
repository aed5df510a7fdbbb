"""Exact decompositions of known joints, the BROJA solver and the dataset references."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from dmil.data import MultimodalDataset
from dmil.interactions import broja_pid, discretized_broja, exact_measure, reference_pid
from dmil.interactions.reference import exact_pointwise, joint_array

LN2 = math.log(2.0)
HAS_DIT = importlib.util.find_spec("dit") is not None


def _joint(rule) -> dict[tuple[int, int, int], float]:
    """Two fair independent bits and y = rule(x1, x2)."""
    return {(a, b, int(rule(a, b))): 0.25 for a in (0, 1) for b in (0, 1)}


JOINTS = {
    "xor": _joint(lambda a, b: a ^ b),
    "and": _joint(lambda a, b: a & b),
    "or": _joint(lambda a, b: a | b),
    "unique": _joint(lambda a, b: a),
    "copy": {(0, 0, 0): 0.5, (1, 1, 1): 0.5},
}

#: Closed-form BROJA values for two fair bits (nats).
PAPER = {
    ("xor", "lsmi"): (0, 0, 0, 0.6931),
    ("xor", "ccs"): (0, 0, 0, 0.6931),
    ("xor", "broja"): (0, 0, 0, 0.6931),
    ("unique", "broja"): (0, 0.6931, 0, 0),
    ("unique", "ccs"): (0, 0.6931, 0, 0),
    ("unique", "lsmi"): (0.6931, 0, -0.6931, 0.6931),
    ("and", "broja"): (0.2158, 0, 0, 0.3466),
    ("and", "lsmi"): (0.3890, -0.1733, -0.1733, 0.5199),
    ("and", "ccs"): (0.0719, 0.1438, 0.1438, 0.2027),
    ("or", "broja"): (0.2158, 0, 0, 0.3466),
    ("copy", "lsmi"): (0.6931, 0, 0, 0),
    ("copy", "ccs"): (0.6931, 0, 0, 0),
    ("copy", "broja"): (0.6931, 0, 0, 0),
}


@pytest.mark.parametrize(("task", "measure"), sorted(PAPER))
def test_exact_measure_reproduces_the_paper_table(task: str, measure: str) -> None:
    got = exact_measure(JOINTS[task], measure)
    expected = dict(zip(("R", "U1", "U2", "S"), PAPER[(task, measure)], strict=True))
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-4), key


def test_exact_pointwise_terms_of_xor() -> None:
    t = exact_pointwise(JOINTS["xor"])
    assert t["cells"].shape == (4, 3)
    np.testing.assert_allclose(t["p"], 0.25)
    np.testing.assert_allclose(t["i1"], 0.0, atol=1e-12)
    np.testing.assert_allclose(t["i12"], LN2)
    np.testing.assert_allclose(t["h1"], LN2)


def test_joint_array_rejects_bad_joints() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        joint_array({(0, 0, 0): 0.4})
    with pytest.raises(ValueError, match="triples"):
        joint_array({(0, 0): 1.0})
    with pytest.raises(ValueError, match="p\\[x1, x2, y\\]"):
        joint_array(np.ones((2, 2)) / 4)


def _random_joint(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    p = rng.random(shape) ** 2
    return p / p.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_broja_solution_is_a_consistent_decomposition(seed: int) -> None:
    p = _random_joint(np.random.default_rng(seed), (3, 4, 3))
    out = broja_pid(p)
    i1 = exact_measure(p, "ccs")
    i1_total = i1["R"] + i1["U1"]  # = I(X1; Y) for every measure
    assert out["R"] + out["U1"] == pytest.approx(i1_total, abs=1e-7)
    for key in ("R", "U1", "U2", "S"):
        assert out[key] >= -1e-7, key


#: dit's BROJA optimiser starts at random; across repeated runs its values on the bitwise
#: joints scattered by up to about 5e-4 nats, so it is compared with that precision (on a
#: random 2x2x2 joint its R even came out negative, -0.003, in some runs, so it is not used
#: there). The exact checks are the closed forms and the brute-force search below.
DIT_TOL = 1e-3


@pytest.mark.skipif(not HAS_DIT, reason="dit is not installed")
@pytest.mark.parametrize("task", ["xor", "and", "unique", "copy"])
def test_own_broja_agrees_with_dit_on_bitwise_tasks(task: str) -> None:
    own = broja_pid(JOINTS[task], solver="own")
    ref = broja_pid(JOINTS[task], solver="dit")
    for key in ("R", "U1", "U2", "S"):
        assert own[key] == pytest.approx(ref[key], abs=DIT_TOL), key


@pytest.mark.parametrize("task", ["xor", "and", "or", "unique", "copy"])
def test_own_broja_matches_the_closed_form(task: str) -> None:
    closed = {"xor": (0, 0, 0, LN2), "unique": (0, LN2, 0, 0), "copy": (LN2, 0, 0, 0)}
    own = broja_pid(JOINTS[task])
    if task in closed:
        expected = closed[task]
    else:  # AND / OR: no uniqueness, R = I(X1; Y), S = I(Y; X1, X2) - R = H(Y) - R
        h_y = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
        i1 = h_y - 0.5 * LN2  # H(Y) - H(Y | X1): Y is fixed when x1 = 0, a fair bit else
        expected = (i1, 0, 0, h_y - i1)
    for key, value in zip(("R", "U1", "U2", "S"), expected, strict=True):
        assert own[key] == pytest.approx(value, abs=1e-6), key


def _brute_force_min_mi(p: np.ndarray, grid: int = 1001) -> float:
    """min I_Q(Y; X1, X2) over the BROJA set of a 2x2x2 joint, by a dense grid.

    For each y the set is a segment: Q(0, 0, y) = t fixes the other three cells.
    """
    alpha, beta = p.sum(1), p.sum(0)
    ts = []
    for c in range(2):
        lo, hi = max(0.0, alpha[0, c] - beta[1, c]), min(alpha[0, c], beta[0, c])
        ts.append(np.linspace(lo, hi, grid))
    t0, t1 = np.meshgrid(ts[0], ts[1], indexing="ij")
    q = np.zeros((grid, grid, 2, 2, 2))
    for c, t in enumerate((t0, t1)):
        q[..., 0, 0, c] = t
        q[..., 0, 1, c] = alpha[0, c] - t
        q[..., 1, 0, c] = beta[0, c] - t
        q[..., 1, 1, c] = alpha[1, c] - beta[0, c] + t
    q = np.clip(q, 0.0, None)
    q_x = q.sum(-1, keepdims=True)
    q_y = p.sum((0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * np.log(q / (q_x * q_y)), 0.0)
    return float(terms.sum((-3, -2, -1)).min())


@pytest.mark.parametrize("seed", [5, 6])
def test_own_broja_matches_a_brute_force_search(seed: int) -> None:
    p = _random_joint(np.random.default_rng(seed), (2, 2, 2))
    own = broja_pid(p)
    i12 = exact_measure(p, "ccs")
    i12_total = sum(i12[k] for k in ("R", "U1", "U2", "S"))  # I(Y; X1, X2)
    assert own["S"] == pytest.approx(i12_total - _brute_force_min_mi(p), abs=1e-5)


@pytest.mark.skipif(not HAS_DIT, reason="dit is not installed")
@pytest.mark.parametrize("task", ["xor", "and", "or", "unique", "copy"])
@pytest.mark.parametrize("measure", ["ccs", "lsmi"])
def test_exact_measure_matches_dit(task: str, measure: str) -> None:
    import dit
    from dit.pid import PID_CCS, PID_PM

    p = joint_array(JOINTS[task])
    cells = np.argwhere(p > 0)
    dist = dit.Distribution([tuple(int(v) for v in c) for c in cells], p[tuple(cells.T)].tolist())
    pid = (PID_PM if measure == "lsmi" else PID_CCS)(dist, [[0], [1]], [2])
    atoms = {"R": ((0,), (1,)), "U1": ((0,),), "U2": ((1,),), "S": ((0, 1),)}
    ours = exact_measure(p, measure)
    for key, atom in atoms.items():
        assert ours[key] == pytest.approx(float(pid.get_pi(atom)) * LN2, abs=1e-9), key


def test_broja_rejects_unknown_solver() -> None:
    with pytest.raises(ValueError, match="solver"):
        broja_pid(JOINTS["xor"], solver="cvxpy")


def _continuous(kind: str, n: int = 1500, seed: int = 0) -> MultimodalDataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = (2.0 * y - 1.0)[:, None] * np.ones((1, 4)) + 0.3 * rng.standard_normal((n, 4))
    noise = rng.standard_normal((n, 4))
    x2 = signal + 0.05 * rng.standard_normal((n, 4)) if kind == "redundant" else noise
    return MultimodalDataset([signal.astype(np.float32), x2.astype(np.float32)], y)


def test_discretized_broja_finds_unique_information() -> None:
    out = discretized_broja(_continuous("unique"), n_clusters=4, random_state=0)
    assert out["U1"] > 0.6  # about ln 2: x1 separates the classes
    assert abs(out["R"]) < 0.05 and abs(out["U2"]) < 0.05 and abs(out["S"]) < 0.05


def test_discretized_broja_finds_redundant_information() -> None:
    out = discretized_broja(_continuous("redundant"), n_clusters=4, random_state=0)
    assert out["R"] > 0.6
    assert out["U1"] < 0.05 and out["U2"] < 0.05


def test_reference_pid_uses_exact_counts_for_discrete_pairs() -> None:
    rng = np.random.default_rng(0)
    x1, x3 = rng.integers(0, 2, 4000), rng.integers(0, 2, 4000)
    y = x1 ^ x3
    data = MultimodalDataset(
        [torch.from_numpy(x1)[:, None], torch.randn(4000, 3), torch.from_numpy(x3)[:, None]], y
    )
    ref = reference_pid(data, random_state=0)
    assert set(ref) == {(0, 1), (0, 2), (1, 2)}
    assert "empirical joint" in ref[(0, 2)]["method"]
    assert ref[(0, 2)]["S"] == pytest.approx(LN2, abs=0.01)
    assert "discretised" in ref[(0, 1)]["method"]
