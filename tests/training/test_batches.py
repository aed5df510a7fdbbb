"""In-memory batches: seeded per-epoch order, and DDP shards that add up to the
one-process batches."""

from __future__ import annotations

import numpy as np
import torch

from dmil.data import MultimodalDataset
from dmil.training.batches import eval_loader, train_loader


def _data(n: int = 50) -> MultimodalDataset:
    x = np.arange(n, dtype=np.float32)[:, None]
    return MultimodalDataset([x, x * 2], np.arange(n) % 2)


def _epoch(loader, sampler, epoch):
    sampler.set_epoch(epoch)
    return [b[0][:, 0].long().tolist() for b in loader]


def test_train_order_depends_only_on_seed_and_epoch():
    a, sa = train_loader(_data(), batch_size=8, seed=3)
    b, sb = train_loader(_data(), batch_size=8, seed=3)
    assert _epoch(a, sa, 2) == _epoch(b, sb, 2)
    assert _epoch(a, sa, 1) != _epoch(a, sa, 2)
    c, sc = train_loader(_data(), batch_size=8, seed=4)
    assert _epoch(a, sa, 2) != _epoch(c, sc, 2)
    assert sorted(sum(_epoch(a, sa, 5), [])) == list(range(50))


def test_two_process_shards_cover_the_one_process_batches():
    single, s1 = train_loader(_data(48), batch_size=8, seed=0)
    ranks = [train_loader(_data(48), batch_size=4, seed=0, rank=r, world_size=2) for r in (0, 1)]
    one = _epoch(single, s1, 3)
    two = [_epoch(loader, sampler, 3) for loader, sampler in ranks]
    assert len(two[0]) == len(two[1]) == len(one)
    for j, batch in enumerate(one):
        assert sorted(batch) == sorted(two[0][j] + two[1][j])


def test_batches_keep_modalities_and_labels_aligned():
    batch = next(iter(eval_loader(_data(10), batch_size=4)))
    x1, x2, y = batch
    assert torch.equal(x2, x1 * 2) and torch.equal(y, x1[:, 0].long() % 2)


def test_a_final_batch_of_one_is_dropped():
    loader, sampler = train_loader(_data(17), batch_size=8, seed=0)
    sizes = [len(b[-1]) for b in _epoch_batches(loader, sampler)]
    assert sizes == [8, 8]


def _epoch_batches(loader, sampler):
    sampler.set_epoch(0)
    return list(loader)
