"""Batches from in-memory multimodal tensors.

The data of a :class:`~dmil.data.MultimodalDataset` already sits in memory, so a batch
is one fancy-indexing operation per tensor (no worker processes, no per-sample
collation). Training order comes from a :class:`~torch.utils.data.DistributedSampler`
seeded with the run's seed and told the epoch, in one process as in many: the
permutation of epoch ``e`` depends only on ``(seed, e)``, so an interrupted run that is
resumed sees exactly the batches it would have seen, and with ``W`` processes each
taking ``batch_size / W`` samples per step, step ``j`` covers the same samples as step
``j`` of a one-process run with ``batch_size``.

The training loader is a plain iterable (:class:`TensorBatches`), not a
:class:`~torch.utils.data.DataLoader`: an epoch's permutation is drawn once as a tensor
and each batch is one slice of it, which spares the per-sample index handling of a
sampler-driven ``DataLoader`` (the same batches, in the same order).

On an accelerator (``device`` given, not the CPU), a dataset that fits in
``max_device_bytes`` is copied to the device once and batched there (no host-to-device
copy per step); a larger one is batched on the host into pinned memory, so the copy to
the device (``fabric.to_device`` copies with ``non_blocking=True``) overlaps compute.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from dmil.data.container import MultimodalDataset

__all__ = ["DEVICE_DATA_BYTES", "InMemoryBatches", "TensorBatches", "eval_loader", "train_loader"]

#: Datasets up to this size are held whole on an accelerator (see the module docstring).
DEVICE_DATA_BYTES = 2 << 30


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


class TensorBatches:
    """Batches of aligned tensors in a given order: an iterable with ``len``.

    Parameters
    ----------
    tensors : list of Tensor
        Tensors of shape ``(N, ...)`` (on the CPU or already on the device).
    batch_size : int
    sampler : iterable of int, optional
        The order of one epoch (re-read at every iteration, e.g. a
        ``DistributedSampler`` after ``set_epoch``); ``None``: ``0..N-1``.
    drop_last : bool
        Drop a final incomplete batch.
    pin_memory : bool
        Copy each host batch into pinned memory (for non-blocking copies to a GPU).
    """

    def __init__(
        self,
        tensors: Sequence[torch.Tensor],
        *,
        batch_size: int,
        sampler: DistributedSampler | None = None,
        drop_last: bool = False,
        pin_memory: bool = False,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, found {batch_size!r}.")
        self.tensors = list(tensors)
        self.batch_size = batch_size
        self.sampler = sampler
        self.drop_last = drop_last
        self.pin_memory = pin_memory

    def _n_samples(self) -> int:
        return len(self.sampler) if self.sampler is not None else int(self.tensors[0].shape[0])

    def __len__(self) -> int:
        n = self._n_samples()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        device = self.tensors[0].device
        if self.sampler is None:
            order = None
            n = int(self.tensors[0].shape[0])
        else:
            order = torch.as_tensor(list(iter(self.sampler)), dtype=torch.long).to(device)
            n = int(order.numel())
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, n)
            if order is None:
                batch = [t[start:end] for t in self.tensors]
            else:
                idx = order[start:end]
                batch = [t[idx] for t in self.tensors]
            if self.pin_memory:
                batch = [b.pin_memory() for b in batch]
            yield batch


def _placed(
    dataset: InMemoryBatches, device: torch.device | str | None, max_device_bytes: int
) -> tuple[list[torch.Tensor], bool]:
    """The tensors to batch from and whether host batches should be pinned."""
    if device is None or torch.device(device).type == "cpu":
        return dataset.tensors, False
    size = sum(t.element_size() * t.numel() for t in dataset.tensors)
    if size <= max_device_bytes:
        return [t.to(device) for t in dataset.tensors], False
    return dataset.tensors, torch.device(device).type == "cuda"


def train_loader(
    data: MultimodalDataset | InMemoryBatches,
    *,
    batch_size: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | str | None = None,
    max_device_bytes: int = DEVICE_DATA_BYTES,
) -> tuple[TensorBatches, DistributedSampler]:
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
    device : torch.device or str, optional
        The training device: on an accelerator, data up to ``max_device_bytes`` are held
        there whole, larger data are batched into pinned host memory. ``None`` or the
        CPU: batches stay on the host.
    max_device_bytes : int
        Largest dataset copied whole to the device.

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
    tensors, pin = _placed(dataset, device, max_device_bytes)
    loader = TensorBatches(
        tensors, batch_size=batch_size, sampler=sampler, drop_last=drop_last, pin_memory=pin
    )
    return loader, sampler


def eval_loader(data: MultimodalDataset | InMemoryBatches, *, batch_size: int) -> DataLoader:
    """A loader over all of ``data`` in its stored order (no shuffling, no sharding).

    A :class:`~torch.utils.data.DataLoader`, so ``fabric.setup_dataloaders`` accepts it;
    its batches are few and large, so the sampler's per-index cost does not matter here.
    """
    return DataLoader(
        _as_batches(data),
        batch_size=batch_size,
        shuffle=False,
        num_workers=0,
        collate_fn=_as_batch,
    )
