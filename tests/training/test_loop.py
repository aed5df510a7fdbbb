"""The Fabric training loop: every paradigm learns, seeding, early stopping, hooks,
checkpoints and in-process resume."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from torch import nn

from dmil.data import MultimodalDataset, split_dataset
from dmil.evaluation import accuracy, predict
from dmil.models import available_methods, build_model
from dmil.models.base import ModelOutput, MultimodalModel
from dmil.training import TrainConfig, build_fabric, fit, read_checkpoint, seed_everything
from dmil.training.stages import StageSpec

CPU = {"accelerator": "cpu", "progress": False}


class TinyModel(MultimodalModel):
    """A small two-branch model with dropout, used to test the engine on its own."""

    def __init__(self, dims: list[int], n_classes: int, *, dropout: float = 0.2) -> None:
        super().__init__()
        self.n_modalities = len(dims)
        self.n_classes = n_classes
        self.encoders = nn.ModuleList(nn.Linear(d, 16) for d in dims)
        self.drop = nn.Dropout(dropout)
        self.heads = nn.ModuleList(nn.Linear(16, n_classes) for _ in dims)
        self.head = nn.Linear(16 * len(dims), n_classes)
        self.hook_calls = 0
        self.hook_saw_grads = True
        self.interrupt_at_call: int | None = None

    def forward(self, inputs: list[torch.Tensor]) -> ModelOutput:
        z = [self.drop(torch.relu(enc(x))) for enc, x in zip(self.encoders, inputs, strict=True)]
        return ModelOutput(
            logits=self.head(torch.cat(z, dim=1)),
            modality_logits=tuple(h(zm.detach()) for h, zm in zip(self.heads, z, strict=True)),
        )

    def loss(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        uni = sum(nn.functional.cross_entropy(m, target) for m in output.modality_logits)
        return nn.functional.cross_entropy(output.logits, target) + uni

    def on_after_backward(self, output: ModelOutput, target: torch.Tensor) -> None:
        self.hook_calls += 1
        self.hook_saw_grads &= all(p.grad is not None for p in self.head.parameters())
        if self.interrupt_at_call is not None and self.hook_calls == self.interrupt_at_call:
            raise KeyboardInterrupt("simulated interruption")


def _tiny(splits, **kwargs) -> TinyModel:
    dims = [int(np.prod(s)) for s in splits.train.shapes.values()]
    return TinyModel(dims, splits.train.n_classes, **kwargs)


@pytest.mark.parametrize("method", available_methods())
def test_fit_each_paradigm_beats_chance(method, tiny_mixed_splits):
    """4 balanced classes: chance is 0.25. On 72 test samples an accuracy of 0.45 lies
    more than 3.9 binomial standard deviations above chance."""
    splits = tiny_mixed_splits
    config = TrainConfig(epochs=8, batch_size=32, lr=3e-3, patience=0, seed=0, **CPU)
    seed_everything(0)
    model = build_model(
        method,
        input_shapes=list(splits.train.shapes.values()),
        n_classes=splits.train.n_classes,
        embed_dim=32,
    )
    result = fit(model, splits.train, splits.val, config=config)
    preds = predict(result.model, splits.test)
    assert result.epochs_run == 8
    assert accuracy(preds.labels, preds.y_pred) > 0.45
    assert result.best_val_accuracy > 0.45
    assert preds.modality_pred is not None and preds.modality_pred.shape == (2, len(splits.test))


def test_fit_same_seed_is_bit_identical_and_seed_matters(tiny_mixed_splits):
    splits = tiny_mixed_splits
    config = TrainConfig(epochs=3, batch_size=32, seed=7, **CPU)

    def run(seed: int) -> tuple[dict, list]:
        seed_everything(seed)
        result = fit(_tiny(splits), splits.train, splits.val, config=config.replace(seed=seed))
        return result.model.state_dict(), [r["val_loss"] for r in result.history]

    state_a, losses_a = run(7)
    state_b, losses_b = run(7)
    state_c, _ = run(8)
    assert losses_a == losses_b
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert not all(torch.equal(state_a[k], state_c[k]) for k in state_a)


def test_fit_calls_hook_after_backward_once_per_step(tiny_mixed_splits):
    splits = tiny_mixed_splits
    model = _tiny(splits)
    fit(model, splits.train, splits.val, config=TrainConfig(epochs=2, batch_size=50, **CPU))
    steps_per_epoch = -(-len(splits.train) // 50)
    assert model.hook_calls == 2 * steps_per_epoch
    assert model.hook_saw_grads


def _random_label_splits():
    rng = np.random.default_rng(0)
    data = MultimodalDataset(
        [rng.normal(size=(300, d)).astype(np.float32) for d in (6, 5)],
        rng.integers(0, 3, size=300),
    )
    return split_dataset(data, random_state=0)


def test_fit_early_stopping_keeps_the_best_validation_epoch(tmp_path):
    """Labels independent of the inputs: validation stops improving soon, training stops
    ``patience`` epochs after the best one and the kept weights are that epoch's."""
    splits = _random_label_splits()
    config = TrainConfig(epochs=40, batch_size=32, lr=1e-2, patience=2, seed=0, **CPU)
    seed_everything(0)
    result = fit(
        _tiny(splits, dropout=0.0), splits.train, splits.val, config=config, out_dir=tmp_path
    )
    hist = result.history
    assert result.stopped_early and result.epochs_run < 40
    assert result.epochs_run - result.best_epoch == 2
    best_row = max(hist, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    assert best_row["epoch"] == result.best_epoch
    assert result.best_val_accuracy == best_row["val_accuracy"]
    # The returned model carries the best epoch's weights, re-measured here.
    fabric = build_fabric(config)
    from dmil.training.batches import eval_loader
    from dmil.training.loop import validate

    acc, loss = validate(fabric, result.model, eval_loader(splits.val, batch_size=64))
    assert acc == best_row["val_accuracy"] and loss == pytest.approx(best_row["val_loss"])
    assert read_checkpoint(tmp_path / "best.ckpt")["epoch"] == result.best_epoch
    assert read_checkpoint(tmp_path / "last.ckpt")["epoch"] == result.epochs_run


def test_fit_writes_checkpoints_and_metrics_csv(tmp_path, tiny_mixed_splits):
    splits = tiny_mixed_splits
    config = TrainConfig(epochs=3, batch_size=64, **CPU)
    result = fit(
        _tiny(splits),
        splits.train,
        splits.val,
        config=config,
        out_dir=tmp_path,
        model_config={"kind": "tiny"},
        extra={"note": 1},
    )
    with open(tmp_path / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_accuracy", "lr"} <= set(rows[0])
    last = read_checkpoint(tmp_path / "last.ckpt")
    assert last["epoch"] == 3 and last["model_config"] == {"kind": "tiny"}
    assert last["extra"] == {"note": 1} and last["config"]["epochs"] == 3
    assert last["best"]["epoch"] == result.best_epoch and last["best"]["finished"]
    assert not list(tmp_path.glob(".*.tmp"))
    assert result.samples_per_second > 0 and result.train_seconds > 0


def test_fit_resume_after_interruption_matches_uninterrupted_run(tmp_path, tiny_mixed_splits):
    """An exception mid-epoch 3, then resume from last.ckpt (epoch 2): same weights,
    same history (timings aside) as one uninterrupted run."""
    splits = tiny_mixed_splits
    config = TrainConfig(epochs=5, batch_size=32, patience=0, seed=3, **CPU)
    steps = -(-len(splits.train) // 32)

    seed_everything(3)
    full = fit(_tiny(splits), splits.train, splits.val, config=config, out_dir=tmp_path / "a")

    seed_everything(3)
    model = _tiny(splits)
    model.interrupt_at_call = 2 * steps + 3
    with pytest.raises(KeyboardInterrupt):
        fit(model, splits.train, splits.val, config=config, out_dir=tmp_path / "b")
    assert read_checkpoint(tmp_path / "b" / "last.ckpt")["epoch"] == 2
    seed_everything(3)
    resumed = fit(
        _tiny(splits), splits.train, splits.val, config=config, out_dir=tmp_path / "b", resume=True
    )
    assert resumed.resumed_from_epoch == 2 and resumed.epochs_run == 5

    def strip(history):
        return [{k: v for k, v in r.items() if "second" not in k} for r in history]

    assert strip(resumed.history) == strip(full.history)
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fit_resume_refuses_changed_settings(tmp_path, tiny_mixed_splits):
    splits = tiny_mixed_splits
    config = TrainConfig(epochs=2, batch_size=64, **CPU)
    fit(_tiny(splits), splits.train, splits.val, config=config, out_dir=tmp_path)
    with pytest.raises(ValueError, match="lr: checkpoint 0.001, requested 0.01"):
        fit(
            _tiny(splits),
            splits.train,
            splits.val,
            config=config.replace(lr=1e-2),
            out_dir=tmp_path,
            resume=True,
        )
    # Only what differs is named, as a dotted key.
    with pytest.raises(ValueError, match="model_config.method: checkpoint '<absent>', requested"):
        fit(
            _tiny(splits),
            splits.train,
            splits.val,
            config=config,
            out_dir=tmp_path,
            resume=True,
            model_config={"method": "other"},
        )


def test_fit_resume_names_the_stage_setting_that_differs(tmp_path, tiny_mixed_splits):
    splits = tiny_mixed_splits
    stages = [StageSpec(name="a", epochs=1), StageSpec(name="b", epochs=1, lr=1e-3)]
    config = TrainConfig(epochs=2, batch_size=64, stages=stages, **CPU)
    fit(_tiny(splits), splits.train, splits.val, config=config, out_dir=tmp_path)
    changed = config.replace(stages=[stages[0], StageSpec(name="b", epochs=1, lr=1e-2)])
    with pytest.raises(ValueError) as caught:
        fit(_tiny(splits), splits.train, splits.val, config=changed, out_dir=tmp_path, resume=True)
    message = str(caught.value)
    # The one differing leaf, by position, not both stage lists in full.
    assert "stages[1].lr: checkpoint 0.001, requested 0.01" in message
    assert "stages[0]" not in message and len(message) < 300, message


def test_fit_stops_loudly_on_a_non_finite_loss(tiny_mixed_splits):
    class Exploding(TinyModel):
        def loss(self, output, target):
            return super().loss(output, target) * float("nan")

    splits = tiny_mixed_splits
    with pytest.raises(FloatingPointError, match="training loss became nan in epoch 1"):
        fit(Exploding([32, 32], 4), splits.train, splits.val, config=TrainConfig(epochs=2, **CPU))


def test_stage_loss_names_an_unknown_term_of_a_model_that_declares_none():
    # Models without `loss_term_names` are checked at the step, with the same message as
    # the up-front check.
    from dmil.training.epoch import stage_loss

    model = build_model("joint", input_shapes=[(3,), (3,)], n_classes=2, embed_dim=4)
    output = model([torch.randn(4, 3), torch.randn(4, 3)])
    stage = StageSpec(name="s", epochs=1, loss_weights={"cee": 1.0})
    with pytest.raises(
        ValueError,
        match=r"\['cee'\], which JointModel does not produce\. "
        r"Did you mean 'ce'\? Its terms: ce\.",
    ):
        stage_loss(model, output, torch.tensor([0, 1, 0, 1]), stage)


def test_resume_differences_are_capped_and_counted():
    from dmil.training.loop import _listed

    text = _listed([(f"k{i}", i, i + 1) for i in range(7)])
    assert "k4: checkpoint 4, requested 5" in text and "k5" not in text
    assert text.endswith("; and 2 more")
