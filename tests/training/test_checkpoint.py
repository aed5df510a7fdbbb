"""Checkpoints: exact layout, loud failures, atomic writes, generator states."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from dmil.training import TrainConfig, build_fabric, load_state_into, read_checkpoint
from dmil.training.checkpoint import (
    CHECKPOINT_KEYS,
    capture_rng_states,
    restore_rng_states,
    save_checkpoint,
)


def _state(model: nn.Module, epoch: int = 1) -> dict:
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return {
        "model": model,
        "optimizer": opt,
        "scheduler": torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0),
        "epoch": epoch,
        "stage": {"index": 0, "name": "train", "epoch": epoch, "count": 1, "log": []},
        "best": {"epoch": epoch},
        "rng_states": capture_rng_states(),
        "config": TrainConfig().to_dict(),
        "model_config": {"method": "joint"},
        "history": [{"epoch": epoch, "val_accuracy": 0.5}],
        "timing": {"train_seconds": 1.0},
        "extra": {"data": {"dataset": "x"}},
    }


@pytest.fixture()
def fabric():
    return build_fabric(TrainConfig(accelerator="cpu", progress=False))


def test_checkpoint_round_trip_has_exactly_the_layout(tmp_path, fabric):
    model = nn.Linear(3, 2)
    path = save_checkpoint(fabric, tmp_path / "sub" / "last.ckpt", _state(model, epoch=4))
    content = read_checkpoint(path)
    assert set(content) == set(CHECKPOINT_KEYS)
    assert content["epoch"] == 4 and content["extra"] == {"data": {"dataset": "x"}}
    other = nn.Linear(3, 2)
    load_state_into(content, model=other)
    assert torch.equal(other.weight, model.weight)
    assert not list((tmp_path / "sub").glob(".*.tmp"))
    # A run directory resolves to its best.ckpt.
    save_checkpoint(fabric, tmp_path / "sub" / "best.ckpt", _state(model, epoch=2))
    assert read_checkpoint(tmp_path / "sub")["epoch"] == 2


def test_save_refuses_a_state_with_wrong_keys(tmp_path, fabric):
    state = _state(nn.Linear(3, 2))
    del state["history"]
    state["surprise"] = 1
    with pytest.raises(ValueError, match=r"missing \['history'\], unexpected \['surprise'\]"):
        save_checkpoint(fabric, tmp_path / "x.ckpt", state)
    assert not (tmp_path / "x.ckpt").exists()


def test_read_fails_loudly_on_unexpected_or_missing_keys(tmp_path, fabric):
    path = save_checkpoint(fabric, tmp_path / "a.ckpt", _state(nn.Linear(3, 2)))
    content = torch.load(path, weights_only=True)
    content["surplus"] = 2
    torch.save(content, tmp_path / "extra.ckpt")
    with pytest.raises(ValueError, match=r"unexpected \['surplus'\]"):
        read_checkpoint(tmp_path / "extra.ckpt")
    del content["surplus"], content["optimizer"]
    torch.save(content, tmp_path / "missing.ckpt")
    with pytest.raises(ValueError, match=r"missing \['optimizer'\]"):
        read_checkpoint(tmp_path / "missing.ckpt")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "nowhere")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable dmil checkpoint: not a complete"):
        read_checkpoint(tmp_path / "junk.ckpt")
    # A report directory of `dmil run` holds its runs below: the error points at them.
    report = tmp_path / "report"
    (report / "runs" / "dmil" / "seed0").mkdir(parents=True)
    torch.save(content, report / "runs" / "dmil" / "seed0" / "best.ckpt")
    with pytest.raises(FileNotFoundError, match=r"Run directories below it: .*dmil.seed0"):
        read_checkpoint(report)
    with pytest.raises(FileNotFoundError, match=r"Run directories below it: .*dmil.seed0"):
        read_checkpoint(report / "runs")
    # More than three: the first three in sorted order, and how many more there are.
    for method in ("ensemble", "joint", "mlb"):
        for seed in (0, 1):
            run = report / "runs" / method / f"seed{seed}"
            run.mkdir(parents=True)
            (run / "best.ckpt").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as err:
        read_checkpoint(report)
    listed = str(err.value).split("Run directories below it: ")[1]
    assert listed.startswith(str(report / "runs" / "dmil" / "seed0") + ", ")
    assert "ensemble/seed0, " in listed and "ensemble/seed1 and 4 more." in listed


def test_load_into_a_different_model_names_the_keys(tmp_path, fabric):
    path = save_checkpoint(fabric, tmp_path / "a.ckpt", _state(nn.Linear(3, 2)))
    content = read_checkpoint(path)
    wrong = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ValueError, match=r"(?s)does not fit the model.*Missing.*0\.weight"):
        load_state_into(content, model=wrong)
    with pytest.raises(ValueError, match="does not fit the model"):
        load_state_into(content, model=nn.Linear(4, 2))


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, fabric, monkeypatch):
    path = save_checkpoint(fabric, tmp_path / "last.ckpt", _state(nn.Linear(3, 2), epoch=1))
    before = path.read_bytes()

    def broken_save(target, state, filter=None):
        with open(target, "wb") as fh:
            fh.write(b"half a checkpo")
        raise OSError("disk full")

    monkeypatch.setattr(fabric, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(fabric, path, _state(nn.Linear(3, 2), epoch=2))
    assert path.read_bytes() == before
    assert read_checkpoint(path)["epoch"] == 1


def test_rng_states_restore_every_generator():
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    states = capture_rng_states()
    first = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    restore_rng_states(states)
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == again[0] and first[1] == again[1] and torch.equal(first[2], again[2])
