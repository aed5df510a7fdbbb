"""Training engine on Lightning Fabric: settings, the loop, checkpoints.

The public names are imported on first access (module ``__getattr__``), so that
``import dmil.training.config`` -- all a command-line parser needs -- does not import
Lightning. To add a public name, add it to ``_LAZY`` (name -> submodule) and ``__all__``.
"""

import importlib
from typing import Any

#: Public name -> the submodule of ``dmil.training`` that defines it.
_LAZY: dict[str, str] = {
    "CHECKPOINT_KEYS": "checkpoint",
    "FitResult": "loop",
    "TrainConfig": "config",
    "build_fabric": "fabric",
    "check_stages": "loop",
    "fit": "loop",
    "load_state_into": "checkpoint",
    "read_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "seed_everything": "fabric",
    "validate": "loop",
}

__all__ = [
    "CHECKPOINT_KEYS",
    "FitResult",
    "TrainConfig",
    "build_fabric",
    "check_stages",
    "fit",
    "load_state_into",
    "read_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dmil.training' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"dmil.training.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
