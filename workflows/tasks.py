"""The Luigi tasks of a full rebuild, from KG sources to annotated corpora.

    IngestKG -> TrainTeacher -> BuildEntityIndex -> TrainNER -> EvaluateNER
                                  PrepareNERO ----^         \\-> AnnotateCorpus -> AnnotateShard (one per shard)
    FullRebuild = EvaluateNER(test) + AnnotateCorpus

Every task reads its settings from the profile (:mod:`workflows.profiles`) and writes one
keyed, atomic output directory with a ``report.json`` (:mod:`workflows.keying`). Heavy
libraries are imported inside ``build`` so that scheduling stays light and fork-safe.
"""

from __future__ import annotations

import glob
import importlib.metadata
import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import luigi
from luigi.freezing import FrozenOrderedDict

from kogner.datadir import data_dir as resolve_data_dir
from workflows.keying import REPORT, KeyedTask, digest, read_json, write_json
from workflows.profiles import load_profile, repo_path

log = logging.getLogger(__name__)
NERO_PREFIX = "nero:"
SHARD_COUNTS = ("documents_in", "documents_annotated", "documents_dead_lettered", "mentions")


class Stage(KeyedTask):
    """Parameters every task of the graph shares (passed down with ``clone``)."""

    profile = luigi.Parameter(default="embedded", description="profile name or TOML path")
    overrides = luigi.DictParameter(default={}, description="settings merged into the profile")
    data_dir = luigi.Parameter(default="", significant=False, description="reference data (default: kogner.datadir)")
    sources_digest = luigi.Parameter(default="", description="KG source checksums generation (set by Retrain)")
    version = luigi.Parameter(default="", description="model version label (set by Retrain)")

    @cached_property
    def settings(self) -> dict[str, Any]:
        return load_profile(self.profile, _plain(self.overrides))

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.settings.get(name, {}))

    @property
    def data_path(self) -> Path:
        return resolve_data_dir(self.data_dir or None)

    def uses_nero(self) -> bool:
        named = [self.section("ner").get("train"), self.section("ner").get("dev")]
        named += self.section("evaluate").get("test", []) + self.section("evaluate").get("dev", [])
        named += self.section("annotate").get("inputs", [])
        return any(str(name).startswith(NERO_PREFIX) for name in named if name)

    def with_nero(self, needs: dict[str, Stage]) -> dict[str, Stage]:
        """``needs``, plus PrepareNERO when the profile names a NERO dataset anywhere."""
        return {**needs, "nero": self.clone(PrepareNERO)} if self.uses_nero() else needs


class IngestKG(Stage):
    """The KG of the profile's ``[kg] config`` (kogner.kg.ingest)."""

    def key_material(self) -> Any:
        config = repo_path(self.section("kg")["config"])
        return {"kg": self.section("kg"), "config": digest(config.read_text()), "sources": self.sources_digest}

    def build(self, out: Path) -> dict[str, Any]:
        from kogner.kg.ingest import ingest

        manifest = ingest(repo_path(self.section("kg")["config"]), out / "kg", self.data_path)
        return {"counts": manifest["counts"], "sources": [s["name"] for s in manifest["sources"]]}


class TrainTeacher(Stage):
    """KG teacher vectors (kogner.teacher) with the profile's ``[teacher]`` settings."""

    def requires(self) -> IngestKG:
        return self.clone(IngestKG)

    def key_material(self) -> Any:
        return {"teacher": self.section("teacher")}

    def build(self, out: Path) -> dict[str, Any]:
        from kogner.teacher import TeacherSettings, train_teacher

        kg_dir = Path(self.input().path) / "kg"
        teacher_dir = train_teacher(kg_dir, out / "teacher", TeacherSettings(**self.section("teacher")))
        return {"teacher": read_json(Path(teacher_dir) / "teacher.json")}


class BuildEntityIndex(Stage):
    """The faiss entity index over the teacher vectors (kogner.index)."""

    code_version = 2  # 2: the static alias encoder by default

    def requires(self) -> dict[str, Stage]:
        return {"kg": self.clone(IngestKG), "teacher": self.clone(TrainTeacher)}

    def key_material(self) -> Any:
        return {"index": self.section("index")}

    def build(self, out: Path) -> dict[str, Any]:
        from kogner.index import EntityIndex, build_index

        teacher_dir = Path(self.input()["teacher"].path) / "teacher"
        kg_dir = Path(self.input()["kg"].path) / "kg"
        settings = self.section("index")
        index_dir = build_index(
            teacher_dir,
            kg_dir,
            out / "index",
            kind=settings.get("kind", "auto"),
            alias_kind=settings.get("alias_kind", "auto"),
            alias_encoder=settings.get("alias_encoder", "static"),
        )
        return {"entities": len(EntityIndex.load(index_dir).entity_ids)}


class PrepareNERO(Stage):
    """The NERO corpus as JSON Lines: ``train/dev/heldout.jsonl`` and the held-out documents
    (grouped by PMID) cut into ``shards/heldout-NNNNN.jsonl`` to annotate."""

    code_version = 2  # 2: documents of a split in hash order (any prefix is a fair sample)

    def key_material(self) -> Any:
        return {"nero": self.section("nero"), "package": importlib.metadata.version("NERO-nlp")}

    def build(self, out: Path) -> dict[str, Any]:
        from kogner.corpora import write_corpus
        from kogner.corpora.nero import SPLITS, read_nero

        settings = self.section("nero")
        corpus = read_nero(types=settings.get("types"))
        limits = settings.get("max_docs", {})
        counts: dict[str, int] = {}
        for split in SPLITS:
            documents = corpus.split(split)[: limits.get(split)]
            counts[split] = write_corpus(documents, out / f"{split}.jsonl", "jsonl")
            if split == "heldout":
                size = int(settings.get("shard_docs", 500))
                for number, first in enumerate(range(0, len(documents), size)):
                    write_corpus(
                        documents[first : first + size], out / "shards" / f"heldout-{number:05d}.jsonl", "jsonl"
                    )
        return {"documents": counts, "reader": corpus.stats.summary()}


def nero_file(task: Stage, name: str) -> Path:
    """The PrepareNERO output for ``nero:<split>``."""
    split = name.removeprefix(NERO_PREFIX)
    return Path(task.clone(PrepareNERO).output().path) / f"{split}.jsonl"


def evaluation_set(task: Stage, name: str) -> tuple[list, dict[str, Any]]:
    """The gold documents of ``nero:<split>`` or ``<dataset>:<split>``, and the keyword
    arguments ``evaluate_model`` needs for them (type map, id prefixes)."""
    from kogner.corpora import read_corpus

    type_map = dict(task.section("ner").get("type_map", {}))
    if name.startswith(NERO_PREFIX):
        return list(read_corpus(nero_file(task, name), "jsonl")), {"type_map": type_map}
    from kogner.datasets import DATASETS, load_dataset

    dataset, _, split = name.partition(":")
    prefixes = {type_map.get(t, t): p for t, p in DATASETS[dataset].id_prefixes.items()}
    return load_dataset(dataset, split, task.data_path), {"type_map": type_map, "id_prefixes": prefixes}


class TrainNER(Stage):
    """The KoGNER student (kogner.training) with the profile's ``[ner]`` settings."""

    def requires(self) -> dict[str, Stage]:
        return self.with_nero({"index": self.clone(BuildEntityIndex)})

    def key_material(self) -> Any:
        return {"ner": self.section("ner"), "version": self.version}

    def build(self, out: Path) -> dict[str, Any]:
        from kogner.training import TrainConfig, train

        fields = self.section("ner")
        data: dict[str, Any] = {}
        for role in ("train", "dev"):
            name = fields.pop(role, None)
            if name and name.startswith(NERO_PREFIX):
                data[f"{role}_files"] = [str(nero_file(self, name))]
        config = TrainConfig(
            **fields,
            **data,
            data_dir=str(self.data_path),
            index_dir=str(Path(self.input()["index"].path) / "index"),
            output_dir=str(out),
        )
        train(config)
        return {"model": str(self.directory / "model"), "train_config": {**fields, **data}}


class EvaluateNER(Stage):
    """Strict scores of the trained model on the profile's ``[evaluate] <split>`` sets, with a
    PNG chart of per-type F1."""

    split = luigi.Parameter(default="test", description="which [evaluate] list: test or dev")

    def requires(self) -> dict[str, Stage]:
        return self.with_nero({"model": self.clone(TrainNER)})

    def key_material(self) -> Any:
        return {"sets": self.section("evaluate").get(self.split, [])}

    def build(self, out: Path) -> dict[str, Any]:
        from kogner.training import evaluate_model
        from workflows.charts import per_type_f1_chart

        model_dir = Path(self.input()["model"].path) / "model"
        scores = {}
        for name in self.key_material()["sets"]:
            log.info("EvaluateNER: scoring %s on %s", model_dir, name)
            documents, options = evaluation_set(self, name)
            scores[name] = evaluate_model(model_dir, documents, **options)
        write_json(out / "scores.json", scores)
        per_type_f1_chart(scores, out / "f1_by_type.png", title=f"KoGNER per-type F1 ({self.split})")
        f1s = [result["ner"]["f1"] for result in scores.values()]
        return {"ner_f1": {name: result["ner"]["f1"] for name, result in scores.items()}, "mean_f1": _mean(f1s)}


class AnnotateShard(Stage):
    """One corpus shard annotated by a Beam job (pipelines.annotate.annotate_shard)."""

    shard = luigi.Parameter(description="the input file")
    corpus_dir = luigi.Parameter(description="AnnotateCorpus output directory")

    def requires(self) -> TrainNER:
        return self.clone(TrainNER)

    def output(self) -> luigi.LocalTarget:
        from pipelines.io import shard_name
        from pipelines.shards import MANIFEST

        return luigi.LocalTarget(str(Path(self.corpus_dir) / shard_name(self.shard) / MANIFEST))

    def run(self) -> None:
        from pipelines.annotate import annotate_shard

        options = dict(self.section("annotate").get("options", {}))
        model_dir = str(Path(self.input().path) / "model")
        log.info("AnnotateShard: %s -> %s", self.shard, self.corpus_dir)
        manifest = annotate_shard(str(self.shard), model_dir, str(self.corpus_dir), **options)
        log.info("AnnotateShard: %s done: %s", self.shard, {k: manifest[k] for k in SHARD_COUNTS})


class AnnotateCorpus(Stage):
    """Every shard of the profile's ``[annotate] inputs``, each its own AnnotateShard task
    (independent: ``--workers N`` runs them in parallel, a failure stops only its shard)."""

    def requires(self) -> dict[str, Stage]:
        return self.with_nero({"model": self.clone(TrainNER)})

    def key_material(self) -> Any:
        return {"annotate": self.section("annotate")}

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.directory / REPORT))

    def shards(self) -> list[str]:
        """The input files; two with the same shard name (file stem) would share one output."""
        from pipelines.io import shard_name

        paths: list[str] = []
        for name in self.section("annotate").get("inputs", []):
            if name.startswith(NERO_PREFIX):
                split = name.removeprefix(NERO_PREFIX)
                pattern = str(Path(self.input()["nero"].path) / "shards" / f"{split}-*.jsonl")
            else:
                pattern = str(self.data_path / name)
            found = sorted(glob.glob(pattern))
            if not found:
                raise FileNotFoundError(f"AnnotateCorpus: no input matches {pattern}")
            paths += found
        by_name: dict[str, str] = {}
        for path in paths:
            other = by_name.setdefault(shard_name(path), path)
            if other != path:
                raise ValueError(
                    f"AnnotateCorpus: inputs {other} and {path} would write the same shard {shard_name(path)!r}"
                )
        return paths

    def run(self):  # noqa: ANN201 (a generator: Luigi dynamic dependencies)
        shard_tasks = [self.clone(AnnotateShard, shard=path, corpus_dir=str(self.directory)) for path in self.shards()]
        yield shard_tasks
        manifests = [read_json(task.output().path) for task in shard_tasks]
        report = {
            "task": self.get_task_family(),
            "key": self.key,
            "settings": self.key_material(),
            "model": str(Path(self.input()["model"].path) / "model"),
            "shards": {manifest["shard"]: {k: manifest[k] for k in SHARD_COUNTS} for manifest in manifests},
        }
        report["totals"] = {k: sum(counts[k] for counts in report["shards"].values()) for k in SHARD_COUNTS}
        write_json(self.output().path, report)


class FullRebuild(luigi.WrapperTask):
    """Everything a profile produces: the model, its test scores and the annotated corpus."""

    workspace = luigi.Parameter()
    profile = luigi.Parameter(default="embedded")
    overrides = luigi.DictParameter(default={})
    data_dir = luigi.Parameter(default="", significant=False)

    def requires(self) -> dict[str, Stage]:
        return {"evaluate": self.clone(EvaluateNER, split="test"), "annotate": self.clone(AnnotateCorpus)}


def _plain(value: Any) -> Any:
    """Luigi's frozen dicts/tuples as plain dicts/lists."""
    if isinstance(value, dict | FrozenOrderedDict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
