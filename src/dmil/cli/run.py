"""``dmil run``: one dataset from data to a report a person reads.

Estimates the per-sample interactions, trains every method with one shared spec,
evaluates overall and per interaction type, explains DMIL's gate, and writes into
``--out``: ``report.html`` (self-contained), ``report.md``, ``results.json`` (every number
of the report), the PNG figures, ``spec.yaml`` (``dmil run --config spec.yaml`` replays
the run), ``runs/<method>/seed<k>/`` (each training run's files) and ``SHA256SUMS``
(every file, ``sha256sum -c SHA256SUMS``).

Settings are layered: the budget of the dataset (``configs/*.yaml``; the demo size for
the default ``synthetic-mixed``), then ``--config FILE`` (sections ``data``, ``model``,
``train`` and ``run: {methods: [...], seeds: [...]}``), then the flags.

The report is built in a temporary directory beside ``--out`` and moved into place only
when complete: an interrupted run leaves the previous report (or none), never half of one;
an existing report is replaced only with ``--overwrite``, and never a directory holding
files a report does not have (:class:`dmil.utils.OutputLayout`).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
from pathlib import Path
from typing import Any

from dmil.cli.spec_flags import add_data_flags

__all__ = ["add_parser", "build_plan", "run"]

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "synthetic-mixed"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``run`` subcommand."""
    p = sub.add_parser(
        "run",
        help="data to report: interactions, every paradigm, DMIL and its gate",
        description="Estimate per-sample interactions, train ensemble, joint, the strongest "
        "other baseline and DMIL with shared settings, evaluate them overall and per "
        "interaction type, explain DMIL's gate, and write report.html, report.md, "
        "results.json and figures into --out.",
    )
    add_data_flags(p)
    p.add_argument(
        "--methods",
        default=None,
        help="comma-separated methods (default: ensemble,joint,mlb,dmil)",
    )
    p.add_argument("--seeds", type=int, default=None, help="number of seeds, 0..N-1 (default 1)")
    p.add_argument("--out", default=None, help="output directory (default runs/<dataset>)")
    p.add_argument("--device", default=None, help="accelerator: cpu, cuda or auto")
    p.add_argument("--config", default=None, help="YAML spec (data/model/train/run sections)")
    p.add_argument("--epochs", type=int, default=None, help="epoch budget of every method")
    p.add_argument(
        "--data-option",
        action="append",
        metavar="KEY=VALUE",
        help="dataset loader option, e.g. n_samples=1000 (repeatable)",
    )
    p.add_argument("--num-threads", type=int, default=None, help="torch CPU threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no per-epoch progress bars")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier report in --out (never other files)",
    )
    p.set_defaults(func=run)


def _methods(text: str | None, default: Any) -> tuple[str, ...]:
    if text is None:
        return tuple(default)
    return tuple(m.strip().lower() for m in text.split(",") if m.strip())


def _run_section(sections: dict[str, Any], where: str) -> dict[str, Any]:
    from dmil.spec import check_keys

    run = sections.pop("run", None) or {}
    check_keys(run, ("methods", "seeds"), where=f"{where}: run")
    return run


def build_plan(args: argparse.Namespace) -> Any:
    """The :class:`~dmil.workflows.study.StudyPlan`: budget < ``--config`` < flags."""
    from dmil.cli.spec_flags import spec_from_args
    from dmil.models import available_methods
    from dmil.spec import ExperimentSpec, read_yaml
    from dmil.workflows.study import DEFAULT_METHODS, DEMO_OPTIONS, StudyPlan
    from dmil.workflows.suites import BENCH_DATASETS, budget_sections

    file_sections = read_yaml(args.config) if args.config else {}
    run_section = _run_section(file_sections, f"--config {args.config}")
    name = args.dataset
    if name is None and args.data is None:
        name = (file_sections.get("data") or {}).get("dataset")
        if name is None and (file_sections.get("data") or {}).get("file") is None:
            name = DEFAULT_DATASET
    base = ExperimentSpec()
    budget = "the library's defaults (no benchmark budget for this data)"
    if name in BENCH_DATASETS:
        sections = budget_sections(name)
        if name == DEFAULT_DATASET and not args.config:
            sections["data"]["options"].update(DEMO_OPTIONS)
        base = base.override(sections, source=f"budget of {name}")
        budget = (
            f"the benchmark budget of {name} (the same as configs/"
            f"{BENCH_DATASETS[name].budget}.yaml in the repository)"
        )
    if args.config:
        budget += f", then --config {args.config}"
    spec = spec_from_args(args, base=base, file_sections=file_sections)
    if args.no_progress:
        spec = spec.override({"train": {"progress": False}})
    requested = _methods(args.methods, run_section.get("methods", DEFAULT_METHODS))
    known = available_methods()
    methods = requested
    if args.methods is None and "methods" not in run_section:
        methods = tuple(m for m in requested if m in known)
        if len(methods) < len(requested):
            logger.warning(
                "dmil run: skipping %s: not registered", sorted(set(requested) - set(methods))
            )
    where = "--methods" if args.methods is not None else f"--config {args.config}: run.methods"
    for method in methods:  # named by where the list came from
        try:
            spec.model.replace(method=method)
        except ValueError as exc:
            raise ValueError(f"{where}: {str(exc).removeprefix('model.method: ')}") from None
    if args.seeds is not None:
        if args.seeds < 1:
            raise ValueError(f"--seeds: expected a positive number of seeds, found {args.seeds}.")
        seeds = tuple(range(args.seeds))
    else:
        seeds = tuple(int(s) for s in run_section.get("seeds", [0]))
    return StudyPlan(
        spec=spec.override({"model": {"method": None}}),
        methods=methods,
        seeds=seeds,
        budget=budget + ", then the command-line flags",
    )


def _command(args: argparse.Namespace) -> str:
    """The command line, rebuilt from the flags that were given."""
    parts = ["dmil", "run"]
    for flag in ("dataset", "data", "methods", "seeds", "out", "device", "config", "epochs"):
        value = getattr(args, flag)
        if value is not None:
            parts += [f"--{flag}", str(value)]
    for item in args.data_option or []:
        parts += ["--data-option", item]
    for flag in ("num_threads", "data_dir"):
        if getattr(args, flag) is not None:
            parts += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    parts += [f"--{f.replace('_', '-')}" for f in ("no_progress", "overwrite") if getattr(args, f)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    """Run the study, write the report atomically and print a summary."""
    from dmil.cli.train import check_numeric_flags
    from dmil.report.writer import REPORT_LAYOUT, write_report
    from dmil.workflows.study import run_study, summary_lines

    check_numeric_flags(args)
    plan = build_plan(args)
    out = Path(args.out) if args.out else Path("runs") / plan.spec.data.name
    args.out = str(out)
    REPORT_LAYOUT.check(out, overwrite=args.overwrite)
    from dmil.training.fabric import configure_threads

    configure_threads(args.num_threads, "run")
    tmp = REPORT_LAYOUT.staging(out)
    try:
        results = run_study(plan, work_dir=tmp, data_dir=args.data_dir, command=_command(args))
        write_report(results, tmp)
        REPORT_LAYOUT.publish(tmp, out, overwrite=args.overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print("\n".join(summary_lines(results)))
    print(f"report: {out / 'report.html'} (and report.md, results.json)")
    return 0
