"""Round trips of both file layouts (LSMI .pt and dmil .npz)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmil.data import MultimodalDataset, read_dataset, split_indices, write_lsmi_pt, write_npz


def _dataset(m: int = 2) -> MultimodalDataset:
    rng = np.random.default_rng(0)
    n = 60
    return MultimodalDataset(
        [rng.normal(size=(n, 3 + i)).astype(np.float32) for i in range(m)],
        np.arange(n) % 3,
        class_names=["a", "b", "c"],
        interactions=[("R", "U1", "U2", "S")[i % 4] for i in range(n)],
        groups=np.arange(n) % 5,
    )


def test_lsmi_file_from_plain_torch_save_is_read(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    blob = {
        "train_modal_1_features": torch.randn(80, 5, generator=g),
        "train_modal_2_features": torch.randn(80, 7, generator=g),
        "train_targets": torch.arange(80) % 4,
        "val_modal_1_features": torch.randn(20, 5, generator=g),
        "val_modal_2_features": torch.randn(20, 7, generator=g),
        "val_targets": torch.arange(20) % 4,
    }
    path = tmp_path / "lsmi.pt"
    torch.save(blob, path)
    ds = read_dataset(path)
    assert ds.modality_names == ("modal_1", "modal_2")
    assert len(ds) == 100 and ds.n_classes == 4
    assert np.array_equal(ds.predefined_split["val"], np.arange(80, 100))
    assert torch.equal(ds.modalities[1][80:], blob["val_modal_2_features"])
    assert torch.equal(ds.labels[:80], blob["train_targets"])


def test_lsmi_round_trip(tmp_path) -> None:
    ds = _dataset(m=3)
    idx = split_indices(ds, random_state=0, group_disjoint=False)
    path = write_lsmi_pt(ds, tmp_path / "out.pt", splits=idx)
    back = read_dataset(path)
    assert back.n_modalities == 3
    for split in ("train", "val", "test"):
        sel = torch.as_tensor(idx[split])
        got = torch.as_tensor(back.predefined_split[split])
        for a, b in zip(ds.modalities, back.modalities, strict=True):
            assert torch.equal(a[sel], b[got])
        assert torch.equal(ds.labels[sel], back.labels[got])


def test_lsmi_missing_key_is_named(tmp_path) -> None:
    torch.save({"train_modal_1_features": torch.zeros(4, 2)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"expected train_modal_1_features .. train_modal_M"):
        read_dataset(tmp_path / "bad.pt")
    torch.save(
        {"train_modal_1_features": torch.zeros(4, 2), "train_modal_2_features": torch.zeros(4, 2)},
        tmp_path / "bad2.pt",
    )
    with pytest.raises(ValueError, match=r"missing key 'train_targets'"):
        read_dataset(tmp_path / "bad2.pt")


def test_lsmi_whole_number_float_targets_accepted_fractional_rejected(tmp_path) -> None:
    blob = {
        "train_modal_1_features": torch.zeros(4, 2),
        "train_modal_2_features": torch.ones(4, 2),
        "train_targets": torch.tensor([0.0, 1.0, 0.0, 1.0]),
    }
    torch.save(blob, tmp_path / "f.pt")
    assert read_dataset(tmp_path / "f.pt").labels.dtype == torch.int64
    blob["train_targets"] = torch.tensor([0.0, 0.5, 0.0, 1.0])
    torch.save(blob, tmp_path / "g.pt")
    with pytest.raises(TypeError, match=r"'train_targets' holds non-integer values"):
        read_dataset(tmp_path / "g.pt")


def test_npz_round_trip_keeps_everything(tmp_path) -> None:
    ds = _dataset(m=3)
    path = write_npz(ds, tmp_path / "d.npz")
    back = read_dataset(path)
    assert back.modality_names == ds.modality_names
    assert back.class_names == ds.class_names
    assert back.interaction_names() == ds.interaction_names()
    assert torch.equal(back.groups, ds.groups)
    for a, b in zip(ds.modalities, back.modalities, strict=True):
        assert torch.equal(a, b)


def test_npz_missing_modality_array_is_named(tmp_path) -> None:
    np.savez(
        tmp_path / "m.npz",
        modality_names=np.array(["a", "b"]),
        x_a=np.zeros((3, 2)),
        y=np.array([0, 1, 0]),
    )
    with pytest.raises(ValueError, match=r"modality 'b' is listed but array 'x_b' is missing"):
        read_dataset(tmp_path / "m.npz")


def test_read_dataset_unknown_suffix_and_missing_file(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"unsupported data file"):
        read_dataset(tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError, match=r"data file not found"):
        read_dataset(tmp_path / "absent.pt")


def test_atomic_write_keeps_old_file_on_failure(tmp_path) -> None:
    ds = _dataset()
    path = write_npz(ds, tmp_path / "d.npz")
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_lsmi_pt(ds, path, splits={})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]
