"""`dmil run`: every file written, every number of the report taken from results.json,
embedded images, atomic replacement, interruption, --config precedence and replay."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re

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
        (2, ["R", "U1", "U2", "S"], "uniqueness U1 / U2 and synergy S;"),
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
    assert ("that pair" in text) == (n_modalities > 2)


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
