"""One experiment spec: :class:`ExperimentSpec` = data + model + training, as data.

A run is described by one typed object instead of parameter lists threaded through the
layers::

    data:                              # DataSpec: what to train on and how to split it
      dataset: synthetic-mixed         # a registered name ...
      file: null                       # ... or a data file (.pt LSMI layout, .npz)
      options: {n_samples: 2000}       # loader options (registered datasets only)
      split_seed: null                 # null: the training seed
      val_size: 0.15
      test_size: 0.15
      standardize: true
      interactions: auto               # auto, true, estimated, none
    model:                             # ModelSpec: build_model's keyword arguments
      method: joint
      encoder: mlp                     # or one name per modality: [mlp, cnn]
      embed_dim: 64
      encoder_kwargs: {}
      method_kwargs: {}
    train:                             # TrainConfig, stages included
      epochs: 30
      lr: 1.0e-3
      stages: []

Each part is a frozen dataclass validated once, when it is built; an unknown key is an
error that suggests the closest valid one. :meth:`ExperimentSpec.from_yaml` reads a
file, :meth:`ExperimentSpec.to_yaml` writes one (atomically), and
:meth:`ExperimentSpec.override` layers command-line flags over it (flags win). The
effective spec of a run is saved beside its results (``spec.yaml``) and in its
checkpoints, so ``dmil train --config spec.yaml`` replays the run.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmil.training.config import TrainConfig
from dmil.training.stages import scale_stages
from dmil.utils import did_you_mean

__all__ = [
    "INTERACTION_SOURCES",
    "SECTIONS",
    "DataSpec",
    "ExperimentSpec",
    "ModelSpec",
    "check_keys",
    "merge_dicts",
    "read_yaml",
]

#: Sections of a spec file, in the order they are written.
SECTIONS: tuple[str, ...] = ("data", "model", "train")
#: Where a test split's per-sample interaction labels come from.
INTERACTION_SOURCES: tuple[str, ...] = ("auto", "true", "estimated", "none")


def check_keys(values: Mapping[str, Any], known: Sequence[str], *, where: str) -> None:
    """Raise a ValueError for the first key of ``values`` not in ``known``, suggesting
    the closest known key and listing them all."""
    if not isinstance(values, Mapping):
        raise ValueError(f"{where}: expected a mapping of settings, found {values!r}.")
    for key in values:
        if key not in known:
            hint = did_you_mean(key, known)
            raise ValueError(f"{where}: unknown key '{key}'.{hint} Valid keys: {', '.join(known)}.")


def merge_dicts(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``over``; nested mappings merge key by key, other values
    (lists included) are replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_dicts(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _number(value: Any, where: str, *, low: float, high: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
        raise ValueError(f"{where}: expected a number in ({low:g}, {high:g}), found {value!r}.")
    return float(value)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a mapping KEY: VALUE, found {value!r}.")
    return {str(k): v for k, v in value.items()}


@dataclass(frozen=True)
class DataSpec:
    """What a run trains on and how the data are split.

    Attributes
    ----------
    dataset : str or None
        Registered dataset name (``dmil datasets``); exactly one of ``dataset`` and
        ``file`` is set.
    file : str or None
        A data file (``.pt`` in the LSMI layout or ``.npz``; see the README).
    sha256 : str or None
        Content digest of ``file``, recorded when a run starts and verified whenever
        the file is read again (``dmil evaluate``).
    options : dict
        Keyword options of the dataset loader (e.g. ``n_samples``).
    split_seed : int or None
        ``random_state`` of the split; ``None``: the training seed.
    val_size, test_size : float
        Split fractions (predefined splits of the data are honoured).
    standardize : bool
        Z-score floating modalities with training-split statistics.
    interactions : {"auto", "true", "estimated", "none"}
        Source of the test split's per-sample interaction labels: ``auto`` takes the
        truth where the data have it and estimates it otherwise.
    """

    dataset: str | None = None
    file: str | None = None
    sha256: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    split_seed: int | None = None
    val_size: float = 0.15
    test_size: float = 0.15
    standardize: bool = True
    interactions: str = "auto"

    def __post_init__(self) -> None:
        if self.dataset is not None and self.file is not None:
            raise ValueError(
                f"data: give either dataset ({self.dataset!r}) or file ({self.file!r}), not both."
            )
        for key in ("dataset", "file", "sha256"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"data.{key}: expected a non-empty string, found {value!r}.")
        if self.file is not None:
            object.__setattr__(self, "file", os.fspath(self.file))
            if self.options:
                raise ValueError(
                    f"data.options {sorted(self.options)} apply to registered datasets, not "
                    f"to data files ({self.file}); remove them."
                )
        object.__setattr__(self, "options", _mapping(self.options, "data.options"))
        seed = self.split_seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(
                f"data.split_seed: expected a non-negative integer or null, found {seed!r}."
            )
        for key in ("val_size", "test_size"):
            object.__setattr__(self, key, _number(getattr(self, key), f"data.{key}", low=0, high=1))
        if self.val_size + self.test_size >= 1:
            raise ValueError(
                f"data: val_size + test_size must be below 1, found "
                f"{self.val_size} + {self.test_size}."
            )
        if not isinstance(self.standardize, bool):
            raise ValueError(
                f"data.standardize: expected true or false, found {self.standardize!r}."
            )
        if self.interactions not in INTERACTION_SOURCES:
            raise ValueError(
                f"data.interactions: expected one of {list(INTERACTION_SOURCES)}, "
                f"found {self.interactions!r}."
            )

    @property
    def name(self) -> str:
        """The dataset name, or the file's stem for a data file."""
        if self.dataset is not None:
            return self.dataset
        return Path(self.file).stem if self.file else "?"

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (YAML, JSON, checkpoints)."""
        return {k: copy.deepcopy(getattr(self, k)) for k in _fields(type(self))}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, where: str = "data") -> DataSpec:
        """Build from a mapping; unknown keys are errors with a close-match hint."""
        check_keys(values, _fields(cls), where=where)
        return cls(**dict(values))

    def replace(self, **changes: Any) -> DataSpec:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ModelSpec:
    """Which model a run trains: the keyword arguments of ``build_model`` that are not
    taken from the data.

    Attributes
    ----------
    method : str or None
        A method of :func:`dmil.models.available_methods` (``None`` only in specs that
        name their methods elsewhere, as ``dmil run`` does).
    encoder : str or tuple of str
        One encoder name for every modality, or one per modality.
    embed_dim : int
        Encoder output width.
    encoder_kwargs : dict
        Extra keyword arguments of every encoder (e.g. ``channels`` of ``cnn``).
    method_kwargs : dict
        Extra keyword arguments of the method (e.g. ``alpha`` of ``ogm-ge``).
    """

    method: str | None = None
    encoder: str | tuple[str, ...] = "mlp"
    embed_dim: int = 64
    encoder_kwargs: dict[str, Any] = field(default_factory=dict)
    method_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from dmil.models import available_encoders, available_methods

        if self.method is not None:
            if not isinstance(self.method, str):
                raise ValueError(f"model.method: expected a method name, found {self.method!r}.")
            method = self.method.replace("_", "-")
            known = available_methods()
            if method not in known:
                raise ValueError(
                    f"model.method: unknown method '{self.method}'; known methods: "
                    f"{', '.join(known)}.{did_you_mean(method, known)}"
                )
            object.__setattr__(self, "method", method)
        encoder = self.encoder
        if isinstance(encoder, str) and "," in encoder:
            encoder = tuple(e.strip() for e in encoder.split(","))
        if not isinstance(encoder, str):
            if not isinstance(encoder, Sequence) or not encoder:
                raise ValueError(
                    f"model.encoder: expected an encoder name or a list of names, found "
                    f"{self.encoder!r}."
                )
            encoder = tuple(encoder)
        known_enc = available_encoders()
        for name in (encoder,) if isinstance(encoder, str) else encoder:
            if name not in known_enc:
                raise ValueError(
                    f"model.encoder: unknown encoder '{name}'; known encoders: "
                    f"{', '.join(known_enc)}.{did_you_mean(name, known_enc)}"
                )
        object.__setattr__(self, "encoder", encoder)
        dim = self.embed_dim
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"model.embed_dim: expected a positive integer, found {dim!r}.")
        for key in ("encoder_kwargs", "method_kwargs"):
            object.__setattr__(self, key, _mapping(getattr(self, key), f"model.{key}"))

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (YAML, JSON, checkpoints)."""
        out = {k: copy.deepcopy(getattr(self, k)) for k in _fields(type(self))}
        if not isinstance(self.encoder, str):
            out["encoder"] = list(self.encoder)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, where: str = "model") -> ModelSpec:
        """Build from a mapping; unknown keys are errors with a close-match hint."""
        check_keys(values, _fields(cls), where=where)
        return cls(**dict(values))

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything that defines one run: :class:`DataSpec`, :class:`ModelSpec` and the
    :class:`~dmil.training.TrainConfig` (with its stages).

    Build one with :meth:`from_dict` / :meth:`from_yaml`, change it with
    :meth:`override` or :meth:`replace`; it is immutable.
    """

    data: DataSpec = field(default_factory=lambda: DataSpec(dataset="synthetic-mixed"))
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        for key, cls in (("data", DataSpec), ("model", ModelSpec), ("train", TrainConfig)):
            if not isinstance(getattr(self, key), cls):
                raise TypeError(
                    f"ExperimentSpec.{key}: expected a {cls.__name__}, found "
                    f"{type(getattr(self, key)).__name__}."
                )

    # ------------------------------------------------------------------ dict / YAML
    def to_dict(self) -> dict[str, Any]:
        """``{"data": ..., "model": ..., "train": ...}`` in plain types."""
        return {
            "data": self.data.to_dict(),
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = "spec") -> ExperimentSpec:
        """Build a spec from ``{"data": ..., "model": ..., "train": ...}`` (every section
        and key optional; defaults fill the rest).

        Parameters
        ----------
        values : mapping
            The sections.
        source : str
            How error messages name the origin (e.g. the file name).

        Raises
        ------
        ValueError
            For an unknown section or key (naming it, with the closest valid one) or an
            invalid value (naming the key, what was expected and what was found).
        """
        check_keys(values, SECTIONS, where=source)
        sections = {}
        for key in SECTIONS:
            value = values.get(key)
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"{source}: section '{key}' must be a mapping, found {value!r}.")
            sections[key] = dict(value or {})
        try:
            data = DataSpec.from_dict(sections["data"], where="data")
            model = ModelSpec.from_dict(sections["model"], where="model")
            check_keys(sections["train"], _fields(TrainConfig), where="train")
            train = TrainConfig.from_dict(sections["train"])
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{source}: {exc}") from None
        if data.dataset is None and data.file is None:
            data = data.replace(dataset="synthetic-mixed")
        return cls(data=data, model=model, train=train)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> ExperimentSpec:
        """Read a spec file (YAML with optional ``data``, ``model`` and ``train``)."""
        return cls.from_dict(read_yaml(path), source=str(path))

    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """The spec as YAML text; also written (atomically) to ``path`` when given."""
        import yaml

        from dmil.utils import atomic_path

        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        if path is not None:
            with atomic_path(path) as tmp:
                tmp.write_text(text)
        return text

    # ------------------------------------------------------------------ changes
    def override(self, changes: Mapping[str, Any], *, source: str = "flags") -> ExperimentSpec:
        """A new spec with ``changes`` (same sections as :meth:`from_dict`) merged over
        this one; nested mappings (``data.options``, ``model.method_kwargs``) merge key
        by key.

        When ``changes`` sets ``train.epochs`` but not ``train.stages`` and this spec
        has stages, the stages are rescaled to the new epoch budget
        (:func:`~dmil.training.stages.scale_stages`); when it sets ``train.stages`` but
        not ``train.epochs``, the budget becomes the stages' total.
        """
        check_keys(changes, SECTIONS, where=source)
        merged = merge_dicts(self.to_dict(), changes)
        train_changes = changes.get("train") or {}
        if self.train.stages and "epochs" in train_changes and "stages" not in train_changes:
            stages = scale_stages(self.train.stages, int(train_changes["epochs"]))
            merged["train"]["stages"] = [s.to_dict() for s in stages]
        if train_changes.get("stages") and "epochs" not in train_changes:
            merged["train"].pop("epochs", None)
        data_changes = changes.get("data") or {}
        if data_changes.get("file") is not None and "dataset" not in data_changes:
            merged["data"]["dataset"] = None
            merged["data"]["options"] = {}
        if data_changes.get("dataset") is not None and "file" not in data_changes:
            merged["data"]["file"] = None
            merged["data"]["sha256"] = None
        if "file" in data_changes and "sha256" not in data_changes:
            merged["data"]["sha256"] = None
        return type(self).from_dict(merged, source=source)

    def replace(self, **changes: Any) -> ExperimentSpec:
        """A copy with whole sections replaced (``data=DataSpec(...)``, ...)."""
        return dataclasses.replace(self, **changes)


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping in a YAML file, with errors that name the file."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--config file not found: {file}")
    try:
        content = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = "" if mark is None else f", line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(
            f"--config {file}: invalid YAML{where}: {problem}. Fix the syntax "
            f"(sections {', '.join(SECTIONS)}, each a mapping)."
        ) from None
    if not isinstance(content, dict):
        raise ValueError(
            f"{file}: expected a mapping with sections {list(SECTIONS)}, found "
            f"{type(content).__name__}."
        )
    return content
