"""Shared fixtures for the training tests: one torch thread (small models on a shared
machine run fastest and most predictably that way) and tiny datasets."""

from __future__ import annotations

import pytest

from dmil.data import load, split_dataset


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every training test runs with one torch thread (tests/conftest.py)."""


@pytest.fixture(scope="session")
def tiny_mixed_splits():
    """synthetic-mixed with 480 samples (4 classes, all four mechanisms), split 70/15/15."""
    data = load("synthetic-mixed", n_samples=480, random_state=0)
    return split_dataset(data, random_state=0)
