"""``dmil estimate``: per-sample interaction composition of a dataset or a data file.

Which samples are evaluated:

* data without a predefined split: a seeded stratified train/val/test split
  (``--val-size``, ``--test-size``); the estimator is fitted on train, stops early on val
  and is evaluated on test;
* a predefined split with a test part: it is kept (a missing val part is carved from
  train) and test is evaluated;
* an LSMI-layout file with only train and val: the estimator is fitted on train (its
  validation part carved from train) and evaluated on val, as LSMI does.

The BROJA reference in ``summary.json`` describes the whole dataset (at most 50,000 random
samples): exact BROJA of the empirical joint for discrete pairs, the discretise-then-BROJA
estimate (PCA + k-means per modality) for continuous ones.

``--out`` is locked while the command runs (a second run into it fails at once), and
results of an earlier run in it are replaced only with ``--overwrite`` (files of that run
which this one does not write are removed, and ``SHA256SUMS`` lists exactly the estimate
files present). Everything is written into a temporary directory inside ``--out`` and moved
into place only when every output exists, with Ctrl-C and SIGTERM held back during the
moves, so bad input, a full disk or an interruption never leave partial results.
Outputs: ``interactions.csv``, ``summary.json``, ``components.png`` and
``dominant_by_class.png`` (not with ``--no-plots``), with more than two modalities
``interactions_pairs.csv``, and ``SHA256SUMS`` with their digests (``sha256sum -c SHA256SUMS``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dmil.cli.spec_flags import DATA_DIR_HELP

if TYPE_CHECKING:  # imported where used: the parser must not pull in torch or matplotlib
    from dmil.data import MultimodalDataset
    from dmil.interactions import InteractionTable

__all__ = ["add_parser", "run"]

COMPONENT_NAMES = ("R", "U1", "U2", "S")
#: The measures of :data:`dmil.interactions.MEASURES` (spelled out so that building the
#: parser imports no torch; a test keeps the two equal).
MEASURE_CHOICES = ("ccs", "lsmi")
#: Samples at most used by the dataset-level BROJA reference (a random subset above).
REFERENCE_MAX_SAMPLES = 50_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``estimate`` subcommand."""
    p = sub.add_parser(
        "estimate",
        help="per-sample interactions (R, U1, U2, S) of a dataset",
        description="Estimate per-sample redundancy, uniqueness and synergy and write "
        "interactions.csv, summary.json and PNG plots into --out.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="registered dataset name (see dmil datasets)")
    src.add_argument("--data", help="data file: LSMI-layout .pt or dmil .npz")
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    p.add_argument(
        "--data-option",
        action="append",
        metavar="KEY=VALUE",
        help="dataset loader option, e.g. n_samples=2000 (repeatable)",
    )
    p.add_argument("--measure", default="ccs", choices=MEASURE_CHOICES, help="interaction measure")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0, help="seeds data generation, split and fit")
    p.add_argument("--val-size", type=float, default=0.15)
    p.add_argument("--test-size", type=float, default=0.15)
    p.add_argument("--max-epochs", type=int, default=None, help="cap on training epochs")
    p.add_argument(
        "--num-threads",
        type=int,
        default=None,
        help="torch intra-op CPU threads (default 1; see BENCHMARKS.md, 'CPU threads')",
    )
    p.add_argument("--no-reference", action="store_true", help="skip the BROJA reference")
    p.add_argument(
        "--no-plots",
        action="store_true",
        help="skip the PNG plots (and matplotlib's import, about a third of a second)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results of an earlier `dmil estimate` in --out",
    )
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> MultimodalDataset:
    from dmil.cli.spec_flags import parse_key_values
    from dmil.data import load, read_dataset, resolve_data_options

    options = parse_key_values(args.data_option, flag="--data-option")
    if args.data is not None:
        if options:
            raise ValueError("--data-option applies to --dataset, not to --data files.")
        return read_dataset(args.data)
    options = resolve_data_options(args.dataset, options, seed=args.seed)
    return load(args.dataset, root=args.data_dir, **options)


def _parts(
    data: MultimodalDataset, args: argparse.Namespace
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Indices of (train, val, evaluated part) and the evaluated part's name."""
    from dmil.data import split_indices
    from dmil.interactions.checks import check_classes

    check_classes(data.labels.numpy(), data.n_classes, f"data '{data.name}'")
    split = data.predefined_split or {}
    if set(split) == {"train", "val"}:
        return split["train"], np.empty(0, dtype=np.int64), split["val"], "val"
    idx = split_indices(
        data, val_size=args.val_size, test_size=args.test_size, random_state=args.seed
    )
    return idx["train"], idx["val"], idx["test"], "test"


def _reference(data: MultimodalDataset, seed: int) -> dict[tuple[int, int], dict[str, Any]]:
    from dmil.interactions.reference import reference_pid

    if len(data) > REFERENCE_MAX_SAMPLES:
        rng = np.random.default_rng(seed)
        data = data.subset(np.sort(rng.choice(len(data), REFERENCE_MAX_SAMPLES, replace=False)))
    return reference_pid(data, random_state=seed)


def _input_rows(data: MultimodalDataset, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, the part of the input it came from and its row in that part.

    A file with parts (LSMI layout, an ``.npz`` with a ``split`` array) names them; data
    without parts is one part, ``all``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    part = np.full(rows.shape, "all", dtype=object)
    index = rows.copy()
    for name, members in (data.predefined_split or {}).items():
        members = np.asarray(members, dtype=np.int64)
        position = {int(r): k for k, r in enumerate(members)}
        for k, r in enumerate(rows):
            if int(r) in position:
                part[k], index[k] = name, position[int(r)]
    return part.astype(str), index


def _labelled(reference: dict[str, Any]) -> dict[str, Any]:
    """The BROJA reference with what it is computed on stated beside it."""
    out = dict(reference)
    if str(out.get("method", "")).startswith("discretised"):
        out["comparable"] = (
            "no: BROJA of a coarse discretisation of the whole dataset (PCA + k-means per "
            "modality), which loses most of the information continuous features carry; it "
            "is a different quantity from the estimate above and typically much smaller"
        )
    else:
        out["comparable"] = "yes: exact BROJA of the empirical joint of discrete data"
    return out


def _pairs_csv(table: InteractionTable, path: Path) -> None:
    """One row per (sample, pair): the long-format results of every pair."""
    names = table.modality_names
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["part", "index", "pair", "r", "u1", "u2", "s", "i1", "i2", "i12", "dominant"]
        )
        for (i, j), sub in (table.pairs or {}).items():
            cols = [
                np.char.mod("%.6g", getattr(sub, c))
                for c in ("r", "u1", "u2", "s", "i1", "i2", "i12")
            ]
            pair = np.full(len(sub), f"{names[i]}+{names[j]}")
            part = sub.part if sub.part is not None else np.full(len(sub), "all")
            writer.writerows(
                zip(part, sub.index.astype(str), pair, *cols, sub.dominant(), strict=True)
            )


def _estimate_to_dir(data: MultimodalDataset, args: argparse.Namespace, tmp: Path) -> dict:
    """Fit, evaluate and write every output into ``tmp``; returns the summary."""
    import torch

    from dmil.interactions.estimator import InteractionEstimator
    from dmil.interactions.table import confusion_matrix

    train_idx, val_idx, eval_idx, eval_name = _parts(data, args)
    estimator = InteractionEstimator(
        measure=args.measure,
        device=args.device,
        random_state=args.seed,
        n_threads=torch.get_num_threads(),
        progress=False if args.no_progress else None,
        **({} if args.max_epochs is None else {"max_epochs": args.max_epochs}),
    )
    start = time.perf_counter()
    val = data.subset(val_idx) if val_idx.size else None
    estimator.fit(data.subset(train_idx), val)
    table = estimator.transform(data.subset(eval_idx))
    seconds = time.perf_counter() - start
    table.part, table.index = _input_rows(data, eval_idx[table.index])
    if table.pairs is not None:
        for sub in table.pairs.values():
            sub.part, sub.index = table.part, table.index
    reference = None if args.no_reference else _reference(data, args.seed)
    summary: dict[str, Any] = dict(table.summary())
    summary.update(
        dataset=data.name,
        source=data.source,
        modalities=list(data.modality_names),
        n_classes=data.n_classes,
        evaluated_on=eval_name,
        # What the estimator actually used: with no validation part in the input, its
        # early-stopping part is carved from the training part.
        n_train=estimator.n_train_,
        n_val=estimator.n_val_,
        n_evaluated=len(table),
        index="row of the sample in its part of the input (column 'part' names the part)",
        interactions_csv="raw per-sample values in nats (no dataset-level adjustment)",
        seconds=seconds,
        device=args.device,
        seed=args.seed,
        dominant_shares={
            k: float(np.mean(table.dominant() == k))
            for k in (("R", "U", "S") if table.pairs is not None else COMPONENT_NAMES)
        },
        reference=None if reference is None else _labelled(reference[(0, 1)]),
        truth=data.metadata.get("pid"),
    )
    if table.true_type is not None and table.pairs is None:
        cm = confusion_matrix(table.true_type, table.dominant())
        summary["confusion"] = {
            "rows_true_cols_dominant": ["R", "U1", "U2", "S"],
            "matrix": cm.tolist(),
            "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        }
    if table.pairs is not None:
        names = data.modality_names
        summary["reference"] = None
        summary["pairs"] = {
            f"{names[i]}+{names[j]}": {
                **{k: v for k, v in sub.summary().items() if k != "n_samples"},
                "reference": None if reference is None else _labelled(reference[(i, j)]),
            }
            for (i, j), sub in table.pairs.items()
        }
        summary["top_level"] = "per sample, the pair with the largest i(x_i, x_j; y)"
        summary["best_source_shares"] = {
            k: float(np.mean(table.best_source == k)) for k in np.unique(table.best_source)
        }
        _pairs_csv(table, tmp / "interactions_pairs.csv")
    table.to_csv(tmp / "interactions.csv")
    if not getattr(args, "no_plots", False):
        from dmil.report.interaction_plots import (
            plot_component_distributions,
            plot_dominant_by_class,
        )

        plot_component_distributions(table, tmp / "components.png")
        plot_dominant_by_class(table, tmp / "dominant_by_class.png", class_names=data.class_names)
    from dmil.utils import to_jsonable

    with open(tmp / "summary.json", "w") as fh:
        json.dump(to_jsonable(summary), fh, indent=2)
    return summary


def _publishable(tmp: Path) -> None:
    """Give the temporary directory's files the usual permissions (umask applied);
    ``mkdtemp`` makes them private."""
    mask = os.umask(0)
    os.umask(mask)
    for item in tmp.iterdir():
        os.chmod(item, 0o666 & ~mask)


#: What ``dmil estimate`` writes into ``--out`` (an existing one is replaced only with
#: ``--overwrite``).
ESTIMATE_FILES = (
    "interactions.csv",
    "interactions_pairs.csv",
    "summary.json",
    "components.png",
    "dominant_by_class.png",
)


def run(args: argparse.Namespace) -> int:
    """Lock ``--out``, check the input, estimate, then move the outputs into ``--out``."""
    from dmil.utils import RunLock

    with RunLock(args.out, command="dmil estimate"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from dmil.utils import (
        CHECKSUM_FILE,
        check_terminated,
        merge_checksums,
        record_sha256,
        signals_deferred,
    )

    out = Path(args.out)
    earlier = [name for name in ESTIMATE_FILES if (out / name).exists()]
    if earlier and not args.overwrite:
        raise FileExistsError(
            f"--out {out} already holds results of an earlier `dmil estimate` "
            f"({', '.join(earlier)}); pass --overwrite to replace them or choose another --out."
        )
    from dmil.interactions.checks import check_device
    from dmil.training.fabric import configure_threads

    configure_threads(getattr(args, "num_threads", None), "estimate")
    check_device(args.device)
    data = _load(args)
    # Under the lock, temporary directories left in --out by a killed run are stale.
    for stale in out.glob(".estimate.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".estimate.", suffix=".tmp", dir=out))
    try:
        summary = _estimate_to_dir(data, args, tmp)
        record_sha256(*sorted(tmp.iterdir()))
        _publishable(tmp)
        check_terminated()  # a terminated run publishes nothing
        with signals_deferred():
            for name in earlier:  # only with --overwrite: no file of an earlier run stays
                if not (tmp / name).exists():
                    (out / name).unlink()
            for item in tmp.iterdir():
                if item.name != CHECKSUM_FILE:
                    os.replace(item, out / item.name)
            merge_checksums(tmp, out, replaced=ESTIMATE_FILES)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raw = summary["raw"]

    def _nats(values: dict[str, float], sep: str = "  ") -> str:
        # Four decimals, without a sign on values that round to zero ("-0.0000").
        return sep.join(
            f"{k}={0.0 if abs(values[k]) < 5e-5 else values[k]:.4f}" for k in ("R", "U1", "U2", "S")
        )

    print(
        f"{data.name}: {summary['n_samples']} {summary['evaluated_on']} samples, "
        f"measure {summary['measure']}, {summary['seconds']:.1f} s"
    )
    lead = "  best pair per sample: " if "pairs" in summary else "  "
    print(
        lead
        + _nats(summary)
        + ("" if not summary["adjusted"] else "  (LSMI-adjusted; raw " + _nats(raw, " ") + ")")
    )
    for name, pair in summary.get("pairs", {}).items():
        print(f"  {name}: " + _nats(pair))
    if summary.get("reference"):
        ref = summary["reference"]
        what = (
            "exact BROJA"
            if ref["comparable"].startswith("yes")
            else "BROJA of a coarse discretisation (a different quantity, not comparable)"
        )
        print(f"  reference {what}: " + _nats(ref))
    if "confusion" in summary:
        print(f"  dominant = true mechanism on {summary['confusion']['accuracy']:.1%} of samples")
    print(f"  wrote {out}")
    return 0
