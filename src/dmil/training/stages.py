"""Staged training as data: :class:`StageSpec` and what the loop needs from it.

A run is a list of stages. Each stage names which modules train and which are frozen,
the loss terms it minimises with their weights, its optimiser settings, its epochs and
its early-stopping patience. The loop (:func:`dmil.training.fit`) runs the stages in
order and knows nothing about any particular method: the best validation checkpoint of
a stage starts the next (and a stage with ``improve_on_previous`` keeps it unless one of
its own epochs beats it on validation). A run without stages is one stage built from the
:class:`~dmil.training.TrainConfig` itself.

Module patterns are matched against the qualified names of ``model.named_modules()``
(``"encoders"``, ``"intra.heads"``, ``"consistency.*"``): a pattern selects every module
whose name equals it, matches it as a shell-style wildcard, or lies below such a module.
A parameter trains in a stage when its module is selected by ``train`` (or ``train`` is
empty) and not selected by ``freeze``. Frozen modules are put in evaluation mode, so
their BatchNorm statistics and dropout stay fixed as well.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from importlib import resources
from typing import Any

from torch import nn

from dmil.utils import did_you_mean

__all__ = [
    "COMPONENT_MONITOR",
    "MONITORS",
    "StagePlan",
    "StageSpec",
    "available_presets",
    "check_loss_terms",
    "load_preset",
    "monitored_component",
    "plan_stage",
    "scale_stages",
    "stages_from_list",
]

#: What a stage selects its best epoch by: the model's ``logits`` or the mean of its
#: per-modality predictions (for stages that train only unimodal parts). A third form,
#: ``component:<name>``, judges one entry of the model's ``component_logits`` (for a
#: stage that trains one component's head, such as DMIL's ``component:S``).
MONITORS: tuple[str, ...] = ("logits", "modality_mean")

#: Prefix of a monitor naming one component's logits.
COMPONENT_MONITOR = "component:"

_PRESET_PACKAGE = "dmil.configs"

#: StageSpec fields that override the run's TrainConfig when set.
_INHERITED: tuple[str, ...] = (
    "optimizer",
    "lr",
    "weight_decay",
    "momentum",
    "scheduler",
    "scheduler_patience",
    "scheduler_factor",
    "patience",
)


@dataclass(frozen=True)
class StageSpec:
    """One stage of a training run.

    Attributes
    ----------
    name : str
        Shown in logs, ``metrics.csv`` and checkpoints.
    epochs : int
        Maximum number of epochs of this stage.
    train : tuple of str
        Module patterns whose parameters train (empty: every module not frozen).
    freeze : tuple of str
        Module patterns frozen: ``requires_grad=False`` and evaluation mode.
    loss_weights : dict term -> float, optional
        The loss of the stage is ``sum_t weight[t] * term[t]`` over the terms a model
        names in :meth:`~dmil.models.MultimodalModel.loss_terms`; unlisted terms get
        weight 0. ``None``: the model's own :meth:`~dmil.models.MultimodalModel.loss`.
    optimizer, lr, weight_decay, momentum, scheduler, scheduler_patience,
    scheduler_factor, patience : optional
        Override the run's :class:`~dmil.training.TrainConfig` value for this stage
        (``None``: inherit). Each stage starts a fresh optimiser and schedule.
    monitor : {"logits", "modality_mean", "component:<name>"}
        What the stage's validation accuracy is computed from: the model's prediction,
        the mean of its per-modality predictions, or one of its ``component_logits``.
    cache_frozen : bool
        When every encoder is frozen and the model can start from embeddings, compute
        the encoder outputs once at the start of the stage and train on them (no encoder
        forward or backward per step). Exact: frozen encoders are deterministic.
    improve_on_previous : bool
        The stage must beat the previous stage's best epoch (same ``monitor``; higher
        validation accuracy, or the same accuracy with a lower loss, as every best
        epoch is chosen): an epoch becomes the stage's best only when it does, and when
        none does, the previous stage's best weights are the stage's result (and, for
        the last stage, the run's). ``False``: the stage's own best epoch, whatever its
        accuracy. Selection stays on the validation split either way.
    """

    name: str
    epochs: int
    train: tuple[str, ...] = ()
    freeze: tuple[str, ...] = ()
    loss_weights: Mapping[str, float] | None = None
    optimizer: str | None = None
    lr: float | None = None
    weight_decay: float | None = None
    momentum: float | None = None
    scheduler: str | None = None
    scheduler_patience: int | None = None
    scheduler_factor: float | None = None
    patience: int | None = None
    monitor: str = "logits"
    cache_frozen: bool = True
    improve_on_previous: bool = False

    def __post_init__(self) -> None:
        where = f"stage '{self.name}'"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"stage name: expected a non-empty string, found {self.name!r}.")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"{where}: epochs must be a positive integer, found {self.epochs!r}.")
        for key in ("train", "freeze"):
            value = getattr(self, key)
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, Sequence) or not all(isinstance(p, str) for p in value):
                raise TypeError(
                    f"{where}: {key} must be a list of module patterns (strings), found {value!r}."
                )
            object.__setattr__(self, key, tuple(value))
        if self.loss_weights is not None:
            if not isinstance(self.loss_weights, Mapping) or not self.loss_weights:
                raise ValueError(
                    f"{where}: loss_weights must be a non-empty mapping term -> weight "
                    f"(or omitted), found {self.loss_weights!r}."
                )
            weights: dict[str, float] = {}
            for term, weight in self.loss_weights.items():
                if isinstance(weight, str):
                    try:
                        weight = float(weight)
                    except ValueError:
                        pass
                if (
                    isinstance(weight, bool)
                    or not isinstance(weight, (int, float))
                    or not math.isfinite(weight)
                    or weight < 0
                ):
                    raise ValueError(
                        f"{where}: loss weight of '{term}' must be a finite number >= 0, "
                        f"found {weight!r}."
                    )
                weights[str(term)] = float(weight)
            if not any(weights.values()):
                raise ValueError(
                    f"{where}: every loss weight is zero, so the stage has nothing to "
                    "minimise; give at least one term a positive weight."
                )
            object.__setattr__(self, "loss_weights", weights)
        if not _valid_monitor(self.monitor):
            raise ValueError(
                f"{where}: monitor must be one of {list(MONITORS)} or "
                f"'{COMPONENT_MONITOR}<name>' (one of the model's components), found "
                f"{self.monitor!r}."
            )
        for key in ("cache_frozen", "improve_on_previous"):
            if not isinstance(getattr(self, key), bool):
                raise TypeError(f"{where}: {key} must be true or false.")
        for key in ("lr", "weight_decay", "momentum", "scheduler_factor"):
            value = getattr(self, key)
            if isinstance(value, str):
                try:
                    object.__setattr__(self, key, float(value))
                except ValueError:
                    raise ValueError(f"{where}: {key} must be a number, found {value!r}.") from None

    def overrides(self) -> dict[str, Any]:
        """The :class:`~dmil.training.TrainConfig` fields this stage sets."""
        out = {k: getattr(self, k) for k in _INHERITED if getattr(self, k) is not None}
        out["epochs"] = self.epochs
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (stored in checkpoints and YAML)."""
        out = asdict(self)
        out["train"] = list(self.train)
        out["freeze"] = list(self.freeze)
        out["loss_weights"] = None if self.loss_weights is None else dict(self.loss_weights)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> StageSpec:
        """Build a stage from a mapping; an unknown key raises a ValueError that
        suggests the closest valid one."""
        if isinstance(values, StageSpec):
            return values
        if not isinstance(values, Mapping):
            raise TypeError(f"a stage must be a mapping of settings, found {values!r}.")
        known = [f.name for f in fields(cls) if f.init]
        for key in values:
            if key not in known:
                hint = did_you_mean(key, known)
                name = values.get("name", "?")
                raise ValueError(
                    f"stage '{name}': unknown setting '{key}'.{hint} Valid settings: "
                    f"{', '.join(known)}."
                )
        missing = [k for k in ("name", "epochs") if k not in values]
        if missing:
            raise ValueError(f"a stage needs {missing}; found the settings {sorted(values)}.")
        return cls(**dict(values))


def monitored_component(monitor: str) -> str | None:
    """The component a ``component:<name>`` monitor names (``None`` for other monitors)."""
    if monitor.startswith(COMPONENT_MONITOR):
        return monitor[len(COMPONENT_MONITOR) :]
    return None


def _valid_monitor(monitor: Any) -> bool:
    if not isinstance(monitor, str):
        return False
    component = monitored_component(monitor)
    return bool(component.strip()) if component is not None else monitor in MONITORS


def stages_from_list(values: Sequence[Any]) -> tuple[StageSpec, ...]:
    """Stages from a list of mappings (or :class:`StageSpec`); names must be unique, and a
    stage with ``improve_on_previous`` needs a previous stage with the same monitor."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"stages must be a list of stage mappings, found {values!r}.")
    stages = tuple(StageSpec.from_dict(v) for v in values)
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names must be unique; found {names}.")
    for index, stage in enumerate(stages):
        previous = stages[index - 1] if index else None
        if not stage.improve_on_previous:
            continue
        if previous is None:
            raise ValueError(
                f"stage '{stage.name}': improve_on_previous needs a previous stage to "
                "improve on; set it to false on the first stage."
            )
        if previous.monitor != stage.monitor:
            raise ValueError(
                f"stage '{stage.name}': improve_on_previous compares validation accuracies, "
                f"but the previous stage '{previous.name}' monitors '{previous.monitor}' and "
                f"this one '{stage.monitor}'; give both the same monitor or set "
                "improve_on_previous to false."
            )
    return stages


def available_presets() -> list[str]:
    """Names of the stage presets shipped with dmil (``dmil-vectors``, ...)."""
    root = resources.files(_PRESET_PACKAGE)
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> tuple[StageSpec, ...]:
    """The stages of a shipped preset (YAML with a top-level ``stages`` list).

    Raises
    ------
    ValueError
        For an unknown name (with the closest known one suggested).
    """
    import yaml

    known = available_presets()
    if name not in known:
        hint = did_you_mean(name, known)
        raise ValueError(f"unknown stage preset '{name}'.{hint} Known presets: {', '.join(known)}.")
    text = resources.files(_PRESET_PACKAGE).joinpath(f"{name}.yaml").read_text()
    content = yaml.safe_load(text)
    return stages_from_list(content["stages"])


def scale_stages(stages: Sequence[StageSpec], total_epochs: int) -> tuple[StageSpec, ...]:
    """The same stages with their epochs rescaled to sum to ``total_epochs``.

    Each stage keeps its share of the preset's epochs (largest-remainder rounding) and
    at least one epoch, so staged and one-stage methods can be given the same budget.
    """
    stages = tuple(stages)
    if total_epochs < len(stages):
        raise ValueError(
            f"epochs: {len(stages)} stages need at least {len(stages)} epochs in total (one "
            f"each), found {total_epochs}; raise the budget (--epochs {len(stages)} or more)."
        )
    preset_total = sum(s.epochs for s in stages)
    if preset_total == total_epochs:
        return stages
    exact = [s.epochs * total_epochs / preset_total for s in stages]
    counts = [max(1, math.floor(x)) for x in exact]
    order = sorted(range(len(stages)), key=lambda i: exact[i] - math.floor(exact[i]), reverse=True)
    i = 0
    while sum(counts) < total_epochs:
        counts[order[i % len(order)]] += 1
        i += 1
    while sum(counts) > total_epochs:
        j = max(range(len(counts)), key=lambda k: counts[k])
        counts[j] -= 1
    return tuple(
        StageSpec.from_dict({**s.to_dict(), "epochs": n})
        for s, n in zip(stages, counts, strict=True)
    )


@dataclass(frozen=True)
class StagePlan:
    """Which parameters train and which modules are frozen in one stage.

    Attributes
    ----------
    trainable : tuple of str
        Names of the parameters that train.
    frozen_modules : tuple of str
        Names of the top-most frozen modules (kept in evaluation mode).
    encoders_frozen : bool
        Whether every parameter of ``model.encoders`` is frozen.
    """

    trainable: tuple[str, ...]
    frozen_modules: tuple[str, ...]
    encoders_frozen: bool

    def apply(self, model: nn.Module) -> None:
        """Set ``requires_grad`` of every parameter of ``model``."""
        keep = set(self.trainable)
        for name, param in model.named_parameters():
            param.requires_grad_(name in keep)

    def set_modes(self, model: nn.Module, *, training: bool) -> None:
        """``model.train(training)``, then frozen modules back to evaluation mode."""
        model.train(training)
        if training:
            modules = dict(model.named_modules())
            for name in self.frozen_modules:
                modules[name].eval()


def _selects(pattern: str, name: str) -> bool:
    return name == pattern or fnmatch.fnmatchcase(name, pattern)


def _selected(name: str, patterns: Sequence[str]) -> bool:
    """Whether module ``name`` or one of its ancestors matches a pattern."""
    parts = name.split(".") if name else []
    prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
    return any(_selects(p, prefix) for p in patterns for prefix in prefixes)


def _check_monitor(model: nn.Module, stage: StageSpec) -> None:
    """A ``component:<name>`` monitor must name one of ``model.component_names``."""
    component = monitored_component(stage.monitor)
    if component is None:
        return
    available = tuple(getattr(model, "component_names", ()) or ())
    if component not in available:
        raise ValueError(
            f"stage '{stage.name}': monitor '{stage.monitor}' names no component of "
            f"{type(model).__name__} (its components: {', '.join(available) or 'none'}); "
            "use one of those, or monitor 'logits'."
        )


def check_loss_terms(model: nn.Module, stage: StageSpec, known: Iterable[str]) -> None:
    """Every term the stage weights must be among ``known``, the terms ``model``
    produces; otherwise a ValueError names the unknown ones and the closest known one."""
    if stage.loss_weights is None:
        return
    known = set(known)
    unknown = sorted(set(stage.loss_weights) - known)
    if unknown:
        hint = did_you_mean(unknown[0], sorted(known))
        raise ValueError(
            f"stage '{stage.name}': loss_weights name {unknown}, which "
            f"{type(model).__name__} does not produce.{hint} Its terms: "
            f"{', '.join(sorted(known))}."
        )


def plan_stage(model: nn.Module, stage: StageSpec) -> StagePlan:
    """Resolve a stage's module patterns on ``model``.

    Raises
    ------
    ValueError
        If a pattern matches no module (a typo), listing the model's top-level modules;
        if nothing is left to train; if a ``component:<name>`` monitor names no component
        of the model; or if ``loss_weights`` name a term the model declares it does not
        produce (``loss_term_names``).
    """
    names = [n for n, _ in model.named_modules() if n]
    _check_monitor(model, stage)
    # Models that declare their terms are checked here; others at the stage's first step.
    declared = getattr(model, "loss_term_names", None)
    if declared is not None:
        check_loss_terms(model, stage, declared)
    for key in ("train", "freeze"):
        for pattern in getattr(stage, key):
            if not any(_selects(pattern, n) for n in names):
                tops = sorted({n.split(".")[0] for n in names})
                hint = did_you_mean(pattern, names)
                raise ValueError(
                    f"stage '{stage.name}': {key} pattern '{pattern}' matches no module of "
                    f"{type(model).__name__}.{hint} Top-level modules: {', '.join(tops)}."
                )

    def module_trains(name: str) -> bool:
        if stage.freeze and _selected(name, stage.freeze):
            return False
        return not stage.train or _selected(name, stage.train)

    trainable = []
    for pname, _ in model.named_parameters():
        owner = pname.rpartition(".")[0]
        if module_trains(owner):
            trainable.append(pname)
    if not trainable:
        raise ValueError(
            f"stage '{stage.name}': its train/freeze patterns leave no parameter to train."
        )
    training_modules = [n for n in names if module_trains(n)]

    def fully_frozen(name: str) -> bool:
        prefix = name + "."
        return not module_trains(name) and not any(t.startswith(prefix) for t in training_modules)

    frozen_top: list[str] = []
    for name in names:
        parent = name.rpartition(".")[0]
        if fully_frozen(name) and not (parent and fully_frozen(parent)):
            frozen_top.append(name)
    encoders = getattr(model, "encoders", None)
    encoders_frozen = False
    if isinstance(encoders, nn.Module):
        enc_params = [n for n, _ in model.named_parameters() if n.startswith("encoders.")]
        keep = set(trainable)
        encoders_frozen = not any(n in keep for n in enc_params)
    return StagePlan(
        trainable=tuple(trainable),
        frozen_modules=tuple(frozen_top),
        encoders_frozen=encoders_frozen,
    )
