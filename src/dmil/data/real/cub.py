"""CUB birds, a 10-class subset: image features and text features per bird photo.

``cub/CUB.mat`` holds ``X``, a 1x2 cell stored **features x samples** ((1024, 600) image
features, non-negative, and (300, 600) text features), and ``gt`` (600, 1) labels 1..10.
Both views are transposed to samples x features. The file carries no category names, so
class ``k - 1`` is named ``"label{k}"`` after the stored code ``k``.
"""

from __future__ import annotations

from pathlib import Path

from dmil.data.container import MultimodalDataset
from dmil.data.real._files import checked_file, labels_from_codes, to_float32
from dmil.data.registry import register_dataset

__all__ = ["CUB_VIEWS", "load_cub"]

CUB_FILE = "cub/CUB.mat"
CUB_SOURCE = "Lihong-Liu/CCML@8938ae23/data/CUB.mat"
#: Modality name -> width, in file order.
CUB_VIEWS: dict[str, int] = {"image": 1024, "text": 300}
CUB_N_CLASSES = 10


@register_dataset(
    "cub",
    description="CUB birds, 10-class subset: image features (1024) and text features "
    "(300), 600 samples.",
    source=CUB_SOURCE,
    needs_files=True,
)
def load_cub(*, root: Path) -> MultimodalDataset:
    """Load the CUB subset.

    Parameters
    ----------
    root : Path
        The data directory (holding ``cub/CUB.mat``).

    Returns
    -------
    MultimodalDataset
        N = 600; ``image`` (N, 1024) and ``text`` (N, 300) float32 (stored float64,
        transposed from features x samples); labels 0..9 (stored 1..10).
    """
    path = checked_file(root, CUB_FILE, dataset="cub")
    from scipy.io import loadmat  # only when a .mat file is read

    mat = loadmat(path)
    labels = labels_from_codes(mat["gt"], first=1, n_classes=CUB_N_CLASSES, what="cub gt")
    cells = mat["X"].reshape(-1)
    if cells.size != len(CUB_VIEWS):
        raise ValueError(f"cub: expected {len(CUB_VIEWS)} views in X, found {cells.size}.")
    modalities = {}
    for (name, width), cell in zip(CUB_VIEWS.items(), cells, strict=True):
        if cell.shape != (width, labels.size):
            raise ValueError(
                f"cub {name}: expected features x samples ({width}, {labels.size}), "
                f"found {cell.shape}."
            )
        modalities[name] = to_float32(cell.T, what=f"cub {name}")
    return MultimodalDataset(
        modalities,
        labels,
        class_names=[f"label{k}" for k in range(1, CUB_N_CLASSES + 1)],
        name="cub",
        source=CUB_SOURCE,
    )
