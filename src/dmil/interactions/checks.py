"""Input checks of the interaction estimator and the validation split it carves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from numbers import Integral, Real

import numpy as np
import torch

from dmil.data.container import MultimodalDataset

__all__ = [
    "NotFittedError",
    "carve_validation",
    "check_dataset",
    "check_device",
    "check_positive",
    "torch_threads",
]


class NotFittedError(ValueError, AttributeError):
    """``transform`` was called before ``fit``."""


def check_dataset(data: object, what: str) -> MultimodalDataset:
    """``data`` if it is a :class:`MultimodalDataset`, else a ``TypeError``."""
    if not isinstance(data, MultimodalDataset):
        raise TypeError(
            f"{what}: expected a dmil.data.MultimodalDataset, found {type(data).__name__}. "
            "Build one with MultimodalDataset([x1, x2], labels) or dmil.data.load(name)."
        )
    return data


def check_positive(value: object, name: str, *, integer: bool, allow_none: bool = False) -> None:
    """Raise unless ``value`` is a positive int (``integer``) or positive real number."""
    if value is None and allow_none:
        return
    kind = Integral if integer else Real
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        expected = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name}: expected {expected}, found {value!r}.")


def check_device(device: object) -> torch.device:
    """A usable ``torch.device`` from a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``."""
    try:
        dev = torch.device(device)  # type: ignore[arg-type]
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device: expected 'cpu', 'cuda' or 'cuda:N', found {device!r} ({exc})."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device: '{device}' was requested but CUDA is not available on this machine; "
            "use device='cpu'."
        )
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device: only 'cpu' and 'cuda' are supported, found {device!r}.")
    return dev


def carve_validation(
    labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of row positions into ``(train_rows, val_rows)``, both sorted.

    About ``fraction`` of each class goes to validation (at least one sample of every class
    with two or more samples, and never all of a class).
    """
    train_parts, val_parts = [], []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        members = members[rng.permutation(members.size)]
        k = int(round(fraction * members.size))
        k = min(max(k, 1), members.size - 1) if members.size > 1 else 0
        val_parts.append(members[:k])
        train_parts.append(members[k:])
    train_rows = np.sort(np.concatenate(train_parts))
    val_rows = np.sort(np.concatenate(val_parts))
    if val_rows.size == 0:
        raise ValueError(
            f"train: {labels.size} samples are too few to carve a validation part; pass "
            "val= explicitly or use more data."
        )
    return train_rows, val_rows


def check_classes(labels: np.ndarray, n_classes: int, what: str) -> np.ndarray:
    """Class counts of ``labels``; a ``ValueError`` unless at least two classes occur."""
    counts = np.bincount(labels, minlength=n_classes)
    present = np.flatnonzero(counts)
    if present.size < 2:
        only = present.tolist()
        raise ValueError(
            f"{what}: the labels hold a single class {only} ({labels.size} samples); "
            "interaction estimation needs samples of at least 2 classes."
        )
    return counts


@contextlib.contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n_threads)``, restoring the old value."""
    if n_threads is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)
