"""Whole-process start-up, ``dmil estimate`` on the LSMI demo data and ``dmil train``
overhead.

Commands, run in turn (A B C ... A B C ...) ``--repeats`` times after one warm-up round,
each in a fresh process; wall seconds from start to exit, medians reported:

* ``import torch`` and ``import dmil.cli`` (what every command pays before working);
* ``dmil estimate --data DEMO --measure M`` for ``M`` in ``--measures``, whose
  ``summary.json`` also gives the in-process fit + transform time (``seconds``);
* with ``--train``: ``dmil train --dataset synthetic-mixed --method joint --epochs 10``,
  whose ``metrics.json`` gives ``train_seconds``; the overhead is the whole process
  minus ``train_seconds``. It runs twice per round: ``cold`` with an empty cache
  directory (``DMIL_CACHE_DIR``; nothing derived is reused) and ``warm`` with a cache
  directory filled by the previous rounds (a second run on the same split).

With ``--baseline-src DIR`` every ``dmil`` command also runs with ``PYTHONPATH=DIR``
(e.g. the ``src`` of an earlier commit: ``git archive COMMIT src | tar -x -C /tmp/old``),
interleaved with the current one, so before and after are measured under the same load.
The one-minute load average is recorded before every run.

DEMO is written by ``lsmi_demo_data.py`` (2 classes, 2 + 2 dims, 1,600 train / 400
validation samples, float32 features) into a temporary directory.

    python benchmarks/bench_startup.py --out benchmarks/results/startup.json
    python benchmarks/bench_startup.py --train --baseline-src /tmp/old/src \\
        --out benchmarks/results/startup_train.json

Options: ``--repeats 5``, ``--measures ccs,lsmi``, ``--seed 0``, ``--threads N`` (passed
as ``--num-threads``), ``--extra 'ARGS'`` (appended to every estimate command),
``--train``, ``--train-epochs 10``, ``--train-caches cold,warm``, ``--baseline-src DIR``,
``--imports torch`` (modules timed as ``python -c "import M"``, e.g.
``torch,lightning.fabric``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import add_out_option, command_line, utc_now, write_report

HERE = Path(__file__).resolve().parent


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--measures", default="ccs,lsmi")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--extra", default="", help="more arguments for every estimate command")
    p.add_argument("--train", action="store_true", help="also time dmil train (cold, warm)")
    p.add_argument("--train-epochs", type=int, default=10)
    p.add_argument("--train-caches", default="cold,warm", help="cache states of the train runs")
    p.add_argument("--imports", default="torch", help="modules timed as python -c 'import M'")
    p.add_argument("--baseline-src", default=None, help="also run every dmil command from here")
    add_out_option(p)
    return p


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


class _Command:
    """One command line, its environment and where its results are read from."""

    def __init__(
        self, cmd: list[str], env: dict[str, str], *, out: Path | None = None, kind: str = ""
    ) -> None:
        self.cmd, self.env, self.out, self.kind = cmd, env, out, kind
        self.walls: list[float] = []
        self.loads: list[float] = []
        self.inner: list[float] = []  # fit + transform, or train_seconds
        self.values: dict[str, Any] = {}

    def run(self, record: bool) -> None:
        load = os.getloadavg()[0]
        wall = _wall(self.cmd, self.env)
        inner, values = self._read()
        if record:
            self.walls.append(wall)
            self.loads.append(round(load, 2))
            if inner is not None:
                self.inner.append(inner)
        self.values = values

    def _read(self) -> tuple[float | None, dict[str, Any]]:
        if self.kind == "estimate":
            summary = json.loads((self.out / "summary.json").read_text())
            return summary["seconds"], {k: round(summary[k], 4) for k in ("R", "U1", "U2", "S")}
        if self.kind == "train":
            metrics = json.loads((self.out / "metrics.json").read_text())
            test = metrics["test"]
            keep = ("accuracy", "macro_f1", "synergy_indicator", "synergy_indicator_own")
            return metrics["train_seconds"], {
                "test": {k: test.get(k) for k in keep},
                "val": metrics["val"],
            }
        return None, {}

    def report(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "command": shlex.join(self.cmd[1:]),
            "median_wall_s": statistics.median(self.walls),
            "wall_s": self.walls,
            "loadavg_1min_before_each": self.loads,
        }
        if self.kind == "estimate":
            row["median_fit_transform_s"] = statistics.median(self.inner)
            row["fit_transform_s"] = self.inner
        if self.kind == "train":
            overhead = [w - t for w, t in zip(self.walls, self.inner, strict=True)]
            row.update(
                median_train_s=statistics.median(self.inner),
                train_s=self.inner,
                median_overhead_s=statistics.median(overhead),
                overhead_s=overhead,
            )
        if self.values:
            row["values"] = self.values
        return row


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    py = sys.executable
    dmil = [py, "-m", "dmil"]
    base_env = dict(os.environ)
    trees = {"": None}
    if args.baseline_src is not None:
        trees["baseline: "] = str(Path(args.baseline_src).resolve())
    with tempfile.TemporaryDirectory(prefix="dmil-startup-") as tmp:
        demo = Path(tmp) / "lsmi_demo.pt"
        subprocess.run(
            [py, str(HERE / "lsmi_demo_data.py"), "--out", str(demo), "--seed", str(args.seed)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        commands: dict[str, _Command] = {
            f"import {m}": _Command([py, "-c", f"import {m}"], base_env)
            for m in args.imports.split(",")
        }
        cold_dirs: list[Path] = []
        for label, src in trees.items():
            env = dict(base_env)
            if src is not None:
                env["PYTHONPATH"] = src
            tag = "baseline" if src is not None else "current"
            # A private cache for every tree: nothing computed by one run is read by another
            # tree (the warm train run below fills and reads its own).
            env["DMIL_CACHE_DIR"] = str(Path(tmp) / f"cache-{tag}")
            commands[f"{label}import dmil.cli"] = _Command([py, "-c", "import dmil.cli"], env)
            for m in args.measures.split(","):
                out = Path(tmp) / f"out-{tag}-{m}"
                cmd = [*dmil, "estimate", "--data", str(demo), "--out", str(out), "--measure", m]
                cmd += ["--seed", str(args.seed), "--no-progress", "--overwrite"]
                if args.threads is not None:
                    cmd += ["--num-threads", str(args.threads)]
                commands[f"{label}dmil estimate ({m})"] = _Command(
                    cmd + shlex.split(args.extra), env, out=out, kind="estimate"
                )
            if args.train:
                for cache in args.train_caches.split(","):
                    out = Path(tmp) / f"train-{tag}-{cache}"
                    cmd = [*dmil, "train", "--dataset", "synthetic-mixed", "--method", "joint"]
                    cmd += ["--epochs", str(args.train_epochs), "--seed", str(args.seed)]
                    cmd += ["--out", str(out), "--overwrite", "--no-progress"]
                    if args.threads is not None:
                        cmd += ["--num-threads", str(args.threads)]
                    train_env = dict(env)
                    if cache == "cold":
                        cold = Path(tmp) / f"cache-{tag}-cold"
                        cold_dirs.append(cold)
                        train_env["DMIL_CACHE_DIR"] = str(cold)
                    commands[f"{label}dmil train ({cache} cache)"] = _Command(
                        cmd, train_env, out=out, kind="train"
                    )
        for round_ in range(args.repeats + 1):  # round 0 warms the file caches
            for command in commands.values():
                for cold in cold_dirs:  # an empty cache before every cold run
                    subprocess.run(["rm", "-rf", str(cold)], check=True)
                command.run(record=round_ > 0)
    report = {
        "benchmark": "whole-process start-up, dmil estimate on the LSMI demo data, dmil train",
        "command": command_line(argv),
        "date": utc_now(),
        "machine": {"cpus": os.cpu_count(), "loadavg_after": list(os.getloadavg())},
        "baseline_src": trees.get("baseline: "),
        "commands": {name: c.report() for name, c in commands.items()},
    }
    for name, c in commands.items():
        row = c.report()
        line = f"{name}: median {row['median_wall_s']:.2f} s wall ({len(c.walls)} runs)"
        if c.kind == "estimate":
            line += f", fit + transform {row['median_fit_transform_s']:.2f} s; {c.values}"
        if c.kind == "train":
            line += (
                f", train_seconds {row['median_train_s']:.2f} s, overhead "
                f"{row['median_overhead_s']:.2f} s"
            )
        print(line)
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
