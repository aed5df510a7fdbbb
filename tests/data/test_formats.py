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
    # The arrays present are listed, so a misspelt key shows.
    with pytest.raises(
        ValueError,
        match=r"modality 'b' is listed in modality_names but array 'x_b' is missing "
        r"\(arrays found: modality_names, x_a, y\)",
    ):
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


# ---------------------------------------------------------------- hostile and careless files
def _blob(n_train: int = 8, n_val: int = 4) -> dict[str, object]:
    g = torch.Generator().manual_seed(0)
    return {
        "train_modal_1_features": torch.randn(n_train, 3, generator=g),
        "train_modal_2_features": torch.randn(n_train, 2, generator=g),
        "train_targets": torch.arange(n_train) % 2,
        "val_modal_1_features": torch.randn(n_val, 3, generator=g),
        "val_modal_2_features": torch.randn(n_val, 2, generator=g),
        "val_targets": torch.arange(n_val) % 2,
    }


def _save_pt(tmp_path, blob: dict[str, object], name: str = "d.pt"):
    path = tmp_path / name
    torch.save(blob, path)
    return path


def _npz_arrays(n: int = 6) -> dict[str, np.ndarray]:
    return {
        "modality_names": np.array(["a", "b"]),
        "x_a": np.zeros((n, 2), dtype=np.float32),
        "x_b": np.ones((n, 3), dtype=np.float32),
        "y": np.arange(n) % 2,
    }


def _save_npz(tmp_path, arrays: dict[str, np.ndarray], name: str = "d.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_lsmi_two_column_targets_are_an_error_not_flattened(tmp_path) -> None:
    blob = _blob()
    blob["train_targets"] = (torch.arange(8) % 2).reshape(4, 2)
    with pytest.raises(ValueError, match=r"'train_targets' has shape \(4, 2\); expected \(8,\)"):
        read_dataset(_save_pt(tmp_path, blob))


def test_lsmi_single_column_targets_are_read_as_one_label_per_row(tmp_path) -> None:
    blob = _blob()
    blob["train_targets"] = (torch.arange(8) % 2).reshape(8, 1)
    ds = read_dataset(_save_pt(tmp_path, blob))
    assert ds.labels[:8].tolist() == [0, 1] * 4


def test_lsmi_boolean_targets_are_an_error(tmp_path) -> None:
    blob = _blob()
    blob["val_targets"] = torch.tensor([True, False, True, False])
    with pytest.raises(TypeError, match=r"'val_targets' has dtype torch.bool; expected integer"):
        read_dataset(_save_pt(tmp_path, blob))


def test_lsmi_unknown_split_tag_is_an_error_listing_valid_tags(tmp_path) -> None:
    blob = _blob()
    blob["validation_modal_1_features"] = blob.pop("val_modal_1_features")
    with pytest.raises(ValueError, match=r"'validation_modal_1_features' has an unknown split tag"):
        read_dataset(_save_pt(tmp_path, blob))
    blob = _blob()
    blob["validation_targets"] = blob.pop("val_targets")
    with pytest.raises(ValueError, match=r"valid tags are 'train', 'val', 'test'"):
        read_dataset(_save_pt(tmp_path, blob))


def test_lsmi_targets_without_features_are_an_error(tmp_path) -> None:
    blob = _blob()
    blob["test_targets"] = torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"'test_targets' is present but no 'test_modal_k_feat"):
        read_dataset(_save_pt(tmp_path, blob))


def test_lsmi_one_dimensional_features_are_an_error(tmp_path) -> None:
    blob = _blob()
    blob["train_modal_2_features"] = torch.randn(8)
    with pytest.raises(ValueError, match=r"'train_modal_2_features' has shape \(8,\).*\(N, 1\)"):
        read_dataset(_save_pt(tmp_path, blob))


def test_lsmi_train_val_width_mismatch_names_both_keys(tmp_path) -> None:
    blob = _blob()
    blob["val_modal_1_features"] = torch.randn(4, 5)
    with pytest.raises(
        ValueError,
        match=r"'val_modal_1_features' has \(5,\) features per sample but "
        r"'train_modal_1_features' has \(3,\)",
    ):
        read_dataset(_save_pt(tmp_path, blob))


def test_lsmi_train_val_dtype_mismatch_names_both_keys(tmp_path) -> None:
    blob = _blob()
    blob["val_modal_2_features"] = torch.zeros(4, 2, dtype=torch.long)
    with pytest.raises(
        TypeError, match=r"'val_modal_2_features' has dtype torch.int64 but 'train_modal_2_feat"
    ):
        read_dataset(_save_pt(tmp_path, blob))


def test_lsmi_zero_width_features_are_an_error(tmp_path) -> None:
    blob = _blob()
    blob["train_modal_1_features"] = torch.zeros(8, 0)
    blob["val_modal_1_features"] = torch.zeros(4, 0)
    with pytest.raises(ValueError, match=r"'train_modal_1_features' has shape \(8, 0\): zero"):
        read_dataset(_save_pt(tmp_path, blob))


def test_lsmi_meta_tensor_is_an_error(tmp_path) -> None:
    blob = _blob()
    blob["train_modal_1_features"] = torch.empty(8, 3, device="meta")
    with pytest.raises(ValueError, match=r"'train_modal_1_features' is a tensor on the 'meta'"):
        read_dataset(_save_pt(tmp_path, blob))


def test_lsmi_empty_dict_is_an_error_naming_the_expected_keys(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"empty dict; expected keys 'train_modal_1_features'"):
        read_dataset(_save_pt(tmp_path, {}))


def test_lsmi_string_value_is_an_error_naming_the_key(tmp_path) -> None:
    blob = _blob()
    blob["train_targets"] = "0,1,0,1,0,1,0,1"
    with pytest.raises(TypeError, match=r"'train_targets' holds a str; expected a tensor"):
        read_dataset(_save_pt(tmp_path, blob))


def test_lsmi_complex_features_message_talks_about_complex_numbers(tmp_path) -> None:
    blob = _blob()
    blob["train_modal_2_features"] = torch.randn(8, 2, dtype=torch.complex64)
    with pytest.raises(TypeError, match=r"'train_modal_2_features' holds complex numbers") as info:
        read_dataset(_save_pt(tmp_path, blob))
    assert "boolean" not in str(info.value).lower()


class _Payload:
    """Pickles as a call that would create a marker file when unpickled."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_lsmi_unsafe_pickle_is_refused_without_weights_only_advice(tmp_path) -> None:
    marker = tmp_path / "executed"
    blob = _blob()
    blob["train_targets"] = _Payload(marker)
    path = _save_pt(tmp_path, blob)
    with pytest.raises(ValueError, match=r"pickled Python objects .*that dmil will not execute"):
        read_dataset(path)
    with pytest.raises(ValueError) as info:
        read_dataset(path)
    assert "weights_only" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "re-save" in str(info.value).lower()
    assert not marker.exists()


def test_lsmi_huge_label_value_fails_fast(tmp_path) -> None:
    blob = _blob()
    blob["val_targets"] = torch.tensor([0, 1, 2**40, 1])
    with pytest.raises(ValueError, match=r"largest is 1099511627776"):
        read_dataset(_save_pt(tmp_path, blob))


def test_npz_unknown_split_tag_is_an_error_listing_valid_tags(tmp_path) -> None:
    arrays = _npz_arrays()
    arrays["split"] = np.array(["train", "train", "validation", "validation", "test", "test"])
    with pytest.raises(
        ValueError, match=r"'split' has unknown tags 'validation' \(2 samples\); valid tags are"
    ):
        read_dataset(_save_npz(tmp_path, arrays))


def test_npz_empty_split_tag_leaves_samples_unassigned(tmp_path) -> None:
    arrays = _npz_arrays()
    arrays["split"] = np.array(["train", "train", "", "", "test", "test"])
    ds = read_dataset(_save_npz(tmp_path, arrays))
    assert {k: v.tolist() for k, v in ds.predefined_split.items()} == {
        "train": [0, 1],
        "test": [4, 5],
    }


@pytest.mark.parametrize(
    ("key", "value", "error", "match"),
    [
        ("y", np.array([[0, 1], [0, 1], [0, 1]]), ValueError, r"'y' has shape \(3, 2\); expected"),
        ("y", np.array([True, False] * 3), TypeError, r"'y' holds booleans"),
        ("y", np.arange(6) % 2 + 0.0, TypeError, r"'y' holds floating values"),
        ("x_a", np.zeros(6, dtype=np.float32), ValueError, r"'x_a' has shape \(6,\).*\(N, 1\)"),
        ("x_b", np.zeros((6, 0)), ValueError, r"'x_b' has shape \(6, 0\): zero features"),
        ("x_b", np.zeros((6, 2), dtype=bool), TypeError, r"'x_b' holds booleans"),
        ("x_a", np.zeros((6, 2), dtype=np.complex64), TypeError, r"'x_a' holds complex numbers"),
        ("x_a", np.array([["u", "v"]] * 6), TypeError, r"'x_a' holds strings"),
        ("modality_names", np.array([["a", "b"]]), ValueError, r"'modality_names' has shape"),
        ("modality_names", np.array([1, 2]), TypeError, r"'modality_names' holds dtype int"),
        ("groups", np.arange(5), ValueError, r"'groups' has shape \(5,\); expected \(6,\)"),
        ("split", np.arange(6), TypeError, r"'split' holds dtype int"),
    ],
)
def test_npz_bad_array_is_named(tmp_path, key, value, error, match) -> None:
    arrays = _npz_arrays()
    arrays[key] = value
    with pytest.raises(error, match=match):
        read_dataset(_save_npz(tmp_path, arrays))


def test_npz_object_array_is_refused_naming_the_key(tmp_path) -> None:
    arrays = _npz_arrays()
    arrays["class_names"] = np.array(["no", None], dtype=object)
    with pytest.raises(TypeError, match=r"array 'class_names' holds Python objects"):
        read_dataset(_save_npz(tmp_path, arrays))


def _npy_bytes(shape: tuple[int, ...], data: bytes) -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + data


def test_npz_huge_declared_shape_fails_before_allocating(tmp_path, monkeypatch) -> None:
    import zipfile

    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in _npz_arrays().items():
            if key != "x_b":
                with zf.open(f"{key}.npy", "w") as fh:
                    np.lib.format.write_array(fh, value)
        zf.writestr("x_b.npy", _npy_bytes((10**7, 10**7), b"\0" * 48))

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("no array may be read before the headers are checked")

    monkeypatch.setattr(np.lib.format, "read_array", no_read)
    with pytest.raises(ValueError, match=r"'x_b' declares shape \(10000000, 10000000\)"):
        read_dataset(path)


def test_npz_declared_size_beyond_deflate_is_refused(tmp_path) -> None:
    import struct
    import zipfile

    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in _npz_arrays().items():
            with zf.open(f"{key}.npy", "w") as fh:
                np.lib.format.write_array(fh, value)
    raw = bytearray(path.read_bytes())
    # Claim 4 GB uncompressed for x_a in the central directory (offset 24 of its entry).
    entry = raw.index(b"PK\x01\x02")  # the first central-directory entry
    while raw[entry + 46 : entry + 53] != b"x_a.npy":  # its file name starts at offset 46
        entry = raw.index(b"PK\x01\x02", entry + 4)
    raw[entry + 24 : entry + 28] = struct.pack("<I", 0xFFFFFFF0)
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"'x_a' declares 4294967280 bytes from \d+ compressed"):
        read_dataset(path)


def test_npz_garbage_file_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match=r"could not read .*junk.npz as an .npz archive"):
        read_dataset(path)


def test_npz_byte_string_names_are_decoded(tmp_path) -> None:
    arrays = _npz_arrays()
    arrays["modality_names"] = np.array([b"a", b"b"])
    arrays["split"] = np.array([b"train"] * 4 + [b"val"] * 2)
    ds = read_dataset(_save_npz(tmp_path, arrays))
    assert ds.modality_names == ("a", "b")
    assert ds.predefined_split["val"].tolist() == [4, 5]


def test_npz_dataset_errors_name_the_file(tmp_path) -> None:
    np.savez(
        tmp_path / "short.npz",
        modality_names=np.array(["a", "b"]),
        x_a=np.zeros((3, 2)),
        x_b=np.zeros((2, 2)),
        y=np.array([0, 1, 0]),
    )
    with pytest.raises(
        ValueError, match=r"short\.npz: modality 'b' has 2 samples but labels have 3"
    ):
        read_dataset(tmp_path / "short.npz")
