"""Pieces shared by the registered encoders: the base class with its input check,
build-time shape validation and the projection that ends every encoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["Encoder", "check_dropout", "check_positive_int", "normalise_shape", "projection"]


def check_positive_int(value: object, *, name: str, modality: str, encoder: str) -> int:
    """Return ``value`` as an ``int`` if it is a positive integer, else raise.

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If ``value`` is not positive.
    """
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(
            f"modality '{modality}': encoder '{encoder}' needs {name} to be a positive "
            f"integer; found {value!r} ({type(value).__name__})."
        )
    number = int(value)  # type: ignore[call-overload]
    if number < 1:
        raise ValueError(
            f"modality '{modality}': encoder '{encoder}' needs {name} >= 1; found {number}."
        )
    return number


def check_dropout(value: object, *, modality: str, encoder: str) -> float:
    """Return ``value`` as a float in ``[0, 1)`` or raise ``ValueError``."""
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = -1.0
    if not 0.0 <= rate < 1.0:
        raise ValueError(
            f"modality '{modality}': encoder '{encoder}' needs dropout in [0, 1); found {value!r}."
        )
    return rate


def normalise_shape(input_shape: Sequence[int], *, modality: str, encoder: str) -> tuple[int, ...]:
    """Turn ``input_shape`` (a tuple or list of positive ints, per sample) into a tuple.

    Raises
    ------
    TypeError
        If ``input_shape`` is not a sequence of integers.
    ValueError
        If a dimension is not positive.
    """
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise TypeError(
            f"modality '{modality}': encoder '{encoder}' needs input_shape as a tuple of "
            f"ints (the per-sample shape, without the batch axis); found "
            f"{type(input_shape).__name__}."
        )
    dims = []
    for dim in input_shape:
        if isinstance(dim, bool) or not hasattr(dim, "__index__"):
            raise TypeError(
                f"modality '{modality}': encoder '{encoder}' needs integer dimensions in "
                f"input_shape; found {tuple(input_shape)!r}."
            )
        dims.append(int(dim))
    if any(d < 1 for d in dims):
        raise ValueError(
            f"modality '{modality}': encoder '{encoder}' needs positive dimensions in "
            f"input_shape; found {tuple(dims)}."
        )
    return tuple(dims)


def projection(in_dim: int, out_dim: int) -> nn.Sequential:
    """``Linear -> LayerNorm -> ReLU``: the block mapping pooled features to the embedding."""
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.ReLU())


class Encoder(nn.Module):
    """Base class of the registered encoders.

    Subclasses set up their layers and implement :meth:`encode`; :meth:`forward` checks
    that the batch has the per-sample shape the encoder was built for and casts inputs of
    another dtype (integer codes, float64 features) to the dtype of its weights.

    Parameters
    ----------
    input_shape : tuple of int
        Per-sample input shape (without the batch axis).
    embed_dim : int
        Output width ``D``; also available as :attr:`out_dim`.
    modality : str
        Name of the modality the encoder serves (used in error messages).
    encoder : str
        Registry name of the encoder (used in error messages).
    """

    def __init__(
        self, *, input_shape: tuple[int, ...], embed_dim: int, modality: str, encoder: str
    ) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.out_dim = int(embed_dim)
        self.modality = str(modality)
        self.encoder_name = str(encoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` of shape ``(B, *input_shape)`` to ``(B, out_dim)``."""
        if tuple(x.shape[1:]) != self.input_shape or x.dim() != len(self.input_shape) + 1:
            raise ValueError(
                f"modality '{self.modality}': encoder '{self.encoder_name}' was built for "
                f"inputs of shape (B, {', '.join(map(str, self.input_shape))}); found a batch "
                f"of shape {tuple(x.shape)}. Rebuild the encoder with the data's shape."
            )
        weight = next(self.parameters(), None)
        dtype = torch.get_default_dtype() if weight is None else weight.dtype
        if x.dtype != dtype:
            # Integer codes, float64 features (NumPy's default) and the like enter in the
            # weights' dtype, so the layers never see mixed dtypes.
            x = x.to(dtype)
        return self.encode(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"modality={self.modality!r}, input_shape={self.input_shape}, out_dim={self.out_dim}"
