"""Fixtures shared by every test directory."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture()
def one_thread():
    """One torch thread for the test (small models on a shared machine run fastest and
    most predictably that way), the previous setting restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
