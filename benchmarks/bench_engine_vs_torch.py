"""Training throughput of the dmil engine against a bare PyTorch loop.

The same model (``build_model(method, encoder)`` on the dataset's shapes, seeded alike),
the same training split, batch size, optimiser (the engine's own
``dmil.training.optim.build_optimizer``: AdamW, lr 1e-3, weight decay 1e-4, PyTorch's fused
implementation where it applies) and number of epochs, in one process with one torch
thread. The engine is
:func:`dmil.training.fit` (Fabric, seeded sampler, per-epoch validation, no checkpoint
files); the bare loop is ``randperm`` + index gathers + forward + ``model.loss`` +
backward + ``optimizer.step``. Both rates count training samples per second of the
optimisation steps only (the engine's ``samples_per_second``; validation and set-up are
outside both). Engine and bare loop alternate, ``--repeats`` times each; the report gives
the medians and the median of the paired ratios engine / bare.

    python benchmarks/bench_engine_vs_torch.py --out benchmarks/results/engine_vs_torch.json

Options: ``--dataset synthetic-mixed``, ``--method joint``, ``--encoder mlp``,
``--epochs 5``, ``--batch-size 64``, ``--repeats 5``, ``--threads 1``, ``--seed 0``,
``--data-option KEY=VALUE``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _common import add_out_option, command_line, machine_info, utc_now, write_report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="synthetic-mixed")
    p.add_argument("--method", default="joint")
    p.add_argument("--encoder", default="mlp")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE")
    add_out_option(p)
    return p


def _splits(args: argparse.Namespace) -> Any:
    import yaml

    from dmil.data import load, split_dataset

    options: dict[str, Any] = {}
    for item in args.data_option:
        key, _, value = item.partition("=")
        options[key] = yaml.safe_load(value)
    if args.dataset.startswith("synthetic"):
        options.setdefault("random_state", args.seed)
    data = load(args.dataset, **options)
    return split_dataset(data, val_size=0.15, test_size=0.15, random_state=args.seed)


def _model(args: argparse.Namespace, data: Any) -> Any:
    import torch

    from dmil.models import build_model

    torch.manual_seed(args.seed)
    return build_model(
        args.method,
        input_shapes=[data.shapes[m] for m in data.modality_names],
        n_classes=data.n_classes,
        encoder=args.encoder,
    )


def _config(args: argparse.Namespace) -> Any:
    from dmil.training import TrainConfig

    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        patience=0,
        scheduler="none",
        accelerator="cpu",
        progress=False,
        seed=args.seed,
    )


def engine_rate(args: argparse.Namespace, splits: Any) -> float:
    """Samples/s of :func:`dmil.training.fit` (optimisation steps only)."""
    from dmil.training import build_fabric, fit

    config = _config(args)
    result = fit(
        _model(args, splits.train),
        splits.train,
        splits.val,
        config=config,
        fabric=build_fabric(config),
    )
    return result.samples_per_second


def bare_rate(args: argparse.Namespace, splits: Any) -> float:
    """Samples/s of a plain PyTorch loop over the same model, data and batch size."""
    import torch

    from dmil.training.optim import build_optimizer

    model = _model(args, splits.train)
    optimizer = build_optimizer(model, _config(args))  # the engine's optimiser, same settings
    xs, y = list(splits.train.modalities), splits.train.labels
    n = y.shape[0]
    gen = torch.Generator().manual_seed(args.seed)
    model.train()
    seconds, seen = 0.0, 0
    for _ in range(args.epochs):
        start = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, args.batch_size):
            idx = order[i : i + args.batch_size]
            if idx.numel() < 2:  # a batch of one breaks batch normalisation, as in the engine
                continue
            output = model([x[idx] for x in xs])
            loss = model.loss(output, y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += int(idx.numel())
        seconds += time.perf_counter() - start
    return seen / seconds


def _optimizer_description(args: argparse.Namespace, splits: Any) -> str:
    from dmil.training.optim import build_optimizer

    optimizer = build_optimizer(_model(args, splits.train), _config(args))
    fused = optimizer.defaults.get("fused")
    return f"{type(optimizer).__name__} (fused={fused}), used by both loops"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    splits = _splits(args)
    engine_rate(args, splits)  # warm-up: first-call costs (optimiser, allocator) excluded
    bare_rate(args, splits)
    engine, bare = [], []
    for _ in range(args.repeats):
        engine.append(engine_rate(args, splits))
        bare.append(bare_rate(args, splits))
    ratios = [e / b for e, b in zip(engine, bare, strict=True)]
    report = {
        "benchmark": "engine vs bare PyTorch loop, training samples/s",
        "command": command_line(argv),
        "date": utc_now(),
        "machine": machine_info(torch_threads=torch.get_num_threads()),
        "settings": {
            k: getattr(args, k)
            for k in ("dataset", "method", "encoder", "epochs", "batch_size", "repeats", "seed")
        },
        "n_train": len(splits.train),
        "optimizer": _optimizer_description(args, splits),
        "engine_samples_per_s": engine,
        "bare_samples_per_s": bare,
        "median_engine": statistics.median(engine),
        "median_bare": statistics.median(bare),
        "median_ratio": statistics.median(ratios),
        "ratios": ratios,
    }
    print(
        f"{args.dataset} {args.method}/{args.encoder}, batch {args.batch_size}: engine "
        f"{report['median_engine']:.0f} samples/s, bare loop {report['median_bare']:.0f} "
        f"samples/s, ratio {report['median_ratio']:.3f} (median of {args.repeats} pairs)"
    )
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
