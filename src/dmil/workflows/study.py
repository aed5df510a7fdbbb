"""``dmil run``: one dataset from data to every number of its report.

For each seed the data are loaded and split once; the per-sample interactions of the
test split are estimated (:class:`~dmil.interactions.InteractionEstimator` fitted on the
training split, early-stopped on the validation split); every method is trained with the
same spec (:func:`~dmil.evaluation.execute_experiment`) and evaluated overall and per
interaction type; a model with a gate (DMIL) is explained per interaction type. The
result is one plain dict, :func:`run_study`'s return value, which the report writer
(:mod:`dmil.report`) turns into ``results.json``, ``report.md``, ``report.html`` and the
figures: the report shows nothing that is not in it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from dmil.data.container import type_key
from dmil.spec import ExperimentSpec

__all__ = [
    "DEFAULT_METHODS",
    "DEMO_OPTIONS",
    "Progress",
    "StudyPlan",
    "mean_std",
    "run_study",
]

logger = logging.getLogger(__name__)

#: What ``dmil run`` trains by default: the two paradigms the method is contrasted with,
#: the strongest other baseline on synthetic-mixed (``mlb``, BENCHMARKS.md) and DMIL.
DEFAULT_METHODS: tuple[str, ...] = ("ensemble", "joint", "mlb", "dmil")
#: Loader options of the default dataset, sized so that ``dmil run`` finishes within
#: five minutes on two CPU cores (see the README's tour for the measured time).
DEMO_OPTIONS: dict[str, Any] = {"n_samples": 4000}


def mean_std(values: Sequence[float | None]) -> dict[str, Any]:
    """``{"mean", "std", "n", "values"}`` over the non-missing values (sample standard
    deviation, ddof = 1; 0 for a single value; ``None`` when there is no value)."""
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not kept:
        return {"mean": None, "std": None, "n": 0, "values": list(values)}
    arr = np.asarray(kept)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "n": int(arr.size), "values": list(values)}


@dataclass(frozen=True)
class StudyPlan:
    """What ``dmil run`` does: one spec (its ``model.method`` unset), methods, seeds.

    Attributes
    ----------
    spec : ExperimentSpec
        Shared by every method; ``train.seed`` is replaced by each seed.
    methods : tuple of str
        Methods to train, in report order.
    seeds : tuple of int
        Seeds (each fixes the data draw of generated data, the split and training).
    budget : str
        Where the training budget under ``--config`` and the flags comes from (shown in
        the report).
    """

    spec: ExperimentSpec
    methods: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    budget: str = "the library's defaults"

    def __post_init__(self) -> None:
        if not self.methods:
            raise ValueError("--methods: expected at least one method, found none.")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"--methods: each method once, found {list(self.methods)}.")
        if not self.seeds:
            raise ValueError("--seeds: expected at least one seed.")
        from dmil.evaluation.experiment import method_stages

        for m in self.methods:
            self.spec.model.replace(method=m)  # validates the name
            try:  # and its stages fit the budget, before anything is trained
                method_stages(self.spec.train, m, self.spec.model.encoder)
            except ValueError as exc:
                raise ValueError(f"method {m}: {exc}") from None

    def spec_for(self, method: str, seed: int) -> ExperimentSpec:
        """The spec of one training run."""
        return self.spec.override(
            {"model": {"method": method}, "train": {"seed": int(seed)}}, source="dmil run"
        )

    def to_dict(self) -> dict[str, Any]:
        """The spec file of the whole run: the spec's sections plus ``run``."""
        return {
            **self.spec.to_dict(),
            "run": {"methods": list(self.methods), "seeds": list(self.seeds)},
        }


@dataclass
class Progress:
    """Step-by-step progress on a stream: what runs, how far, about how long is left.

    Each step has a weight (its expected share of the work) and a kind, ``(group, name)``
    (``kinds``; ``dmil run`` uses ``("interactions", "")`` and ``("train", method)``; by
    default every step is a kind of its own). A step is expected to take: as long as its
    kind took on average, once a step of that kind has finished (after the first seed of
    ``dmil run``, every step); else its weight times the seconds per unit of weight of
    the finished steps of its group; else of all finished steps. The lines go to
    ``stream`` directly, not through logging, so that like a progress bar they show at
    every logging level (``stream=None`` silences them).
    """

    weights: list[float]
    kinds: list[tuple[str, str]] | None = None
    stream: TextIO | None = field(default_factory=lambda: sys.stderr)
    clock: Callable[[], float] = time.perf_counter
    _start: float | None = None
    _step_start: float | None = None
    _taken: list[float] = field(default_factory=list)  # seconds of each finished step

    def __post_init__(self) -> None:
        if self.kinds is not None and len(self.kinds) != len(self.weights):
            raise ValueError(
                f"progress: {len(self.weights)} step weights but {len(self.kinds)} kinds."
            )
        if self._start is None:
            self._start = self.clock()

    @property
    def _step(self) -> int:
        """The current (or next) step."""
        return len(self._taken)

    def _kind(self, step: int) -> tuple[str, str]:
        return ("", str(step)) if self.kinds is None else tuple(self.kinds[step])

    def _rate(self, steps: Sequence[int]) -> float | None:
        """Seconds per unit of weight over finished ``steps`` (``None``: no weight)."""
        weight = sum(self.weights[i] for i in steps)
        return sum(self._taken[i] for i in steps) / weight if weight > 0 else None

    def left(self) -> float | None:
        """Expected seconds until the last step ends, from the current (or next) step on;
        ``None`` before any step has finished."""
        if not self._taken:
            return None
        done = range(len(self._taken))
        overall = self._rate(done) or 0.0
        rest = 0.0
        for step in range(self._step, len(self.weights)):
            kind = self._kind(step)
            same = [i for i in done if self._kind(i) == kind]
            if same:
                rest += sum(self._taken[i] for i in same) / len(same)
                continue
            group = [i for i in done if self._kind(i)[0] == kind[0]]
            rate = self._rate(group) if group else None
            rest += (overall if rate is None else rate) * self.weights[step]
        return rest

    def begin(self, label: str) -> None:
        """Announce the next step."""
        self._step_start = self.clock()
        left = self.left()
        left_text = "" if left is None else f", about {_clock(left)} left"
        self._say(
            f"[{self._step + 1}/{len(self.weights)}] {label} "
            f"(elapsed {_clock(self._step_start - self._start)}{left_text})"
        )

    def note(self, text: str) -> None:
        """A line between steps (work that belongs to no step, not timed as one)."""
        self._say(f"      {text}")

    def end(self) -> None:
        """Mark the current step finished.

        Raises
        ------
        RuntimeError
            If no step was begun.
        """
        if self._step_start is None:
            raise RuntimeError("progress: end() without begin().")
        self._taken.append(self.clock() - self._step_start)
        self._step_start = None

    def _say(self, text: str) -> None:
        if self.stream is not None:
            print(text, file=self.stream, flush=True)


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


# ---------------------------------------------------------------------- interactions
def _interactions(
    splits: Any, *, source: str, seed: int, device: str, cache_training: bool = True
) -> dict[str, Any]:
    """Estimated (and true) interaction composition of the test split, and the labels
    the per-type breakdown uses.

    The test labels are cached (:func:`~dmil.evaluation.interactions.cache_labels`) for
    ``dmil evaluate`` and ``dmil explain`` on the run's checkpoints; with
    ``cache_training`` the fitted estimator also labels the training split, which DMIL's
    estimator-guided gate trains on and would otherwise fit the same estimator again for.
    Only the library's own estimator is cached.
    """
    from dmil.evaluation.interactions import cache_labels
    from dmil.interactions import InteractionEstimator
    from dmil.interactions import estimator as estimator_module

    test = splits.test
    truth = test.interaction_names() if test.has_truth else None
    t0 = time.perf_counter()
    estimator = InteractionEstimator(measure="ccs", device=device, random_state=seed)
    table = estimator.fit(splits.train, splits.val).transform(test)
    seconds = time.perf_counter() - t0
    dominant = [str(t) for t in table.dominant()]
    if InteractionEstimator is estimator_module.InteractionEstimator:
        # `dmil evaluate` / `dmil explain` on the run's checkpoints read the test labels.
        cached = [(test, dominant)]
        if cache_training:
            cached.append(
                (splits.train, [str(t) for t in estimator.transform(splits.train).dominant()])
            )
        for part, labels in cached:
            cache_labels(
                labels, part, train=splits.train, val=splits.val, device=device, random_state=seed
            )
    if source == "none":
        labels, used = None, "none"
    elif source == "true" or (source == "auto" and truth is not None):
        if truth is None:
            raise ValueError(
                f"data.interactions: '{source}' needs per-sample truth, which dataset "
                f"'{test.name.removesuffix('[test]')}' does not have; use 'estimated' or 'auto'."
            )
        labels, used = list(truth), "true"
    else:
        labels, used = dominant, "estimated"
    summary = table.summary()
    return {
        "labels": labels,
        "source": used,
        "estimated": dominant,
        "true": None if truth is None else list(truth),
        "means": {k: float(summary[k]) for k in ("R", "U1", "U2", "S")},
        "reported_as": summary.get("reported_as", "raw"),
        "seconds": seconds,
        "n": len(test),
    }


def _shares(labels: Sequence[str] | None) -> dict[str, float] | None:
    if labels is None:
        return None
    values, counts = np.unique(np.asarray(labels, dtype=str), return_counts=True)
    total = counts.sum()
    pairs = sorted(zip(values.tolist(), counts.tolist(), strict=True), key=lambda p: type_key(p[0]))
    return {k: float(c / total) for k, c in pairs}


def _composition(per_seed: list[dict[str, Any]], expected: Sequence[str]) -> dict[str, Any]:
    """Shares of each type (estimated dominant, and true) averaged over seeds; every type
    in ``expected`` is listed, with share 0 where no test sample has it."""
    est = [_shares(s["estimated"]) for s in per_seed]
    true = [_shares(s["true"]) for s in per_seed] if per_seed[0]["true"] is not None else None
    types = sorted({*expected, *(t for d in est + (true or []) for t in d)}, key=type_key)
    agreement = None
    if true is not None:
        agreement = mean_std(
            [float(np.mean(np.asarray(s["estimated"]) == np.asarray(s["true"]))) for s in per_seed]
        )
    return {
        "types": types,
        "estimated": {t: mean_std([d.get(t, 0.0) for d in est]) for t in types},
        "true": None
        if true is None
        else {t: mean_std([d.get(t, 0.0) for d in true]) for t in types},
        "means_nats": {
            k: mean_std([s["means"][k] for s in per_seed]) for k in ("R", "U1", "U2", "S")
        },
        "reported_as": per_seed[0]["reported_as"],
        "estimator_agreement": agreement,
        "source": per_seed[0]["source"],
        "measure": "ccs",
        "evaluated_on": "test",
        "n_test": [s["n"] for s in per_seed],
        "seconds": mean_std([s["seconds"] for s in per_seed]),
    }


# ---------------------------------------------------------------------- gate
def _gate(predictions: Any, labels: Sequence[str] | None) -> dict[str, Any] | None:
    """Mean gate weight per interaction type and the confusion of the gate's dominant
    component against the type, from :func:`dmil.evaluation.explain.explain`."""
    if getattr(predictions, "gate", None) is None or labels is None:
        return None
    from dmil.evaluation.explain import explain

    return gate_summary(explain(predictions, labels))


def gate_summary(explanation: Any) -> dict[str, Any]:
    """The numbers of an :class:`~dmil.evaluation.explain.Explanation` the report shows,
    as plain types: rows are interaction types, columns gate components."""
    comps = list(explanation.component_names)
    types = list(explanation.types)
    confusion = np.asarray(explanation.confusion, dtype=int)  # (K components, T types)
    return {
        "components": comps,
        "types": types,
        "mean_gate": [[float(explanation.mean_gate[t][c]) for c in comps] for t in types],
        "counts": [int(explanation.counts[t]) for t in types],
        "confusion": confusion.T.tolist(),
        "confusion_axes": ["types", "components"],
        "agreement": None if explanation.agreement is None else float(explanation.agreement),
        "constant_agreement": None
        if explanation.constant_agreement is None
        else float(explanation.constant_agreement),
    }


def _single_dominant(components: Sequence[str], confusion: Sequence[Sequence[int]]) -> str | None:
    """The component that dominates every sample of a confusion ``[type][component]``, or
    ``None`` when several do."""
    used = [c for k, c in enumerate(components) if any(row[k] for row in confusion)]
    return used[0] if len(used) == 1 else None


def _merge_gates(gates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Mean gate weights per type weighted by counts, confusions summed, over seeds."""
    gates = [g for g in gates if g is not None]
    if not gates:
        return None
    comps = gates[0]["components"]
    types = sorted({t for g in gates for t in g["types"]}, key=type_key)
    weights = np.zeros((len(types), len(comps)))
    counts = np.zeros(len(types))
    confusion = np.zeros((len(types), len(comps)), dtype=int)
    for g in gates:
        for i, t in enumerate(g["types"]):
            k = types.index(t)
            weights[k] += np.asarray(g["mean_gate"][i]) * g["counts"][i]
            counts[k] += g["counts"][i]
            confusion[k] += np.asarray(g["confusion"][i], dtype=int)
    mean = weights / np.maximum(counts, 1)[:, None]
    agreement = [g["agreement"] for g in gates]
    constant = [g.get("constant_agreement") for g in gates]
    return {
        # Per seed, the component that is largest for every test sample (None: several).
        "single_dominant": [_single_dominant(comps, g["confusion"]) for g in gates],
        "components": comps,
        "types": types,
        "mean_gate": mean.tolist(),
        "counts": counts.astype(int).tolist(),
        "confusion": confusion.tolist(),
        "confusion_axes": ["types", "components"],
        "agreement": mean_std(agreement) if any(a is not None for a in agreement) else None,
        "constant_agreement": mean_std(constant) if any(a is not None for a in constant) else None,
        "seeds": len(gates),
    }


# ---------------------------------------------------------------------- methods
def _expected_types(n_modalities: int) -> tuple[str, ...]:
    """The types the estimator can assign with this many modalities (more than two: one
    ``U`` for either uniqueness of a sample's best pair)."""
    from dmil.data import INTERACTION_TYPES

    return INTERACTION_TYPES if n_modalities == 2 else ("R", "U", "S")


def _method_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean +- std over seeds of one method's numbers."""
    tests = [r["test"] for r in runs]
    types = sorted({t for m in tests for t in m.get("by_interaction", {})}, key=type_key)
    out = {
        key: mean_std([m.get(key) for m in tests])
        for key in ("accuracy", "macro_f1", "synergy_indicator", "synergy_indicator_own")
    }
    out["by_interaction"] = {
        t: _type_accuracy([m["by_interaction"].get(t, {}) for m in tests]) for t in types
    }
    modalities = list((tests[0].get("per_modality_accuracy") or {}).keys())
    out["per_modality_accuracy"] = {
        k: mean_std([(m.get("per_modality_accuracy") or {}).get(k) for m in tests])
        for k in modalities
    }
    for key in ("train_seconds", "samples_per_second", "epochs_run", "best_epoch"):
        out[key] = mean_std([r.get(key) for r in runs])
    out["val_accuracy"] = mean_std([r["val"]["accuracy"] for r in runs])
    out["stages"] = [s.get("name") for s in runs[0]["config"].get("stages", [])]
    return out


def _type_accuracy(per_seed: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One type's accuracy over seeds: ``accuracy`` (mean ± std of the per-seed values),
    ``pooled`` (correct over all seeds' samples of the type: the number to read when
    seeds have few and unequal counts) and ``n`` (samples, all seeds)."""
    n = sum(int(e.get("n", 0)) for e in per_seed)
    correct = sum(round(e["accuracy"] * e["n"]) for e in per_seed if e.get("n"))
    return {
        "accuracy": mean_std([e.get("accuracy") for e in per_seed]),
        "pooled": correct / n if n else None,
        "n": n,
    }


def _curve(history: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = ("epoch", "train_loss", "val_loss", "val_accuracy")
    curve = {k: [row.get(k) for row in history] for k in keys}
    curve["stage"] = [row.get("stage") for row in history]
    return curve


def _majority_share(test: Any) -> float:
    """The accuracy of always predicting the test split's most frequent class."""
    counts = np.bincount(test.labels.numpy(), minlength=int(test.n_classes))
    return float(counts.max() / counts.sum())


def _dataset_card(data: Any, splits: Any, spec: ExperimentSpec) -> dict[str, Any]:
    card: dict[str, Any] = {
        "name": spec.data.name,
        "registered": spec.data.dataset is not None,
        "file": spec.data.file,
        "sha256": spec.data.sha256,
        "source": data.source,
        "description": None,
        "n_samples": len(data),
        "n_classes": int(data.n_classes),
        "class_names": list(data.class_names),
        "modalities": [
            {"name": m, "shape": [int(d) for d in data.shapes[m]]} for m in data.modality_names
        ],
        "has_truth": bool(data.has_truth),
        "options": dict(spec.data.options),
        "split": {k: len(getattr(splits, k)) for k in ("train", "val", "test")},
        # The split parts the data file defines (none: every part was drawn here).
        "predefined_parts": sorted(data.predefined_split or ()),
    }
    if spec.data.dataset is not None:
        from dmil.data.registry import dataset_info

        card["description"] = dataset_info(spec.data.dataset).description
    return card


def run_study(
    plan: StudyPlan,
    *,
    work_dir: str | Path,
    data_dir: str | Path | None = None,
    progress: Progress | None = None,
    command: str = "",
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every step of ``plan``; training runs go to ``work_dir/runs/<method>/seed<k>``.

    Parameters
    ----------
    plan : StudyPlan
        The shared experiment spec, the methods and the seeds to run.
    work_dir : path
        Where the run directories are written.
    data_dir : path, optional
        Data directory of file-backed registered datasets.
    progress : Progress, optional
        Step reporter (default: one on stderr).
    command : str
        The command line that started the run (recorded).
    on_step : callable, optional
        Called with each step's label before it starts (tests use it to interrupt).

    Returns
    -------
    dict
        Every number of the report (see :mod:`dmil.report`).
    """
    from dmil.evaluation.experiment import (
        execute_experiment,
        load_data,
        load_splits,
        resolve_data_spec,
    )
    from dmil.models import has_learned_gate

    work = Path(work_dir)
    epochs = plan.spec.train.epochs
    n_steps = len(plan.seeds) * (1 + len(plan.methods))
    if progress is None:
        weights = [
            w for _ in plan.seeds for w in [max(epochs / 4, 1.0)] + [epochs] * len(plan.methods)
        ]
        kinds = [
            k
            for _ in plan.seeds
            for k in [("interactions", ""), *(("train", m) for m in plan.methods)]
        ]
        progress = Progress(weights, kinds)
    if len(progress.weights) != n_steps:
        raise ValueError(
            f"progress: expected {n_steps} step weights, found {len(progress.weights)}."
        )
    device = plan.spec.train.accelerator
    if device == "auto":  # where the training runs, so the estimator's labels are shared
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    t_start = time.perf_counter()
    # Lightning takes seconds to import; doing it here, announced, keeps that one-off
    # cost out of the first training step's measured duration (and so out of the
    # time-left estimates that scale from it).
    progress.note("load the training engine (Lightning Fabric)")
    import lightning.fabric  # noqa: F401

    per_seed, runs, gates, curves, card = [], {m: [] for m in plan.methods}, [], {}, None
    majority: list[float] = []
    # The report explains one gate: dmil's, else the first gated ablation's (dmil-mean
    # averages its components and has none).
    gated = [m for m in plan.methods if has_learned_gate(m)]
    gate_method = "dmil" if "dmil" in gated else next(iter(gated), None)
    gate_note = "no method with a gate (dmil) was trained"
    effective: dict[str, Any] = {}
    for seed in plan.seeds:
        data_spec = resolve_data_spec(plan.spec_for(plan.methods[0], seed).data, seed)
        label = f"estimate interactions of {data_spec.name} (seed {seed})"
        _announce(progress, on_step, label)
        data = load_data(data_spec, data_dir=data_dir)
        splits = load_splits(data_spec, data=data)
        inter = _interactions(
            splits,
            source=data_spec.interactions,
            seed=seed,
            device=device,
            cache_training=bool(gated),  # a gated DMIL may train its gate on them
        )
        per_seed.append(inter)
        majority.append(_majority_share(splits.test))
        if card is None:
            card = _dataset_card(data, splits, plan.spec.replace(data=data_spec))
        progress.end()
        for method in plan.methods:
            _announce(progress, on_step, f"train {method} (seed {seed})")
            result = execute_experiment(
                plan.spec_for(method, seed),
                out_dir=work / "runs" / method / f"seed{seed}",
                data_dir=data_dir,
                data=data,
                test_interactions=(inter["labels"], inter["source"]),
            )
            runs[method].append(result.metrics)
            effective.setdefault(method, result.spec.to_dict())
            curves.setdefault(method, _curve(result.history))
            if method == gate_method:
                gates.append(_gate(result.predictions, inter["labels"]))
                if gates[-1] is None:
                    gate_note = (
                        "the test samples have no interaction labels"
                        if inter["labels"] is None
                        else f"{method} gave no gate weights"
                    )
            progress.end()
    gate = _merge_gates(gates)
    card["majority_test"] = float(np.mean(majority))
    return {
        "title": f"dmil run on {card['name']}",
        "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "dataset": card,
        "methods": list(plan.methods),
        "seeds": list(plan.seeds),
        "composition": _composition(per_seed, _expected_types(len(card["modalities"]))),
        "results": {m: _method_summary(runs[m]) for m in plan.methods},
        "per_seed": {
            m: [
                {
                    "seed": r["seed"],
                    "accuracy": r["test"]["accuracy"],
                    "train_seconds": r["train_seconds"],
                    "epochs_run": r["epochs_run"],
                }
                for r in runs[m]
            ]
            for m in plan.methods
        },
        "gate": None if gate is None else {"method": gate_method, **gate},
        "gate_note": None if gate is not None else gate_note,
        "curves": curves,
        "spec": plan.to_dict(),
        "budget": plan.budget,
        "effective_specs": effective,
        "total_seconds": time.perf_counter() - t_start,
    }


def _announce(progress: Progress, on_step: Callable[[str], None] | None, label: str) -> None:
    progress.begin(label)
    if on_step is not None:
        on_step(label)


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    """A short table for the terminal: accuracy overall and per type, per method."""
    types = results["composition"]["types"]
    head = (
        f"{'method':<12} {'accuracy':>16}" + "".join(f" {t:>7}" for t in types) + f" {'train s':>8}"
    )
    lines = [head]
    for method in results["methods"]:
        r = results["results"][method]
        acc = r["accuracy"]
        spread = f" ± {acc['std']:.3f}" if acc["n"] > 1 else " " * 8
        cells = f"{method:<12} {acc['mean']:>8.3f}{spread}"
        for t in types:
            value = r["by_interaction"].get(t, {}).get("pooled")
            cells += f" {'-':>7}" if value is None else f" {value:>7.3f}"
        cells += f" {r['train_seconds']['mean']:>8.1f}"
        lines.append(cells)
    return lines
