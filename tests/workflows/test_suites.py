"""The benchmark budgets equal the repository's configs/*.yaml, and every suite entry
builds a valid spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dmil.workflows.bench import cell_spec
from dmil.workflows.suites import BENCH_DATASETS, BUDGETS, SUITES, budget_sections

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_budget_equals_the_repository_config(name):
    assert yaml.safe_load((CONFIGS / f"{name}.yaml").read_text()) == BUDGETS[name]


@pytest.mark.parametrize("entry", SUITES["all"])
def test_suite_entry_builds_a_spec(entry):
    spec = cell_spec(entry, "joint", 3, epochs=2)
    assert spec.data.dataset == BENCH_DATASETS[entry].dataset
    assert spec.train.seed == 3 and spec.train.epochs == 2 and spec.model.method == "joint"
    assert budget_sections(entry)["data"]["options"] == spec.data.options
