"""`dmil train` / `dmil evaluate` with one spec: --config precedence, replay of a saved
spec, and user data files (--data) with their recorded digest."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import yaml

from dmil.cli import main
from dmil.data import load, write_npz

FAST = ["--embed-dim", "8", "--batch-size", "32", "--device", "cpu", "--no-progress"]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def npz_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "mine.npz"
    write_npz(load("synthetic-mixed", n_samples=300, random_state=1), path)
    return path


def test_train_config_file_is_overridden_by_flags(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "data: {dataset: synthetic-mixed, options: {n_samples: 300}}\n"
        "model: {method: ensemble}\n"
        "train: {epochs: 3, lr: 2.0e-3, seed: 4}\n"
    )
    out = tmp_path / "run"
    args = ["train", "--config", str(cfg), "--epochs", "1", "--method", "joint", *FAST]
    assert main([*args, "--out", str(out)]) == 0
    saved = yaml.safe_load((out / "spec.yaml").read_text())
    assert saved["train"]["epochs"] == 1 and saved["train"]["lr"] == 2e-3  # flag, file
    assert saved["model"]["method"] == "joint" and saved["train"]["seed"] == 4
    assert saved["data"]["options"] == {"n_samples": 300, "random_state": 4}
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 1


def test_train_saved_spec_replays_to_the_same_metrics(tmp_path):
    first = tmp_path / "first"
    args = ["train", "--dataset", "synthetic-mixed", "--data-option", "n_samples=300"]
    assert main([*args, "--method", "mlb", "--epochs", "2", *FAST, "--out", str(first)]) == 0
    second = tmp_path / "second"
    assert main(["train", "--config", str(first / "spec.yaml"), "--out", str(second)]) == 0
    a = json.loads((first / "metrics.json").read_text())
    b = json.loads((second / "metrics.json").read_text())
    assert a["test"] == b["test"] and a["val"] == b["val"] and a["spec"] == b["spec"]


def test_train_and_evaluate_take_a_data_file(tmp_path, npz_file, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", str(npz_file), "--method", "joint", "--epochs", "2", *FAST]
    assert main([*args, "--out", str(out)]) == 0
    trained = json.loads((out / "metrics.json").read_text())
    assert trained["dataset"] == "mine" and trained["data"]["file"] == str(npz_file.resolve())
    assert len(trained["data"]["sha256"]) == 64
    assert trained["interaction_source"] == "true"  # the file carries the truth
    evaluated = tmp_path / "e.json"
    assert main(["evaluate", "--checkpoint", str(out), "--out", str(evaluated)]) == 0
    assert json.loads(evaluated.read_text())["test"] == trained["test"]
    # Moved: found again with --data; changed: refused, naming the file.
    moved = tmp_path / "moved.npz"
    shutil.copy(npz_file, moved)
    assert main(["evaluate", "--checkpoint", str(out), "--data", str(moved)]) == 0
    write_npz(load("synthetic-mixed", n_samples=300, random_state=2), moved)
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out), "--data", str(moved)]) == 2
    assert "is not the one the run was trained on (or has changed" in capsys.readouterr().err


def test_train_file_given_as_dataset_points_to_data(tmp_path, npz_file, capsys):
    args = ["train", "--dataset", str(npz_file), "--method", "joint", *FAST]
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    assert "--data FILE" in capsys.readouterr().err
