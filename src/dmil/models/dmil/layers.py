"""Building blocks of DMIL: variational bottlenecks, Gaussian KL divergences, small MLPs.

A variational bottleneck maps an input to a diagonal Gaussian posterior
``q(z | x) = N(mu(x), diag(exp(logvar(x))))`` with one linear layer whose output is split
into the mean and the log-variance. In training it returns a reparameterised sample
``mu + exp(logvar / 2) * eps``, in evaluation the mean, so predictions are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "Gaussian",
    "GroupedBottleneck",
    "GroupedLinear",
    "GroupedMLP",
    "LinearCode",
    "VariationalBottleneck",
    "gaussian_kl",
    "mlp",
    "prior_kl",
    "standard_normal_kl",
]


@dataclass
class Gaussian:
    """A diagonal Gaussian code and the value drawn from it.

    Attributes
    ----------
    mean, logvar : Tensor, shape (B, d)
        Posterior parameters (``logvar`` is ``None`` for a deterministic code).
    value : Tensor, shape (B, d)
        A reparameterised sample in training, the mean in evaluation.
    """

    mean: torch.Tensor
    logvar: torch.Tensor | None
    value: torch.Tensor


def gaussian_kl(
    mean_q: torch.Tensor,
    logvar_q: torch.Tensor,
    mean_p: torch.Tensor,
    logvar_p: torch.Tensor,
) -> torch.Tensor:
    """``KL(q || p)`` between diagonal Gaussians, averaged over batch and dimensions.

    ``0.5 * (logvar_p - logvar_q + (exp(logvar_q) + (mean_q - mean_p)^2) / exp(logvar_p) - 1)``
    per dimension; exact, never negative, and zero exactly when ``q == p``. The mean over
    dimensions (rather than the sum) keeps loss weights independent of the code width.

    Returns
    -------
    Tensor
        A scalar.
    """
    per_dim = 0.5 * (
        logvar_p - logvar_q + (logvar_q.exp() + (mean_q - mean_p).pow(2)) * (-logvar_p).exp() - 1.0
    )
    return per_dim.mean()


def prior_kl(code: Gaussian) -> torch.Tensor:
    """``KL(q || N(0, I))`` of a code (zero for a deterministic code)."""
    if code.logvar is None:
        return code.mean.new_zeros(())
    return standard_normal_kl(code.mean, code.logvar)


def standard_normal_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean, exp(logvar)) || N(0, I))`` averaged over batch and dimensions:
    ``0.5 * (exp(logvar) + mean^2 - 1 - logvar)`` per dimension, the closed form of
    :func:`gaussian_kl` against the standard normal (fewer operations)."""
    return 0.5 * (logvar.exp() + mean.pow(2) - logvar).mean() - 0.5


def _posterior(out: torch.Tensor, logvar_clamp: float | None, *, sample: bool) -> Gaussian:
    """Split ``out`` (last dimension ``2 d``) into mean and log-variance, clamp the latter,
    and draw a reparameterised sample (``sample``) or return the mean as the value."""
    mean, logvar = out.chunk(2, dim=-1)
    if logvar_clamp is not None:
        logvar = logvar.clamp(-logvar_clamp, logvar_clamp)
    value = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if sample else mean
    return Gaussian(mean=mean, logvar=logvar, value=value)


class VariationalBottleneck(nn.Module):
    """``Linear(in_dim, 2 d)`` split into mean and log-variance, sampled in training.

    Parameters
    ----------
    in_dim, out_dim : int
        Input width and code width ``d``.
    logvar_clamp : float or None, default 10.0
        Clamp the log-variance to ``[-c, c]`` (``None``: unclamped, as in the published
        code). Clamping keeps ``exp(logvar)`` finite when a KL weight is small.
    logvar_init : float, default 0.0
        Initial bias of the log-variance outputs (``0``: unit variance at the start, as
        with a default-initialised linear layer; negative values start with less noise).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        logvar_clamp: float | None = 10.0,
        logvar_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.out_dim = int(out_dim)
        self.logvar_clamp = logvar_clamp
        self.logvar_init = float(logvar_init)
        self.linear = nn.Linear(int(in_dim), 2 * self.out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Default linear initialisation, then the log-variance bias set to
        ``logvar_init`` when it is not zero."""
        self.linear.reset_parameters()
        if self.logvar_init != 0.0:
            with torch.no_grad():
                self.linear.bias[self.out_dim :].fill_(self.logvar_init)

    def forward(self, x: torch.Tensor) -> Gaussian:
        return _posterior(self.linear(x), self.logvar_clamp, sample=self.training)


class LinearCode(nn.Module):
    """A plain ``Linear(in_dim, d)`` with the bottleneck's interface (no KL): the
    ``dmil-fc`` ablation."""

    def __init__(self, in_dim: int, out_dim: int, **_: object) -> None:
        super().__init__()
        self.out_dim = int(out_dim)
        self.linear = nn.Linear(int(in_dim), self.out_dim)

    def forward(self, x: torch.Tensor) -> Gaussian:
        value = self.linear(x)
        return Gaussian(mean=value, logvar=None, value=value)


class DropoutLinear(nn.Linear):
    """:class:`torch.nn.Linear` with dropout on its input in training mode; the same
    parameters under the same names, so a state dict moves between the two."""

    def __init__(self, in_features: int, out_features: int, *, dropout: float) -> None:
        super().__init__(in_features, out_features)
        self.dropout = float(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.dropout(x, self.dropout, self.training))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dropout={self.dropout}"


def mlp(
    in_dim: int, hidden: int, out_dim: int, *, layers: int = 2, dropout: float = 0.0
) -> nn.Module:
    """``layers`` linear layers with ReLU between them (one layer: a plain Linear).

    ``dropout > 0`` drops each linear layer's input (the network's input included) in
    training; parameter names are the same with and without it.
    """
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ValueError(f"layers: expected a positive integer, found {layers!r}.")

    def linear(i: int, o: int) -> nn.Linear:
        return DropoutLinear(i, o, dropout=dropout) if dropout > 0 else nn.Linear(i, o)

    if layers == 1:
        return linear(in_dim, out_dim)
    mods: list[nn.Module] = [linear(in_dim, hidden), nn.ReLU()]
    for _ in range(layers - 2):
        mods += [linear(hidden, hidden), nn.ReLU()]
    mods.append(linear(hidden, out_dim))
    return nn.Sequential(*mods)


class GroupedLinear(nn.Module):
    """``G`` independent linear layers applied in one batched matrix product.

    ``x`` of shape ``(G, B, in_dim)`` becomes ``(G, B, out_dim)`` with
    ``y[g] = x[g] @ W[g] + b[g]``. Each group is initialised as an ``nn.Linear`` would be;
    one ``baddbmm`` replaces ``G`` small kernels, which is what dominates the cost of
    small models on a CPU.

    Parameters
    ----------
    groups, in_dim, out_dim : int
    """

    def __init__(self, groups: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.groups, self.in_dim, self.out_dim = int(groups), int(in_dim), int(out_dim)
        self.weight = nn.Parameter(torch.empty(self.groups, self.in_dim, self.out_dim))
        self.bias = nn.Parameter(torch.empty(self.groups, 1, self.out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Each group as ``nn.Linear(in_dim, out_dim).reset_parameters()``."""
        with torch.no_grad():
            for g in range(self.groups):
                layer = nn.Linear(self.in_dim, self.out_dim)
                self.weight[g].copy_(layer.weight.t())
                self.bias[g, 0].copy_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)  # (G, B, out)

    def extra_repr(self) -> str:
        return f"groups={self.groups}, in_dim={self.in_dim}, out_dim={self.out_dim}"


class GroupedBottleneck(nn.Module):
    """:class:`VariationalBottleneck` for ``G`` groups at once: ``(G, B, in) -> (G, B, d)``
    codes (plain linear codes with ``variational=False``, the ``dmil-fc`` ablation)."""

    def __init__(
        self,
        groups: int,
        in_dim: int,
        out_dim: int,
        *,
        variational: bool = True,
        logvar_clamp: float | None = 10.0,
        logvar_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.out_dim = int(out_dim)
        self.variational = bool(variational)
        self.logvar_clamp = logvar_clamp
        self.logvar_init = float(logvar_init)
        width = 2 * self.out_dim if self.variational else self.out_dim
        self.linear = GroupedLinear(groups, in_dim, width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Linear initialisation, then the log-variance bias set to ``logvar_init``."""
        self.linear.reset_parameters()
        if self.variational and self.logvar_init != 0.0:
            with torch.no_grad():
                self.linear.bias[..., self.out_dim :].fill_(self.logvar_init)

    def forward(self, x: torch.Tensor) -> Gaussian:
        out = self.linear(x)
        if not self.variational:
            return Gaussian(mean=out, logvar=None, value=out)
        return _posterior(out, self.logvar_clamp, sample=self.training)


class GroupedMLP(nn.Module):
    """``G`` two-layer MLPs ``in -> hidden -> out`` with ReLU, batched."""

    def __init__(self, groups: int, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.first = GroupedLinear(groups, in_dim, hidden)
        self.second = GroupedLinear(groups, hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.first(x)))
