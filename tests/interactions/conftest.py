"""Every test here gets its own empty dmil cache directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = tmp_path_factory.mktemp("dmil_cache")
    monkeypatch.setenv("DMIL_CACHE_DIR", str(path))
    return path
