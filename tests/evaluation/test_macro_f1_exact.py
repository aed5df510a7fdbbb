"""macro_f1 computes exactly scikit-learn's macro F1 (zero_division=0) without it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from dmil.evaluation.metrics import macro_f1


@pytest.mark.parametrize("seed", range(40))
def test_macro_f1_equals_scikit_learn_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(1, 30))
    n = int(rng.integers(1, 400))
    y = rng.integers(0, n_classes, n)
    # Predictions: mostly right, some classes never predicted, some only predicted.
    p = np.where(rng.random(n) < 0.6, y, rng.integers(0, n_classes + 3, n))
    expected = f1_score(y, p, average="macro", zero_division=0)
    assert macro_f1(y, p) == expected


def test_macro_f1_scores_a_never_predicted_class_zero():
    assert macro_f1([0, 0, 1, 1], [0, 0, 0, 0]) == pytest.approx((2 * 2 / 6 + 0.0) / 2)
