"""Metrics on hand-made predictions equal values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmil.evaluation.metrics import (
    accuracy,
    accuracy_by_interaction,
    classification_report,
    macro_f1,
    per_modality_accuracy,
    synergy_indicator,
)

# Eight samples, three classes, two modalities.
Y_TRUE = np.array([0, 1, 2, 0, 1, 2, 0, 1])
Y_PRED = np.array([0, 1, 1, 0, 2, 2, 1, 1])  # right at 0, 1, 3, 5, 7
M1 = np.array([0, 0, 2, 0, 1, 0, 0, 0])  # right at 0, 2, 3, 4, 6
M2 = np.array([1, 1, 0, 0, 0, 2, 2, 0])  # right at 1, 3, 5
KINDS = ["R", "R", "S", "U1", "U2", "S", "S", "U1"]


def test_accuracy_hand_computed():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(5 / 8)
    assert accuracy(torch.tensor(Y_TRUE), torch.tensor(Y_TRUE)) == 1.0


def test_macro_f1_hand_computed():
    # class 0: P 2/2, R 2/3 -> F1 0.8; class 1: P 2/4, R 2/3 -> 4/7; class 2: P 1/2, R 1/2 -> 0.5
    expected = (0.8 + 4 / 7 + 0.5) / 3
    assert macro_f1(Y_TRUE, Y_PRED) == pytest.approx(expected)


def test_per_modality_accuracy_hand_computed():
    got = per_modality_accuracy(Y_TRUE, [M1, M2], modality_names=["audio", "video"])
    assert got == {"audio": pytest.approx(5 / 8), "video": pytest.approx(3 / 8)}
    # An (M, N) array works the same and default names are x1, x2.
    assert per_modality_accuracy(Y_TRUE, np.stack([M1, M2])) == {
        "x1": pytest.approx(5 / 8),
        "x2": pytest.approx(3 / 8),
    }


def test_synergy_indicator_hand_computed():
    # Only sample 7 is right multimodally while both unimodal predictions are wrong.
    assert synergy_indicator(Y_TRUE, Y_PRED, [M1, M2]) == pytest.approx(1 / 8)
    # Unimodal predictions that are always right leave no room for synergy.
    assert synergy_indicator(Y_TRUE, Y_PRED, [Y_TRUE, M2]) == 0.0
    # Multimodal right everywhere, unimodal wrong everywhere: indicator 1.
    wrong = (Y_TRUE + 1) % 3
    assert synergy_indicator(Y_TRUE, Y_TRUE, [wrong, wrong, wrong]) == 1.0


def test_accuracy_by_interaction_hand_computed():
    got = accuracy_by_interaction(Y_TRUE, Y_PRED, KINDS)
    assert list(got) == ["R", "U1", "U2", "S"]
    assert got["R"] == {"accuracy": 1.0, "n": 2}
    assert got["U1"] == {"accuracy": 1.0, "n": 2}
    assert got["U2"] == {"accuracy": 0.0, "n": 1}
    assert got["S"]["n"] == 3 and got["S"]["accuracy"] == pytest.approx(1 / 3)


def test_accuracy_by_interaction_reports_absent_types_with_n_zero():
    got = accuracy_by_interaction(Y_TRUE, Y_PRED, ["R"] * 8, types=["R", "S"])
    assert got["R"] == {"accuracy": 5 / 8, "n": 8}
    assert got["S"] == {"accuracy": None, "n": 0}


def test_classification_report_combines_everything():
    report = classification_report(
        Y_TRUE, Y_PRED, modality_preds=[M1, M2], modality_names=["a", "b"], interactions=KINDS
    )
    assert report["accuracy"] == pytest.approx(5 / 8)
    # Without shared reference predictions only the method-own indicator exists.
    assert report["synergy_indicator"] is None
    assert report["synergy_indicator_own"] == pytest.approx(1 / 8)
    assert report["per_modality_accuracy"]["b"] == pytest.approx(3 / 8)
    assert report["by_interaction"]["U2"]["n"] == 1
    bare = classification_report(Y_TRUE, Y_PRED)
    assert bare["synergy_indicator"] is None and bare["by_interaction"] == {}


def test_classification_report_synergy_indicator_uses_the_shared_reference():
    """Two methods with the same multimodal predictions but different own unimodal heads
    get the same indicator against one shared reference."""
    own_a = classification_report(Y_TRUE, Y_PRED, modality_preds=[M1, M2], reference_preds=[M1, M2])
    own_b = classification_report(
        Y_TRUE, Y_PRED, modality_preds=[Y_TRUE, Y_TRUE], reference_preds=[M1, M2]
    )
    assert own_a["synergy_indicator"] == own_b["synergy_indicator"] == pytest.approx(1 / 8)
    assert own_b["synergy_indicator_own"] == 0.0


def test_metrics_reject_scores_and_length_mismatch():
    with pytest.raises(TypeError, match="integer class ids"):
        accuracy(Y_TRUE, Y_PRED.astype(float))
    with pytest.raises(ValueError, match="expected 8 entries"):
        accuracy(Y_TRUE, Y_PRED[:5])
    with pytest.raises(ValueError, match="expected 8 types"):
        accuracy_by_interaction(Y_TRUE, Y_PRED, KINDS[:3])
    with pytest.raises(ValueError, match="expected 2 names"):
        per_modality_accuracy(Y_TRUE, [M1, M2], modality_names=["a"])
