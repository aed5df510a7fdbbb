"""`dmil bench`: tables and CSV of every cell, resumption without recomputation."""

from __future__ import annotations

import csv

import pytest
import torch

from dmil.cli import main
from dmil.workflows import suites

ARGS = ["bench", "--datasets", "synthetic-mixed", "--methods", "ensemble,joint", "--epochs", "1"]


@pytest.fixture(autouse=True)
def _small(monkeypatch):
    """A small synthetic-mixed budget (tests only) and one torch thread."""
    budget = {**suites.BUDGETS["synthetic-mixed"]}
    budget["data"] = {**budget["data"], "options": {"n_samples": 300}}
    budget["model"] = {**budget["model"], "embed_dim": 8}
    monkeypatch.setitem(suites.BUDGETS, "synthetic-mixed", budget)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _count_trainings(monkeypatch, *, fail_at: int | None = None):
    """Record every training run; the ``fail_at``-th one is interrupted (Ctrl-C)."""
    import dmil.evaluation.experiment as experiment

    real = experiment.execute_experiment
    calls = []

    def counted(spec, **kwargs):
        calls.append((spec.model.method, spec.train.seed))
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt
        return real(spec, **kwargs)

    monkeypatch.setattr(experiment, "execute_experiment", counted)
    return calls


def test_bench_writes_tables_and_csv_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "bench"
    calls = _count_trainings(monkeypatch)
    assert main([*ARGS, "--seeds", "2", "--out", str(out)]) == 0
    assert len(calls) == 4
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert {(r["method"], r["seed"]) for r in rows} == {
        (m, s) for m in ("ensemble", "joint") for s in ("0", "1")
    }
    assert all(0 <= float(r["accuracy"]) <= 1 and r["acc_S"] for r in rows)
    tables = (out / "tables.md").read_text()
    assert "**synthetic-mixed** (interactions: true)" in tables
    assert "| method | accuracy | macro-F1 | synergy ind. | acc R (n) |" in tables
    assert "| ensemble | " in tables and " | 2 |" in tables  # two seeds
    # Resumed: nothing is recomputed; a removed cell (as if killed) is redone alone.
    calls.clear()
    assert main([*ARGS, "--seeds", "2", "--out", str(out)]) == 0
    assert calls == []
    (out / "cells" / "synthetic-mixed" / "joint" / "seed1.json").unlink()
    assert main([*ARGS, "--seeds", "2", "--out", str(out)]) == 0
    assert calls == [("joint", 1)]


def test_bench_interrupted_cell_is_redone(tmp_path, monkeypatch):
    out = tmp_path / "bench"
    calls = _count_trainings(monkeypatch, fail_at=2)
    assert main([*ARGS, "--seeds", "1", "--out", str(out)]) == 130
    assert [p.parent.name for p in (out / "cells").glob("*/*/seed0.json")] == ["ensemble"]
    calls.clear()  # the next call is number 1: no interruption
    assert main([*ARGS, "--seeds", "1", "--out", str(out)]) == 0
    assert calls == [("joint", 0)]


def test_bench_unknown_suite_and_method_are_named(tmp_path, capsys):
    assert main(["bench", "--suite", "synthtic", "--out", str(tmp_path / "b")]) == 2
    assert "Did you mean 'synthetic'?" in capsys.readouterr().err
    assert main([*ARGS[:3], "--methods", "jiont", "--out", str(tmp_path / "b")]) == 2
    assert "unknown method 'jiont'" in capsys.readouterr().err


def test_bench_records_the_gate_of_gated_models_only(tmp_path):
    import json

    out = tmp_path / "bench"
    args = ["bench", "--datasets", "synthetic-mixed", "--methods", "dmil,dmil-mean,joint"]
    assert main([*args, "--epochs", "3", "--seeds", "1", "--out", str(out)]) == 0
    cells = {
        m: json.loads((out / "cells" / "synthetic-mixed" / m / "seed0.json").read_text())
        for m in ("dmil", "dmil-mean", "joint")
    }
    gate = cells["dmil"]["gate"]
    assert gate["component_names"] == ["R", "U1", "U2", "S"]
    assert 0.0 <= gate["agreement"] <= 1.0
    assert sum(map(sum, gate["confusion"])) == cells["dmil"]["n_test"]
    assert cells["dmil-mean"]["gate"] is None  # a fixed uniform average says nothing
    assert cells["joint"]["gate"] is None
    tables = (out / "tables.md").read_text()
    assert "- dmil: gate agreement" in tables and "| dominant | R | U1 | U2 | S |" in tables
