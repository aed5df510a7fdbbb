"""How each modality enters the estimator: discrete codes or flattened features.

A modality is *discrete* when its rows take few distinct values, whatever its dtype:

* integer dtype: at most ``max_discrete_values`` distinct rows (an integer dtype already
  says the values are codes);
* floating dtype (bits or categories written as floats, as ``.pt`` files usually store
  them): at most ``max_discrete_values`` distinct rows *and* every distinct row seen at
  least twice on average (``2 V <= N``). Continuous data have about as many distinct
  rows as samples, so the second condition keeps small continuous samples continuous.

Discrete rows are mapped to codes ``0..V-1`` (``-1`` for a row never seen in training) and
probabilities come from exact counts. Any other modality is *continuous*: trailing
dimensions are flattened to ``(N, D)`` and models standardise with the training mean and
standard deviation (kept as buffers, so no standardised copy of the data is ever made).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ModalityCoder", "fit_coder", "flat_features"]

logger = logging.getLogger(__name__)

_STAT_CHUNK = 65536


def flat_features(x: torch.Tensor) -> torch.Tensor:
    """``x`` of shape (N, ...) as float32 of shape (N, D), without a copy where possible."""
    flat = x.reshape(x.shape[0], -1)
    return flat if flat.dtype == torch.float32 else flat.float()


def _row_keys(x: torch.Tensor) -> np.ndarray:
    """Rows of a tensor as a contiguous array of shape (N, D): int64 for integer dtypes,
    float64 for floating ones (every float32 value is exact in float64)."""
    flat = x.reshape(x.shape[0], -1).cpu().numpy()
    kind = np.float64 if x.dtype.is_floating_point else np.int64
    keys = np.ascontiguousarray(flat.astype(kind))
    if kind is np.float64:
        keys += 0.0  # -0.0 becomes 0.0, so equal values get one code
    return keys


def _few_distinct(
    x: torch.Tensor, extra: torch.Tensor | None, limit: int
) -> tuple[np.ndarray, int] | None:
    """The sorted distinct rows of ``x`` (and ``extra``) if at most ``limit``, with the
    number of rows looked at; else None.

    Looks at the first ``4 (limit + 1)`` rows first, so continuous data (every row
    distinct) are rejected without converting or sorting all of them.
    """
    if np.unique(_row_keys(x[: 4 * (limit + 1)]), axis=0).shape[0] > limit:
        return None
    keys = _row_keys(x)
    if extra is not None:
        keys = np.concatenate([keys, _row_keys(extra)])
    vocab = np.unique(keys, axis=0)
    return (vocab, keys.shape[0]) if vocab.shape[0] <= limit else None


@dataclass
class ModalityCoder:
    """What was learnt about one modality at fit time.

    Attributes
    ----------
    kind : {"discrete", "continuous"}
    shape : tuple of int
        Per-sample shape seen at fit time.
    floating : bool
        Whether fit saw a floating dtype (a discrete modality then matches rows by value).
    vocab : ndarray of shape (V, D) or None
        Distinct training rows of a discrete modality, sorted.
    mean, std : tensors of shape (D,) or None
        Training statistics of a continuous modality (float32; ``std`` at least 1e-6).
    """

    kind: str
    shape: tuple[int, ...]
    floating: bool = False
    vocab: np.ndarray | None = None
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None

    @property
    def discrete(self) -> bool:
        return self.kind == "discrete"

    @property
    def n_values(self) -> int:
        """Number of distinct training values ``V`` (discrete only)."""
        return 0 if self.vocab is None else int(self.vocab.shape[0])

    @property
    def dim(self) -> int:
        """Width of the feature vector a network sees: ``D``, or ``V`` (one-hot)."""
        if self.discrete:
            return self.n_values
        return int(np.prod(self.shape)) if self.shape else 1

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``0..V-1`` of shape (N,), ``-1`` for rows not seen in training."""
        if self.vocab is None:
            raise RuntimeError("codes() needs a discrete modality")
        rows = _row_keys(x)
        n_vocab = self.vocab.shape[0]
        both = np.concatenate([self.vocab, rows], axis=0)
        _, inverse = np.unique(both, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        lookup = np.full(int(inverse.max()) + 1, -1, dtype=np.int64)
        lookup[inverse[:n_vocab]] = np.arange(n_vocab)
        codes = lookup[inverse[n_vocab:]]
        if self.floating and (codes < 0).any():
            logger.warning(
                "%d of %d rows of a floating-coded discrete modality take values never seen "
                "in fit (codes match values exactly); they get the smoothing mass only",
                int((codes < 0).sum()),
                codes.size,
            )
        return torch.from_numpy(codes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Float features of shape (N, dim): flattened input, or one-hot codes."""
        if self.discrete:
            codes = self.codes(x)
            out = torch.zeros(codes.shape[0], self.n_values, dtype=torch.float32)
            seen = codes >= 0
            out[seen.nonzero().squeeze(1), codes[seen]] = 1.0
            return out
        return flat_features(x)

    def feature_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of :meth:`features` (identity for one-hot codes)."""
        if self.discrete:
            return torch.zeros(self.dim), torch.ones(self.dim)
        assert self.mean is not None and self.std is not None
        return self.mean, self.std


def _moments(x: torch.Tensor, rows: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std of rows of (N, D) data, in float64 over chunks."""
    n = x.shape[0] if rows is None else rows.shape[0]
    d = x.shape[1]
    total = torch.zeros(d, dtype=torch.float64)
    total_sq = torch.zeros(d, dtype=torch.float64)
    for start in range(0, n, _STAT_CHUNK):
        pos = slice(start, start + _STAT_CHUNK)
        part = (x[pos] if rows is None else x[rows[pos]]).double()
        total += part.sum(0)
        total_sq += (part * part).sum(0)
    mean = total / n
    var = (total_sq / n - mean * mean).clamp_min(0.0)
    return mean.float(), var.sqrt().clamp_min(1e-6).float()


def fit_coder(
    x: torch.Tensor,
    *,
    rows: torch.Tensor | None = None,
    extra: torch.Tensor | None = None,
    max_discrete_values: int,
    name: str = "modality",
) -> ModalityCoder:
    """Decide how a modality is modelled and learn what that needs.

    Parameters
    ----------
    x : tensor of shape (N, ...)
        One modality (on the CPU).
    rows : integer tensor of shape (N_train,), optional
        The training rows of ``x`` (default: all); continuous statistics use only these.
    extra : tensor of shape (N_extra, ...), optional
        More labelled rows (validation data) whose values join a discrete vocabulary;
        the vocabulary of a discrete modality is taken from all of ``x`` and ``extra``.
    max_discrete_values : int
        Modalities with at most this many distinct rows use exact counts (floating ones
        only when each distinct row occurs at least twice on average); ``0`` turns the
        count path off.
    name : str
        Modality name for log messages.
    """
    shape = tuple(int(s) for s in x.shape[1:])
    floating = bool(x.dtype.is_floating_point)
    if max_discrete_values > 0:
        same_kind = extra is not None and extra.dtype.is_floating_point == floating
        found = _few_distinct(x, extra if same_kind else None, max_discrete_values)
        vocab = None if found is None else found[0]
        if found is not None and floating and 2 * found[0].shape[0] > found[1]:
            vocab = None  # as many distinct rows as samples: continuous values
        if vocab is not None:
            logger.debug(
                "modality '%s': discrete (%s values), %d distinct rows",
                name,
                "floating" if floating else "integer",
                vocab.shape[0],
            )
            return ModalityCoder("discrete", shape, floating=floating, vocab=vocab)
        logger.debug(
            "modality '%s': more than %d distinct rows; modelled as continuous",
            name,
            max_discrete_values,
        )
    mean, std = _moments(flat_features(x), rows)
    return ModalityCoder("continuous", shape, floating=floating, mean=mean, std=std)
