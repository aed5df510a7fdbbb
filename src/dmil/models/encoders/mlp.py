"""``mlp``: a multilayer perceptron over the flattened input."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from dmil.models.encoders.common import Encoder, check_dropout, check_positive_int
from dmil.models.encoders.registry import register_encoder

__all__ = ["MLPEncoder"]


@register_encoder("mlp")
class MLPEncoder(Encoder):
    """Flatten ``(B, ...)`` and apply ``Linear -> LayerNorm -> ReLU (-> Dropout)`` blocks.

    LayerNorm (not BatchNorm) keeps the encoder independent of the batch: it behaves the
    same for a batch of one, in training and evaluation, and on every DDP rank.

    Parameters
    ----------
    input_shape : tuple of int
        Any per-sample shape of rank >= 1; it is flattened to ``prod(input_shape)``.
    embed_dim : int
        Output width (the last block's width).
    modality : str
        Modality name for error messages.
    hidden_dims : sequence of int, default (128,)
        Widths of the hidden blocks before the output block; ``()`` gives one block.
    dropout : float, default 0.0
        Dropout after each hidden block (not after the output block).
    """

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        embed_dim: int,
        modality: str,
        hidden_dims: Sequence[int] = (128,),
        dropout: float = 0.0,
    ) -> None:
        super().__init__(
            input_shape=input_shape, embed_dim=embed_dim, modality=modality, encoder="mlp"
        )
        if len(input_shape) < 1:
            raise ValueError(
                f"modality '{modality}': encoder 'mlp' takes inputs of shape (F,) or any "
                f"(d1, d2, ...) to flatten; found input_shape {tuple(input_shape)} (a scalar "
                "per sample). Give each sample at least one feature axis."
            )
        dropout = check_dropout(dropout, modality=modality, encoder="mlp")
        widths = [
            check_positive_int(w, name="hidden_dims entries", modality=modality, encoder="mlp")
            for w in hidden_dims
        ]
        layers: list[nn.Module] = [nn.Flatten(start_dim=1)]
        in_dim = math.prod(input_shape)
        for width in widths:
            layers += [nn.Linear(in_dim, width), nn.LayerNorm(width), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            in_dim = width
        layers += [nn.Linear(in_dim, embed_dim), nn.LayerNorm(embed_dim), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, ...) -> (B, D)
