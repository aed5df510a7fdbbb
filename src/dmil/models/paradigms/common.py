"""The base class of the paradigms: one encoder per modality and the input checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from dmil.models.base import ModelOutput, MultimodalModel

__all__ = ["EncoderFactory", "Paradigm"]

#: Returns a fresh list of encoders, one per modality (see ``Paradigm.from_factory``).
EncoderFactory = Callable[[], list[nn.Module]]


class Paradigm(MultimodalModel):
    """A multimodal model with one encoder per modality.

    Parameters
    ----------
    encoders : sequence of nn.Module
        One encoder per modality, each mapping ``(B, ...)`` to ``(B, D_m)``.
    out_dims : sequence of int
        ``D_m`` of each encoder.
    n_classes : int
        Number of classes ``C``.
    modality_names : sequence of str
        One name per modality.
    """

    #: Whether the model predicts through a learned per-sample gate over components
    #: (``ModelOutput.gate``); a gated user paradigm sets it to ``True`` so that
    #: ``dmil explain``, the report and the benchmark explain its gate.
    learned_gate: ClassVar[bool] = False

    def __init__(
        self,
        encoders: Sequence[nn.Module],
        *,
        out_dims: Sequence[int],
        n_classes: int,
        modality_names: Sequence[str],
    ) -> None:
        super().__init__()
        if len(encoders) < 2:
            raise ValueError(
                f"a multimodal paradigm needs at least 2 modalities; found {len(encoders)}."
            )
        if not len(encoders) == len(out_dims) == len(modality_names):
            raise ValueError(
                f"encoders ({len(encoders)}), out_dims ({len(out_dims)}) and modality_names "
                f"({len(modality_names)}) must have one entry per modality."
            )
        self.encoders = nn.ModuleList(encoders)
        self.out_dims = tuple(int(d) for d in out_dims)
        self.modality_names = tuple(str(n) for n in modality_names)
        self.n_modalities = len(encoders)
        self.n_classes = int(n_classes)

    @classmethod
    def from_factory(
        cls,
        make_encoders: EncoderFactory,
        *,
        out_dims: Sequence[int],
        n_classes: int,
        modality_names: Sequence[str],
        **method_kwargs: Any,
    ) -> Paradigm:
        """Build the model from a factory of encoder lists (called once by default;
        paradigms with several sets of encoders call it once per set)."""
        return cls(
            make_encoders(),
            out_dims=out_dims,
            n_classes=n_classes,
            modality_names=modality_names,
            **method_kwargs,
        )

    def check_inputs(self, inputs: Sequence[torch.Tensor]) -> None:
        """Raise ``ValueError`` unless ``inputs`` holds one batch per modality."""
        if isinstance(inputs, torch.Tensor) or len(inputs) != self.n_modalities:
            found = "a single tensor" if isinstance(inputs, torch.Tensor) else len(inputs)
            raise ValueError(
                f"the model expects a list of {self.n_modalities} modality tensors "
                f"({', '.join(self.modality_names)}); found {found}."
            )

    def encode_with(
        self, encoders: nn.ModuleList, inputs: Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Run ``encoders[m]`` on ``inputs[m]`` and check each output is ``(B, D_m)``."""
        self.check_inputs(inputs)
        embeddings = []
        batch = inputs[0].shape[0]
        for name, encoder, dim, x in zip(
            self.modality_names, encoders, self.out_dims, inputs, strict=True
        ):
            if x.shape[0] != batch:
                raise ValueError(
                    f"modality '{name}' has batch size {x.shape[0]}; the first modality has "
                    f"{batch}. All modalities must hold the same samples."
                )
            z = encoder(x)
            if z.dim() != 2 or z.shape != (batch, dim):
                raise ValueError(
                    f"the encoder of modality '{name}' returned shape {tuple(z.shape)}; "
                    f"expected ({batch}, {dim})."
                )
            embeddings.append(z)
        return embeddings

    def encode(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Per-modality embeddings ``[(B, D_1), ..., (B, D_M)]``."""
        return self.encode_with(self.encoders, inputs)

    def forward(self, inputs: list[torch.Tensor]) -> ModelOutput:  # pragma: no cover
        raise NotImplementedError
