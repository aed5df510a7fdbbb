"""Pieces shared by the benchmark scripts: options, seeds, machine facts, JSON reports,
worker subprocesses and Markdown tables.

The scripts run as ``python benchmarks/<script>.py``, which puts this directory first on
``sys.path``, so they ``import _common``. Only the standard library is imported at module
level: the estimator benchmarks time their worker processes from start to end, so
importing this module must not pull in torch or dmil.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

OUT_HELP = "write the results as JSON here"


# ---------------------------------------------------------------------- options
def estimator_parser(
    doc: str, *, n_samples: int | None = None, workers: bool = False
) -> argparse.ArgumentParser:
    """The options of an estimator benchmark, described by the first paragraph of ``doc``.

    ``--seeds`` (default ``0-4``), ``--n-samples`` (only when ``n_samples`` gives its
    default), ``--measures`` (default ``ccs,lsmi``), then with ``workers`` ``--threads``
    and ``--device`` (handed to the worker processes), then ``--out``, then with
    ``workers`` the hidden ``--worker``.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-4")
    if n_samples is not None:
        parser.add_argument("--n-samples", type=int, default=n_samples)
    parser.add_argument("--measures", default="ccs,lsmi")
    if workers:
        parser.add_argument("--threads", type=int, default=None)
        parser.add_argument("--device", default="cpu")
    add_out_option(parser)
    if workers:
        add_worker_option(parser)
    return parser


def add_out_option(parser: argparse.ArgumentParser) -> None:
    """``--out``: optional path of the JSON report."""
    parser.add_argument("--out", default=None, help=OUT_HELP)


def add_worker_option(parser: argparse.ArgumentParser) -> None:
    """``--worker`` (hidden): run one measurement and print it as JSON on stdout."""
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)


def parse_seeds(text: str) -> list[int]:
    """``"0-4"``, ``"0,2,5"`` or ``"0-2,7"`` -> list of ints (ranges include both ends)."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return seeds


# ---------------------------------------------------------------------- statistics
def sample_std(values: Sequence[float] | Any) -> float:
    """Sample standard deviation (ddof = 1) of ``values``; 0.0 for a single value."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    return float(arr.std(ddof=1)) if arr.size > 1 else 0.0


# ---------------------------------------------------------------------- machine facts
def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def host_summary(**extra: Any) -> dict[str, Any]:
    """Cores and platform, followed by ``extra`` (short form of the estimator reports)."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(), **extra}


def machine_info(
    *, torch_threads: int, host: Mapping[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """Date, cores, torch threads, processor, platform, Python and torch versions.

    ``host`` entries (e.g. the load average) follow the thread count; ``extra`` entries
    come last, except that one named like an entry above replaces its value in place
    (e.g. another fallback for an empty ``processor``).
    """
    import torch

    return {
        "date_utc": utc_now(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch_threads,
        **(host or {}),
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        **extra,
    }


# ---------------------------------------------------------------------- reports
def command_line(argv: Sequence[str] | None = None) -> str:
    """The script's name and its arguments (``argv``, else those of this process)."""
    return " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])])


def interpreter_command() -> str:
    """The interpreter's name followed by this process's full command line."""
    return " ".join([Path(sys.executable).name, *sys.argv])


def report_header(
    benchmark: str, argv: Sequence[str] | None, machine: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The first entries of an estimator report: what, command, date and machine
    (default: :func:`host_summary` without extra entries)."""
    return {
        "benchmark": benchmark,
        "command": command_line(argv),
        "date": utc_now(),
        "machine": host_summary() if machine is None else dict(machine),
    }


def write_report(out: str | os.PathLike[str] | None, report: Mapping[str, Any]) -> None:
    """Write ``report`` as indented JSON to ``out`` (atomically) and say so; nothing
    when ``out`` is ``None``."""
    if not out:
        return
    from dmil.utils import atomic_path

    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


# ---------------------------------------------------------------------- workers
class WorkerError(RuntimeError):
    """A worker subprocess failed; ``returncode`` is its exit status."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"worker process exited with status {returncode}")
        self.returncode = returncode


def worker_flags(**options: Any) -> list[str]:
    """``--name value`` per option (underscores become dashes); ``None`` values are left out."""
    flags: list[str] = []
    for name, value in options.items():
        if value is not None:
            flags += [f"--{name.replace('_', '-')}", str(value)]
    return flags


def run_worker(script: str, flags: Sequence[str]) -> dict[str, Any]:
    """Run ``python script --worker *flags`` in a fresh process.

    Returns
    -------
    dict
        The JSON object on the last line of the worker's stdout, with
        ``process_wall_s``, the wall time of the whole process in seconds, added.

    Raises
    ------
    WorkerError
        When the worker exits with a non-zero status (its stderr is echoed first).
    """
    cmd = [sys.executable, script, "--worker", *flags]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise WorkerError(proc.returncode)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


# ---------------------------------------------------------------------- Markdown
def markdown_table(
    head: Sequence[str], rows: Iterable[Sequence[str]], *, align: str | None = None
) -> list[str]:
    """The lines of a Markdown table.

    ``align`` has one letter per column, ``l`` (``---``) or ``r`` (``---:``); by default
    every column is ``l``.
    """
    align = align or "l" * len(head)
    if len(align) != len(head):
        raise ValueError(f"align: expected {len(head)} letters (one per column), got {align!r}.")
    rule = "".join("---:|" if a == "r" else "---|" for a in align)
    lines = ["| " + " | ".join(head) + " |", "|" + rule]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
