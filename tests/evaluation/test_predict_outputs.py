"""Batched prediction, interaction labels of a test set, and result files."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from dmil.data import MultimodalDataset, load
from dmil.evaluation import interaction_labels, predict
from dmil.evaluation.outputs import prepare_out_dir, write_json, write_predictions
from dmil.models.base import ModelOutput, MultimodalModel


class FixedModel(MultimodalModel):
    """Deterministic logits: class scores from each modality's first features."""

    def __init__(self, *, unimodal: bool = True, n_unimodal: int | None = None) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.unimodal = unimodal
        self.n_unimodal = n_unimodal

    def forward(self, inputs):
        per = [self.scale * x[:, :3] for x in inputs]
        k = len(per) if self.n_unimodal is None else self.n_unimodal
        return ModelOutput(
            logits=sum(per), modality_logits=tuple(per[:k]) if self.unimodal else None
        )


def _data(n: int = 23) -> MultimodalDataset:
    rng = np.random.default_rng(0)
    return MultimodalDataset(
        {
            "a": rng.normal(size=(n, 4)).astype(np.float32),
            "b": rng.normal(size=(n, 5)).astype(np.float32),
        },
        np.arange(n) % 3,
        interactions=["R", "U1", "U2", "S"] * (n // 4) + ["R"] * (n % 4),
    )


def test_predict_collects_everything_in_order_whatever_the_batch_size():
    data = _data()
    model = FixedModel()
    small = predict(model, data, batch_size=5)
    whole = predict(model, data, batch_size=512)
    x1, x2 = (t[:, :3].numpy() for t in data.modalities)
    assert np.allclose(whole.logits, x1 + x2)
    assert np.array_equal(small.y_pred, (x1 + x2).argmax(1))
    assert np.array_equal(small.y_pred, whole.y_pred)
    assert small.modality_pred.shape == (2, 23)
    assert np.array_equal(small.modality_pred[1], x2.argmax(1))
    assert np.array_equal(small.labels, data.labels.numpy())
    assert small.modality_names == ("a", "b")
    assert model.training  # the training flag is restored


def test_predict_without_or_with_wrong_unimodal_outputs():
    assert predict(FixedModel(unimodal=False), _data()).modality_pred is None
    with pytest.raises(ValueError, match="1 unimodal predictions for 2 modalities"):
        predict(FixedModel(n_unimodal=1), _data())
    with pytest.raises(ValueError, match="batch_size"):
        predict(FixedModel(), _data(), batch_size=0)


def test_interaction_labels_sources():
    data = _data(8)
    labels, used = interaction_labels(data)
    assert used == "true" and labels == ["R", "U1", "U2", "S"] * 2
    assert interaction_labels(data, source="none") == (None, "none")
    bare = MultimodalDataset([np.zeros((4, 2)), np.zeros((4, 2))], np.array([0, 1, 0, 1]))
    assert interaction_labels(bare) == (None, "none")  # nothing to fit an estimator on
    with pytest.raises(ValueError, match="no per-sample interaction truth"):
        interaction_labels(bare, source="true")
    with pytest.raises(ValueError, match="need the training and validation splits"):
        interaction_labels(bare, source="estimated")
    with pytest.raises(ValueError, match="interaction source: expected one of"):
        interaction_labels(data, source="guess")


def test_synthetic_truth_reaches_the_labels():
    data = load("synthetic-mixed", n_samples=40, random_state=0)
    labels, used = interaction_labels(data)
    assert used == "true" and labels == data.interaction_names()


def test_prepare_out_dir_rules(tmp_path):
    new = tmp_path / "new"
    assert prepare_out_dir(new) == new and not new.exists()
    (tmp_path / "empty").mkdir()
    prepare_out_dir(tmp_path / "empty")
    full = tmp_path / "full"
    full.mkdir()
    (full / "best.ckpt").write_text("x")
    (full / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="--overwrite"):
        prepare_out_dir(full)
    prepare_out_dir(full, resume=True)
    assert (full / "best.ckpt").exists()
    prepare_out_dir(full, overwrite=True)
    assert not (full / "best.ckpt").exists() and (full / "mine.txt").read_text() == "keep"
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError, match="not a directory"):
        prepare_out_dir(tmp_path / "file")


def test_result_files(tmp_path):
    data = _data(8)
    preds = predict(FixedModel(), data)
    write_predictions(
        tmp_path / "p.csv",
        preds,
        indices=np.arange(100, 108),
        interactions=data.interaction_names(),
    )
    with open(tmp_path / "p.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["index"] == "100" and rows[3]["interaction"] == "S"
    assert [int(r["pred_b"]) for r in rows] == preds.modality_pred[1].tolist()
    assert "ref_a" not in rows[0]
    reference = np.stack([preds.labels, 1 - preds.labels])  # (M, N)
    write_predictions(tmp_path / "r.csv", preds, indices=np.arange(8), reference=reference)
    with open(tmp_path / "r.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["ref_b"]) for r in rows] == reference[1].tolist()
    with pytest.raises(ValueError, match="reference: expected shape"):
        write_predictions(tmp_path / "s.csv", preds, indices=np.arange(8), reference=reference[:1])
    write_json(tmp_path / "m.json", {"a": np.float32(0.5), "b": math.nan, "c": (1, 2)})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 0.5, "b": None, "c": [1, 2]}
    with pytest.raises(ValueError, match="expected 8 dataset indices"):
        write_predictions(tmp_path / "q.csv", preds, indices=np.arange(3))
    assert not (tmp_path / "q.csv").exists()


def test_standardize_uses_training_statistics_only():
    from dmil.data import split_dataset
    from dmil.evaluation import standardize_splits

    rng = np.random.default_rng(1)
    data = MultimodalDataset(
        [rng.normal(5.0, 3.0, size=(200, 4)).astype(np.float32), rng.integers(0, 3, size=(200, 1))],
        np.arange(200) % 2,
        interactions=["R", "S"] * 100,
    )
    splits = split_dataset(data, random_state=0)
    scaled = standardize_splits(splits)
    x_train = scaled.train.modalities[0].double()
    assert torch.allclose(x_train.mean(0), torch.zeros(4, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(
        x_train.std(0, unbiased=False), torch.ones(4, dtype=torch.float64), atol=1e-5
    )
    raw_train, raw_test = splits.train.modalities[0].double(), splits.test.modalities[0].double()
    mean, std = raw_train.mean(0), raw_train.std(0, unbiased=False)
    assert torch.allclose(scaled.test.modalities[0].double(), (raw_test - mean) / std, atol=1e-5)
    assert torch.equal(scaled.test.modalities[1], splits.test.modalities[1])  # codes kept
    assert scaled.test.interaction_names() == splits.test.interaction_names()


def test_estimated_labels_fit_on_train_with_val_and_label_the_test_split(monkeypatch):
    import dmil.interactions

    calls = {}

    class FakeTable:
        def __init__(self, n: int) -> None:
            self.n = n

        def dominant(self):
            return np.array(["S", "R"] * (self.n // 2) + ["U1"] * (self.n % 2))

    class FakeEstimator:
        def __init__(self, *, measure, device, random_state):
            calls["init"] = (measure, device, random_state)

        def fit(self, train, val):
            calls["fit"] = (len(train), len(val))
            return self

        def transform(self, test):
            calls["transform"] = len(test)
            return FakeTable(len(test))

    monkeypatch.setattr(dmil.interactions, "InteractionEstimator", FakeEstimator, raising=False)
    bare = [
        MultimodalDataset([np.zeros((n, 2)), np.zeros((n, 2))], np.arange(n) % 2)
        for n in (10, 4, 5)
    ]
    labels, used = interaction_labels(bare[2], train=bare[0], val=bare[1], random_state=3)
    assert used == "estimated" and labels == ["S", "R", "S", "R", "U1"]
    assert calls == {"init": ("ccs", "cpu", 3), "fit": (10, 4), "transform": 5}
