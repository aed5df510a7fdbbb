"""Train/val/test splits: stratified, disjoint, group-disjoint, reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmil.data import MultimodalDataset, split_dataset, split_indices


def _dataset(n: int = 600, c: int = 3, groups: bool = False) -> MultimodalDataset:
    rng = np.random.default_rng(1)
    y = rng.integers(0, c, size=n)
    g = rng.integers(0, 6, size=n) if groups else None
    return MultimodalDataset(
        [rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32)],
        y,
        groups=g,
    )


def test_split_is_disjoint_and_complete() -> None:
    ds = _dataset()
    idx = split_indices(ds, val_size=0.2, test_size=0.2, random_state=0)
    allidx = np.concatenate([idx["train"], idx["val"], idx["test"]])
    assert np.array_equal(np.sort(allidx), np.arange(len(ds)))
    assert len(set(idx["train"]) & set(idx["test"])) == 0
    assert len(set(idx["val"]) & set(idx["test"])) == 0


def test_split_is_stratified() -> None:
    ds = _dataset()
    y = ds.labels.numpy()
    overall = np.bincount(y) / y.size
    idx = split_indices(ds, val_size=0.2, test_size=0.2, random_state=3)
    for part in idx.values():
        share = np.bincount(y[part], minlength=3) / part.size
        assert np.abs(share - overall).max() < 0.02


def test_split_same_seed_same_split_and_other_seed_differs() -> None:
    ds = _dataset()
    a = split_indices(ds, random_state=7)
    b = split_indices(ds, random_state=7)
    c = split_indices(ds, random_state=8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])


def test_split_group_disjoint() -> None:
    ds = _dataset(groups=True)
    idx = split_indices(ds, val_size=0.15, test_size=0.15, random_state=0, group_disjoint=True)
    g = ds.groups.numpy()
    sets = {k: set(g[v].tolist()) for k, v in idx.items()}
    assert not sets["train"] & sets["val"]
    assert not sets["train"] & sets["test"]
    assert not sets["val"] & sets["test"]


def _uneven_groups() -> MultimodalDataset:
    # One speaker with a quarter of the data, nearly all of one class (like MUStARD's
    # largest speaker), and twenty small mixed ones.
    rng = np.random.default_rng(2)
    big = np.zeros(160, dtype=np.int64)
    big_y = (rng.random(160) < 0.8).astype(np.int64)
    small = np.repeat(np.arange(1, 21), 24)
    small_y = rng.integers(0, 2, size=small.size)
    g, y = np.concatenate([big, small]), np.concatenate([big_y, small_y])
    x = rng.normal(size=(y.size, 3)).astype(np.float32)
    return MultimodalDataset([x, x], y, groups=g)


def test_group_split_stays_near_its_fractions_when_one_group_is_large() -> None:
    # A group larger than a split's target is passed over rather than taken whole; the
    # class mix of each split stays near the data's.
    ds = _uneven_groups()
    y, n = ds.labels.numpy(), len(ds)
    overall = np.bincount(y) / n
    for seed in range(10):
        idx = split_indices(ds, val_size=0.15, test_size=0.15, random_state=seed)
        for key in ("val", "test"):
            assert 0.10 * n <= idx[key].size <= 0.21 * n, (seed, key, idx[key].size)
            share = np.bincount(y[idx[key]], minlength=2) / idx[key].size
            assert np.abs(share - overall).max() < 0.1, (seed, key, share)
    # Different seeds still give different splits.
    tests = {tuple(split_indices(ds, random_state=s)["test"][:5]) for s in range(5)}
    assert len(tests) > 1


@pytest.mark.parametrize(
    ("n_groups", "size", "n_classes", "pure"),
    [(40, 10, 2, True), (50, 10, 2, True), (100, 20, 10, False)],
)
def test_group_split_with_pure_or_small_groups(n_groups, size, n_classes, pure) -> None:
    # One label per group (patient-level diagnoses), or many small groups and classes:
    # every split still gets every class and about its share of the samples.
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(n_groups), size)
    if pure:
        y = np.repeat(np.arange(n_groups) % n_classes, size)
    else:
        y = rng.integers(0, n_classes, size=g.size)
    ds = MultimodalDataset([np.zeros((g.size, 2), np.float32)] * 2, y, groups=g)
    for seed in range(3):
        idx = split_indices(ds, val_size=0.15, test_size=0.15, random_state=seed)
        for key in ("val", "test"):
            assert 0.10 * g.size <= idx[key].size <= 0.21 * g.size, (seed, key, idx[key].size)
            assert np.unique(y[idx[key]]).size == n_classes


def test_group_split_of_equal_groups_takes_one_group_per_split() -> None:
    # Six equal, class-balanced groups (AV-digits' speakers): a 15% split is one group.
    y = np.tile(np.arange(3), 200)
    g = np.repeat(np.arange(6), 100)
    ds = MultimodalDataset([np.zeros((600, 2), np.float32)] * 2, y, groups=g)
    for seed in range(5):
        idx = split_indices(ds, val_size=0.15, test_size=0.15, random_state=seed)
        assert [np.unique(g[idx[k]]).size for k in ("train", "val", "test")] == [4, 1, 1]


def test_split_predefined_test_is_kept_and_val_carved_from_train() -> None:
    ds0 = _dataset()
    official = {"train": np.arange(0, 450), "test": np.arange(450, 600)}
    ds = MultimodalDataset(list(ds0.modalities), ds0.labels, predefined_split=official)
    idx = split_indices(ds, val_size=0.15, random_state=0)
    assert np.array_equal(idx["test"], official["test"])
    assert set(idx["val"]) <= set(official["train"])
    assert set(idx["train"]) | set(idx["val"]) == set(official["train"].tolist())


def test_split_missing_class_is_an_error() -> None:
    y = np.array([0] * 50 + [1] * 50 + [2])
    rng = np.random.default_rng(0)
    ds = MultimodalDataset([rng.normal(size=(101, 2)), rng.normal(size=(101, 2))], y)
    with pytest.raises(ValueError, match=r"split '(val|test)' has no samples of class\(es\) \[2\]"):
        split_indices(ds, random_state=0)


def test_split_rejects_bad_fractions() -> None:
    with pytest.raises(ValueError, match=r"val_size \+ test_size must be below 1"):
        split_indices(_dataset(), val_size=0.5, test_size=0.5)


def test_split_dataset_returns_subsets_matching_indices() -> None:
    ds = _dataset()
    sp = split_dataset(ds, random_state=0)
    assert len(sp.train) + len(sp.val) + len(sp.test) == len(ds)
    assert torch.equal(sp.test.labels, ds.labels[torch.as_tensor(sp.indices["test"])])


def test_split_names_a_declared_class_without_samples():
    labels = np.arange(60) % 3
    data = MultimodalDataset(
        [np.zeros((60, 2)), np.zeros((60, 2))], labels, class_names=["a", "b", "c", "d"]
    )
    with pytest.raises(ValueError, match=r"class\(es\) \[3\] have no samples in the whole dataset"):
        split_indices(data, random_state=0)
