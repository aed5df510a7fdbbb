"""Reading and writing datasets on disk.

Two layouts are supported (see the README, "File formats"):

* ``.pt`` in the LSMI layout: a ``torch.save``'d dict with keys
  ``{split}_modal_{k}_features`` (``k = 1..M``) and ``{split}_targets`` for
  ``split`` in ``train``, ``val`` and optionally ``test``.
* ``.npz`` for M named modalities: ``modality_names`` (str array), one array
  ``x_<name>`` per modality, ``y``; optional ``class_names``, ``interactions``
  (str array), ``groups`` and ``split`` (str array of ``train``/``val``/``test``).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import torch

from dmil.data.container import SPLIT_NAMES, MultimodalDataset
from dmil.utils import atomic_path

__all__ = ["read_dataset", "read_lsmi_pt", "read_npz", "write_lsmi_pt", "write_npz"]

logger = logging.getLogger(__name__)

_LSMI_KEY = re.compile(r"^(train|val|test)_modal_(\d+)_features$")


def _require_file(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"data file not found: {path}")
    if not path.is_file():
        raise ValueError(f"data path is not a file: {path}")


def _integral_targets(t: torch.Tensor, key: str) -> torch.Tensor:
    """LSMI files sometimes store targets as whole-number floats; accept exactly those."""
    if t.dtype.is_floating_point:
        if not bool(torch.isfinite(t).all()) or not bool((t == t.round()).all()):
            raise TypeError(
                f"'{key}' holds non-integer values (dtype {t.dtype}); targets must be "
                "class indices 0..C-1."
            )
        logger.info("'%s' stored as %s with whole-number values; read as int64", key, t.dtype)
        return t.long()
    return t


def read_lsmi_pt(path: str | os.PathLike[str], *, name: str | None = None) -> MultimodalDataset:
    """Read an LSMI-layout ``.pt`` file into a dataset with its splits predefined."""
    path = Path(path)
    _require_file(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"could not read {path} as a torch file of tensors: {exc}. Save a plain dict "
            "of tensors with torch.save."
        ) from exc
    if not isinstance(blob, dict):
        raise ValueError(
            f"{path}: expected a dict with keys like 'train_modal_1_features' and "
            f"'train_targets', found {type(blob).__name__}."
        )
    found: dict[str, dict[int, torch.Tensor]] = {}
    for key, value in blob.items():
        match = _LSMI_KEY.match(str(key))
        if match:
            found.setdefault(match.group(1), {})[int(match.group(2))] = torch.as_tensor(value)
    if "train" not in found:
        raise ValueError(
            f"{path}: missing key 'train_modal_1_features' (LSMI layout); found keys "
            f"{sorted(map(str, blob))}."
        )
    modal_ids = sorted(found["train"])
    if modal_ids != list(range(1, len(modal_ids) + 1)) or len(modal_ids) < 2:
        raise ValueError(
            f"{path}: expected train_modal_1_features .. train_modal_M_features with M >= 2, "
            f"found modalities {modal_ids}."
        )
    parts: dict[str, list[torch.Tensor]] = {m: [] for m in modal_ids}
    targets: list[torch.Tensor] = []
    split: dict[str, np.ndarray] = {}
    offset = 0
    for split_name in SPLIT_NAMES:
        if split_name not in found:
            continue
        if sorted(found[split_name]) != modal_ids:
            raise ValueError(
                f"{path}: split '{split_name}' has modalities {sorted(found[split_name])}, "
                f"but train has {modal_ids}."
            )
        target_key = f"{split_name}_targets"
        if target_key not in blob:
            raise ValueError(f"{path}: missing key '{target_key}'.")
        y = _integral_targets(torch.as_tensor(blob[target_key]).reshape(-1), target_key)
        for m in modal_ids:
            x = found[split_name][m]
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"{path}: '{split_name}_modal_{m}_features' has {x.shape[0]} rows but "
                    f"'{target_key}' has {y.shape[0]}."
                )
            parts[m].append(x)
        targets.append(y)
        split[split_name] = np.arange(offset, offset + y.shape[0])
        offset += y.shape[0]
    return MultimodalDataset(
        [torch.cat(parts[m]) for m in modal_ids],
        torch.cat(targets),
        modality_names=[f"modal_{m}" for m in modal_ids],
        predefined_split=split,
        name=name or path.stem,
        source=str(path),
    )


def write_lsmi_pt(
    dataset: MultimodalDataset,
    path: str | os.PathLike[str],
    *,
    splits: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write a dataset in the LSMI ``.pt`` layout (atomically).

    ``splits`` defaults to the dataset's predefined split; it needs at least ``train``.
    """
    splits = splits if splits is not None else dataset.predefined_split
    if not splits or "train" not in splits:
        raise ValueError(
            "write_lsmi_pt needs a split with at least 'train' (and usually 'val'); pass "
            "splits=split_indices(dataset) or build the dataset with predefined_split."
        )
    blob: dict[str, torch.Tensor] = {}
    for split_name, idx in splits.items():
        index = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        for m, x in enumerate(dataset.modalities, start=1):
            blob[f"{split_name}_modal_{m}_features"] = x[index].clone()
        blob[f"{split_name}_targets"] = dataset.labels[index].clone()
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return Path(path)


def read_npz(path: str | os.PathLike[str], *, name: str | None = None) -> MultimodalDataset:
    """Read a dataset from the ``.npz`` layout."""
    path = Path(path)
    _require_file(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"could not read {path} as an .npz archive: {exc}") from exc
    with archive:
        keys = set(archive.files)
        for required in ("modality_names", "y"):
            if required not in keys:
                raise ValueError(
                    f"{path}: missing array '{required}' (npz layout); found {sorted(keys)}."
                )
        names = [str(n) for n in archive["modality_names"].tolist()]
        modalities = []
        for n in names:
            if f"x_{n}" not in keys:
                raise ValueError(f"{path}: modality '{n}' is listed but array 'x_{n}' is missing.")
            modalities.append(archive[f"x_{n}"])
        split = None
        if "split" in keys:
            tags = archive["split"].astype(str)
            split = {s: np.flatnonzero(tags == s) for s in SPLIT_NAMES if (tags == s).any()}
        return MultimodalDataset(
            modalities,
            archive["y"],
            modality_names=names,
            class_names=archive["class_names"].astype(str).tolist()
            if "class_names" in keys
            else None,
            interactions=archive["interactions"].astype(str) if "interactions" in keys else None,
            groups=archive["groups"] if "groups" in keys else None,
            predefined_split=split,
            name=name or path.stem,
            source=str(path),
        )


def write_npz(dataset: MultimodalDataset, path: str | os.PathLike[str]) -> Path:
    """Write a dataset in the ``.npz`` layout (atomically, compressed)."""
    arrays: dict[str, np.ndarray] = {
        "modality_names": np.array(dataset.modality_names),
        "class_names": np.array(dataset.class_names),
        "y": dataset.labels.numpy(),
    }
    for n, x in zip(dataset.modality_names, dataset.modalities, strict=True):
        arrays[f"x_{n}"] = x.numpy()
    if dataset.interactions is not None:
        arrays["interactions"] = np.array(dataset.interaction_names())
    if dataset.groups is not None:
        arrays["groups"] = dataset.groups.numpy()
    if dataset.predefined_split is not None:
        tags = np.full(len(dataset), "", dtype="<U5")
        for s, idx in dataset.predefined_split.items():
            tags[idx] = s
        arrays["split"] = tags
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return Path(path)


def read_dataset(path: str | os.PathLike[str], *, name: str | None = None) -> MultimodalDataset:
    """Read a dataset file, choosing the layout by suffix (``.pt`` or ``.npz``)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".pt", ".pth"):
        return read_lsmi_pt(path, name=name)
    if suffix == ".npz":
        return read_npz(path, name=name)
    raise ValueError(
        f"unsupported data file '{path}': expected a .pt file in the LSMI layout or an .npz "
        "file in the dmil layout (see README, 'File formats')."
    )
