"""Discrete data stored as floats take the exact count path, like integer-coded data."""

from __future__ import annotations

import pytest
import torch

from dmil.data import MultimodalDataset, load, split_dataset
from dmil.interactions import InteractionEstimator, exact_measure, reference_pid
from dmil.interactions.density import GaussianMixtureDensity
from dmil.interactions.encoding import fit_coder

TASKS = ("xor", "and", "or", "unique", "redundant")  # "redundant" is the copy task


@pytest.fixture(scope="module")
def suites() -> dict[str, MultimodalDataset]:
    return {t: load(f"synthetic-{t}", n_samples=20000, random_state=0) for t in TASKS}


def _coded(data: MultimodalDataset, coding: str) -> MultimodalDataset:
    if coding == "int":
        return data
    return MultimodalDataset([m.float() for m in data.modalities], data.labels)


@pytest.mark.parametrize("coding", ["int", "float"])
@pytest.mark.parametrize("measure", ["ccs", "lsmi"])
@pytest.mark.parametrize("task", TASKS)
def test_bits_any_dtype_within_001_nats_of_exact(suites, task, measure, coding) -> None:
    data = _coded(suites[task], coding)
    parts = split_dataset(data, val_size=0.15, test_size=0.15, random_state=0)
    est = InteractionEstimator(measure=measure, random_state=0, progress=False)
    est.fit(parts.train, parts.val)
    assert [c.kind for c in est.coders_] == ["discrete", "discrete"]
    assert est.history_ == {}  # exact counts: nothing trained by gradient descent
    means = est.transform(data).means()
    exact = exact_measure(suites[task].metadata["joint"], measure)
    for key in ("R", "U1", "U2", "S"):
        assert means[key] == pytest.approx(exact[key], abs=0.01), key


def test_float_and_int_coded_bits_give_the_same_table(suites) -> None:
    data = suites["and"]
    as_int = InteractionEstimator(measure="lsmi", progress=False).fit(data).transform(data)
    floats = _coded(data, "float")
    as_float = InteractionEstimator(measure="lsmi", progress=False).fit(floats).transform(floats)
    for key in ("r", "u1", "u2", "s", "h1", "h2"):
        assert torch.allclose(
            torch.from_numpy(getattr(as_int, key)), torch.from_numpy(getattr(as_float, key))
        ), key


def test_coder_float_codes_need_repeated_values() -> None:
    # Few distinct rows that repeat: discrete, whatever the (standardised) values are.
    bits = torch.tensor([[-0.98], [1.02]]).repeat(10, 1)
    coder = fit_coder(bits, max_discrete_values=8)
    assert coder.kind == "discrete" and coder.floating and coder.n_values == 2
    assert coder.codes(torch.tensor([[1.02], [-0.98], [0.5]])).tolist() == [1, 0, -1]
    # As many distinct rows as samples: continuous even when below the limit.
    small = torch.randn(6, 2)
    assert fit_coder(small, max_discrete_values=8).kind == "continuous"
    # The limit applies to floats too; 0 turns the count path off.
    assert fit_coder(torch.arange(100.0).repeat(3)[:, None], max_discrete_values=64).kind == (
        "continuous"
    )
    assert fit_coder(bits, max_discrete_values=0).kind == "continuous"


def test_transform_rejects_integer_data_for_a_float_coded_fit(suites) -> None:
    data = suites["xor"]
    est = InteractionEstimator(progress=False).fit(_coded(data, "float"))
    with pytest.raises(TypeError, match="discrete floating codes"):
        est.transform(data)


def test_reference_pid_is_exact_on_float_coded_bits(suites) -> None:
    ref = reference_pid(_coded(suites["xor"], "float"))[(0, 1)]
    assert ref["method"].startswith("BROJA of the empirical joint")
    assert ref["S"] == pytest.approx(suites["xor"].metadata["pid"]["S"], abs=0.01)


def test_gaussian_mixture_on_point_masses_starts_at_the_scale_bound() -> None:
    x = torch.tensor([[0.0], [1.0]]).repeat(500, 1)
    mean, std = x.mean(0), x.std(0)
    gmm = GaussianMixtureDensity(
        dim=1, n_components=3, mean=mean, std=std, init_points=x[[0, 1, 2]]
    )
    gmm.init_from_data(x)
    _, log_diag = gmm._factors()
    weights = torch.softmax(gmm.weight_logits, 0)
    assert (log_diag[weights > 0.1] > 5.9).all()


def test_lsmi_density_on_float_bits_stops_early() -> None:
    """Forced onto the mixture density, point masses no longer run to ``max_epochs``."""
    data = _coded(load("synthetic-and", n_samples=3000, random_state=0), "float")
    est = InteractionEstimator(
        measure="lsmi", max_discrete_values=0, max_epochs=300, progress=False
    ).fit(data)
    assert [c.kind for c in est.coders_] == ["continuous", "continuous"]
    checks = [h.n_checks for name, h in est.history_.items() if name.startswith("p(x")]
    assert checks and max(checks) < 150, checks
