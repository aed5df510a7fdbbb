"""Paradigms by name: :func:`build_model` and :func:`available_methods`."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from dmil.models.base import MultimodalModel
from dmil.models.encoders import create_encoder
from dmil.models.encoders.common import normalise_shape
from dmil.models.paradigms.common import Paradigm
from dmil.models.paradigms.ensemble import EnsembleModel
from dmil.models.paradigms.i2m2 import I2M2Model
from dmil.models.paradigms.joint import JointMLPModel, JointModel
from dmil.models.paradigms.mlb import MLBModel
from dmil.models.paradigms.ogm_ge import OGMGEModel

__all__ = [
    "available_methods",
    "build_model",
    "default_stages",
    "has_learned_gate",
    "register_method",
]

_METHODS: dict[str, type[Paradigm]] = {
    "ensemble": EnsembleModel,
    "joint": JointModel,
    "joint-mlp": JointMLPModel,
    "mlb": MLBModel,
    "i2m2": I2M2Model,
    "ogm-ge": OGMGEModel,
}

EncoderSpec = str | nn.Module


def register_method(name: str) -> Callable[[type[Paradigm]], type[Paradigm]]:
    """Decorator registering a :class:`~dmil.models.paradigms.common.Paradigm` subclass
    under ``name``; :func:`build_model` calls its ``from_factory``. A class whose
    prediction is a learned gate over components sets ``learned_gate = True``.

    Raises
    ------
    ValueError
        If ``name`` is empty or already taken by another class.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"method names must be non-empty strings; found {name!r}.")
    key = name.lower()

    def decorator(cls: type[Paradigm]) -> type[Paradigm]:
        if key in _METHODS and _METHODS[key] is not cls:
            raise ValueError(f"a method named '{key}' is already registered.")
        _METHODS[key] = cls
        return cls

    return decorator


def available_methods() -> list[str]:
    """Names of the registered paradigms (``ensemble``, ``i2m2``, ``joint``, ``mlb``,
    ``ogm-ge``, ...), sorted."""
    return sorted(_METHODS)


def _method_class(method: str) -> type[Paradigm]:
    if not isinstance(method, str):
        raise TypeError(f"method must be a string; found {type(method).__name__}.")
    key = method.lower().replace("_", "-")
    if key not in _METHODS:
        from dmil.utils import did_you_mean

        raise ValueError(
            f"unknown method '{method}'; known methods: {', '.join(available_methods())}."
            + did_you_mean(method, available_methods())
        )
    return _METHODS[key]


def has_learned_gate(method: str) -> bool:
    """Whether a method predicts through a learned per-sample gate over components (its
    class's ``learned_gate``): ``dmil``, ``dmil-fc``, ``dmil-id`` and ``dmil-cd``, not
    ``dmil-mean`` (a uniform average) or the gate-free paradigms. What ``dmil explain``,
    the report and the benchmark explain."""
    return bool(getattr(_method_class(method), "learned_gate", False))


def default_stages(method: str, encoder: EncoderSpec | Sequence[EncoderSpec] = "mlp") -> Any:
    """The stages a method trains with by default, or ``None`` for one-stage methods.

    A staged method's class provides them (``default_stages(encoder)``); DMIL and its
    ablations train in three stages. Scale them to a budget with
    :func:`dmil.training.stages.scale_stages`.

    Returns
    -------
    tuple of StageSpec or None
    """
    provider = getattr(_method_class(method), "default_stages", None)
    return None if provider is None else provider(encoder)


def _module_out_dim(module: nn.Module, input_shape: tuple[int, ...], modality: str) -> int:
    """``out_dim`` of a user encoder: its attribute, or the width of a probe forward."""
    out_dim = getattr(module, "out_dim", None)
    if isinstance(out_dim, int) and not isinstance(out_dim, bool) and out_dim > 0:
        return out_dim
    reference = next(iter(module.parameters()), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None else torch.get_default_dtype()
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros((2, *input_shape), device=device, dtype=dtype))
    except Exception as exc:
        raise ValueError(
            f"the encoder given for modality '{modality}' ({type(module).__name__}) failed on "
            f"a batch of shape (2, {', '.join(map(str, input_shape))}): {exc}"
        ) from exc
    finally:
        module.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"the encoder given for modality '{modality}' ({type(module).__name__}) must map "
            f"(B, ...) to (B, D); it returned {shape} for a batch of 2."
        )
    return int(out.shape[1])


#: Constructor arguments that build_model fills in itself.
_INTERNAL_ARGS = frozenset(
    {
        "self",
        "cls",
        "encoders",
        "joint_encoders",
        "make_encoders",
        "out_dims",
        "n_classes",
        "modality_names",
    }
)


def _method_settings(cls: type[Paradigm]) -> list[str]:
    """Keyword settings a paradigm accepts (its constructor's and ``from_factory``'s)."""
    names: set[str] = set()
    for function in (cls.__init__, cls.from_factory):
        for parameter in inspect.signature(function).parameters.values():
            if parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                continue
            names.add(parameter.name)
    return sorted(names - _INTERNAL_ARGS)


def _fresh_copy(module: nn.Module) -> nn.Module:
    """A deep copy with freshly initialised parameters where submodules allow it."""
    clone = copy.deepcopy(module)
    for sub in clone.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()
    return clone


def _normalise_encoder_kwargs(
    encoder_kwargs: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None, n: int
) -> list[dict[str, Any]]:
    if encoder_kwargs is None:
        return [{} for _ in range(n)]
    if isinstance(encoder_kwargs, Mapping):
        return [dict(encoder_kwargs) for _ in range(n)]
    if isinstance(encoder_kwargs, Sequence) and len(encoder_kwargs) == n:
        return [dict(kw or {}) for kw in encoder_kwargs]
    raise ValueError(
        f"encoder_kwargs must be a mapping (used for every modality) or a sequence of {n} "
        f"mappings (one per modality); found {encoder_kwargs!r}."
    )


def build_model(
    method: str,
    *,
    input_shapes: Sequence[Sequence[int]],
    n_classes: int,
    encoder: EncoderSpec | Sequence[EncoderSpec] = "mlp",
    embed_dim: int = 64,
    modality_names: Sequence[str] | None = None,
    encoder_kwargs: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = None,
    method_kwargs: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> MultimodalModel:
    """Build the paradigm ``method`` with one encoder per modality.

    Parameters
    ----------
    method : str
        One of :func:`available_methods` (``_`` and ``-`` are interchangeable).
    input_shapes : sequence of tuple of int
        Per-sample shape of each modality, ``M >= 2`` of them.
    n_classes : int
        Number of classes ``C >= 2``.
    encoder : str, nn.Module or sequence of them, default "mlp"
        A registered encoder name for every modality, or one entry per modality: a name or
        a user module mapping ``(B, *input_shape) -> (B, D)`` (its ``out_dim`` attribute
        is used, else a probe forward measures ``D``). Paradigms needing a second set of
        encoders (``i2m2``) deep-copy user modules and re-initialise them.
    embed_dim : int, default 64
        Output width of the registered encoders.
    modality_names : sequence of str, optional
        One name per modality (default ``x1, x2, ...``), used in errors.
    encoder_kwargs : mapping or sequence of mappings, optional
        Settings of the registered encoders (e.g. ``{"width": 0.25}`` for ``resnet18``),
        one mapping for all modalities or one per modality.
    method_kwargs : mapping, optional
        Settings of the paradigm (e.g. ``{"alpha": 0.1}`` for ``ogm-ge``); merged with
        ``**kwargs`` so both ``build_model(**config)`` with a stored ``method_kwargs``
        entry and plain keywords work.
    **kwargs
        Further paradigm settings.

    Returns
    -------
    MultimodalModel
        ``model(inputs)`` with ``inputs`` a list of ``M`` tensors ``(B, *input_shape)``
        returns a :class:`~dmil.models.base.ModelOutput` with ``logits`` (B, C) and,
        where the paradigm has unimodal heads, ``modality_logits`` (M tensors (B, C)).

    Raises
    ------
    ValueError
        For an unknown method or encoder name (listing the known ones), an encoder that
        cannot take a modality's shape (naming the modality), or inconsistent lengths.
    """
    cls = _method_class(method)
    settings = dict(method_kwargs or {})
    overlap = sorted(set(settings) & set(kwargs))
    if overlap:
        raise ValueError(
            f"method settings {overlap} were given both in method_kwargs and as keywords; "
            "give each once."
        )
    settings.update(kwargs)
    accepted = _method_settings(cls)
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        raise ValueError(
            f"method '{method}' does not take the settings {unknown}; it takes: "
            f"{', '.join(accepted) if accepted else 'no settings'}."
        )
    if isinstance(input_shapes, (str, bytes)) or not isinstance(input_shapes, Sequence):
        raise TypeError(
            f"input_shapes must be a sequence of per-modality shapes; found "
            f"{type(input_shapes).__name__}."
        )
    n = len(input_shapes)
    if n < 2:
        raise ValueError(f"input_shapes must describe at least 2 modalities; found {n}.")
    if isinstance(modality_names, str):
        raise TypeError(
            f"modality_names must be a sequence of {n} names; found the string {modality_names!r}."
        )
    if modality_names is None:
        names = [f"x{i + 1}" for i in range(n)]
    else:
        names = [str(name) for name in modality_names]
        if len(names) != n or len(set(names)) != n:
            raise ValueError(
                f"modality_names must hold {n} distinct names (one per input shape); "
                f"found {list(modality_names)}."
            )
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2; found {n_classes!r}.")
    if isinstance(encoder, nn.ModuleList):
        encoder = list(encoder)
    if isinstance(encoder, (str, nn.Module)):
        specs: list[EncoderSpec] = [encoder] * n
    elif isinstance(encoder, Sequence) and len(encoder) == n:
        specs = list(encoder)
    else:
        raise ValueError(
            f"encoder must be a name, a module, or a sequence of {n} names/modules (one per "
            f"modality); found {encoder!r}."
        )
    if isinstance(encoder, nn.Module):  # n >= 2 modalities here
        raise ValueError(
            "one nn.Module cannot serve several modalities; pass one module per modality."
        )
    shapes = [
        normalise_shape(shape, modality=name, encoder=spec if isinstance(spec, str) else "user")
        for shape, name, spec in zip(input_shapes, names, specs, strict=True)
    ]
    per_modality_kwargs = _normalise_encoder_kwargs(encoder_kwargs, n)
    calls = {"count": 0}

    def make_encoders() -> list[nn.Module]:
        fresh = calls["count"] > 0
        calls["count"] += 1
        modules: list[nn.Module] = []
        for spec, shape, name, kw in zip(specs, shapes, names, per_modality_kwargs, strict=True):
            if isinstance(spec, str):
                modules.append(
                    create_encoder(
                        spec, input_shape=shape, embed_dim=embed_dim, modality=name, **kw
                    )
                )
            elif isinstance(spec, nn.Module):
                modules.append(_fresh_copy(spec) if fresh else spec)
            else:
                raise TypeError(
                    f"the encoder for modality '{name}' must be a registered name or an "
                    f"nn.Module; found {type(spec).__name__}."
                )
        return modules

    first = make_encoders()
    out_dims = [
        _module_out_dim(module, shape, name)
        for module, shape, name in zip(first, shapes, names, strict=True)
    ]
    handed_out = {"first": False}

    def factory() -> list[nn.Module]:
        if not handed_out["first"]:
            handed_out["first"] = True
            return first
        return make_encoders()

    return cls.from_factory(
        factory, out_dims=out_dims, n_classes=n_classes, modality_names=names, **settings
    )
