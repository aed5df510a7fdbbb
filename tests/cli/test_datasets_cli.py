"""``dmil datasets`` lists every registered dataset readably."""

from __future__ import annotations

import subprocess
import sys

from dmil.cli import main
from dmil.data import available_datasets


def test_datasets_cli_lists_every_registered_name(capsys) -> None:
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in available_datasets():
        assert f"{name}:" in out
    assert out.count("source:") >= len(available_datasets())


def test_datasets_cli_unknown_name_exits_2_and_lists_known(capsys) -> None:
    assert main(["datasets", "no-such-set"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'no-such-set'" in err and "known datasets:" in err


def test_cli_module_entry_point_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dmil", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stdout.startswith("dmil ")
