"""Time every real-data loader: first load with an empty cache, then cached loads.

Each dataset gets its own empty temporary cache directory (``DMIL_CACHE_DIR``), so the
first call does all the work (reading, checksum verification, spectrograms or text
embeddings) and the second and third calls show what the on-disk cache buys. "First"
means an empty dmil cache, not a cold operating-system file cache. The libraries every
loader imports (scikit-learn, SciPy) are imported before timing starts, so no dataset
pays another's import cost; the text encoder's own loading is part of ``mustard-text``'s
first load.

Usage::

    python benchmarks/bench_data_loading.py --out bench_data_loading.json
    python benchmarks/bench_data_loading.py --datasets av-digits rosmap --out timing.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import sklearn.datasets  # noqa: F401  (imported before timing, see module docstring)
import torch
from _common import command_line, machine_info, markdown_table
from scipy.io import loadmat  # noqa: F401

from dmil.data import available_datasets, dataset_info, load
from dmil.data.registry import CACHE_DIR_ENV, resolve_data_root
from dmil.utils import atomic_path

REAL_DATASETS = (
    "digits-halves",
    "digits-quadrants",
    "mfeat",
    "rosmap",
    "scene15",
    "cub",
    "av-digits",
    "mustard-text",
)


def time_dataset(name: str, root: Path | None, repeats: int) -> dict[str, object]:
    """Load ``name`` ``1 + repeats`` times with a fresh cache; times in seconds."""
    options = {"root": root} if dataset_info(name).needs_files else {}
    previous = os.environ.get(CACHE_DIR_ENV)
    with tempfile.TemporaryDirectory(prefix="dmil-bench-cache-") as cache:
        os.environ[CACHE_DIR_ENV] = cache
        try:
            times = []
            for _ in range(1 + repeats):
                start = time.perf_counter()
                ds = load(name, **options)
                times.append(time.perf_counter() - start)
        except (FileNotFoundError, ImportError, ValueError) as exc:
            return {"dataset": name, "available": False, "reason": str(exc)}
        finally:
            if previous is None:
                os.environ.pop(CACHE_DIR_ENV, None)
            else:
                os.environ[CACHE_DIR_ENV] = previous
    return {
        "dataset": name,
        "available": True,
        "n_samples": len(ds),
        "modalities": {k: list(v) for k, v in ds.shapes.items()},
        "first_load_s": times[0],
        "cached_load_s": times[1:],
    }


def results_table(rows: list[dict[str, object]]) -> str:
    """The results as a Markdown table."""
    body = []
    for r in rows:
        if not r["available"]:
            body.append([str(r["dataset"]), "-", f"unavailable: {r['reason'][:80]}", "-", "-"])
            continue
        mods = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in r["modalities"].items())
        cached = " / ".join(f"{t:.3f}" for t in r["cached_load_s"])
        body.append(
            [str(r["dataset"]), str(r["n_samples"]), mods, f"{r['first_load_s']:.3f}", cached]
        )
    head = ["dataset", "N", "modalities", "first load s", "cached load s (2nd / 3rd)"]
    return "\n".join(markdown_table(head, body, align="lrlrr"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the results")
    parser.add_argument("--data-dir", type=Path, default=None, help="data directory")
    parser.add_argument(
        "--datasets", nargs="*", default=list(REAL_DATASETS), help="datasets to time"
    )
    parser.add_argument("--repeats", type=int, default=2, help="cached loads after the first")
    args = parser.parse_args(argv)
    unknown = [d for d in args.datasets if d not in available_datasets()]
    if unknown:
        parser.error(f"unknown datasets {unknown}; known: {available_datasets()}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    root = resolve_data_root(args.data_dir)
    rows = [time_dataset(name, root, args.repeats) for name in args.datasets]
    table = results_table(rows)
    machine = machine_info(
        torch_threads=torch.get_num_threads(),
        host={"machine": platform.machine()},
        processor=platform.processor() or "unknown",
        numpy=np.__version__,
    )
    result = {
        "command": command_line(),
        "data_root": str(root.absolute()),
        "machine": machine,
        "results": rows,
        "table_markdown": table,
    }
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    info = result["machine"]
    print(
        f"{info['date_utc']}  {info['cpu_count']} cores ({info['torch_threads']} torch "
        f"threads), Python {info['python']}, torch {info['torch']}"
    )
    print(table)
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
