"""``joint``: concatenated embeddings, one head, one cross-entropy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from dmil.models.base import ModelOutput
from dmil.models.paradigms.common import Paradigm
from dmil.models.paradigms.heads import ProbeHeads, fusion_head, linear_blocks

__all__ = ["JointMLPModel", "JointModel"]


class JointModel(Paradigm):
    """Joint (concatenation) fusion: ``head(cat(z_1, ..., z_M))``, one cross-entropy.

    Parameters
    ----------
    encoders : sequence of nn.Module
        One encoder per modality, ``(B, ...) -> (B, D_m)``.
    out_dims : sequence of int
        ``D_m`` per encoder.
    n_classes : int
        Number of classes ``C``.
    modality_names : sequence of str
        One name per modality.
    fusion_hidden : int or None, default None
        ``None``: a linear head ``W z + b`` (the standard baseline, additive across
        modalities). An integer: an MLP head with one hidden layer of that width, which can
        combine modalities non-additively (synergy).

    Notes
    -----
    With the linear head, ``modality_logits[m] = W_m z_m + b / M``, the block of the head
    that sees modality ``m`` (the unimodal estimate used by OGM-GE); the blocks sum to
    ``logits``. With an MLP head there is no such block, and ``modality_logits`` come
    from linear probes on the detached embeddings
    (:class:`~dmil.models.paradigms.heads.ProbeHeads`), whose cross-entropies are added to
    the loss without affecting the rest of the model.
    """

    def __init__(
        self,
        encoders: Sequence[nn.Module],
        *,
        out_dims: Sequence[int],
        n_classes: int,
        modality_names: Sequence[str],
        fusion_hidden: int | None = None,
    ) -> None:
        super().__init__(
            encoders, out_dims=out_dims, n_classes=n_classes, modality_names=modality_names
        )
        self.fusion_hidden = fusion_hidden
        self.head = fusion_head(sum(self.out_dims), self.n_classes, hidden=fusion_hidden)
        self.probes = None if fusion_hidden is None else ProbeHeads(self.out_dims, self.n_classes)

    def forward(self, inputs: list[torch.Tensor]) -> ModelOutput:
        embeddings = self.encode(inputs)  # [(B, D_m)]
        logits = self.head(torch.cat(embeddings, dim=1))  # (B, C)
        if self.probes is None:
            modality_logits = linear_blocks(cast(nn.Linear, self.head), embeddings)
        else:
            modality_logits = self.probes(embeddings)
        return ModelOutput(logits=logits, modality_logits=modality_logits)

    def loss(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the fused logits (plus the probes' cross-entropies, if any)."""
        total = F.cross_entropy(output.logits, target)
        if self.probes is not None and output.modality_logits:
            total = total + self.probes.loss(output.modality_logits, target)
        for value in output.aux_losses.values():
            total = total + value
        return total


class JointMLPModel(JointModel):
    """Joint learning with an MLP fusion head (``joint-mlp``): :class:`JointModel` with
    ``fusion_hidden=128`` by default.

    The linear head of ``joint`` is additive across modalities, as in the concatenation
    baseline of the modality-imbalance literature; this variant is the joint network that
    can represent synergy, so both sides of the comparison are available by name.
    """

    def __init__(
        self,
        encoders: Sequence[nn.Module],
        *,
        out_dims: Sequence[int],
        n_classes: int,
        modality_names: Sequence[str],
        fusion_hidden: int = 128,
    ) -> None:
        super().__init__(
            encoders,
            out_dims=out_dims,
            n_classes=n_classes,
            modality_names=modality_names,
            fusion_hidden=fusion_hidden,
        )
