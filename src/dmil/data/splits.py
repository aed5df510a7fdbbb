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

#: Starting points of the first-fit pass of a group-disjoint split (see _group_take).
_GROUP_STARTS = 32


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

    The groups are visited in a seeded random order (different seeds give different
    splits), and each is taken when that lowers ``e + sum_c |p_c - q_c|``: ``e`` is the
    relative distance of the samples taken from the target (counted twice above it, as an
    overshoot takes from training), ``p`` their class shares and ``q`` the pool's; taking
    nothing costs 3, the most a non-empty choice can. A group that would bring the split
    to 1.5 times its target or more is never added (so a speaker holding a quarter of the
    data does not go whole into a 15% split). The pass is repeated from each of the first
    32 groups of the order (a cyclic shift of it), keeping the choice of lowest cost. At
    least one group is taken (the least costly alone when every group is that large) and
    at least one is left.
    """
    uniq, inverse = np.unique(groups[pool], return_inverse=True)
    if uniq.size < 2:
        raise ValueError(
            f"group-disjoint split needs at least 2 groups in the pool, found {uniq.size}; "
            "pass group_disjoint=False or provide more groups."
        )
    order = rng.permutation(uniq.size)
    ids = uniq[order]
    y = labels[pool]
    n_classes = int(y.max()) + 1
    counts = np.bincount(inverse * n_classes + y, minlength=uniq.size * n_classes)
    counts = counts.reshape(uniq.size, n_classes)[order]  # (G, C), in visiting order
    share = counts.sum(0) / pool.size
    target = fraction * pool.size

    def cost(taken: np.ndarray) -> float:
        n = taken.sum()
        if n == 0:
            return 3.0
        excess = (n - target) / target
        return (2.0 * excess if excess > 0 else -excess) + np.abs(taken / n - share).sum()

    def first_fit(start: int) -> tuple[float, list[int]]:
        chosen: list[int] = []
        taken = np.zeros(n_classes, dtype=np.int64)
        current = cost(taken)
        for k in np.roll(np.arange(ids.size), -start):
            if len(chosen) == ids.size - 1:
                break
            candidate = taken + counts[k]
            if candidate.sum() < 1.5 * target and (new := cost(candidate)) < current:
                chosen.append(int(k))
                taken, current = candidate, new
        return current, chosen

    # The visiting order started at each of the first groups in turn; the lowest cost
    # wins, the earliest start among equals (no further random numbers are drawn).
    _, chosen = min(
        (first_fit(start) for start in range(min(ids.size, _GROUP_STARTS))), key=lambda r: r[0]
    )
    if not chosen:  # every group alone reaches 1.5 times the target: the least costly
        chosen = [int(np.argmin([cost(c) for c in counts]))]
    return np.sort(pool[np.isin(groups[pool], ids[chosen])])


def _check_classes(labels: np.ndarray, idx: np.ndarray, n_classes: int, split: str) -> None:
    present = np.bincount(labels[idx], minlength=n_classes)
    missing = np.flatnonzero(present == 0)
    if not missing.size:
        return
    absent = missing[np.bincount(labels, minlength=n_classes)[missing] == 0]
    if absent.size:
        raise ValueError(
            f"class(es) {absent.tolist()} have no samples in the whole dataset: it declares "
            f"{n_classes} classes (class_names) but its labels use only "
            f"{np.unique(labels).size}; give class_names one name per class the labels use."
        )
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
