"""Per-sample interaction labels of a test set, for the per-interaction breakdown.

Synthetic suites know each sample's mechanism; real data does not, so there the label
is the dominant component (R, U1, U2 or S; R, U or S for more than two modalities) of
the sample-level decomposition estimated by
:class:`dmil.interactions.InteractionEstimator`, fitted on the training split (with the
validation split for its early stopping) and applied to the test split. The test
labels never enter the estimator's fit.

Estimated labels are cached: the key is a SHA-256 digest of the content of the three
splits (every modality's dtype, shape and bytes, and the labels, split by split), of
the estimator's settings and of the estimator's source code, and the labels are stored as JSON under
``dmil.data.registry.cache_dir() / "interaction-labels"``, written atomically. A
second run on the same data, split and settings (another method, another training seed
with the same split, ``dmil evaluate``) reads them instead of refitting the estimator;
code that has fitted the estimator itself can store what it computed
(:func:`cache_labels`). Delete the directory to force a refit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from dmil.data.container import MultimodalDataset
from dmil.spec import INTERACTION_SOURCES

__all__ = [
    "CACHE_STATS",
    "INTERACTION_SOURCES",
    "cache_labels",
    "interaction_labels",
    "labels_cache_key",
]

logger = logging.getLogger(__name__)

#: Bump when the estimator changes what it computes, so older cache entries are ignored.
_CACHE_FORMAT = 1
_CACHE_SUBDIR = "interaction-labels"

#: Counts in this process: ``fits`` (estimator fitted), ``hits`` (labels read from cache).
CACHE_STATS: dict[str, int] = {"fits": 0, "hits": 0}


def interaction_labels(
    test: MultimodalDataset,
    *,
    train: MultimodalDataset | None = None,
    val: MultimodalDataset | None = None,
    source: str = "auto",
    measure: str = "ccs",
    device: str = "cpu",
    random_state: int = 0,
    cache: bool = True,
    split: str = "test",
) -> tuple[list[str] | None, str]:
    """One interaction type per test sample.

    Parameters
    ----------
    test : MultimodalDataset
        The samples to label.
    train, val : MultimodalDataset, optional
        Needed to estimate interactions (``source`` ``"estimated"``, or ``"auto"`` on
        data without truth).
    source : {"auto", "true", "estimated", "none"}
        ``auto``: the truth if ``test`` has it, else estimated (when ``train`` and
        ``val`` are given), else none.
    measure : str
        Redundancy measure of the estimator (default ``"ccs"``).
    device : str
        Device for the estimator's classifiers.
    random_state : int
        Seed of the estimator.
    cache : bool
        Read estimated labels from, and write them to, the label cache (module
        docstring); ``False`` always refits.
    split : str
        What ``test`` is, for the log (``"test"``, or ``"training"`` when the training
        split itself is labelled).

    Returns
    -------
    labels : list of str (length N) or None
    used : str
        ``"true"``, ``"estimated"`` or ``"none"``.
    """
    if source not in INTERACTION_SOURCES:
        raise ValueError(
            f"interaction source: expected one of {list(INTERACTION_SOURCES)}, found {source!r}."
        )
    if source == "none":
        return None, "none"
    if source == "true" or (source == "auto" and test.has_truth):
        labels = test.interaction_names()
        if labels is None:
            raise ValueError(
                f"dataset '{test.name.removesuffix('[test]')}' has no per-sample interaction "
                "truth; use the estimated interactions (source 'estimated') instead."
            )
        return labels, "true"
    if train is None or val is None:
        if source == "estimated":
            raise ValueError(
                "estimated interactions need the training and validation splits "
                "(train=..., val=...) to fit the estimator."
            )
        return None, "none"
    import dmil.interactions
    from dmil.interactions import estimator as estimator_module

    estimator_class = dmil.interactions.InteractionEstimator
    settings = _settings(measure, device, random_state)
    path = None
    # Only the library's own estimator is cached: its source is part of the key.
    if cache and estimator_class is estimator_module.InteractionEstimator:
        path = _cache_path(train, val, test, settings)
        cached = _read_cached(path, len(test))
        if cached is not None:
            CACHE_STATS["hits"] += 1
            logger.info(
                "reusing cached interaction labels of the %s split from %s (estimator not "
                "refitted)",
                split,
                path,
            )
            return cached, "estimated"
    estimator = estimator_class(measure=measure, device=device, random_state=random_state)
    table = estimator.fit(train, val).transform(test)
    CACHE_STATS["fits"] += 1
    labels = [str(t) for t in table.dominant()]
    if len(labels) != len(test):
        raise ValueError(
            f"the interaction estimator returned {len(labels)} labels for {len(test)} samples."
        )
    logger.info("estimated dominant interactions on %d %s samples", len(labels), split)
    if path is not None:
        _write_cached(path, labels, settings)
    return labels, "estimated"


def cache_labels(
    labels: list[str],
    test: MultimodalDataset,
    *,
    train: MultimodalDataset,
    val: MultimodalDataset,
    measure: str = "ccs",
    device: str = "cpu",
    random_state: int = 0,
) -> None:
    """Store labels of ``test`` computed by an
    :class:`~dmil.interactions.InteractionEstimator` fitted on ``train`` and ``val`` with
    these settings, so :func:`interaction_labels` reads them instead of refitting.

    Parameters
    ----------
    labels : list of str
        The dominant type of each sample of ``test``.
    test, train, val : MultimodalDataset
        The labelled samples and the splits the estimator was fitted on.
    measure, device, random_state
        The estimator's settings, as :func:`interaction_labels` takes them.
    """
    if len(labels) != len(test):
        raise ValueError(f"cache_labels: {len(labels)} labels for {len(test)} samples.")
    settings = _settings(measure, device, random_state)
    _write_cached(_cache_path(train, val, test, settings), [str(t) for t in labels], settings)


def _settings(measure: str, device: str, random_state: int) -> dict[str, Any]:
    """The estimator settings of a cache key (the device by kind: ``cuda:0`` and ``cuda``
    fit the same estimator)."""
    from dmil.interactions.checks import check_device

    return {
        "measure": measure,
        "device": check_device(device).type,
        "random_state": int(random_state),
    }


def _cache_path(
    train: MultimodalDataset,
    val: MultimodalDataset,
    test: MultimodalDataset,
    settings: dict[str, Any],
) -> Path:
    return _cache_dir() / f"{labels_cache_key(train, val, test, settings)}.json"


def _cache_dir() -> Path:
    from dmil.data.registry import cache_dir

    return cache_dir() / _CACHE_SUBDIR


def _digest_dataset(digest: Any, data: MultimodalDataset) -> None:
    digest.update(f"{data.n_modalities}|{len(data)}|{data.n_classes}".encode())
    for x in [*data.modalities, data.labels]:
        t = x.detach().cpu().contiguous()
        digest.update(f"|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())


def _estimator_code_digest() -> str:
    """Digest of the estimator's source files: an edited estimator never reads old labels."""
    import dmil.interactions as package

    digest = hashlib.sha256()
    for file in sorted(Path(package.__file__).parent.glob("*.py")):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def labels_cache_key(
    train: MultimodalDataset,
    val: MultimodalDataset,
    test: MultimodalDataset,
    settings: dict[str, Any],
) -> str:
    """Hex digest of the three splits' content and the estimator settings.

    Parameters
    ----------
    train, val, test : MultimodalDataset
        The splits, in this order (the same samples in another role give another key).
    settings : dict
        Everything that changes the estimate (measure, device, seed); JSON-serialisable.
    """
    from dmil import __version__

    digest = hashlib.sha256()
    header = {
        "format": _CACHE_FORMAT,
        "dmil": __version__,
        "estimator_code": _estimator_code_digest(),
        "settings": settings,
    }
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for role, part in (("train", train), ("val", val), ("test", test)):
        digest.update(f"<{role}>".encode())
        _digest_dataset(digest, part)
    return digest.hexdigest()[:32]


def _read_cached(path: Path, n: int) -> list[str] | None:
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text())
        labels = content["labels"]
        if not isinstance(labels, list) or len(labels) != n:
            raise ValueError(f"expected {n} labels, found {len(labels)}")
        return [str(v) for v in labels]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring the unreadable interaction-label cache file %s (%s)", path, exc)
        return None


def _write_cached(path: Path, labels: list[str], settings: dict[str, Any]) -> None:
    from dmil.utils import atomic_path

    try:
        with atomic_path(path) as tmp:
            tmp.write_text(
                json.dumps({"format": _CACHE_FORMAT, "settings": settings, "labels": labels})
            )
    except OSError as exc:  # a read-only cache must not fail the run
        logger.warning("could not cache interaction labels in %s (%s)", path, exc)
        return
    logger.info("cached the interaction labels in %s", path)
