"""scikit-learn's bundled 8x8 handwritten digits, cut into image parts as modalities.

``digits-halves`` splits each image into its top and bottom halves (rows 0-3, rows 4-7),
``digits-quadrants`` into four 4x4 quadrants. Every part is a flat float32 vector in
row-major pixel order (32 values per half, 16 per quadrant) with the stored intensities
0..16 kept as they are (converted from float64 to float32, not rescaled). No files are
needed: the images ship with scikit-learn (1797 samples, 10 classes).
"""

from __future__ import annotations

import numpy as np

from dmil.data.container import MultimodalDataset
from dmil.data.real._files import to_float32
from dmil.data.registry import register_dataset

__all__ = ["digit_images", "load_digits_halves", "load_digits_quadrants"]

DIGITS_SOURCE = "scikit-learn bundled digits (sklearn.datasets.load_digits)"
DIGIT_CLASS_NAMES = tuple(str(d) for d in range(10))


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The bundled digit images and labels.

    Returns
    -------
    images : float32 array of shape (1797, 8, 8)
        Pixel intensities 0..16.
    labels : int64 array of shape (1797,)
        Digits 0..9.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = to_float32(bunch.images, what="sklearn digits images")
    return images, np.asarray(bunch.target, dtype=np.int64)


@register_dataset(
    "digits-halves",
    description="8x8 handwritten digits, top half and bottom half as two modalities "
    "(32 pixels each); bundled with scikit-learn.",
    source=DIGITS_SOURCE,
    needs_files=False,
)
def load_digits_halves() -> MultimodalDataset:
    """Top and bottom halves of the bundled digits.

    Returns
    -------
    MultimodalDataset
        ``top`` (N, 32) and ``bottom`` (N, 32) float32, rows 0-3 and 4-7 of each image,
        flattened row-major; N = 1797, 10 classes ``"0".."9"``.
    """
    images, labels = digit_images()
    n = images.shape[0]
    return MultimodalDataset(
        {
            "top": images[:, :4, :].reshape(n, 32),
            "bottom": images[:, 4:, :].reshape(n, 32),
        },
        labels,
        class_names=DIGIT_CLASS_NAMES,
        name="digits-halves",
        source=DIGITS_SOURCE,
        metadata={"pixel_range": (0.0, 16.0), "part_shape": (4, 8)},
    )


@register_dataset(
    "digits-quadrants",
    description="8x8 handwritten digits, the four 4x4 quadrants as four modalities "
    "(16 pixels each); bundled with scikit-learn.",
    source=DIGITS_SOURCE,
    needs_files=False,
)
def load_digits_quadrants() -> MultimodalDataset:
    """The four 4x4 quadrants of the bundled digits.

    Returns
    -------
    MultimodalDataset
        ``top_left``, ``top_right``, ``bottom_left``, ``bottom_right``, each (N, 16)
        float32, flattened row-major; N = 1797, 10 classes ``"0".."9"``.
    """
    images, labels = digit_images()
    n = images.shape[0]
    parts = {
        "top_left": images[:, :4, :4],
        "top_right": images[:, :4, 4:],
        "bottom_left": images[:, 4:, :4],
        "bottom_right": images[:, 4:, 4:],
    }
    return MultimodalDataset(
        {k: np.ascontiguousarray(v).reshape(n, 16) for k, v in parts.items()},
        labels,
        class_names=DIGIT_CLASS_NAMES,
        name="digits-quadrants",
        source=DIGITS_SOURCE,
        metadata={"pixel_range": (0.0, 16.0), "part_shape": (4, 4)},
    )
