"""Suite-wide fixtures: where the shared real data lives, and a skip when it is absent."""

from __future__ import annotations

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED_DATA = pathlib.Path(os.environ.get("VMW_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """``../shared/data`` (real traces, DBCs, captures); skips the test when it is not there."""
    if not (SHARED_DATA / "MANIFEST.tsv").is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set VMW_SHARED_DATA to its folder)")
    return SHARED_DATA
