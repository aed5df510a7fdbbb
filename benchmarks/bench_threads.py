"""Which ``--num-threads`` makes ``dmil train`` fastest, on idle and on busy cores.

For each thread count in ``--threads`` (``default`` = no flag, i.e. dmil's default), a
fresh ``dmil train`` process runs the same short experiment; thread counts alternate
(1 2 default 1 2 default ...) for ``--repeats`` rounds after one warm-up round. With
``--busy K``, K busy-looping Python processes run beside the measurements (the load a
laptop with other work open puts on its cores) and are stopped at the end. Reported per
thread count: median whole-process wall seconds, median ``train_seconds`` (from
``metrics.json``), their difference (start-up, data, evaluation and file overhead) and
the ratio of each median wall time to the best one.

    python benchmarks/bench_threads.py --out benchmarks/results/threads_mlp.json
    python benchmarks/bench_threads.py --busy 1 --out benchmarks/results/threads_mlp_busy.json
    python benchmarks/bench_threads.py --dataset av-digits --encoder cnn --epochs 2 \\
        --config configs/av-digits.yaml --out benchmarks/results/threads_cnn.json

Options: ``--dataset synthetic-mixed``, ``--method joint``, ``--encoder mlp``,
``--epochs 10``, ``--threads 1,2,default``, ``--repeats 3``, ``--busy 0``, ``--seed 0``,
``--config FILE`` (a spec file passed to every run; the flags above override it). The
one-minute load average is recorded before every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import add_out_option, command_line, utc_now, write_report

BUSY_LOOP = "while True: pass"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="synthetic-mixed")
    p.add_argument("--method", default="joint")
    p.add_argument("--encoder", default="mlp")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", default="1,2,default")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--busy", type=int, default=0, help="busy processes beside the runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", default=None, help="spec file passed to every run")
    add_out_option(p)
    return p


def _run(cmd: list[str], out: Path) -> tuple[float, float]:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    train = json.loads((out / "metrics.json").read_text())["train_seconds"]
    return wall, float(train)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = args.threads.split(",")
    busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(args.busy)]
    walls: dict[str, list[float]] = {t: [] for t in settings}
    trains: dict[str, list[float]] = {t: [] for t in settings}
    loads: dict[str, list[float]] = {t: [] for t in settings}
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory(prefix="dmil-threads-") as tmp:
            for round_ in range(args.repeats + 1):  # round 0 is the warm-up
                for t in settings:
                    out = Path(tmp) / f"run-{t}"
                    cmd = [sys.executable, "-m", "dmil", "train", "--dataset", args.dataset]
                    cmd += ["--method", args.method, "--encoder", args.encoder]
                    cmd += ["--epochs", str(args.epochs), "--seed", str(args.seed)]
                    cmd += ["--out", str(out), "--overwrite", "--no-progress"]
                    if args.config is not None:
                        cmd += ["--config", args.config]
                    if t != "default":
                        cmd += ["--num-threads", t]
                    load = os.getloadavg()[0]
                    wall, train = _run(cmd, out)
                    if round_:
                        walls[t].append(wall)
                        trains[t].append(train)
                        loads[t].append(round(load, 2))
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    med = {t: statistics.median(v) for t, v in walls.items()}
    best = min(med.values())
    rows = {
        t: {
            "median_wall_s": med[t],
            "median_train_s": statistics.median(trains[t]),
            "median_overhead_s": statistics.median(
                w - s for w, s in zip(walls[t], trains[t], strict=True)
            ),
            "ratio_to_best": med[t] / best,
            "wall_s": walls[t],
            "train_s": trains[t],
            "loadavg_1min_before_each": loads[t],
        }
        for t in settings
    }
    report = {
        "benchmark": "dmil train wall time per --num-threads",
        "command": command_line(argv),
        "date": utc_now(),
        "machine": {
            "cpus": os.cpu_count(),
            "busy_processes": args.busy,
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        },
        "settings": {
            k: getattr(args, k)
            for k in ("dataset", "method", "encoder", "epochs", "repeats", "config")
        },
        "rows": rows,
    }
    for t, r in rows.items():
        print(
            f"threads {t}: wall {r['median_wall_s']:.2f} s, train {r['median_train_s']:.2f} s, "
            f"overhead {r['median_overhead_s']:.2f} s, {r['ratio_to_best']:.2f}x the best"
        )
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
