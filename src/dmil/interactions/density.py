"""Per-modality density models for the pointwise entropy ``h(x) = -log p(x)``.

* :class:`GaussianMixtureDensity`: a KNIFE-style learnable Gaussian mixture (``K``
  components, full covariance) for continuous inputs, trained by gradient descent on the
  negative log-likelihood with early stopping on the validation NLL (see :mod:`.training`).
  Each covariance is parametrised through a lower-triangular factor ``A_k`` of its inverse
  (``Sigma_k^-1 = A_k^T A_k``, positive diagonal), which makes the log-density one matrix
  product per batch and keeps every covariance positive definite::

      log N(x; mu_k, Sigma_k) = -D/2 log(2 pi) + sum_i log A_k[i, i] - |A_k (x - mu_k)|^2 / 2

  The data are standardised inside the model and the Jacobian is added back, so
  ``log_prob`` is the density of the original inputs. ``E[-log p_theta(X)]`` upper-bounds
  the differential entropy ``H(X)``.
* :class:`CountDensity`: ``p(x)`` of a discrete modality from training counts.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["CountDensity", "GaussianMixtureDensity"]

#: Bound on |log A_k[i, i]| in standardised units, which keeps a component from collapsing
#: onto a point (its density would grow without limit).
_MAX_LOG_SCALE = 6.0


class GaussianMixtureDensity(nn.Module):
    """A ``K``-component full-covariance Gaussian mixture over ``D`` features.

    Parameters
    ----------
    dim : int
        ``D``, features per sample.
    n_components : int
        ``K``.
    mean, std : tensors of shape (D,)
        Standardisation of the inputs (training statistics).
    init_points : tensor of shape (K, D)
        Initial component means in original units (e.g. random training samples).
    """

    def __init__(
        self,
        *,
        dim: int,
        n_components: int,
        mean: torch.Tensor,
        std: torch.Tensor,
        init_points: torch.Tensor,
    ) -> None:
        super().__init__()
        if init_points.shape != (n_components, dim):
            raise ValueError(
                f"init_points: expected shape ({n_components}, {dim}), found "
                f"{tuple(init_points.shape)}."
            )
        self.dim = int(dim)
        self.n_components = int(n_components)
        self.register_buffer("shift", mean.float().clone())
        self.register_buffer("scale", std.float().clone())
        self.register_buffer("tril_mask", torch.tril(torch.ones(dim, dim), diagonal=-1))
        self.means = nn.Parameter(((init_points.float() - mean) / std).clone())
        self.raw_log_diag = nn.Parameter(torch.zeros(n_components, dim))
        self.lower = nn.Parameter(torch.zeros(n_components, dim, dim))
        self.weight_logits = nn.Parameter(torch.zeros(n_components))

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, *, n_iter: int = 10, ridge: float = 1e-3) -> None:
        """Start from a hard-assignment fit (k-means steps) of a sample ``x`` (B, D).

        Means, weights and full covariances of the clusters (plus ``ridge`` times the
        identity, in standardised units) become the initial mixture, so gradient
        training starts near a good solution. Clusters left empty keep their start.

        Degenerate data: a direction in which a cluster with more than ``2 D`` members has
        (almost) no spread -- point masses, a constant feature, one feature copying
        another -- would only shrink during training until the scale bound stops it,
        slowly, one small step per epoch, so early stopping never triggers. Such
        directions (variance below the bound's) start at the bound instead; training then
        has nothing left to gain there and stops after ``patience`` checks.
        """
        z = (x.to(self.shift.device).float() - self.shift) / self.scale  # (B, D)
        means = self.means.detach().clone()
        for _ in range(n_iter):
            assign = torch.cdist(z, means).argmin(1)
            for k in range(self.n_components):
                members = z[assign == k]
                if members.shape[0] > 0:
                    means[k] = members.mean(0)
        assign = torch.cdist(z, means).argmin(1)
        eye = torch.eye(self.dim, device=z.device)
        counts = torch.bincount(assign, minlength=self.n_components).float()
        for k in range(self.n_components):
            members = z[assign == k]
            if members.shape[0] <= 1:
                continue
            centred = members - means[k]
            cov = (centred.T @ centred / members.shape[0]).double()
            if members.shape[0] > 2 * self.dim:
                values, vectors = torch.linalg.eigh(cov)
                floor = math.exp(-2.0 * _MAX_LOG_SCALE)
                values = torch.where(values < floor, 1.01 * floor, values + ridge)
                cov = (vectors * values) @ vectors.T
                cov = (cov + cov.T) / 2
            else:
                cov = cov + ridge * eye.double()
            chol = torch.linalg.cholesky(cov)
            factor = torch.linalg.solve_triangular(
                chol, torch.eye(self.dim, dtype=torch.float64, device=z.device), upper=False
            ).float()  # A = L^-1, so A^T A = cov^-1
            log_diag = factor.diagonal().log().clamp(-_MAX_LOG_SCALE + 1e-3, _MAX_LOG_SCALE - 1e-3)
            self.raw_log_diag[k] = _MAX_LOG_SCALE * torch.atanh(log_diag / _MAX_LOG_SCALE)
            self.lower[k] = factor
        self.means.copy_(means)
        self.weight_logits.copy_((counts + 1.0).log())

    def _factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Precision factors ``A`` of shape (K, D, D) and their log-diagonals (K, D)."""
        log_diag = _MAX_LOG_SCALE * torch.tanh(self.raw_log_diag / _MAX_LOG_SCALE)
        factor = self.lower * self.tril_mask + torch.diag_embed(log_diag.exp())
        return factor, log_diag

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` in nats for ``x`` of shape (B, D); returns shape (B,)."""
        z = (x - self.shift) / self.scale  # (B, D)
        factor, log_diag = self._factors()
        k, d = self.n_components, self.dim
        # A_k (z - mu_k) = A_k z - A_k mu_k, all components in one product.
        proj = z @ factor.reshape(k * d, d).T  # (B, K*D)
        offset = torch.einsum("kij,kj->ki", factor, self.means).reshape(k * d)
        sq = ((proj - offset) ** 2).reshape(-1, k, d).sum(-1)  # (B, K)
        log_w = torch.log_softmax(self.weight_logits, dim=0)
        comp = log_w + log_diag.sum(-1) - 0.5 * sq - 0.5 * d * math.log(2 * math.pi)
        return torch.logsumexp(comp, dim=1) - self.scale.log().sum()


class CountDensity:
    """``p(v) = (n[v] + a) / (N + a (V + 1))`` for a discrete modality.

    All values never seen in training share the extra mass ``a / (N + a (V + 1))``.

    Parameters
    ----------
    codes : integer tensor of shape (N,)
        Training codes in ``0..n_values-1``.
    n_values : int
    smoothing : float
        Pseudo-count ``a``.
    """

    def __init__(self, codes: torch.Tensor, *, n_values: int, smoothing: float) -> None:
        counts = torch.bincount(codes[codes >= 0].long(), minlength=n_values).double()
        denom = counts.sum() + smoothing * (n_values + 1)
        self.log_table = ((counts + smoothing) / denom).log()
        self.log_unseen = math.log(smoothing / float(denom)) if smoothing > 0 else -math.inf

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """``log p(v)`` of shape (N,) (float64, on the CPU)."""
        codes = codes.long().cpu()
        out = torch.full(codes.shape, self.log_unseen, dtype=torch.float64)
        seen = codes >= 0
        out[seen] = self.log_table[codes[seen]]
        return out
