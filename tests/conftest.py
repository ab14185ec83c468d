"""Shared fixtures. Data-dependent tests read ../shared/data (or $KOGNER_DATA_DIR).

Without that directory they skip with a reason; with ``KOGNER_REQUIRE_DATA=1`` (set by
``.ci/run``) a missing data directory fails them instead, so CI always runs them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _shared_data() -> Path:
    if os.environ.get("KOGNER_DATA_DIR"):
        return Path(os.environ["KOGNER_DATA_DIR"])
    return REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real reference data; skips (or fails under KOGNER_REQUIRE_DATA=1) when absent."""
    path = _shared_data()
    if not (path / "README.md").is_file():
        reason = f"reference data not found at {path} (set KOGNER_DATA_DIR or put shared/data beside the checkout)"
        if os.environ.get("KOGNER_REQUIRE_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
