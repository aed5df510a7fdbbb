"""``cnn``: a small convolutional stack for 2-D inputs (images, spectrograms)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dmil.models.encoders.common import Encoder, check_dropout, check_positive_int, projection
from dmil.models.encoders.registry import register_encoder

__all__ = ["CNNEncoder", "image_geometry"]


def image_geometry(
    input_shape: tuple[int, ...], *, modality: str, encoder: str
) -> tuple[int, int, int]:
    """Return ``(C, H, W)`` for a ``(C, H, W)`` or ``(H, W)`` per-sample shape.

    Raises
    ------
    ValueError
        For any other rank, naming the modality, the encoder and both shapes.
    """
    if len(input_shape) == 3:
        return input_shape[0], input_shape[1], input_shape[2]
    if len(input_shape) == 2:
        return 1, input_shape[0], input_shape[1]
    raise ValueError(
        f"modality '{modality}': encoder '{encoder}' takes inputs of shape (C, H, W) or "
        f"(H, W); found input_shape {tuple(input_shape)}. Use 'mlp' for vectors, "
        "'transformer' for (T, F) sequences, or reshape the modality to an image."
    )


@register_encoder("cnn")
class CNNEncoder(Encoder):
    """Stages of ``Conv3x3 -> BatchNorm -> ReLU -> MaxPool``, global average pooling and a
    projection to ``embed_dim``.

    Each stage halves every spatial axis that is still at least 2 long, so the same
    settings work for 8x8 images and 40x126 spectrograms.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)``, or ``(H, W)`` which is treated as one channel.
    embed_dim : int
        Output width.
    modality : str
        Modality name for error messages.
    channels : sequence of int, default (32, 64, 128)
        Output channels of the stages.
    dropout : float, default 0.0
        Dropout on the pooled features before the projection.
    """

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        embed_dim: int,
        modality: str,
        channels: Sequence[int] = (32, 64, 128),
        dropout: float = 0.0,
    ) -> None:
        super().__init__(
            input_shape=input_shape, embed_dim=embed_dim, modality=modality, encoder="cnn"
        )
        in_ch, height, width = image_geometry(input_shape, modality=modality, encoder="cnn")
        widths = [
            check_positive_int(c, name="channels entries", modality=modality, encoder="cnn")
            for c in channels
        ]
        if not widths:
            raise ValueError(f"modality '{modality}': encoder 'cnn' needs at least one stage.")
        dropout = check_dropout(dropout, modality=modality, encoder="cnn")
        self._add_channel = len(input_shape) == 2
        layers: list[nn.Module] = []
        for out_ch in widths:
            layers += [
                nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True),
            ]
            pool = (2 if height >= 2 else 1, 2 if width >= 2 else 1)
            if pool != (1, 1):
                layers.append(nn.MaxPool2d(kernel_size=pool, stride=pool))
                height, width = height // pool[0], width // pool[1]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(float(dropout))
        self.head = projection(in_ch, embed_dim)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self._add_channel:
            x = x.unsqueeze(1)  # (B, H, W) -> (B, 1, H, W)
        h = self.features(x)  # (B, C', H', W')
        h = h.mean(dim=(2, 3))  # (B, C')
        return self.head(self.dropout(h))  # (B, D)
