"""Unimodal reference predictions shared by every method, for a comparable synergy
indicator.

The synergy indicator counts test samples that the multimodal prediction gets right while
every unimodal prediction gets them wrong. With each method's own unimodal heads or
probes the count depends on how good those heads happen to be, so two methods with the
same multimodal predictions can get different values. Here the unimodal predictions come
from one fixed set of classifiers per split, the same for every method: a multinomial
logistic regression per modality on its flattened features, standardised with training
statistics, fitted on the training split only.

The predictions are cached like the estimated interaction labels
(:mod:`dmil.evaluation.interactions`): the key is a SHA-256 digest of the content of
the two splits, the seed, this module's source and the versions of scikit-learn, SciPy
and NumPy, and the predictions are stored as ``.npy`` under
``dmil.data.registry.cache_dir() / "reference-predictions"``, written atomically. A
second run on the same split (another method or training seed, ``dmil evaluate``)
reads them and does not import scikit-learn. Delete the directory to force a refit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np

from dmil.data.container import MultimodalDataset

__all__ = ["REFERENCE_CACHE_STATS", "reference_unimodal_predictions"]

logger = logging.getLogger(__name__)

#: Bump when the reference changes what it computes, so older cache entries are ignored.
_CACHE_FORMAT = 1
_CACHE_SUBDIR = "reference-predictions"

#: Counts in this process: ``fits`` (classifiers fitted), ``hits`` (read from the cache).
REFERENCE_CACHE_STATS: dict[str, int] = {"fits": 0, "hits": 0}


def reference_unimodal_predictions(
    train: MultimodalDataset,
    test: MultimodalDataset,
    *,
    random_state: int = 0,
    cache: bool = True,
) -> np.ndarray:
    """Per-modality class predictions on ``test`` from classifiers fitted on ``train``.

    Parameters
    ----------
    train, test : MultimodalDataset
        The training split (fit) and the split to predict.
    random_state : int
        Seed of the solver.
    cache : bool
        Read the predictions from, and write them to, the cache (module docstring);
        ``False`` always refits.

    Returns
    -------
    ndarray of int, shape (M, N_test)
    """
    path = None
    if cache:
        path = _cache_dir() / f"{reference_cache_key(train, test, random_state)}.npy"
        cached = _read_cached(path, (test.n_modalities, len(test)))
        if cached is not None:
            REFERENCE_CACHE_STATS["hits"] += 1
            logger.debug("reusing cached reference predictions from %s", path)
            return cached
    preds = _fit_predict(train, test, random_state=random_state)
    REFERENCE_CACHE_STATS["fits"] += 1
    if path is not None:
        _write_cached(path, preds)
    return preds


def _fit_predict(
    train: MultimodalDataset, test: MultimodalDataset, *, random_state: int
) -> np.ndarray:
    """One standardised logistic regression per modality, fitted on ``train``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = train.labels.numpy()
    preds = []
    for name, x_train, x_test in zip(
        train.modality_names, train.modalities, test.modalities, strict=True
    ):
        a = x_train.reshape(len(train), -1).double().numpy()
        b = x_test.reshape(len(test), -1).double().numpy()
        clf = make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=500, random_state=random_state)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(a, y)
        preds.append(clf.predict(b).astype(np.int64))
        logger.debug("reference classifier for %s fitted on %d samples", name, len(train))
    return np.stack(preds)


def _cache_dir() -> Path:
    from dmil.data.registry import cache_dir

    return cache_dir() / _CACHE_SUBDIR


def _versions() -> dict[str, str]:
    """Versions of the packages whose code computes the reference (without importing
    them)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("scikit-learn", "scipy", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "missing"
    return found


def reference_cache_key(
    train: MultimodalDataset, test: MultimodalDataset, random_state: int
) -> str:
    """Hex digest of the two splits' content, the seed, this module's source and the
    versions of the packages that compute the reference."""
    from dmil import __version__
    from dmil.evaluation.interactions import _digest_dataset

    digest = hashlib.sha256()
    header = {
        "format": _CACHE_FORMAT,
        "dmil": __version__,
        "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16],
        "versions": _versions(),
        "random_state": int(random_state),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for role, part in (("train", train), ("test", test)):
        digest.update(f"<{role}>".encode())
        _digest_dataset(digest, part)
    return digest.hexdigest()[:32]


def _read_cached(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        preds = np.load(path, allow_pickle=False)
        if preds.shape != shape or preds.dtype != np.int64:
            raise ValueError(f"expected int64 {shape}, found {preds.dtype} {preds.shape}")
        return preds
    except (OSError, ValueError, EOFError) as exc:
        logger.warning("ignoring the unreadable reference-prediction cache file %s (%s)", path, exc)
        return None


def _write_cached(path: Path, preds: np.ndarray) -> None:
    from dmil.utils import atomic_path

    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, preds, allow_pickle=False)
    except OSError as exc:  # a read-only cache must not fail the run
        logger.warning("could not cache reference predictions in %s (%s)", path, exc)
