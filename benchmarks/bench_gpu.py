"""GPU training throughput: the engine and its loaders against the model-only rate.

For each workload (``mlp``: synthetic-mixed-shaped vectors, 2 x 16 features, 4 classes;
``cnn``: av-digits-shaped inputs, image 1x8x8 and log-mel 1x40x64, 10 classes; the data
are random tensors, since only speed is measured) and each precision (``32-true``,
``bf16-mixed``), it measures training samples/s of

* ``model``: the model-only rate -- the same model's forward, loss, backward and AdamW
  step on synthetic batches already on the device (the ceiling for any loader);
* ``device-data``: batches from :func:`dmil.training.batches.train_loader` with the
  dataset held whole on the device;
* ``pinned``: the same loader with the data left on the host, batched into pinned memory
  and copied with ``non_blocking=True``;
* ``engine``: :func:`dmil.training.fit` (Lightning Fabric, precision plugin, per-epoch
  validation; its ``samples_per_second`` counts the optimisation steps only);

each with its ratio to ``model`` and the peak GPU memory, and optionally (``--compile``)
the model-only rate of ``torch.compile(model)``. One JSON report (``--out``) and a
Markdown table on stdout.

    python benchmarks/bench_gpu.py --out benchmarks/results/gpu.json            # on a GPU
    python benchmarks/bench_gpu.py --smoke                                      # CPU check

``--smoke`` runs every code path on tiny data on the CPU (or with ``--device cuda``),
to check the script before device time is spent (on a CPU it skips bf16 for the cnn,
whose bf16 convolutions are very slow there). Other options: ``--workloads mlp,cnn``,
``--precisions 32-true,bf16-mixed``, ``--batch-size 256``, ``--n-train 20000``,
``--epochs 3``, ``--steps 200``, ``--compile``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from _common import add_out_option, command_line, machine_info, utc_now, write_report


@dataclass(frozen=True)
class Workload:
    name: str
    shapes: tuple[tuple[int, ...], ...]
    n_classes: int
    encoder: str


WORKLOADS = {
    "mlp": Workload("mlp", ((16,), (16,)), 4, "mlp"),
    "cnn": Workload("cnn", ((1, 8, 8), (1, 40, 64)), 10, "cnn"),
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    p.add_argument("--workloads", default="mlp,cnn")
    p.add_argument("--precisions", default="32-true,bf16-mixed")
    p.add_argument("--method", default="joint")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--n-train", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=3, help="epochs per engine/loader run")
    p.add_argument("--steps", type=int, default=200, help="steps of the model-only rate")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compile", action="store_true", help="also time torch.compile(model)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script")
    p.add_argument("--seed", type=int, default=0)
    add_out_option(p)
    return p


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: Any, precision: str) -> Any:
    import contextlib

    import torch

    if precision == "bf16-mixed":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _data(w: Workload, n: int, seed: int) -> Any:
    import torch

    from dmil.data import MultimodalDataset, split_dataset

    gen = torch.Generator().manual_seed(seed)
    xs = [torch.randn((n, *s), generator=gen) for s in w.shapes]
    y = torch.randint(0, w.n_classes, (n,), generator=gen)
    data = MultimodalDataset(xs, y, name=f"gpu-{w.name}")
    return split_dataset(data, val_size=0.1, test_size=0.1, random_state=seed)


def _model(w: Workload, method: str, seed: int) -> Any:
    import torch

    from dmil.models import build_model

    torch.manual_seed(seed)
    return build_model(method, input_shapes=w.shapes, n_classes=w.n_classes, encoder=w.encoder)


def _peak_reset(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: Any) -> float | None:
    import torch

    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def _step(model: Any, optimizer: Any, xs: list, y: Any, device: Any, precision: str) -> None:
    with _autocast(device, precision):
        output = model(xs)
        loss = model.loss(output, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def model_only(args, w, device, precision, *, compiled: bool = False) -> dict[str, Any]:
    """Forward + backward + step on batches already on the device."""
    import torch

    model = _model(w, args.method, args.seed).to(device)
    if compiled:  # shares the parameters of the eager module
        model = torch.compile(model)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    b = args.batch_size
    xs = [torch.randn((b, *s), device=device) for s in w.shapes]
    y = torch.randint(0, w.n_classes, (b,), device=device)
    for _ in range(min(20, args.steps)):  # warm-up (kernels, allocator, compilation)
        _step(model, optimizer, xs, y, device, precision)
    _sync(device)
    _peak_reset(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        _step(model, optimizer, xs, y, device, precision)
    _sync(device)
    seconds = time.perf_counter() - start
    return {"samples_per_s": args.steps * b / seconds, "peak_mib": _peak_mib(device)}


def loader_rate(args, w, device, precision, splits, *, on_device: bool) -> dict[str, Any]:
    """The model-only step fed by ``train_loader`` (data on the device, or pinned host)."""
    import torch

    from dmil.training.batches import train_loader

    model = _model(w, args.method, args.seed).to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loader, sampler = train_loader(
        splits.train,
        batch_size=args.batch_size,
        seed=args.seed,
        device=device,
        max_device_bytes=(2 << 30) if on_device else 0,
    )
    pinned = bool(loader.pin_memory)
    _peak_reset(device)
    seen, seconds = 0, 0.0
    for epoch in range(args.epochs + 1):  # epoch 0 warms up
        sampler.set_epoch(epoch)
        _sync(device)
        start = time.perf_counter()
        for batch in loader:
            *xs, y = [t.to(device, non_blocking=True) for t in batch]
            _step(model, optimizer, xs, y, device, precision)
            if epoch:
                seen += int(y.shape[0])
        _sync(device)
        if epoch:
            seconds += time.perf_counter() - start
    return {
        "samples_per_s": seen / seconds,
        "peak_mib": _peak_mib(device),
        "pinned": pinned,
        "data_on_device": loader.tensors[0].device.type == device.type,
    }


def engine_rate(args, w, device, precision, splits) -> dict[str, Any]:
    """:func:`dmil.training.fit` with Fabric's precision plugin."""
    from dmil.training import TrainConfig, build_fabric, fit

    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        eval_batch_size=max(512, args.batch_size),
        patience=0,
        scheduler="none",
        accelerator="cuda" if device.type == "cuda" else "cpu",
        precision=precision,
        progress=False,
        seed=args.seed,
    )
    _peak_reset(device)
    result = fit(
        _model(w, args.method, args.seed),
        splits.train,
        splits.val,
        config=config,
        fabric=build_fabric(config),
    )
    return {"samples_per_s": result.samples_per_second, "peak_mib": _peak_mib(device)}


def _median_run(fn, repeats: int) -> dict[str, Any]:
    runs = [fn() for _ in range(repeats)]
    out = dict(runs[-1])
    out["samples_per_s"] = statistics.median(r["samples_per_s"] for r in runs)
    out["runs"] = [r["samples_per_s"] for r in runs]
    peaks = [r["peak_mib"] for r in runs if r.get("peak_mib") is not None]
    out["peak_mib"] = max(peaks) if peaks else None
    return out


def _shrink(args: argparse.Namespace) -> None:
    """Smoke-mode sizes: every code path, in seconds."""
    args.n_train, args.epochs, args.steps, args.repeats = 256, 1, 3, 1
    args.batch_size = min(args.batch_size, 32)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    if args.smoke:
        _shrink(args)
    name = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here; use --smoke on CPU.")
    if device.type == "cpu" and not args.smoke:
        print("no GPU: running the CPU smoke mode instead (--smoke)")
        args.smoke = True
        _shrink(args)
    if device.type == "cpu":
        torch.set_num_threads(1)
    else:
        torch.backends.cudnn.benchmark = True
    rows = []
    for wname in args.workloads.split(","):
        w = WORKLOADS[wname]
        splits = _data(w, args.n_train, args.seed)
        for precision in args.precisions.split(","):
            if precision == "bf16-mixed" and device.type == "cpu" and w.encoder == "cnn":
                continue  # bf16 convolutions are very slow on CPUs; the mlp checks the path
            if precision == "bf16-mixed" and device.type == "cuda":
                if not torch.cuda.is_bf16_supported():
                    print(f"{wname}: bf16 not supported on this GPU; skipped")
                    continue
            common = (args, w, device, precision)
            base = _median_run(partial(model_only, *common), args.repeats)
            entries = {"model": base}
            if args.compile:
                entries["model-compiled"] = _median_run(
                    partial(model_only, *common, compiled=True), 1
                )
            entries["device-data"] = _median_run(
                partial(loader_rate, *common, splits, on_device=True), args.repeats
            )
            entries["pinned"] = _median_run(
                partial(loader_rate, *common, splits, on_device=False), args.repeats
            )
            entries["engine"] = _median_run(partial(engine_rate, *common, splits), args.repeats)
            for what, entry in entries.items():
                rows.append(
                    {
                        "workload": wname,
                        "precision": precision,
                        "path": what,
                        **entry,
                        "ratio_to_model": entry["samples_per_s"] / base["samples_per_s"],
                    }
                )
    print("| workload | precision | path | samples/s | ratio to model-only | peak MiB |")
    print("|---|---|---|---:|---:|---:|")
    for r in rows:
        peak = "-" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
        print(
            f"| {r['workload']} | {r['precision']} | {r['path']} | {r['samples_per_s']:.0f} "
            f"| {r['ratio_to_model']:.2f} | {peak} |"
        )
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    report = {
        "benchmark": "GPU training throughput against the model-only rate",
        "command": command_line(argv),
        "date": utc_now(),
        "machine": machine_info(torch_threads=torch.get_num_threads(), gpu=gpu),
        "smoke": bool(args.smoke),
        "settings": {
            k: getattr(args, k)
            for k in ("method", "batch_size", "n_train", "epochs", "steps", "repeats", "seed")
        },
        "rows": rows,
    }
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
