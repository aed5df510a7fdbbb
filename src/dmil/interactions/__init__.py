"""Sample-level multimodal interactions: per-sample redundancy, uniqueness and synergy.

* :class:`InteractionEstimator` (``fit`` / ``transform``) gives an :class:`InteractionTable`;
* :mod:`~dmil.interactions.pointwise`: the measures (``ccs``, ``lsmi``) on tensors;
* :mod:`~dmil.interactions.reference`: exact values from a known joint distribution (PM,
  CCS, BROJA) and the dataset-level BROJA reference for discrete or discretised data.
"""

from dmil.interactions.checks import NotFittedError
from dmil.interactions.estimator import InteractionEstimator
from dmil.interactions.pointwise import MEASURES, decompose, lsmi_adjustment
from dmil.interactions.reference import (
    broja_pid,
    discretized_broja,
    exact_measure,
    exact_pointwise,
    reference_pid,
)
from dmil.interactions.table import COMPONENTS, InteractionTable, confusion_matrix

__all__ = [
    "COMPONENTS",
    "MEASURES",
    "InteractionEstimator",
    "InteractionTable",
    "NotFittedError",
    "broja_pid",
    "confusion_matrix",
    "decompose",
    "discretized_broja",
    "exact_measure",
    "exact_pointwise",
    "lsmi_adjustment",
    "reference_pid",
]
