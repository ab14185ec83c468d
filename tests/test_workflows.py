"""Workflow plumbing: output keys, atomic outputs, profiles, and the retraining decisions."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import luigi
import pytest

from kogner.kg.ingest import sha256_file as file_sha256
from workflows.keying import KeyedTask
from workflows.profiles import load_profile, merge, parse_override
from workflows.retrain import Retrain, changed_files, current_version, decide, promote
from workflows.tasks import (
    AnnotateCorpus,
    BuildEntityIndex,
    EvaluateNER,
    FullRebuild,
    IngestKG,
    PrepareNERO,
    TrainNER,
    TrainTeacher,
)

GRAPH = (IngestKG, TrainTeacher, BuildEntityIndex, PrepareNERO, TrainNER, EvaluateNER, AnnotateCorpus)


def keys(workspace: Path, **params) -> dict[str, str]:
    return {cls.__name__: cls(workspace=str(workspace), profile="tiny", **params).key for cls in GRAPH}


def test_a_changed_setting_changes_exactly_the_keys_downstream(tmp_path):
    base = keys(tmp_path)
    assert len(set(base.values())) == len(GRAPH)
    assert keys(tmp_path) == base, "keys are stable"
    ner = keys(tmp_path, overrides={"ner": {"epochs": 2}})
    assert {name for name in base if ner[name] != base[name]} == {"TrainNER", "EvaluateNER", "AnnotateCorpus"}
    teacher = keys(tmp_path, overrides={"teacher": {"gt_steps": 21}})
    changed = {name for name in base if teacher[name] != base[name]}
    assert changed == {"TrainTeacher", "BuildEntityIndex", "TrainNER", "EvaluateNER", "AnnotateCorpus"}
    annotate = keys(tmp_path, overrides={"annotate": {"options": {"batch_size": 8}}})
    assert {name for name in base if annotate[name] != base[name]} == {"AnnotateCorpus"}


def test_retrain_parameters_key_the_model_version_and_kg_generation(tmp_path):
    base = keys(tmp_path)
    version = keys(tmp_path, version="2026-11-25")
    assert {name for name in base if version[name] != base[name]} == {"TrainNER", "EvaluateNER", "AnnotateCorpus"}
    sources = keys(tmp_path, sources_digest="abc")
    assert {name for name in base if sources[name] != base[name]} == set(base) - {"PrepareNERO"}


def test_stages_need_prepare_nero_only_where_the_profile_names_a_nero_dataset(tmp_path):
    for profile, extra in (("tiny", {"nero"}), ("benchmark", set())):
        needs = {cls: set(cls(workspace=str(tmp_path), profile=profile).requires()) for cls in GRAPH[4:]}
        assert needs == {TrainNER: {"index"} | extra, EvaluateNER: {"model"} | extra, AnnotateCorpus: {"model"} | extra}


def test_outputs_live_under_the_workspace_keyed_by_task(tmp_path):
    task = TrainNER(workspace=str(tmp_path), profile="tiny")
    assert task.output().path == str(tmp_path / "train_ner" / task.key)
    wrapper = FullRebuild(workspace=str(tmp_path), profile="tiny")
    assert {type(t) for t in wrapper.requires().values()} == {EvaluateNER, AnnotateCorpus}


class _Build(KeyedTask):
    """A keyed task that writes one file, or fails half-way when asked."""

    fail = luigi.BoolParameter(default=False)

    def key_material(self):
        return {"fail": self.fail}

    def build(self, out: Path) -> dict:
        (out / "part.txt").write_text("written")
        if self.fail:
            raise RuntimeError("failed half-way")
        return {"files": 1}


def test_outputs_appear_atomically(tmp_path):
    failing = _Build(workspace=str(tmp_path), fail=True)
    assert not luigi.build([failing], local_scheduler=True, log_level="WARNING")
    assert not failing.complete()
    assert not any(failing.directory.parent.iterdir()), "no partial output left behind"
    task = _Build(workspace=str(tmp_path))
    assert luigi.build([task], local_scheduler=True, log_level="WARNING")
    assert (task.directory / "part.txt").read_text() == "written"
    report = json.loads((task.directory / "report.json").read_text())
    assert report["key"] == task.key and report["files"] == 1 and report["task"] == "_Build"


def test_profiles_and_overrides():
    for name in ("embedded", "benchmark", "tiny"):
        profile = load_profile(name)
        assert {"kg", "ner", "evaluate", "annotate"} <= set(profile)
        assert profile["evaluate"]["dev"] and profile["evaluate"]["test"]
    assert parse_override("ner.epochs=2") == {"ner": {"epochs": 2}}
    assert parse_override('evaluate.test=["nero:dev"]') == {"evaluate": {"test": ["nero:dev"]}}
    assert parse_override("kg.config=configs/kg/dev.toml") == {"kg": {"config": "configs/kg/dev.toml"}}
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}
    assert load_profile("tiny", {"ner": {"epochs": 3}})["ner"]["epochs"] == 3
    with pytest.raises(ValueError, match="SECTION.KEY=VALUE"):
        parse_override("epochs")
    with pytest.raises(FileNotFoundError, match="known profiles"):
        load_profile("nonexistent")


def test_promotion_decision():
    assert decide(0.50, None, 0.01).promote
    assert decide(0.50, 0.505, 0.01).promote, "within tolerance"
    assert decide(0.60, 0.50, 0.0).promote
    kept = decide(0.48, 0.50, 0.01, "2026-11-24")
    assert not kept.promote and kept.current_version == "2026-11-24" and "<" in kept.reason
    with pytest.raises(ValueError):
        decide(0.5, 0.5, -0.1)


def test_promote_replaces_the_current_pointer(tmp_path):
    for version in ("2026-11-24", "2026-11-25"):
        (tmp_path / "versions" / version).mkdir(parents=True)
    assert current_version(tmp_path) is None
    promote(tmp_path, "2026-11-24")
    assert current_version(tmp_path) == "2026-11-24"
    promote(tmp_path, "2026-11-25")
    assert current_version(tmp_path) == "2026-11-25"
    assert (tmp_path / "current").resolve() == (tmp_path / "versions" / "2026-11-25").resolve()
    with pytest.raises(FileNotFoundError):
        promote(tmp_path, "2030-01-01")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_kg_is_rebuilt_only_when_a_source_checksum_changes(tmp_path):
    source = tmp_path / "source.obo"
    source.write_text("[Term]\nid: HP:1\n")
    state = tmp_path / "ws" / "retrain" / "kg_sources.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"digest": "gen1", "files": {str(source): file_sha256(source)}}))
    task = Retrain(date=date(2026, 11, 25), workspace=str(tmp_path / "ws"), profile="tiny")
    assert changed_files({str(source): file_sha256(source)}) == []
    assert task.sources_digest() == "gen1", "unchanged sources reuse the recorded KG"
    source.write_text("[Term]\nid: HP:2\n")
    assert changed_files({str(source): "0" * 64}) == [str(source)]
    new = task.sources_digest()
    assert new not in ("gen1", "")
    assert task.sources_digest() == new, "stable while the files stay the same"
    assert Retrain(date=date(2026, 11, 25), workspace=str(tmp_path / "fresh"), profile="tiny").sources_digest() == ""


def test_inputs_that_would_share_a_shard_output_are_refused(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "test.txt").write_text("1|t|Title\n\n")
    overrides = {"annotate": {"inputs": ["a/*.txt", "b/*.txt"]}}
    task = AnnotateCorpus(
        workspace=str(tmp_path / "ws"), profile="benchmark", overrides=overrides, data_dir=str(tmp_path)
    )
    with pytest.raises(ValueError, match="would write the same shard 'test'"):
        task.shards()


def test_per_type_chart_draws_only_the_types_each_set_scores(tmp_path):
    from workflows.charts import per_type_bars, per_type_f1_chart

    def result(f1_by_type: dict[str, float]) -> dict:
        per_type = {t: {"f1": f1} for t, f1 in f1_by_type.items()}
        return {"ner": {"f1": sum(f1_by_type.values()) / len(f1_by_type), "per_type": per_type}}

    scores = {"ncbi": result({"Disease": 0.8}), "bc5cdr": result({"Chemical": 0.9, "Disease": 0.7})}
    types, bars = per_type_bars(scores)
    assert types == ["Chemical", "Disease"]
    assert bars == {"ncbi": [(1, 0.8)], "bc5cdr": [(0, 0.9), (1, 0.7)]}
    per_type_f1_chart(scores, tmp_path / "chart.png", "test")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _ran(log: str) -> list[str]:
    return Path(log).read_text().split() if Path(log).is_file() else []


class _Step(luigi.Task):
    """A dynamic dependency standing in for Retrain's EvaluateNER (records its date in ``log``)."""

    date = luigi.DateParameter()
    log = luigi.Parameter()

    def complete(self) -> bool:
        return f"step:{self.date}" in _ran(self.log)

    def run(self) -> None:
        with open(self.log, "a") as log:
            log.write(f"step:{self.date}\n")


class _Dated(luigi.Task):
    """A task ranked by Retrain's own priority, with a dynamic dependency like Retrain's."""

    date = luigi.DateParameter()
    log = luigi.Parameter()
    priority = Retrain.priority

    def complete(self) -> bool:
        return f"decide:{self.date}" in _ran(self.log)

    def run(self):  # noqa: ANN201 (a generator: Luigi dynamic dependencies)
        yield _Step(date=self.date, log=self.log)
        with open(self.log, "a") as log:
            log.write(f"decide:{self.date}\n")


class _Backfill(luigi.WrapperTask):
    """Requires the newest date first, as a wrapper may list dates in any order."""

    log = luigi.Parameter()

    def requires(self) -> list[_Dated]:
        return [_Dated(date=date(2026, 11, day), log=self.log) for day in (25, 24, 23)]


def test_retrain_decides_in_date_order_under_a_wrapper_task(tmp_path):
    # A wrapper such as RangeDaily has Luigi's default priority 0, which the scheduler passes
    # on to its dependencies as a floor; Retrain's date order must survive that floor.
    log = str(tmp_path / "order.log")
    assert luigi.build([_Backfill(log=log)], local_scheduler=True, workers=1)
    days = ["2026-11-23", "2026-11-24", "2026-11-25"]
    assert _ran(log) == [f"{stage}:{day}" for day in days for stage in ("step", "decide")]
