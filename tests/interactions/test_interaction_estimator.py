"""InteractionEstimator: fidelity on exact suites, sample level, contract and checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dmil.data import MultimodalDataset, load, split_dataset
from dmil.interactions import (
    InteractionEstimator,
    InteractionTable,
    NotFittedError,
    exact_measure,
)

LN2 = math.log(2.0)
BITWISE = ("xor", "and", "or", "unique", "redundant")


@pytest.fixture(scope="module")
def bitwise() -> dict[str, MultimodalDataset]:
    return {t: load(f"synthetic-{t}", n_samples=20000, random_state=0) for t in BITWISE}


@pytest.mark.parametrize("measure", ["ccs", "lsmi"])
@pytest.mark.parametrize("task", BITWISE)
def test_fidelity_on_bitwise_suites(bitwise, task: str, measure: str) -> None:
    """Every dataset-level component within 0.01 nats of the measure's exact value."""
    data = bitwise[task]
    parts = split_dataset(data, val_size=0.15, test_size=0.15, random_state=0)
    est = InteractionEstimator(measure=measure, random_state=0).fit(parts.train, parts.val)
    means = est.transform(data).means()
    exact = exact_measure(data.metadata["joint"], measure)
    for key in ("R", "U1", "U2", "S"):
        assert means[key] == pytest.approx(exact[key], abs=0.01), key
    if measure == "ccs" and task in ("xor", "unique", "redundant"):
        for key, value in data.metadata["pid"].items():
            assert means[key] == pytest.approx(value, abs=0.01), key


def test_bitwise_uses_exact_counts(bitwise) -> None:
    est = InteractionEstimator(measure="lsmi").fit(bitwise["xor"])
    assert [c.kind for c in est.coders_] == ["discrete", "discrete"]
    assert est.history_ == {}  # nothing was trained by gradient descent
    table = est.transform(bitwise["xor"])
    assert table.h1 is not None and np.allclose(table.h1, LN2, atol=0.02)


def test_lsmi_calls_a_unique_task_redundant_and_ccs_does_not(bitwise) -> None:
    data = bitwise["unique"]
    ccs = InteractionEstimator(measure="ccs").fit(data).transform(data)
    lsmi = InteractionEstimator(measure="lsmi").fit(data).transform(data)
    assert np.mean(ccs.dominant() == "U1") > 0.95
    assert np.mean(lsmi.dominant() == "U1") < 0.05
    assert lsmi.means()["U2"] == pytest.approx(-LN2, abs=0.01)


def test_summary_reports_raw_and_lsmi_adjusted_values(bitwise) -> None:
    est = InteractionEstimator(measure="lsmi").fit(bitwise["unique"])
    s = est.summary_
    assert s["adjusted"] is True and s["evaluated_on"] == "validation"
    delta = s["adjustment"]
    assert delta < 0  # mean U2 is negative, so U1 and U2 are shifted up
    assert s["U2"] == pytest.approx(s["raw"]["U2"] - delta)
    assert s["R"] == pytest.approx(s["raw"]["R"] + delta)
    assert min(s["U1"], s["U2"]) == pytest.approx(0.0, abs=1e-9)
    ccs = InteractionEstimator(measure="ccs").fit(bitwise["unique"]).summary_
    assert ccs["adjusted"] is False and ccs["adjustment"] == 0.0
    assert ccs["R"] == ccs["raw"]["R"]


@pytest.fixture(scope="module")
def mixed() -> MultimodalDataset:
    return load("synthetic-mixed", n_samples=3000, random_state=0)


@pytest.fixture(scope="module")
def mixed_fit(mixed):
    parts = split_dataset(mixed, val_size=0.15, test_size=0.15, random_state=0)
    est = InteractionEstimator(random_state=0).fit(parts.train, parts.val)
    return est, parts


def test_sample_level_dominant_names_the_mechanism(mixed_fit) -> None:
    est, parts = mixed_fit
    table = est.transform(parts.test)
    assert table.true_type is not None
    assert np.mean(table.dominant() == table.true_type) >= 0.75


def test_classifiers_are_calibrated_and_stop_early(mixed_fit) -> None:
    est, _ = mixed_fit
    assert set(est.temperatures_) == {(0,), (1,), (0, 1)}
    for result in est.history_.values():
        assert result.best_check < result.n_checks  # stopped after its best check
        assert result.val_curve[result.best_check - 1] == pytest.approx(result.best_loss)


def test_fitted_attributes_and_table_columns(mixed_fit) -> None:
    est, parts = mixed_fit
    assert est.n_modalities_ == 2 and est.input_shapes_ == ((32,), (32,))
    np.testing.assert_allclose(est.prior_.sum(), 1.0)
    assert est.densities_ == {}  # ccs needs no density model
    table = est.transform(parts.test)
    assert isinstance(table, InteractionTable) and len(table) == len(parts.test)
    np.testing.assert_array_equal(table.index, np.arange(len(parts.test)))
    np.testing.assert_array_equal(table.label, parts.test.labels.numpy())
    np.testing.assert_allclose(table.r + table.u1, table.i1)
    np.testing.assert_allclose(table.r + table.u1 + table.u2 + table.s, table.i12)
    assert table.h1 is None and set(np.unique(table.dominant())) <= {"R", "U1", "U2", "S"}


def test_init_only_stores_settings() -> None:
    est = InteractionEstimator(measure="lsmi", hidden=7, random_state=3)
    assert (est.measure, est.hidden, est.random_state) == ("lsmi", 7, 3)
    assert not [k for k in vars(est) if k.endswith("_")]


def _gaussian(n: int = 600, seed: int = 0, dim: int = 4) -> MultimodalDataset:
    return load("synthetic-gaussian", n_samples=n, n_classes=3, dim=dim, random_state=seed)


def test_lsmi_on_continuous_data_fits_mixture_densities() -> None:
    data = _gaussian()
    est = InteractionEstimator(measure="lsmi", random_state=0).fit(data)
    assert set(est.densities_) == {0, 1}
    table = est.transform(data)
    assert table.h1 is not None and np.isfinite(table.h1).all()
    # x = mu_y + N(0, 0.25 I_4): H(x | y) = 2 log(2 pi e / 4) = 2.90 <= H(x) <= 2.90 + log 3.
    # The validation NLL estimates an upper bound of H(x): it must land near that range.
    h_given_y = 2 * math.log(2 * math.pi * math.e / 4)
    for name in ("p(x1)", "p(x2)"):
        assert h_given_y - 0.2 < est.history_[name].best_loss < h_given_y + math.log(3) + 0.3


def test_same_seed_same_result_and_carved_validation() -> None:
    data = _gaussian(seed=1)
    a = InteractionEstimator(random_state=5).fit(data)
    b = InteractionEstimator(random_state=5).fit(data)
    np.testing.assert_array_equal(a.transform(data).r, b.transform(data).r)
    both = InteractionEstimator(random_state=5).fit_transform(data)
    np.testing.assert_array_equal(both.s, a.transform(data).s)
    assert a.n_val_ == pytest.approx(0.2 * len(data), abs=3)
    assert a.n_train_ + a.n_val_ == len(data)


def test_transform_before_fit_raises() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        InteractionEstimator().transform(_gaussian(60))


def test_transform_checks_modalities_and_shapes() -> None:
    est = InteractionEstimator(max_epochs=2).fit(_gaussian(300))
    other = _gaussian(300, dim=5)
    with pytest.raises(ValueError, match="per-sample shape"):
        est.transform(other)
    three = MultimodalDataset([*other.modalities, other.modalities[0]], other.labels)
    with pytest.raises(ValueError, match="fitted on 2 modalities"):
        est.transform(three)


def test_transform_rejects_float_data_for_a_discrete_fit(bitwise) -> None:
    est = InteractionEstimator().fit(bitwise["xor"])
    data = bitwise["xor"]
    as_float = MultimodalDataset([m.float() for m in data.modalities], data.labels)
    with pytest.raises(TypeError, match="discrete integer codes"):
        est.transform(as_float)


def test_single_class_is_a_clear_error() -> None:
    data = MultimodalDataset(
        [torch.randn(50, 3), torch.randn(50, 3)],
        torch.zeros(50, dtype=torch.long),
        class_names=["a", "b"],
    )
    with pytest.raises(ValueError, match="single class"):
        InteractionEstimator().fit(data)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"measure": "pid"}, "measure"),
        ({"hidden": 0}, "hidden"),
        ({"val_size": 1.5}, "val_size"),
        ({"device": "tpu"}, "device"),
        ({"batch_size": -3}, "batch_size"),
    ],
)
def test_bad_settings_raise_on_fit(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        InteractionEstimator(**kwargs).fit(_gaussian(60))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        InteractionEstimator(device="cuda").fit(_gaussian(60))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_result_on_exact_counts(bitwise) -> None:
    data = bitwise["and"]
    cpu = InteractionEstimator(device="cpu").fit(data).transform(data)
    gpu = InteractionEstimator(device="cuda").fit(data).transform(data)
    np.testing.assert_allclose(cpu.components(), gpu.components(), atol=1e-6)
    cont = _gaussian(400)
    table = InteractionEstimator(device="cuda", measure="lsmi").fit(cont).transform(cont)
    assert np.isfinite(table.components()).all()


def test_wrong_data_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="MultimodalDataset"):
        InteractionEstimator().fit([np.zeros((3, 2)), np.zeros((3, 2))])


def _three_modalities(n: int = 6000, seed: int = 0) -> MultimodalDataset:
    rng = np.random.default_rng(seed)
    x1, x2, x3 = (rng.integers(0, 2, n) for _ in range(3))
    y = x1 ^ x3  # synergy between x1 and x3; x2 is noise
    return MultimodalDataset([x1[:, None], x2[:, None], x3[:, None]], y)


@pytest.mark.parametrize("measure", ["ccs", "lsmi"])
def test_more_than_two_modalities_gives_every_pair(measure: str) -> None:
    data = _three_modalities()
    table = InteractionEstimator(measure=measure).fit(data).transform(data)
    assert table.pairs is not None and set(table.pairs) == {(0, 1), (0, 2), (1, 2)}
    assert table.pairs[(0, 2)].means()["S"] == pytest.approx(LN2, abs=0.02)
    assert table.pairs[(0, 1)].means()["I12"] == pytest.approx(0.0, abs=0.02)
    assert np.mean(table.best_pair == "x1+x3") > 0.99
    assert np.mean(table.best_source == "x1+x3") > 0.99
    assert set(np.unique(table.dominant())) <= {"R", "U", "S"}
    assert np.mean(table.dominant() == "S") > 0.99


def test_to_csv_writes_every_column(tmp_path, bitwise) -> None:
    data = bitwise["unique"]
    table = InteractionEstimator(measure="lsmi").fit(data).transform(data)
    path = table.to_csv(tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "index,label,true_type,r,u1,u2,s,i1,i2,i12,h1,h2,dominant"
    assert len(lines) == len(data) + 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_unseen_class_in_transform_is_a_clear_error() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (200, 1))
    fit_data = MultimodalDataset([x, x], rng.integers(0, 2, 200), class_names=["a", "b", "c"])
    est = InteractionEstimator().fit(fit_data)
    test = MultimodalDataset([x[:3], x[:3]], np.array([0, 1, 2]), class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="never occur in the training data"):
        est.transform(test)


def test_progress_bar_can_be_switched_on(capsys) -> None:
    InteractionEstimator(progress=True, max_epochs=3).fit(_gaussian(200))
    assert "dmil estimate (ccs)" in capsys.readouterr().err
    InteractionEstimator(progress=False, max_epochs=3).fit(_gaussian(200))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("measure", ["ccs", "lsmi"])
def test_one_discrete_and_one_continuous_modality(measure: str) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3000)
    data = MultimodalDataset([y[:, None], rng.standard_normal((3000, 3)).astype(np.float32)], y)
    est = InteractionEstimator(measure=measure, random_state=0).fit(data)
    assert [c.kind for c in est.coders_] == ["discrete", "continuous"]
    assert type(est.classifiers_[(0, 1)]).__name__ == "MLPClassifier"  # one-hot + features
    means = est.transform(data).means()
    assert means["I1"] == pytest.approx(LN2, abs=0.02)
    assert means["I2"] == pytest.approx(0.0, abs=0.03)
    if measure == "ccs":
        assert means["U1"] == pytest.approx(LN2, abs=0.05)


def test_val_must_match_train() -> None:
    train = _gaussian(300)
    with pytest.raises(ValueError, match="per-sample shape"):
        InteractionEstimator().fit(train, _gaussian(100, dim=5))
