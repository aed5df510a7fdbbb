"""Write a ``dmil run`` report: ``results.json``, the PNG figures, ``report.md``,
``report.html`` (self-contained) and ``spec.yaml`` (the run's spec, replayable with
``dmil run --config spec.yaml``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dmil.report.document import build_blocks, render_html, render_markdown
from dmil.report.figures import FIGURES, write_figures
from dmil.utils import OutputLayout, atomic_path, to_jsonable

__all__ = ["REPORT_FILES", "REPORT_LAYOUT", "write_report"]

#: The files every report has (figures depend on what was run).
REPORT_FILES: tuple[str, ...] = ("results.json", "report.md", "report.html", "spec.yaml")
#: What ``dmil run`` may write into its ``--out``: the report files, the figures,
#: ``runs/`` (one run directory per method and seed) and ``SHA256SUMS`` (every file).
REPORT_LAYOUT = OutputLayout(
    command="dmil run",
    what="a report",
    entries=(*REPORT_FILES, *FIGURES, "runs"),
)


def write_report(results: Mapping[str, Any], out_dir: str | os.PathLike[str]) -> list[str]:
    """Write every report file into ``out_dir`` (created if needed).

    The figures and both documents are made from ``results`` after its round trip
    through JSON, so they show exactly what ``results.json`` holds.

    Returns
    -------
    list of str
        The names of the files written.
    """
    import yaml

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(results), indent=2, allow_nan=False) + "\n"
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(text)
    stored = json.loads(text)
    spec_text = yaml.safe_dump(stored["spec"], sort_keys=False, default_flow_style=None)
    with atomic_path(out / "spec.yaml") as tmp:
        tmp.write_text(spec_text)
    figures = write_figures(stored, out)
    blocks = build_blocks(stored, figures=figures, spec_text=spec_text)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(render_markdown(blocks))
    page = render_html(blocks, image_dir=out, title=stored["title"])
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(page)
    return [*REPORT_FILES, *figures]
