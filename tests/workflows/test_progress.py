"""The run's progress lines: the time left uses each kind of step's measured duration."""

from __future__ import annotations

import io

import pytest

from dmil.workflows.study import Progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run_step(progress: Progress, clock: FakeClock, seconds: float) -> None:
    progress.begin("step")
    clock.now += seconds
    progress.end()


def test_time_left_uses_each_kinds_measured_duration_once_it_has_run():
    clock, stream = FakeClock(), io.StringIO()
    # Two seeds of: estimate interactions (weight 1), joint (4), dmil (4).
    kinds = ["interactions", "joint", "dmil"] * 2
    progress = Progress([1, 4, 4] * 2, kinds, stream=stream, clock=clock)
    assert progress.left() is None
    _run_step(progress, clock, 10.0)  # the estimate is slow for its weight: 10 s
    progress.begin("joint")
    # Nothing but the estimate measured: 10 s per unit of weight for unseen kinds.
    assert progress.left() == pytest.approx(40 + 40 + 10 + 40 + 40)
    clock.now += 2.0
    progress.end()
    _run_step(progress, clock, 6.0)  # dmil
    progress.begin("interactions, seed 1")
    # Every kind measured: the second seed takes what the first took.
    assert progress.left() == pytest.approx(10 + 2 + 6)
    assert "about 0:18 left" in stream.getvalue().splitlines()[-1]


def test_kinds_must_match_the_steps():
    with pytest.raises(ValueError, match="3 step weights but 2 kinds"):
        Progress([1, 1, 1], ["a", "b"], stream=None)
