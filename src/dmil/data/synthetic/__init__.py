"""Synthetic suites with known per-sample interactions (``make_*`` generators)."""
