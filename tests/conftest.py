"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real dataset metadata in ../shared/data (MARS .mat tables, DukeMTMC-VideoReID tables)."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"{path} is not present")
    return path
