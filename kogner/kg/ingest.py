"""Ingest the sources a KG config lists into one canonical KG directory.

Pass 1 streams every source through its adapter, validates records and spills them to
Parquet, registering ids with the :class:`~kogner.kg.resolve.Resolver`. Cross-references
are then unioned, and pass 2 streams the spilled tables back, rewriting ids to canonical
ids, into ``entities/ aliases/ edges/ xrefs/`` (zstd Parquet) plus ``manifest.json``.
Memory grows with the number of ids (the union-find, de-duplication hashes), not with the
number of records. The directory appears atomically.

Config (TOML)::

    name = "dev"
    [[sources]]
    name = "ctd-diseases"          # label used in the ``source`` columns and the manifest
    format = "ctd"                 # a key of kogner.kg.adapters.FORMATS
    path = "kg/ctd/CTD_diseases.tsv.gz"   # data-dir relative, absolute, or pkg://PACKAGE/FILE
    limit = 1000                   # optional: first N records
    # any other key is a format option (extra files such as ``edges``, a default ``type``)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kogner.datadir import data_dir as resolve_data_dir
from kogner.errors import InputFormatError
from kogner.io import atomic_dir, atomic_path
from kogner.kg.adapters import FORMATS
from kogner.kg.normalize import normalize_alias
from kogner.kg.records import Alias, Edge, Entity, Xref
from kogner.kg.resolve import Resolver
from kogner.kg.schema import ALIASES, EDGES, ENTITIES, SCHEMA_VERSION, XREFS
from kogner.kg.sources import MissingSourceError, SourceSpec, resolve_path
from kogner.kg.writer import TableWriter, iter_rows

logger = logging.getLogger(__name__)

#: Warnings printed per source and problem before the rest are only counted.
WARN_LIMIT = 5
PROGRESS_EVERY = 1_000_000
_SPILL_COMPRESSION = "lz4"

_RAW_ENTITIES = pa.schema(
    [*ENTITIES, ("order", pa.int32()), ("line", pa.int64())]
)  # order: index of the source in the config
_RAW_ALIASES = pa.schema([("entity_id", pa.string()), ("alias", pa.string()), ("kind", pa.string())])
_RAW_EDGES = pa.schema([*EDGES, ("line", pa.int64())])
_RAW_XREFS = pa.schema([*XREFS, ("source", pa.string()), ("line", pa.int64())])


def load_config(config_path: str | os.PathLike[str], data_dir: Path | None) -> tuple[str, list[SourceSpec]]:
    """The config's name and its sources, paths resolved."""
    config_path = Path(config_path)
    if not config_path.is_file():
        raise MissingSourceError(f"{config_path}: KG config not found")
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise InputFormatError(config_path, None, f"invalid TOML: {error}") from None
    sources = config.get("sources") or []
    if not sources:
        raise InputFormatError(config_path, None, "no [[sources]] listed")
    specs = []
    for number, entry in enumerate(sources, start=1):
        entry = dict(entry)
        try:
            fmt, path = entry.pop("format"), entry.pop("path")
        except KeyError as missing:
            raise InputFormatError(config_path, f"source {number}", f"missing key {missing}") from None
        if fmt not in FORMATS:
            known = ", ".join(sorted(FORMATS))
            raise InputFormatError(config_path, f"source {number}", f"unknown format {fmt!r} (known: {known})")
        name = entry.pop("name", fmt)
        limit = entry.pop("limit", None)
        specs.append(SourceSpec(name, fmt, resolve_path(path, data_dir), limit, entry, data_dir))
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise InputFormatError(config_path, None, f"source names must be unique, got {names}")
    return config.get("name", config_path.stem), specs


def ingest(
    config_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Build the KG a config describes into ``out_dir`` (atomically); returns the manifest."""
    started = time.perf_counter()
    name, specs = load_config(config_path, resolve_data_dir(data_dir))
    with atomic_dir(out_dir) as tmp:
        run = _Ingestion(tmp / ".spill")
        for order, spec in enumerate(specs):
            run.read_source(order, spec)
        run.resolve()
        counts = run.write(tmp)
        shutil.rmtree(tmp / ".spill")
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "name": name,
            "config": str(Path(config_path).resolve()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": round(time.perf_counter() - started, 1),
            "sources": [run.source_manifest(spec) for spec in specs],
            "counts": counts,
            "validation": dict(sum((run.stats[s.name]["validation"] for s in specs), Counter())),
        }
        with atomic_path(tmp / "manifest.json") as path:
            path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    logger.info("KG %s written to %s in %.1fs: %s", name, out_dir, manifest["seconds"], counts["tables"])
    return manifest


def read_manifest(kg_dir: str | os.PathLike[str]) -> dict[str, Any]:
    return json.loads((Path(kg_dir) / "manifest.json").read_text(encoding="utf-8"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Ingestion:
    """State of one ingestion run: spill files, resolver, per-source statistics."""

    def __init__(self, spill: Path) -> None:
        self.spill = spill
        self.resolver = Resolver()
        self.first_source: dict[str, int] = {}
        self.stats: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
        self._warned: Counter = Counter()
        self._entities = TableWriter(spill / "entities.parquet", _RAW_ENTITIES, _SPILL_COMPRESSION)
        self._aliases = TableWriter(spill / "aliases.parquet", _RAW_ALIASES, _SPILL_COMPRESSION)
        self._edges = TableWriter(spill / "edges.parquet", _RAW_EDGES, _SPILL_COMPRESSION)
        self._xrefs = TableWriter(spill / "xrefs.parquet", _RAW_XREFS, _SPILL_COMPRESSION)

    def _warn(self, source: str, problem: str, line: int, detail: str) -> None:
        self.stats[source]["validation"][problem] += 1
        self._warned[source, problem] += 1
        if self._warned[source, problem] <= WARN_LIMIT:
            logger.warning("source %r line %d: %s dropped: %s", source, line, problem.replace("_", " "), detail)

    # -- pass 1 ---------------------------------------------------------------------------
    def read_source(self, order: int, spec: SourceSpec) -> None:
        logger.info(
            "reading source %r (%s) from %s%s",
            spec.name,
            spec.format,
            spec.path,
            f", limit {spec.limit}" if spec.limit else "",
        )
        records = self.stats[spec.name]["records"]
        source = spec.name
        started = time.perf_counter()
        for count, record in enumerate(FORMATS[spec.format](spec), start=1):
            kind = type(record)
            if kind is Entity:
                self._entity(order, source, record)
            elif kind is Alias:
                self._aliases.append((record.entity_id, record.alias, record.kind))
            elif kind is Edge:
                self._edges.append((record.head, record.relation, record.tail, source, record.line))
            elif kind is Xref:
                if record.xref_id != record.entity_id:
                    self._xrefs.append((record.entity_id, record.xref_id, source, record.line))
            records[kind.__name__.lower()] += 1
            if count % PROGRESS_EVERY == 0:
                logger.info("  %s: %d records (%.0f/s)", source, count, count / (time.perf_counter() - started))
        logger.info("  %s: %s in %.1fs", source, dict(records), time.perf_counter() - started)

    def _entity(self, order: int, source: str, entity: Entity) -> None:
        if not entity.name.strip():
            self._warn(source, "empty_name", entity.line, entity.entity_id)
            return
        first = self.first_source.get(entity.entity_id)
        if first == order:
            self._warn(source, "duplicate_id", entity.line, entity.entity_id)
            return
        if first is None:
            self.first_source[entity.entity_id] = order
        else:
            self.stats[source]["resolution"]["shared_ids"] += 1
        conflict = self.resolver.add_entity(entity.entity_id, entity.type)
        if conflict:
            self.stats[source]["resolution"]["type_conflicts"] += 1
        self._entities.append((*entity[:4], source, order, entity.line))
        self._aliases.append((entity.entity_id, entity.name, "preferred"))

    # -- resolution -----------------------------------------------------------------------
    def resolve(self) -> None:
        for writer in (self._entities, self._aliases, self._edges, self._xrefs):
            writer.close()
        logger.info("resolving %d cross-references over %d ids", self._xrefs.rows, len(self.resolver))
        for entity_id, xref_id, source, _line in iter_rows(self.spill / "xrefs.parquet"):
            outcome = self.resolver.union(entity_id, xref_id)
            self.stats[source]["resolution"][outcome] += 1
        self.resolver.finish()

    # -- pass 2 ---------------------------------------------------------------------------
    def write(self, out: Path) -> dict[str, Any]:
        counts: dict[str, Any] = {"tables": {}}
        counts["tables"]["entities"], counts["entities_by_type"], counts["entities_by_source"] = self._write_entities(
            out
        )
        counts["tables"]["aliases"], counts["aliases_by_kind"] = self._write_aliases(out)
        counts["tables"]["edges"], counts["edges_by_relation"], counts["edges_by_source"] = self._write_edges(out)
        counts["tables"]["xrefs"] = self._write_xrefs(out)
        return counts

    def _write_entities(self, out: Path) -> tuple[int, dict, dict]:
        """One row per canonical id: name, type and source of its best record (the canonical
        id's own, first source first); the description is the first non-empty one."""
        table = pq.read_table(self.spill / "entities.parquet")
        ids = table.column("entity_id").to_pylist()
        canonical = [self.resolver.canonical(entity_id) for entity_id in ids]
        rank = [int(c != i) for c, i in zip(canonical, ids, strict=True)]
        table = table.append_column("canonical", pa.array(canonical, pa.string()))
        table = table.append_column("rank", pa.array(rank, pa.int8()))
        table = table.sort_by([("canonical", "ascending"), ("rank", "ascending"), ("order", "ascending")])
        by_type, by_source = Counter(), Counter()
        with TableWriter(out / "entities" / "part-0.parquet", ENTITIES) as writer:

            def emit(row: list) -> None:
                writer.append(tuple(row))
                by_type[row[2]] += 1
                by_source[row[4]] += 1

            current: list | None = None
            for _id, name, etype, description, source, _order, _line, canon, _rank in iter_table(table):
                if current is not None and current[0] == canon:
                    if not current[3] and description:
                        current[3] = description
                    continue
                if current is not None:
                    emit(current)
                current = [canon, name, etype, description, source]
            if current is not None:
                emit(current)
            return writer.rows, dict(by_type.most_common()), dict(by_source.most_common())

    def _write_aliases(self, out: Path) -> tuple[int, dict]:
        seen: set[int] = set()
        by_kind = Counter()
        canonical = self.resolver.canonical
        with TableWriter(out / "aliases" / "part-0.parquet", ALIASES) as writer:
            for entity_id, alias, kind in iter_rows(self.spill / "aliases.parquet"):
                target = canonical(entity_id)
                normalized = normalize_alias(alias) if target else ""
                if not normalized:
                    continue  # alias of a dropped entity, or nothing but punctuation
                key = hash((target, alias))
                if key in seen:
                    continue
                seen.add(key)
                writer.append((target, alias.strip(), normalized, kind))
                by_kind[kind] += 1
            return writer.rows, dict(by_kind.most_common())

    def _write_edges(self, out: Path) -> tuple[int, dict, dict]:
        by_relation, by_source = Counter(), Counter()
        canonical = self.resolver.canonical
        with TableWriter(out / "edges" / "part-0.parquet", EDGES) as writer:
            for head, relation, tail, source, line in iter_rows(self.spill / "edges.parquet"):
                head_id, tail_id = canonical(head), canonical(tail)
                if head_id is None or tail_id is None:
                    missing = " and ".join(x for x, c in ((head, head_id), (tail, tail_id)) if c is None)
                    self._warn(source, "dangling_edge", line, f"{head} {relation} {tail} ({missing} not in the KG)")
                    continue
                if head_id == tail_id:
                    self.stats[source]["validation"]["self_loop"] += 1
                    continue
                writer.append((head_id, relation, tail_id, source))
                by_relation[relation] += 1
                by_source[source] += 1
            return writer.rows, dict(by_relation.most_common()), dict(by_source.most_common())

    def _write_xrefs(self, out: Path) -> int:
        """Every non-canonical id of a component, then plain (unresolvable) cross-references."""
        seen: set[int] = set()
        canonical = self.resolver.canonical
        with TableWriter(out / "xrefs" / "part-0.parquet", XREFS) as writer:
            for row in self.resolver.members():
                seen.add(hash(row))
                writer.append(row)
            for entity_id, xref_id, source, _line in iter_rows(self.spill / "xrefs.parquet"):
                if self.resolver.is_node(xref_id):
                    continue  # resolved (a member above) or refused
                target = canonical(entity_id)
                if target is None:
                    self.stats[source]["validation"]["unmatched_xref"] += 1
                    continue
                key = hash((target, xref_id))
                if key not in seen:
                    seen.add(key)
                    writer.append((target, xref_id))
            return writer.rows

    def source_manifest(self, spec: SourceSpec) -> dict[str, Any]:
        stats = self.stats[spec.name]
        return {
            "name": spec.name,
            "format": spec.format,
            "limit": spec.limit,
            "files": [{"path": str(p), "size": p.stat().st_size, "sha256": sha256_file(p)} for p in spec.files()],
            "records": dict(stats["records"]),
            "resolution": dict(stats["resolution"]),
            "validation": dict(stats["validation"]),
        }


def iter_table(table: pa.Table):
    """Rows of an in-memory table as tuples, one batch at a time."""
    for batch in table.to_batches(max_chunksize=100_000):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)
