"""``transformer``: a Transformer encoder over a sequence of feature vectors."""

from __future__ import annotations

import torch
from torch import nn

from dmil.models.encoders.common import (
    Encoder,
    check_dropout,
    check_positive_int,
    projection,
)
from dmil.models.encoders.registry import register_encoder

__all__ = ["TransformerEncoder"]

POOLINGS = ("mean", "cls")


@register_encoder("transformer")
class TransformerEncoder(Encoder):
    """Linear token projection, learned positional embedding, pre-norm Transformer layers
    (``nn.TransformerEncoder``, batch first), mean or CLS pooling and a projection.

    Parameters
    ----------
    input_shape : tuple of int
        ``(T, F)``: ``T`` steps of ``F`` features. Vectors ``(F,)`` are refused (use
        ``mlp``); reshape them to ``(T, F)`` if they are a sequence.
    embed_dim : int
        Output width.
    modality : str
        Modality name for error messages.
    d_model : int, default 64
        Token width inside the Transformer.
    n_heads : int, default 4
        Attention heads; must divide ``d_model``.
    n_layers : int, default 2
        Number of Transformer layers.
    dim_feedforward : int or None, default None
        Width of the feed-forward sublayer (``4 * d_model`` when ``None``).
    dropout : float, default 0.1
        Dropout inside the layers.
    pooling : {"mean", "cls"}, default "mean"
        Mean over the tokens or a learned CLS token prepended to the sequence.
    """

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        embed_dim: int,
        modality: str,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        dim_feedforward: int | None = None,
        dropout: float = 0.1,
        pooling: str = "mean",
    ) -> None:
        super().__init__(
            input_shape=input_shape, embed_dim=embed_dim, modality=modality, encoder="transformer"
        )
        if len(input_shape) != 2:
            raise ValueError(
                f"modality '{modality}': encoder 'transformer' takes sequences of shape "
                f"(T, F); found input_shape {tuple(input_shape)}. Use 'mlp' for vectors (F,) "
                "and 'cnn' or 'resnet18' for images (C, H, W)."
            )
        kw = {"modality": modality, "encoder": "transformer"}
        d_model = check_positive_int(d_model, name="d_model", **kw)
        n_heads = check_positive_int(n_heads, name="n_heads", **kw)
        n_layers = check_positive_int(n_layers, name="n_layers", **kw)
        if d_model % n_heads:
            raise ValueError(
                f"modality '{modality}': encoder 'transformer' needs d_model divisible by "
                f"n_heads; found d_model={d_model}, n_heads={n_heads}."
            )
        if pooling not in POOLINGS:
            raise ValueError(
                f"modality '{modality}': transformer pooling must be one of {POOLINGS}; "
                f"found {pooling!r}."
            )
        dropout = check_dropout(dropout, **kw)
        ff = (
            4 * d_model
            if dim_feedforward is None
            else check_positive_int(dim_feedforward, name="dim_feedforward", **kw)
        )
        steps, features = input_shape
        self.pooling = pooling
        n_tokens = steps + (1 if pooling == "cls" else 0)
        self.token = nn.Linear(features, d_model)
        self.position = nn.Parameter(torch.zeros(1, n_tokens, d_model))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.cls: nn.Parameter | None = None
        if pooling == "cls":
            self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
            nn.init.trunc_normal_(self.cls, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model,
            n_heads,
            dim_feedforward=ff,
            dropout=float(dropout),
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = projection(d_model, embed_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.token(x)  # (B, T, d_model)
        if self.cls is not None:
            cls = self.cls.expand(tokens.shape[0], -1, -1)
            tokens = torch.cat([cls, tokens], dim=1)  # (B, T + 1, d_model)
        h = self.norm(self.layers(tokens + self.position))
        pooled = h[:, 0] if self.cls is not None else h.mean(dim=1)  # (B, d_model)
        return self.head(pooled)  # (B, D)
