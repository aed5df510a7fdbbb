"""What every figure shares: the colour of each interaction type and the PNG writer.

matplotlib is imported only when a figure is saved.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from dmil.utils import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TYPE_COLOURS", "save_png"]

#: Colour of each interaction type (``U`` for the unique type of more than two modalities).
TYPE_COLOURS = {"R": "#4c72b0", "U1": "#55a868", "U2": "#c44e52", "U": "#55a868", "S": "#8172b2"}


def save_png(
    fig: Figure, path: str | os.PathLike[str], *, dpi: int = 120, tight: bool = True
) -> Path:
    """Write ``fig`` to ``path`` as a PNG, atomically, on an Agg canvas (no pyplot).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (given an Agg canvas if it has none).
    path : path
        Where the PNG goes.
    dpi : int
        Resolution.
    tight : bool
        Crop to the drawn content (``bbox_inches="tight"``, which renders twice); figures
        laid out with fixed margins pass ``False``.

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return Path(path)
