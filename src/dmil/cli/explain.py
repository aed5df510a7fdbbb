"""``dmil explain``: what a trained DMIL model's gate did on its test split.

Rebuilds the model from its checkpoint, re-creates the run's test split (``--data``
points to the run's data file where it is now), labels every test sample with its true
interaction type (synthetic suites) or the one estimated on the training split, and
writes into ``--out``:

* ``explanations.csv``: ``index, label, prediction``, every gate weight, every
  component's prediction, the dominant component and the interaction type;
* ``gate_by_type.png``: mean gate weight per interaction type;
* ``gate_confusion.png``: the gate's dominant component against the interaction type;
* ``explanation.json``: the same numbers (mean gate weights, confusion, agreement);
* ``SHA256SUMS``: the digests of the four files (``sha256sum -c SHA256SUMS``).

The files are written into a temporary directory beside ``--out`` and moved into place
when all are complete; an earlier explanation in ``--out`` is replaced only with
``--overwrite``, and never a directory holding other files.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from dmil.cli.spec_flags import DATA_DIR_HELP
from dmil.spec import INTERACTION_SOURCES
from dmil.utils import OutputLayout

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``explain`` subcommand."""
    p = sub.add_parser(
        "explain",
        help="per-sample gate of a trained DMIL model against interaction types",
        description="Rebuild a gated model (dmil) from its checkpoint, predict its test split "
        "and compare the per-sample gate with the true (or estimated) interaction types: "
        "explanations.csv, gate_by_type.png, gate_confusion.png, explanation.json.",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        help="run directory written by `dmil train --method dmil` or a .ckpt file",
    )
    p.add_argument(
        "--dataset", default=None, help="dataset name; must be the run's (default: stored)"
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="FILE",
        help="the run's data file where it is now (its SHA-256 must match the recorded one)",
    )
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    p.add_argument("--out", required=True, help="output directory (new or empty)")
    p.add_argument("--device", default="cpu", help="accelerator: cpu, cuda or auto")
    p.add_argument(
        "--interactions",
        default=None,
        choices=[s for s in INTERACTION_SOURCES if s != "none"],
        help="source of interaction types (default: as in the training run)",
    )
    p.add_argument("--num-threads", type=int, default=None, help="torch CPU threads (default 1)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier explanation in --out (never other files)",
    )
    p.set_defaults(func=run)


#: What ``dmil explain`` writes into its ``--out``.
EXPLAIN_LAYOUT = OutputLayout(
    command="dmil explain",
    what="an explanation",
    entries=(
        "explanations.csv",
        "gate_by_type.png",
        "gate_confusion.png",
        "explanation.json",
    ),
)


def run(args: argparse.Namespace) -> int:
    """Explain and print where the files are."""
    from dmil.evaluation.experiment import restore_run
    from dmil.evaluation.explain import explain, write_explanations
    from dmil.evaluation.interactions import interaction_labels
    from dmil.evaluation.outputs import write_json
    from dmil.evaluation.predict import predict
    from dmil.models import has_learned_gate
    from dmil.report.gate_plots import plot_gate_by_type, plot_gate_confusion
    from dmil.training.config import ACCELERATORS
    from dmil.training.fabric import configure_threads

    configure_threads(args.num_threads, "explain")
    if args.device not in ACCELERATORS:
        raise ValueError(f"--device: expected one of {list(ACCELERATORS)}, found {args.device!r}.")
    out = Path(args.out)
    EXPLAIN_LAYOUT.check(out, overwrite=args.overwrite)
    restored = restore_run(
        args.checkpoint,
        dataset=args.dataset,
        data_file=args.data,
        data_dir=args.data_dir,
        accelerator=args.device,
    )
    splits = restored.splits
    preds = predict(
        restored.model,
        splits.test,
        batch_size=restored.config.eval_batch_size,
        fabric=restored.fabric,
    )
    method = restored.content["model_config"].get("method")
    if preds.gate is None or not has_learned_gate(method):
        raise ValueError(
            f"the model in {args.checkpoint} ({method}) has no learned gate; `dmil explain` "
            "needs a gated model such as dmil, dmil-fc, dmil-id or dmil-cd (dmil-mean "
            "averages its components uniformly; a user paradigm with a gate sets "
            "learned_gate = True on its class)."
        )
    source = args.interactions or restored.data_spec.interactions
    if source == "none":
        source = "auto"
    labels, used = interaction_labels(
        splits.test,
        train=splits.train,
        val=splits.val,
        source=source,
        device=str(restored.fabric.device),
        random_state=restored.config.seed,
    )
    if labels is None:
        raise ValueError("no interaction types are available for this data; pass --interactions.")
    explanation = explain(preds, labels)
    tmp = EXPLAIN_LAYOUT.staging(out)
    try:
        write_explanations(
            tmp / "explanations.csv",
            preds,
            explanation,
            indices=splits.indices["test"],
            interactions=labels,
        )
        title = f"{restored.content['model_config'].get('method')} on {restored.data_spec.name}"
        plot_gate_by_type(explanation, tmp / "gate_by_type.png", title=f"{title}: mean gate")
        plot_gate_confusion(explanation, tmp / "gate_confusion.png")
        write_json(
            tmp / "explanation.json",
            {
                "checkpoint": str(args.checkpoint),
                "dataset": restored.data_spec.name,
                "interaction_source": used,
                "n": int(preds.labels.size),
                "accuracy": float((preds.y_pred == preds.labels).mean()),
                **explanation.to_dict(),
            },
        )
        EXPLAIN_LAYOUT.publish(tmp, out, overwrite=args.overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    agreement = explanation.agreement
    print(
        f"explained {preds.labels.size} test samples ({used} interaction types); gate agreement "
        + (
            "n/a"
            if agreement is None
            else f"{agreement:.3f} (a gate always on one component: "
            f"{explanation.constant_agreement:.3f})"
        )
        + f"\n  written to {out}"
    )
    return 0
