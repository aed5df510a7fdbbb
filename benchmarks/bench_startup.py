"""Whole-process start-up and ``dmil estimate`` times on the LSMI demonstration data.

Commands, run in turn (A B C ... A B C ...) ``--repeats`` times after one warm-up round,
each in a fresh process; wall seconds from start to exit, medians reported:

* ``import torch`` and ``import dmil.cli`` (what every command pays before working);
* ``dmil estimate --data DEMO --measure M`` for ``M`` in ``--measures``, whose
  ``summary.json`` also gives the in-process fit + transform time (``seconds``).

DEMO is written by ``lsmi_demo_data.py`` (2 classes, 2 + 2 dims, 1,600 train / 400
validation samples, float32 features) into a temporary directory.

    python benchmarks/bench_startup.py --out benchmarks/results/startup.json

Options: ``--repeats 5``, ``--measures ccs,lsmi``, ``--seed 0``, ``--threads N`` (passed
as ``--num-threads``), ``--extra 'ARGS'`` (appended to every estimate command).
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

from _common import add_out_option, command_line, utc_now, write_report

HERE = Path(__file__).resolve().parent


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--measures", default="ccs,lsmi")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--extra", default="", help="more arguments for every estimate command")
    add_out_option(p)
    return p


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    py = sys.executable
    dmil = [py, "-m", "dmil"]
    with tempfile.TemporaryDirectory(prefix="dmil-startup-") as tmp:
        demo = Path(tmp) / "lsmi_demo.pt"
        subprocess.run(
            [py, str(HERE / "lsmi_demo_data.py"), "--out", str(demo), "--seed", str(args.seed)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        commands: dict[str, list[str]] = {
            "import torch": [py, "-c", "import torch"],
            "import dmil.cli": [py, "-c", "import dmil.cli"],
        }
        outs: dict[str, Path] = {}
        for m in args.measures.split(","):
            out = Path(tmp) / f"out-{m}"
            outs[m] = out
            cmd = [*dmil, "estimate", "--data", str(demo), "--out", str(out), "--measure", m]
            cmd += ["--seed", str(args.seed), "--no-progress", "--overwrite"]
            if args.threads is not None:
                cmd += ["--num-threads", str(args.threads)]
            commands[f"dmil estimate ({m})"] = cmd + shlex.split(args.extra)
        walls: dict[str, list[float]] = {k: [] for k in commands}
        fit_seconds: dict[str, list[float]] = {m: [] for m in outs}
        values: dict[str, dict] = {}
        for round_ in range(args.repeats + 1):  # round 0 warms the file caches
            for name, cmd in commands.items():
                wall = _wall(cmd)
                if round_:
                    walls[name].append(wall)
            for m, out in outs.items():
                summary = json.loads((out / "summary.json").read_text())
                if round_:
                    fit_seconds[m].append(summary["seconds"])
                values[m] = {k: round(summary[k], 4) for k in ("R", "U1", "U2", "S")}
    load = os.getloadavg()
    report = {
        "benchmark": "whole-process start-up and dmil estimate on the LSMI demo data",
        "command": command_line(argv),
        "date": utc_now(),
        "machine": {"cpus": os.cpu_count(), "loadavg_after": [round(v, 2) for v in load]},
        "median_wall_s": {k: statistics.median(v) for k, v in walls.items()},
        "wall_s": walls,
        "median_fit_transform_s": {m: statistics.median(v) for m, v in fit_seconds.items()},
        "fit_transform_s": fit_seconds,
        "values": values,
    }
    for name, v in walls.items():
        print(f"{name}: median {statistics.median(v):.2f} s wall ({len(v)} runs)")
    for m, v in fit_seconds.items():
        print(f"  {m}: fit + transform median {statistics.median(v):.2f} s; {values[m]}")
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
