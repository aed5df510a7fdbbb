"""Synthetic suites with known per-sample interactions (``make_*`` generators)."""

from dmil.data.synthetic.bitwise import (
    make_and,
    make_bitwise,
    make_or,
    make_redundant,
    make_unique,
    make_xor,
)

__all__ = [
    "make_and",
    "make_bitwise",
    "make_or",
    "make_redundant",
    "make_unique",
    "make_xor",
]
