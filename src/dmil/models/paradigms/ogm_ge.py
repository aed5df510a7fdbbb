"""``ogm-ge``: joint training with on-the-fly gradient modulation and generalisation
enhancement (Peng et al., CVPR 2022)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import distributed as dist
from torch import nn
from torch.nn import functional as F

from dmil.models.base import ModelOutput
from dmil.models.paradigms.joint import JointModel

__all__ = ["OGMGEModel", "ogm_coefficients"]

#: The reference implementation's default modulation strength.
DEFAULT_ALPHA = 0.1


def ogm_coefficients(scores: torch.Tensor, *, alpha: float) -> torch.Tensor:
    """OGM coefficients from per-modality confidence scores.

    ``rho_m = s_m / mean_{j != m} s_j`` and ``k_m = 1 - tanh(alpha * rho_m)`` where
    ``rho_m > 1`` (the modality is ahead of the others), else ``k_m = 1``. For two
    modalities this is Eq. (10) of Peng et al. (CVPR 2022) with
    ``rho = s_a / s_v``.

    Parameters
    ----------
    scores : Tensor, shape (M,)
        ``s_m``: the sum over the batch of ``softmax(modality_logits[m])[y]``.
    alpha : float
        Modulation strength (> 0).

    Returns
    -------
    Tensor, shape (M,)
        Coefficients in ``(0, 1]``.
    """
    if scores.dim() != 1 or scores.numel() < 2:
        raise ValueError(f"scores must have shape (M,) with M >= 2; found {tuple(scores.shape)}.")
    m = scores.numel()
    others = (scores.sum() - scores) / (m - 1)
    ratio = scores / others.clamp_min(torch.finfo(scores.dtype).tiny)
    modulated = 1.0 - torch.tanh(alpha * ratio)
    return torch.where(ratio > 1, modulated, torch.ones_like(ratio))


class OGMGEModel(JointModel):
    """Joint concatenation model whose encoders' gradients are modulated after backward.

    Each step, after ``backward`` and before the optimiser step,
    :meth:`on_after_backward` computes each modality's confidence score
    ``s_m = sum_i softmax(W_m z_m + b / M)_i[y_i]`` from the per-modality blocks of the
    linear head, the coefficients of :func:`ogm_coefficients`, and replaces the gradient
    ``g`` of every parameter of encoder ``m`` by ``k_m * g + n`` with
    ``n ~ N(0, std(g)^2)`` (generalisation enhancement, GE). The head is not modulated
    (X. Peng, Y. Wei, A. Deng, D. Wang, D. Hu, "Balanced Multimodal Learning via
    On-the-fly Gradient Modulation", CVPR 2022).

    Parameters
    ----------
    encoders, out_dims, n_classes, modality_names
        As for :class:`~dmil.models.paradigms.joint.JointModel`.
    alpha : float, default 0.1
        Modulation strength (the reference implementation's default).
    noise : bool, default True
        Add the GE noise; ``False`` gives plain OGM.
    noise_seed : int, default 0
        Seed of the GE noise. The noise of step ``t`` is drawn from a generator seeded
        with ``(noise_seed, t)``, so it is the same on every DDP rank and after a resume
        (the step counter is a buffer saved with the model).

    Notes
    -----
    Under DDP the hook runs after the gradient all-reduce; the scores are summed over
    ranks (one ``all_reduce`` of ``M`` numbers) so every rank applies the same
    coefficients and the replicas stay identical.
    """

    def __init__(
        self,
        encoders: Sequence[nn.Module],
        *,
        out_dims: Sequence[int],
        n_classes: int,
        modality_names: Sequence[str],
        alpha: float = DEFAULT_ALPHA,
        noise: bool = True,
        noise_seed: int = 0,
    ) -> None:
        super().__init__(
            encoders, out_dims=out_dims, n_classes=n_classes, modality_names=modality_names
        )
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(f"ogm-ge alpha must be a number > 0; found {alpha!r}.")
        if not isinstance(noise, bool):
            raise TypeError(f"ogm-ge noise must be a bool; found {noise!r}.")
        if isinstance(noise_seed, bool) or not isinstance(noise_seed, int) or noise_seed < 0:
            raise ValueError(f"ogm-ge noise_seed must be an integer >= 0; found {noise_seed!r}.")
        self.alpha = float(alpha)
        self.noise = noise
        self.noise_seed = noise_seed
        self.register_buffer("modulation_step", torch.zeros((), dtype=torch.long))
        #: Coefficients applied at the last step, shape (M,), for logging.
        self.last_coefficients: torch.Tensor | None = None

    @torch.no_grad()
    def modality_scores(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        """``s_m``, shape (M,): summed true-class probability of each modality's block,
        summed over DDP ranks when a process group is running."""
        if not output.modality_logits:
            raise ValueError(
                "OGMGEModel needs the output of its own forward; modality_logits is missing."
            )
        scores = torch.stack(
            [
                F.softmax(logits.detach().float(), dim=1).gather(1, target.view(-1, 1)).sum()
                for logits in output.modality_logits
            ]
        )
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(scores)
        return scores

    @torch.no_grad()
    def on_after_backward(self, output: ModelOutput, target: torch.Tensor) -> None:
        """Scale each encoder's gradients by its OGM coefficient and add the GE noise."""
        coefficients = ogm_coefficients(self.modality_scores(output, target), alpha=self.alpha)
        self.last_coefficients = coefficients
        step = int(self.modulation_step)
        generators: dict[torch.device, torch.Generator] = {}
        for index, encoder in enumerate(self.encoders):
            k = coefficients[index]
            for param in encoder.parameters():
                grad = param.grad
                if grad is None:
                    continue
                new_grad = grad * k.to(grad.dtype)
                if self.noise and grad.numel() > 1:
                    generator = generators.get(grad.device)
                    if generator is None:
                        generator = torch.Generator(device=grad.device)
                        generator.manual_seed(self.noise_seed * 1_000_003 + step)
                        generators[grad.device] = generator
                    noise = torch.randn(
                        grad.shape, generator=generator, device=grad.device, dtype=grad.dtype
                    )
                    new_grad = new_grad + noise * grad.std()
                grad.copy_(new_grad)
        self.modulation_step += 1
