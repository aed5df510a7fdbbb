"""Commands import only what they use: no Lightning, no torch._dynamo, no scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dmil.cli.estimate import MEASURE_CHOICES
from dmil.data import load, write_lsmi_pt
from dmil.interactions import MEASURES

HEAVY = ("lightning", "torch._dynamo", "sklearn", "scipy.optimize", "dmil.training.loop")


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    modules = set(json.loads(out.strip().splitlines()[-1]))
    return [m for m in HEAVY if m in modules]


def test_estimate_measure_choices_match_the_library() -> None:
    assert tuple(MEASURE_CHOICES) == tuple(MEASURES)


def test_data_dir_help_names_the_registry_default() -> None:
    from dmil.cli.spec_flags import DATA_DIR_HELP
    from dmil.data.registry import DATA_DIR_ENV, DEFAULT_DATA_DIR

    assert f"${DATA_DIR_ENV}, else {DEFAULT_DATA_DIR.as_posix()}" in DATA_DIR_HELP


def test_import_dmil_cli_pulls_in_no_heavy_module() -> None:
    # dmil.training.config is what the train parser needs; it must not import Lightning.
    code = "import dmil.cli, dmil.training.config; dmil.cli.build_parser()"
    assert _loaded_after(code) == []


def test_dmil_estimate_runs_without_heavy_modules(tmp_path: Path) -> None:
    data = load("synthetic-gaussian", n_samples=300, n_classes=2, dim=2, random_state=0)
    split = {"train": list(range(240)), "val": list(range(240, 300))}
    path = write_lsmi_pt(data, tmp_path / "demo.pt", splits=split)
    out = tmp_path / "out"
    code = (
        "from dmil.cli import main\n"
        f"assert main(['estimate', '--data', {str(path)!r}, '--out', {str(out)!r}, "
        "'--measure', 'lsmi', '--max-epochs', '5', '--no-progress']) == 0"
    )
    assert _loaded_after(code) == []
    assert (out / "summary.json").is_file()


def test_dmil_estimate_no_plots_skips_matplotlib(tmp_path: Path) -> None:
    data = load("synthetic-gaussian", n_samples=200, n_classes=2, dim=2, random_state=0)
    split = {"train": list(range(160)), "val": list(range(160, 200))}
    path = write_lsmi_pt(data, tmp_path / "demo.pt", splits=split)
    out = tmp_path / "out"
    code = (
        "from dmil.cli import main\n"
        f"assert main(['estimate', '--data', {str(path)!r}, '--out', {str(out)!r}, "
        "'--max-epochs', '3', '--no-progress', '--no-plots']) == 0\n"
        "import sys\nassert 'matplotlib' not in sys.modules"
    )
    assert _loaded_after(code) == []
    assert (out / "summary.json").is_file() and not list(out.glob("*.png"))


def test_library_modules_import_lightning_only_to_train() -> None:
    # Evaluation, checkpoints and the loop's module import Lightning only where a Fabric
    # object is built; registered datasets import SciPy only to read a .mat file.
    code = (
        "import dmil.evaluation.experiment, dmil.evaluation.predict, "
        "dmil.training.checkpoint, dmil.training.loop, dmil.data\n"
        "import sys\nassert 'scipy' not in sys.modules, 'scipy'"
    )
    assert _loaded_after(code) == ["dmil.training.loop"]


def test_second_dmil_train_on_a_split_imports_no_scikit_learn(tmp_path: Path) -> None:
    # The shared unimodal reference is read from the cache; macro-F1 needs no sklearn.
    args = (
        "['train', '--dataset', 'synthetic-mixed', '--data-option', 'n_samples=200', "
        "'--method', 'joint', '--epochs', '1', '--no-progress', '--overwrite', "
        f"'--out', {str(tmp_path / 'run')!r}]"
    )
    code = (
        "import os\n"
        f"os.environ['DMIL_CACHE_DIR'] = {str(tmp_path / 'cache')!r}\n"
        "from dmil.cli import main\n"
        f"assert main({args}) == 0"
    )
    assert "sklearn" in _loaded_after(code)
    assert "sklearn" not in _loaded_after(code)
