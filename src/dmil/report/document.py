"""The ``dmil run`` report as a list of blocks, rendered to Markdown and to HTML.

:func:`build_blocks` reads only the results dict (``results.json``), so every number in
``report.md`` and ``report.html`` is one of its values, formatted by :func:`fmt`.
Blocks are tuples: ``("h", level, text)``, ``("p", text)``, ``("list", items)``,
``("table", head, rows, align)``, ``("img", file, caption)`` and ``("code", text)``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_blocks", "fmt", "render_html", "render_markdown"]

Block = tuple[Any, ...]


def majority_baseline(card: Mapping[str, Any]) -> float | None:
    """The accuracy of always predicting the test split's most frequent class, where it
    is above chance (``1/C``) by more than half a point; ``None`` otherwise or where the
    dataset card has no ``majority_test`` (results written before it existed)."""
    majority = card.get("majority_test")
    if majority is None or majority <= 1.0 / card["n_classes"] + 0.005:
        return None
    return float(majority)


def fmt(value: Any, digits: int = 3) -> str:
    """A number as the report shows it (``-`` when missing)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.{digits}f}"


def _pm(stats: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``mean ± std`` (the std only with more than one value)."""
    if not stats or stats.get("mean") is None:
        return "-"
    text = fmt(stats["mean"], digits)
    if stats.get("n", 1) > 1:
        text += f" ± {fmt(stats['std'], digits)}"
    return text


def _pm_count(stats: Mapping[str, Any] | None) -> str:
    """A count (epochs): whole with one seed or when every seed gave the same, else a
    mean over seeds with one decimal."""
    if stats and stats.get("n", 1) > 1 and stats.get("std") == 0:
        return fmt(int(round(stats["mean"])))
    return _pm(stats, 0 if stats and stats.get("n", 1) == 1 else 1)


def _card(results: Mapping[str, Any]) -> list[Block]:
    card = results["dataset"]
    mods = ", ".join(
        f"{m['name']} ({' x '.join(str(d) for d in m['shape'])})" for m in card["modalities"]
    )
    split = card["split"]
    rows = [
        ["name", f"`{card['name']}`"],
        ["source", card["source"]],
    ]
    if card.get("description"):
        rows.append(["description", card["description"]])
    if card.get("file"):
        rows.append(["file", f"`{card['file']}` (SHA-256 `{card['sha256']}`)"])
    if card.get("options"):
        rows.append(["loader options", ", ".join(f"{k}={v}" for k, v in card["options"].items())])
    rows += [
        ["samples", str(card["n_samples"])],
        ["classes", f"{card['n_classes']} ({', '.join(map(str, card['class_names']))})"],
        ["modalities", mods],
        ["per-sample interaction truth", fmt(card["has_truth"])],
        [
            "split (first seed)",
            f"train {split['train']}, validation {split['val']}, test {split['test']}"
            + _split_origin(card),
        ],
    ]
    return [("h", 2, "Dataset"), ("table", ["", ""], rows, "ll")]


_PART_NAMES = {"train": "training", "val": "validation", "test": "test"}


def _split_origin(card: Mapping[str, Any]) -> str:
    """Which parts of the split the data file defined, if any."""
    parts = [p for p in ("train", "val", "test") if p in card.get("predefined_parts", [])]
    if not parts:
        return ""
    if len(parts) == 3:
        return " (the data's own split kept)"
    defined = " and ".join(_PART_NAMES[p] for p in parts) + (
        " part" if len(parts) == 1 else " parts"
    )
    made = " and ".join(_PART_NAMES[p] for p in ("train", "val", "test") if p not in parts)
    source = "carved out of its training part" if "train" in parts else "from the other samples"
    return f" (the data file's {defined}; {made} {source})"


def _unique_names(card: Mapping[str, Any]) -> str | None:
    """``U1 = ..., U2 = ...``: which modality each uniqueness type stands for (two
    modalities; ``None`` otherwise)."""
    names = [m["name"] for m in card["modalities"]]
    if len(names) != 2:
        return None
    return f"U1 is information only `{names[0]}` carries, U2 only `{names[1]}`"


def _composition(results: Mapping[str, Any], figures: Sequence[str]) -> list[Block]:
    comp = results["composition"]
    types = comp["types"]
    rows = []
    for t in types:
        row = [t, _pm(comp["estimated"][t])]
        if comp["true"] is not None:
            row.append(_pm(comp["true"][t]))
        rows.append(row)
    head = ["type", "estimated share"] + (["true share"] if comp["true"] is not None else [])
    means = comp["means_nats"]
    adjusted = " (LSMI-adjusted)" if comp["reported_as"] != "raw" else ""
    if len(results["dataset"]["modalities"]) > 2:  # the estimator works on pairs
        split = (
            "redundancy R, uniqueness U and synergy S, on each sample's most informative "
            "pair of modalities"
        )
        uniqueness = (
            f"U1 {_pm(means['U1'])} and U2 {_pm(means['U2'])} (the uniqueness of the "
            "pair's first and of its second modality in the data's order; which modalities "
            "those are changes from sample to sample, so these are not the gate's U1, U2, ...)"
        )
    else:
        split = (
            f"redundancy R, uniqueness U1 / U2 ({_unique_names(results['dataset'])}) and synergy S"
        )
        uniqueness = f"U1 {_pm(means['U1'])}, U2 {_pm(means['U2'])}"
    text = (
        f"Per test sample, the estimator ({comp['measure']}, fitted on the training split) "
        f"splits the label information into {split}; a sample's type is its largest "
        f"component. Mean components over the test split (nats{adjusted}): "
        f"R {_pm(means['R'])}, {uniqueness}, S {_pm(means['S'])}."
    )
    if comp["reported_as"] == "raw" and min(means[k].get("mean") or 0.0 for k in means) < 0:
        text += (
            " Per-sample values are pointwise information and may be negative, so a mean "
            "near zero can come out slightly below it."
        )
    blocks: list[Block] = [("h", 2, "Interaction composition"), ("p", text)]
    if comp["estimator_agreement"] is not None:
        blocks.append(
            (
                "p",
                "The estimated type equals the true mechanism on "
                f"{_pm(comp['estimator_agreement'])} of the test samples.",
            )
        )
    if "composition.png" in figures:
        blocks.append(("img", "composition.png", "Share of test samples per interaction type."))
    blocks.append(("table", head, rows, "l" + "r" * (len(head) - 1)))
    return blocks


def _accuracy(results: Mapping[str, Any], figures: Sequence[str]) -> list[Block]:
    types = results["composition"]["types"]
    source = results["composition"]["source"]
    own = any(results["results"][m]["synergy_indicator_own"]["n"] for m in results["methods"])
    head = ["method", "accuracy", "macro-F1", "synergy ind."] + (
        ["synergy ind. (own)"] if own else []
    )
    head += [f"acc {t} (n)" for t in types]
    rows = []
    for method in results["methods"]:
        r = results["results"][method]
        row = [method, _pm(r["accuracy"]), _pm(r["macro_f1"]), _pm(r["synergy_indicator"])]
        if own:
            row.append(_pm(r["synergy_indicator_own"]))
        for t in types:
            entry = r["by_interaction"].get(t)
            row.append("-" if entry is None else f"{_type_cell(entry)} ({entry['n']})")
        rows.append(row)
    seeds = results["seeds"]
    over = (
        f"seed {seeds[0]}"
        if len(seeds) == 1
        else f"mean ± std over seeds {', '.join(map(str, seeds))}; per type, the share of "
        "correct predictions among the type's samples of all seeds (n counts them), ± the "
        "spread of the per-seed shares"
    )
    text = (
        f"Test accuracy ({over}), overall and on the test samples of each interaction type "
        f"({source} types). Every method has the same encoders, epochs and early stopping "
        "on the validation split. The synergy indicator is the share of test samples a "
        "method gets right while every unimodal reference prediction (one classifier per "
        "modality, fitted on the training split, the same for every method) gets them wrong"
        + (
            "; the (own) column uses each method's own per-modality outputs instead, so it "
            "is high where those outputs are weak and is not comparable across methods"
            + _own_unimodal(results)
            if own
            else "."
        )
    )
    names = _unique_names(results["dataset"])
    if names is not None:
        text += f" {names}."
    blocks: list[Block] = [("h", 2, "Accuracy"), ("p", text)]
    if "accuracy.png" in figures:
        blocks.append(("img", "accuracy.png", "Accuracy overall and per interaction type."))
    blocks.append(("table", head, rows, "l" + "r" * (len(head) - 1)))
    blocks.append(("list", _findings(results)))
    return blocks


def _type_cell(entry: Mapping[str, Any]) -> str:
    """A type's accuracy: pooled over seeds, ± the spread of the per-seed values."""
    if entry.get("pooled") is None:
        return "-"
    spread = entry["accuracy"]
    text = fmt(entry["pooled"])
    if spread.get("n", 1) > 1:
        text += f" ± {fmt(spread['std'])}"
    return text


#: A type with fewer test samples than this per split (on average over seeds) is not ranked.
_MIN_RANKED = 20


def _tied(scored: Sequence[tuple[str, Mapping[str, Any]]], value: float) -> str:
    """The methods whose pooled accuracy is ``value``, each with its own cell."""
    named = [f"{m} ({_type_cell(e)})" for m, e in scored if e["pooled"] == value]
    return ", ".join(named) + (" (tied)" if len(named) > 1 else "")


def _findings(results: Mapping[str, Any]) -> list[str]:
    """Plain statements read off the accuracy table."""
    methods = results["methods"]
    res = results["results"]
    top_acc = max(res[m]["accuracy"]["mean"] for m in methods)
    best = [m for m in methods if res[m]["accuracy"]["mean"] == top_acc]
    items = [
        "Highest accuracy: "
        + ", ".join(f"{m} ({_pm(res[m]['accuracy'])})" for m in best)
        + (", tied." if len(best) > 1 else ".")
    ]
    n_seeds = len(results["seeds"])
    for t in results["composition"]["types"]:
        scored = [
            (m, res[m]["by_interaction"][t])
            for m in methods
            if t in res[m]["by_interaction"] and res[m]["by_interaction"][t]["pooled"] is not None
        ]
        if not scored:
            continue
        per_split = scored[0][1]["n"] / n_seeds
        if per_split < _MIN_RANKED:
            where = (
                f"{scored[0][1]['n']} in the test split"
                if n_seeds == 1
                else f"{fmt(per_split, 0 if per_split == int(per_split) else 1)} per test split "
                "on average"
            )
            items.append(f"{t} samples: {where}, too few to rank the methods.")
            continue
        values = [e["pooled"] for _, e in scored]
        high, low = max(values), min(values)
        if high == low:
            items.append(f"{t} samples: every method {fmt(high)}.")
            continue
        items.append(f"{t} samples: best {_tied(scored, high)}, lowest {_tied(scored, low)}.")
    card = results["dataset"]
    chance = f"Chance level: {fmt(1.0 / card['n_classes'])}"
    majority = majority_baseline(card)
    if majority is not None:
        chance += (
            f"; always predicting the test split's most frequent class scores {fmt(majority)}"
            + (" (mean over seeds)" if len(results["seeds"]) > 1 else "")
        )
    items.append(chance + ".")
    return items


def _own_unimodal(results: Mapping[str, Any]) -> str:
    """`` (own per-modality accuracy: joint a / b, ...).``: what the (own) column of the
    synergy indicator compares against."""
    parts = []
    for method in results["methods"]:
        per = results["results"][method].get("per_modality_accuracy") or {}
        if per and all(v.get("mean") is not None for v in per.values()):
            parts.append(f"{method} {' / '.join(fmt(v['mean']) for v in per.values())}")
    if not parts:
        return "."
    names = " / ".join(f"`{m['name']}`" for m in results["dataset"]["modalities"])
    return f" (own per-modality accuracy, {names}: {', '.join(parts)})."


def _gate(results: Mapping[str, Any], figures: Sequence[str]) -> list[Block]:
    gate = results.get("gate")
    blocks: list[Block] = [("h", 2, "DMIL's gate")]
    if gate is None:
        return [*blocks, ("p", f"Not shown: {results['gate_note']}.")]
    comps, types = gate["components"], gate["types"]
    text = (
        f"Per sample, {gate['method']} weighs its components ({', '.join(comps)}) with a "
        "softmax gate. Rows: the test samples of each interaction type "
        f"({results['composition']['source']}); columns: the mean gate weight of each "
        "component (each row sums to 1)."
    )
    blocks.append(("p", text))
    if "gate.png" in figures:
        blocks.append(("img", "gate.png", "Mean gate weight per interaction type."))
    rows = [
        [f"{t} (n={n})", *[fmt(w) for w in ws]]
        for t, n, ws in zip(types, gate["counts"], gate["mean_gate"], strict=True)
    ]
    blocks.append(("table", ["type", *comps], rows, "l" + "r" * len(comps)))
    conf = [
        [c, *[str(gate["confusion"][i][k]) for i in range(len(types))]] for k, c in enumerate(comps)
    ]
    blocks.append(
        (
            "p",
            "Test samples by the gate's dominant component (rows) and type (columns), as "
            "`dmil explain` writes them:",
        )
    )
    blocks.append(("table", ["dominant", *types], conf, "l" + "r" * len(types)))
    if gate.get("agreement") is not None:
        blocks.append(
            (
                "p",
                "The dominant component names the sample's type on "
                f"{_pm(gate['agreement'])} of the test samples"
                + (
                    f"; a gate that always chose the same component would reach "
                    f"{_pm(gate['constant_agreement'])}."
                    if gate.get("constant_agreement") is not None
                    else "."
                )
                + _single_dominant_text(gate.get("single_dominant") or []),
            )
        )
    return blocks


def _single_dominant_text(per_seed: Sequence[str | None]) -> str:
    """A sentence for the seeds whose gate puts the largest weight on one component for
    every test sample (it then does not tell the samples apart), else ``""``."""
    hits = [(i, c) for i, c in enumerate(per_seed) if c is not None]
    if not hits:
        return ""
    if len(per_seed) == 1:
        where = f"Here the largest weight is on {hits[0][1]} for every test sample"
    else:
        listed = ", ".join(f"{c} in run {i + 1}" for i, c in hits)
        where = (
            f"In {len(hits)} of the {len(per_seed)} runs (one per seed, in seed order) the "
            f"largest weight is on one component for every test sample ({listed})"
        )
    return (
        f" {where}, so there the dominant component does not tell the samples apart; the "
        "mean weights above show how much the gate still varies."
    )


def _training(results: Mapping[str, Any], figures: Sequence[str]) -> list[Block]:
    rows = []
    for method in results["methods"]:
        r = results["results"][method]
        rows.append(
            [
                method,
                _pm(r["train_seconds"], 1),
                _pm_count(r["epochs_run"]),
                _pm_count(r["best_epoch"]),
                _pm(r["samples_per_second"], 0),
                ", ".join(r["stages"]) or "one stage",
            ]
        )
    head = ["method", "train s", "epochs", "best epoch", "samples/s", "stages"]
    blocks: list[Block] = [("h", 2, "Training")]
    train, model = results["spec"]["train"], results["spec"]["model"]
    encoder = model["encoder"] if isinstance(model["encoder"], str) else "/".join(model["encoder"])
    stop = (
        f"early stopping after {train['patience']} epochs without a better validation epoch"
        if 0 < train["patience"] < train["epochs"]
        else "no early stopping"
    )
    budget = (
        f"Every method: {train['epochs']} epochs ({stop}), batch {train['batch_size']}, "
        f"{train['optimizer']} at learning rate {train['lr']} with a {train['scheduler']} "
        f"schedule; `{encoder}` encoders of width {model['embed_dim']}"
    )
    if any(results["results"][m]["stages"] for m in results["methods"]):
        budget += " (staged methods split the epochs over their stages, each with its own patience)"
    if results.get("budget"):
        budget += f". Settings: {results['budget']}"
    blocks.append(("p", budget + "."))
    if "curves.png" in figures:
        blocks.append(("img", "curves.png", "Validation accuracy and training loss (first seed)."))
    blocks.append(("table", head, rows, "lrrrrl"))
    return blocks


def _reproduce(results: Mapping[str, Any], spec_text: str) -> list[Block]:
    return [
        ("h", 2, "Reproduce"),
        ("p", "The command that made this report:"),
        ("code", results["command"]),
        ("p", "Replay it from the saved spec (`spec.yaml` beside this report):"),
        ("code", "dmil run --config spec.yaml --out NEW_DIR"),
        ("p", "The effective spec:"),
        ("code", spec_text.rstrip("\n")),
    ]


def build_blocks(
    results: Mapping[str, Any], *, figures: Sequence[str], spec_text: str
) -> list[Block]:
    """The report's blocks, from ``results`` alone (``spec_text``: the YAML of
    ``results["spec"]``; ``figures``: the PNG files that exist)."""
    total = fmt(results["total_seconds"], 1)
    gate = results.get("gate")
    intro = (
        f"Made {results['created_utc']} in {total} s: the per-sample interaction "
        f"composition of `{results['dataset']['name']}`, then {', '.join(results['methods'])} "
        + ("trained with one shared spec" if len(results["methods"]) > 1 else "trained")
        + " and evaluated overall and per interaction type"
        + (
            f", and {gate['method']}'s per-sample gate compared with the interaction types."
            if gate
            else "."
        )
    )
    return [
        ("h", 1, results["title"]),
        ("p", intro),
        *_card(results),
        *_composition(results, figures),
        *_accuracy(results, figures),
        *_gate(results, figures),
        *_training(results, figures),
        *_reproduce(results, spec_text),
    ]


# ---------------------------------------------------------------------- renderers
def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as Markdown (images referenced by file name)."""
    out: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append("#" * block[1] + " " + block[2])
        elif kind == "p":
            out.append(block[1])
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            _, head, rows, align = block
            lines = ["| " + " | ".join(_md_cell(h) for h in head) + " |"]
            lines.append("|" + "".join("---:|" if a == "r" else "---|" for a in align))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append(f"![{block[2]}]({block[1]})")
        elif kind == "code":
            out.append("```\n" + block[1] + "\n```")
        else:  # pragma: no cover - blocks are built above
            raise ValueError(f"unknown block kind {kind!r}")
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    """Escape, then turn Markdown's `code` spans into <code>."""
    parts = str(text).split("`")
    return "".join(
        f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts)
    )


_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:60rem;
margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem;border-bottom:2px solid #ddd;padding-bottom:.3rem}
h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .6rem}th{background:#f5f5f5}
td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}img{max-width:100%}figcaption{font-size:.85rem;color:#555}
pre{background:#f6f8fa;padding:.7rem;overflow-x:auto;font-size:.82rem}
code{background:#f3f3f3;padding:0 .2rem;font-size:.88em}pre code{background:none;padding:0}
"""


def render_html(blocks: Sequence[Block], *, image_dir: str | Path, title: str) -> str:
    """The blocks as one self-contained HTML page (images embedded as data URIs)."""
    body: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            body.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
        elif kind == "p":
            body.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            _, head, rows, align = block
            cls = [' class="r"' if a == "r" else "" for a in align]
            lines = ["<table>"]
            if any(h for h in head):
                lines.append(
                    "<tr>"
                    + "".join(f"<th{c}>{_inline(h)}</th>" for h, c in zip(head, cls, strict=True))
                    + "</tr>"
                )
            for row in rows:
                lines.append(
                    "<tr>"
                    + "".join(f"<td{c}>{_inline(v)}</td>" for v, c in zip(row, cls, strict=True))
                    + "</tr>"
                )
            lines.append("</table>")
            body.append("\n".join(lines))
        elif kind == "img":
            data = base64.b64encode((Path(image_dir) / block[1]).read_bytes()).decode("ascii")
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block[2])}">'
                f"<figcaption>{_inline(block[2])}</figcaption></figure>"
            )
        elif kind == "code":
            body.append(f"<pre><code>{html.escape(block[1])}</code></pre>")
        else:  # pragma: no cover
            raise ValueError(f"unknown block kind {kind!r}")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
