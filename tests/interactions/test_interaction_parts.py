"""Building blocks: optimiser, early stopping, classifiers, densities, encoding, plots."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from dmil.interactions import InteractionTable
from dmil.interactions.classifiers import (
    CountClassifier,
    MLPClassifier,
    fit_temperature,
    joint_codes,
)
from dmil.interactions.density import CountDensity, GaussianMixtureDensity
from dmil.interactions.encoding import fit_coder
from dmil.interactions.table import confusion_matrix
from dmil.interactions.training import AdamW, Head, Rows, TrainSettings, train_heads
from dmil.report.interaction_plots import plot_component_distributions, plot_dominant_by_class


def test_adamw_matches_torch_adamw() -> None:
    torch.manual_seed(0)
    a = torch.nn.Linear(5, 3)
    b = torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    ours = AdamW(list(a.parameters()), lr=0.01, weight_decay=0.1)
    ref = torch.optim.AdamW(b.parameters(), lr=0.01, weight_decay=0.1)
    x = torch.randn(32, 5)
    for _ in range(5):
        for model, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.nn.functional.one_hot(y, 3).float() * 2 + torch.randn(n, 3, generator=g)
    return x, y


def _classifier() -> MLPClassifier:
    return MLPClassifier(
        in_dims=[3],
        n_classes=3,
        hidden=16,
        n_layers=1,
        means=[torch.zeros(3)],
        stds=[torch.ones(3)],
    )


def test_train_heads_stops_early_and_restores_the_best_state() -> None:
    torch.manual_seed(0)
    x, y = _blobs(200, 0)
    xv, yv = _blobs(200, 1)
    model = _classifier()
    settings = TrainSettings(max_epochs=400, patience=5, batch_size=32, lr=0.05)
    result = train_heads(
        [Head("c", model, (0,), "classifier")],
        Rows([x], y),
        Rows([xv], yv),
        settings,
        generator=torch.Generator().manual_seed(0),
    )["c"]
    assert result.n_checks < 400  # stopped early
    assert result.n_checks - result.best_check == settings.patience
    with torch.no_grad():
        val_loss = torch.nn.functional.cross_entropy(model([xv]), yv).item()
    assert val_loss == pytest.approx(result.best_loss, rel=1e-5)
    assert result.best_loss == pytest.approx(min(result.val_curve))


def test_rows_take_indexes_through_the_row_subset() -> None:
    feats = [torch.arange(10.0)[:, None]]
    part = Rows(feats, torch.arange(10), rows=torch.tensor([7, 2, 5]))
    got, yb = part.take(torch.tensor([0, 2]))
    assert len(part) == 3 and got[0].flatten().tolist() == [7.0, 5.0] and yb.tolist() == [7, 5]


def test_fit_temperature_recovers_a_known_scale() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(20000, 4, generator=g) * 2
    y = torch.multinomial(torch.softmax(logits, 1), 1, generator=g).squeeze(1)
    assert fit_temperature(logits * 3.0, y) == pytest.approx(3.0, rel=0.05)
    assert fit_temperature(logits, y) == pytest.approx(1.0, rel=0.05)


def test_count_classifier_and_density_from_counts() -> None:
    codes = torch.tensor([0, 0, 0, 1, 1, 2])
    y = torch.tensor([0, 0, 1, 1, 1, 0])
    prior = torch.tensor([0.5, 0.5])
    clf = CountClassifier(codes, y, n_values=3, n_classes=2, prior=prior, smoothing=0.5)
    proba = clf.log_proba(torch.tensor([0, 1, -1])).exp()
    np.testing.assert_allclose(proba[0].numpy(), [(2 + 0.5) / 4, (1 + 0.5) / 4])
    np.testing.assert_allclose(proba[2].numpy(), [0.5, 0.5])  # unseen -> prior
    dens = CountDensity(codes, n_values=3, smoothing=0.5)
    total = 6 + 0.5 * 4
    expected = np.log([3.5 / total, 2.5 / total, 0.5 / total])
    np.testing.assert_allclose(dens.log_prob(torch.tensor([0, 1, -1])).numpy(), expected)


def test_joint_codes_marks_unseen_combinations() -> None:
    codes, size = joint_codes([torch.tensor([0, 1, -1]), torch.tensor([2, 0, 1])], [2, 3])
    assert size == 6 and codes.tolist() == [2, 3, -1]


def test_gaussian_mixture_log_prob_matches_scipy() -> None:
    torch.manual_seed(0)
    mean, std = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([2.0, 0.5, 1.0])
    gmm = GaussianMixtureDensity(
        dim=3, n_components=2, mean=mean, std=std, init_points=torch.randn(2, 3)
    )
    with torch.no_grad():
        gmm.lower.normal_(0, 0.3)
        gmm.raw_log_diag.normal_(0, 0.3)
        gmm.weight_logits.copy_(torch.tensor([0.2, -0.4]))
    x = torch.randn(50, 3) * 2
    factor, _ = gmm._factors()
    log_w = torch.log_softmax(gmm.weight_logits, 0).detach().numpy()
    comps = []
    for k in range(2):
        a = factor[k].detach().double().numpy()
        cov_std = np.linalg.inv(a.T @ a)  # covariance in standardised units
        cov = np.diag(std.numpy()) @ cov_std @ np.diag(std.numpy())
        mu = gmm.means[k].detach().numpy() * std.numpy() + mean.numpy()
        comps.append(log_w[k] + multivariate_normal(mu, cov).logpdf(x.numpy()))
    expected = logsumexp(np.stack(comps), axis=0)
    np.testing.assert_allclose(gmm.log_prob(x).detach().numpy(), expected, rtol=1e-4, atol=1e-4)


def test_gaussian_mixture_init_from_data_fits_a_gaussian() -> None:
    g = torch.Generator().manual_seed(0)
    cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]])
    x = torch.randn(4000, 2, generator=g) @ torch.linalg.cholesky(cov).T
    gmm = GaussianMixtureDensity(
        dim=2, n_components=1, mean=x.mean(0), std=x.std(0), init_points=x[:1]
    )
    gmm.init_from_data(x)
    entropy = 0.5 * math.log((2 * math.pi * math.e) ** 2 * float(torch.det(cov)))
    assert -gmm.log_prob(x).mean().item() == pytest.approx(entropy, abs=0.03)


def test_coder_detects_discrete_and_continuous_modalities() -> None:
    ints = torch.tensor([[0, 1], [1, 1], [0, 1], [2, 0]])
    coder = fit_coder(ints, max_discrete_values=8)
    assert coder.kind == "discrete" and coder.n_values == 3
    assert coder.codes(torch.tensor([[1, 1], [5, 5]])).tolist() == [1, -1]
    assert coder.features(torch.tensor([[2, 0]])).tolist() == [[0.0, 0.0, 1.0]]
    many = torch.arange(100)[:, None]
    assert fit_coder(many, max_discrete_values=8).kind == "continuous"
    images = torch.randn(10, 2, 3)
    cont = fit_coder(images, max_discrete_values=8)
    assert cont.kind == "continuous" and cont.dim == 6 and cont.mean.shape == (6,)


def _table(n: int = 40) -> InteractionTable:
    rng = np.random.default_rng(0)
    comps = rng.normal(size=(4, n))
    i1, i2 = comps[0] + comps[1], comps[0] + comps[2]
    return InteractionTable(
        index=np.arange(n),
        label=rng.integers(0, 3, n),
        r=comps[0],
        u1=comps[1],
        u2=comps[2],
        s=comps[3],
        i1=i1,
        i2=i2,
        i12=comps.sum(0),
        measure="ccs",
        modality_names=("a", "b"),
    )


def test_table_dominant_and_confusion() -> None:
    table = _table()
    expected = np.array(["R", "U1", "U2", "S"])[np.argmax(table.components(), 1)]
    np.testing.assert_array_equal(table.dominant(), expected)
    cm = confusion_matrix(expected, table.dominant())
    assert cm.shape == (4, 4) and np.trace(cm) == len(table)


def test_plots_write_png_files(tmp_path) -> None:
    table = _table()
    a = plot_component_distributions(table, tmp_path / "c.png")
    b = plot_dominant_by_class(table, tmp_path / "d.png", class_names=["x", "y", "z"])
    for path in (a, b):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "d.png"]
