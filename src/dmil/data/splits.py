"""Seeded, stratified and group-disjoint train/val/test splits.

A validation split always exists: model selection and early stopping use it, and
nothing in the project selects on the test split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmil.data.container import MultimodalDataset
from dmil.utils import RandomState, check_random_state

__all__ = ["DatasetSplits", "split_dataset", "split_indices"]


@dataclass(frozen=True)
class DatasetSplits:
    """Train, validation and test subsets plus the indices they came from."""

    train: MultimodalDataset
    val: MultimodalDataset
    test: MultimodalDataset
    indices: dict[str, np.ndarray]


def _stratified_take(
    labels: np.ndarray, pool: np.ndarray, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Take about ``fraction`` of ``pool`` per class (at least one per class)."""
    taken = []
    for c in np.unique(labels[pool]):
        members = pool[labels[pool] == c]
        members = members[rng.permutation(members.size)]
        k = int(round(fraction * members.size))
        k = min(max(k, 1), members.size - 1) if members.size > 1 else 0
        taken.append(members[:k])
    return np.sort(np.concatenate(taken)) if taken else np.empty(0, dtype=np.int64)


def _group_take(
    groups: np.ndarray,
    labels: np.ndarray,
    pool: np.ndarray,
    fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Take whole groups from ``pool`` so that about ``fraction`` of it is taken, with
    about its class proportions.

    The groups are visited once in a seeded random order, and each is taken when that
    lowers ``e + sum_c |p_c - q_c|``: ``e`` is the relative distance of the samples taken
    from the target (counted twice above it, as an overshoot takes from training; 1 when
    nothing is taken), ``p`` their class shares and ``q`` the pool's. So a group far
    larger than the target, or one made mostly of one class, is passed over, and
    different seeds give different splits. At least one group is taken (the least costly
    alone when none is better than nothing) and at least one is left.
    """
    ids = np.unique(groups[pool])
    if ids.size < 2:
        raise ValueError(
            f"group-disjoint split needs at least 2 groups in the pool, found {ids.size}; "
            "pass group_disjoint=False or provide more groups."
        )
    ids = ids[rng.permutation(ids.size)]
    n_classes = int(labels[pool].max()) + 1
    counts = np.stack(
        [np.bincount(labels[pool][groups[pool] == g], minlength=n_classes) for g in ids]
    )  # (G, C)
    share = counts.sum(0) / pool.size
    target = fraction * pool.size

    def cost(taken: np.ndarray) -> float:
        n = taken.sum()
        if n == 0:
            return 1.0  # nothing taken: the size term alone
        excess = (n - target) / target
        return (2.0 * excess if excess > 0 else -excess) + np.abs(taken / n - share).sum()

    chosen: list[int] = []
    taken = np.zeros(n_classes, dtype=np.int64)
    for k in range(ids.size):
        if len(chosen) == ids.size - 1:
            break
        if cost(taken + counts[k]) < cost(taken):
            chosen.append(k)
            taken = taken + counts[k]
    if not chosen:  # no group alone is better than none: take the least costly one
        chosen = [int(np.argmin([cost(c) for c in counts]))]
    return np.sort(pool[np.isin(groups[pool], ids[chosen])])


def _check_classes(labels: np.ndarray, idx: np.ndarray, n_classes: int, split: str) -> None:
    present = np.bincount(labels[idx], minlength=n_classes)
    missing = np.flatnonzero(present == 0)
    if missing.size:
        raise ValueError(
            f"split '{split}' has no samples of class(es) {missing.tolist()}; every split "
            "needs every class. Use a larger dataset, a smaller number of classes, or "
            "different split fractions."
        )


def split_indices(
    dataset: MultimodalDataset,
    *,
    val_size: float = 0.15,
    test_size: float = 0.15,
    random_state: RandomState = 0,
    group_disjoint: bool | None = None,
    use_predefined: bool = True,
) -> dict[str, np.ndarray]:
    """Indices of a train/val/test split.

    Parameters
    ----------
    dataset : MultimodalDataset
        The data to split.
    val_size, test_size : float
        Fractions of the whole dataset in (0, 1).
    random_state : int, Generator or None
        Seed; the same seed gives the same split.
    group_disjoint : bool or None
        Keep each group in one split. ``None`` means "when the dataset has groups".
    use_predefined : bool
        Honour ``dataset.predefined_split``: its splits are kept as they are and only the
        missing ones are carved (stratified) out of its training part.

    Returns
    -------
    dict with keys ``"train"``, ``"val"``, ``"test"``: sorted, disjoint index arrays.
    """
    for key, frac in (("val_size", val_size), ("test_size", test_size)):
        if not 0.0 < frac < 1.0:
            raise ValueError(f"{key} must lie in (0, 1), found {frac}.")
    if val_size + test_size >= 1.0:
        raise ValueError(f"val_size + test_size must be below 1, found {val_size} + {test_size}.")
    rng = check_random_state(random_state)
    labels = dataset.labels.numpy()
    n = labels.size
    if group_disjoint is None:
        group_disjoint = dataset.groups is not None
    if group_disjoint and dataset.groups is None:
        raise ValueError("group_disjoint=True but the dataset has no groups.")
    groups = dataset.groups.numpy() if group_disjoint else None

    def take(pool: np.ndarray, fraction: float) -> np.ndarray:
        if groups is not None:
            return _group_take(groups, labels, pool, fraction, rng)
        return _stratified_take(labels, pool, fraction, rng)

    predefined = dataset.predefined_split if use_predefined else None
    out: dict[str, np.ndarray] = {}
    if predefined:
        out.update({k: np.sort(v) for k, v in predefined.items()})
        used = np.concatenate(list(out.values()))
        rest = np.setdiff1d(np.arange(n), used)
        pool = np.union1d(out.pop("train", np.empty(0, dtype=np.int64)), rest)
        for key, frac in (("test", test_size), ("val", val_size)):
            if key not in out:
                share = frac * n / max(pool.size, 1)
                out[key] = take(pool, min(share, 0.5))
                pool = np.setdiff1d(pool, out[key])
        out["train"] = pool
    else:
        pool = np.arange(n)
        out["test"] = take(pool, test_size)
        pool = np.setdiff1d(pool, out["test"])
        out["val"] = take(pool, val_size / (1.0 - test_size))
        out["train"] = np.setdiff1d(pool, out["val"])
    result = {k: out[k].astype(np.int64) for k in ("train", "val", "test")}
    for key, idx in result.items():
        if idx.size == 0:
            raise ValueError(f"split '{key}' is empty; the dataset ({n} samples) is too small.")
        _check_classes(labels, idx, dataset.n_classes, key)
    return result


def split_dataset(
    dataset: MultimodalDataset,
    *,
    val_size: float = 0.15,
    test_size: float = 0.15,
    random_state: RandomState = 0,
    group_disjoint: bool | None = None,
    use_predefined: bool = True,
) -> DatasetSplits:
    """Split a dataset into train/val/test subsets; see :func:`split_indices`."""
    idx = split_indices(
        dataset,
        val_size=val_size,
        test_size=test_size,
        random_state=random_state,
        group_disjoint=group_disjoint,
        use_predefined=use_predefined,
    )
    return DatasetSplits(
        train=dataset.subset(idx["train"], name=f"{dataset.name}[train]"),
        val=dataset.subset(idx["val"], name=f"{dataset.name}[val]"),
        test=dataset.subset(idx["test"], name=f"{dataset.name}[test]"),
        indices=idx,
    )
