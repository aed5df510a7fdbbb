"""The training loader: the batches of a sampler-driven DataLoader, without its overhead,
and data placed on the training device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from dmil.data import MultimodalDataset
from dmil.training.batches import InMemoryBatches, TensorBatches, train_loader


def _data(n: int = 50) -> MultimodalDataset:
    x = np.arange(n, dtype=np.float32)[:, None]
    return MultimodalDataset([x, x * 2], np.arange(n) % 2)


def _reference_batches(data, sampler, batch_size, drop_last):
    loader = DataLoader(
        InMemoryBatches.from_dataset(data),
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=lambda b: b,
        drop_last=drop_last,
    )
    return [b[0][:, 0].long().tolist() for b in loader]


@pytest.mark.parametrize(("n", "batch", "world"), [(50, 8, 1), (17, 8, 1), (48, 4, 2)])
def test_train_loader_batches_equal_a_dataloader_over_the_same_sampler(n, batch, world) -> None:
    for rank in range(world):
        loader, sampler = train_loader(
            _data(n), batch_size=batch, seed=5, rank=rank, world_size=world
        )
        for epoch in (0, 3):
            sampler.set_epoch(epoch)
            ours = [b[0][:, 0].long().tolist() for b in loader]
            expected = _reference_batches(_data(n), sampler, batch, loader.drop_last)
            assert ours == expected
            assert len(loader) == len(ours)


def test_train_loader_keeps_modalities_and_labels_aligned() -> None:
    loader, sampler = train_loader(_data(30), batch_size=7, seed=0)
    sampler.set_epoch(1)
    for x1, x2, y in loader:
        assert torch.equal(x2, x1 * 2) and torch.equal(y, x1[:, 0].long() % 2)


def test_small_data_are_held_on_the_device_and_large_data_stay_on_the_host() -> None:
    data = _data(20)
    on_device, sampler = train_loader(data, batch_size=8, seed=0, device="meta")
    sampler.set_epoch(0)
    batches = list(on_device)
    assert all(t.device.type == "meta" for b in batches for t in b)
    assert [len(b[-1]) for b in batches] == [8, 8, 4]
    host, _ = train_loader(data, batch_size=8, seed=0, device="meta", max_device_bytes=0)
    assert all(t.device.type == "cpu" for t in next(iter(host)))
    cpu, _ = train_loader(data, batch_size=8, seed=0, device="cpu")
    assert not cpu.pin_memory and cpu.tensors[0].device.type == "cpu"


def test_tensor_batches_without_sampler_keep_the_stored_order() -> None:
    x = torch.arange(10)
    assert [b[0].tolist() for b in TensorBatches([x], batch_size=4)] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
    ]
    assert len(TensorBatches([x], batch_size=4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="batch_size"):
        TensorBatches([x], batch_size=0)
