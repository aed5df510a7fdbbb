"""The run's progress lines: the time left uses each kind of step's measured duration."""

from __future__ import annotations

import io

import pytest

from dmil.workflows.study import Progress

ESTIMATE = ("interactions", "")


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
    kinds = [ESTIMATE, ("train", "joint"), ("train", "dmil")] * 2
    progress = Progress([1, 4, 4] * 2, kinds, stream=stream, clock=clock)
    assert progress.left() is None
    _run_step(progress, clock, 10.0)  # the estimate is slow for its weight: 10 s
    # Between steps too: no training step yet, so 10 s per unit of weight for them.
    assert progress.left() == pytest.approx(40 + 40 + 10 + 40 + 40)
    _run_step(progress, clock, 2.0)  # joint: 0.5 s per unit of weight
    progress.begin("dmil")
    # dmil not measured: the training steps' rate (joint's), not the slow estimate's.
    assert progress.left() == pytest.approx(2 + 10 + 2 + 2)
    clock.now += 6.0
    progress.end()
    progress.begin("interactions, seed 1")
    # Every kind measured: the second seed takes what the first took.
    assert progress.left() == pytest.approx(10 + 2 + 6)
    assert "about 0:18 left" in stream.getvalue().splitlines()[-1]


def test_without_kinds_every_step_is_its_own_kind_at_the_overall_rate():
    clock = FakeClock()
    progress = Progress([1, 2, 3], stream=None, clock=clock)
    _run_step(progress, clock, 4.0)
    assert progress.left() == pytest.approx(4 * (2 + 3))
    _run_step(progress, clock, 2.0)
    assert progress.left() == pytest.approx(2 * 3)
    _run_step(progress, clock, 1.0)
    assert progress.left() == 0.0


def test_zero_weights_and_misuse():
    clock = FakeClock()
    progress = Progress([0, 0], stream=None, clock=clock)
    _run_step(progress, clock, 3.0)
    assert progress.left() == 0.0  # no rate from zero weight; the rest weighs nothing
    with pytest.raises(RuntimeError, match="end\\(\\) without begin\\(\\)"):
        progress.end()
    with pytest.raises(ValueError, match="3 step weights but 2 kinds"):
        Progress([1, 1, 1], [ESTIMATE, ESTIMATE], stream=None)


def test_a_note_is_a_line_of_its_own_and_not_a_step():
    clock, stream = FakeClock(), io.StringIO()
    progress = Progress([1, 1], stream=stream, clock=clock)
    progress.note("load the training engine")
    clock.now += 5.0  # untimed work between steps
    _run_step(progress, clock, 2.0)
    assert stream.getvalue().splitlines()[0] == "      load the training engine"
    assert progress.left() == pytest.approx(2.0)  # the note's 5 s count for no step
