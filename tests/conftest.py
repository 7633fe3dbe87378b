"""Shared fixtures: the real-data folder and in-process runs of the runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """DLZOO_DATA_DIR, else ../shared/data beside the repository, else None."""
    for candidate in (os.environ.get("DLZOO_DATA_DIR"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def data_dir() -> Path:
    """The folder of real datasets; skips the test when it is absent (as in a user's clone)."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data not found: set DLZOO_DATA_DIR to a folder with course/ and corpora/")
    return path


@pytest.fixture
def run(tmp_path):
    """``run(*overrides)`` trains in-process like ``dlzoo-train OVERRIDES`` and returns (metrics, run folder)."""
    from dlzoo.config import compose
    from dlzoo.train import train

    counter = iter(range(1000))

    def _run(*overrides: str, folder: str | None = None):
        out = tmp_path / (folder or f"run{next(counter)}")
        data = shared_data_dir()
        extra = [f"paths.data_dir={data}"] if data else []
        cfg = compose([f"paths.output_dir={out}", "logger=none", *extra, *overrides])
        train(cfg)
        return json.loads((out / "metrics.json").read_text()), out

    return _run
