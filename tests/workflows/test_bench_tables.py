"""``dmil bench`` tables: DMIL's rank and its paired difference to the best baseline."""

from __future__ import annotations

from dmil.workflows.bench import markdown_tables


def _cell(method: str, seed: int, accuracy: float) -> dict:
    return {
        "dataset": "toy",
        "method": method,
        "seed": seed,
        "accuracy": accuracy,
        "macro_f1": accuracy,
        "synergy_indicator": 0.0,
        "by_interaction": {},
        "samples_per_second": 1000.0,
        "epochs_run": 10,
        "interaction_source": "true",
    }


def test_tables_with_only_dmil_cells_say_no_baseline_yet():
    text = markdown_tables(
        [_cell("dmil", 0, 0.9), _cell("dmil-fc", 0, 0.8)], ["toy"], ["dmil", "dmil-fc"]
    )
    assert "| toy | 1 of 2 | dmil 0.900 | - (no baseline run yet) |" in text


def test_rank_row_pairs_dmil_with_the_best_baseline_by_seed():
    cells = [
        _cell("dmil", 0, 0.90),
        _cell("dmil", 1, 0.80),
        _cell("dmil-cd", 0, 0.99),
        _cell("joint", 0, 0.85),
        _cell("joint", 1, 0.95),
        _cell("ensemble", 0, 0.70),
        _cell("ensemble", 1, 0.70),
    ]
    text = markdown_tables(cells, ["toy"], ["dmil", "dmil-cd", "joint", "ensemble"])
    # dmil-cd (an ablation) is the best method, joint the best baseline; paired
    # differences +0.05 and -0.15: mean -0.05, sample std 0.141.
    assert "| toy | 3 of 4 | dmil-cd 0.990 | -0.050 ± 0.141 (joint, 2 seeds) |" in text


def test_gate_table_sums_dmil_confusions_over_seeds():
    cells = []
    for seed, confusion in enumerate(([[3, 0], [1, 4]], [[2, 1], [0, 5]])):
        cell = _cell("dmil", seed, 0.9)
        cell["gate"] = {
            "component_names": ["R", "S"],
            "types": ["R", "S"],
            "confusion": confusion,
            "agreement": (confusion[0][0] + confusion[1][1]) / 8,
        }
        cells.append(cell)
    text = markdown_tables(cells, ["toy"], ["dmil"])
    assert "dmil: gate agreement 0.875 ± 0.000 (2 seeds)" in text
    assert "| R | 5 | 1 |" in text
    assert "| S | 1 | 9 |" in text
