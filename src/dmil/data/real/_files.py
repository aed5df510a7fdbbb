"""Shared helpers of the real-data loaders: finding files, checking them, caching.

* :func:`checked_file` finds a file under the data directory and verifies the SHA-256
  prefix recorded for it in :data:`MANIFEST_SHA256` (the data directory's MANIFEST.md).
  Hashing the few-megabyte ``.mat``/``.csv`` files costs a few milliseconds, so they are
  verified on every load.
* :func:`load_cached` / :func:`save_cached` keep derived arrays (spectrograms, text
  embeddings) under :func:`dmil.data.registry.cache_dir`, one uncompressed ``.npz`` per
  key; the key (:func:`cache_key`) is derived from the source checksum and every option
  that changes the arrays, so a change of either misses the cache instead of returning
  stale data. Files are written atomically; an unreadable cache file is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from dmil.data.registry import CACHE_DIR_ENV, DATA_DIR_ENV, cache_dir, sha256_prefix
from dmil.utils import atomic_path

__all__ = [
    "CACHE_FORMAT_VERSION",
    "MANIFEST_SHA256",
    "cache_key",
    "checked_file",
    "labels_from_codes",
    "load_cached",
    "locate",
    "save_cached",
    "to_float32",
    "verify_checksum",
]

logger = logging.getLogger(__name__)

#: Bumped whenever the layout of cached arrays changes, so old cache files are ignored.
CACHE_FORMAT_VERSION = 1

#: First 16 hex digits of each file's SHA-256, as listed in the data directory's MANIFEST.md.
MANIFEST_SHA256: dict[str, str] = {
    "rosmap/1_tr.csv": "37bfcc58da320bf6",
    "rosmap/1_te.csv": "d9d9daf05915556f",
    "rosmap/2_tr.csv": "b1d1d20f8793e5f1",
    "rosmap/2_te.csv": "546e9d7f640e54c4",
    "rosmap/3_tr.csv": "fd8708bc0c41f774",
    "rosmap/3_te.csv": "c0d9efd6c35e8c57",
    "rosmap/labels_tr.csv": "5859aa107dbf4069",
    "rosmap/labels_te.csv": "20d728c6f51f79ff",
    "scene15/Scene-15.mat": "ec33b5e1f53eea04",
    "cub/CUB.mat": "8a864949d9f3767f",
    "mfeat/handwritten_6views.mat": "d731ec02aaa97cf9",
    "mustard/sarcasm_data.json": "ec9533032c5f143f",
    "ccv/CCV.mat": "1a18848a34c5d6d6",
    "tcga-brca/tkde_pam50_subset.txt": "658e5531bcc8dd25",
    "tcga-brca/tkde_mrna_rank.txt": "a2f4c97df4c1aee6",
    "tcga-brca/tkde_mirna_rank.txt": "f6d53b9118384a8f",
    "tcga-brca/tkde_protein_rank.txt": "a562c66f2ea96f39",
    "tcga-brca/tkde_cnv_rank.txt": "906f874d558095c0",
}


def _missing_message(dataset: str, relpath: str, where: Path, root: Path) -> str:
    return (
        f"dataset '{dataset}': required file '{relpath}' was not found; looked for it at "
        f"{where}. The data directory in use is {os.path.abspath(root)}; point it at the folder "
        f"that holds MANIFEST.md with root=... (or --data-dir on the command line) or the "
        f"{DATA_DIR_ENV} environment variable."
    )


def locate(root: Path, relpath: str, *, dataset: str, directory: bool = False) -> Path:
    """The absolute path of ``relpath`` under ``root``, which must exist.

    Parameters
    ----------
    root : Path
        The data directory.
    relpath : str
        Path relative to ``root`` with forward slashes, e.g. ``"cub/CUB.mat"``.
    dataset : str
        The dataset being loaded, named in the error message.
    directory : bool
        Expect a directory instead of a regular file.

    Raises
    ------
    FileNotFoundError
        Naming the missing file, the absolute path looked at, and how to set the root.
    """
    root = Path(root)
    path = Path(os.path.abspath(root / relpath))
    exists = path.is_dir() if directory else path.is_file()
    if not exists:
        raise FileNotFoundError(_missing_message(dataset, relpath, path, root))
    return path


def verify_checksum(path: Path, expected: str, *, relpath: str, dataset: str) -> None:
    """Check that ``path``'s SHA-256 starts with ``expected``.

    Raises
    ------
    ValueError
        Naming the file, the expected and the found digest prefixes.
    """
    found = sha256_prefix(path, n_hex=len(expected))
    if found != expected:
        raise ValueError(
            f"dataset '{dataset}': checksum mismatch for '{relpath}' ({path}): expected "
            f"SHA-256 prefix {expected}, found {found}. The file is damaged or a different "
            "version; restore the original file listed in MANIFEST.md."
        )


def checked_file(root: Path, relpath: str, *, dataset: str) -> Path:
    """:func:`locate` a manifest file and :func:`verify_checksum` it; returns its path."""
    if relpath not in MANIFEST_SHA256:
        raise KeyError(f"'{relpath}' has no checksum in MANIFEST_SHA256")
    path = locate(root, relpath, dataset=dataset)
    verify_checksum(path, MANIFEST_SHA256[relpath], relpath=relpath, dataset=dataset)
    return path


def to_float32(array: Any, *, what: str) -> np.ndarray:
    """``array`` as a C-contiguous float32 array (explicit conversion of stored dtypes).

    The stored files use uint8, uint16 or float64; float32 is the project's feature
    dtype. Only finite, numeric arrays are accepted.
    """
    arr = np.asarray(array)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{what}: expected a numeric array, found dtype {arr.dtype}.")
    return np.ascontiguousarray(arr, dtype=np.float32)


def labels_from_codes(codes: Any, *, first: int, n_classes: int, what: str) -> np.ndarray:
    """Map stored class codes ``first..first+n_classes-1`` to int64 labels ``0..C-1``.

    Parameters
    ----------
    codes : array of shape (N,) or (N, 1)
        The labels as stored (integers, or floats holding whole numbers).
    first : int
        The code of the first class (1 for MATLAB-style 1..C labels, 0 otherwise).
    n_classes : int
        ``C``; every code must lie in the range above.
    what : str
        Names the source in error messages.
    """
    arr = np.asarray(codes).reshape(-1)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{what}: expected whole-number class codes, found fractions.")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{what}: expected numeric class codes, found dtype {arr.dtype}.")
    labels = arr.astype(np.int64) - first
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{what}: expected class codes {first}..{first + n_classes - 1}, found "
            f"{int(arr.min())}..{int(arr.max())}."
        )
    return labels


def cache_key(**parts: Any) -> str:
    """A 20-hex-digit key for the JSON-serialisable ``parts`` (order-insensitive)."""
    payload = json.dumps(
        {"format": CACHE_FORMAT_VERSION, **parts}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


def _cache_path(dataset: str, key: str) -> Path:
    return cache_dir() / "real" / f"{dataset}-{key}.npz"


def load_cached(dataset: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays cached under ``(dataset, key)``, or ``None`` when there are none.

    A cache file that cannot be read (truncated, foreign) is reported and ignored.
    """
    path = _cache_path(dataset, key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        logger.warning("ignoring unreadable cache file %s (%s); recomputing", path, exc)
        return None
    logger.debug("loaded %s from cache %s", dataset, path)
    return arrays


def save_cached(dataset: str, key: str, arrays: dict[str, np.ndarray]) -> Path | None:
    """Write ``arrays`` atomically to the cache; returns the path, or ``None`` on failure.

    A cache that cannot be written (read-only home, full disk) only costs speed, so the
    failure is logged, not raised; ``$DMIL_CACHE_DIR`` moves the cache elsewhere.
    """
    path = _cache_path(dataset, key)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError as exc:
        logger.warning(
            "could not write cache file %s (%s); set %s to a writable directory",
            path,
            exc,
            CACHE_DIR_ENV,
        )
        return None
    logger.debug("cached %s at %s", dataset, path)
    return path
