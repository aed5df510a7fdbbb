"""Datasets by name: ``load(name, root=None, **options)`` and the listing behind
``dmil datasets``.

Loaders register themselves with :func:`register_dataset` when their module is
imported (``dmil.data`` imports them all).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmil.data.container import MultimodalDataset
from dmil.utils import close_names, file_sha256

__all__ = [
    "DatasetInfo",
    "available_datasets",
    "cache_dir",
    "dataset_info",
    "load",
    "register_dataset",
    "resolve_data_options",
    "resolve_data_root",
    "sha256_prefix",
    "unknown_dataset_message",
]

DATA_DIR_ENV = "DMIL_DATA_DIR"
CACHE_DIR_ENV = "DMIL_CACHE_DIR"
DEFAULT_DATA_DIR = Path("..") / "shared" / "data"
#: Suffixes of the data files ``read_dataset`` reads (a dataset name never has one).
DATA_FILE_SUFFIXES = (".pt", ".pth", ".npz")


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about a dataset before loading it."""

    name: str
    loader: Callable[..., MultimodalDataset]
    description: str
    source: str
    has_truth: bool
    needs_files: bool
    extra: str | None = None


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(
    name: str,
    *,
    description: str,
    source: str,
    has_truth: bool = False,
    needs_files: bool = False,
    extra: str | None = None,
) -> Callable[[Callable[..., MultimodalDataset]], Callable[..., MultimodalDataset]]:
    """Decorator registering a loader under ``name``.

    Loaders that read files take a keyword ``root`` (the data directory); the others
    must not. ``extra`` names the optional dependency group the loader needs.
    """

    def decorate(fn: Callable[..., MultimodalDataset]) -> Callable[..., MultimodalDataset]:
        if name in _REGISTRY:
            raise ValueError(f"dataset '{name}' is registered twice")
        _REGISTRY[name] = DatasetInfo(
            name=name,
            loader=fn,
            description=description,
            source=source,
            has_truth=has_truth,
            needs_files=needs_files,
            extra=extra,
        )
        return fn

    return decorate


def available_datasets() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(_REGISTRY)


def _looks_like_a_file(name: str) -> bool:
    if Path(name).suffix.lower() in DATA_FILE_SUFFIXES:
        return True
    try:
        return Path(name).exists()
    except (OSError, ValueError):  # names too long for the file system, NUL bytes
        return False


def unknown_dataset_message(name: str) -> str:
    """The error text for an unregistered ``name``: a close match, a file hint, the names.

    Parameters
    ----------
    name : str
        The name that was asked for.
    """
    known = available_datasets()
    text = f"unknown dataset '{name}'"
    if _looks_like_a_file(name):
        text += (
            "; it looks like a file path, not a registered name: pass a data file with "
            "--data FILE (or dmil.data.read_dataset(path) from Python)."
        )
    else:
        close = close_names(name, known, n=3)
        text += f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ";"
    return f"{text} known datasets: {', '.join(known)}."


def dataset_info(name: str) -> DatasetInfo:
    """Registry entry for ``name``.

    An unknown name is a ``ValueError`` suggesting close matches (``difflib``) and
    listing the known names; a name that looks like a file path (a ``.pt``/``.npz``
    suffix, or an existing path) is pointed at ``--data FILE`` instead.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(unknown_dataset_message(str(name))) from None


def resolve_data_options(
    dataset: str, options: Mapping[str, Any] | None, *, seed: int
) -> dict[str, Any]:
    """Loader options with the data seed made explicit.

    Generated datasets take a ``random_state``; unless the caller fixed it, it is set to
    ``seed`` so the run (and ``dmil evaluate`` later) sees the same samples.
    """
    resolved = dict(options or {})
    params = inspect.signature(dataset_info(dataset).loader).parameters
    if "random_state" in params and "random_state" not in resolved:
        resolved["random_state"] = int(seed)
    return resolved


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``root`` if given, else ``$DMIL_DATA_DIR``, else ``../shared/data``."""
    if root is not None:
        return Path(root)
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else DEFAULT_DATA_DIR


def cache_dir() -> Path:
    """Where derived arrays are cached: ``$DMIL_CACHE_DIR`` or ``~/.cache/dmil``."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env) if env else Path.home() / ".cache" / "dmil"


def sha256_prefix(path: Path, n_hex: int = 16) -> str:
    """The first ``n_hex`` hex digits of a file's SHA-256."""
    return file_sha256(path)[:n_hex]


def load(
    name: str, root: str | os.PathLike[str] | None = None, **options: object
) -> MultimodalDataset:
    """Load a registered dataset by name.

    Parameters
    ----------
    name : str
        A name from :func:`available_datasets`.
    root : path, optional
        Data directory for file-backed datasets (default ``$DMIL_DATA_DIR`` or
        ``../shared/data``). Ignored by generated datasets.
    **options
        Passed to the loader (e.g. ``n_samples``, ``random_state``, ``views``).
    """
    info = dataset_info(name)
    params = inspect.signature(info.loader).parameters
    unknown = [k for k in options if k not in params or k == "root"]
    if unknown:
        allowed = [p for p in params if p != "root"]
        raise TypeError(f"dataset '{name}' got unknown option(s) {unknown}; it accepts {allowed}.")
    if "root" in params:
        options["root"] = resolve_data_root(root)
    return info.loader(**options)
