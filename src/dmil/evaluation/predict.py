"""Run a trained model over a dataset in batches and collect its predictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dmil.data.container import MultimodalDataset
from dmil.training.batches import eval_loader

if TYPE_CHECKING:
    from lightning.fabric import Fabric

__all__ = ["Predictions", "predict"]


@dataclass
class Predictions:
    """A model's outputs on every sample of a dataset, in the dataset's order.

    Attributes
    ----------
    labels : ndarray of int, shape (N,)
        True labels.
    logits : ndarray of float, shape (N, C)
        Multimodal logits (or log-probabilities).
    y_pred : ndarray of int, shape (N,)
        ``argmax`` of ``logits``.
    modality_logits : ndarray of float, shape (M, N, C), or None
        Unimodal logits, when the model gives them.
    modality_pred : ndarray of int, shape (M, N), or None
        ``argmax`` of each unimodal prediction.
    modality_names : tuple of str
        One name per modality.
    gate : ndarray of float, shape (N, K), or None
        Per-sample gate weights over the components (models with a gate).
    component_logits : ndarray of float, shape (K, N, C), or None
        Each component's logits (models with components), in ``component_names`` order.
    component_names : tuple of str
        Names of the components (empty without components).
    """

    labels: np.ndarray
    logits: np.ndarray
    y_pred: np.ndarray
    modality_logits: np.ndarray | None
    modality_pred: np.ndarray | None
    modality_names: tuple[str, ...]
    gate: np.ndarray | None = None
    component_logits: np.ndarray | None = None
    component_names: tuple[str, ...] = ()

    @property
    def component_pred(self) -> np.ndarray | None:
        """``argmax`` of each component's logits, shape (K, N), or ``None``."""
        if self.component_logits is None:
            return None
        return self.component_logits.argmax(axis=2).astype(np.int64)


def predict(
    model: Any,
    data: MultimodalDataset,
    *,
    batch_size: int = 512,
    fabric: Fabric | None = None,
) -> Predictions:
    """Evaluate ``model`` on all of ``data`` (eval mode, no gradients).

    Parameters
    ----------
    model : MultimodalModel or a Fabric-wrapped one
        Takes ``[x_1 (B, ...), ..., x_M (B, ...)]`` and returns a ``ModelOutput``.
    data : MultimodalDataset
        The samples to predict, in order.
    batch_size : int
        Samples per forward pass.
    fabric : Fabric, optional
        When given, batches are moved with ``fabric`` and ``model`` should be the module
        returned by ``fabric.setup`` (so precision settings apply); under DDP every
        process must call this together. Without it, batches go to the device of the
        model's first parameter.

    Returns
    -------
    Predictions
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, found {batch_size!r}.")
    loader = eval_loader(data, batch_size=batch_size)
    if fabric is not None:
        loader = fabric.setup_dataloaders(loader, use_distributed_sampler=False)
        device = None
    else:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    logits, mod_logits, gates, comp_logits = [], [], [], []
    comp_names: tuple[str, ...] = ()
    with torch.no_grad():
        for batch in loader:
            *inputs, _ = batch
            if device is not None:
                inputs = [x.to(device) for x in inputs]
            out = model(list(inputs))
            logits.append(out.logits.detach().float().cpu())
            if out.modality_logits is not None:
                mod_logits.append(
                    torch.stack([m.detach().float().cpu() for m in out.modality_logits])
                )
            if out.gate is not None:
                gates.append(out.gate.detach().float().cpu())
            if out.component_logits:
                comp_names = tuple(out.component_logits)
                comp_logits.append(
                    torch.stack([v.detach().float().cpu() for v in out.component_logits.values()])
                )
    model.train(was_training)
    all_logits = torch.cat(logits).numpy()
    if mod_logits and len(mod_logits) != len(logits):
        raise ValueError("the model returned modality_logits for some batches but not others.")
    m_logits = torch.cat(mod_logits, dim=1).numpy() if mod_logits else None
    if m_logits is not None and m_logits.shape[0] != data.n_modalities:
        raise ValueError(
            f"the model returned {m_logits.shape[0]} unimodal predictions for "
            f"{data.n_modalities} modalities; expected one per modality."
        )
    return Predictions(
        labels=data.labels.numpy().astype(np.int64),
        logits=all_logits,
        y_pred=all_logits.argmax(axis=1).astype(np.int64),
        modality_logits=m_logits,
        modality_pred=None if m_logits is None else m_logits.argmax(axis=2).astype(np.int64),
        modality_names=tuple(data.modality_names),
        gate=torch.cat(gates).numpy() if gates and len(gates) == len(logits) else None,
        component_logits=torch.cat(comp_logits, dim=1).numpy()
        if comp_logits and len(comp_logits) == len(logits)
        else None,
        component_names=comp_names if comp_logits else (),
    )
