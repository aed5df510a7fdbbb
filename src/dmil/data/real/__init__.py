"""Loaders for real multimodal datasets (files under the data directory, or bundled).

Importing this package registers every loader with :mod:`dmil.data.registry`:
``digits-halves``, ``digits-quadrants`` (bundled with scikit-learn), ``mfeat``,
``rosmap``, ``scene15``, ``cub``, ``av-digits``, ``ccv``, ``tcga-brca`` and
``mustard-text`` (extra ``text``).
File layouts, shapes and checksums follow the data directory's MANIFEST.md.
"""

from dmil.data.real import (
    av_digits,
    ccv,
    cub,
    digits,
    mfeat,
    mustard,
    rosmap,
    scene15,
    tcga_brca,
)
from dmil.data.real.av_digits import load_av_digits
from dmil.data.real.ccv import load_ccv
from dmil.data.real.cub import load_cub
from dmil.data.real.digits import load_digits_halves, load_digits_quadrants
from dmil.data.real.mfeat import load_mfeat
from dmil.data.real.mustard import load_mustard_text
from dmil.data.real.rosmap import load_rosmap
from dmil.data.real.scene15 import load_scene15
from dmil.data.real.tcga_brca import load_tcga_brca

__all__ = [
    "av_digits",
    "ccv",
    "cub",
    "digits",
    "load_av_digits",
    "load_ccv",
    "load_cub",
    "load_digits_halves",
    "load_digits_quadrants",
    "load_mfeat",
    "load_mustard_text",
    "load_rosmap",
    "load_scene15",
    "load_tcga_brca",
    "mfeat",
    "mustard",
    "rosmap",
    "scene15",
    "tcga_brca",
]
