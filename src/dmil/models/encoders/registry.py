"""Encoders by name: :func:`create_encoder`, :func:`available_encoders` and the
:func:`register_encoder` decorator that the encoder modules use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from dmil.models.encoders.common import check_positive_int, normalise_shape

__all__ = ["available_encoders", "create_encoder", "register_encoder"]

EncoderFactory = Callable[..., nn.Module]

_REGISTRY: dict[str, EncoderFactory] = {}


def register_encoder(name: str) -> Callable[[EncoderFactory], EncoderFactory]:
    """Decorator registering an encoder class or factory under ``name``.

    The factory is called as ``factory(input_shape=..., embed_dim=..., modality=...,
    **kwargs)`` and must return a module mapping ``(B, *input_shape)`` to
    ``(B, embed_dim)`` with an ``out_dim`` attribute. It should raise ``ValueError``
    naming the modality when it cannot take ``input_shape``.

    Raises
    ------
    ValueError
        If ``name`` is empty or already registered.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"encoder names must be non-empty strings; found {name!r}.")
    key = name.lower()

    def decorator(factory: EncoderFactory) -> EncoderFactory:
        if key in _REGISTRY and _REGISTRY[key] is not factory:
            raise ValueError(
                f"an encoder named '{key}' is already registered; choose another name."
            )
        _REGISTRY[key] = factory
        return factory

    return decorator


def available_encoders() -> list[str]:
    """Names of the registered encoders, sorted."""
    return sorted(_REGISTRY)


def create_encoder(
    name: str,
    *,
    input_shape: Sequence[int],
    embed_dim: int = 64,
    modality: str = "x",
    **kwargs: Any,
) -> nn.Module:
    """Build the encoder registered as ``name`` for one modality.

    Parameters
    ----------
    name : str
        Registry name (see :func:`available_encoders`): ``"mlp"``, ``"cnn"``,
        ``"resnet18"`` or ``"transformer"``.
    input_shape : tuple of int
        Per-sample shape of the modality (without the batch axis).
    embed_dim : int, default 64
        Output width ``D``.
    modality : str, default "x"
        Modality name, quoted in error messages.
    **kwargs
        Encoder-specific settings (e.g. ``hidden_dims`` for ``mlp``, ``width`` for
        ``resnet18``).

    Returns
    -------
    nn.Module
        Maps ``(B, *input_shape)`` to ``(B, embed_dim)``; ``module.out_dim == embed_dim``.

    Raises
    ------
    ValueError
        If ``name`` is unknown (the message lists the known names) or the encoder cannot
        take ``input_shape`` (the message names the modality, the encoder and the shapes).
    """
    if not isinstance(name, str):
        raise TypeError(f"encoder name must be a string; found {type(name).__name__}.")
    key = name.lower()
    if key not in _REGISTRY:
        from dmil.utils import did_you_mean

        raise ValueError(
            f"unknown encoder '{name}' for modality '{modality}'; "
            f"known encoders: {', '.join(available_encoders())}."
            + did_you_mean(name, available_encoders())
        )
    shape = normalise_shape(input_shape, modality=modality, encoder=key)
    dim = check_positive_int(embed_dim, name="embed_dim", modality=modality, encoder=key)
    return _REGISTRY[key](input_shape=shape, embed_dim=dim, modality=str(modality), **kwargs)
