"""Encoders by name. Each maps ``(B, *input_shape)`` to ``(B, embed_dim)`` and exposes
``out_dim``:

- ``mlp``: flattened input, ``Linear -> LayerNorm -> ReLU`` blocks (any input rank);
- ``cnn``: a small Conv-BatchNorm-ReLU-MaxPool stack with global average pooling for
  ``(C, H, W)`` or ``(H, W)`` inputs;
- ``resnet18``: a ResNet-18-style network (BasicBlock, ``[2, 2, 2, 2]``) for the same
  2-D inputs, with a small-input stem;
- ``transformer``: a Transformer encoder for ``(T, F)`` sequences.

Any ``nn.Module`` mapping ``(B, ...)`` to ``(B, D)`` can be used in their place.
"""

from __future__ import annotations

from dmil.models.encoders.cnn import CNNEncoder
from dmil.models.encoders.common import Encoder
from dmil.models.encoders.mlp import MLPEncoder
from dmil.models.encoders.registry import available_encoders, create_encoder, register_encoder
from dmil.models.encoders.resnet import BasicBlock, ResNet18Encoder
from dmil.models.encoders.transformer import TransformerEncoder

__all__ = [
    "BasicBlock",
    "CNNEncoder",
    "Encoder",
    "MLPEncoder",
    "ResNet18Encoder",
    "TransformerEncoder",
    "available_encoders",
    "create_encoder",
    "register_encoder",
]
