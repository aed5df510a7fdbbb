"""`dmil run`: every file written, every number of the report taken from results.json,
embedded images, atomic replacement, interruption, --config precedence and replay."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from matplotlib.image import imread

from dmil.cli import main

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(tmp_path, **train):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "data": {"options": {"n_samples": 300}},
                "model": {"embed_dim": 8},
                "train": {"batch_size": 32, **train},
            }
        )
    )
    return cfg


def _run(out, cfg, *extra):
    args = ["run", "--config", str(cfg), "--device", "cpu", "--no-progress", "--out", str(out)]
    return main([*args, *extra])


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    torch.set_num_threads(1)
    out = tmp / "report"
    assert _run(out, _config(tmp, epochs=3), "--methods", "joint,dmil") == 0
    return out


def _allowed_numbers(results):
    """Every way the report may print a value of results.json."""
    allowed = set()

    def visit(value):
        if isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif isinstance(value, list):
            for v in value:
                visit(v)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, (int, float)):
            allowed.update({str(value), f"{value:.0f}", f"{value:.1f}", f"{value:.3f}"})
        elif isinstance(value, str):
            allowed.update(NUMBER.findall(value))

    visit(results)
    allowed.add(f"{1 / results['dataset']['n_classes']:.3f}")  # the chance level
    return allowed


def _split_code(text, fence):
    """(prose, code blocks) of a document."""
    parts = text.split(fence)
    return "".join(parts[0::2]), parts[1::2]


def test_run_writes_every_file(report):
    names = {p.name for p in report.iterdir()}
    assert {"report.html", "report.md", "results.json", "spec.yaml", "runs"} <= names
    assert {"composition.png", "accuracy.png", "gate.png", "curves.png"} <= names
    for method in ("joint", "dmil"):
        assert (report / "runs" / method / "seed0" / "metrics.json").is_file()
    assert not list(report.parent.glob(".report.dmil-run-*"))  # no temporary left


def test_run_report_numbers_equal_results_json(report):
    results = json.loads((report / "results.json").read_text())
    allowed = _allowed_numbers(results)
    prose, code = _split_code((report / "report.md").read_text(), "```")
    found = NUMBER.findall(prose)
    assert len(found) > 50
    assert sorted(set(found) - allowed) == []
    assert yaml.safe_load(code[-1]) == results["spec"]
    for method in results["methods"]:
        run = json.loads((report / "runs" / method / "seed0" / "metrics.json").read_text())
        assert results["results"][method]["accuracy"]["mean"] == run["test"]["accuracy"]
        assert f"| {method} | {run['test']['accuracy']:.3f} |" in prose
    gate = results["gate"]
    assert gate["method"] == "dmil" and np.allclose(np.sum(gate["mean_gate"], axis=1), 1.0)


def test_run_html_numbers_equal_results_json_and_images_are_embedded(report):
    results = json.loads((report / "results.json").read_text())
    page = (report / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 4
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        image = imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert "http://" not in page and "https://" not in page
    body = re.sub(r"<style>.*?</style>|<img [^>]+>", "", page, flags=re.S)
    prose, code = _split_code(body, "<pre>")
    text = html.unescape(re.sub(r"<[^>]+>", " ", prose))
    assert sorted(set(NUMBER.findall(text)) - _allowed_numbers(results)) == []
    spec_block = html.unescape(re.sub(r"<[^>]+>", "", code[-1].split("</pre>")[0]))
    assert yaml.safe_load(spec_block) == results["spec"]


def test_run_existing_report_needs_overwrite_and_replays(tmp_path, capsys):
    cfg = _config(tmp_path, epochs=1)
    out = tmp_path / "r"
    assert _run(out, cfg, "--methods", "ensemble") == 0
    first = json.loads((out / "results.json").read_text())
    assert _run(out, cfg, "--methods", "ensemble") == 2
    assert "--overwrite" in capsys.readouterr().err
    # Replaying the saved spec over the old report gives the same numbers.
    saved = tmp_path / "saved.yaml"
    saved.write_text((out / "spec.yaml").read_text())
    assert _run(out, saved, "--overwrite") == 0
    second = json.loads((out / "results.json").read_text())
    assert second["results"]["ensemble"]["accuracy"] == first["results"]["ensemble"]["accuracy"]
    assert second["spec"] == first["spec"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    # --overwrite replaces a report, never files the report does not hold.
    (out / "paper.tex").write_text("mine")
    (out / "sub").mkdir()
    assert _run(out, saved, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "paper.tex" in err and "sub" in err
    assert (out / "paper.tex").read_text() == "mine"
    assert json.loads((out / "results.json").read_text()) == second


def test_run_interrupted_keeps_the_previous_report(tmp_path, monkeypatch):
    cfg = _config(tmp_path, epochs=1)
    out = tmp_path / "r"
    assert _run(out, cfg, "--methods", "ensemble") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    import dmil.evaluation.experiment as experiment

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "execute_experiment", interrupted)
    assert _run(out, cfg, "--methods", "ensemble", "--overwrite") == 130
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert _run(tmp_path / "none", cfg, "--methods", "ensemble") == 130
    assert not (tmp_path / "none").exists()


def test_run_config_run_section_and_unknown_keys(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("run: {methds: [joint]}\n")
    assert _run(tmp_path / "r", cfg) == 2
    assert "unknown key 'methds'. Did you mean 'methods'?" in capsys.readouterr().err
    cfg.write_text(
        "data: {options: {n_samples: 300}}\ntrain: {epochs: 1}\nrun: {methods: [nope]}\n"
    )
    assert _run(tmp_path / "r", cfg) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    # A flag beats the file: --methods replaces the run section's list.
    assert _run(tmp_path / "r", cfg, "--methods", "ensemble", "--epochs", "1") == 0
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["methods"] == ["ensemble"] and results["spec"]["train"]["epochs"] == 1


@pytest.mark.parametrize(
    ("n_modalities", "types", "expected"),
    [
        (
            2,
            ["R", "U1", "U2", "S"],
            "uniqueness U1 / U2 (U1 is information only `x0` carries, U2 only `x1`) and synergy S;",
        ),
        (3, ["R", "U", "S"], "uniqueness U and synergy S, on each sample's most informative"),
        # No sample of type U: the wording still follows the number of modalities.
        (3, ["R", "S"], "uniqueness U and synergy S, on each sample's most informative"),
    ],
)
def test_report_composition_text_names_the_types_it_shows(n_modalities, types, expected):
    # With more than two modalities the types are R / U / S and U1 / U2 belong to each
    # sample's most informative pair; the text says so.
    from dmil.report.document import _composition

    stat = {"mean": 0.1, "std": 0.0, "n": 1}
    comp = {
        "types": types,
        "estimated": {t: stat for t in types},
        "true": None,
        "means_nats": {k: stat for k in ("R", "U1", "U2", "S")},
        "reported_as": "raw",
        "estimator_agreement": None,
        "measure": "ccs",
    }
    dataset = {"modalities": [{"name": f"x{m}"} for m in range(n_modalities)]}
    text = _composition({"composition": comp, "dataset": dataset}, [])[1][1]
    assert expected in text
    assert ("not the gate's U1, U2" in text) == (n_modalities > 2)


def test_run_report_states_the_majority_class_baseline(report):
    # Beside 1/C, the report gives what always predicting the test split's most frequent
    # class scores (on imbalanced test splits that is the bar a method must clear).
    results = json.loads((report / "results.json").read_text())
    with open(report / "runs" / "joint" / "seed0" / "predictions.csv", newline="") as fh:
        labels = [int(row["label"]) for row in csv.DictReader(fh)]
    majority = max(labels.count(c) for c in set(labels)) / len(labels)
    assert results["dataset"]["majority_test"] == pytest.approx(majority)
    text = (report / "report.md").read_text()
    if majority > 1 / results["dataset"]["n_classes"] + 0.005:
        assert f"most frequent class scores {majority:.3f}" in text
    else:
        assert "most frequent class" not in text


def test_run_report_states_the_budget_and_where_it_came_from(report):
    results = json.loads((report / "results.json").read_text())
    text = (report / "report.md").read_text()
    # 3 epochs under the budget's patience of 15: no early stopping can happen.
    assert "Every method: 3 epochs (no early stopping)" in text
    assert "staged methods split the epochs over their stages" in text
    assert results["budget"].startswith(
        "the benchmark budget of synthetic-mixed (the same as configs/synthetic-mixed.yaml"
    )
    assert ", then --config " in results["budget"]
    assert f"Settings: {results['budget']}." in text


def _summary(acc, by_type):
    """A method's summary as results.json holds it (accuracy; per type (values, n))."""
    from dmil.workflows.study import _type_accuracy, mean_std

    return {
        "accuracy": mean_std(acc),
        "by_interaction": {
            t: _type_accuracy([{"accuracy": a, "n": n} for a, n in zip(values, ns, strict=True)])
            for t, (values, ns) in by_type.items()
        },
    }


def test_report_findings_pool_types_over_seeds_name_ties_and_skip_small_types():
    from dmil.report.document import _findings, _type_cell

    results = {
        "methods": ["a", "b", "c"],
        "seeds": [0, 1],
        "dataset": {"n_classes": 2, "majority_test": 0.5},
        "composition": {"types": ["U1", "U2"]},
        "results": {
            # U2 has 4 + 1 samples: seed means 0.25 and 1.0, pooled 2/5.
            "a": _summary([0.8, 0.9], {"U1": ([0.5, 0.7], [30, 20]), "U2": ([0.25, 1.0], [4, 1])}),
            "b": _summary([0.9, 0.8], {"U1": ([0.6, 0.6], [30, 20]), "U2": ([0.5, 0.0], [4, 1])}),
            "c": _summary([0.7, 0.7], {"U1": ([0.6, 0.6], [30, 20]), "U2": ([0.0, 0.0], [4, 1])}),
        },
    }
    u2 = results["results"]["a"]["by_interaction"]["U2"]
    assert u2["pooled"] == pytest.approx(2 / 5) and u2["n"] == 5
    assert _type_cell(u2).startswith("0.400 ± ")
    items = _findings(results)
    # U1 pooled: a (15 + 14) / 50 = 0.580, b and c 0.600 (tied best); 25 per split is enough.
    assert (
        "U1 samples: best b (0.600 ± 0.000), c (0.600 ± 0.000) (tied), lowest a (0.580 ± 0.141)."
        in items
    )
    # U2: 2.5 samples per test split, not ranked (the threshold is per split, since seeds
    # may share one fixed test split).
    assert "U2 samples: 2.5 per test split on average, too few to rank the methods." in items
    # Each tied method with its own spread.
    results["results"]["b"]["accuracy"]["std"] = 0.05
    assert _findings(results)[0] == "Highest accuracy: a (0.850 ± 0.071), b (0.850 ± 0.050), tied."


def test_report_lists_every_type_and_says_how_the_split_was_made():
    from dmil.report.document import _pm_count, _split_origin
    from dmil.workflows.study import _composition, mean_std

    seed = {
        "estimated": ["R", "U1", "R"],
        "true": None,
        "means": {k: 0.1 for k in ("R", "U1", "U2", "S")},
        "reported_as": "raw",
        "source": "estimated",
        "n": 3,
        "seconds": 1.0,
    }
    comp = _composition([seed], ("R", "U1", "U2", "S"))
    # Types no test sample has are shown with share 0, not dropped.
    assert comp["types"] == ["R", "U1", "U2", "S"]
    assert comp["estimated"]["S"]["mean"] == 0.0
    assert _split_origin({"predefined_parts": []}) == ""
    assert _split_origin({"predefined_parts": ["test", "train", "val"]}) == (
        " (the data's own split kept)"
    )
    assert _split_origin({"predefined_parts": ["train", "val"]}) == (
        " (the data file's training and validation parts; test carved out of its training part)"
    )
    assert _split_origin({"predefined_parts": ["test", "val"]}) == (
        " (the data file's validation and test parts; training from the other samples)"
    )
    assert _pm_count(mean_std([8, 8])) == "8"
    assert _pm_count(mean_std([8, 9])) == "8.5 ± 0.7"


def test_report_says_when_one_component_dominates_and_what_own_compares_against():
    from dmil.report.document import _own_unimodal, _single_dominant_text
    from dmil.workflows.study import _merge_gates, mean_std

    # confusion[type][component]: seed 1 puts every sample on U2, seed 2 does not.
    gate = {"components": ["U1", "U2"], "types": ["U1", "U2"], "counts": [3, 5]}
    one = {**gate, "mean_gate": [[0.4, 0.6]] * 2, "confusion": [[0, 3], [0, 5]], "agreement": 0.6}
    two = {**one, "confusion": [[1, 2], [0, 5]]}
    assert _merge_gates([one, two])["single_dominant"] == ["U2", None]
    assert "(U2 in run 1)" in _single_dominant_text(["U2", None])
    assert "on U2 for every test sample" in _single_dominant_text(["U2"])
    assert _single_dominant_text([None, None]) == ""
    results = {
        "methods": ["joint", "dmil"],
        "dataset": {"modalities": [{"name": "a"}, {"name": "b"}]},
        "results": {
            "joint": {"per_modality_accuracy": {"a": mean_std([0.8]), "b": mean_std([0.6])}},
            "dmil": {"per_modality_accuracy": {"a": mean_std([0.3]), "b": mean_std([0.2])}},
        },
    }
    assert _own_unimodal(results) == (
        " (own per-modality accuracy, `a` / `b`: joint 0.800 / 0.600, dmil 0.300 / 0.200)."
    )


def test_run_report_gate_confusion_has_components_as_rows(report):
    # As `dmil explain` writes it: one row per gate component, one column per type.
    results = json.loads((report / "results.json").read_text())
    gate = results["gate"]
    assert gate["confusion_axes"] == ["types", "components"]
    text = (report / "report.md").read_text()
    table = text.split("as `dmil explain` writes them:")[1].split("\n\n")[1].splitlines()
    assert table[0] == "| dominant | " + " | ".join(gate["types"]) + " |"
    for k, component in enumerate(gate["components"]):
        cells = [int(c) for c in table[2 + k].strip("|").split("|")[1:]]
        assert table[2 + k].startswith(f"| {component} |")
        assert cells == [row[k] for row in gate["confusion"]]


def test_run_writes_only_what_overwrite_may_replace(report):
    from dmil.report.writer import REPORT_LAYOUT

    names = {p.name for p in report.iterdir()}
    assert "SHA256SUMS" in names and names - {"SHA256SUMS"} <= set(REPORT_LAYOUT.entries)


def test_run_names_where_an_unknown_method_came_from(tmp_path, capsys):
    assert _run(tmp_path / "r", _config(tmp_path), "--methods", "joint,jiont") == 2
    err = capsys.readouterr().err
    assert "--methods: unknown method 'jiont'" in err and "Did you mean 'joint'?" in err
    cfg = tmp_path / "m.yaml"
    cfg.write_text("run: {methods: [foo]}\n")
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert f"--config {cfg}: run.methods: unknown method 'foo'" in capsys.readouterr().err
    assert _run(tmp_path / "r", _config(tmp_path), "--epochs", "0") == 2
    assert "--epochs: expected a finite number >= 1, found 0" in capsys.readouterr().err
    # DMIL's three stages do not fit two epochs: refused before any method trains.
    assert _run(tmp_path / "r", _config(tmp_path), "--methods", "joint,dmil", "--epochs", "2") == 2
    err = capsys.readouterr().err
    assert "method dmil: epochs: 3 stages need at least 3 epochs" in err and "--epochs 3" in err
    assert "train joint" not in err
    assert not (tmp_path / "r").exists()


def test_overwrite_keeps_user_files_and_a_report_finished_meanwhile(tmp_path):
    from dmil.utils import OutputLayout, read_checksums, record_tree_sha256

    layout = OutputLayout(command="dmil run", what="a report", entries=("results.json", "runs"))

    def check(out, overwrite=True):
        layout.check(out, overwrite=overwrite)

    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    # A directory of known names but no SHA256SUMS is no earlier report.
    with pytest.raises(
        FileExistsError, match="no SHA256SUMS, where `dmil run` lists the files it wrote"
    ):
        check(out)
    (out / "results.json").write_text("{}")
    (out / "runs" / "m").mkdir()
    (out / "runs" / "m" / "best.ckpt").write_text("w")
    record_tree_sha256(out)
    (out / ".DS_Store").write_text("")  # file-browser litter does not block --overwrite
    check(out)
    # A file the report did not write, however deep, blocks the replacement.
    (out / "runs" / "m" / "mine.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"did not write \(runs/m/mine\.txt\)"):
        check(out)
    (out / "runs" / "m" / "mine.txt").unlink()
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        check(out, overwrite=False)
    # A file that arrives while the command runs blocks the replacement at the end; the
    # finished output is kept beside --out.
    tmp = tmp_path / ".out.tmp"
    tmp.mkdir()
    (tmp / "results.json").write_text('{"new": 1}')
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"notes\.txt.*kept in .*out\.new-\d+"):
        layout.publish(tmp, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    (kept,) = tmp_path.glob("out.new-*")
    assert (kept / "results.json").read_text() == '{"new": 1}'
    (out / "notes.txt").unlink()
    layout.publish(kept, out, overwrite=True)
    assert (out / "results.json").read_text() == '{"new": 1}'
    assert set(read_checksums(out)) == {"results.json"}  # the published output's own list
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staging_directories_of_killed_runs_are_removed(tmp_path):
    import subprocess

    from dmil.utils import OutputLayout

    layout = OutputLayout(command="dmil explain", what="explanations", entries=("a.csv",))
    out = tmp_path / "out"
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid whose process is gone
    stale = tmp_path / f".out.dmil-explain-{dead.pid}.tmp"
    alive = tmp_path / f".out.dmil-explain-{os.getppid()}.tmp"  # another run, still going
    other = tmp_path / f".other.dmil-explain-{dead.pid}.tmp"  # another --out
    for d in (stale, alive, other):
        d.mkdir()
    tmp = layout.staging(out)
    assert tmp == tmp_path / f".out.dmil-explain-{os.getpid()}.tmp"
    assert tmp.is_dir() and not any(tmp.iterdir())
    assert not stale.exists() and alive.is_dir() and other.is_dir()


def test_ctrl_c_during_publish_is_held_back_and_leaves_no_old_output(tmp_path, monkeypatch):
    import signal

    from dmil.utils import OutputLayout, record_tree_sha256

    layout = OutputLayout(command="dmil run", what="a report", entries=("results.json",))
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text('{"old": 1}')
    record_tree_sha256(out)
    tmp = layout.staging(out)
    (tmp / "results.json").write_text('{"new": 1}')
    real_replace = os.replace

    def interrupted_replace(src, dst):  # Ctrl-C right after the old output moved aside
        real_replace(src, dst)
        if Path(src) == out:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        layout.publish(tmp, out, overwrite=True)
    monkeypatch.setattr(os, "replace", real_replace)
    assert (out / "results.json").read_text() == '{"new": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_report_error_bars_stay_within_zero_and_one():
    from dmil.report.figures import _clipped_errors

    lower, upper = _clipped_errors([0.4, 0.95, float("nan")], [0.53, 0.1, None])
    assert lower.tolist() == pytest.approx([0.4, 0.1, 0.0])
    assert upper.tolist() == pytest.approx([0.53, 0.05, 0.0])


def test_run_report_explains_one_gate_when_several_gated_methods_ran(tmp_path):
    # dmil-fc and dmil both have gates; the report's gate section is dmil's alone.
    out = tmp_path / "r"
    assert _run(out, _config(tmp_path, epochs=3), "--methods", "dmil-fc,dmil") == 0
    results = json.loads((out / "results.json").read_text())
    assert results["gate"]["method"] == "dmil" and results["gate_note"] is None
    assert sum(results["gate"]["counts"]) == results["dataset"]["split"]["test"]
