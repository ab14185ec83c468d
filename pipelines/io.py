"""Shard input and output through Beam's ``FileSystems``, so ``gs://`` and ``s3://`` paths work.

Reading turns one shard into documents and dead letters: nothing read is dropped. Line-record
formats (PubTator, JSON Lines) are parsed one record at a time, so a bad record is
dead-lettered and the rest of the shard goes on; whole-file formats (PubMed XML, BioC) stop
at a syntax error, which is dead-lettered naming the record where reading stopped.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from kogner.corpora import read_corpus, write_corpus
from kogner.documents import Document, Passage
from kogner.errors import InputFormatError

FORMATS = ("pubmed-xml", "pubtator", "bioc-xml", "bioc-json", "jsonl", "parquet")
LINE_RECORD_FORMATS = ("pubtator", "jsonl")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".deflate", ".lzma", ".xz")
_FORMAT_SUFFIXES = {
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "bioc-json",
    ".pubtator": "pubtator",
    ".txt": "pubtator",
    ".bioc": "bioc-xml",
}

MENTION_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("passage", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("text", pa.string()),
        ("type", pa.string()),
        ("score", pa.float32()),
        ("entity_id", pa.string()),
        ("entity_name", pa.string()),
        ("link_score", pa.float32()),
        ("model_version", pa.string()),
        ("run_id", pa.string()),
    ]
)
DEAD_LETTER_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("record", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("run_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class DeadLetter:
    """A document (or unreadable record) that produced no annotation, and why."""

    doc_id: str | None
    record: str
    stage: str
    reason: str


def strip_compression(name: str) -> str:
    """``name`` without a compression suffix (``a.xml.gz`` -> ``a.xml``)."""
    for suffix in _COMPRESSION_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def shard_name(path: str) -> str:
    """The output name of a shard: its file name without compression and format suffixes."""
    base = strip_compression(posixpath.basename(path.rstrip("/")))
    stem, suffix = posixpath.splitext(base)
    return stem if suffix and stem else base


def guess_format(path: str) -> str:
    """The shard format from its name, looking at the first bytes only for ``.xml``."""
    base = strip_compression(posixpath.basename(path)).lower()
    suffix = posixpath.splitext(base)[1]
    if suffix in _FORMAT_SUFFIXES:
        return _FORMAT_SUFFIXES[suffix]
    if suffix == ".xml":
        with FileSystems.open(path) as stream:
            head = stream.read(8192)
        return "bioc-xml" if b"<collection" in head else "pubmed-xml"
    raise InputFormatError(path, None, f"cannot tell the format from the name; pass --format (one of {FORMATS})")


def iter_shard(
    path: str, fmt: str, on_deleted: Callable[[list[str]], None] | None = None
) -> Iterator[Document | DeadLetter]:
    """Every document of the shard at ``path``, or a dead letter for what could not be read.

    ``on_deleted`` receives the PMIDs of PubMed DeleteCitation blocks."""
    try:
        if fmt == "parquet":
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                yield from _parquet_documents(stream, path)
        elif fmt in LINE_RECORD_FORMATS:
            with FileSystems.open(path) as stream:
                yield from _record_documents(stream, path, fmt)
        else:
            with FileSystems.open(path) as stream:
                options = {"on_deleted": on_deleted} if fmt == "pubmed-xml" and on_deleted else {}
                yield from read_corpus(stream, format=fmt, name=path, **options)
    except InputFormatError as error:
        yield DeadLetter(None, str(error.record or ""), "read", f"{error.reason} (reading stopped here)")
    except (OSError, EOFError, ValueError, zlib.error) as error:
        yield DeadLetter(None, "", "read", f"{type(error).__name__}: {error} (reading stopped here)")


def _records(stream: BinaryIO, fmt: str) -> Iterator[tuple[int, bytes]]:
    """(first line number, bytes) of each record: a line for JSON Lines, a block between
    blank lines for PubTator."""
    block: list[bytes] = []
    first = 0
    for number, line in enumerate(iter(stream.readline, b""), start=1):  # Beam's gzip stream is no iterator
        if not line.strip():
            if block:
                yield first, b"".join(block)
                block = []
            continue
        if fmt == "jsonl":
            yield number, line
            continue
        if not block:
            first = number
        block.append(line)
    if block:
        yield first, b"".join(block)


def _record_documents(stream: BinaryIO, path: str, fmt: str) -> Iterator[Document | DeadLetter]:
    for first_line, record in _records(stream, fmt):
        where = f"line {first_line}"
        try:
            yield from read_corpus(io.BytesIO(record), format=fmt, name=f"{path} (record at {where})")
        except InputFormatError as error:
            yield DeadLetter(_record_id(record, fmt), where, "read", error.reason)


def _record_id(record: bytes, fmt: str) -> str | None:
    """The document id of an unreadable record, when it can be seen (for dead-letter reports)."""
    if fmt == "pubtator":
        head = record.split(b"|", 1)[0] if b"|" in record[:64] else b""
        return head.decode("utf-8", "replace").strip() or None
    try:
        value = json.loads(record).get("id")
    except (ValueError, AttributeError):
        return None
    return None if value is None else str(value)


def _parquet_documents(stream: BinaryIO, path: str) -> Iterator[Document | DeadLetter]:
    """Documents of a Parquet file with ``id`` and either ``passages`` (Document layout),
    ``text``, or ``title`` and ``abstract`` columns."""
    parquet = pq.ParquetFile(stream)
    columns = set(parquet.schema_arrow.names)
    if "id" not in columns or not ({"passages", "text"} & columns or {"title", "abstract"} <= columns):
        raise InputFormatError(path, None, f"Parquet documents need id and passages, text or title+abstract: {columns}")
    row_number = 0
    for batch in parquet.iter_batches():
        for row in batch.to_pylist():
            row_number += 1
            try:
                yield _parquet_document(row)
            except (TypeError, ValueError, KeyError) as error:
                yield DeadLetter(_text_or_none(row.get("id")), f"row {row_number}", "read", f"bad row: {error}")


def _parquet_document(row: dict[str, Any]) -> Document:
    doc_id = _text_or_none(row["id"])
    if doc_id is None:
        raise ValueError("missing id")
    if row.get("passages") is not None:
        return Document.from_dict({"id": doc_id, "passages": row["passages"]})
    if row.get("text") is not None:
        return Document.from_text(doc_id, str(row["text"]))
    title, abstract = str(row.get("title") or ""), str(row.get("abstract") or "")
    return Document(doc_id, [Passage("title", 0, title), Passage("abstract", len(title) + 1, abstract)])


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def write_parquet(rows: list[dict[str, Any]], schema: pa.Schema, path: str) -> None:
    """Write ``rows`` as one Parquet file at ``path`` (any Beam filesystem)."""
    table = pa.Table.from_pylist(rows, schema=schema)
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        pq.write_table(table, stream)


def write_documents(documents: Iterable[Document], fmt: str, path: str) -> None:
    """Write documents with the corpus writers, staged locally and copied to ``path``."""
    with tempfile.TemporaryDirectory(prefix="kogner-out-") as local_dir:
        local = os.path.join(local_dir, posixpath.basename(path))
        write_corpus(list(documents), local, fmt)
        with (
            open(local, "rb") as source,
            FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as sink,
        ):
            while chunk := source.read(1 << 20):
                sink.write(chunk)


def write_json(data: object, path: str) -> None:
    """Write ``data`` as indented JSON at ``path`` (any Beam filesystem)."""
    with FileSystems.create(path, mime_type="application/json", compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))


def read_json(path: str) -> Any:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        return json.loads(stream.read().decode("utf-8"))
