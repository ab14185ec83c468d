"""Annotate corpus shards (PubMed baseline XML and others) with a trained KoGNER model.

    python -m pipelines.annotate --input '../shared/data/pubmed/*.xml.gz' \\
        --model MODEL_DIR --output OUT [--formats parquet,pubtator,bioc] \\
        [--runner DirectRunner|FnApiRunner|DataflowRunner|FlinkRunner|SparkRunner ...]

Stages: read shards -> documents -> overlapping word windows -> RunInference (groups of
documents, their windows batched by length) -> mentions at document offsets, windows merged
-> KG linking -> one
output set per shard (``OUT/<shard>/``: mentions.parquet, dead_letter.parquet,
[annotations.pubtator, annotations.bioc.json], manifest.json), committed atomically once
documents in = annotated + dead-lettered. Shards with a manifest are skipped.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import torch
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import PredictionResult, RunInference
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.shared import Shared
from apache_beam.utils.windowed_value import WindowedValue

from kogner.documents import Document
from kogner.errors import KognerError, OptionError
from kogner.model import PredictedMention
from kogner.model.decoding import harmonize_abbreviations
from pipelines import shards as shard_io
from pipelines.handler import KoGNERModelHandler, WorkerModel
from pipelines.io import (
    DEAD_LETTER_SCHEMA,
    MENTION_SCHEMA,
    DeadLetter,
    iter_shard,
    read_json,
    write_documents,
    write_json,
    write_parquet,
)
from pipelines.shards import Shard
from pipelines.windows import DocKey, DocumentWindows, document_windows, merge_windows

NAMESPACE = "kogner.annotate"
BATCHES_PER_GROUP = 64  # model batches per RunInference element, sorted by subword count inside
DOCUMENT_FORMATS = {"pubtator": ("pubtator", "annotations.pubtator"), "bioc": ("bioc-json", "annotations.bioc.json")}
log = logging.getLogger(__name__)


class ReconciliationError(RuntimeError):
    """A shard's documents in != annotated + dead-lettered: something was lost."""


@dataclass(frozen=True)
class Settings:
    """What every stage needs to know about the run (picklable, sent to workers)."""

    model_dir: str
    output_dir: str
    run_id: str
    model_version: str
    window_words: int
    window_overlap: int
    decoding: str = "greedy"
    abbreviation_consistency: bool = False
    batch_size: int = 32
    threshold: float | None = None
    types: tuple[str, ...] = ()
    device: str | None = None
    torch_threads: int = 0
    link: bool = False
    index_dir: str | None = None
    formats: tuple[str, ...] = ()
    started: float = field(default_factory=time.time)
    shared: Shared = field(default_factory=Shared, compare=False, repr=False)

    def worker_model(self) -> WorkerModel:
        """The model each worker loads once for all stages (with the entity index when linking)."""
        return WorkerModel(self.model_dir, self.device, self.torch_threads, self.index_dir, self.link, self.shared)


@dataclass
class AnnotatedDocument:
    """A document with its mentions (document offsets) and how many windows it took."""

    key: DocKey
    document: Document
    mentions: list[PredictedMention]
    windows: int


# ---------------------------------------------------------------- read


class ReadShardFn(beam.DoFn):
    """A shard -> documents keyed (shard, record number), dead letters, and read stats.

    A repeated document id is reported as a dead letter for the earlier record; the later
    record wins. That holds one shard's documents in memory (a PubMed baseline file, about
    30,000 abstracts: some 100 MB)."""

    def __init__(self) -> None:
        self.read = Metrics.counter(NAMESPACE, "documents_read")

    def process(self, shard: Shard) -> Iterator[Any]:
        started = time.time()
        sha256, size = shard_io.checksum(shard.path)
        latest: dict[str, tuple[int, Document]] = {}
        records = 0
        deleted: list[str] = []
        for item in iter_shard(shard.path, shard.format, on_deleted=deleted.extend):
            records += 1
            self.read.inc()
            if isinstance(item, DeadLetter):
                yield TaggedOutput("dead", (shard.name, item))
                continue
            if item.id in latest:
                earlier, _ = latest.pop(item.id)
                reason = f"duplicate document id {item.id!r}: superseded by record {records}"
                yield TaggedOutput("dead", (shard.name, DeadLetter(item.id, f"record {earlier}", "duplicate", reason)))
            # Input annotations are not carried: the outputs hold the model's, and a corpus's
            # gold mentions would double the bytes each document costs at every shuffle.
            latest[item.id] = (records, replace(item, mentions=[], relations=[]))
        for number, document in latest.values():
            yield (shard.name, number), document
        stats = {"documents_in": records, "input_sha256": sha256, "input_bytes": size, "deleted_pmids": deleted}
        stats["read_seconds"] = round(time.time() - started, 3)
        yield TaggedOutput("stats", (shard.name, stats))


class ReadShards(beam.PTransform):
    """Shards -> tagged outputs ``documents`` ((key, Document)), ``dead``, ``stats``."""

    def expand(self, shards: beam.PCollection[Shard]) -> beam.pvalue.DoOutputsTuple:
        return (
            shards
            | "Spread" >> beam.Reshuffle()
            | "Parse" >> beam.ParDo(ReadShardFn()).with_outputs("dead", "stats", main="documents")
        )


# ---------------------------------------------------------------- model


class WindowFn(beam.DoFn):
    """(key, Document) -> ``DocumentWindows``: the document with the windows covering its text."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.windows = Metrics.counter(NAMESPACE, "windows")

    def process(self, element: tuple[DocKey, Document]) -> Iterator[DocumentWindows]:
        key, document = element
        windows = document_windows(document, self.settings.window_words, self.settings.window_overlap)
        self.windows.inc(len(windows))
        yield DocumentWindows(key, document, windows)


class Predict(beam.PTransform):
    """(key, Document) -> ((key, AnnotatedDocument), (key, DeadLetter) of failed inference):
    windows, groups of documents whose windows RunInference cuts into batches of similar
    length, and the merge of each document's windows.

    A group holds whole documents, so each document's windows come back from inference
    together and are merged right there: documents are shuffled to the workers, and windows
    never cross a stage boundary (a window per element cost Beam a shuffle and a grouping by
    document per window). Groups form on each worker from the documents it was given:
    shuffling the few large groups instead left 2 workers uneven, 320 s against 266 s for the
    benchmark's 3,297 abstracts (bench/RESULTS.md)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def expand(self, documents: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        s = self.settings
        handler = KoGNERModelHandler(
            s.worker_model(), types=s.types, threshold=s.threshold, batch_size=s.batch_size, span_vectors=s.link
        )
        groups = (
            documents
            | "SpreadDocuments" >> beam.Reshuffle()  # all workers share a shard's documents
            | "Windows" >> beam.ParDo(WindowFn(s))
            | "GroupDocuments" >> beam.ParDo(GroupDocuments(s.batch_size * BATCHES_PER_GROUP))
        )
        predicted, errors = groups | "Inference" >> RunInference(handler.with_no_batching()).with_exception_handling()
        merged = predicted | "Merge" >> beam.Map(_merge, s.decoding, s.abbreviation_consistency)
        failed = errors.failed_inferences | "DeadLetterFailures" >> beam.FlatMap(_failed_documents)
        return merged, failed


class GroupDocuments(beam.DoFn):
    """``DocumentWindows`` -> groups of whole documents holding about ``group_size`` windows
    (a group is handed on once it reaches ``group_size``: it may overrun by one document's
    windows, hundreds for a 200,000-character document). The model handler sorts a group's
    windows by subword count and cuts them into batches: padded subwords against the fewest
    possible (batches sorted by subword count over all windows at once), at most 1.01x for
    groups of 64 batches (``BATCHES_PER_GROUP``) of documents in the order the job reads them
    (tests/test_annotate.py: BC5CDR train and devel), against 1.24x for batches sorted by word
    count alone (NCBI-disease train)."""

    def __init__(self, group_size: int) -> None:
        self.group_size = group_size
        self.group: list[DocumentWindows] = []
        self.windows = 0

    def start_bundle(self) -> None:
        self.group, self.windows = [], 0

    def process(self, document: DocumentWindows) -> Iterator[list[DocumentWindows]]:
        self.group.append(document)
        self.windows += len(document.windows)
        if self.windows >= self.group_size:
            yield self.group
            self.group, self.windows = [], 0

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if self.group:
            yield GlobalWindows.windowed_value_at_end_of_window(self.group)


def _merge(result: PredictionResult, decoding: str, abbreviation_consistency: bool) -> tuple[DocKey, AnnotatedDocument]:
    """A document's inference result -> its mentions at document offsets, windows merged."""
    item: DocumentWindows = result.example
    mentions = merge_windows(zip(item.windows, result.inference, strict=True), decoding)
    if abbreviation_consistency:
        mentions = harmonize_abbreviations(item.document.text, mentions)
    return item.key, AnnotatedDocument(item.key, item.document, mentions, len(item.windows))


def _failed_documents(
    failure: tuple[Sequence[DocumentWindows], tuple[type, str, list[str]]],
) -> Iterator[tuple[DocKey, DeadLetter]]:
    """The documents of a group whose inference failed, as dead letters. ``failure`` is what
    Beam's exception handling emits: (group, (exception type, repr, traceback lines)); the
    traceback's last line is the "Type: message" the reason gives."""
    group, (_, _, traceback_lines) = failure
    reason = f"inference failed: {traceback_lines[-1].strip()}"
    for item in group:
        yield item.key, DeadLetter(item.document.id, f"record {item.key[1]}", "inference", reason)


class Link(beam.PTransform):
    """(key, AnnotatedDocument) with entity fields filled in (or a DeadLetter), ``batch_size``
    documents at a time (fixed, not Beam's adaptive sizes, which start at one document: the
    alias encoder needs many new mention texts at once to run at full speed), with the model
    and faiss index each worker loads once for all stages (``Settings.worker_model``)."""

    def __init__(self, settings: Settings, batch_size: int = 256) -> None:
        super().__init__()
        self.settings = settings
        self.batch_size = batch_size

    def expand(self, annotated: beam.PCollection) -> beam.PCollection:
        return (
            annotated
            | "Batch" >> beam.BatchElements(min_batch_size=self.batch_size, max_batch_size=self.batch_size)
            | "Link" >> beam.ParDo(LinkDocuments(self.settings.worker_model()))
        )


class LinkDocuments(beam.DoFn):
    """A batch of (key, AnnotatedDocument) -> linked; a batch that fails is retried per
    document and a document that still fails is dead-lettered with the reason.

    Batches are linked in a background thread while the worker goes on to its next elements
    (the next inference group). Each call hands on, in order, the batches already linked and
    waits for none, unless more than ``max_waiting`` batches wait (memory stays bounded where
    linking is slower than inference); the end of the bundle hands on the rest. A worker that
    waits for linking idles a core (bench/RESULTS.md). The thread uses one core, as each of
    ``predict``'s two inference threads does."""

    def __init__(self, worker_model: WorkerModel, max_waiting: int = 4) -> None:
        self.worker_model = worker_model
        self.max_waiting = max_waiting
        self.model: Any = None
        self.linker: ThreadPoolExecutor | None = None
        self.pending: deque[Future] = deque()
        self.threads = 0

    def setup(self) -> None:
        self.model = self.worker_model.acquire()  # the inference stage's copy, where it ran in this process
        if self.model.index is None:
            model_dir = self.worker_model.model_dir
            raise FileNotFoundError(f"linking asked for, but no entity index found for {model_dir} (pass --index)")
        self.linker = ThreadPoolExecutor(1)
        self.threads = torch.get_num_threads()  # the worker's

    def start_bundle(self) -> None:
        self.pending = deque()

    def process(self, batch: list[tuple[DocKey, AnnotatedDocument]]) -> Iterator[tuple[DocKey, Any]]:
        self.pending.append(self.linker.submit(self._link_each, batch))
        while self.pending and (self.pending[0].done() or len(self.pending) > self.max_waiting):
            yield from self.pending.popleft().result()

    def finish_bundle(self) -> Iterator[WindowedValue]:
        while self.pending:
            for result in self.pending.popleft().result():
                yield GlobalWindows.windowed_value_at_end_of_window(result)

    def teardown(self) -> None:
        if self.linker is not None:
            self.linker.shutdown()

    def _link_each(self, batch: list[tuple[DocKey, AnnotatedDocument]]) -> list[tuple[DocKey, Any]]:
        """``batch`` linked on one core, then PyTorch back on the worker's thread count: a thread
        started later (Beam's) takes the last count set in any thread."""
        torch.set_num_threads(1)
        try:
            return self._link(batch)
        except Exception:  # noqa: BLE001 - isolate the failing document below
            results: list[tuple[DocKey, Any]] = []
            for key, annotated in batch:
                try:
                    results += self._link([(key, annotated)])
                except Exception as error:  # noqa: BLE001 - reported as a dead letter
                    reason = f"linking failed: {type(error).__name__}: {error}"
                    results.append((key, DeadLetter(annotated.document.id, f"record {key[1]}", "link", reason)))
            return results
        finally:
            torch.set_num_threads(self.threads)

    def _link(self, batch: list[tuple[DocKey, AnnotatedDocument]]) -> list[tuple[DocKey, AnnotatedDocument]]:
        texts = [a.document.text for _, a in batch]
        linked = self.model.link_mentions(texts, [a.mentions for _, a in batch])
        return [(key, replace(a, mentions=list(m))) for (key, a), m in zip(batch, linked, strict=True)]


# ---------------------------------------------------------------- write


class WriteShardFn(beam.DoFn):
    """(shard, {stats, results, dead}) -> the shard's outputs, committed atomically, and its
    manifest. Fails loudly when documents in != annotated + dead-lettered."""

    def __init__(self, settings: Settings, shards: dict[str, Shard]) -> None:
        self.settings = settings
        self.shards = shards
        self.annotated = Metrics.counter(NAMESPACE, "documents_annotated")
        self.failed = Metrics.counter(NAMESPACE, "documents_failed")
        self.mentions = Metrics.counter(NAMESPACE, "mentions")

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[dict[str, Any]]:
        name, groups = element
        s, shard = self.settings, self.shards[name]
        [stats] = groups["stats"]
        results = sorted(groups["results"], key=lambda kv: kv[0][1])
        annotated = [value for _, value in results if isinstance(value, AnnotatedDocument)]
        dead = list(groups["dead"]) + [value for _, value in results if isinstance(value, DeadLetter)]
        if stats["documents_in"] != len(annotated) + len(dead):
            raise ReconciliationError(
                f"shard {shard.path}: {stats['documents_in']} documents in, {len(annotated)} annotated + "
                f"{len(dead)} dead-lettered"
            )
        mention_rows = [row for a in annotated for row in self._mention_rows(a)]
        staging = shard_io.staging_dir(s.output_dir, name, s.run_id)
        FileSystems.mkdirs(staging)
        files = {"mentions": "mentions.parquet", "dead_letter": "dead_letter.parquet"}
        write_parquet(mention_rows, MENTION_SCHEMA, FileSystems.join(staging, files["mentions"]))
        dead_rows = [{**vars(d), "run_id": s.run_id} for d in dead]
        write_parquet(dead_rows, DEAD_LETTER_SCHEMA, FileSystems.join(staging, files["dead_letter"]))
        for fmt in s.formats:
            corpus_format, file_name = DOCUMENT_FORMATS[fmt]
            files[fmt] = file_name
            write_documents(_with_predictions(annotated), corpus_format, FileSystems.join(staging, file_name))
        manifest = {
            "shard": name,
            "status": "complete",
            "input": shard.path,
            "format": shard.format,
            "input_sha256": stats["input_sha256"],
            "input_bytes": stats["input_bytes"],
            "documents_in": stats["documents_in"],
            "documents_annotated": len(annotated),
            "documents_dead_lettered": len(dead),
            "dead_letters_by_stage": _count_by(d.stage for d in dead),
            "input_errors": [f"{d.record}: {d.reason}" for d in dead if d.stage == "read" and d.doc_id is None],
            "deleted_pmids": stats["deleted_pmids"],
            "mentions": len(mention_rows),
            "windows": sum(a.windows for a in annotated),
            "model_dir": s.model_dir,
            "model_version": s.model_version,
            "linked": s.link,
            "run_id": s.run_id,
            "files": files,
            "timings": {
                "run_started": _iso(s.started),
                "finished": _iso(time.time()),
                "read_seconds": stats["read_seconds"],
                "seconds_since_run_start": round(time.time() - s.started, 3),
            },
        }
        write_json(manifest, FileSystems.join(staging, shard_io.MANIFEST))
        shard_io.commit(staging, shard_io.shard_dir(s.output_dir, name), [*files.values(), shard_io.MANIFEST])
        self.annotated.inc(len(annotated))
        self.failed.inc(len(dead))
        self.mentions.inc(len(mention_rows))
        log.info(
            "shard %s: %d annotated, %d dead-lettered, %d mentions", name, len(annotated), len(dead), len(mention_rows)
        )
        yield manifest

    def _mention_rows(self, annotated: AnnotatedDocument) -> Iterator[dict[str, Any]]:
        document = annotated.document
        for m in annotated.mentions:
            passage = document.passage_at(m.start)
            yield {
                "doc_id": document.id,
                "passage": passage.kind if passage else None,
                "start": m.start,
                "end": m.end,
                "text": m.text,
                "type": m.type,
                "score": m.score,
                "entity_id": m.entity_id,
                "entity_name": m.entity_name,
                "link_score": m.link_score,
                "model_version": self.settings.model_version,
                "run_id": self.settings.run_id,
            }


def _with_predictions(annotated: Iterable[AnnotatedDocument]) -> Iterator[Document]:
    for a in annotated:
        yield replace(a.document, mentions=[m.to_mention() for m in a.mentions])


def _count_by(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


class AnnotateShards(beam.PTransform):
    """Shards -> one manifest per shard, its outputs committed under ``settings.output_dir``."""

    def __init__(self, settings: Settings, shards: Sequence[Shard]) -> None:
        super().__init__()
        self.settings = settings
        self.shards = {shard.name: shard for shard in shards}

    def expand(self, shards: beam.PCollection[Shard]) -> beam.PCollection[dict[str, Any]]:
        read = shards | "Read" >> ReadShards()
        annotated, failed = read.documents | "Predict" >> Predict(self.settings)
        if self.settings.link:
            # Straight after the merge, with no Flatten between: a Flatten ends a fused stage
            # (the in-process runner then linked only once all inference was done), and in
            # inference's stage each batch is linked beside the next group's inference.
            annotated = annotated | "Link" >> Link(self.settings)
        results = (annotated, failed) | "Results" >> beam.Flatten()
        by_shard = results | "KeyByShard" >> beam.Map(lambda kv: (kv[0][0], kv))
        return (
            {"stats": read.stats, "results": by_shard, "dead": read.dead}
            | "GroupShards" >> beam.CoGroupByKey()
            | "Write" >> beam.ParDo(WriteShardFn(self.settings, self.shards))
        )


# ---------------------------------------------------------------- entry points


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", action="append", required=True, help="input glob (repeatable; gs://, s3:// work)")
    parser.add_argument("--model", required=True, help="KoGNER model directory (any Beam filesystem)")
    parser.add_argument("--output", required=True, help="output directory: one subdirectory per shard")
    parser.add_argument("--format", choices=["pubmed-xml", "pubtator", "bioc-xml", "bioc-json", "jsonl", "parquet"])
    parser.add_argument("--formats", default="parquet", help="outputs besides Parquet: pubtator, bioc (comma list)")
    parser.add_argument("--batch_size", type=int, default=32, help="windows per inference batch (larger on GPU)")
    parser.add_argument("--window_words", type=int, help="words per window (default: the model's)")
    parser.add_argument("--window_overlap", type=int, help="words shared by consecutive windows (default: model's)")
    parser.add_argument("--threshold", type=float, help="span score threshold (default: the model's)")
    parser.add_argument("--types", help="entity types to predict, comma list (default: the model's)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: CUDA when present)")
    parser.add_argument("--torch_threads", type=int, default=-1, help="threads per worker (-1: cores / workers)")
    parser.add_argument("--link", choices=["auto", "yes", "no"], default="auto", help="KG linking (auto: index set)")
    parser.add_argument("--index", help="entity index directory for linking (default: the one the model names)")
    parser.add_argument("--run_id", help="identifies this run in outputs (default: time + random)")
    return parser


def settings_from_args(args: argparse.Namespace, options: PipelineOptions) -> Settings:
    config = read_json(FileSystems.join(args.model, "config.json"))
    formats = tuple(f for f in args.formats.split(",") if f and f != "parquet")
    unknown = set(formats) - set(DOCUMENT_FORMATS)
    if unknown:
        raise OptionError(
            f"unknown output formats {sorted(unknown)}; choose from parquet, {', '.join(DOCUMENT_FORMATS)}"
        )
    window_words = args.window_words if args.window_words is not None else int(config.get("window_words", 128))
    overlap = args.window_overlap if args.window_overlap is not None else int(config.get("window_overlap", 16))
    checks = [
        (args.batch_size >= 1, f"--batch_size must be at least 1, got {args.batch_size}"),
        (window_words >= 1, f"--window_words must be at least 1, got {window_words}"),
        (0 <= overlap < window_words, f"--window_overlap must be ≥ 0, < --window_words {window_words}, got {overlap}"),
        (args.threshold is None or 0 <= args.threshold <= 1, f"--threshold must be in [0, 1], got {args.threshold}"),
        (args.torch_threads >= -1, f"--torch_threads must be -1 (cores / workers) or more, got {args.torch_threads}"),
    ]
    for holds, message in checks:
        if not holds:
            raise OptionError(message)
    return Settings(
        model_dir=args.model,
        output_dir=args.output,
        run_id=args.run_id or f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        model_version=str(config.get("model_version") or ""),
        window_words=window_words,
        window_overlap=overlap,
        decoding=str(config.get("decoding", "greedy")),
        abbreviation_consistency=bool(config.get("abbreviation_consistency", False)),
        batch_size=args.batch_size,
        threshold=args.threshold,
        types=tuple(t for t in (args.types or "").split(",") if t),
        device=args.device,
        torch_threads=args.torch_threads if args.torch_threads >= 0 else _threads_per_worker(options),
        link=args.link == "yes" or (args.link == "auto" and bool(args.index or config.get("index_dir"))),
        index_dir=args.index,
        formats=formats,
    )


def _threads_per_worker(options: PipelineOptions) -> int:
    """Cores / workers for the multi-process DirectRunner; 0 (PyTorch's default) elsewhere."""
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode == "multi_processing":
        return max(1, (os.cpu_count() or 1) // max(1, direct.direct_num_workers or 1))
    return 0


def run(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Annotate every shard matching ``--input``; the manifests of all of them (shards
    already complete are skipped, their manifests returned as they are)."""
    args, pipeline_args = build_parser().parse_known_args(argv)
    options = PipelineOptions(pipeline_args)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = "DirectRunner"  # named: the default would fetch Prism
    settings = settings_from_args(args, options)
    shards = shard_io.find_shards(args.input, args.format)
    done = {shard.name: shard_io.read_manifest(settings.output_dir, shard.name) for shard in shards}
    pending = [shard for shard in shards if done[shard.name] is None]
    for name, manifest in done.items():
        if manifest and manifest["model_version"] != settings.model_version:
            log.warning(
                "shard %s is complete with model %s, kept as it is (new model: %s; use a new --output)",
                name,
                manifest["model_version"],
                settings.model_version,
            )
    log.info("%d shards, %d already complete, %d to annotate", len(shards), len(shards) - len(pending), len(pending))
    if pending:
        for shard in pending:
            shard_io.clear_incomplete(settings.output_dir, shard.name)
        pipeline = beam.Pipeline(options=options)
        _ = pipeline | "Shards" >> beam.Create(pending) | "Annotate" >> AnnotateShards(settings, pending)
        result = pipeline.run()
        result.wait_until_finish()
        log_counters(result)
    return [done[shard.name] or shard_io.read_manifest(settings.output_dir, shard.name) for shard in shards]


def log_counters(result: beam.runners.runner.PipelineResult) -> dict[str, int]:
    """The job's ``kogner.annotate`` counters (documents read/annotated/failed, windows,
    mentions), logged in one line; runners that report no metrics give an empty dict."""
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    counters: dict[str, int] = {}
    for counter in query["counters"]:
        name = counter.key.metric.name
        counters[name] = counters.get(name, 0) + int(counter.committed or counter.attempted or 0)
    log.info("counters: %s", ", ".join(f"{k}={v}" for k, v in sorted(counters.items())))
    return counters


def annotate_shard(
    input_path: str, model_dir: str, output_dir: str, *extra_args: str, **options: Any
) -> dict[str, Any]:
    """Annotate one shard (for the Luigi AnnotateShard task); its manifest.

    ``options`` become command-line options (``batch_size=64`` -> ``--batch_size 64``);
    ``extra_args`` are passed as they are (Beam pipeline options)."""
    argv = ["--input", input_path, "--model", model_dir, "--output", output_dir, *extra_args]
    for name, value in options.items():
        if value is not None:
            argv += [f"--{name}", str(value)]
    [manifest] = run(argv)
    return manifest


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run()
    except KognerError as error:  # a bad option or input named in one line, not a traceback
        sys.exit(f"pipelines.annotate: error: {error}")
