"""A `dmil train` process killed with SIGKILL mid-run and resumed with --resume ends
exactly where an uninterrupted run with the same seed ends.

Tolerance: none. On the CPU with fixed seeds, the per-epoch permutation derived from
(seed, epoch) and every generator state restored from last.ckpt, the resumed run
repeats the uninterrupted computation operation for operation, so metrics, predictions
and weights are compared for equality.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from dmil.training import read_checkpoint

EPOCHS = 12
ARGS = [
    "train",
    "--dataset",
    "synthetic-mixed",
    "--data-option",
    "n_samples=2000",
    "--method",
    "joint",
    "--embed-dim",
    "32",
    "--epochs",
    str(EPOCHS),
    "--batch-size",
    "16",
    "--patience",
    "0",
    "--seed",
    "5",
    "--device",
    "cpu",
    "--num-threads",
    "1",
    "--no-progress",
]


def _cli(out, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dmil.cli", *ARGS, "--out", str(out), *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _rows(path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if "second" not in k} for r in rows]


@pytest.mark.slow
def test_killed_then_resumed_run_matches_uninterrupted_run(tmp_path):
    full, broken = tmp_path / "full", tmp_path / "broken"
    subprocess.run(_cli(full), check=True, env=_env(), capture_output=True, timeout=300)

    proc = subprocess.Popen(
        _cli(broken), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while len(_rows(broken / "metrics.csv")) < 3:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "no epoch finished in time"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed_at = read_checkpoint(broken / "last.ckpt")["epoch"]
    assert 3 <= killed_at < EPOCHS, f"the kill came too late (epoch {killed_at})"
    assert not (broken / "metrics.json").exists()

    subprocess.run(
        _cli(broken, "--resume"), check=True, env=_env(), capture_output=True, timeout=300
    )
    a = json.loads((full / "metrics.json").read_text())
    b = json.loads((broken / "metrics.json").read_text())
    assert b["test"] == a["test"]
    assert b["val"] == a["val"]
    assert b["epochs_run"] == a["epochs_run"] == EPOCHS
    assert b["best_epoch"] == a["best_epoch"]
    assert (broken / "predictions.csv").read_text() == (full / "predictions.csv").read_text()
    assert _without_timing(_rows(broken / "metrics.csv")) == _without_timing(
        _rows(full / "metrics.csv")
    )
    wa = read_checkpoint(full / "best.ckpt")["model"]
    wb = read_checkpoint(broken / "best.ckpt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
