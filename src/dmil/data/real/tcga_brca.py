"""TCGA-BRCA: breast cancer multi-omics (mRNA, miRNA, protein, copy number) with PAM50 subtypes.

The folder ``tcga-brca/`` holds 363 tumour samples of The Cancer Genome Atlas breast
cancer cohort (Cancer Genome Atlas Network, "Comprehensive molecular portraits of human
breast tumours", Nature 490, 2012). Files read:

* ``tkde_pam50_subset.txt``: tab-separated, header ``Type PAM50 color``, then one row per
  sample id (``TCGA-...-01``) with its type, PAM50 subtype and a plotting colour. The
  subtype is the label: 0 ``LumA`` (159), 1 ``LumB`` (86), 2 ``Basal`` (68), 3 ``Her2``
  (45), 4 ``Normal`` (5 samples only).
* ``tkde_<omic>_rank.txt`` for ``mrna`` (1761 features), ``mirna`` (138), ``protein``
  (131) and ``cnv`` (82): first line the quoted sample ids, then one row per feature
  (quoted name, then one value per sample), i.e. **features x samples**; transposed
  here to samples x features.

Why the rank files: the source ships each omic as a rank matrix, and for ``mirna``,
``protein`` and ``cnv`` also as raw values (``tkde_<omic>_subset.txt``), but the raw
mRNA matrix is not part of the data directory. The rank files are therefore the only
representation available for all four omics, and using them for every omic gives the
modalities one consistent scale. A value is the integer rank 1..363 of that feature's
value across the 363 samples (tied values share a rank), stored as float32. The ranks
were computed by the source over the whole cohort without labels, so every split's
features were ranked together with the other splits' samples (an unsupervised,
label-free transductive step).

Samples are matched by id, in the order of the PAM50 file: every omic must hold exactly
the labelled ids (an error names any that are missing or extra), so a reordered file
still pairs each sample's omics correctly. The sample ids and feature names are kept in
``metadata["sample_ids"]`` and ``metadata["feature_names"]``.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from dmil.data.container import MultimodalDataset
from dmil.data.real._files import checked_file, to_float32
from dmil.data.registry import register_dataset

__all__ = ["TCGA_BRCA_CLASSES", "TCGA_BRCA_OMICS", "load_tcga_brca"]

TCGA_BRCA_DIR = "tcga-brca"
TCGA_BRCA_LABEL_FILE = f"{TCGA_BRCA_DIR}/tkde_pam50_subset.txt"
TCGA_BRCA_SOURCE = "rankmatrixfactorisation/cpRMT@a22415d7/data/brca/tkde/"
#: Modality name -> number of features, in the order of the source's combined matrix.
TCGA_BRCA_OMICS: dict[str, int] = {"mrna": 1761, "mirna": 138, "protein": 131, "cnv": 82}
#: PAM50 subtypes in label order.
TCGA_BRCA_CLASSES: tuple[str, ...] = ("LumA", "LumB", "Basal", "Her2", "Normal")
_SHOWN_IDS = 5


def _id_list(ids: list[str]) -> str:
    shown = ", ".join(ids[:_SHOWN_IDS])
    return f"{len(ids)} ({shown}{', ...' if len(ids) > _SHOWN_IDS else ''})"


def _read_labels(root: Path) -> tuple[list[str], np.ndarray]:
    path = checked_file(root, TCGA_BRCA_LABEL_FILE, dataset="tcga-brca")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    if not rows or rows[0] != ["Type", "PAM50", "color"]:
        raise ValueError(
            f"tcga-brca: {path} should start with the header 'Type<TAB>PAM50<TAB>color', "
            f"found {rows[0] if rows else 'an empty file'}."
        )
    lookup = {name: i for i, name in enumerate(TCGA_BRCA_CLASSES)}
    ids: list[str] = []
    labels: list[int] = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 4:
            raise ValueError(
                f"tcga-brca: {path} line {line}: expected 4 tab-separated fields (sample id, "
                f"type, PAM50, color), found {len(row)}."
            )
        sample, subtype = row[0], row[2]
        if subtype not in lookup:
            raise ValueError(
                f"tcga-brca: {path} line {line}: unknown PAM50 subtype '{subtype}' for "
                f"{sample}; expected one of {list(TCGA_BRCA_CLASSES)}."
            )
        ids.append(sample)
        labels.append(lookup[subtype])
    duplicates = sorted(s for s, count in Counter(ids).items() if count > 1)
    if duplicates:
        raise ValueError(f"tcga-brca: {path} lists sample ids twice: {_id_list(duplicates)}.")
    return ids, np.asarray(labels, dtype=np.int64)


def _read_rank_file(root: Path, omic: str) -> tuple[list[str], list[str], np.ndarray]:
    """Sample ids, feature names and the (features, samples) values of one omic."""
    relpath = f"{TCGA_BRCA_DIR}/tkde_{omic}_rank.txt"
    path = checked_file(root, relpath, dataset="tcga-brca")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    if len(rows) < 2:
        raise ValueError(f"tcga-brca: {relpath} holds no feature rows.")
    samples = rows[0]
    features: list[str] = []
    values = np.empty((len(rows) - 1, len(samples)), dtype=np.float64)
    for i, row in enumerate(rows[1:]):
        if len(row) != len(samples) + 1:
            raise ValueError(
                f"tcga-brca: {relpath} line {i + 2}: expected a feature name and "
                f"{len(samples)} values (one per sample id in line 1), found {len(row)} fields."
            )
        features.append(row[0])
        try:
            values[i] = np.asarray(row[1:], dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"tcga-brca: {relpath} line {i + 2}: {exc}.") from None
    if not np.isfinite(values).all():
        raise ValueError(f"tcga-brca: {relpath} holds non-finite values.")
    return samples, features, values


def _align(omic: str, samples: list[str], wanted: list[str]) -> np.ndarray:
    """Column indices of ``wanted`` in ``samples``; an error names unmatched ids."""
    position = {s: j for j, s in enumerate(samples)}
    if len(position) != len(samples):
        repeated = sorted(s for s, count in Counter(samples).items() if count > 1)
        raise ValueError(f"tcga-brca {omic}: sample ids appear twice: {_id_list(repeated)}.")
    missing = [s for s in wanted if s not in position]
    extra = sorted(set(samples) - set(wanted))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"labelled ids missing from the {omic} file: {_id_list(missing)}")
        if extra:
            parts.append(f"{omic} ids without a PAM50 label: {_id_list(extra)}")
        raise ValueError(
            f"tcga-brca: the sample ids of tkde_{omic}_rank.txt do not match "
            f"tkde_pam50_subset.txt; {'; '.join(parts)}. Restore the original files listed "
            "in MANIFEST.md."
        )
    return np.asarray([position[s] for s in wanted], dtype=np.int64)


@register_dataset(
    "tcga-brca",
    description="TCGA breast cancer multi-omics: mRNA, miRNA, protein and copy-number "
    "ranks (1761/138/131/82 features), 363 tumours, 5 PAM50 subtypes (Normal: 5 samples).",
    source=TCGA_BRCA_SOURCE,
    needs_files=True,
)
def load_tcga_brca(*, root: Path) -> MultimodalDataset:
    """Load TCGA-BRCA.

    Parameters
    ----------
    root : Path
        The data directory (holding ``tcga-brca/``).

    Returns
    -------
    MultimodalDataset
        N = 363; ``mrna`` (N, 1761), ``mirna`` (N, 138), ``protein`` (N, 131) and
        ``cnv`` (N, 82) float32 ranks 1..363 (stored features x samples, transposed);
        labels 0..4 named ``LumA``, ``LumB``, ``Basal``, ``Her2``, ``Normal``.
    """
    ids, labels = _read_labels(root)
    modalities: dict[str, np.ndarray] = {}
    feature_names: dict[str, list[str]] = {}
    for omic, n_features in TCGA_BRCA_OMICS.items():
        samples, features, values = _read_rank_file(root, omic)
        if len(features) != n_features:
            raise ValueError(
                f"tcga-brca {omic}: expected {n_features} features (rows), found {len(features)}."
            )
        columns = _align(omic, samples, ids)
        modalities[omic] = to_float32(values[:, columns].T, what=f"tcga-brca {omic}")
        feature_names[omic] = features
    return MultimodalDataset(
        modalities,
        labels,
        class_names=list(TCGA_BRCA_CLASSES),
        name="tcga-brca",
        source=TCGA_BRCA_SOURCE,
        metadata={"sample_ids": ids, "feature_names": feature_names},
    )
