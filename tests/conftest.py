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


@pytest.fixture(scope="session")
def mesh_index_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An entity index over a real MeSH slice (heart diseases C14.280 and blood vessels A07, with
    the Disease Ontology terms named like their entry terms), from a small, fast teacher."""
    from teacher_kg_slice import write_mesh_slice

    from kogner.index import build_index
    from kogner.teacher import TeacherSettings, train_teacher

    settings = TeacherSettings(
        gt_steps=10, gt_batch_size=32, gt_hidden_dim=32, transr_dim=16, transr_epochs=1, text_max_length=32
    )
    root = tmp_path_factory.mktemp("mesh-index")
    kg = write_mesh_slice(data_dir, root / "kg", branches=("C14.280", "A07"), disease_ontology=True)
    teacher = train_teacher(kg, root / "teacher", settings)
    return build_index(teacher, None, root / "index")  # the KG comes from teacher.json
