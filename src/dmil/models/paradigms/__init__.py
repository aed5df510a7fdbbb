"""Multimodal learning paradigms built on the same encoders: ``ensemble``, ``joint``,
``mlb``, ``i2m2`` and ``ogm-ge`` (see docs/paradigms.md)."""

from __future__ import annotations

from dmil.models.paradigms.common import Paradigm
from dmil.models.paradigms.ensemble import EnsembleModel
from dmil.models.paradigms.heads import ProbeHeads, fusion_head, linear_blocks
from dmil.models.paradigms.i2m2 import I2M2Model
from dmil.models.paradigms.joint import JointMLPModel, JointModel
from dmil.models.paradigms.mlb import MLBModel
from dmil.models.paradigms.ogm_ge import OGMGEModel, ogm_coefficients
from dmil.models.paradigms.registry import (
    available_methods,
    build_model,
    default_stages,
    has_learned_gate,
    register_method,
)

__all__ = [
    "EnsembleModel",
    "I2M2Model",
    "JointMLPModel",
    "JointModel",
    "MLBModel",
    "OGMGEModel",
    "Paradigm",
    "ProbeHeads",
    "available_methods",
    "build_model",
    "default_stages",
    "fusion_head",
    "has_learned_gate",
    "linear_blocks",
    "ogm_coefficients",
    "register_method",
]
