"""Classifier heads shared by the paradigms: fusion heads over concatenated embeddings,
their per-modality blocks, and detached linear probes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ProbeHeads", "fusion_head", "linear_blocks"]


def fusion_head(in_dim: int, n_classes: int, *, hidden: int | None = None) -> nn.Module:
    """Head over concatenated embeddings: ``Linear(in_dim, C)``, or with ``hidden`` an MLP
    ``Linear(in_dim, hidden) -> ReLU -> Linear(hidden, C)``.

    A linear head is additive across modalities (``sum_m W_m z_m + b``), so it cannot
    represent a purely synergistic label such as the XOR of one bit per modality; the
    hidden layer lets the head combine modalities non-additively.

    Raises
    ------
    ValueError
        If ``hidden`` is given and is not a positive integer.
    """
    if hidden is None:
        return nn.Linear(in_dim, n_classes)
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"fusion_hidden must be None or a positive integer; found {hidden!r}.")
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def linear_blocks(head: nn.Linear, embeddings: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Per-modality contributions of a linear head over concatenated embeddings.

    For ``head(cat(z_1, ..., z_M)) = W z + b`` with ``W = [W_1 | ... | W_M]``, returns
    ``W_m z_m + b / M`` for each ``m``; they sum to the head's output.

    Parameters
    ----------
    head : nn.Linear
        Linear layer with ``in_features == sum of the embedding widths``.
    embeddings : sequence of Tensor (B, D_m)
        The per-modality embeddings in concatenation order.

    Returns
    -------
    tuple of Tensor (B, C)
    """
    n = len(embeddings)
    bias = None if head.bias is None else head.bias / n
    blocks = []
    offset = 0
    for z in embeddings:
        width = z.shape[1]
        blocks.append(F.linear(z, head.weight[:, offset : offset + width], bias))
        offset += width
    return tuple(blocks)


class ProbeHeads(nn.Module):
    """One linear classifier per modality on the **detached** embedding.

    The probes learn from their own cross-entropy only; detaching keeps them from changing
    the encoders, so the rest of the model trains exactly as without them. They give a
    unimodal prediction for models whose fusion has no per-modality term.

    Parameters
    ----------
    out_dims : sequence of int
        Embedding width ``D_m`` per modality.
    n_classes : int
        Number of classes ``C``.
    """

    def __init__(self, out_dims: Sequence[int], n_classes: int) -> None:
        super().__init__()
        self.probes = nn.ModuleList(nn.Linear(int(d), int(n_classes)) for d in out_dims)

    def forward(self, embeddings: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``[(B, D_m)] -> [(B, C)]`` on detached inputs."""
        return tuple(p(z.detach()) for p, z in zip(self.probes, embeddings, strict=True))

    @staticmethod
    def loss(probe_logits: Sequence[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """Sum of the probes' cross-entropies (a scalar)."""
        total = torch.zeros((), device=target.device)
        for logits in probe_logits:
            total = total + F.cross_entropy(logits, target)
        return total
