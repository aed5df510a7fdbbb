"""OGM-GE under DDP (2 CPU processes, gloo): the ranks agree on the coefficients and the
noise, so the replicas stay identical, and the coefficients are those of the full batch."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from dmil.models import build_model

SHAPES = [(4,), (5,)]


def _data(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (32,), generator=gen)
    x0 = torch.randn(32, 4, generator=gen) + 2.0 * torch.nn.functional.one_hot(y, 4)[:, :4]
    x1 = torch.randn(32, 5, generator=gen) * 0.5
    return [x0, x1], y


def _model():
    torch.manual_seed(0)
    return build_model("ogm-ge", input_shapes=SHAPES, n_classes=3, embed_dim=8, alpha=0.5)


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        model = _model()
        ddp = DistributedDataParallel(model)
        optimiser = torch.optim.SGD(ddp.parameters(), lr=0.1)
        xs, y = _data()
        part = slice(rank * 16, (rank + 1) * 16)
        for _ in range(2):
            optimiser.zero_grad()
            out = ddp([x[part] for x in xs])
            model.loss(out, y[part]).backward()
            model.on_after_backward(out, y[part])
            optimiser.step()
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        record = {"coefficients": model.last_coefficients.tolist(), "params": flat.tolist()}
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(record))
    finally:
        dist.destroy_process_group()


def test_ogm_ge_keeps_ddp_replicas_identical(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["coefficients"] == ranks[1]["coefficients"]
    assert ranks[0]["params"] == ranks[1]["params"]
    # One process on the whole batch takes the same steps: DDP averages the gradients of
    # equal halves, the scores are summed over ranks and the noise is seeded by the step.
    single = _model()
    optimiser = torch.optim.SGD(single.parameters(), lr=0.1)
    xs, y = _data()
    for _ in range(2):
        optimiser.zero_grad()
        out = single(xs)
        single.loss(out, y).backward()
        single.on_after_backward(out, y)
        optimiser.step()
    torch.testing.assert_close(
        torch.tensor(ranks[0]["coefficients"]), single.last_coefficients, rtol=1e-5, atol=1e-6
    )
    flat = torch.cat([p.detach().flatten() for p in single.parameters()])
    torch.testing.assert_close(torch.tensor(ranks[0]["params"]), flat, rtol=1e-4, atol=1e-5)
