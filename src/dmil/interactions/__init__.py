"""Sample-level multimodal interactions: per-sample redundancy, uniqueness and synergy.

* :class:`InteractionEstimator` (``fit`` / ``transform``) gives an :class:`InteractionTable`;
* :mod:`~dmil.interactions.pointwise`: the measures (``ccs``, ``lsmi``) on tensors;
* :mod:`~dmil.interactions.reference`: exact values from a known joint distribution (PM,
  CCS, BROJA) and the dataset-level BROJA reference for discrete or discretised data.

The public names are imported on first access, so ``from dmil.interactions.pointwise
import MEASURES`` (what a command-line parser needs) imports neither the estimator nor
the reference solvers.
"""

import importlib
from typing import Any

#: Public name -> the submodule of ``dmil.interactions`` that defines it.
_LAZY: dict[str, str] = {
    "COMPONENTS": "table",
    "MEASURES": "pointwise",
    "InteractionEstimator": "estimator",
    "InteractionTable": "table",
    "NotFittedError": "checks",
    "broja_pid": "reference",
    "confusion_matrix": "table",
    "decompose": "pointwise",
    "discretized_broja": "reference",
    "exact_measure": "reference",
    "exact_pointwise": "reference",
    "lsmi_adjustment": "pointwise",
    "reference_pid": "reference",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dmil.interactions' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"dmil.interactions.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
