"""Evaluation: metrics (including the synergy indicator and per-interaction accuracy),
predictions, interaction labels of test sets, and whole experiments."""

from dmil.evaluation.experiment import (
    ExperimentResult,
    evaluate_checkpoint,
    execute_experiment,
    load_data,
    load_splits,
    model_config_for,
    resolve_spec,
    run_experiment,
    standardize_splits,
)
from dmil.evaluation.interactions import INTERACTION_SOURCES, interaction_labels
from dmil.evaluation.metrics import (
    accuracy,
    accuracy_by_interaction,
    classification_report,
    macro_f1,
    per_modality_accuracy,
    synergy_indicator,
)
from dmil.evaluation.predict import Predictions, predict

__all__ = [
    "INTERACTION_SOURCES",
    "ExperimentResult",
    "Predictions",
    "accuracy",
    "accuracy_by_interaction",
    "classification_report",
    "evaluate_checkpoint",
    "execute_experiment",
    "interaction_labels",
    "load_data",
    "load_splits",
    "macro_f1",
    "model_config_for",
    "per_modality_accuracy",
    "predict",
    "resolve_spec",
    "run_experiment",
    "standardize_splits",
    "synergy_indicator",
]
