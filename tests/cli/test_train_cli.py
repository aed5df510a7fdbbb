"""`dmil train` and `dmil evaluate`: run files, exact reproduction, bad input."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from dmil.cli import main
from dmil.models import available_encoders, available_methods

TINY = [
    "--dataset",
    "synthetic-mixed",
    "--data-option",
    "n_samples=400",
    "--embed-dim",
    "16",
    "--epochs",
    "3",
    "--batch-size",
    "32",
    "--seed",
    "2",
    "--device",
    "cpu",
    "--no-progress",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "ensemble"
    torch.set_num_threads(1)
    assert main(["train", "--method", "ensemble", *TINY, "--out", str(out)]) == 0
    return out


def test_train_writes_the_documented_run_files(trained):
    assert {"best.ckpt", "last.ckpt", "metrics.csv", "metrics.json", "predictions.csv"} <= {
        p.name for p in trained.iterdir()
    }
    m = json.loads((trained / "metrics.json").read_text())
    test = m["test"]
    for key in ("accuracy", "macro_f1", "synergy_indicator", "per_modality_accuracy"):
        assert key in test
    assert set(test["by_interaction"]) == {"R", "U1", "U2", "S"}
    assert sum(v["n"] for v in test["by_interaction"].values()) == test["n"] == 60
    assert m["split_sizes"] == {"train": 280, "val": 60, "test": 60}
    assert all(0.0 <= v["accuracy"] <= 1.0 for v in test["by_interaction"].values())
    assert 0.0 <= m["val"]["accuracy"] <= 1.0
    assert m["val"]["monitor"] == "logits"  # what the kept epoch was judged by
    assert m["epochs_run"] == 3 and m["train_seconds"] > 0
    assert (m["method"], m["dataset"], m["seed"]) == ("ensemble", "synthetic-mixed", 2)
    assert m["config"]["epochs"] == 3 and m["interaction_source"] == "true"
    assert m["data"]["options"] == {"n_samples": 400, "random_state": 2}
    with open(trained / "predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        *("index", "label", "prediction", "pred_x1", "pred_x2", "ref_x1", "ref_x2"),
        "interaction",
    ]
    assert len(rows) == 60
    acc = sum(r["label"] == r["prediction"] for r in rows) / len(rows)
    assert acc == test["accuracy"]
    for name, value in test["per_modality_accuracy"].items():
        assert sum(r["label"] == r[f"pred_{name}"] for r in rows) / len(rows) == value
    # Both synergy indicators follow from the file: right where every unimodal
    # prediction (the shared reference's, or the method's own) is wrong.
    for prefix, key in (("ref_", "synergy_indicator"), ("pred_", "synergy_indicator_own")):
        hits = [
            r["label"] == r["prediction"]
            and all(r[f"{prefix}{m}"] != r["label"] for m in ("x1", "x2"))
            for r in rows
        ]
        assert sum(hits) / len(rows) == pytest.approx(test[key])


def test_evaluate_reproduces_the_test_metrics_exactly(trained, tmp_path, capsys):
    out = tmp_path / "eval.json"
    rc = main(
        [
            "evaluate",
            "--checkpoint",
            str(trained),
            "--dataset",
            "synthetic-mixed",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    again = json.loads(out.read_text())
    first = json.loads((trained / "metrics.json").read_text())
    assert again["test"] == first["test"]
    assert again["val"]["accuracy"] == first["val"]["accuracy"]
    assert again["checkpoint_epoch"] == first["best_epoch"]
    assert "test accuracy" in capsys.readouterr().out


def test_evaluate_refuses_another_dataset(trained, capsys):
    rc = main(["evaluate", "--checkpoint", str(trained), "--dataset", "synthetic-xor"])
    assert rc == 2
    assert "trained on dataset 'synthetic-mixed'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (["--method", "nope"], "known methods: " + ", ".join(available_methods())),
        (
            ["--method", "joint", "--encoder", "nope"],
            "known encoders: " + ", ".join(available_encoders()),
        ),
        (["--method", "joint", "--dataset", "nope"], "known datasets: "),
        (["--method", "joint", "--data-option", "n_samples"], "KEY=VALUE"),
        (["--method", "joint", "--data-option", "bogus=1"], "unknown option(s) ['bogus']"),
        (["--method", "joint", "--optimizer", "adam"], "TrainConfig.optimizer"),
    ],
)
def test_train_bad_names_exit_2_and_write_nothing(change, expected, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", *TINY, *change, "--out", str(out)]
    assert main(args) == 2
    assert expected in capsys.readouterr().err
    assert not out.exists()


def test_train_encoder_shape_mismatch_names_the_modality(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--method", "joint", "--encoder", "cnn", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "modality 'x1'" in err and "cnn" in err and "(32,)" in err
    assert not out.exists()


def test_train_refuses_an_occupied_out_dir(trained, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in trained.iterdir()}
    assert main(["train", "--method", "joint", *TINY, "--out", str(trained)]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not empty" in err and "--resume to continue" in err
    # A directory without a run is not offered --resume.
    other = tmp_path / "notes"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["train", "--method", "joint", *TINY, "--out", str(other)]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not empty" in err and "--resume" not in err
    assert {p.name: p.read_bytes() for p in trained.iterdir()} == before
    both = ["train", "--method", "joint", *TINY, "--out", str(trained), "--overwrite", "--resume"]
    assert main(both) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_train_resume_refuses_another_method_and_an_empty_directory(trained, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in trained.iterdir()}
    assert main(["train", "--method", "joint", *TINY, "--out", str(trained), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "holds a 'ensemble' run, not 'joint'" in err and "--method ensemble" in err
    assert {p.name: p.read_bytes() for p in trained.iterdir()} == before
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--out", str(empty), "--resume", "--no-progress"]) == 2
    assert "nothing to resume in" in capsys.readouterr().err


def test_train_stage_mistakes_fail_before_anything_is_written(tmp_path, capsys):
    config = tmp_path / "stages.yaml"
    config.write_text("train:\n  stages:\n    - {name: a, epochs: 2, freeze: [encoderz]}\n")
    out = tmp_path / "run"
    args = ["train", *TINY, "--method", "dmil", "--config", str(config), "--out", str(out)]
    assert main(args) == 2
    assert "freeze pattern 'encoderz' matches no module of DMIL" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_train_overwrite_replaces_run_files_only(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "metrics.json").write_text("{}")
    assert main(["train", "--method", "joint", *TINY, "--out", str(out), "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "metrics.json").read_text())["method"] == "joint"


def test_train_yaml_config_is_layered_under_flags(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "train: {epochs: 2, lr: 2.0e-3, patience: 0}\n"
        "model: {embed_dim: 8}\n"
        "data: {options: {n_samples: 400}, val_size: 0.2}\n"
    )
    out = tmp_path / "run"
    args = [
        "train",
        "--dataset",
        "synthetic-mixed",
        "--method",
        "joint",
        "--config",
        str(cfg),
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["epochs"] == 1  # the flag wins over the file
    assert m["config"]["lr"] == 2e-3 and m["model_config"]["embed_dim"] == 8
    assert m["data"]["val_size"] == 0.2 and m["data"]["options"]["n_samples"] == 400


def test_train_yaml_config_rejects_unknown_sections(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("trian: {epochs: 2}\n")
    assert (
        main(
            [
                "train",
                *TINY,
                "--method",
                "joint",
                "--config",
                str(cfg),
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 2
    )
    assert "unknown key 'trian'. Did you mean 'train'?" in capsys.readouterr().err


def test_evaluate_reproduces_estimated_interactions_on_real_data(tmp_path):
    """rosmap has no per-sample truth: the breakdown uses the dominant interaction estimated
    on the training split; evaluate re-estimates it and gets the same numbers."""
    from dmil.data import resolve_data_root

    if not (resolve_data_root() / "rosmap").is_dir():
        pytest.skip(f"rosmap files not found under {resolve_data_root()}")
    out = tmp_path / "rosmap"
    args = ["train", "--dataset", "rosmap", "--method", "joint", "--epochs", "2"]
    args += ["--embed-dim", "16", "--device", "cpu", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    first = json.loads((out / "metrics.json").read_text())
    assert first["interaction_source"] == "estimated"
    assert set(first["test"]["by_interaction"]) <= {"R", "U", "S"}  # three modalities
    assert sum(v["n"] for v in first["test"]["by_interaction"].values()) == first["test"]["n"]
    assert first["test"]["n"] == 106  # the predefined ROSMAP test split is kept
    assert main(["evaluate", "--checkpoint", str(out), "--out", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["test"] == first["test"]
    assert not (tmp_path / "SHA256SUMS").exists()  # nothing written beside the user's file


def test_train_overwrite_keeps_the_earlier_run_when_the_stages_are_refused(trained, tmp_path):
    # --overwrite removes the earlier run only once the new run's stages passed their checks.
    run = tmp_path / "run"
    run.mkdir()
    for p in trained.iterdir():
        (run / p.name).write_bytes(p.read_bytes())
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    config = tmp_path / "bad.yaml"
    config.write_text("train:\n  stages:\n    - {name: a, epochs: 2, monitor: 'component:Q'}\n")
    args = ["train", *TINY, "--method", "dmil", "--config", str(config), "--out", str(run)]
    assert main([*args, "--overwrite"]) == 2
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
