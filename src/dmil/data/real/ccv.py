"""CCV: Columbia Consumer Video, real audio-visual video clips in 20 event categories.

``ccv/CCV.mat`` (MATLAB v5) holds ``X``, a 1x3 cell of (6773, 20) float64 arrays, and
``Y`` (6773, 1) labels 1..20. Each clip is described by three views that the source
reduced to 20 dimensions each, in the order its README lists them: STIP motion
descriptors (``stip``), SIFT visual descriptors (``sift``) and MFCC audio descriptors
(``mfcc``). The file names no categories and does not record which of the published
event categories (Jiang et al., "Consumer video understanding: a benchmark database and
an evaluation of human and machine performance", ICMR 2011) each code stands for, so
class ``k - 1`` is named ``"label{k}"`` after the stored code ``k``. The classes are
unbalanced (105 to 707 clips per class).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dmil.data.container import MultimodalDataset
from dmil.data.real._files import checked_file, labels_from_codes, to_float32
from dmil.data.registry import register_dataset

__all__ = ["CCV_VIEWS", "load_ccv"]

CCV_FILE = "ccv/CCV.mat"
CCV_SOURCE = "UeharaSetsuYu/Multi-view-Datasets@03e5a826/CCV.mat"
#: Modality name -> width, in file order: motion (STIP), visual (SIFT), audio (MFCC).
CCV_VIEWS: dict[str, int] = {"stip": 20, "sift": 20, "mfcc": 20}
CCV_N_CLASSES = 20


@register_dataset(
    "ccv",
    description="Columbia Consumer Video: STIP motion, SIFT visual and MFCC audio "
    "descriptors (20 dims each) of 6773 real video clips, 20 event classes.",
    source=CCV_SOURCE,
    needs_files=True,
)
def load_ccv(*, root: Path) -> MultimodalDataset:
    """Load CCV.

    Parameters
    ----------
    root : Path
        The data directory (holding ``ccv/CCV.mat``).

    Returns
    -------
    MultimodalDataset
        N = 6773; ``stip``, ``sift`` and ``mfcc`` each (N, 20) float32 (stored
        float64); labels 0..19 (stored 1..20), class names ``label1..label20``.
    """
    path = checked_file(root, CCV_FILE, dataset="ccv")
    from scipy.io import loadmat  # only when a .mat file is read

    mat = loadmat(path)
    for key in ("X", "Y"):
        if key not in mat:
            raise ValueError(f"ccv: {path} has no variable '{key}'; expected 'X' and 'Y'.")
    cells = mat["X"].reshape(-1)
    if cells.size != len(CCV_VIEWS):
        raise ValueError(f"ccv: expected {len(CCV_VIEWS)} views in X, found {cells.size}.")
    labels = labels_from_codes(mat["Y"], first=1, n_classes=CCV_N_CLASSES, what="ccv Y")
    modalities: dict[str, np.ndarray] = {}
    for (name, width), cell in zip(CCV_VIEWS.items(), cells, strict=True):
        x = to_float32(cell, what=f"ccv {name}")
        if x.shape != (labels.size, width):
            raise ValueError(f"ccv {name}: expected ({labels.size}, {width}), found {x.shape}.")
        modalities[name] = x
    return MultimodalDataset(
        modalities,
        labels,
        class_names=[f"label{k}" for k in range(1, CCV_N_CLASSES + 1)],
        name="ccv",
        source=CCV_SOURCE,
    )
