"""Checkpoints: atomic, rank-zero writes and loads that fail loudly.

A checkpoint is one file written with :meth:`Fabric.save` holding exactly the keys in
:data:`CHECKPOINT_KEYS` and ``sha256`` (:data:`DIGEST_KEY`: the digest of everything
else, checked and removed by :func:`read_checkpoint`):

* ``model``, ``optimizer``, ``scheduler``: state dicts;
* ``epoch``: the number of finished epochs, over all stages;
* ``stage``: where the run is in its stages (``index``, ``name``, ``epoch`` finished
  within the stage, ``count`` of stages);
* ``best``: the early-stopping state (best epoch and the stage it belongs to, its
  validation accuracy and loss, epochs since an improvement, whether training has
  finished);
* ``rng_states``: Python, NumPy, torch (and CUDA) generator states after ``epoch``;
* ``config``: the :class:`~dmil.training.config.TrainConfig` as a dict;
* ``model_config``: the keyword arguments that rebuild the model
  (``build_model(**model_config)``);
* ``history``: one dict of metrics per finished epoch;
* ``timing``: accumulated training seconds and samples;
* ``extra``: what the caller needs to re-create the data (dataset name, options, split
  seed), stored as given;
* ``format``: the layout version.

The file is first written to a temporary name beside the target and then renamed, so a
process killed mid-write never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import random
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from dmil.utils import check_terminated

if TYPE_CHECKING:
    from lightning.fabric import Fabric

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_KEYS",
    "capture_rng_states",
    "checkpoint_size_estimate",
    "content_digest",
    "find_resume_checkpoint",
    "load_state_into",
    "read_checkpoint",
    "restore_rng_states",
    "save_checkpoint",
    "temporary_checkpoint_path",
]

logger = logging.getLogger(__name__)

#: Key under which a saved file carries :func:`content_digest` of the rest (removed by
#: :func:`read_checkpoint` after verifying it).
DIGEST_KEY = "sha256"
CHECKPOINT_FORMAT = 2
CHECKPOINT_KEYS: tuple[str, ...] = (
    "format",
    "model",
    "optimizer",
    "scheduler",
    "epoch",
    "stage",
    "best",
    "rng_states",
    "config",
    "model_config",
    "history",
    "timing",
    "extra",
)


def capture_rng_states() -> dict[str, Any]:
    """The state of every global generator, in a form ``torch.load(weights_only=True)``
    accepts (tensors, tuples, dicts and numbers only)."""
    np_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: Mapping[str, Any]) -> None:
    """Restore generator states captured by :func:`capture_rng_states`."""
    random.setstate(states["python"])
    np_state = states["numpy"]
    np.random.set_state(
        {
            "bit_generator": np_state["bit_generator"],
            "state": {
                "key": np.asarray(np_state["key"].cpu().numpy(), dtype=np.uint32),
                "pos": int(np_state["pos"]),
            },
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        }
    )
    torch.set_rng_state(states["torch"].cpu())
    if "cuda" in states and torch.cuda.is_available():
        cuda_states = list(states["cuda"])
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            logger.warning(
                "checkpoint holds %d CUDA generator states but %d devices are visible; "
                "CUDA generators are not restored",
                len(cuda_states),
                torch.cuda.device_count(),
            )


def save_checkpoint(fabric: Fabric, path: str | os.PathLike[str], state: Mapping[str, Any]) -> Path:
    """Write a checkpoint atomically; call on every process (rank zero writes).

    Parameters
    ----------
    fabric : Fabric
        The run's Fabric object (it decides which rank writes).
    path : path
        Target file; its directory is created if needed.
    state : mapping
        Exactly the keys of :data:`CHECKPOINT_KEYS` except ``format``. Modules,
        optimisers and schedulers are stored as their state dicts.

    Returns
    -------
    Path
        The checkpoint path.
    """
    target = Path(path)
    expected = set(CHECKPOINT_KEYS) - {"format"}
    _check_keys(set(state), expected, what=f"state to save to {target}")
    if fabric.is_global_zero:
        target.parent.mkdir(parents=True, exist_ok=True)
    fabric.barrier()
    payload = {"format": CHECKPOINT_FORMAT, **_state_dicts(state)}
    payload[DIGEST_KEY] = content_digest(payload) if fabric.is_global_zero else ""
    tmp = temporary_checkpoint_path(target)
    try:
        fabric.save(tmp, payload)
        if fabric.is_global_zero:
            check_terminated()
            os.replace(tmp, target)
    except BaseException:
        # A full disk, a signal or any other failure leaves no partial file behind.
        if fabric.is_global_zero:
            tmp.unlink(missing_ok=True)
        raise
    fabric.barrier()
    return target


def temporary_checkpoint_path(target: str | os.PathLike[str]) -> Path:
    """The temporary name a checkpoint is written to before the rename:
    ``.<name>.<pid>.tmp`` beside it, unique per process."""
    target = Path(target)
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def _state_dicts(state: Mapping[str, Any]) -> dict[str, Any]:
    """Modules, optimisers and schedulers replaced by their state dicts."""
    return {
        k: v.state_dict() if callable(getattr(v, "state_dict", None)) else v
        for k, v in state.items()
    }


def content_digest(content: Mapping[str, Any]) -> str:
    """SHA-256 of a checkpoint's content: every tensor's dtype, shape and bytes and every
    other value, walked in a fixed order.

    It depends only on the values, not on how ``torch.save`` laid them out, so it is
    the same for the state that was saved and for what :func:`torch.load` returns.
    """
    digest = hashlib.sha256()
    _feed_digest(digest, {k: v for k, v in content.items() if k != DIGEST_KEY})
    return digest.hexdigest()


def _feed_digest(digest: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        if t.is_meta:
            raise ValueError("checkpoint state holds a meta tensor (no data); nothing to save.")
        t = t.cpu().contiguous().reshape(-1)
        digest.update(f"T{t.dtype}{tuple(obj.shape)};".encode())
        digest.update(t.view(torch.uint8).numpy())
    elif isinstance(obj, Mapping):
        items = sorted(obj.items(), key=lambda kv: (type(kv[0]).__name__, repr(kv[0])))
        digest.update(f"D{len(items)};".encode())
        for key, value in items:
            _feed_digest(digest, key)
            _feed_digest(digest, value)
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)};".encode())
        for value in obj:
            _feed_digest(digest, value)
    elif obj is None or isinstance(obj, bool):
        digest.update(f"B{obj!r};".encode())
    elif isinstance(obj, int):
        digest.update(f"I{int(obj)};".encode())
    elif isinstance(obj, float):
        digest.update(f"F{float(obj)!r};".encode())
    elif isinstance(obj, str):
        data = obj.encode("utf-8", "surrogatepass")
        digest.update(f"S{len(data)};".encode() + data)
    elif isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        digest.update(f"N{arr.dtype.str}{arr.shape};".encode())
        digest.update(arr.view(np.uint8).reshape(-1) if arr.size else b"")
    else:
        digest.update(f"O{type(obj).__qualname__}:{obj!r};".encode())


def checkpoint_size_estimate(model: nn.Module, *, optimizer: str = "adamw") -> int:
    """Bytes one checkpoint of ``model`` takes, roughly: its parameters and buffers plus
    the optimiser's per-parameter state (two moments for AdamW, momentum for SGD), plus
    64 KiB for the rest."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    factor = 3 if optimizer == "adamw" else 2
    return factor * params + buffers + (64 << 10)


def find_resume_checkpoint(out_dir: str | os.PathLike[str]) -> Path | None:
    """The checkpoint a resumed run continues from: ``last.ckpt`` when it reads and
    verifies, otherwise ``best.ckpt`` (an earlier, equally complete state of the same
    run; training continues from its epoch), otherwise ``None`` when neither exists.

    Raises
    ------
    ValueError
        When checkpoints exist but none of them is readable and intact.
    """
    out = Path(out_dir)
    errors = []
    for name in ("last.ckpt", "best.ckpt"):
        path = out / name
        if not path.is_file():
            continue
        try:
            read_checkpoint(path)
        except ValueError as exc:
            errors.append(str(exc))
            logger.warning("cannot resume from %s: %s", path, exc)
            continue
        if errors or name != "last.ckpt":
            logger.warning("resuming from %s (the last good checkpoint of the run)", path)
        return path
    if errors:
        raise ValueError(
            f"cannot resume the run in {out}: no intact checkpoint ({'; '.join(errors)}). "
            "Start a new run with --overwrite."
        )
    return None


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint file onto the CPU and check it has exactly the expected keys.

    Parameters
    ----------
    path : path
        A checkpoint file, or a run directory holding ``best.ckpt``.

    Returns
    -------
    dict
        The checkpoint's contents (tensors on the CPU).
    """
    file = Path(path)
    directory = file if file.is_dir() else None
    if directory is not None:
        file = directory / "best.ckpt"
    if not file.is_file():
        # Sorted before shortening, so the listing is the same on every file system;
        # bounded, so a huge tree is not walked to the end.
        below = directory.rglob("best.ckpt") if directory is not None else iter(())
        found = sorted(itertools.islice(below, 1000))
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        hint = (
            f" Run directories below it: {', '.join(str(p.parent) for p in found[:3])}{more}."
            if found
            else ""
        )
        raise FileNotFoundError(
            f"checkpoint not found: {file}. Pass a checkpoint file or a run directory "
            f"written by `dmil train` (it holds best.ckpt and last.ckpt).{hint}"
        )
    if not zipfile.is_zipfile(file):
        raise ValueError(
            f"{file} is not a readable dmil checkpoint: not a complete torch.save archive "
            "(another kind of file, or one cut short). Pass a run directory written by "
            "`dmil train` or its best.ckpt / last.ckpt."
        )
    try:
        content = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{file} is not a readable dmil checkpoint: {_first_line(exc)}") from exc
    if not isinstance(content, dict):
        raise ValueError(
            f"{file} is not a dmil checkpoint: expected a dict, found {type(content).__name__}."
        )
    stored_digest = content.pop(DIGEST_KEY, None)
    _check_keys(set(content), set(CHECKPOINT_KEYS), what=f"checkpoint {file}")
    _verify_digest(file, content, stored_digest)
    if content["format"] != CHECKPOINT_FORMAT:
        raise ValueError(
            f"checkpoint {file} has format {content['format']!r}; this version of dmil "
            f"reads format {CHECKPOINT_FORMAT}."
        )
    return content


def _first_line(exc: BaseException) -> str:
    """A one-line reason for a failed ``torch.load``.

    torch's unpickling error runs over a page and advises loading with
    ``weights_only=False``, which would execute whatever the file holds; only the line
    that names the refused object is kept.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if "Weights only load failed" in str(exc):
        refused = [line for line in lines if "GLOBAL" in line or "global" in line.lower()]
        detail = refused[0] if refused else "it holds objects other than tensors"
        return (
            f"refused to unpickle it ({detail.rstrip('.')}); dmil loads only tensors and "
            "plain values and never runs code from a file"
        )
    return lines[0] if lines else type(exc).__name__


def _verify_digest(file: Path, content: Mapping[str, Any], stored: Any) -> None:
    if stored is None:
        logger.warning(
            "checkpoint %s carries no content digest; its integrity cannot be verified", file
        )
        return
    found = content_digest(content)
    if found != stored:
        raise ValueError(
            f"checkpoint {file} is corrupted: its content does not match the SHA-256 "
            f"digest stored in it (stored {str(stored)[:16]}..., computed {found[:16]}...). "
            "The file was damaged or changed after it was written; use another checkpoint "
            "of the run or train again."
        )


def load_state_into(
    content: Mapping[str, Any],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    source: str = "checkpoint",
) -> None:
    """Load model (and optionally optimiser and scheduler) states, strictly.

    Missing or unexpected parameter names raise a ValueError that lists them, instead of
    silently leaving parameters at their initial values.
    """
    try:
        model.load_state_dict(content["model"], strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"{source} does not fit the model (missing or unexpected keys, or shape "
            f"mismatches): {exc}"
        ) from exc
    if optimizer is not None:
        try:
            optimizer.load_state_dict(content["optimizer"])
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{source}: optimiser state does not fit: {exc}") from exc
    if scheduler is not None:
        scheduler.load_state_dict(content["scheduler"])


def _check_keys(found: set[str], expected: set[str], *, what: str) -> None:
    missing = sorted(expected - found)
    unexpected = sorted(found - expected)
    if missing or unexpected:
        raise ValueError(
            f"{what}: keys do not match the dmil checkpoint layout; missing {missing}, "
            f"unexpected {unexpected}. Expected exactly {sorted(expected)}."
        )
