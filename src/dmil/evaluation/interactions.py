"""Per-sample interaction labels of a test set, for the per-interaction breakdown.

Synthetic suites know each sample's mechanism; real data does not, so there the label
is the dominant component (R, U1, U2 or S; R, U or S for more than two modalities) of
the sample-level decomposition estimated by
:class:`dmil.interactions.InteractionEstimator`, fitted on the training split (with the
validation split for its early stopping) and applied to the test split. The test
labels never enter the estimator's fit.
"""

from __future__ import annotations

import logging

from dmil.data.container import MultimodalDataset

__all__ = ["INTERACTION_SOURCES", "interaction_labels"]

logger = logging.getLogger(__name__)

#: Where the labels may come from; ``auto`` takes the truth when it exists.
INTERACTION_SOURCES: tuple[str, ...] = ("auto", "true", "estimated", "none")


def interaction_labels(
    test: MultimodalDataset,
    *,
    train: MultimodalDataset | None = None,
    val: MultimodalDataset | None = None,
    source: str = "auto",
    measure: str = "ccs",
    device: str = "cpu",
    random_state: int = 0,
) -> tuple[list[str] | None, str]:
    """One interaction type per test sample.

    Parameters
    ----------
    test : MultimodalDataset
        The samples to label.
    train, val : MultimodalDataset, optional
        Needed to estimate interactions (``source`` ``"estimated"``, or ``"auto"`` on
        data without truth).
    source : {"auto", "true", "estimated", "none"}
        ``auto``: the truth if ``test`` has it, else estimated (when ``train`` and
        ``val`` are given), else none.
    measure : str
        Redundancy measure of the estimator (default ``"ccs"``).
    device : str
        Device for the estimator's classifiers.
    random_state : int
        Seed of the estimator.

    Returns
    -------
    labels : list of str (length N) or None
    used : str
        ``"true"``, ``"estimated"`` or ``"none"``.
    """
    if source not in INTERACTION_SOURCES:
        raise ValueError(
            f"interaction source: expected one of {list(INTERACTION_SOURCES)}, found {source!r}."
        )
    if source == "none":
        return None, "none"
    if source == "true" or (source == "auto" and test.has_truth):
        labels = test.interaction_names()
        if labels is None:
            raise ValueError(
                f"dataset '{test.name}' has no per-sample interaction truth; use the "
                "estimated interactions (source 'estimated') instead."
            )
        return labels, "true"
    if train is None or val is None:
        if source == "estimated":
            raise ValueError(
                "estimated interactions need the training and validation splits "
                "(train=..., val=...) to fit the estimator."
            )
        return None, "none"
    from dmil.interactions import InteractionEstimator

    estimator = InteractionEstimator(measure=measure, device=device, random_state=random_state)
    table = estimator.fit(train, val).transform(test)
    labels = [str(t) for t in table.dominant()]
    if len(labels) != len(test):
        raise ValueError(
            f"the interaction estimator returned {len(labels)} labels for {len(test)} samples."
        )
    logger.info("estimated dominant interactions on %d test samples", len(labels))
    return labels, "estimated"
