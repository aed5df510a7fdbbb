"""The dataset registry: unknown names get a close match or a pointer to --data."""

from __future__ import annotations

import pytest

from dmil.data import available_datasets, dataset_info, load


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("mfet", "'mfeat'"), ("scene-15", "'scene15'"), ("synthetic-xo", "'synthetic-xor'")],
)
def test_registry_unknown_name_suggests_close_match(typo: str, suggestion: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown dataset '{typo}'; did you mean .*{suggestion}"):
        dataset_info(typo)


def test_registry_unknown_name_without_close_match_lists_known() -> None:
    with pytest.raises(ValueError) as info:
        load("completely-different")
    message = str(info.value)
    assert "did you mean" not in message
    assert "known datasets: " + ", ".join(available_datasets()) in message


@pytest.mark.parametrize("name", ["features.pt", "my_data.NPZ", "run/feats.pth"])
def test_registry_file_like_name_points_to_data_flag(name: str) -> None:
    with pytest.raises(ValueError, match=r"looks like a file path.*--data FILE"):
        dataset_info(name)


def test_registry_existing_path_points_to_data_flag(tmp_path) -> None:
    path = tmp_path / "features"
    path.write_text("x")
    with pytest.raises(ValueError, match=r"looks like a file path.*--data FILE") as info:
        dataset_info(str(path))
    assert "did you mean" not in str(info.value)
