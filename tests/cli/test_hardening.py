"""Hostile input, concurrent runs, corrupted files and I/O faults, through the command
line and the Python API.

Every case asserts the exit code, the one-line message (``dmil <command>: error: ...``
naming what is wrong) and that nothing partial is left in or beside ``--out``. Cases
that need a real file system fault (a full or read-only disk) mount a small tmpfs and
are skipped, with the reason, where the test cannot mount one (not root, or no mount
permission in the container). Signals and concurrent runs use subprocesses; they are
made deterministic by stopping a process (SIGSTOP) at a known point instead of racing
it against a timer.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import dmil.cli.datasets
from dmil.cli import main
from dmil.utils import LOCK_FILE, RunDirectoryBusyError, RunLock, Terminated

TRAIN = [
    "train",
    "--dataset",
    "synthetic-mixed",
    "--data-option",
    "n_samples=200",
    "--method",
    "joint",
    "--embed-dim",
    "8",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--seed",
    "3",
    "--device",
    "cpu",
    "--num-threads",
    "1",
    "--no-progress",
]
_LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING) \S+: ")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train_args(out: Path, *extra: str, epochs: int | None = None) -> list[str]:
    args = list(TRAIN)
    if epochs is not None:
        args[args.index("--epochs") + 1] = str(epochs)
    return [*args, "--out", str(out), *extra]


def _messages(err: str) -> list[str]:
    """stderr without log records (those have their own ``LEVEL logger:`` prefix) and
    warnings from libraries."""
    return [
        line
        for line in err.splitlines()
        if line.strip() and not _LOG_LINE.match(line) and "Warning" not in line
    ]


def _partial(directory: Path) -> list[str]:
    """Temporary files, temporary directories and lock files under ``directory``."""
    if not directory.exists():
        return []
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.name.endswith(".tmp") or p.name == LOCK_FILE or ".tmp." in p.name
    )


def _assert_failed(
    code: int, err: str, command: str, *fragments: str, expected_code: int = 2
) -> str:
    lines = _messages(err)
    assert code == expected_code, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"dmil {command}: error: "), lines[0]
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def _assert_clean(out: Path, *, existed: bool = False) -> None:
    """Nothing partial in ``out`` and nothing beside it; ``out`` gone unless it existed."""
    if not existed:
        assert not out.exists(), sorted(p.name for p in out.iterdir())
    assert not _partial(out)
    beside = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    assert not beside, beside


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


# ------------------------------------------------------------------ mounts
@contextlib.contextmanager
def _tmpfs(path: Path, size: str = "2m", *, read_only: bool = False) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` (skip the test when that is impossible)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; run the suite as root to include this case")
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip() or res.returncode}")
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(directory: Path, leave: int = 0) -> Path:
    """Fill the file system of ``directory`` until ``leave`` bytes are free."""
    filler = directory / "filler"
    block = b"\0" * 4096
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            os.write(fd, block)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, max(filler.stat().st_size - leave, 0))
    return filler


# --------------------------------------------------------------- trained run
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hardening") / "run"
    torch.set_num_threads(1)
    assert main(_train_args(out)) == 0
    return out


def _resave(source: Path, target: Path, change) -> Path:
    """Copy a checkpoint with ``change(content)`` applied, digest recomputed."""
    from dmil.training import TrainConfig, build_fabric, read_checkpoint, save_checkpoint

    content = read_checkpoint(source)
    change(content)
    fabric = build_fabric(TrainConfig(accelerator="cpu", progress=False))
    return save_checkpoint(fabric, target, {k: v for k, v in content.items() if k != "format"})


def _flip_weight_bits(path: Path) -> None:
    """Flip bits in the stored bytes of the largest weight tensor (the zip structure and
    the pickle stay intact, so torch.load alone would not notice)."""
    from dmil.training import read_checkpoint

    weights = read_checkpoint(path)["model"]
    name = max(weights, key=lambda k: weights[k].numel())
    raw = weights[name].contiguous().numpy().tobytes()
    data = bytearray(path.read_bytes())
    at = data.find(raw)
    assert at >= 0, "tensor bytes not found in the file"
    for i in range(at + 16, at + 48):
        data[i] ^= 0x40
    path.write_bytes(bytes(data))


# =========================================================== numeric flags
@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--lr", "nan"),
        ("--lr", "-0.1"),
        ("--lr", "0"),
        ("--lr", "inf"),
        ("--weight-decay", "nan"),
        ("--weight-decay", "-1"),
        ("--epochs", "0"),
        ("--epochs", "-3"),
        ("--batch-size", "0"),
        ("--seed", "-1"),
        ("--embed-dim", "0"),
        ("--num-threads", "0"),
        ("--patience", "-2"),
    ],
)
def test_train_bad_numeric_flag_is_named(flag, value, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _cli(_train_args(out, flag, value), capsys)
    _assert_failed(code, err, "train", flag, f"found {float(value):g}")
    _assert_clean(out)


def test_train_precision_16_true_on_cpu_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _cli(_train_args(out, "--precision", "16-true"), capsys)
    _assert_failed(code, err, "train", "--precision 16-true", "32-true")
    _assert_clean(out)


# ================================================================ configs
def test_train_malformed_yaml_names_file_and_line(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("train:\n  epochs: 3\n  lr: [0.1\nmodel: {method: joint}\n")
    out = tmp_path / "out"
    code, err = _cli(_train_args(out, "--config", str(config)), capsys)
    line = _assert_failed(code, err, "train", "bad.yaml")
    assert "line" in line.lower()
    _assert_clean(out)


def test_train_yaml_that_is_not_a_mapping_is_refused(tmp_path, capsys):
    config = tmp_path / "list.yaml"
    config.write_text("- 1\n- 2\n")
    out = tmp_path / "out"
    code, err = _cli(_train_args(out, "--config", str(config)), capsys)
    _assert_failed(code, err, "train", "list.yaml")
    _assert_clean(out)


def test_train_missing_config_file(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _cli(_train_args(out, "--config", str(tmp_path / "nowhere.yaml")), capsys)
    _assert_failed(code, err, "train", "nowhere.yaml")
    _assert_clean(out)


# ================================================================== names
@pytest.mark.parametrize(
    ("flag", "value", "suggestion"),
    [
        ("--method", "jiont", "'joint'"),
        ("--encoder", "mpl", "'mlp'"),
        ("--dataset", "synthetic-mixd", "'synthetic-mixed'"),
    ],
)
def test_unknown_name_suggests_the_close_match(flag, value, suggestion, tmp_path, capsys):
    args = _train_args(tmp_path / "out")
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    code, err = _cli(args, capsys)
    line = _assert_failed(code, err, "train", value, suggestion)
    assert "Did you mean" in line or "did you mean" in line
    _assert_clean(tmp_path / "out")


def test_method_registry_suggests_a_close_match():
    from dmil.models import build_model

    with pytest.raises(ValueError, match=r"Did you mean 'ensemble'\?"):
        build_model("ensembel", input_shapes=[(3,), (3,)], n_classes=2)


def test_usage_error_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(_train_args(tmp_path / "out", "--epochs", "abc"))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert _messages(err) == [
        "dmil train: error: argument --epochs: invalid int value: 'abc' (see dmil train --help)"
    ]
    _assert_clean(tmp_path / "out")


# ========================================================== run directories
def test_train_out_that_is_a_file(tmp_path, capsys):
    out = tmp_path / "file"
    out.write_text("mine")
    code, err = _cli(_train_args(out), capsys)
    _assert_failed(code, err, "train", "not a directory")
    assert out.read_text() == "mine"


def test_train_occupied_out_without_overwrite(trained, capsys):
    before = {p.name: p.read_bytes() for p in trained.iterdir()}
    code, err = _cli(_train_args(trained), capsys)
    _assert_failed(code, err, "train", "--overwrite")
    assert {p.name: p.read_bytes() for p in trained.iterdir()} == before
    _assert_clean(trained, existed=True)


def test_train_overwrite_and_resume_exclude_each_other(tmp_path, capsys):
    code, err = _cli(_train_args(tmp_path / "out", "--overwrite", "--resume"), capsys)
    _assert_failed(code, err, "train", "--overwrite", "--resume")
    _assert_clean(tmp_path / "out")


def test_overwrite_removes_stale_temporaries_of_crashed_runs(tmp_path):
    from dmil.evaluation.outputs import prepare_out_dir

    out = tmp_path / "run"
    out.mkdir()
    stale = [".best.ckpt.tmp", ".last.ckpt.4242.tmp", ".metrics.json.x1y2.tmp", "last.ckpt"]
    for name in [*stale, "notes.txt"]:
        (out / name).write_text("x")
    prepare_out_dir(out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_checkpoint_temporary_names_are_unique_per_process(tmp_path):
    from dmil.training.checkpoint import temporary_checkpoint_path

    tmp = temporary_checkpoint_path(tmp_path / "best.ckpt")
    assert tmp.parent == tmp_path and str(os.getpid()) in tmp.name
    assert tmp.name.startswith(".best.ckpt.") and tmp.name.endswith(".tmp")


def test_run_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    out = tmp_path / "locked"
    script = (
        "import sys, time; from dmil.utils import RunLock\n"
        "with RunLock(sys.argv[1], command='holder'):\n"
        "    print('locked', flush=True); sys.stdin.readline()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirectoryBusyError, match=rf"pid {holder.pid} .*`holder`, started"):
            RunLock(out).acquire()
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    assert not out.exists()  # the holder created it, wrote nothing, removed it
    with RunLock(out):  # free again
        pass


def test_run_lock_takes_over_a_stale_marker_and_is_reentrant(tmp_path):
    out = tmp_path / "stale"
    out.mkdir()
    dead = {"pid": 999999, "host": "elsewhere", "command": "dmil train", "started": "then"}
    (out / LOCK_FILE).write_text(json.dumps(dead))
    with RunLock(out, command="me"):
        info = json.loads((out / LOCK_FILE).read_text())
        assert info["pid"] == os.getpid() and info["command"] == "me"
        with RunLock(out):  # the library inside the command line takes it again
            pass
        assert (out / LOCK_FILE).exists()
    assert not (out / LOCK_FILE).exists() and out.is_dir()


# ======================================================== disk faults (tmpfs)
def test_train_read_only_out_fails_before_training(tmp_path, capsys):
    with _tmpfs(tmp_path / "ro", read_only=True) as ro:
        out = ro / "run"
        start = time.monotonic()
        code, err = _cli(_train_args(out), capsys)
        _assert_failed(code, err, "train", "read-only", str(out))
        assert not out.exists()
    assert time.monotonic() - start < 60


def test_train_true_interactions_without_truth_fail_before_training(tmp_path, capsys):
    # Asking for interaction truth the data lack used to fail after the last epoch and
    # leave checkpoints behind that blocked the corrected rerun.
    npz = tmp_path / "plain.npz"
    np.savez(npz, **_npz(80))
    out = tmp_path / "run"
    args = ["train", "--data", str(npz), "--method", "joint", "--epochs", "2", "--no-progress"]
    code, err = _cli([*args, "--interactions", "true", "--out", str(out)], capsys)
    _assert_failed(code, err, "train", "no per-sample interaction truth", "--interactions")
    assert not out.exists() or not any(out.iterdir())
    # The corrected rerun trains; the file's float64 features (NumPy's default) enter the
    # float32 encoders in their dtype.
    code, err = _cli([*args, "--out", str(out)], capsys)
    assert code == 0, err


def test_resume_with_other_data_names_only_what_differs(trained, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    args = _train_args(run, "--resume")
    args[args.index("n_samples=200")] = "n_samples=240"
    code, err = _cli(args, capsys)
    line = _assert_failed(code, err, "train", "cannot resume", "n_samples: checkpoint 200")
    assert "requested 240" in line and len(line) < 600, line
    assert "extra.spec." not in line  # the spec's copy of the data section is not repeated


def test_train_read_only_existing_out(tmp_path, capsys):
    with _tmpfs(tmp_path / "ro2") as mount:
        (mount / "run").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        code, err = _cli(_train_args(mount / "run"), capsys)
        _assert_failed(code, err, "train", "read-only")
        assert list((mount / "run").iterdir()) == []


def test_train_without_free_space_fails_before_training(tmp_path, capsys):
    with _tmpfs(tmp_path / "small") as mount:
        _fill(mount, leave=256 << 10)
        out = mount / "run"
        code, err = _cli(_train_args(out), capsys)
        _assert_failed(code, err, "train", "not enough free space", "free")
        _assert_clean(out)


def test_estimate_on_a_full_disk_leaves_nothing(tmp_path, capsys):
    with _tmpfs(tmp_path / "full") as mount:
        _fill(mount)
        out = mount / "est"
        code, err = _cli(
            ["estimate", "--dataset", "synthetic-xor", "--data-option", "n_samples=400"]
            + ["--no-reference", "--out", str(out)],
            capsys,
        )
        _assert_failed(code, err, "estimate", "No space left on device")
        _assert_clean(out)


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the process ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def _spawn(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dmil.cli", *argv],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_full_disk_mid_run_leaves_no_temporaries_and_resume_continues(tmp_path, capsys, caplog):
    with _tmpfs(tmp_path / "disk", size="3m") as mount:
        out = mount / "run"
        proc = _spawn(_train_args(out, "--patience", "0", epochs=40))
        try:
            _wait_for(lambda: (out / "last.ckpt").is_file(), proc, "the first checkpoint")
            proc.send_signal(signal.SIGSTOP)
            filler = _fill(mount)
        finally:
            proc.send_signal(signal.SIGCONT)
        _, err = proc.communicate(timeout=240)
        _assert_failed(proc.returncode, err, "train", "No space left on device")
        assert not _partial(out), _partial(out)
        assert not [p for p in mount.iterdir() if p.name.startswith(".run")]
        filler.unlink()
        caplog.set_level(logging.INFO, logger="dmil.training.loop")
        code, err = _cli(_train_args(out, "--patience", "0", "--resume", epochs=40), capsys)
        assert code == 0, err
        resumed = [r.getMessage() for r in caplog.records if "resuming from" in r.getMessage()]
        assert resumed and not re.search(r"after epoch 0\b", resumed[0]), resumed
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["epochs_run"] == 40
        assert not _partial(out)


# ============================================================ signals, races
@pytest.mark.slow
def test_concurrent_run_is_refused_and_sigterm_leaves_a_resumable_run(tmp_path, capsys):
    """Two runs into one --out: the second fails at once naming the first; then SIGTERM
    ends the first with 143, a --resume hint and no temporary file, and --resume
    finishes it. (One training process serves both cases: start-up is the slow part.)"""
    out = tmp_path / "shared"
    first = _spawn(_train_args(out, "--patience", "0", epochs=40))
    try:
        _wait_for(
            lambda: (out / LOCK_FILE).is_file() and (out / LOCK_FILE).read_text().strip(),
            first,
            "the first run's lock",
        )
        first.send_signal(signal.SIGSTOP)  # holds the lock while the second run starts
        second = subprocess.run(
            [sys.executable, "-m", "dmil.cli", *_train_args(out, "--overwrite")],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=240,
        )
        _assert_failed(
            second.returncode, second.stderr, "train", f"pid {first.pid}", "in use", "started"
        )
    finally:
        first.send_signal(signal.SIGCONT)
    _wait_for(lambda: (out / "last.ckpt").is_file(), first, "the first checkpoint")
    first.send_signal(signal.SIGSTOP)
    first.send_signal(signal.SIGTERM)
    first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=240)
    assert first.returncode == 143, err
    lines = _messages(err)
    assert len(lines) == 1 and "terminated by SIGTERM" in lines[0] and "--resume" in lines[0]
    assert "Traceback" not in err
    assert not _partial(out), _partial(out)
    assert not (out / "metrics.json").exists()
    # Rerun without --resume: told that the directory holds an unfinished run.
    code, err = _cli(_train_args(out, "--patience", "0", epochs=40), capsys)
    _assert_failed(code, err, "train", "holds an unfinished run", "--resume")
    code, err = _cli(_train_args(out, "--patience", "0", "--resume", epochs=40), capsys)
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 40
    assert not _partial(out)


@pytest.mark.slow
def test_sigterm_during_estimate_leaves_nothing(tmp_path):
    out = tmp_path / "est"
    proc = _spawn(
        ["estimate", "--dataset", "synthetic-mixed", "--data-option", "n_samples=3000"]
        + ["--no-progress", "--out", str(out)]
    )
    _wait_for(lambda: out.is_dir() and any(out.glob(".estimate.*.tmp")), proc, "the temp dir")
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 143, err
    assert [line for line in _messages(err)] == ["dmil estimate: terminated by SIGTERM"]
    _assert_clean(out)


# ======================================================= checkpoints, evaluate
def test_evaluate_refuses_flipped_weight_bits(trained, tmp_path, capsys):
    bad = tmp_path / "flipped.ckpt"
    bad.write_bytes((trained / "best.ckpt").read_bytes())
    _flip_weight_bits(bad)
    torch.load(bad, weights_only=True)  # torch alone accepts the damaged file
    code, err = _cli(["evaluate", "--checkpoint", str(bad)], capsys)
    _assert_failed(code, err, "evaluate", str(bad), "corrupted", "digest")


def test_read_checkpoint_refuses_flipped_bits_and_resume_falls_back(trained, tmp_path):
    from dmil.training.checkpoint import find_resume_checkpoint, read_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    for name in ("best.ckpt", "last.ckpt"):
        (run / name).write_bytes((trained / name).read_bytes())
    _flip_weight_bits(run / "last.ckpt")
    with pytest.raises(ValueError, match=r"last\.ckpt is corrupted"):
        read_checkpoint(run / "last.ckpt")
    assert find_resume_checkpoint(run) == run / "best.ckpt"
    _flip_weight_bits(run / "best.ckpt")
    with pytest.raises(ValueError, match="no intact checkpoint"):
        find_resume_checkpoint(run)


def test_evaluate_truncated_checkpoint(trained, tmp_path, capsys):
    bad = tmp_path / "cut.ckpt"
    bad.write_bytes((trained / "best.ckpt").read_bytes()[:5000])
    code, err = _cli(["evaluate", "--checkpoint", str(bad)], capsys)
    _assert_failed(code, err, "evaluate", str(bad), "not a readable dmil checkpoint")


def test_evaluate_malicious_checkpoint_is_not_unpickled(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    torch.save({"model": _Evil(str(marker))}, tmp_path / "evil.ckpt")
    code, err = _cli(["evaluate", "--checkpoint", str(tmp_path / "evil.ckpt")], capsys)
    line = _assert_failed(code, err, "evaluate", "evil.ckpt", "refused to unpickle")
    assert "weights_only" not in line
    assert not marker.exists()


def test_evaluate_out_never_replaces_run_files_and_asks_before_others(trained, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()}
    for name in ("best.ckpt", "metrics.json", "predictions.csv", "SHA256SUMS"):
        argv = ["evaluate", "--checkpoint", str(trained), "--out", str(trained / name)]
        code, err = _cli([*argv, "--overwrite"], capsys)
        _assert_failed(code, err, "evaluate", "file of a dmil run", "choose another --out")
    assert {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()} == before
    mine = tmp_path / "mine.json"
    mine.write_text("{}")
    code, err = _cli(["evaluate", "--checkpoint", str(trained), "--out", str(mine)], capsys)
    _assert_failed(code, err, "evaluate", "exists", "--overwrite")
    assert mine.read_text() == "{}"
    code, err = _cli(
        ["evaluate", "--checkpoint", str(trained), "--out", str(mine), "--overwrite"], capsys
    )
    assert code == 0, err
    assert "test" in json.loads(mine.read_text())


def test_evaluate_missing_checkpoint(tmp_path, capsys):
    code, err = _cli(["evaluate", "--checkpoint", str(tmp_path / "nowhere")], capsys)
    _assert_failed(code, err, "evaluate", "not found")


def test_evaluate_checks_class_count_against_the_data(trained, tmp_path, capsys):
    def fewer_classes(content):
        content["extra"]["spec"]["data"]["options"]["n_classes"] = 3

    bad = _resave(trained / "best.ckpt", tmp_path / "classes.ckpt", fewer_classes)
    code, err = _cli(["evaluate", "--checkpoint", str(bad)], capsys)
    _assert_failed(code, err, "evaluate", "4 classes", "has 3", "does not fit")


def test_evaluate_checks_shapes_against_the_data(trained, tmp_path, capsys):
    def wider(content):
        content["extra"]["spec"]["data"]["options"]["dim"] = 7

    bad = _resave(trained / "best.ckpt", tmp_path / "wide.ckpt", wider)
    code, err = _cli(["evaluate", "--checkpoint", str(bad)], capsys)
    _assert_failed(code, err, "evaluate", "shape", "(7,)", "does not fit")


def test_result_files_carry_digests_and_changes_are_detected(trained, tmp_path):
    from dmil.evaluation.outputs import read_json
    from dmil.utils import read_checksums, verify_sha256

    sums = read_checksums(trained)
    assert {"metrics.json", "predictions.csv", "metrics.csv"} <= set(sums)
    assert all(verify_sha256(trained / name) for name in sums)
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("metrics.json", "SHA256SUMS"):
        (copy / name).write_bytes((trained / name).read_bytes())
    text = (copy / "metrics.json").read_text().replace('"seed": 3', '"seed": 4')
    (copy / "metrics.json").write_text(text)
    with pytest.raises(ValueError, match=r"metrics\.json is corrupted or was changed"):
        read_json(copy / "metrics.json")


# ================================================================= estimate
def _estimate(out: Path, *extra: str) -> list[str]:
    return [
        "estimate",
        "--dataset",
        "synthetic-xor",
        "--data-option",
        "n_samples=400",
        "--no-reference",
        "--no-progress",
        "--max-epochs",
        "3",
        "--out",
        str(out),
        *extra,
    ]


def test_estimate_never_overwrites_without_overwrite(tmp_path, capsys):
    out = tmp_path / "est"
    out.mkdir()
    (out / "summary.json").write_text('{"old": true}')
    code, err = _cli(_estimate(out), capsys)
    _assert_failed(code, err, "estimate", "summary.json", "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert (out / "summary.json").read_text() == '{"old": true}'
    code, err = _cli(_estimate(out, "--overwrite"), capsys)
    assert code == 0, err
    assert "old" not in json.loads((out / "summary.json").read_text())
    from dmil.utils import verify_sha256

    assert verify_sha256(out / "summary.json") and verify_sha256(out / "interactions.csv")
    _assert_clean(out, existed=True)


def test_estimate_overwrite_lists_exactly_the_files_present(tmp_path, capsys):
    """An --overwrite run that writes fewer files (no plots) removes the earlier plots and
    their SHA256SUMS entries, so ``sha256sum -c`` passes on what is there."""
    from dmil.utils import read_checksums, verify_sha256

    out = tmp_path / "est"
    code, err = _cli(_estimate(out), capsys)
    assert code == 0, err
    assert (out / "components.png").is_file()
    code, err = _cli(_estimate(out, "--overwrite", "--no-plots"), capsys)
    assert code == 0, err
    files = sorted(p.name for p in out.iterdir() if p.name != "SHA256SUMS")
    assert files == ["interactions.csv", "summary.json"]
    assert sorted(read_checksums(out)) == files
    assert all(verify_sha256(out / name) for name in files)


def test_signals_are_held_back_until_the_block_ends():
    from dmil.utils import signals_deferred

    reached, before = [], signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # a handler would have run by now
            reached.append("end of block")
    assert reached == ["end of block"]
    assert signal.getsignal(signal.SIGINT) is before


def test_sigterm_while_the_temporary_file_is_made_leaves_no_file(tmp_path, monkeypatch):
    import tempfile

    from dmil.utils import atomic_path, raise_on_sigterm

    real = tempfile.mkstemp

    def mkstemp_then_sigterm(*args, **kwargs):
        made = real(*args, **kwargs)  # the file exists; its name is not yet returned
        signal.raise_signal(signal.SIGTERM)
        return made

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_sigterm)
    target = tmp_path / "metrics.csv"
    with pytest.raises(Terminated), raise_on_sigterm():
        with atomic_path(target) as tmp:
            tmp.write_text("never published")
    assert list(tmp_path.iterdir()) == []


def test_estimate_into_a_locked_out_is_refused(tmp_path, capsys):
    out = tmp_path / "busy"
    script = (
        "import sys; from dmil.utils import RunLock\n"
        "with RunLock(sys.argv[1], command='dmil train'):\n"
        "    print('locked', flush=True); sys.stdin.readline()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, err = _cli(_estimate(out), capsys)
        _assert_failed(code, err, "estimate", "in use", f"pid {holder.pid}")
    finally:
        holder.communicate("\n", timeout=30)
    _assert_clean(out)


@pytest.mark.parametrize("value", ["nan", "-0.2"])
def test_estimate_bad_split_fraction(value, tmp_path, capsys):
    out = tmp_path / "est"
    code, err = _cli(_estimate(out, "--val-size", value), capsys)
    _assert_failed(code, err, "estimate", "val_size")
    _assert_clean(out)


# ====================================================== hostile data files
def _lsmi(n: int = 40, d: int = 3) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "train_modal_1_features": torch.randn(n, d, generator=g),
        "train_modal_2_features": torch.randn(n, d, generator=g),
        "train_targets": torch.arange(n) % 2,
        "val_modal_1_features": torch.randn(n, d, generator=g),
        "val_modal_2_features": torch.randn(n, d, generator=g),
        "val_targets": torch.arange(n) % 2,
    }


def _npz(n: int = 40) -> dict:
    rng = np.random.default_rng(0)
    return {
        "modality_names": np.array(["a", "b"]),
        "x_a": rng.standard_normal((n, 3)),
        "x_b": rng.standard_normal((n, 3)),
        "y": np.arange(n) % 2,
    }


class _Evil:
    """Unpickles as a call that creates a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _huge_npy_header(path: Path) -> None:
    """Replace x_a.npy inside the archive by a header declaring 2**40 rows."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    buf = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": (2**40, 3)}
    np.lib.format.write_array_header_1_0(buf, header)
    members["x_a.npy"] = buf.getvalue() + b"\0" * 64
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _hostile_file(kind: str, d: Path) -> Path:
    blob = _lsmi()
    stem = re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")
    npz = d / f"{stem}.npz"
    if kind == "targets (N/2, 2)":
        blob["train_targets"] = (torch.arange(40) % 2).reshape(20, 2)
    elif kind == "boolean targets":
        blob["train_targets"] = (torch.arange(40) % 2).bool()
        blob["val_targets"] = (torch.arange(40) % 2).bool()
    elif kind == "unknown split tag":
        arrays = _npz()
        arrays["split"] = np.array(["train"] * 30 + ["validation"] * 10)
        np.savez(npz, **arrays)
        return npz
    elif kind == "1-D features":
        blob["train_modal_1_features"] = torch.randn(40)
        blob["val_modal_1_features"] = torch.randn(40)
    elif kind == "label 2**40":
        blob["train_targets"] = blob["train_targets"].clone()
        blob["train_targets"][0] = 2**40
    elif kind == "labels {0, 5}":
        blob["train_targets"] = (torch.arange(40) % 2) * 5
        blob["val_targets"] = (torch.arange(40) % 2) * 5
    elif kind == "train/val width mismatch":
        blob["val_modal_1_features"] = torch.randn(40, 5)
    elif kind == "zero-width features":
        blob["train_modal_1_features"] = torch.randn(40, 0)
        blob["val_modal_1_features"] = torch.randn(40, 0)
    elif kind == "huge .npy shape":
        np.savez(npz, **_npz())
        _huge_npy_header(npz)
        return npz
    elif kind == "meta tensor":
        blob["train_modal_1_features"] = torch.empty(40, 3, device="meta")
    elif kind == "empty .pt":
        blob = {}
    elif kind == "object array":
        arrays = _npz()
        arrays["x_a"] = np.array([[1, "a", None]] * 40, dtype=object)
        np.savez(npz, **arrays)
        return npz
    elif kind == "string in .pt":
        blob["train_modal_2_features"] = "not a tensor"
    elif kind == "2-D modality_names":
        arrays = _npz()
        arrays["modality_names"] = np.array([["a", "b"]])
        np.savez(npz, **arrays)
        return npz
    elif kind == "complex dtype":
        blob["train_modal_1_features"] = torch.randn(40, 3, dtype=torch.complex64)
        blob["val_modal_1_features"] = torch.randn(40, 3, dtype=torch.complex64)
    elif kind == "unsafe pickle":
        blob["train_targets"] = _Evil(str(d / "PWNED"))
    else:
        raise AssertionError(kind)
    path = d / f"{stem}.pt"
    torch.save(blob, path)
    return path


#: Each hostile file and what its message must name (the array or key, the problem).
HOSTILE = {
    "targets (N/2, 2)": ("train_targets", "(20, 2)"),
    "boolean targets": ("train_targets", "bool"),
    "unknown split tag": ("split", "validation"),
    "1-D features": ("train_modal_1_features", "(40,)"),
    "label 2**40": ("labels", "missing"),
    "labels {0, 5}": ("labels", "[1, 2, 3, 4]"),
    "train/val width mismatch": ("val_modal_1_features", "train_modal_1_features"),
    "zero-width features": ("train_modal_1_features", "zero"),
    "huge .npy shape": ("x_a", "1099511627776"),
    "meta tensor": ("train_modal_1_features", "meta"),
    "empty .pt": ("empty", "train_modal_1_features"),
    "object array": ("x_a", "object"),
    "string in .pt": ("train_modal_2_features", "str"),
    "2-D modality_names": ("modality_names", "1-D"),
    "complex dtype": ("train_modal_1_features", "complex"),
    "unsafe pickle": ("pickled Python objects", "will not execute"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_estimate_hostile_data_file_exits_2_naming_the_key(kind, tmp_path, capsys):
    path = _hostile_file(kind, tmp_path)
    out = tmp_path / "out"
    code, err = _cli(["estimate", "--data", str(path), "--out", str(out)], capsys)
    line = _assert_failed(code, err, "estimate", *HOSTILE[kind])
    assert "weights_only" not in line
    if kind == "complex dtype":
        assert "bool" not in line
    assert not (tmp_path / "PWNED").exists()
    _assert_clean(out)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_read_dataset_hostile_data_file_raises_naming_the_key(kind, tmp_path):
    from dmil.data import read_dataset

    path = _hostile_file(kind, tmp_path)
    with pytest.raises((ValueError, TypeError)) as info:
        read_dataset(path)
    for fragment in HOSTILE[kind]:
        assert fragment in str(info.value), (fragment, str(info.value))
    assert not (tmp_path / "PWNED").exists()


# ============================================================ error handler
def _raiser(exc: BaseException):
    def run(args):
        raise exc

    return run


@pytest.mark.parametrize(
    ("exc", "fragments", "expected_code"),
    [
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/x/y"), ("No space", "/x/y"), 2),
        (OSError(errno.EROFS, os.strerror(errno.EROFS), "/ro"), ("Read-only", "/ro"), 2),
        (PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/p"), ("denied", "/p"), 2),
        (MemoryError(), ("out of memory",), 2),
        (FloatingPointError("training loss became nan"), ("became nan",), 2),
        (RuntimeError("CUDA error: no kernel image\nmore\ndetail"), ("CUDA error",), 2),
        (RuntimeError("Tensor on device meta is not on the expected device"), ("meta",), 2),
        (KeyError("missing key 'x'"), ("missing key 'x'",), 2),
        (ZeroDivisionError("boom"), ("internal error ZeroDivisionError", "--debug"), 1),
    ],
)
def test_main_reports_every_failure_in_one_line(exc, fragments, expected_code, monkeypatch, capsys):
    monkeypatch.setattr(dmil.cli.datasets, "run", _raiser(exc))
    code, err = _cli(["datasets"], capsys)
    _assert_failed(code, err, "datasets", *fragments, expected_code=expected_code)
    assert len(_messages(err)[0]) < 1300


def test_main_reports_yaml_errors_in_one_line(monkeypatch, capsys):
    import yaml

    try:
        yaml.safe_load("a: [1,\nb: 2")
    except yaml.YAMLError as caught:
        exc = caught
    monkeypatch.setattr(dmil.cli.datasets, "run", _raiser(exc))
    code, err = _cli(["datasets"], capsys)
    _assert_failed(code, err, "datasets", "invalid YAML", "line")


def test_debug_flag_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setattr(dmil.cli.datasets, "run", _raiser(ValueError("bad thing")))
    code = main(["--debug", "datasets"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" in err and err.strip().endswith("dmil datasets: error: bad thing")


@pytest.mark.parametrize(
    ("exc", "expected_code", "what"),
    [(KeyboardInterrupt(), 130, "interrupted"), (Terminated(), 143, "terminated by SIGTERM")],
)
def test_interrupt_hints_resume_where_the_run_can_continue(
    exc, expected_code, what, trained, monkeypatch, capsys
):
    import dmil.cli.train

    monkeypatch.setattr(dmil.cli.train, "run", _raiser(exc))
    code, err = _cli(_train_args(trained), capsys)
    assert code == expected_code
    assert _messages(err) == [
        f"dmil train: {what}; continue it with `dmil train ... --out {trained} --resume`"
    ]
    code, err = _cli(_train_args(trained.parent / "never-ran"), capsys)
    assert code == expected_code and _messages(err) == [f"dmil train: {what}"]


def test_an_unknown_flag_is_reported_by_its_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "--checkpoint", "x", "--out", "y", "--no-progress"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "dmil explain: error: unrecognized arguments: --no-progress (see dmil explain --help)"
    )
