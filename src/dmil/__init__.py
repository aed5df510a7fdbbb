"""dmil: decomposition-based multimodal interaction learning."""

import logging

from dmil import data

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__", "data"]
