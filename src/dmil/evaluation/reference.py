"""Unimodal reference predictions shared by every method, for a comparable synergy
indicator.

The synergy indicator counts test samples that the multimodal prediction gets right while
every unimodal prediction gets them wrong. With each method's own unimodal heads or
probes the count depends on how good those heads happen to be, so two methods with the
same multimodal predictions can get different values. Here the unimodal predictions come
from one fixed set of classifiers per split, the same for every method: a multinomial
logistic regression per modality on its flattened features, standardised with training
statistics, fitted on the training split only.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from dmil.data.container import MultimodalDataset

__all__ = ["reference_unimodal_predictions"]

logger = logging.getLogger(__name__)


def reference_unimodal_predictions(
    train: MultimodalDataset, test: MultimodalDataset, *, random_state: int = 0
) -> np.ndarray:
    """Per-modality class predictions on ``test`` from classifiers fitted on ``train``.

    Parameters
    ----------
    train, test : MultimodalDataset
        The training split (fit) and the split to predict.
    random_state : int
        Seed of the solver.

    Returns
    -------
    ndarray of int, shape (M, N_test)
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = train.labels.numpy()
    preds = []
    for name, x_train, x_test in zip(
        train.modality_names, train.modalities, test.modalities, strict=True
    ):
        a = x_train.reshape(len(train), -1).double().numpy()
        b = x_test.reshape(len(test), -1).double().numpy()
        clf = make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=500, random_state=random_state)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(a, y)
        preds.append(clf.predict(b).astype(np.int64))
        logger.debug("reference classifier for %s fitted on %d samples", name, len(train))
    return np.stack(preds)
