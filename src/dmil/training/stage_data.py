"""The data of one stage: its training and validation loaders, over the raw inputs or,
while the encoders are frozen, over their outputs computed once for the stage."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from dmil.data.container import MultimodalDataset
from dmil.models.base import MultimodalModel
from dmil.training.batches import InMemoryBatches, eval_loader, train_loader
from dmil.training.config import TrainConfig
from dmil.training.stages import StagePlan, StageSpec

if TYPE_CHECKING:
    from lightning.fabric import Fabric

__all__ = ["StageData", "stage_data"]

logger = logging.getLogger(__name__)


@dataclass
class StageData:
    """The loaders of one stage (raw inputs, or cached encoder outputs)."""

    loader: Any
    sampler: Any
    val_loader: Any
    embedded: bool
    target_names: tuple[str, ...] = ()


def _encode_all(
    fabric: Fabric, model: MultimodalModel, data: MultimodalDataset, batch_size: int
) -> list[torch.Tensor]:
    """Outputs of the (frozen, evaluation-mode) encoders for every sample, plus labels."""
    chunks: list[list[torch.Tensor]] = []
    was_training = model.training
    model.eval()
    # Iterating a DataLoader draws from the global generator; keep its state, so a stage
    # with cached encoders sees the same random numbers as one without, and a resumed
    # run the same as an uninterrupted one.
    rng = torch.get_rng_state()
    # Inputs in the parameters' dtype ("-true" precisions convert the weights), outputs
    # kept in theirs, so the cached values are what the encoders give inside the loop.
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    with torch.no_grad(), fabric.autocast():
        for batch in eval_loader(data, batch_size=batch_size):
            *inputs, _ = fabric.to_device(batch)
            if dtype is not None:
                inputs = [x.to(dtype) if x.is_floating_point() else x for x in inputs]
            chunks.append(list(model.encode(list(inputs))))
    torch.set_rng_state(rng)
    model.train(was_training)
    tensors = [torch.cat([c[m] for c in chunks]) for m in range(len(chunks[0]))]
    tensors.append(data.labels.to(fabric.device))
    return tensors


def stage_data(
    fabric: Fabric,
    model: MultimodalModel,
    plan: StagePlan,
    stage: StageSpec,
    train: MultimodalDataset,
    val: MultimodalDataset,
    config: TrainConfig,
    sample_targets: Mapping[str, torch.Tensor] | None = None,
) -> StageData:
    """The loaders of ``stage``: over the encoders' outputs, computed once here, when the
    stage freezes the encoders, allows caching (``cache_frozen``) and the model accepts
    embedded inputs (``supports_embedded``); over the raw inputs otherwise. Per-sample
    training targets (``sample_targets``) ride along after the labels."""
    world = fabric.world_size
    per_process = config.batch_size // world
    embedded = bool(
        stage.cache_frozen and plan.encoders_frozen and getattr(model, "supports_embedded", False)
    )
    if embedded:
        train_data: Any = InMemoryBatches(_encode_all(fabric, model, train, config.eval_batch_size))
        val_data: Any = InMemoryBatches(_encode_all(fabric, model, val, config.eval_batch_size))
        logger.info("stage '%s': encoders frozen; training on their cached outputs", stage.name)
    else:
        train_data, val_data = train, val
    names = tuple(sample_targets or {})
    if names:
        # Per-sample training targets ride along with the labels: [x_1..x_M, y, t_1..].
        base = train_data if embedded else InMemoryBatches.from_dataset(train)
        extra = [sample_targets[k].to(base.tensors[0].device) for k in names]
        train_data = InMemoryBatches([*base.tensors, *extra])
    loader, sampler = train_loader(
        train_data,
        batch_size=per_process,
        seed=config.seed,
        rank=fabric.global_rank,
        world_size=world,
        device=fabric.device,
    )
    # Not wrapped by fabric.setup_dataloaders: its wrapper numbers epochs by how often the
    # loader was iterated in this process, which restarts at 0 after a resume. The epoch
    # is set explicitly and batches are moved with fabric.to_device.
    return StageData(
        loader=loader,
        sampler=sampler,
        val_loader=eval_loader(val_data, batch_size=config.eval_batch_size),
        embedded=embedded,
        target_names=names,
    )
