"""The per-sample measures on tensors (dmil.interactions.pointwise)."""

from __future__ import annotations

import math

import pytest
import torch

from dmil.interactions.pointwise import (
    MEASURES,
    ccs_redundancy,
    decompose,
    lsmi_adjustment,
    pm_redundancy,
    pointwise_mi,
)

LN2 = math.log(2.0)


def _random_terms(n: int = 500, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(n, generator=g, dtype=torch.float64) for k in ("i1", "i2", "i12")} | {
        k: 1.0 + torch.rand(n, generator=g, dtype=torch.float64) * 3 for k in ("h1", "h2")
    }


@pytest.mark.parametrize("measure", MEASURES)
def test_decompose_satisfies_pointwise_identities(measure: str) -> None:
    t = _random_terms()
    out = decompose(measure, t["i1"], t["i2"], t["i12"], t["h1"], t["h2"])
    torch.testing.assert_close(out["r"] + out["u1"], t["i1"])
    torch.testing.assert_close(out["r"] + out["u2"], t["i2"])
    torch.testing.assert_close(out["r"] + out["u1"] + out["u2"] + out["s"], t["i12"])


def test_ccs_redundancy_keeps_coinformation_only_when_all_signs_agree() -> None:
    i1 = torch.tensor([LN2, LN2, 0.0, 0.5, -0.2])
    i2 = torch.tensor([LN2, 0.0, 0.0, 0.4, -0.3])
    i12 = torch.tensor([LN2, LN2, LN2, -0.1, -0.4])
    r = ccs_redundancy(i1, i2, i12)
    # copy: c = ln2 > 0, all positive -> r = ln2; unique: c = 0 -> 0; xor: c < 0 < i12 -> 0;
    # mixed signs -> 0; all negative with c = -0.1 -> kept.
    torch.testing.assert_close(r, torch.tensor([LN2, 0.0, 0.0, 0.0, -0.1]))


def test_pm_redundancy_is_difference_of_minima() -> None:
    i1, i2 = torch.tensor([LN2]), torch.tensor([0.0])
    h1, h2 = torch.tensor([LN2]), torch.tensor([LN2])
    # y = x1 with an independent x2: r+ = ln2, r- = min(0, ln2) = 0.
    torch.testing.assert_close(pm_redundancy(i1, i2, h1, h2), torch.tensor([LN2]))
    out = decompose("lsmi", i1, i2, torch.tensor([LN2]), h1, h2)
    torch.testing.assert_close(out["u2"], torch.tensor([-LN2]))
    torch.testing.assert_close(out["s"], torch.tensor([LN2]))


def test_decompose_lsmi_needs_entropies() -> None:
    t = _random_terms(4)
    with pytest.raises(ValueError, match="h1 and h2"):
        decompose("lsmi", t["i1"], t["i2"], t["i12"])


def test_decompose_rejects_unknown_measure() -> None:
    t = _random_terms(4)
    with pytest.raises(ValueError, match="measure: expected one of"):
        decompose("broja", t["i1"], t["i2"], t["i12"])


def test_pointwise_mi_uses_the_given_prior() -> None:
    log_proba = torch.log(torch.tensor([[0.9, 0.1], [0.5, 0.5]]))
    labels = torch.tensor([0, 1])
    log_prior = torch.log(torch.tensor([0.75, 0.25]))
    expected = torch.tensor([math.log(0.9 / 0.75), math.log(0.5 / 0.25)])
    torch.testing.assert_close(pointwise_mi(log_proba, labels, log_prior), expected)


@pytest.mark.parametrize(
    ("means", "delta"),
    [
        ({"R": -0.2, "U1": 0.5, "U2": 0.4, "S": 0.1}, 0.2),
        ({"R": 0.3, "U1": 0.5, "U2": 0.4, "S": -0.4}, 0.4),
        ({"R": 0.3, "U1": -0.1, "U2": 0.4, "S": 0.2}, -0.1),
        ({"R": 0.3, "U1": 0.1, "U2": 0.4, "S": 0.2}, 0.0),
    ],
)
def test_lsmi_adjustment_follows_the_reference_priorities(means: dict, delta: float) -> None:
    assert lsmi_adjustment(means) == pytest.approx(delta)


def test_lsmi_adjustment_rejects_non_finite_means() -> None:
    with pytest.raises(ValueError, match="finite"):
        lsmi_adjustment({"R": float("nan"), "U1": 0.0, "U2": 0.0, "S": 0.0})
