"""Batches from in-memory multimodal tensors.

The data of a :class:`~dmil.data.MultimodalDataset` already sits in memory, so a batch
is one fancy-indexing operation per tensor (no worker processes, no per-sample
collation). Training order comes from a :class:`~torch.utils.data.DistributedSampler`
seeded with the run's seed and told the epoch, in one process as in many: the
permutation of epoch ``e`` depends only on ``(seed, e)``, so an interrupted run that is
resumed sees exactly the batches it would have seen, and with ``W`` processes each
taking ``batch_size / W`` samples per step, step ``j`` covers the same samples as step
``j`` of a one-process run with ``batch_size``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from dmil.data.container import MultimodalDataset

__all__ = ["InMemoryBatches", "eval_loader", "train_loader"]


class InMemoryBatches(Dataset):
    """A map-style dataset over aligned tensors that fetches whole batches at once.

    Parameters
    ----------
    tensors : sequence of Tensor
        Tensors of shape ``(N, ...)``, e.g. the modalities followed by the labels.
    """

    def __init__(self, tensors: Sequence[torch.Tensor]) -> None:
        tensors = list(tensors)
        if not tensors:
            raise ValueError("InMemoryBatches: expected at least one tensor, found none.")
        n = tensors[0].shape[0]
        for i, t in enumerate(tensors):
            if t.shape[0] != n:
                raise ValueError(
                    f"InMemoryBatches: tensor {i} has {t.shape[0]} rows, expected {n} like "
                    "tensor 0; every tensor needs one row per sample."
                )
        self.tensors = tensors

    @classmethod
    def from_dataset(cls, data: MultimodalDataset) -> InMemoryBatches:
        """Modalities then labels of ``data``."""
        return cls([*data.modalities, data.labels])

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])

    def __getitem__(self, index: int) -> list[torch.Tensor]:
        return [t[index : index + 1] for t in self.tensors]

    def __getitems__(self, indices: Sequence[int]) -> list[torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return [t[idx] for t in self.tensors]


def _as_batch(batch: list[torch.Tensor]) -> list[torch.Tensor]:
    """Collate function: a batch fetched by ``__getitems__`` is already complete."""
    return batch


def _as_batches(data: MultimodalDataset | InMemoryBatches) -> InMemoryBatches:
    return data if isinstance(data, InMemoryBatches) else InMemoryBatches.from_dataset(data)


def train_loader(
    data: MultimodalDataset | InMemoryBatches,
    *,
    batch_size: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[DataLoader, DistributedSampler]:
    """A shuffling loader for one process of ``world_size``.

    Parameters
    ----------
    data : MultimodalDataset or InMemoryBatches
        The training split (or already prepared tensors, e.g. cached embeddings).
    batch_size : int
        Samples per step in this process (the global batch divided by ``world_size``).
    seed : int
        Seed of the per-epoch permutation; call ``sampler.set_epoch(e)`` before epoch ``e``.
    rank, world_size : int
        This process's rank and the number of processes.

    Returns
    -------
    loader, sampler
        Batches are lists ``[x_1 (B, ...), ..., x_M (B, ...), y (B,)]``.
    """
    dataset = _as_batches(data)
    sampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False
    )
    per_process = -(-len(dataset) // world_size)
    # A final batch of one sample breaks batch normalisation in training mode; drop it.
    drop_last = per_process > batch_size and per_process % batch_size == 1
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=0,
        collate_fn=_as_batch,
        drop_last=drop_last,
    )
    return loader, sampler


def eval_loader(data: MultimodalDataset | InMemoryBatches, *, batch_size: int) -> DataLoader:
    """A loader over all of ``data`` in its stored order (no shuffling, no sharding)."""
    return DataLoader(
        _as_batches(data),
        batch_size=batch_size,
        shuffle=False,
        num_workers=0,
        collate_fn=_as_batch,
    )
