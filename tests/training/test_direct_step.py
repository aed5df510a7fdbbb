"""The engine's direct step (plain module and optimiser on one device, 32-true) computes
exactly what the Fabric-wrapped step computes, and is used only where that holds."""

from __future__ import annotations

import pytest
import torch

from dmil.models import build_model
from dmil.training import TrainConfig, build_fabric, fit
from dmil.training import epoch as epoch_module
from dmil.training import loop as loop_module

CPU = {"accelerator": "cpu", "progress": False}


def _fit(splits, *, precision: str = "32-true", grad_clip: float | None = None):
    config = TrainConfig(
        epochs=3, batch_size=32, patience=0, seed=0, precision=precision, grad_clip=grad_clip, **CPU
    )
    torch.manual_seed(0)
    model = build_model(
        "joint",
        input_shapes=[splits.train.shapes[m] for m in splits.train.modality_names],
        n_classes=splits.train.n_classes,
    )
    return fit(model, splits.train, splits.val, config=config, fabric=build_fabric(config))


def test_direct_step_is_used_for_one_device_full_precision():
    fabric = build_fabric(TrainConfig(**CPU))
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    fmodel, foptimizer = fabric.setup_module(model), fabric.setup_optimizers(optimizer)
    assert epoch_module.direct_step(fabric, fmodel, foptimizer, model)
    # Another module than the wrapped one is never called directly.
    assert not epoch_module.direct_step(fabric, fmodel, foptimizer, torch.nn.Linear(2, 2))


def test_direct_step_is_not_used_for_converting_precisions():
    fabric = build_fabric(TrainConfig(precision="bf16-true", **CPU))
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    fmodel, foptimizer = fabric.setup_module(model), fabric.setup_optimizers(optimizer)
    assert not epoch_module.direct_step(fabric, fmodel, foptimizer, model)


@pytest.mark.parametrize("grad_clip", [None, 1.0])
def test_direct_step_matches_wrapped_step_exactly(tiny_mixed_splits, monkeypatch, grad_clip):
    direct = _fit(tiny_mixed_splits, grad_clip=grad_clip)
    # The loop decides once per stage, with the name it imported.
    monkeypatch.setattr(loop_module, "direct_step", lambda *args: False)
    wrapped = _fit(tiny_mixed_splits, grad_clip=grad_clip)
    keys = ("train_loss", "val_loss", "val_accuracy", "best_epoch")
    assert [{k: r[k] for k in keys} for r in direct.history] == [
        {k: r[k] for k in keys} for r in wrapped.history
    ]
    for (name, a), b in zip(
        direct.model.state_dict().items(), wrapped.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_loss_sum_adds_in_step_order_like_float64_tensors():
    losses = [torch.tensor(v, dtype=torch.float32) for v in (0.1, 2.7, 1e-3, 5.5)]
    sizes = [64, 64, 64, 17]
    sums = epoch_module.LossSum()
    expected_sum = torch.zeros((), dtype=torch.float64)
    expected_seen = torch.zeros((), dtype=torch.float64)
    for loss, size in zip(losses, sizes, strict=True):
        sums.add(loss, size)
        expected_sum += loss.double() * size
        expected_seen += size
        if size == 64 and loss.item() > 1:  # reading in between keeps the running order
            sums.totals()
    assert sums.totals() == (float(expected_sum), float(expected_seen))
