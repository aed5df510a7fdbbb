"""The probabilistic classifiers behind pointwise mutual information.

* :class:`MLPClassifier`: ``p(y | x_sources)`` for continuous inputs, an MLP on the
  standardised, concatenated features of its sources, trained by :mod:`.training` with
  early stopping and then calibrated by temperature scaling on the validation data;
* :class:`CountClassifier`: ``p(y | x_sources)`` for discrete inputs, from training counts
  with a small pseudo-count spread according to the label prior (exact up to sampling).

Both return log-probabilities of shape ``(N, C)``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["CountClassifier", "MLPClassifier", "fit_temperature", "joint_codes"]

logger = logging.getLogger(__name__)


class MLPClassifier(nn.Module):
    """An MLP over the concatenated features of one or more modalities.

    Parameters
    ----------
    in_dims : sequence of int
        Feature width of each source.
    n_classes : int
    hidden : int
        Width of the hidden layers.
    n_layers : int
        Number of hidden layers (at least 1).
    means, stds : sequences of tensors of shape (D_m,)
        Standardisation per source, stored as buffers.
    """

    def __init__(
        self,
        *,
        in_dims: Sequence[int],
        n_classes: int,
        hidden: int,
        n_layers: int,
        means: Sequence[torch.Tensor],
        stds: Sequence[torch.Tensor],
    ) -> None:
        super().__init__()
        width = int(sum(in_dims))
        layers: list[nn.Module] = []
        for _ in range(max(1, n_layers)):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)
        self.register_buffer("shift", torch.cat([m.float() for m in means]))
        self.register_buffer("scale", torch.cat([s.float() for s in stds]))
        self.register_buffer("log_temperature", torch.zeros(()))

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Calibrated logits of shape (B, C) from a list of (B, D_m) tensors."""
        x = xs[0] if len(xs) == 1 else torch.cat(list(xs), dim=1)  # (B, sum D_m)
        z = (x - self.shift) / self.scale
        return self.net(z) / self.log_temperature.exp()

    @torch.no_grad()
    def log_proba(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Log class probabilities of shape (B, C)."""
        return torch.log_softmax(self.forward(xs), dim=1)


@torch.no_grad()
def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The temperature ``T`` minimising the NLL of ``softmax(logits / T)`` on ``(logits, y)``.

    Parameters
    ----------
    logits : tensor of shape (N, C)
        Logits to calibrate, on held-out (validation) samples.
    y : integer tensor of shape (N,)
        The true class of each sample.

    Returns
    -------
    float
        ``T`` in ``[e^-3, e^3]``.
    """
    z = logits.double().cpu()
    target = y.cpu()

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(z / math.exp(log_t), target))

    # The NLL is convex in 1 / T, hence unimodal in log T: a golden-section search on
    # [-3, 3] finds its minimum (to 1e-5 in log T, about 30 evaluations).
    lo, hi = -3.0, 3.0
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    while hi - lo > 1e-5:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return float(math.exp((lo + hi) / 2.0))


def joint_codes(codes: Sequence[torch.Tensor], sizes: Sequence[int]) -> tuple[torch.Tensor, int]:
    """Combine per-modality codes into one code per sample (``-1`` if any is ``-1``).

    Returns the combined codes of shape (N,) and the number of possible combinations.
    """
    out = torch.zeros_like(codes[0])
    unseen = torch.zeros_like(codes[0], dtype=torch.bool)
    total = 1
    for c, size in zip(codes, sizes, strict=True):
        out = out * size + c.clamp_min(0)
        unseen |= c < 0
        total *= size
    return torch.where(unseen, torch.full_like(out, -1), out), total


class CountClassifier:
    """``p(y | code)`` from counts, ``(n[v, y] + a C p(y)) / (n[v] + a C)``.

    Codes never seen in training (``-1`` or zero count) get the prior ``p(y)``, i.e.
    pointwise MI 0.

    Parameters
    ----------
    codes : integer tensor of shape (N,)
        Training codes in ``0..n_values-1``.
    y : integer tensor of shape (N,)
    n_values, n_classes : int
    prior : tensor of shape (C,)
        The label prior the pseudo-counts follow.
    smoothing : float
        Pseudo-count ``a`` per class.
    """

    def __init__(
        self,
        codes: torch.Tensor,
        y: torch.Tensor,
        *,
        n_values: int,
        n_classes: int,
        prior: torch.Tensor,
        smoothing: float,
    ) -> None:
        seen = codes >= 0
        flat = codes[seen].long() * n_classes + y[seen].long()
        counts = torch.bincount(flat, minlength=n_values * n_classes).reshape(n_values, n_classes)
        counts = counts.double()
        pseudo = smoothing * n_classes * prior.double()
        table = (counts + pseudo) / (counts.sum(1, keepdim=True) + smoothing * n_classes)
        self.log_table = table.log()  # (V, C)
        self.log_prior = prior.double().log()
        self.n_values = n_values

    def log_proba(self, codes: torch.Tensor) -> torch.Tensor:
        """Log class probabilities of shape (N, C) (float64, on the CPU)."""
        codes = codes.long().cpu()
        seen = codes >= 0
        out = self.log_prior.expand(codes.shape[0], -1).clone()
        out[seen] = self.log_table[codes[seen]]
        return out
