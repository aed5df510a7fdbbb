"""Per-epoch metrics log: a CSV file (always) and TensorBoard scalars (optional)."""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dmil.utils import atomic_path

__all__ = ["MetricsLog"]

logger = logging.getLogger(__name__)


class MetricsLog:
    """Write one row per finished epoch to ``metrics.csv`` (rank zero only).

    The whole file is rewritten atomically after every epoch from the run's history,
    so after an interruption and a resume it holds each epoch exactly once.

    Parameters
    ----------
    out_dir : path or None
        Where ``metrics.csv`` (and ``tensorboard/``) go; ``None`` writes nothing.
    enabled : bool
        ``False`` on processes other than rank zero.
    tensorboard : bool
        Also write TensorBoard event files (needs the ``tensorboard`` package).
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str] | None,
        *,
        enabled: bool = True,
        tensorboard: bool = False,
    ) -> None:
        self.path = None if out_dir is None else Path(out_dir) / "metrics.csv"
        self.enabled = enabled and self.path is not None
        self._writer: Any = None
        if self.enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ImportError(
                    "TensorBoard logging needs the tensorboard package: "
                    "pip install 'dmil[tensorboard]'"
                ) from exc
            self._writer = SummaryWriter(log_dir=str(Path(out_dir) / "tensorboard"))

    def write(self, history: Sequence[Mapping[str, Any]]) -> None:
        """Rewrite the CSV from ``history`` and send the newest row to TensorBoard."""
        if not self.enabled or not history:
            return
        fields: list[str] = []
        for row in history:
            fields.extend(k for k in row if k not in fields)
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(history)
        if self._writer is not None:
            row = history[-1]
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self._writer.add_scalar(key, value, global_step=int(row["epoch"]))
            self._writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer, if any."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
