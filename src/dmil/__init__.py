"""dmil: decomposition-based multimodal interaction learning.

Subpackages, in the direction data flows:

* :mod:`dmil.data`: the dataset container, splits, file formats, synthetic suites, loaders;
* :mod:`dmil.interactions`: the per-sample interaction estimator and reference PIDs;
* :mod:`dmil.models`: encoders and multimodal paradigms;
* :mod:`dmil.training`: the Lightning Fabric training engine;
* :mod:`dmil.evaluation`: metrics, per-interaction breakdown, whole experiments;
* :mod:`dmil.report`: plots.

Every subpackage is imported on first attribute access (or an explicit
``import dmil.<name>``), so that ``import dmil`` stays quick and a command imports only
what it uses.
"""

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = ("data", "evaluation", "interactions", "models", "report", "training")

__all__ = ["__version__", "data", "evaluation", "interactions", "models", "report", "training"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"dmil.{name}")
    raise AttributeError(f"module 'dmil' has no attribute '{name}'")
