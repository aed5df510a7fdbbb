"""Training several independent models at once, each with its own early stopping.

Every model ("head") is a classifier ``p(y | sources)`` or a density ``p(x_m)``. The heads
share nothing but the optimiser loop: one pass over a mini-batch computes the sum of the
active heads' losses, and since their parameters are disjoint each head follows exactly
the gradient of its own loss. After every *check* (an epoch, or at most ``check_samples``
training samples on large data) each head's validation loss is measured; a head whose loss
has not improved by ``min_delta`` for ``patience`` checks stops training, and every head is
restored to its best state. Data stay in memory as tensors on the target device; batches
are index gathers, so no data loader or worker process is involved.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

__all__ = ["AdamW", "Head", "Rows", "TrainSettings", "head_loss", "train_heads"]

logger = logging.getLogger(__name__)


@dataclass
class Head:
    """One model to train.

    Attributes
    ----------
    name : str
        E.g. ``"p(y|x1)"``.
    module : nn.Module
        A classifier (``forward(list of (B, D_m) tensors) -> (B, C) logits``) or a density
        (``log_prob((B, D)) -> (B,)``).
    sources : tuple of int
        Indices of the feature tensors the head reads.
    kind : {"classifier", "density"}
    """

    name: str
    module: nn.Module
    sources: tuple[int, ...]
    kind: str


@dataclass
class Rows:
    """Some rows of in-memory feature tensors, without copying them.

    Attributes
    ----------
    feats : list of tensors of shape (N_all, D_m)
        Feature tensors on the target device.
    y : integer tensor of shape (N_all,)
    rows : integer tensor of shape (N,) or None
        The rows that belong to this part (``None``: all of them).
    """

    feats: Sequence[torch.Tensor]
    y: torch.Tensor
    rows: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0] if self.rows is None else self.rows.shape[0])

    def take(self, idx: torch.Tensor | slice) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Features and labels at positions ``idx`` of this part."""
        pos = idx if self.rows is None else self.rows[idx]
        return [f[pos] for f in self.feats], self.y[pos]


@dataclass
class TrainSettings:
    """Optimisation settings shared by all heads (see :func:`train_heads`)."""

    max_epochs: int = 200
    patience: int = 10
    batch_size: int = 512
    lr: float = 3e-3
    weight_decay: float = 1e-5
    min_delta: float = 1e-4
    check_samples: int = 262144
    progress: bool | None = None
    desc: str = "fit"


@dataclass
class HeadResult:
    """What training one head gave: its best validation loss and the curve."""

    best_loss: float
    best_check: int
    n_checks: int
    val_curve: list[float] = field(default_factory=list)


class AdamW:
    """Adam with decoupled weight decay, with a step count per parameter.

    ``torch.optim`` imports ``torch._dynamo`` the first time an optimiser is built, which
    costs about a second per process, longer than a whole fit of a small dataset; this
    plain implementation of the same update avoids it. Parameters without a gradient in a
    step (heads that stopped early) are left untouched.
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        *,
        lr: float,
        weight_decay: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = list(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.state: dict[int, tuple[torch.Tensor, torch.Tensor, list[int]]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for k, p in enumerate(self.params):
            if p.grad is None:
                continue
            if k not in self.state:
                self.state[k] = (torch.zeros_like(p), torch.zeros_like(p), [0])
            m, v, count = self.state[k]
            count[0] += 1
            g = p.grad
            p.mul_(1.0 - self.lr * self.weight_decay)
            m.lerp_(g, 1.0 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
            correction1 = 1.0 - beta1 ** count[0]
            correction2 = 1.0 - beta2 ** count[0]
            denom = (v / correction2).sqrt_().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / correction1)


def head_loss(
    head: Head, feats: Sequence[torch.Tensor], y: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Negative log-likelihood of a head on one batch (nats)."""
    if head.kind == "classifier":
        logits = head.module([feats[m] for m in head.sources])
        return F.cross_entropy(logits, y, reduction=reduction)
    nll = -head.module.log_prob(feats[head.sources[0]])
    return nll.mean() if reduction == "mean" else nll.sum()


@torch.no_grad()
def _val_losses(heads: Sequence[Head], val: Rows, chunk: int) -> list[float]:
    n = len(val)
    totals = [0.0] * len(heads)
    for start in range(0, n, chunk):
        part, yb = val.take(slice(start, start + chunk))
        for k, head in enumerate(heads):
            totals[k] += float(head_loss(head, part, yb, reduction="sum"))
    return [t / n for t in totals]


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def train_heads(
    heads: Sequence[Head],
    train: Rows,
    val: Rows,
    settings: TrainSettings,
    *,
    generator: torch.Generator,
) -> dict[str, HeadResult]:
    """Train ``heads`` with early stopping on validation loss; restore their best states.

    Parameters
    ----------
    heads : sequence of Head
        The models to train, all at once; their parameters must be disjoint.
    train, val : Rows
        Training and validation rows; features are indexed by ``Head.sources`` and live
        on the heads' device.
    settings : TrainSettings
        Optimiser, batching, early-stopping and progress-bar settings.
    generator : torch.Generator
        CPU generator for the mini-batch order.

    Returns
    -------
    dict name -> HeadResult
    """
    n = len(train)
    device = train.y.device
    batch = max(1, min(int(settings.batch_size), n))
    steps_per_epoch = math.ceil(n / batch)
    steps_per_check = max(1, min(steps_per_epoch, math.ceil(settings.check_samples / batch)))
    max_checks = max(1, math.ceil(settings.max_epochs * steps_per_epoch / steps_per_check))
    params = [p for h in heads for p in h.module.parameters()]
    optimiser = AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    for h in heads:
        h.module.train()

    best = [math.inf] * len(heads)
    best_check = [0] * len(heads)
    waited = [0] * len(heads)
    states = [_snapshot(h.module) for h in heads]
    curves: list[list[float]] = [[] for _ in heads]
    active = list(range(len(heads)))
    show = sys.stderr.isatty() if settings.progress is None else bool(settings.progress)
    bar = tqdm(total=max_checks, desc=settings.desc, disable=not show, leave=False)
    order = torch.empty(0, dtype=torch.long)
    cursor = 0
    full_batch = batch >= n
    if full_batch:
        full_feats, full_y = train.take(slice(None))
    check = 0
    for check in range(1, max_checks + 1):
        for _ in range(steps_per_check):
            if full_batch:
                feats, yb = full_feats, full_y
            else:
                if cursor >= order.numel():
                    order = torch.randperm(n, generator=generator).to(device)
                    cursor = 0
                feats, yb = train.take(order[cursor : cursor + batch])
                cursor += batch
            loss = sum(head_loss(heads[k], feats, yb) for k in active)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        for h in heads:
            h.module.eval()
        losses = _val_losses([heads[k] for k in active], val, chunk=65536)
        for h in heads:
            h.module.train()
        for k, value in zip(list(active), losses, strict=True):
            curves[k].append(value)
            if not math.isfinite(value):
                logger.warning("%s: validation loss is %s; stopping it", heads[k].name, value)
                active.remove(k)
                continue
            if not math.isfinite(best[k]) or value < best[k] - settings.min_delta * max(
                1.0, abs(best[k])
            ):
                best[k], best_check[k], waited[k] = value, check, 0
                states[k] = _snapshot(heads[k].module)
            else:
                waited[k] += 1
                if waited[k] >= settings.patience:
                    active.remove(k)
        bar.update(1)
        bar.set_postfix(active=len(active), val=f"{sum(losses) / max(len(losses), 1):.3f}")
        if not active:
            break
    bar.close()
    for k, h in enumerate(heads):
        h.module.load_state_dict(states[k])
        h.module.eval()
        logger.info(
            "%s: best validation loss %.4f at check %d of %d", h.name, best[k], best_check[k], check
        )
    return {
        h.name: HeadResult(best[k], best_check[k], len(curves[k]), curves[k])
        for k, h in enumerate(heads)
    }
