"""``i2m2``: inter- and intra-modality modelling (Madaan et al., NeurIPS 2024)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from dmil.models.base import ModelOutput
from dmil.models.paradigms.common import EncoderFactory, Paradigm
from dmil.models.paradigms.heads import fusion_head

__all__ = ["I2M2Model"]


class I2M2Model(Paradigm):
    """A joint (inter-modality) classifier and ``M`` unimodal (intra-modality) classifiers,
    combined as a product of experts and trained together.

    ``log p(y | x_1..x_M) = log_softmax(f_joint(x)) + sum_m log_softmax(f_m(x_m))`` up to
    normalisation (D. Madaan, T. Makino, S. Chopra, K. Cho, "Jointly Modeling Inter- &
    Intra-Modality Dependencies for Multi-modal Learning", NeurIPS 2024). The loss, as in
    the paper, is the cross-entropy of that combined prediction (the negative
    log-likelihood of the product of experts, renormalised over classes).

    Parameters
    ----------
    encoders : sequence of nn.Module
        Encoders of the unimodal classifiers, one per modality.
    out_dims : sequence of int
        ``D_m`` per encoder (the joint encoders have the same widths).
    n_classes : int
        Number of classes ``C``.
    modality_names : sequence of str
        One name per modality.
    joint_encoders : sequence of nn.Module or None, default None
        Separate encoders of the joint classifier (the paper's setting: each expert is its
        own network). ``None`` shares ``encoders`` between the joint and unimodal
        classifiers (same parameter count as ``joint``).
    branch_loss_weight : float, default 0.0
        Optional extra term ``weight * (CE(joint) + sum_m CE(unimodal_m))`` that keeps
        each expert a classifier on its own; 0 reproduces the paper's objective.
    fusion_hidden : int or None, default 128
        Head of the joint expert: an MLP with one hidden layer of this width (see
        :class:`~dmil.models.paradigms.joint.JointModel`), so that the inter-modality expert
        can model interactions, as I2M2 intends; ``None`` gives a linear head, with which
        the whole model is additive across modalities, like an ensemble.

    Notes
    -----
    ``logits`` is the summed log-probabilities, ``modality_logits`` the unimodal experts'
    logits and ``component_logits["joint"]`` the joint expert's logits.
    """

    def __init__(
        self,
        encoders: Sequence[nn.Module],
        *,
        out_dims: Sequence[int],
        n_classes: int,
        modality_names: Sequence[str],
        joint_encoders: Sequence[nn.Module] | None = None,
        branch_loss_weight: float = 0.0,
        fusion_hidden: int | None = 128,
    ) -> None:
        super().__init__(
            encoders, out_dims=out_dims, n_classes=n_classes, modality_names=modality_names
        )
        if joint_encoders is not None and len(joint_encoders) != self.n_modalities:
            raise ValueError(
                f"i2m2 joint_encoders must have one encoder per modality "
                f"({self.n_modalities}); found {len(joint_encoders)}."
            )
        if not isinstance(branch_loss_weight, (int, float)) or branch_loss_weight < 0:
            raise ValueError(
                f"i2m2 branch_loss_weight must be a number >= 0; found {branch_loss_weight!r}."
            )
        self.branch_loss_weight = float(branch_loss_weight)
        self.joint_encoders = None if joint_encoders is None else nn.ModuleList(joint_encoders)
        self.unimodal_heads = nn.ModuleList(nn.Linear(d, self.n_classes) for d in self.out_dims)
        self.fusion_hidden = fusion_hidden
        self.joint_head = fusion_head(sum(self.out_dims), self.n_classes, hidden=fusion_hidden)

    @classmethod
    def from_factory(
        cls,
        make_encoders: EncoderFactory,
        *,
        out_dims: Sequence[int],
        n_classes: int,
        modality_names: Sequence[str],
        share_encoders: bool = False,
        **method_kwargs: Any,
    ) -> I2M2Model:
        """Build with separate joint encoders (``share_encoders=False``, the default) or
        with one set of encoders shared by all experts."""
        if not isinstance(share_encoders, bool):
            raise TypeError(f"i2m2 share_encoders must be a bool; found {share_encoders!r}.")
        encoders = make_encoders()
        joint = None if share_encoders else make_encoders()
        return cls(
            encoders,
            out_dims=out_dims,
            n_classes=n_classes,
            modality_names=modality_names,
            joint_encoders=joint,
            **method_kwargs,
        )

    def forward(self, inputs: list[torch.Tensor]) -> ModelOutput:
        embeddings = self.encode(inputs)  # [(B, D_m)]
        joint_embeddings = (
            embeddings
            if self.joint_encoders is None
            else self.encode_with(self.joint_encoders, inputs)
        )
        joint_logits = self.joint_head(torch.cat(joint_embeddings, dim=1))  # (B, C)
        unimodal = tuple(head(z) for head, z in zip(self.unimodal_heads, embeddings, strict=True))
        combined = F.log_softmax(joint_logits, dim=1)
        for logits in unimodal:
            combined = combined + F.log_softmax(logits, dim=1)  # (B, C)
        return ModelOutput(
            logits=combined,
            modality_logits=unimodal,
            component_logits={"joint": joint_logits},
        )

    def loss(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the product of experts (plus the optional branch terms)."""
        total = F.cross_entropy(output.logits, target)
        if self.branch_loss_weight > 0:
            if output.component_logits is None or output.modality_logits is None:
                raise ValueError(
                    "I2M2Model.loss needs the output of I2M2Model.forward; the expert "
                    "logits are missing."
                )
            branch = F.cross_entropy(output.component_logits["joint"], target)
            for logits in output.modality_logits:
                branch = branch + F.cross_entropy(logits, target)
            total = total + self.branch_loss_weight * branch
        for value in output.aux_losses.values():
            total = total + value
        return total
