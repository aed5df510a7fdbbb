"""Models: encoders (registry by name), multimodal paradigms and DMIL."""

from __future__ import annotations

from dmil.models.base import ModelOutput, MultimodalModel
from dmil.models.dmil import DMIL
from dmil.models.encoders import available_encoders, create_encoder, register_encoder
from dmil.models.paradigms import (
    available_methods,
    build_model,
    default_stages,
    has_learned_gate,
    register_method,
)

__all__ = [
    "DMIL",
    "ModelOutput",
    "MultimodalModel",
    "available_encoders",
    "available_methods",
    "build_model",
    "create_encoder",
    "default_stages",
    "has_learned_gate",
    "register_encoder",
    "register_method",
]
