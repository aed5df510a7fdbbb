"""UCI Multiple Features (handwritten digits 0-9), six feature views.

File ``mfeat/handwritten_6views.mat`` holds ``x1..x6_{train,test}`` and
``gt_{train,test}`` with the published 1600/400 split. The labels are stored as 1..10
in blocks ordered by digit; class-mean images of the ``pix`` view show that code 1 is the
digit 0, code 2 the digit 1 and so on, so a label is the stored code minus one and the
class names are ``"0".."9"``. Training samples come first (indices 0..1599), then the test
samples (1600..1999).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dmil.data.container import MultimodalDataset
from dmil.data.real._files import checked_file, labels_from_codes, to_float32
from dmil.data.registry import register_dataset

__all__ = ["MFEAT_VIEWS", "load_mfeat"]

MFEAT_FILE = "mfeat/handwritten_6views.mat"
MFEAT_SOURCE = "hanmenghan/TMC@08d0ca4c/TMC ICLR/datasets/handwritten_6views.mat"
#: View names in file order with their widths: pixel averages, Fourier coefficients,
#: profile correlations, Zernike moments, Karhunen-Loeve coefficients, morphology.
MFEAT_VIEWS: dict[str, int] = {"pix": 240, "fou": 76, "fac": 216, "zer": 47, "kar": 64, "mor": 6}


def _view_indices(views: Sequence[str | int] | None) -> list[int]:
    names = list(MFEAT_VIEWS)
    if views is None:
        return list(range(len(names)))
    if isinstance(views, (str, int)):
        raise TypeError(
            f"views: expected a sequence of view names or indices, found {views!r}; "
            "e.g. views=['pix', 'fou']."
        )
    out: list[int] = []
    for v in views:
        if isinstance(v, str):
            if v not in MFEAT_VIEWS:
                raise ValueError(f"views: unknown view '{v}'; known views are {names}.")
            idx = names.index(v)
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if not 0 <= int(v) < len(names):
                raise ValueError(f"views: index {v} out of range 0..{len(names) - 1}.")
            idx = int(v)
        else:
            raise TypeError(f"views: expected names or integer indices, found {v!r}.")
        if idx in out:
            raise ValueError(f"views: view '{names[idx]}' is selected twice.")
        out.append(idx)
    if len(out) < 2:
        raise ValueError(f"views: select at least 2 views, found {len(out)}.")
    return out


@register_dataset(
    "mfeat",
    description="UCI Multiple Features handwritten digits: six views (pix 240, fou 76, "
    "fac 216, zer 47, kar 64, mor 6), official 1600/400 train/test split.",
    source=MFEAT_SOURCE,
    needs_files=True,
)
def load_mfeat(*, root: Path, views: Sequence[str | int] | None = None) -> MultimodalDataset:
    """Load the six-view handwritten digits.

    Parameters
    ----------
    root : Path
        The data directory (holding ``mfeat/handwritten_6views.mat``).
    views : sequence of str or int, optional
        A subset of at least two views by name (``pix, fou, fac, zer, kar, mor``) or
        index (0..5), kept in the given order. Default: all six.

    Returns
    -------
    MultimodalDataset
        N = 2000; modality ``v`` of shape (N, ``MFEAT_VIEWS[v]``) float32 (stored uint8,
        uint16 or float64 converted); labels 0..9; predefined split ``train`` (1600) and
        ``test`` (400).
    """
    selected = _view_indices(views)
    path = checked_file(root, MFEAT_FILE, dataset="mfeat")
    from scipy.io import loadmat  # only when a .mat file is read

    mat = loadmat(path)
    names = list(MFEAT_VIEWS)
    modalities: dict[str, np.ndarray] = {}
    for i in selected:
        parts = [mat[f"x{i + 1}_{part}"] for part in ("train", "test")]
        x = to_float32(np.concatenate(parts, axis=0), what=f"mfeat view {names[i]}")
        if x.shape[1] != MFEAT_VIEWS[names[i]]:
            raise ValueError(
                f"mfeat view '{names[i]}': expected {MFEAT_VIEWS[names[i]]} features, "
                f"found {x.shape[1]}; the file is not the one listed in MANIFEST.md."
            )
        modalities[names[i]] = x
    y_train = labels_from_codes(mat["gt_train"], first=1, n_classes=10, what="mfeat gt_train")
    y_test = labels_from_codes(mat["gt_test"], first=1, n_classes=10, what="mfeat gt_test")
    n_train, n_test = y_train.size, y_test.size
    return MultimodalDataset(
        modalities,
        np.concatenate([y_train, y_test]),
        class_names=[str(d) for d in range(10)],
        predefined_split={
            "train": np.arange(n_train),
            "test": np.arange(n_train, n_train + n_test),
        },
        name="mfeat",
        source=MFEAT_SOURCE,
        metadata={"views": [names[i] for i in selected]},
    )
