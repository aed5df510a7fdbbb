"""Synthetic suites with known interactions (``make_*`` generators).

* :mod:`~dmil.data.synthetic.bitwise`: two bits and a binary label (xor, and, or, unique,
  redundant) with the exact joint distribution and BROJA PID;
* :mod:`~dmil.data.synthetic.gaussian`: Gaussian classes with noise correlated across
  the two modalities;
* :mod:`~dmil.data.synthetic.mixed`: the main benchmark, every sample made by one known
  mechanism (R, U1, U2 or S) through random nonlinear maps.

Importing this package registers every generator with :func:`dmil.data.load`.
"""

from dmil.data.synthetic.bitwise import (
    make_and,
    make_bitwise,
    make_or,
    make_redundant,
    make_unique,
    make_xor,
)
from dmil.data.synthetic.gaussian import make_gaussian
from dmil.data.synthetic.mixed import make_mixed

__all__ = [
    "make_and",
    "make_bitwise",
    "make_gaussian",
    "make_mixed",
    "make_or",
    "make_redundant",
    "make_unique",
    "make_xor",
]
