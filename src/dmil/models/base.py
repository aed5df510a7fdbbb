"""The contract every multimodal model in dmil follows.

A model takes a list of modality tensors ``[(B, ...), ...]`` and returns a
:class:`ModelOutput`. The training engine only ever calls :meth:`MultimodalModel.forward`,
:meth:`MultimodalModel.loss` (or, in a stage that weights loss terms,
:meth:`MultimodalModel.loss_terms`) and :meth:`MultimodalModel.on_after_backward`, so
paradigms (ensemble, joint, ...) and DMIL plug into the same loop, and losses,
metrics and explanations never re-run the forward pass. A model whose class sets
``supports_terms = True`` also takes ``forward(inputs, terms=...)``: in a training step
of a stage that weights loss terms the engine passes their names, and the model may skip
whatever those terms do not depend on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["ModelOutput", "MultimodalModel"]


@dataclass
class ModelOutput:
    """What a multimodal model returns for a batch.

    Attributes
    ----------
    logits : Tensor, shape (B, C), or None
        The model's multimodal prediction (logits or log-probabilities; argmax predicts).
        ``None`` only from a training forward that was asked for loss terms which do not
        need it (models with ``supports_terms``, e.g. DMIL's first stage).
    modality_logits : tuple of Tensor (B, C), optional
        One unimodal prediction per modality, where the model has one (used for
        per-modality accuracy and the synergy indicator).
    component_logits : dict name -> Tensor (B, C), optional
        Per-component predictions (e.g. DMIL's R, U1, U2, S heads).
    gate : Tensor, shape (B, K), optional
        Per-sample weights over the components, in ``component_logits`` order.
    aux_losses : dict name -> scalar Tensor
        Extra loss terms the model wants minimised (already weighted).
    loss_terms : dict name -> scalar Tensor
        Unweighted loss terms that need no target (e.g. KL divergences and
        reconstruction errors); :meth:`MultimodalModel.loss_terms` adds the
        cross-entropies, and a training stage weights them by name.
    """

    logits: torch.Tensor | None
    modality_logits: tuple[torch.Tensor, ...] | None = None
    component_logits: dict[str, torch.Tensor] | None = None
    gate: torch.Tensor | None = None
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)
    loss_terms: dict[str, torch.Tensor] = field(default_factory=dict)


class MultimodalModel(nn.Module):
    """Base class: ``forward(inputs) -> ModelOutput`` plus a training loss.

    Subclasses implement :meth:`forward`; the default :meth:`loss` is the
    cross-entropy of ``logits`` plus every auxiliary loss.
    """

    #: Number of modalities the model was built for.
    n_modalities: int
    #: Number of classes.
    n_classes: int

    def forward(self, inputs: list[torch.Tensor]) -> ModelOutput:  # pragma: no cover
        raise NotImplementedError

    def loss(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        """Training loss for one batch (a scalar)."""
        total = nn.functional.cross_entropy(output.logits, target)
        for value in output.aux_losses.values():
            total = total + value
        return total

    def loss_terms(
        self, output: ModelOutput, target: torch.Tensor, **sample_targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Every loss term by name, unweighted, for stages that weight them.

        The default: ``"ce"`` (cross-entropy of ``logits``), each entry of
        ``output.loss_terms`` and each auxiliary loss. Models with several
        objectives (DMIL) override it; ``sample_targets`` are the batch's per-sample
        training targets (see :func:`dmil.training.fit`), ignored here.
        """
        terms = {"ce": nn.functional.cross_entropy(output.logits, target)}
        terms.update(output.loss_terms)
        terms.update(output.aux_losses)
        return terms

    def on_after_backward(self, output: ModelOutput, target: torch.Tensor) -> None:
        """Hook run after ``backward`` and before the optimiser step (e.g. gradient
        modulation); the default does nothing."""
