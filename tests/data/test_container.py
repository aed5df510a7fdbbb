"""Validation of MultimodalDataset: every bad input gets a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmil.data import INTERACTION_TYPES, MultimodalDataset


def _mods(n: int = 10) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(n, 3, generator=g), torch.randn(n, 2, 4, generator=g)]


def _labels(n: int = 10, c: int = 2) -> torch.Tensor:
    return torch.arange(n) % c


def test_container_valid_dataset_exposes_shapes_and_counts() -> None:
    ds = MultimodalDataset(_mods(), _labels(), modality_names=["a", "b"], class_names=["no", "yes"])
    assert len(ds) == 10 and ds.n_modalities == 2 and ds.n_classes == 2
    assert ds.shapes == {"a": (3,), "b": (2, 4)}
    assert ds.class_counts().tolist() == [5, 5]
    assert ds.modality("b").shape == (10, 2, 4)
    assert "a (3,) float32" in ds.describe()


def test_container_mapping_supplies_names() -> None:
    a, b = _mods()
    ds = MultimodalDataset({"audio": a, "video": b}, _labels())
    assert ds.modality_names == ("audio", "video")


def test_container_numpy_inputs_keep_dtype() -> None:
    x1 = np.random.default_rng(0).normal(size=(6, 2))  # float64 stays float64
    x2 = np.arange(6).reshape(6, 1)  # int stays int (discrete codes)
    ds = MultimodalDataset([x1, x2], np.array([0, 1, 0, 1, 0, 1]))
    assert ds.modalities[0].dtype == torch.float64
    assert ds.modalities[1].dtype == torch.int64


def test_container_rejects_fewer_than_two_modalities() -> None:
    with pytest.raises(ValueError, match=r"expected at least 2 modalities, found 1"):
        MultimodalDataset([_mods()[0]], _labels())


def test_container_rejects_length_mismatch() -> None:
    a, b = _mods()
    with pytest.raises(ValueError, match=r"modality 'x2' has 9 samples but labels have 10"):
        MultimodalDataset([a, b[:9]], _labels())


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_container_rejects_non_finite(bad: float) -> None:
    a, b = _mods()
    b[4, 1, 2] = bad
    with pytest.raises(ValueError, match=r"modality 'x2' contains non-finite values .* index 4"):
        MultimodalDataset([a, b], _labels())


def test_container_rejects_float_labels() -> None:
    with pytest.raises(TypeError, match=r"labels have dtype torch.float32; expected an integer"):
        MultimodalDataset(_mods(), _labels().float())


def test_container_rejects_labels_out_of_range() -> None:
    y = _labels()
    y[3] = 5
    with pytest.raises(
        ValueError, match=r"labels must lie in 0..1 \(C = 2 classes, .*\); found .* 5"
    ):
        MultimodalDataset(_mods(), y, class_names=["a", "b"])


def test_container_rejects_negative_labels() -> None:
    y = _labels()
    y[0] = -1
    with pytest.raises(ValueError, match=r"labels must lie in 0..C-1.*from -1"):
        MultimodalDataset(_mods(), y)


def test_container_rejects_empty_dataset() -> None:
    with pytest.raises(ValueError, match=r"the dataset is empty"):
        MultimodalDataset([torch.zeros(0, 2), torch.zeros(0, 2)], torch.zeros(0, dtype=torch.long))


def test_container_rejects_wrong_modality_dtype() -> None:
    a, _ = _mods()
    with pytest.raises(TypeError, match=r"modality 'x2' has dtype torch.bool"):
        MultimodalDataset([a, torch.ones(10, 2, dtype=torch.bool)], _labels())


def test_container_rejects_string_arrays() -> None:
    a, _ = _mods()
    with pytest.raises(TypeError, match=r"modality 'x2' has dtype <U1"):
        MultimodalDataset([a, np.array(list("abcdefghij"))], _labels())


def test_container_rejects_single_class() -> None:
    with pytest.raises(ValueError, match=r"labels hold a single class \(every label is 0\)"):
        MultimodalDataset(_mods(), torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match=r"class_names: expected at least 2 classes, found 1"):
        MultimodalDataset(_mods(), torch.zeros(10, dtype=torch.long), class_names=["only"])


def test_container_rejects_unknown_interaction_type() -> None:
    with pytest.raises(ValueError, match=r"unknown types \['X'\]"):
        MultimodalDataset(_mods(), _labels(), interactions=["R"] * 9 + ["X"])


def test_container_interactions_round_trip_names() -> None:
    types = [INTERACTION_TYPES[i % 4] for i in range(10)]
    ds = MultimodalDataset(_mods(), _labels(), interactions=types)
    assert ds.interaction_names() == types
    assert ds.has_truth


def test_container_rejects_overlapping_predefined_split() -> None:
    with pytest.raises(ValueError, match=r"overlaps another split"):
        MultimodalDataset(
            _mods(), _labels(), predefined_split={"train": np.arange(6), "test": np.arange(5, 10)}
        )


def test_container_subset_keeps_truth_and_groups() -> None:
    ds = MultimodalDataset(_mods(), _labels(), interactions=["S"] * 10, groups=np.arange(10) // 5)
    sub = ds.subset([1, 2, 7])
    assert len(sub) == 3
    assert sub.interaction_names() == ["S"] * 3
    assert sub.groups.tolist() == [0, 0, 1]
    assert torch.equal(sub.modalities[1], ds.modalities[1][[1, 2, 7]])


def test_container_with_modalities_keeps_everything_but_the_tensors() -> None:
    split = {"train": np.arange(6), "test": np.arange(6, 10)}
    ds = MultimodalDataset(
        _mods(),
        _labels(),
        modality_names=["a", "b"],
        class_names=["no", "yes"],
        interactions=["R", "S"] * 5,
        groups=np.arange(10) // 5,
        predefined_split=split,
        name="toy",
        source="tests",
        metadata={"pid": {"R": 0.1}},
    )
    new = [torch.zeros(10, 5), torch.ones(10, 2, 4, dtype=torch.float64)]
    out = ds.with_modalities(new)
    assert out is not ds
    assert torch.equal(out.modalities[0], new[0]) and torch.equal(out.modalities[1], new[1])
    assert out.modalities[1].dtype == torch.float64
    assert out.shapes == {"a": (5,), "b": (2, 4)}
    assert out.modality_names == ("a", "b") and out.class_names == ("no", "yes")
    assert torch.equal(out.labels, ds.labels)
    assert out.interaction_names() == ["R", "S"] * 5
    assert out.groups.tolist() == ds.groups.tolist()
    assert out.predefined_split.keys() == split.keys()
    assert all(np.array_equal(out.predefined_split[k], split[k]) for k in split)
    assert (out.name, out.source, out.metadata) == ("toy", "tests", {"pid": {"R": 0.1}})
    assert torch.equal(ds.modalities[0], _mods()[0])  # the original is unchanged


def test_container_with_modalities_validates_the_tensors() -> None:
    ds = MultimodalDataset(_mods(), _labels(), modality_names=["a", "b"])
    a, b = _mods()
    with pytest.raises(ValueError, match=r"modality 'b' has 9 samples but labels have 10"):
        ds.with_modalities([a, b[:9]])
    b[3, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"modality 'b' contains non-finite values"):
        ds.with_modalities([a, b])
    with pytest.raises(ValueError, match=r"tensors: expected 2 tensors .* found 1"):
        ds.with_modalities([a])


def test_container_select_modalities_by_name_and_index() -> None:
    a, b = _mods()
    c = torch.randn(10, 5)
    ds = MultimodalDataset({"a": a, "b": b, "c": c}, _labels(), interactions=["S"] * 10)
    sub = ds.select_modalities(["c", 0])
    assert sub.modality_names == ("c", "a")
    assert torch.equal(sub.modalities[0], c) and torch.equal(sub.modalities[1], a)
    assert sub.interaction_names() == ["S"] * 10
    with pytest.raises(ValueError, match=r"expected at least 2 modalities, found 1"):
        ds.select_modalities(["a"])


# ---------------------------------------------------------------- class ids bounded by N
def test_container_label_gap_is_an_error_naming_the_missing_ids() -> None:
    y = torch.tensor([0, 5] * 5)
    with pytest.raises(ValueError, match=r"2 distinct labels but the largest is 5, so 4 id\(s\) "):
        MultimodalDataset(_mods(), y)
    with pytest.raises(ValueError, match=r"missing: \[1, 2, 3, 4\]"):
        MultimodalDataset(_mods(), y)


def test_container_huge_label_fails_fast_without_a_class_list() -> None:
    y = _labels()
    y[7] = 2**40
    with pytest.raises(ValueError, match=r"largest is 1099511627776.*\[2, 3, 4, .*, 11, \.\.\.\]"):
        MultimodalDataset(_mods(), y)
    with pytest.raises(
        ValueError, match=r"labels must lie in 0..1 \(C = 2 classes, one per entry of class_names\)"
    ):
        MultimodalDataset(_mods(), y, class_names=["a", "b"])


def test_container_declared_class_names_allow_absent_classes() -> None:
    ds = MultimodalDataset(_mods(), _labels(), class_names=["a", "b", "c"])
    assert ds.n_classes == 3 and ds.class_counts().tolist() == [5, 5, 0]
    three = MultimodalDataset(_mods(), torch.arange(10) % 3)
    assert three.class_names == ("0", "1", "2")


# ---------------------------------------------------------------- modality shapes and dtypes
def test_container_rejects_one_dimensional_modality() -> None:
    a, _ = _mods()
    with pytest.raises(ValueError, match=r"modality 'x2' has shape \(10,\).*to \(N, 1\)"):
        MultimodalDataset([a, torch.randn(10)], _labels())


def test_container_rejects_zero_width_modality() -> None:
    a, _ = _mods()
    with pytest.raises(ValueError, match=r"modality 'x1' has shape \(10, 0\): zero features"):
        MultimodalDataset([torch.zeros(10, 0), a], _labels())
    with pytest.raises(ValueError, match=r"modality 'x2' has shape \(10, 3, 0\): zero features"):
        MultimodalDataset([a, torch.zeros(10, 3, 0)], _labels())


def test_container_complex_message_talks_about_complex_numbers() -> None:
    a, _ = _mods()
    with pytest.raises(TypeError, match=r"modality 'x2' holds complex numbers") as info:
        MultimodalDataset([a, torch.randn(10, 2, dtype=torch.complex64)], _labels())
    assert "boolean" not in str(info.value).lower()


def test_container_rejects_meta_tensor() -> None:
    a, _ = _mods()
    with pytest.raises(ValueError, match=r"modality 'x2' is a tensor on the 'meta' device"):
        MultimodalDataset([a, torch.empty(10, 3, device="meta")], _labels())
