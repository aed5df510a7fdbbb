"""DMIL: the decomposition model and its ablations (see :mod:`dmil.models.dmil.model`)."""

from __future__ import annotations

from dmil.models.dmil.layers import (
    Gaussian,
    LinearCode,
    VariationalBottleneck,
    gaussian_kl,
    prior_kl,
)
from dmil.models.dmil.model import DMIL, DMILCD, DMILFC, DMILID, LOSS_TERMS, VARIANTS, DMILMean

__all__ = [
    "DMIL",
    "DMILCD",
    "DMILFC",
    "DMILID",
    "LOSS_TERMS",
    "VARIANTS",
    "DMILMean",
    "Gaussian",
    "LinearCode",
    "VariationalBottleneck",
    "gaussian_kl",
    "prior_kl",
]
