"""Reading and writing datasets on disk.

Two layouts are supported (see the README, "File formats"):

* ``.pt`` in the LSMI layout: a ``torch.save``'d dict with keys
  ``{split}_modal_{k}_features`` (``k = 1..M``) and ``{split}_targets`` for
  ``split`` in ``train``, ``val`` and optionally ``test``.
* ``.npz`` for M named modalities: ``modality_names`` (str array), one array
  ``x_<name>`` per modality, ``y``; optional ``class_names``, ``interactions``
  (str array), ``groups`` and ``split`` (str array of ``train``/``val``/``test``, or
  ``''`` for a sample outside the predefined split).

Reading never runs code from the file (``weights_only=True``, ``allow_pickle=False``) and
never coerces silently: features must be real numbers of shape ``(N, d, ...)``, targets
one integer class index per sample (LSMI files may store them as whole-number floats or
as an ``(N, 1)`` column, both read as they mean), split tags must be known, and every
split of a modality must have the same feature shape and dtype. Each violation is an
error naming the key or array, what was expected, what was found and the fix. An
``.npz`` archive's headers are checked against the bytes it holds before any array is
allocated.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import torch

from dmil.data._archive import ArrayHeader, inspect_npz
from dmil.data.container import INTERACTION_TYPES, SPLIT_NAMES, MultimodalDataset
from dmil.utils import atomic_path

__all__ = ["read_dataset", "read_lsmi_pt", "read_npz", "write_lsmi_pt", "write_npz"]

logger = logging.getLogger(__name__)

_LSMI_KEY = re.compile(r"^(train|val|test)_modal_(\d+)_features$")
_LSMI_TARGETS = re.compile(r"^(train|val|test)_targets$")
#: Keys shaped like the LSMI layout's, whatever their split tag (caught to name bad tags).
_LSMI_LIKE = re.compile(r"^(.*?)_(?:modal_\d+_features|targets)$")
_LSMI_EXPECTED = (
    "keys 'train_modal_1_features' .. 'train_modal_M_features' (M >= 2) and "
    "'train_targets', optionally the same for 'val' and 'test'"
)


def _require_file(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"data file not found: {path}")
    if not path.is_file():
        raise ValueError(f"data path is not a file: {path}")


def _load_torch_file(path: Path) -> object:
    """``torch.load`` with ``weights_only=True``; a refused pickle gets dmil's own message."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        wanted = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if "Weights only load failed" in text or wanted is not None:
            # torch's own text suggests retrying with weights_only=False; never repeat it.
            detail = f" (it asks for '{wanted.group(1)}')" if wanted else ""
            raise ValueError(
                f"{path}: the file holds pickled Python objects{detail} that dmil will not "
                "execute; only plain tensors are read. Re-save the data as a dict of "
                "tensors, e.g. torch.save({'train_modal_1_features': torch.as_tensor(x1), "
                "...}, path)."
            ) from None
        first = text.splitlines()[0] if text else "no details"
        if "weights_only" in first:
            first = "the file is not a plain torch file of tensors"
        raise ValueError(
            f"could not read {path} as a torch file of tensors ({type(exc).__name__}: "
            f"{first}). Save a plain dict of tensors with torch.save."
        ) from None


def _tensor_entry(blob: dict, key: str, path: Path) -> torch.Tensor:
    """``blob[key]`` as a CPU tensor with values; anything else is an error naming the key."""
    value = blob[key]
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{path}: '{key}' holds a {type(value).__name__}; expected a tensor. Save it as "
            f"a tensor, e.g. blob['{key}'] = torch.as_tensor(values)."
        )
    if value.is_meta:
        raise ValueError(
            f"{path}: '{key}' is a tensor on the 'meta' device: it has a shape but no "
            "values. Save the materialised tensor (e.g. after loading the real weights or "
            "features) instead."
        )
    if value.dtype.is_complex:
        raise TypeError(
            f"{path}: '{key}' holds complex numbers (dtype {value.dtype}); expected real "
            "values. Save real features, e.g. torch.view_as_real(x).flatten(1) or x.abs()."
        )
    return value


def _features(blob: dict, key: str, path: Path) -> torch.Tensor:
    x = _tensor_entry(blob, key, path)
    if x.dtype == torch.bool:
        raise TypeError(
            f"{path}: '{key}' has dtype torch.bool; expected floating features or integer "
            "codes. Save it converted: x.float() (features) or x.long() (discrete codes)."
        )
    if x.dim() < 2:
        raise ValueError(
            f"{path}: '{key}' has shape {tuple(x.shape)}; expected (N, d, ...), one row of "
            "features per sample. Reshape it to (N, 1) (x.reshape(-1, 1)) if you really "
            "mean one feature per sample."
        )
    if any(size == 0 for size in x.shape[1:]):
        raise ValueError(
            f"{path}: '{key}' has shape {tuple(x.shape)}: zero features per sample. Every "
            "modality needs at least one value per sample."
        )
    return x


def _targets(blob: dict, key: str, n_rows: int, path: Path) -> torch.Tensor:
    """Class indices from ``blob[key]``: shape (N,) (or (N, 1)), integer or whole floats."""
    t = _tensor_entry(blob, key, path)
    if t.dtype == torch.bool:
        raise TypeError(
            f"{path}: '{key}' has dtype torch.bool; expected integer class indices 0..C-1. "
            "Save them as integers: targets.long()."
        )
    if t.dim() == 2 and t.shape == (n_rows, 1):
        logger.info("'%s' has shape (%d, 1); read as (%d,)", key, n_rows, n_rows)
        t = t.reshape(-1)
    if t.dim() != 1:
        raise ValueError(
            f"{path}: '{key}' has shape {tuple(t.shape)}; expected ({n_rows},), one class "
            "index per sample (one-hot or multi-column targets are not read). Save "
            "targets.argmax(dim=1) for one-hot targets, or one class index per row."
        )
    if t.dtype.is_floating_point:
        if not bool(torch.isfinite(t).all()) or not bool((t == t.round()).all()):
            raise TypeError(
                f"{path}: '{key}' holds non-integer values (dtype {t.dtype}); targets must be "
                "class indices 0..C-1."
            )
        # LSMI files sometimes store targets as whole-number floats; accept exactly those.
        logger.info("'%s' stored as %s with whole-number values; read as int64", key, t.dtype)
    return t.long()


def read_lsmi_pt(path: str | os.PathLike[str], *, name: str | None = None) -> MultimodalDataset:
    """Read an LSMI-layout ``.pt`` file into a dataset with its splits predefined.

    Parameters
    ----------
    path : path
        A file written with ``torch.save`` holding a dict of tensors (see the module
        docstring). It is loaded with ``weights_only=True``: pickled objects are refused.
    name : str, optional
        The dataset's name (default: the file's stem).

    Raises
    ------
    ValueError, TypeError
        Naming the key at fault: a missing or misspelt key, an unknown split tag, a
        non-tensor value, a meta-device, complex or boolean tensor, 1-D or zero-width
        features, feature widths or dtypes that differ between splits, or targets that
        are not one class index per sample.
    """
    path = Path(path)
    _require_file(path)
    blob = _load_torch_file(path)
    if not isinstance(blob, dict):
        raise ValueError(
            f"{path}: expected a dict with {_LSMI_EXPECTED}; found a {type(blob).__name__}."
        )
    if not blob:
        raise ValueError(f"{path}: the file holds an empty dict; expected {_LSMI_EXPECTED}.")
    found: dict[str, dict[int, str]] = {}
    target_keys: set[str] = set()
    for raw_key in blob:
        key = str(raw_key)
        if not isinstance(raw_key, str):
            raise TypeError(f"{path}: key {raw_key!r} is not a string; expected {_LSMI_EXPECTED}.")
        if match := _LSMI_KEY.match(key):
            found.setdefault(match.group(1), {})[int(match.group(2))] = key
        elif _LSMI_TARGETS.match(key):
            target_keys.add(key)
        elif (like := _LSMI_LIKE.match(key)) is not None:
            raise ValueError(
                f"{path}: key '{key}' has an unknown split tag '{like.group(1)}'; valid tags "
                f"are {', '.join(repr(s) for s in SPLIT_NAMES)}. Rename the key (e.g. "
                f"'{key.replace(like.group(1), 'val', 1)}' for a validation part)."
            )
        else:
            logger.warning("%s: ignoring key '%s' (not part of the LSMI layout)", path, key)
    if "train" not in found:
        raise ValueError(
            f"{path}: missing key 'train_modal_1_features' (LSMI layout); found keys "
            f"{sorted(map(str, blob))}. Expected {_LSMI_EXPECTED}."
        )
    modal_ids = sorted(found["train"])
    if modal_ids != list(range(1, len(modal_ids) + 1)) or len(modal_ids) < 2:
        raise ValueError(
            f"{path}: expected train_modal_1_features .. train_modal_M_features with M >= 2, "
            f"found modalities {modal_ids}."
        )
    for key in sorted(target_keys):
        if key.split("_", 1)[0] not in found:
            raise ValueError(
                f"{path}: '{key}' is present but no '{key.split('_', 1)[0]}_modal_k_features' "
                "are; save the features of that split too, or drop its targets."
            )
    train_x = {m: _features(blob, found["train"][m], path) for m in modal_ids}
    parts: dict[int, list[torch.Tensor]] = {m: [] for m in modal_ids}
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
        xs = {m: _features(blob, found[split_name][m], path) for m in modal_ids}
        n_rows = xs[modal_ids[0]].shape[0]
        y = _targets(blob, target_key, n_rows, path)
        for m in modal_ids:
            x, key, ref_key = xs[m], found[split_name][m], found["train"][m]
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"{path}: '{key}' has {x.shape[0]} rows but '{target_key}' has {y.shape[0]}."
                )
            ref = train_x[m]
            if x.shape[1:] != ref.shape[1:]:
                raise ValueError(
                    f"{path}: '{key}' has {tuple(x.shape[1:])} features per sample but "
                    f"'{ref_key}' has {tuple(ref.shape[1:])}; every split of a modality "
                    "needs the same feature shape."
                )
            if x.dtype != ref.dtype:
                raise TypeError(
                    f"{path}: '{key}' has dtype {x.dtype} but '{ref_key}' has {ref.dtype}; "
                    "save every split of a modality with the same dtype."
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


def _check_kind(path: Path, header: ArrayHeader, kinds: str, expected: str, fix: str) -> None:
    kind = header.dtype.kind
    if kind not in kinds:
        what = {
            "b": "booleans",
            "c": "complex numbers",
            "f": "floating values",
            "U": "strings",
            "S": "byte strings",
            "V": "structured records",
            "M": "dates",
            "m": "time spans",
        }.get(kind, f"dtype {header.dtype}")
        raise TypeError(
            f"{path}: array '{header.key}' holds {what} (dtype {header.dtype}); expected "
            f"{expected}. {fix}"
        )


def _check_1d(path: Path, header: ArrayHeader, n: int | None, what: str) -> None:
    if len(header.shape) != 1 or (n is not None and header.shape[0] != n):
        want = f"({n},)" if n is not None else "a 1-D array"
        raise ValueError(
            f"{path}: array '{header.key}' has shape {header.shape}; expected {want}, {what}."
        )


def _validate_npz(path: Path, headers: dict[str, ArrayHeader]) -> None:
    """Check every array's declared shape and dtype against the layout before reading."""
    keys = set(headers)
    for required in ("modality_names", "y"):
        if required not in keys:
            raise ValueError(
                f"{path}: missing array '{required}' (npz layout); found {sorted(keys)}."
            )
    names = headers["modality_names"]
    _check_kind(path, names, "US", "strings", "Save np.array(['audio', 'video', ...]).")
    _check_1d(path, names, None, "one name per modality")
    y = headers["y"]
    _check_kind(
        path,
        y,
        "iu",
        "integer class labels 0..C-1",
        "Save the labels as integers (e.g. y.astype(np.int64) for whole numbers, "
        "np.unique(y, return_inverse=True)[1] for names).",
    )
    if len(y.shape) != 1:
        raise ValueError(
            f"{path}: array 'y' has shape {y.shape}; expected (N,), one class label per "
            "sample (one-hot or multi-column labels are not read). Save y.argmax(axis=1) "
            "for one-hot labels, or y.reshape(-1) if it is a single column."
        )
    n = y.shape[0]
    if "class_names" in headers:
        _check_kind(path, headers["class_names"], "US", "strings", "Save np.array(names).")
        _check_1d(path, headers["class_names"], None, "one name per class")
    if "interactions" in headers:
        _check_kind(
            path,
            headers["interactions"],
            "USiu",
            f"strings in {list(INTERACTION_TYPES)} or integer codes",
            "Save np.array(types) with one type per sample.",
        )
        _check_1d(path, headers["interactions"], n, "one interaction type per sample")
    if "groups" in headers:
        _check_kind(path, headers["groups"], "iu", "integer group ids", "Save groups as integers.")
        _check_1d(path, headers["groups"], n, "one group id per sample")
    if "split" in headers:
        _check_kind(
            path,
            headers["split"],
            "US",
            f"split tags {list(SPLIT_NAMES)}",
            "Save np.array(tags) with one tag per sample.",
        )
        _check_1d(path, headers["split"], n, "one split tag per sample")


def _check_modality_header(path: Path, header: ArrayHeader) -> None:
    _check_kind(
        path,
        header,
        "iuf",
        "real floating features or integer codes",
        "Convert booleans with x.astype(np.float32) (features) or x.astype(np.int64) "
        "(codes); for complex numbers save the real and imaginary parts as features.",
    )
    if len(header.shape) < 2:
        raise ValueError(
            f"{path}: array '{header.key}' has shape {header.shape}; expected (N, d, ...), "
            "one row of features per sample. Reshape it to (N, 1) (x.reshape(-1, 1)) if you "
            "really mean one feature per sample."
        )
    if any(size == 0 for size in header.shape[1:]):
        raise ValueError(
            f"{path}: array '{header.key}' has shape {header.shape}: zero features per "
            "sample. Every modality needs at least one value per sample."
        )


def _split_from_tags(path: Path, tags: np.ndarray) -> dict[str, np.ndarray] | None:
    """Per-sample tags -> index arrays; an empty tag leaves a sample unassigned."""
    tags = tags.astype(str)
    valid = set(SPLIT_NAMES) | {""}
    unknown, counts = np.unique(tags[~np.isin(tags, list(valid))], return_counts=True)
    if unknown.size:
        found = ", ".join(f"'{t}' ({c} samples)" for t, c in zip(unknown, counts, strict=True))
        raise ValueError(
            f"{path}: array 'split' has unknown tags {found}; valid tags are "
            f"{', '.join(repr(s) for s in SPLIT_NAMES)} and '' (no predefined split for that "
            "sample). Rename the tags (e.g. 'validation' -> 'val')."
        )
    split = {s: np.flatnonzero(tags == s) for s in SPLIT_NAMES if (tags == s).any()}
    return split or None


def _interactions(values: np.ndarray) -> np.ndarray:
    """String types as ``str`` (byte strings decoded), integer codes as they are."""
    return values.astype(str) if values.dtype.kind in "US" else values


def read_npz(path: str | os.PathLike[str], *, name: str | None = None) -> MultimodalDataset:
    """Read a dataset from the ``.npz`` layout.

    Every array's header is checked (declared size against the bytes stored, dtype,
    shape) before any array is read, and object arrays are refused
    (``allow_pickle=False``).

    Parameters
    ----------
    path : path
        An ``.npz`` file in the layout of the module docstring.
    name : str, optional
        The dataset's name (default: the file's stem).

    Raises
    ------
    ValueError, TypeError
        Naming the array at fault: a missing array, a damaged or oversized header,
        object, boolean, complex or string features, 1-D or zero-width features,
        non-integer or multi-column labels, 2-D names, or unknown split tags.
    """
    path = Path(path)
    _require_file(path)
    headers = inspect_npz(path)
    _validate_npz(path, headers)
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"could not read {path} as an .npz archive: {exc}") from exc
    with archive:
        names = archive["modality_names"].astype(str).tolist()
        modalities = []
        for n in names:
            key = f"x_{n}"
            if key not in headers:
                raise ValueError(
                    f"{path}: modality '{n}' is listed in modality_names but array '{key}' is "
                    f"missing (arrays found: {', '.join(sorted(headers))}); store each "
                    "modality's features as x_<name>."
                )
            _check_modality_header(path, headers[key])
            modalities.append(archive[key])
        known = {"modality_names", "y", "class_names", "interactions", "groups", "split"}
        for key in sorted(set(headers) - known - {f"x_{n}" for n in names}):
            logger.warning("%s: ignoring array '%s' (not part of the npz layout)", path, key)
        split = _split_from_tags(path, archive["split"]) if "split" in headers else None
        types = _interactions(archive["interactions"]) if "interactions" in headers else None
        try:
            return MultimodalDataset(
                modalities,
                archive["y"],
                modality_names=names,
                class_names=archive["class_names"].astype(str).tolist()
                if "class_names" in headers
                else None,
                interactions=types,
                groups=archive["groups"] if "groups" in headers else None,
                predefined_split=split,
                name=name or path.stem,
                source=str(path),
            )
        except (TypeError, ValueError) as exc:  # the dataset's checks, named by file
            raise type(exc)(f"{path}: {exc}") from exc


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
