"""``ensemble``: one unimodal classifier per modality, decisions fused by averaging
log-probabilities (late fusion of separately trained models)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from dmil.models.base import ModelOutput
from dmil.models.paradigms.common import Paradigm

__all__ = ["EnsembleModel"]


class EnsembleModel(Paradigm):
    """Modality ensemble: ``M`` independent classifiers ``head_m(encoder_m(x_m))``.

    The training loss is the sum of the unimodal cross-entropies. The classifiers share no
    parameter, so each one's gradient comes from its own cross-entropy only and the joint
    optimisation is the same as training them separately (exactly so for per-parameter
    optimisers such as SGD, Adam and AdamW without a global gradient-norm clip).

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

    Notes
    -----
    ``logits`` is the mean over modalities of ``log_softmax(head_m(z_m))`` (a geometric
    mean of the unimodal distributions, up to normalisation); ``modality_logits`` are the
    unimodal classifiers' logits.
    """

    def __init__(
        self,
        encoders: Sequence[nn.Module],
        *,
        out_dims: Sequence[int],
        n_classes: int,
        modality_names: Sequence[str],
    ) -> None:
        super().__init__(
            encoders, out_dims=out_dims, n_classes=n_classes, modality_names=modality_names
        )
        self.heads = nn.ModuleList(nn.Linear(d, self.n_classes) for d in self.out_dims)

    def forward(self, inputs: list[torch.Tensor]) -> ModelOutput:
        embeddings = self.encode(inputs)  # [(B, D_m)]
        unimodal = tuple(head(z) for head, z in zip(self.heads, embeddings, strict=True))
        log_probs = torch.stack([F.log_softmax(u, dim=1) for u in unimodal]).mean(dim=0)
        return ModelOutput(logits=log_probs, modality_logits=unimodal)  # (B, C)

    def loss(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        """Sum over modalities of ``cross_entropy(modality_logits[m], target)``."""
        unimodal = output.modality_logits
        if not unimodal:
            raise ValueError(
                "EnsembleModel.loss needs the output of EnsembleModel.forward; "
                "modality_logits is missing."
            )
        total = F.cross_entropy(unimodal[0], target)
        for logits in unimodal[1:]:
            total = total + F.cross_entropy(logits, target)
        for value in output.aux_losses.values():
            total = total + value
        return total
