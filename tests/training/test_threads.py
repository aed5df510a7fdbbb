"""The CPU thread default that every computing command applies."""

from __future__ import annotations

import pytest
import torch

from dmil.cli import build_parser
from dmil.training.fabric import DEFAULT_CPU_THREADS, configure_threads


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_configure_threads_applies_the_default_or_the_flag() -> None:
    assert configure_threads(None, "train") == DEFAULT_CPU_THREADS == 1
    assert torch.get_num_threads() == 1
    assert configure_threads(2, "estimate") == 2 == torch.get_num_threads()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_configure_threads_rejects_non_positive_integers(bad) -> None:
    with pytest.raises(ValueError, match="dmil evaluate --num-threads: expected a positive"):
        configure_threads(bad, "evaluate")


@pytest.mark.parametrize("command", ["train", "estimate", "evaluate"])
def test_every_computing_command_has_num_threads(command: str) -> None:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    assert "--num-threads" in sub._option_string_actions
