"""Scene-15: 4485 scene images described by three hand-crafted descriptors.

``scene15/Scene-15.mat`` (MATLAB v5) holds ``X``, a 1x3 cell of (4485, d) float64 arrays
with d = 20, 59 and 40, and ``Y`` (4485, 1) labels 1..15. The file names neither the
descriptors nor the categories, so the modalities are named by their width
(``desc20``, ``desc59``, ``desc40``; in the multi-view literature these are GIST, LBP and
PHOG) and class ``k - 1`` is named ``"label{k}"`` after the stored code ``k``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dmil.data.container import MultimodalDataset
from dmil.data.real._files import checked_file, labels_from_codes, to_float32
from dmil.data.registry import register_dataset

__all__ = ["SCENE15_VIEWS", "load_scene15"]

SCENE15_FILE = "scene15/Scene-15.mat"
SCENE15_SOURCE = "XLearning-SCU/2021-CVPR-Completer@ad371100/data/Scene-15.mat"
#: Modality name -> width, in file order.
SCENE15_VIEWS: dict[str, int] = {"desc20": 20, "desc59": 59, "desc40": 40}
SCENE15_N_CLASSES = 15


@register_dataset(
    "scene15",
    description="Scene-15 scene categories: three hand-crafted image descriptors "
    "(20/59/40 dims), 4485 images, 15 classes.",
    source=SCENE15_SOURCE,
    needs_files=True,
)
def load_scene15(*, root: Path) -> MultimodalDataset:
    """Load Scene-15.

    Parameters
    ----------
    root : Path
        The data directory (holding ``scene15/Scene-15.mat``).

    Returns
    -------
    MultimodalDataset
        N = 4485; ``desc20`` (N, 20), ``desc59`` (N, 59), ``desc40`` (N, 40) float32
        (stored float64); labels 0..14 (stored 1..15), class names ``label1..label15``.
    """
    path = checked_file(root, SCENE15_FILE, dataset="scene15")
    from scipy.io import loadmat  # only when a .mat file is read

    mat = loadmat(path)
    cells = mat["X"].reshape(-1)
    if cells.size != len(SCENE15_VIEWS):
        raise ValueError(f"scene15: expected {len(SCENE15_VIEWS)} views in X, found {cells.size}.")
    modalities: dict[str, np.ndarray] = {}
    for (name, width), cell in zip(SCENE15_VIEWS.items(), cells, strict=True):
        x = to_float32(cell, what=f"scene15 {name}")
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"scene15 {name}: expected (N, {width}), found {x.shape}.")
        modalities[name] = x
    labels = labels_from_codes(mat["Y"], first=1, n_classes=SCENE15_N_CLASSES, what="scene15 Y")
    return MultimodalDataset(
        modalities,
        labels,
        class_names=[f"label{k}" for k in range(1, SCENE15_N_CLASSES + 1)],
        name="scene15",
        source=SCENE15_SOURCE,
    )
