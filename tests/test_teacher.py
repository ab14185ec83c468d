"""train_teacher end to end on a real MeSH slice: outputs, Z cache, resume after a crash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from teacher_kg_slice import write_mesh_slice

import kogner.teacher.train as teacher_train
from kogner.encoder import TextEncoder
from kogner.teacher import TeacherSettings, train_teacher
from kogner.teacher.text import arrow_to_vectors, entity_texts


@pytest.fixture(scope="module")
def mesh_kg(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mesh_slice(data_dir, tmp_path_factory.mktemp("kg"))


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> TeacherSettings:
    """Small models; one Z cache shared by the tests of this module."""
    return TeacherSettings(
        gt_steps=20,
        gt_batch_size=64,
        gt_hidden_dim=32,
        transr_dim=16,
        transr_epochs=2,
        holdout_fraction=0.05,
        cache_dir=str(tmp_path_factory.mktemp("z-cache")),
    )


def test_entity_text_recipe(mesh_kg: Path) -> None:
    texts = entity_texts(mesh_kg)
    infarction = next(t for t in texts if t.startswith("Myocardial Infarction (Disease): "))
    assert len(infarction.split(": ", 1)[1].split("; ")) == 3  # three synonyms
    assert any(t.startswith("Aorta (Anatomy)") for t in texts)


def test_train_writes_teacher_and_reuses_cached_text_features(
    mesh_kg: Path, fast: TeacherSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = train_teacher(mesh_kg, tmp_path / "teacher", fast)
    meta = json.loads((out / "teacher.json").read_text())
    assert meta["dims"] == {"z": 384, "z_prime": 32, "z_second": 16} and meta["dim"] == 432
    table = pq.read_table(out / "vectors.parquet")
    vectors = arrow_to_vectors(table["vector"])
    assert vectors.shape == (meta["num_entities"], 432) and table.num_rows > 500
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert pq.read_table(out / "heldout.parquet").num_rows == round(0.05 * meta["num_triples"])
    assert {p.name for p in (out / "checkpoints").iterdir()} == {"graph_transformer.pt", "transr.pt"}

    def no_encoding(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("text features should come from the cache")

    monkeypatch.setattr(TextEncoder, "encode", no_encoding)
    again = arrow_to_vectors(
        pq.read_table(train_teacher(mesh_kg, tmp_path / "teacher", fast) / "vectors.parquet")["vector"]
    )
    assert np.allclose(again[:, :384], vectors[:, :384])  # same Z; seeded training also repeats


def test_resume_after_a_crash_skips_finished_work(
    mesh_kg: Path, fast: TeacherSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_transr = teacher_train.train_transr

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("killed during TransR")

    monkeypatch.setattr(teacher_train, "train_transr", crash)
    with pytest.raises(RuntimeError, match="killed"):
        train_teacher(mesh_kg, tmp_path / "teacher", fast)
    assert not (tmp_path / "teacher").exists()  # nothing half-written

    monkeypatch.setattr(teacher_train, "train_transr", real_transr)
    monkeypatch.setattr(teacher_train, "train_graph_transformer", crash)  # finished: must not run again
    out = train_teacher(mesh_kg, tmp_path / "teacher", fast)
    assert (out / "vectors.parquet").is_file()
    assert not list(tmp_path.glob(".teacher.work/*/checkpoints"))  # checkpoints of the run cleaned up
