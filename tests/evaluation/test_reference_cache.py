"""The shared unimodal reference is cached by content: a second run on the same splits
reads the same predictions without refitting."""

from __future__ import annotations

import numpy as np
import pytest

from dmil.data import load, split_dataset
from dmil.evaluation import reference as reference_module
from dmil.evaluation.reference import REFERENCE_CACHE_STATS, reference_unimodal_predictions


@pytest.fixture()
def splits(tmp_path, monkeypatch):
    monkeypatch.setenv("DMIL_CACHE_DIR", str(tmp_path / "cache"))
    data = load("synthetic-mixed", n_samples=300, random_state=0)
    return split_dataset(data, random_state=0)


def _cache_files(tmp_path):
    return sorted((tmp_path / "cache" / "reference-predictions").glob("*.npy"))


def test_reference_second_call_reads_the_cache(splits, tmp_path):
    fits = REFERENCE_CACHE_STATS["fits"]
    first = reference_unimodal_predictions(splits.train, splits.test, random_state=0)
    assert REFERENCE_CACHE_STATS["fits"] == fits + 1
    assert len(_cache_files(tmp_path)) == 1
    hits = REFERENCE_CACHE_STATS["hits"]
    second = reference_unimodal_predictions(splits.train, splits.test, random_state=0)
    assert REFERENCE_CACHE_STATS["fits"] == fits + 1
    assert REFERENCE_CACHE_STATS["hits"] == hits + 1
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.int64 and first.shape == (2, len(splits.test))
    uncached = reference_unimodal_predictions(
        splits.train, splits.test, random_state=0, cache=False
    )
    np.testing.assert_array_equal(first, uncached)


def test_reference_cache_key_depends_on_the_splits_and_seed(splits):
    key = reference_module.reference_cache_key(splits.train, splits.test, 0)
    assert key == reference_module.reference_cache_key(splits.train, splits.test, 0)
    assert key != reference_module.reference_cache_key(splits.train, splits.val, 0)
    assert key != reference_module.reference_cache_key(splits.train, splits.test, 1)


def test_reference_damaged_cache_file_is_refitted(splits, tmp_path, caplog):
    first = reference_unimodal_predictions(splits.train, splits.test, random_state=0)
    (path,) = _cache_files(tmp_path)
    path.write_bytes(b"not an array")
    fits = REFERENCE_CACHE_STATS["fits"]
    with caplog.at_level("WARNING"):
        again = reference_unimodal_predictions(splits.train, splits.test, random_state=0)
    assert REFERENCE_CACHE_STATS["fits"] == fits + 1
    assert "unreadable reference-prediction cache" in caplog.text
    np.testing.assert_array_equal(first, again)


def test_the_study_caches_the_training_labels_the_guided_gate_asks_for(splits):
    # `dmil run` fits the estimator once per seed; the training split's labels it caches
    # are the ones a fresh fit gives, and DMIL's gate targets read them without a refit.
    from dmil.evaluation.interactions import CACHE_STATS, interaction_labels
    from dmil.workflows.study import _interactions

    _interactions(splits, source="auto", seed=0, device="cpu")
    fits, hits = CACHE_STATS["fits"], CACHE_STATS["hits"]
    kwargs = {"train": splits.train, "val": splits.val, "source": "estimated", "random_state": 0}
    cached, used = interaction_labels(splits.train, split="training", **kwargs)
    assert used == "estimated" and (CACHE_STATS["fits"], CACHE_STATS["hits"]) == (fits, hits + 1)
    fresh, _ = interaction_labels(splits.train, cache=False, **kwargs)
    assert cached == fresh
    # The test split's labels too, for `dmil evaluate` and `dmil explain` later.
    hits = CACHE_STATS["hits"]
    test_labels, _ = interaction_labels(splits.test, **kwargs)
    assert CACHE_STATS["hits"] == hits + 1
    assert test_labels == interaction_labels(splits.test, cache=False, **kwargs)[0]
