"""``mlb``: low-rank bilinear pooling with a Hadamard product (Kim et al., ICLR 2017)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from dmil.models.base import ModelOutput
from dmil.models.paradigms.common import Paradigm
from dmil.models.paradigms.heads import ProbeHeads

__all__ = ["MLBModel"]


class MLBModel(Paradigm):
    """Multimodal low-rank bilinear (MLB) fusion.

    ``h = tanh(U_1 z_1) * tanh(U_2 z_2) * ... * tanh(U_M z_M)`` (elementwise), then
    ``logits = P h + b``. For two modalities this is the low-rank factorisation of a
    bilinear classifier ``z_1^T W_c z_2`` (J.-H. Kim et al., "Hadamard Product for Low-rank
    Bilinear Pooling", ICLR 2017); for ``M > 2`` the product runs over all modalities.

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
    joint_dim : int, default 128
        Rank ``d`` of the factorisation (width of ``h``).
    dropout : float, default 0.0
        Dropout on the embeddings before ``U_m`` and on ``h`` before ``P``.

    Notes
    -----
    A multiplicative fusion has no per-modality term, so ``modality_logits`` come from
    linear probes: one ``Linear(D_m, C)`` per modality on the **detached** embedding
    ``z_m``, trained by its own cross-entropy, added to the loss. The probes read how much
    class information each modality's learned representation carries linearly; detaching
    keeps them from changing the encoders or the fusion (the fusion's gradients are those
    of the MLB cross-entropy alone).
    """

    def __init__(
        self,
        encoders: Sequence[nn.Module],
        *,
        out_dims: Sequence[int],
        n_classes: int,
        modality_names: Sequence[str],
        joint_dim: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(
            encoders, out_dims=out_dims, n_classes=n_classes, modality_names=modality_names
        )
        if isinstance(joint_dim, bool) or not isinstance(joint_dim, int) or joint_dim < 1:
            raise ValueError(f"mlb joint_dim must be a positive integer; found {joint_dim!r}.")
        if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"mlb dropout must be in [0, 1); found {dropout!r}.")
        self.joint_dim = joint_dim
        self.projections = nn.ModuleList(nn.Linear(d, joint_dim) for d in self.out_dims)
        self.dropout = nn.Dropout(float(dropout))
        self.classifier = nn.Linear(joint_dim, self.n_classes)
        self.probes = ProbeHeads(self.out_dims, self.n_classes)

    def forward(self, inputs: list[torch.Tensor]) -> ModelOutput:
        embeddings = self.encode(inputs)  # [(B, D_m)]
        gates = [
            torch.tanh(projection(self.dropout(z)))  # (B, d)
            for projection, z in zip(self.projections, embeddings, strict=True)
        ]
        fused = gates[0]
        for gate in gates[1:]:
            fused = fused * gate  # Hadamard product, (B, d)
        logits = self.classifier(self.dropout(fused))  # (B, C)
        probes = self.probes(embeddings)  # detached linear probes, [(B, C)]
        return ModelOutput(logits=logits, modality_logits=probes)

    def loss(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the fused logits plus the probes' cross-entropies."""
        total = F.cross_entropy(output.logits, target)
        if output.modality_logits:
            total = total + self.probes.loss(output.modality_logits, target)
        for value in output.aux_losses.values():
            total = total + value
        return total
