"""Shared fixtures: the real data beside the repo (``../shared/data``), skipped when absent."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# The CLI's default engine (--backend auto) exports the embedded weights to ONNX on first use
# into a user cache; tests (and the CLI subprocesses they start, which inherit this) use one
# fresh folder per test session instead of the user's ~/.cache/aetrack.
os.environ.setdefault("AETRACK_CACHE_DIR", tempfile.mkdtemp(prefix="aetrack-test-cache-"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present: {SHARED_DATA} (a clone without ../shared)")
    return SHARED_DATA
