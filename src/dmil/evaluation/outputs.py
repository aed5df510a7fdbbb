"""Run directories and result files: ``metrics.json`` and ``predictions.csv``.

Every file is written atomically (temporary file, then rename), so a result on disk is
always complete, and its SHA-256 is recorded in the directory's ``SHA256SUMS`` (check
it with ``sha256sum -c SHA256SUMS``; :func:`read_json` verifies it).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dmil.evaluation.predict import Predictions
from dmil.utils import (
    CHECKSUM_FILE,
    LOCK_FILE,
    atomic_path,
    record_sha256,
    to_jsonable,
    verify_sha256,
)

__all__ = [
    "RUN_FILES",
    "prepare_out_dir",
    "read_json",
    "write_json",
    "write_predictions",
]

logger = logging.getLogger(__name__)

#: What a training run writes into its directory (``--overwrite`` removes only these).
#: Entries may be glob patterns: the temporary files of interrupted writes are named
#: ``.<file>.<unique>.tmp``.
RUN_FILES: tuple[str, ...] = (
    "best.ckpt",
    "last.ckpt",
    "metrics.csv",
    "metrics.json",
    "predictions.csv",
    "spec.yaml",
    CHECKSUM_FILE,
    "tensorboard",
    ".best.ckpt.*tmp",
    ".last.ckpt.*tmp",
    ".metrics.csv.*.tmp",
    ".metrics.json.*.tmp",
    ".predictions.csv.*.tmp",
    ".spec.yaml.*.tmp",
    f".{CHECKSUM_FILE}.*.tmp",
)


def _run_files(out: Path) -> list[Path]:
    found: dict[str, Path] = {}
    for pattern in RUN_FILES:
        for path in out.glob(pattern):
            found[path.name] = path
    return [found[name] for name in sorted(found)]


def prepare_out_dir(
    out_dir: str | os.PathLike[str], *, overwrite: bool = False, resume: bool = False
) -> Path:
    """Check (and with ``overwrite`` clear) a run directory before anything is written.

    An existing non-empty directory is an error unless ``overwrite`` (remove the
    files of an earlier run, listed in :data:`RUN_FILES`, and nothing else) or
    ``resume`` (continue from its ``last.ckpt``) is given. The lock file of a run
    (:class:`dmil.utils.RunLock`, taken before this is called) does not count as content.

    Returns
    -------
    Path
        The directory (not created here).
    """
    out = Path(out_dir)
    if overwrite and resume:
        raise ValueError("--overwrite and --resume exclude each other; pass one of them.")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a directory.")
    if not out.is_dir() or not any(p.name != LOCK_FILE for p in out.iterdir()):
        return out
    if resume:
        return out
    if not overwrite:
        if (out / "last.ckpt").is_file() and not (out / "metrics.json").is_file():
            raise FileExistsError(
                f"output directory {out} holds an unfinished run (last.ckpt, no metrics.json); "
                "pass --resume to continue it, --overwrite to start it again, or choose "
                "another --out."
            )
        has_run = any((out / name).is_file() for name in ("last.ckpt", "best.ckpt"))
        resume_hint = ", --resume to continue its run," if has_run else ""
        raise FileExistsError(
            f"output directory {out} already exists and is not empty; pass --overwrite to "
            f"replace its run files{resume_hint} or choose another --out."
        )
    for path in _run_files(out):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    others = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE)
    if others:
        logger.warning("--overwrite kept files dmil did not write in %s: %s", out, others)
    return out


def write_json(
    path: str | os.PathLike[str], payload: Mapping[str, Any], *, checksum: bool = True
) -> Path:
    """Write ``payload`` as indented JSON, atomically, and (``checksum``) record its
    SHA-256 in the directory's ``SHA256SUMS``; ``checksum=False`` for a file written into a
    directory dmil does not own (``dmil evaluate --out FILE``)."""
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(to_jsonable(payload), indent=2, allow_nan=False) + "\n")
    if checksum:
        record_sha256(target)
    return target


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON result file, verifying it against ``SHA256SUMS`` when it is listed
    there (a changed or damaged file raises a ValueError naming it)."""
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(f"result file not found: {target}")
    verify_sha256(target)
    try:
        return json.loads(target.read_text())
    except ValueError as exc:
        raise ValueError(f"{target} is not valid JSON: {exc}") from exc


def write_predictions(
    path: str | os.PathLike[str],
    predictions: Predictions,
    *,
    indices: Sequence[int] | np.ndarray,
    interactions: Sequence[str] | None = None,
    reference: np.ndarray | None = None,
) -> Path:
    """Write one CSV row per sample, atomically.

    Columns: ``index`` (position in the full dataset), ``label``, ``prediction``,
    ``pred_<modality>`` per modality (the model's own unimodal heads; empty when it has
    none), ``ref_<modality>`` per modality when ``reference`` is given (the shared
    unimodal reference predictions, shape ``(M, N)``, that ``synergy_indicator`` is
    measured against) and ``interaction`` (empty when unknown).
    """
    target = Path(path)
    n = predictions.labels.size
    idx = np.asarray(indices)
    if idx.shape != (n,):
        raise ValueError(f"indices: expected {n} dataset indices, found shape {idx.shape}.")
    if interactions is not None and len(interactions) != n:
        raise ValueError(f"interactions: expected {n} labels, found {len(interactions)}.")
    names = list(predictions.modality_names)
    refs: list[str] = []
    if reference is not None:
        reference = np.asarray(reference)
        if reference.shape != (len(names), n):
            raise ValueError(
                f"reference: expected shape ({len(names)}, {n}), found {reference.shape}."
            )
        refs = [f"ref_{m}" for m in names]
    header = ["index", "label", "prediction", *[f"pred_{m}" for m in names], *refs]
    header.append("interaction")
    with atomic_path(target) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(n):
            mods = (
                [int(predictions.modality_pred[m, i]) for m in range(len(names))]
                if predictions.modality_pred is not None
                else [""] * len(names)
            )
            writer.writerow(
                [
                    int(idx[i]),
                    int(predictions.labels[i]),
                    int(predictions.y_pred[i]),
                    *mods,
                    *([] if reference is None else [int(v) for v in reference[:, i]]),
                    "" if interactions is None else interactions[i],
                ]
            )
    record_sha256(target)
    return target
