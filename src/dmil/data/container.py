"""The multimodal dataset container and its validation.

A :class:`MultimodalDataset` holds ``M >= 2`` modality tensors of shape ``(N, ...)``,
integer labels ``0..C-1``, names, and optionally the per-sample true interaction type,
per-sample group ids (e.g. speakers) and a predefined split. It is validated once, when
constructed; every error names the field, what was expected, what was found and how to
fix it. Nothing is coerced in a way that changes meaning: floating inputs stay floating,
integer inputs stay integer, labels must already be integers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["INTERACTION_TYPES", "SPLIT_NAMES", "TYPE_ORDER", "MultimodalDataset", "type_key"]

#: Per-sample interaction mechanisms, in the order used for integer codes.
INTERACTION_TYPES: tuple[str, ...] = ("R", "U1", "U2", "S")
#: Interaction types in display order (``U``: the uniqueness type of more than two
#: modalities).
TYPE_ORDER: tuple[str, ...] = ("R", "U1", "U2", "U", "S")
#: The names a predefined split may use.
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")


def type_key(name: str) -> tuple[int, str]:
    """Sort key of an interaction type: :data:`TYPE_ORDER` first, then any other name
    alphabetically."""
    return (TYPE_ORDER.index(name) if name in TYPE_ORDER else len(TYPE_ORDER), name)


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    """Turn an array-like into a tensor without changing its dtype."""
    if isinstance(value, torch.Tensor):
        if value.is_meta:
            raise ValueError(
                f"{what} is a tensor on the 'meta' device: it has a shape but no values. "
                "Pass (or save) the materialised tensor on the CPU instead."
            )
        return value.detach().cpu()
    try:
        array = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy raises many types here
        raise TypeError(f"{what} could not be read as an array: {exc}") from exc
    if array.dtype.kind in "OUSV":
        raise TypeError(
            f"{what} has dtype {array.dtype}; expected numbers (float or int). "
            "Convert it with np.asarray(x, dtype=np.float32) or encode it as integers."
        )
    return torch.from_numpy(np.ascontiguousarray(array))


def _check_modality(name: str, tensor: torch.Tensor) -> None:
    if tensor.dim() < 1:
        raise ValueError(
            f"modality '{name}' must have shape (N, ...); found a scalar. "
            "Stack samples along the first axis."
        )
    if tensor.dim() == 1:
        raise ValueError(
            f"modality '{name}' has shape {tuple(tensor.shape)}: one scalar per sample, "
            "but a modality needs shape (N, d, ...). Reshape it to (N, 1) "
            "(x.reshape(-1, 1)) if you really mean one feature per sample."
        )
    if any(size == 0 for size in tensor.shape[1:]):
        raise ValueError(
            f"modality '{name}' has shape {tuple(tensor.shape)}: zero features per sample. "
            "Every modality needs at least one value per sample; drop the empty modality."
        )
    dtype = tensor.dtype
    if dtype.is_complex:
        raise TypeError(
            f"modality '{name}' holds complex numbers (dtype {dtype}); expected real-valued "
            "features (floating or integer). Split real and imaginary parts into features "
            "with torch.view_as_real(x).flatten(1), or keep the magnitude with x.abs()."
        )
    if dtype == torch.bool:
        raise TypeError(
            f"modality '{name}' has dtype {dtype}; expected a floating or integer dtype. "
            "Convert booleans with .long() (discrete codes) or .float() (features)."
        )
    if dtype.is_floating_point and tensor.numel() > 0:
        # NumPy's single-threaded check is faster than torch's on small CPU tensors.
        values = tensor.numpy() if dtype != torch.bfloat16 else tensor.float().numpy()
        if not bool(np.isfinite(values).all()):
            finite = torch.isfinite(tensor)
            bad = (~finite).reshape(tensor.shape[0], -1).any(dim=1)
            rows = torch.nonzero(bad).flatten()
            n_nan = int(torch.isnan(tensor).sum())
            n_inf = int(torch.isinf(tensor).sum())
            raise ValueError(
                f"modality '{name}' contains non-finite values ({n_nan} NaN, {n_inf} Inf) "
                f"in {rows.numel()} samples, first at index {int(rows[0])}. "
                "Impute or drop those samples before building the dataset."
            )


def _label_gap_message(present: torch.Tensor, y_max: int, shown: int = 10) -> str:
    """Describe the class ids missing from ``0..y_max``, listing at most ``shown`` of them.

    The work is bounded by the number of distinct labels, not by ``y_max``.
    """
    values = present.tolist()
    n_missing = y_max + 1 - len(values)
    missing: list[int] = []
    expected = 0
    for v in values:
        while expected < v and len(missing) < shown:
            missing.append(expected)
            expected += 1
        if len(missing) >= shown:
            break
        expected = v + 1
    listed = ", ".join(map(str, missing)) + (", ..." if n_missing > len(missing) else "")
    return (
        f"labels must be the class ids 0..C-1 with every id present; found {len(values)} "
        f"distinct labels but the largest is {y_max}, so {n_missing} id(s) are missing: "
        f"[{listed}]. Re-map the labels to 0..{len(values) - 1} (e.g. np.unique(y, "
        "return_inverse=True)), or pass class_names if those classes exist but are absent "
        "from this sample."
    )


class MultimodalDataset:
    """A validated multimodal classification dataset.

    Parameters
    ----------
    modalities : sequence of tensors or arrays, or mapping name -> tensor
        ``M >= 2`` inputs, each of shape ``(N, d, ...)`` with at least one value per
        sample (one feature is ``(N, 1)``, not ``(N,)``). Real floating or integer dtypes.
        A mapping also supplies the modality names.
    labels : tensor or array of shape (N,)
        Integer class labels in ``0..C-1``.
    modality_names : sequence of str, optional
        One name per modality (default ``x1, x2, ...``).
    class_names : sequence of str, optional
        One name per class; ``C = len(class_names)``; labels may leave some of these
        classes absent. Default: ``C`` is the number of distinct labels, which must be
        exactly ``0..C-1`` (a gap such as labels ``{0, 5}`` is an error naming the missing
        ids); the classes are named ``"0", "1", ...``.
    interactions : sequence of str or integer codes of shape (N,), optional
        The true mechanism per sample, one of :data:`INTERACTION_TYPES`.
    groups : integer array of shape (N,), optional
        Group ids (e.g. speaker) for group-disjoint splits.
    predefined_split : mapping split name -> index array, optional
        An official split (e.g. a published train/test partition); keys from
        :data:`SPLIT_NAMES`, disjoint indices.
    name, source : str
        A short name and where the data came from.
    metadata : mapping, optional
        Extra facts, e.g. the exact PID of a synthetic suite under ``"pid"``.
    """

    modalities: tuple[torch.Tensor, ...]
    labels: torch.Tensor
    modality_names: tuple[str, ...]
    class_names: tuple[str, ...]
    interactions: torch.Tensor | None
    groups: torch.Tensor | None
    predefined_split: dict[str, np.ndarray] | None
    name: str
    source: str
    metadata: dict[str, Any]

    def __init__(
        self,
        modalities: Sequence[Any] | Mapping[str, Any],
        labels: Any,
        *,
        modality_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
        interactions: Sequence[str] | Sequence[int] | np.ndarray | torch.Tensor | None = None,
        groups: Any = None,
        predefined_split: Mapping[str, Any] | None = None,
        name: str = "dataset",
        source: str = "user data",
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(modalities, Mapping):
            if modality_names is not None:
                raise ValueError(
                    "modality_names was given together with a mapping of modalities; "
                    "the mapping's keys already name them. Pass one or the other."
                )
            modality_names = [str(k) for k in modalities]
            modalities = list(modalities.values())
        if isinstance(modalities, (torch.Tensor, np.ndarray)):
            raise TypeError(
                "modalities must be a list of per-modality arrays, not one array; "
                "wrap it as [x1, x2, ...]."
            )
        modalities = list(modalities)
        if len(modalities) < 2:
            raise ValueError(
                f"modalities: expected at least 2 modalities, found {len(modalities)}. "
                "A multimodal dataset needs two or more inputs per sample."
            )
        if modality_names is None:
            modality_names = [f"x{i + 1}" for i in range(len(modalities))]
        modality_names = tuple(str(n) for n in modality_names)
        if len(modality_names) != len(modalities):
            raise ValueError(
                f"modality_names: expected {len(modalities)} names (one per modality), "
                f"found {len(modality_names)}."
            )
        if len(set(modality_names)) != len(modality_names):
            raise ValueError(f"modality_names must be unique, found {list(modality_names)}.")

        tensors = tuple(
            _as_tensor(x, f"modality '{n}'")
            for x, n in zip(modalities, modality_names, strict=True)
        )
        for n, t in zip(modality_names, tensors, strict=True):
            _check_modality(n, t)

        y = _as_tensor(labels, "labels")
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.dtype.is_complex:
            raise TypeError(
                f"labels have dtype {y.dtype}; expected an integer dtype with classes 0..C-1. "
                "If the values are whole numbers, convert explicitly (e.g. labels.long())."
            )
        if y.dim() == 2 and y.shape[1] == 1:
            raise ValueError(
                f"labels: expected shape (N,), found {tuple(y.shape)}. Use labels.reshape(-1)."
            )
        if y.dim() != 1:
            raise ValueError(f"labels: expected shape (N,), found {tuple(y.shape)}.")
        y = y.long()
        n = y.shape[0]
        if n == 0:
            raise ValueError("labels: the dataset is empty (N = 0); expected at least one sample.")
        for mname, t in zip(modality_names, tensors, strict=True):
            if t.shape[0] != n:
                raise ValueError(
                    f"modality '{mname}' has {t.shape[0]} samples but labels have {n}; "
                    "every modality needs one row per label."
                )

        y_min, y_max = int(y.min()), int(y.max())
        if class_names is None:
            if y_min < 0:
                raise ValueError(
                    f"labels must lie in 0..C-1 (class ids); found values from {y_min} to "
                    f"{y_max}, and a class id cannot be negative. Re-map labels to 0..C-1."
                )
            if y_max == 0:
                raise ValueError(
                    "labels hold a single class (every label is 0); a classification dataset "
                    "needs at least 2 classes. Check the label column, or pass class_names "
                    "if other classes exist but are absent from this sample."
                )
            # C comes from the labels present (at most N of them), never from a label's value.
            present = torch.unique(y)
            if y_max >= present.numel():
                raise ValueError(_label_gap_message(present, y_max))
            class_names = [str(c) for c in range(present.numel())]
        class_names = tuple(str(c) for c in class_names)
        n_classes = len(class_names)
        if y_min < 0 or y_max >= n_classes:
            raise ValueError(
                f"labels must lie in 0..{n_classes - 1} (C = {n_classes} classes, one per "
                f"entry of class_names); found values from {y_min} to {y_max}. Give "
                "class_names one name per class id, or re-map the labels to 0..C-1."
            )
        if n_classes < 2:
            raise ValueError(
                f"class_names: expected at least 2 classes, found {n_classes}; a "
                "classification dataset needs two or more."
            )

        codes = None if interactions is None else self._interaction_codes(interactions, n)
        g = None
        if groups is not None:
            g = _as_tensor(groups, "groups")
            if g.dtype.is_floating_point or g.dim() != 1 or g.shape[0] != n:
                raise ValueError(
                    f"groups: expected integer ids of shape ({n},), found dtype {g.dtype}, "
                    f"shape {tuple(g.shape)}."
                )
            g = g.long()

        split = None if predefined_split is None else self._check_split(predefined_split, n)

        self.modalities = tensors
        self.labels = y
        self.modality_names = modality_names
        self.class_names = class_names
        self.interactions = codes
        self.groups = g
        self.predefined_split = split
        self.name = str(name)
        self.source = str(source)
        self.metadata = dict(metadata or {})

    @staticmethod
    def _interaction_codes(values: Any, n: int) -> torch.Tensor:
        if isinstance(values, torch.Tensor):
            arr = values.detach().cpu().numpy()
        else:
            arr = np.asarray(values)
        if arr.shape != (n,):
            raise ValueError(
                f"interactions: expected shape ({n},), one type per sample, found {arr.shape}."
            )
        if arr.dtype.kind in "US":
            unknown = sorted(set(arr.tolist()) - set(INTERACTION_TYPES))
            if unknown:
                raise ValueError(
                    f"interactions: unknown types {unknown}; expected values in "
                    f"{list(INTERACTION_TYPES)}."
                )
            lookup = {t: i for i, t in enumerate(INTERACTION_TYPES)}
            return torch.tensor([lookup[v] for v in arr.tolist()], dtype=torch.long)
        if arr.dtype.kind in "iu":
            if arr.size and (arr.min() < 0 or arr.max() >= len(INTERACTION_TYPES)):
                raise ValueError(
                    f"interactions: integer codes must lie in 0..{len(INTERACTION_TYPES) - 1} "
                    f"({', '.join(INTERACTION_TYPES)}); found {arr.min()}..{arr.max()}."
                )
            return torch.from_numpy(arr.astype(np.int64))
        raise TypeError(
            f"interactions: expected strings in {list(INTERACTION_TYPES)} or integer codes, "
            f"found dtype {arr.dtype}."
        )

    @staticmethod
    def _check_split(split: Mapping[str, Any], n: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        seen = np.zeros(n, dtype=bool)
        for key, idx in split.items():
            if key not in SPLIT_NAMES:
                raise ValueError(
                    f"predefined_split: unknown split '{key}'; expected keys from "
                    f"{list(SPLIT_NAMES)}."
                )
            arr = np.asarray(idx)
            if arr.dtype.kind not in "iu" or arr.ndim != 1:
                raise TypeError(
                    f"predefined_split['{key}']: expected a 1-D integer index array, "
                    f"found dtype {arr.dtype}, shape {arr.shape}."
                )
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise ValueError(f"predefined_split['{key}']: indices must lie in 0..{n - 1}.")
            if seen[arr].any():
                raise ValueError(
                    f"predefined_split['{key}'] overlaps another split; splits must be disjoint."
                )
            seen[arr] = True
            out[key] = arr.astype(np.int64)
        return out

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_samples(self) -> int:
        """Number of samples ``N``."""
        return len(self)

    @property
    def n_modalities(self) -> int:
        """Number of modalities ``M``."""
        return len(self.modalities)

    @property
    def n_classes(self) -> int:
        """Number of classes ``C``."""
        return len(self.class_names)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shape of each modality, by name."""
        return {
            n: tuple(t.shape[1:]) for n, t in zip(self.modality_names, self.modalities, strict=True)
        }

    @property
    def has_truth(self) -> bool:
        """Whether the true per-sample interaction type is known."""
        return self.interactions is not None

    def interaction_names(self) -> list[str] | None:
        """The per-sample true interaction types as strings, or ``None``."""
        if self.interactions is None:
            return None
        return [INTERACTION_TYPES[i] for i in self.interactions.tolist()]

    def modality(self, key: int | str) -> torch.Tensor:
        """One modality tensor, by index or name."""
        if isinstance(key, str):
            if key not in self.modality_names:
                raise KeyError(
                    f"unknown modality '{key}'; this dataset has {list(self.modality_names)}."
                )
            key = self.modality_names.index(key)
        return self.modalities[key]

    def class_counts(self) -> np.ndarray:
        """Samples per class, shape ``(C,)``."""
        return np.bincount(self.labels.numpy(), minlength=self.n_classes)

    def subset(self, indices: Any, *, name: str | None = None) -> MultimodalDataset:
        """A new dataset with the given samples (the predefined split is dropped)."""
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return self._derived([t[idx] for t in self.modalities], index=idx, name=name)

    def select_modalities(self, keys: Sequence[int | str]) -> MultimodalDataset:
        """A new dataset keeping only some modalities (at least two)."""
        idx = [self.modality_names.index(k) if isinstance(k, str) else int(k) for k in keys]
        return self._derived(
            [self.modalities[i] for i in idx],
            modality_names=[self.modality_names[i] for i in idx],
        )

    def with_modalities(self, tensors: Sequence[torch.Tensor]) -> MultimodalDataset:
        """A new dataset with other modality tensors and everything else kept.

        Parameters
        ----------
        tensors : sequence of tensors
            One tensor of shape ``(N, ...)`` per modality, in the order of
            :attr:`modality_names` (e.g. the same features after scaling). They are
            validated like any dataset's inputs.

        Returns
        -------
        MultimodalDataset
            Same modality names, labels, class names, per-sample truth, groups,
            predefined split, name, source and metadata as this dataset.
        """
        tensors = list(tensors)
        if len(tensors) != self.n_modalities:
            raise ValueError(
                f"tensors: expected {self.n_modalities} tensors (one per modality: "
                f"{list(self.modality_names)}), found {len(tensors)}."
            )
        return self._derived(tensors)

    def _derived(
        self,
        modalities: list[Any],
        *,
        modality_names: Sequence[str] | None = None,
        index: torch.Tensor | None = None,
        name: str | None = None,
    ) -> MultimodalDataset:
        """A validated dataset built from ``modalities`` and this dataset's other fields.

        ``modality_names`` replaces the names; ``index`` (sample indices) restricts the
        labels, truth and groups to those samples and drops the predefined split;
        ``name`` (when not empty) replaces the name.
        """

        def pick(values: torch.Tensor | None) -> torch.Tensor | None:
            return values if values is None or index is None else values[index]

        return MultimodalDataset(
            modalities,
            pick(self.labels),
            modality_names=self.modality_names if modality_names is None else modality_names,
            class_names=self.class_names,
            interactions=pick(self.interactions),
            groups=pick(self.groups),
            predefined_split=self.predefined_split if index is None else None,
            name=name or self.name,
            source=self.source,
            metadata=self.metadata,
        )

    def describe(self) -> str:
        """A few readable lines: modalities with shapes, N, classes, truth, source."""
        mods = ", ".join(
            f"{n} {tuple(t.shape[1:])} {str(t.dtype).replace('torch.', '')}"
            for n, t in zip(self.modality_names, self.modalities, strict=True)
        )
        counts = self.class_counts()
        lines = [
            f"{self.name}: N={self.n_samples}, C={self.n_classes} classes "
            f"(per class {counts.min()}..{counts.max()})",
            f"  modalities ({self.n_modalities}): {mods}",
        ]
        if self.interactions is not None:
            shares = np.bincount(self.interactions.numpy(), minlength=len(INTERACTION_TYPES))
            share_txt = ", ".join(
                f"{t} {c / self.n_samples:.0%}"
                for t, c in zip(INTERACTION_TYPES, shares, strict=True)
            )
            lines.append(f"  per-sample truth: {share_txt}")
        else:
            lines.append("  per-sample truth: no")
        if self.groups is not None:
            lines.append(f"  groups: {int(self.groups.unique().numel())}")
        if self.predefined_split is not None:
            parts = ", ".join(f"{k} {len(v)}" for k, v in self.predefined_split.items())
            lines.append(f"  predefined split: {parts}")
        if "pid" in self.metadata:
            pid = ", ".join(f"{k}={v:.4f}" for k, v in self.metadata["pid"].items())
            lines.append(f"  exact PID (nats): {pid}")
        lines.append(f"  source: {self.source}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"MultimodalDataset({self.describe()})"

    __str__ = describe
