"""The per-interaction labels of real data are estimated once and then read from a cache."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from dmil.cli import main
from dmil.data import MultimodalDataset, load, split_dataset
from dmil.evaluation.interactions import CACHE_STATS, interaction_labels, labels_cache_key


@pytest.fixture(scope="module")
def parts():
    data = load("synthetic-gaussian", n_samples=600, n_classes=3, dim=4, random_state=0)
    return split_dataset(data, val_size=0.2, test_size=0.2, random_state=0)


def _cache_files() -> list[Path]:
    return sorted(Path(os.environ["DMIL_CACHE_DIR"]).glob("interaction-labels/*.json"))


def test_second_call_reads_the_cache_instead_of_refitting(parts) -> None:
    before = dict(CACHE_STATS)
    first, used = interaction_labels(parts.test, train=parts.train, val=parts.val)
    assert used == "estimated" and len(first) == len(parts.test)
    assert len(_cache_files()) == 1
    second, _ = interaction_labels(parts.test, train=parts.train, val=parts.val)
    assert second == first
    assert CACHE_STATS["fits"] == before["fits"] + 1
    assert CACHE_STATS["hits"] == before["hits"] + 1


def test_other_settings_or_data_get_other_entries(parts) -> None:
    interaction_labels(parts.test, train=parts.train, val=parts.val, random_state=0)
    interaction_labels(parts.test, train=parts.train, val=parts.val, random_state=1)
    assert len(_cache_files()) == 2
    settings = {"measure": "ccs", "device": "cpu", "random_state": 0}
    key = labels_cache_key(parts.train, parts.val, parts.test, settings)
    changed = parts.train.modalities[0].clone()
    changed[0, 0] += 1.0
    other = MultimodalDataset([changed, parts.train.modalities[1]], parts.train.labels)
    assert labels_cache_key(other, parts.val, parts.test, settings) != key
    assert labels_cache_key(parts.val, parts.train, parts.test, settings) != key  # roles


def test_no_cache_always_refits(parts) -> None:
    before = CACHE_STATS["fits"]
    for _ in range(2):
        interaction_labels(parts.test, train=parts.train, val=parts.val, cache=False)
    assert CACHE_STATS["fits"] == before + 2
    assert _cache_files() == []


def test_unreadable_cache_file_is_refitted_with_a_warning(parts, caplog) -> None:
    labels, _ = interaction_labels(parts.test, train=parts.train, val=parts.val)
    (path,) = _cache_files()
    path.write_text("{not json")
    before = CACHE_STATS["fits"]
    with caplog.at_level(logging.WARNING, logger="dmil.evaluation.interactions"):
        again, _ = interaction_labels(parts.test, train=parts.train, val=parts.val)
    assert again == labels and CACHE_STATS["fits"] == before + 1
    assert "unreadable interaction-label cache" in caplog.text


def test_second_dmil_train_on_real_data_does_not_refit(tmp_path, caplog) -> None:
    argv = ["train", "--dataset", "digits-halves", "--method", "joint", "--epochs", "1"]
    argv += ["--no-progress"]
    caplog.set_level(logging.INFO, logger="dmil.evaluation.interactions")
    before = dict(CACHE_STATS)
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert CACHE_STATS["fits"] == before["fits"] + 1
    caplog.clear()
    assert main([*argv, "--method", "ensemble", "--out", str(tmp_path / "b")]) == 0
    assert CACHE_STATS["fits"] == before["fits"] + 1  # no second fit
    assert CACHE_STATS["hits"] == before["hits"] + 1
    assert "reusing cached interaction labels" in caplog.text
