"""ROSMAP Alzheimer's disease multi-omics (mRNA expression, DNA methylation, miRNA).

The folder ``rosmap/`` holds the published pre-processed split: ``{1,2,3}_{tr,te}.csv``
(no header, one sample per row, 200 features each) and ``labels_{tr,te}.csv`` (0/1).
Label 1 marks Alzheimer's disease (182 of 351 samples), 0 normal controls. Training
samples come first (indices 0..244), then the test samples (245..350).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dmil.data.container import MultimodalDataset
from dmil.data.real._files import checked_file, labels_from_codes, to_float32
from dmil.data.registry import register_dataset

__all__ = ["ROSMAP_VIEWS", "load_rosmap"]

ROSMAP_SOURCE = "txWang/MOGONET@32d9066b/ROSMAP/"
#: Modality name -> file prefix in ``rosmap/``.
ROSMAP_VIEWS: dict[str, str] = {"mRNA": "1", "methylation": "2", "miRNA": "3"}
ROSMAP_N_FEATURES = 200


def _read_csv(root: Path, relpath: str) -> np.ndarray:
    path = checked_file(root, relpath, dataset="rosmap")
    return np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)


@register_dataset(
    "rosmap",
    description="ROSMAP Alzheimer's multi-omics: mRNA, DNA methylation and miRNA "
    "(200 features each), AD vs. normal control, official 245/106 train/test split.",
    source=ROSMAP_SOURCE,
    needs_files=True,
)
def load_rosmap(*, root: Path) -> MultimodalDataset:
    """Load ROSMAP.

    Parameters
    ----------
    root : Path
        The data directory (holding ``rosmap/``).

    Returns
    -------
    MultimodalDataset
        N = 351; ``mRNA``, ``methylation``, ``miRNA`` each (N, 200) float32 (stored as
        float64 text); labels 0 = ``"NC"`` (normal control), 1 = ``"AD"``; predefined
        split ``train`` (245) and ``test`` (106).
    """
    modalities: dict[str, np.ndarray] = {}
    for name, prefix in ROSMAP_VIEWS.items():
        parts = [_read_csv(root, f"rosmap/{prefix}_{s}.csv") for s in ("tr", "te")]
        x = to_float32(np.concatenate(parts, axis=0), what=f"rosmap {name}")
        if x.shape[1] != ROSMAP_N_FEATURES:
            raise ValueError(
                f"rosmap {name}: expected {ROSMAP_N_FEATURES} features per row, found {x.shape[1]}."
            )
        modalities[name] = x
    y_tr = labels_from_codes(
        _read_csv(root, "rosmap/labels_tr.csv"), first=0, n_classes=2, what="rosmap labels_tr"
    )
    y_te = labels_from_codes(
        _read_csv(root, "rosmap/labels_te.csv"), first=0, n_classes=2, what="rosmap labels_te"
    )
    n_tr, n_te = y_tr.size, y_te.size
    return MultimodalDataset(
        modalities,
        np.concatenate([y_tr, y_te]),
        class_names=["NC", "AD"],
        predefined_split={"train": np.arange(n_tr), "test": np.arange(n_tr, n_tr + n_te)},
        name="rosmap",
        source=ROSMAP_SOURCE,
    )
