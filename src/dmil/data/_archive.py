"""Inspect the arrays of an ``.npz`` archive before any of them is read.

``np.load`` allocates an array from the shape its ``.npy`` header declares before it
reads the data, so a damaged or crafted header (say, shape ``(10**7, 10**7)``) can ask
for terabytes. :func:`inspect_npz` reads only the headers and checks each declared size
against the bytes the archive actually holds, so the work done while reading is bounded
by the size of the file, never by a number written inside it.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ArrayHeader", "inspect_npz"]

#: DEFLATE cannot expand data by more than about 1032:1; allow a margin above that.
_MAX_DEFLATE_RATIO = 1100
_HEADER_SLACK = 1 << 16


@dataclass(frozen=True)
class ArrayHeader:
    """What one ``.npy`` member of an archive declares."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int


def _damaged(path: Path, key: str, detail: str) -> ValueError:
    return ValueError(
        f"{path}: array '{key}' {detail}; the archive is damaged or was not written by "
        "numpy. Re-save the arrays with np.savez or np.savez_compressed."
    )


def _read_header(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> ArrayHeader:
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
        except ValueError:
            raise ValueError(
                f"{path}: member '{info.filename}' (array '{key}') is not a .npy array; an "
                "npz archive must hold only arrays written by np.savez."
            ) from None
        if version not in ((1, 0), (2, 0)):
            raise _damaged(path, key, f"uses .npy format version {version}, unsupported here")
        if version == (1, 0):
            reader = np.lib.format.read_array_header_1_0
        else:
            reader = np.lib.format.read_array_header_2_0
        try:
            shape, _, dtype = reader(fh)
        except (ValueError, SyntaxError, TypeError) as exc:
            raise _damaged(path, key, f"has an unreadable .npy header ({exc})") from None
        header_len = fh.tell()
    if dtype.hasobject:
        raise TypeError(
            f"{path}: array '{key}' holds Python objects (dtype {dtype}); dmil reads only "
            "numeric and string arrays and never unpickles objects. Save numbers as a "
            "numeric array and names as np.array(names, dtype=str)."
        )
    nbytes = math.prod(int(s) for s in shape) * dtype.itemsize
    stored = info.file_size - header_len
    if nbytes != stored:
        raise _damaged(
            path,
            key,
            f"declares shape {tuple(shape)} of {dtype} ({nbytes} bytes) but its member holds "
            f"{stored} bytes of data",
        )
    return ArrayHeader(key=key, shape=tuple(int(s) for s in shape), dtype=dtype, nbytes=nbytes)


def inspect_npz(path: Path) -> dict[str, ArrayHeader]:
    """The declared shape and dtype of every array in an ``.npz`` file, checked.

    Parameters
    ----------
    path : Path
        An existing ``.npz`` file.

    Returns
    -------
    dict
        Array name (as ``np.load`` exposes it) -> :class:`ArrayHeader`.

    Raises
    ------
    ValueError
        The file is not a zip archive, a member is not a ``.npy`` array, or a declared
        size does not match the bytes stored (named by array).
    TypeError
        An array holds Python objects.
    """
    disk_size = path.stat().st_size
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"could not read {path} as an .npz archive: {exc}") from None
    headers: dict[str, ArrayHeader] = {}
    with zf:
        infos = zf.infolist()
        if sum(i.compress_size for i in infos) > disk_size:
            raise ValueError(
                f"{path}: the archive's directory declares more compressed data than the "
                f"file's {disk_size} bytes; the archive is damaged. Re-save it with np.savez."
            )
        for info in infos:
            if info.is_dir():
                continue
            name = info.filename
            key = name[: -len(".npy")] if name.endswith(".npy") else name
            if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
                raise _damaged(
                    path,
                    key,
                    f"is stored uncompressed but declares {info.file_size} bytes for "
                    f"{info.compress_size} stored",
                )
            if (
                info.compress_type == zipfile.ZIP_DEFLATED
                and info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + _HEADER_SLACK
            ):
                raise _damaged(
                    path,
                    key,
                    f"declares {info.file_size} bytes from {info.compress_size} compressed, "
                    "more than DEFLATE can produce",
                )
            headers[key] = _read_header(path, zf, info, key)
    return headers
