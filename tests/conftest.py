"""Shared fixtures: the real data beside the repo (``../shared/data``), skipped when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present: {SHARED_DATA} (a clone without ../shared)")
    return SHARED_DATA
