"""``dmil estimate``: outputs, splits, and every bad-input case (exit 2, no partial output)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dmil.cli import main
from dmil.data import MultimodalDataset, write_lsmi_pt, write_npz


def _leftovers(parent: Path, name: str) -> list[Path]:
    return [p for p in parent.iterdir() if p.name.startswith(f".{name}.")]


def test_estimate_on_a_bitwise_dataset_writes_every_output(tmp_path, capsys) -> None:
    out = tmp_path / "xor"
    code = main(
        [
            "estimate",
            "--dataset",
            "synthetic-xor",
            "--data-option",
            "n_samples=4000",
            "--out",
            str(out),
            "--seed",
            "1",
        ]
    )
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "SHA256SUMS",
        "components.png",
        "dominant_by_class.png",
        "interactions.csv",
        "summary.json",
    ]
    summary = json.loads((out / "summary.json").read_text())
    for key in ("R", "U1", "U2", "S", "raw", "measure", "reference", "n_samples", "seconds"):
        assert key in summary, key
    assert summary["measure"] == "ccs" and summary["evaluated_on"] == "test"
    assert summary["S"] == pytest.approx(np.log(2), abs=0.01)
    assert summary["reference"]["S"] == pytest.approx(np.log(2), abs=0.01)
    assert summary["truth"]["S"] == pytest.approx(np.log(2), abs=1e-9)
    assert summary["confusion"]["accuracy"] > 0.99  # every xor sample is synergistic
    header = (out / "interactions.csv").read_text().splitlines()[0].split(",")
    assert header[:8] == ["part", "index", "label", "true_type", "r", "u1", "u2", "s"]
    assert (out / "components.png").read_bytes()[:4] == b"\x89PNG"
    assert "wrote" in capsys.readouterr().out
    assert not _leftovers(tmp_path, "xor")


def test_lsmi_layout_with_train_and_val_is_evaluated_on_val(tmp_path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    x1 = (np.eye(3)[y] + 0.5 * rng.standard_normal((600, 3))).astype(np.float32)
    x2 = (np.eye(3)[y] + 0.5 * rng.standard_normal((600, 3))).astype(np.float32)
    data = MultimodalDataset([x1, x2], y)
    path = write_lsmi_pt(
        data, tmp_path / "feats.pt", splits={"train": np.arange(480), "val": np.arange(480, 600)}
    )
    out = tmp_path / "run"
    assert (
        main(
            [
                "estimate",
                "--data",
                str(path),
                "--measure",
                "lsmi",
                "--out",
                str(out),
                "--no-reference",
                "--max-epochs",
                "30",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluated_on"] == "val" and summary["n_samples"] == 120
    assert summary["adjusted"] is True and summary["reference"] is None
    assert set(summary["raw"]) >= {"R", "U1", "U2", "S", "H1", "H2"}
    assert summary["reported_as"] == "lsmi-adjusted" and "raw" in summary["interactions_csv"]
    # The counts actually fitted: the early-stopping part is carved from the 480 train rows.
    assert summary["n_train"] + summary["n_val"] == 480 and summary["n_val"] > 0
    rows = (out / "interactions.csv").read_text().splitlines()
    assert rows[0].startswith("part,index,label")
    parts = [r.split(",")[:2] for r in rows[1:]]
    assert {p for p, _ in parts} == {"val"}  # rows of the file's val part, 0..119
    assert sorted(int(i) for _, i in parts) == list(range(120))


def test_three_modalities_write_pairwise_results(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (3, 3000))
    data = MultimodalDataset([x[0][:, None], x[1][:, None], x[2][:, None]], x[0] ^ x[2])
    path = write_npz(data, tmp_path / "three.npz")
    out = tmp_path / "run3"
    assert main(["estimate", "--data", str(path), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["pairs"]) == {"x1+x2", "x1+x3", "x2+x3"}
    assert summary["pairs"]["x1+x3"]["S"] == pytest.approx(np.log(2), abs=0.03)
    assert summary["pairs"]["x1+x3"]["reference"]["S"] == pytest.approx(np.log(2), abs=0.03)
    assert summary["best_source_shares"]["x1+x3"] > 0.99
    lines = (out / "interactions_pairs.csv").read_text().splitlines()
    assert lines[0].startswith("part,index,pair,r,u1,u2,s")
    assert len(lines) == 1 + 3 * summary["n_samples"]


def test_existing_out_directory_gets_the_new_files(tmp_path) -> None:
    out = tmp_path / "again"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert (
        main(
            [
                "estimate",
                "--dataset",
                "synthetic-unique",
                "--data-option",
                "n_samples=2000",
                "--out",
                str(out),
                "--no-reference",
            ]
        )
        == 0
    )
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "summary.json").exists()


# ------------------------------------------------------------------ bad input
def _pt(tmp_path: Path, blob: dict) -> Path:
    path = tmp_path / "bad.pt"
    torch.save(blob, path)
    return path


def _good_blob(n: int = 40) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "train_modal_1_features": torch.randn(n, 3, generator=g),
        "train_modal_2_features": torch.randn(n, 3, generator=g),
        "train_targets": torch.arange(n) % 2,
        "val_modal_1_features": torch.randn(n, 3, generator=g),
        "val_modal_2_features": torch.randn(n, 3, generator=g),
        "val_targets": torch.arange(n) % 2,
    }


def _bad_file(kind: str, tmp_path: Path) -> Path:
    blob = _good_blob()
    if kind == "mismatched lengths":
        blob["train_modal_2_features"] = blob["train_modal_2_features"][:-5]
        return _pt(tmp_path, blob)
    if kind == "missing key":
        del blob["train_targets"]
        return _pt(tmp_path, blob)
    if kind == "NaN":
        blob["val_modal_1_features"][3, 1] = float("nan")
        return _pt(tmp_path, blob)
    if kind == "single class":
        blob["train_targets"] = torch.zeros(40, dtype=torch.long)
        blob["val_targets"] = torch.zeros(40, dtype=torch.long)
        return _pt(tmp_path, blob)
    if kind == "single class with names":
        path = tmp_path / "one.npz"
        np.savez(
            path,
            modality_names=np.array(["a", "b"]),
            x_a=np.zeros((30, 2)),
            x_b=np.ones((30, 2)),
            y=np.zeros(30, dtype=np.int64),
            class_names=np.array(["no", "yes"]),
        )
        return path
    if kind == "unreadable":
        path = tmp_path / "garbage.pt"
        path.write_bytes(b"this is not a torch file")
        return path
    if kind == "unsupported suffix":
        path = tmp_path / "data.csv"
        path.write_text("a,b\n1,2\n")
        return path
    raise AssertionError(kind)


BAD_FILES = {
    "mismatched lengths": "rows",
    "missing key": "train_targets",
    "NaN": "non-finite",
    "single class": "at least 2 classes",
    "single class with names": "single class [0]",
    "unreadable": "could not read",
    "unsupported suffix": "unsupported data file",
}


def _assert_failed_cleanly(code: int, capsys, tmp_path: Path, out: Path, match: str) -> None:
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("dmil estimate: error:") and match in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert not _leftovers(out.parent, out.name)


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_data_file_exits_2_without_output(kind: str, tmp_path, capsys) -> None:
    path = _bad_file(kind, tmp_path)
    out = tmp_path / "out"
    code = main(["estimate", "--data", str(path), "--out", str(out)])
    _assert_failed_cleanly(code, capsys, tmp_path, out, BAD_FILES[kind])


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--data", "does/not/exist.pt"], "not found"),
        (["--dataset", "no-such-dataset"], "unknown dataset"),
        (["--dataset", "synthetic-xor", "--data-option", "n_samples"], "KEY=VALUE"),
        (["--dataset", "synthetic-xor", "--data-option", "colour=red"], "unknown option"),
        (["--dataset", "synthetic-xor", "--data-option", "n_samples=8"], "split"),
        (["--dataset", "synthetic-xor", "--val-size", "1.5"], "val_size"),
    ],
)
def test_bad_arguments_exit_2_without_output(argv, match, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code = main(["estimate", *argv, "--out", str(out)])
    _assert_failed_cleanly(code, capsys, tmp_path, out, match)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_request_without_cuda_exits_2(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "estimate",
            "--dataset",
            "synthetic-xor",
            "--data-option",
            "n_samples=400",
            "--device",
            "cuda",
            "--out",
            str(out),
        ]
    )
    _assert_failed_cleanly(code, capsys, tmp_path, out, "CUDA is not available")


def test_out_that_is_a_file_exits_2(tmp_path, capsys) -> None:
    out = tmp_path / "file.txt"
    out.write_text("x")
    code = main(["estimate", "--dataset", "synthetic-xor", "--out", str(out)])
    assert code == 2 and "not a directory" in capsys.readouterr().err
    assert out.read_text() == "x"


def test_failure_leaves_an_existing_out_untouched(tmp_path, capsys) -> None:
    out = tmp_path / "kept"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    path = _bad_file("NaN", tmp_path)
    assert main(["estimate", "--data", str(path), "--out", str(out)]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert (out / "summary.json").read_text() == "{}"
    assert not _leftovers(tmp_path, "kept")


def test_dataset_and_data_are_mutually_exclusive(tmp_path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "estimate",
                "--dataset",
                "synthetic-xor",
                "--data",
                "x.pt",
                "--out",
                str(tmp_path / "o"),
            ]
        )
    assert exc.value.code == 2
